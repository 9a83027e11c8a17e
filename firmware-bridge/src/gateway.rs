//! The gateway runner: device sessions feeding the signed forwarder through the spool,
//! as a phone or home gateway runs them (`pghd-bridge simulate`, and the hub's demo).
//! Every reading a session produces is sealed into an envelope with the gateway's key
//! and the next counter, written to the spool, and published over MQTT QoS 1; the spool
//! forgets it only when the broker acknowledges it (docs/firmware-bridge.md).

use std::path::Path;

use chrono::{DateTime, Utc};
use device_adapters::reading::{DeviceIdentity, Reading};

use crate::envelope::{readings_topic, Envelope, GatewayKey};
use crate::forward::{ForwardError, Forwarder, ForwarderConfig};
use crate::link::GattLink;
use crate::session::{
    CgmSession, GattSession, MeasurementKind, MeasurementSession, SessionConfig, SessionIssue,
    CGM_MEASUREMENT,
};
use crate::spool::{FsDisk, Spool, SpoolError};

/// Why the gateway stopped.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The spool failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The spool directory could not be opened.
    #[error("spool directory: {0}")]
    Io(#[from] std::io::Error),
    /// A reading could not be sealed.
    #[error("sealing a reading: {0}")]
    Seal(#[from] serde_json::Error),
    /// The forwarder failed.
    #[error(transparent)]
    Forward(#[from] ForwardError),
    /// The forwarder task ended abnormally.
    #[error("forwarder task: {0}")]
    Task(String),
}

/// A running gateway: its CGM session, optional other device sessions, and the
/// forwarder task.
pub struct Gateway {
    /// The gateway's id (its topic segment).
    pub id: String,
    /// The CGM's session.
    pub cgm: CgmSession,
    /// Sessions of other devices (heart-rate strap, blood-pressure cuff), by kind,
    /// created on their first step.
    pub measurements: Vec<(MeasurementKind, MeasurementSession)>,
    /// Readings sealed and handed to the forwarder so far (the next envelope counter).
    pub counter: u64,
    /// Messages (each one or more readings) the spool held from an earlier run.
    pub pending_at_start: u64,
    /// What the device sessions could not use, `(device serial, issue)`, oldest first,
    /// for the host to report ([`Self::poll_issue`]).
    issues: std::collections::VecDeque<(String, SessionIssue)>,
    key: GatewayKey,
    to_forwarder: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    forwarder: tokio::task::JoinHandle<Result<usize, ForwardError>>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("id", &self.id)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl Gateway {
    /// Opens the spool at `spool_path` and starts forwarding to the broker at
    /// `host:port` as gateway `id`, signing with `key`; the CGM session starts at
    /// `session_start` (UTC). Must be called within a tokio runtime.
    ///
    /// # Errors
    /// Spool failures.
    pub fn start(
        id: &str,
        host: &str,
        port: u16,
        key: GatewayKey,
        spool_path: &Path,
        session_start: DateTime<Utc>,
    ) -> Result<Self, GatewayError> {
        let (to_forwarder, mut spooled) = tokio::sync::mpsc::unbounded_channel::<Vec<u8>>();
        let (spool, recovery) = Spool::open(FsDisk::new(spool_path)?)?;
        let config = ForwarderConfig {
            host: host.to_owned(),
            port,
            client_id: id.to_owned(),
            topic: readings_topic(id),
            max_inflight: 32,
        };
        let forwarder = tokio::spawn(async move {
            let mut forwarder = Forwarder::new(spool, config);
            forwarder.forward_from(&mut spooled).await
        });
        Ok(Self {
            id: id.to_owned(),
            cgm: CgmSession::new(SessionConfig::default(), None, None, session_start),
            measurements: Vec::new(),
            counter: 0,
            pending_at_start: recovery.pending as u64,
            issues: std::collections::VecDeque::new(),
            key,
            to_forwarder,
            forwarder,
        })
    }

    /// One exchange with the CGM at `now`; new readings are sealed and forwarded.
    ///
    /// # Errors
    /// Sealing failures.
    pub fn step(
        &mut self,
        cgm: &mut impl GattLink,
        now: DateTime<Utc>,
    ) -> Result<(), GatewayError> {
        self.cgm.exchange(cgm, now);
        let readings: Vec<Reading> = std::iter::from_fn(|| self.cgm.poll_reading()).collect();
        while let Some(issue) = self.cgm.poll_issue() {
            self.issues.push_back(("CGM".to_owned(), issue));
        }
        self.forward(readings, CGM_MEASUREMENT, now)
    }

    /// One exchange with a device of `kind` (serial `serial`) at `now`; its session is
    /// created on the first call; new readings are sealed and forwarded.
    ///
    /// # Errors
    /// Sealing failures.
    pub fn step_device(
        &mut self,
        kind: MeasurementKind,
        serial: &str,
        device: &mut impl GattLink,
        now: DateTime<Utc>,
    ) -> Result<(), GatewayError> {
        let index = match self.measurements.iter().position(|(k, _)| *k == kind) {
            Some(index) => index,
            None => {
                let config = SessionConfig {
                    device: DeviceIdentity {
                        serial: Some(serial.to_owned()),
                        ..DeviceIdentity::default()
                    },
                    ..SessionConfig::default()
                };
                self.measurements
                    .push((kind, MeasurementSession::new(kind, config, now)));
                self.measurements.len() - 1
            }
        };
        let session = &mut self.measurements[index].1;
        session.exchange(device, now);
        let readings: Vec<Reading> = std::iter::from_fn(|| session.poll_reading()).collect();
        while let Some(issue) = session.poll_issue() {
            self.issues.push_back((serial.to_owned(), issue));
        }
        self.forward(readings, kind.characteristic(), now)
    }

    /// The next thing a device session could not use: the device's serial and the
    /// issue (a value that did not decode, a record that is not a reading, a refused
    /// backfill). Hosts report these; the gateway keeps them until asked.
    pub fn poll_issue(&mut self) -> Option<(String, SessionIssue)> {
        self.issues.pop_front()
    }

    fn forward(
        &mut self,
        readings: Vec<Reading>,
        characteristic: u16,
        now: DateTime<Utc>,
    ) -> Result<(), GatewayError> {
        if readings.is_empty() {
            return Ok(());
        }
        let envelopes: Vec<Envelope> = (self.counter..)
            .zip(readings)
            .map(|(counter, reading)| {
                Envelope::of_reading(&self.id, counter, now, characteristic, reading)
            })
            .collect();
        // What arrived together (a backfill, several devices) travels together: one
        // signature and one message per batch (contract version 2).
        for payload in self.key.seal_batch(&self.id, &envelopes)? {
            let _ = self.to_forwarder.send(payload);
        }
        self.counter += envelopes.len() as u64;
        Ok(())
    }

    /// Stops taking readings and waits until the forwarder has delivered what it holds;
    /// returns how many messages (each one or more readings) the spool still holds.
    ///
    /// # Errors
    /// Forwarder failures.
    pub async fn finish(self) -> Result<u64, GatewayError> {
        drop(self.to_forwarder);
        match self.forwarder.await {
            Ok(left) => Ok(left? as u64),
            Err(error) => Err(GatewayError::Task(error.to_string())),
        }
    }
}
