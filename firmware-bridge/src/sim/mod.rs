//! Simulated sensor firmware for tests, demonstrations and load: virtual devices that
//! speak the real GATT byte formats and keep stored records for backfill, driven by the
//! time their caller passes in. Deterministic from a seed.

pub mod band;
pub mod cgm;
pub mod heart_rate;
pub mod home;

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::link::{GattEvent, GattRequest};

/// Deterministic numbers in [0, 1) for `time` and `seed` (a splitmix-style hash of the
/// two): the same instant and seed always give the same values.
pub(crate) fn noise(seed: u64, time: DateTime<Utc>) -> impl FnMut() -> f64 {
    let mut x = (time.timestamp() as u64) ^ seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    move || {
        x ^= x >> 33;
        x = x.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        x ^= x >> 33;
        (x % 1000) as f64 / 1000.0
    }
}

/// The radio side of a simulated device (strap, cuff, scale, meter): the connection,
/// its subscriptions, and outages during which the link drops.
#[derive(Debug, Clone, Default)]
pub(crate) struct Radio {
    connected: bool,
    /// Characteristics subscribed to on this connection.
    subscribed: Vec<u16>,
    outages: Vec<(DateTime<Utc>, DateTime<Utc>)>,
    events: VecDeque<GattEvent>,
}

impl Radio {
    pub(crate) fn new(outages: Vec<(DateTime<Utc>, DateTime<Utc>)>) -> Self {
        Self {
            outages,
            ..Self::default()
        }
    }

    fn up(&self, now: DateTime<Utc>) -> bool {
        !self
            .outages
            .iter()
            .any(|&(from, to)| now >= from && now < to)
    }

    /// Takes a request for a device with the characteristics `characteristics` (its
    /// measurement first): connects when the radio is up, subscribes when connected;
    /// returns a read or write of one of them over a live connection, for the device to
    /// answer.
    pub(crate) fn submit(
        &mut self,
        request: GattRequest,
        now: DateTime<Utc>,
        characteristics: &[u16],
    ) -> Option<GattRequest> {
        match request {
            GattRequest::Connect if self.up(now) => {
                self.connected = true;
                self.subscribed.clear();
                self.events.push_back(GattEvent::Connected);
            }
            GattRequest::Connect => self.events.push_back(GattEvent::Disconnected),
            GattRequest::Subscribe(uuid) if characteristics.contains(&uuid) && self.connected => {
                self.subscribed.push(uuid);
            }
            GattRequest::Write(uuid, _)
            | GattRequest::WriteIfPresent(uuid, _)
            | GattRequest::Read(uuid)
                if characteristics.contains(&uuid) && self.connected =>
            {
                return Some(request);
            }
            GattRequest::Read(_)
            | GattRequest::Subscribe(_)
            | GattRequest::Write(..)
            | GattRequest::WriteIfPresent(..) => {}
        }
        None
    }

    /// Queues an event for the collector (a device's answer).
    pub(crate) fn send(&mut self, event: GattEvent) {
        self.events.push_back(event);
    }

    /// Connected and subscribed to `characteristic`.
    pub(crate) fn subscribed_to(&self, characteristic: u16) -> bool {
        self.connected && self.subscribed.contains(&characteristic)
    }

    /// A queued event, or `Disconnected` when an outage has just begun.
    pub(crate) fn poll(&mut self, now: DateTime<Utc>) -> Option<GattEvent> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        if self.connected && !self.up(now) {
            self.connected = false;
            self.subscribed.clear();
            return Some(GattEvent::Disconnected);
        }
        None
    }
}
