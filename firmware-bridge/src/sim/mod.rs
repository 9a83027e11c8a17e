//! Simulated sensor firmware for tests, demonstrations and load: virtual devices that
//! speak the real GATT byte formats and keep stored records for backfill, driven by the
//! time their caller passes in. Deterministic from a seed.

pub mod cgm;
pub mod heart_rate;
pub mod home;

use std::collections::VecDeque;

use chrono::{DateTime, Utc};

use crate::link::{GattEvent, GattRequest};

/// The radio side of a simulated device with one measurement characteristic (strap,
/// cuff): the connection, its subscription, and outages during which the link drops.
#[derive(Debug, Clone, Default)]
pub(crate) struct Radio {
    connected: bool,
    subscribed: bool,
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

    /// Takes a request for a device whose measurement characteristic is
    /// `characteristic`: connects when the radio is up, subscribes when connected.
    pub(crate) fn submit(&mut self, request: GattRequest, now: DateTime<Utc>, characteristic: u16) {
        match request {
            GattRequest::Connect if self.up(now) => {
                self.connected = true;
                self.subscribed = false;
                self.events.push_back(GattEvent::Connected);
            }
            GattRequest::Connect => self.events.push_back(GattEvent::Disconnected),
            GattRequest::Subscribe(uuid) if uuid == characteristic && self.connected => {
                self.subscribed = true;
            }
            GattRequest::Read(_) | GattRequest::Subscribe(_) | GattRequest::Write(..) => {}
        }
    }

    /// A queued event, or `Disconnected` when an outage has just begun.
    pub(crate) fn poll(&mut self, now: DateTime<Utc>) -> Option<GattEvent> {
        if let Some(event) = self.events.pop_front() {
            return Some(event);
        }
        if self.connected && !self.up(now) {
            self.connected = false;
            self.subscribed = false;
            return Some(GattEvent::Disconnected);
        }
        None
    }

    /// Connected and subscribed: values may be sent.
    pub(crate) fn streaming(&self) -> bool {
        self.connected && self.subscribed
    }
}
