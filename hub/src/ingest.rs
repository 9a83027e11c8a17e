//! The hub's MQTT ingest (contract in docs/mqtt.md): each message is verified (paired
//! gateway, signature, topic, replay window), its reading stored for the gateway's
//! patient, and only then acknowledged to the broker, so a crash before the store
//! commits means redelivery, not loss. Rejected messages are acknowledged too (they
//! would never verify) and counted by reason; nothing about them is logged but the
//! gateway id and the reason.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use firmware_bridge::envelope::{gateway_of_topic, Rejection, Verifier};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

use crate::store::{PatientId, ReadingStore, StoreError};

/// The subscription that receives every gateway's readings. With several hub
/// processes, each subscribes through an MQTT v5 shared subscription
/// (`$share/hub/pghd/v1/gateways/+/readings`); this client speaks MQTT 3.1.1.
pub const READINGS_FILTER: &str = "pghd/v1/gateways/+/readings";

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// The reading was stored.
    Stored,
    /// The reading was already stored (same device and record identity).
    Duplicate,
    /// The message was refused.
    Rejected(Rejection),
}

/// Counters for the hub's report and metrics (no health data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IngestStats {
    /// Readings stored.
    pub stored: u64,
    /// Readings already stored.
    pub duplicates: u64,
    /// Messages refused, by reason.
    pub rejected: BTreeMap<&'static str, u64>,
}

/// Verification state and the store.
#[derive(Debug)]
pub struct Ingest<S: ReadingStore> {
    verifier: Verifier,
    patients: HashMap<String, PatientId>,
    store: S,
    stats: IngestStats,
}

impl<S: ReadingStore> Ingest<S> {
    /// An ingest writing to `store`.
    pub fn new(store: S) -> Self {
        Self {
            verifier: Verifier::default(),
            patients: HashMap::new(),
            store,
            stats: IngestStats::default(),
        }
    }

    /// Binds a paired gateway (and its public key) to a patient.
    pub fn pair(&mut self, gateway: &str, public_key: Vec<u8>, patient: PatientId) {
        self.verifier.pair(gateway, public_key);
        self.patients.insert(gateway.to_owned(), patient);
    }

    /// Counters so far.
    #[must_use]
    pub fn stats(&self) -> &IngestStats {
        &self.stats
    }

    /// The store.
    pub fn store_mut(&mut self) -> &mut S {
        &mut self.store
    }

    /// Verifies and stores one message received on `topic` at `now`.
    ///
    /// # Errors
    /// Store errors: the message must then not be acknowledged.
    pub fn handle(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: DateTime<Utc>,
    ) -> Result<IngestOutcome, StoreError> {
        let outcome = match gateway_of_topic(topic) {
            None => Err(Rejection::Malformed("not a readings topic".into())),
            Some(gateway) => self.verifier.open(gateway, payload),
        };
        let envelope = match outcome {
            Ok(envelope) => envelope,
            Err(rejection) => {
                let reason = match rejection {
                    Rejection::Malformed(_) => "malformed",
                    Rejection::UnknownGateway(_) => "unknown_gateway",
                    Rejection::BadSignature(_) => "bad_signature",
                    Rejection::Replayed { .. } => "replayed",
                    Rejection::TopicMismatch { .. } => "topic_mismatch",
                };
                *self.stats.rejected.entry(reason).or_default() += 1;
                return Ok(IngestOutcome::Rejected(rejection));
            }
        };
        let Some(patient) = self.patients.get(&envelope.gateway).cloned() else {
            *self.stats.rejected.entry("unbound_gateway").or_default() += 1;
            return Ok(IngestOutcome::Rejected(Rejection::UnknownGateway(
                envelope.gateway,
            )));
        };
        let written =
            self.store
                .store_readings(&patient, std::slice::from_ref(&envelope.reading), now)?;
        Ok(if written.stored == 1 {
            self.stats.stored += 1;
            IngestOutcome::Stored
        } else {
            self.stats.duplicates += 1;
            IngestOutcome::Duplicate
        })
    }
}

/// Subscribes to [`READINGS_FILTER`] on the broker at `host:port` and ingests until
/// `stop` resolves; every message is acknowledged only after it was handled.
///
/// # Errors
/// Store errors (the unacknowledged message is redelivered when the hub returns).
pub async fn run_mqtt<S: ReadingStore>(
    ingest: &mut Ingest<S>,
    host: &str,
    port: u16,
    client_id: &str,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StoreError> {
    let mut options = MqttOptions::new(client_id, host, port);
    options.set_manual_acks(true);
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(30));
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    let _ = client.subscribe(READINGS_FILTER, QoS::AtLeastOnce).await;
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            event = eventloop.poll() => match event {
                Ok(Event::Incoming(Incoming::Publish(publish))) => {
                    ingest.handle(&publish.topic, &publish.payload, Utc::now())?;
                    let _ = client.ack(&publish).await;
                }
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    let _ = client.subscribe(READINGS_FILTER, QoS::AtLeastOnce).await;
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            },
        }
    }
}
