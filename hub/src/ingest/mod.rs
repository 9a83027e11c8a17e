//! The hub's MQTT ingest (contract in docs/mqtt.md): each message is verified (paired
//! gateway, signature, topic, replay window), its reading stored for the gateway's
//! patient, and only then acknowledged to the broker, so a crash before the store
//! commits means redelivery, not loss. Rejected messages are acknowledged too (they
//! would never verify) and counted by reason; nothing about them is logged but the
//! gateway id and the reason.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};
use firmware_bridge::envelope::{gateway_of_topic, Envelope, Rejection, Verifier};
use rumqttc::{AsyncClient, Event, Incoming, MqttOptions, QoS};

use crate::store::directory::GatewayKind;
use crate::store::{PatientId, ReadingStore, StoreError};

pub mod theengs;

/// The subscription that receives every gateway's readings.
pub const READINGS_FILTER: &str = "pghd/v1/gateways/+/readings";

/// The filter a hub subscribes to: [`READINGS_FILTER`], or, when hub processes share
/// the load as members of `share_group`, the MQTT v5 shared subscription
/// `$share/{group}/pghd/v1/gateways/+/readings`: the broker hands each message to one
/// member of the group. Mosquitto (≥ 1.6), EMQX and rumqttd grant shared subscriptions
/// to MQTT 3.1.1 clients too, which is what the hub's client speaks.
#[must_use]
pub fn readings_filter(share_group: Option<&str>) -> String {
    shared(READINGS_FILTER, share_group)
}

/// The filter of Theengs Gateway messages (`home/+/BTtoMQTT/#`), shared like
/// [`readings_filter`] when hubs share the load.
#[must_use]
pub fn theengs_filter(share_group: Option<&str>) -> String {
    shared(device_adapters::theengs::TOPIC_FILTER, share_group)
}

/// `filter`, as the shared subscription of `share_group` when there is one.
fn shared(filter: &str, share_group: Option<&str>) -> String {
    match share_group {
        Some(group) => format!("$share/{group}/{filter}"),
        None => filter.to_owned(),
    }
}

/// How the hub's ingest meets the broker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerSession {
    /// Broker host.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT client id; the session is persistent, so the broker keeps this hub's
    /// unacknowledged readings while it is down.
    pub client_id: String,
    /// The shared-subscription group of several hub processes (see
    /// [`readings_filter`]); `None` for a single hub.
    pub share_group: Option<String>,
}

impl BrokerSession {
    /// A single hub's session with the broker at `host:port` as `client_id`.
    #[must_use]
    pub fn new(host: &str, port: u16, client_id: &str) -> Self {
        Self {
            host: host.to_owned(),
            port,
            client_id: client_id.to_owned(),
            share_group: None,
        }
    }
}

/// What happened to one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// The reading was stored.
    Stored,
    /// The reading was already stored (same device and record identity).
    Duplicate,
    /// The message was refused.
    Rejected(Rejection),
    /// A Theengs message with nothing to keep (a neighbour's thermometer, an object on
    /// the scale) or refused (unpaired gateway, unbound device), by reason.
    Skipped(theengs::Skipped),
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
    /// Theengs messages with nothing to keep, by reason.
    pub ignored: BTreeMap<&'static str, u64>,
}

/// Verification state and the store.
#[derive(Debug)]
pub struct Ingest<S: ReadingStore> {
    verifier: Verifier,
    patients: HashMap<String, PatientId>,
    store: S,
    stats: IngestStats,
    analytics: Option<crate::analytics::AnalyticsSender>,
    /// Gateways looked up in the store and not found, with when (looked up again after
    /// [`UNPAIRED_RECHECK`]).
    unpaired: HashMap<String, std::time::Instant>,
    /// Theengs gateways, their devices, and the repeats of their advertisements.
    theengs: theengs::TheengsIngest,
}

/// How long a gateway found unpaired in the store is not looked up again.
pub const UNPAIRED_RECHECK: Duration = Duration::from_secs(10);

impl<S: ReadingStore> Ingest<S> {
    /// An ingest writing to `store`.
    pub fn new(store: S) -> Self {
        Self {
            verifier: Verifier::default(),
            patients: HashMap::new(),
            store,
            stats: IngestStats::default(),
            analytics: None,
            unpaired: HashMap::new(),
            theengs: theengs::TheengsIngest::default(),
        }
    }

    /// Pairs the gateways of `messages` that the verifier does not know yet but the
    /// store does (paired through the API since the ingest started). A gateway not in
    /// the store is not looked up again for [`UNPAIRED_RECHECK`].
    ///
    /// # Errors
    /// Store errors.
    fn learn_gateways(&mut self, messages: &[(&str, &[u8])]) -> Result<(), StoreError> {
        let now = std::time::Instant::now();
        for (topic, _) in messages {
            let Some(gateway) = gateway_of_topic(topic)
                .or_else(|| device_adapters::theengs::gateway_of_topic(topic))
            else {
                continue;
            };
            if self.verifier.is_paired(gateway)
                || self.theengs.knows(gateway)
                || self
                    .unpaired
                    .get(gateway)
                    .is_some_and(|at| now.duration_since(*at) < UNPAIRED_RECHECK)
            {
                continue;
            }
            let found = self.store.directory().gateway(gateway)?;
            let key = found.as_ref().and_then(|g| match g.kind {
                GatewayKind::Signed => {
                    decode_hex(&g.public_key_hex).map(|key| (key, PatientId(g.patient.clone())))
                }
                GatewayKind::Theengs => None,
            });
            if let Some(g) = found.filter(|g| g.kind == GatewayKind::Theengs) {
                self.unpaired.remove(gateway);
                self.theengs.pair(gateway, PatientId(g.patient), &g.devices);
                continue;
            }
            match key {
                Some((key, patient)) => {
                    self.unpaired.remove(gateway);
                    self.pair(gateway, key, patient);
                }
                None => {
                    if self.unpaired.len() > 10_000 {
                        self.unpaired.clear();
                    }
                    self.unpaired.insert(gateway.to_owned(), now);
                }
            }
        }
        Ok(())
    }

    /// Also sends every stored reading to the pseudonymised analytics stream.
    pub fn stream_to(&mut self, analytics: crate::analytics::AnalyticsSender) {
        self.analytics = Some(analytics);
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
        Ok(self.handle_batch(&[(topic, payload)], now)?.remove(0))
    }

    /// Verifies every message, then stores the verified readings in one transaction per
    /// patient (one disk sync for the batch instead of one per reading); the outcomes
    /// are in message order.
    ///
    /// # Errors
    /// Store errors: none of the batch may then be acknowledged.
    pub fn handle_batch(
        &mut self,
        messages: &[(&str, &[u8])],
        now: DateTime<Utc>,
    ) -> Result<Vec<IngestOutcome>, StoreError> {
        let mut outcomes = vec![IngestOutcome::Stored; messages.len()];
        // Verified readings by patient, with the index of their outcome.
        let mut by_patient: HashMap<PatientId, Vec<(usize, device_adapters::reading::Reading)>> =
            HashMap::new();
        self.learn_gateways(messages)?;
        // Theengs messages (unsigned, `home/...`) apart from the signed ones.
        let (theengs_messages, signed): (Vec<_>, Vec<_>) = messages
            .iter()
            .copied()
            .enumerate()
            .partition(|(_, (topic, _))| {
                device_adapters::theengs::gateway_of_topic(topic).is_some()
            });
        let mut pending = theengs::Pending::default();
        for (index, (topic, payload)) in theengs_messages {
            match self
                .theengs
                .readings(topic, payload, now, &mut self.store, &mut pending)?
            {
                Ok((patient, readings)) => {
                    let entry = by_patient.entry(patient).or_default();
                    entry.extend(readings.into_iter().map(|r| (index, r)));
                }
                Err(skipped) => {
                    match &skipped {
                        theengs::Skipped::Ignored(reason) => {
                            *self.stats.ignored.entry(reason).or_default() += 1;
                        }
                        theengs::Skipped::Refused(reason) => {
                            *self.stats.rejected.entry(reason).or_default() += 1;
                        }
                        theengs::Skipped::Repeat => self.stats.duplicates += 1,
                    }
                    outcomes[index] = IngestOutcome::Skipped(skipped);
                }
            }
        }
        let signed_messages: Vec<(&str, &[u8])> = signed.iter().map(|(_, m)| *m).collect();
        let verified = verify_all(&self.verifier, &signed_messages);
        for (index, verified) in signed.iter().map(|(i, _)| *i).zip(verified) {
            let rejected = |stats: &mut IngestStats, rejection: Rejection| {
                let reason = match rejection {
                    Rejection::Malformed(_) => "malformed",
                    Rejection::UnknownGateway(_) => "unknown_gateway",
                    Rejection::BadSignature(_) => "bad_signature",
                    Rejection::Replayed { .. } => "replayed",
                    Rejection::TopicMismatch { .. } => "topic_mismatch",
                };
                *stats.rejected.entry(reason).or_default() += 1;
                IngestOutcome::Rejected(rejection)
            };
            let envelopes = match verified {
                Ok(envelopes) => envelopes,
                Err(rejection) => {
                    outcomes[index] = rejected(&mut self.stats, rejection);
                    continue;
                }
            };
            // Replay admission is stateful and stays in arrival order, reading by reading:
            // a redelivered batch's readings are refused one by one.
            let mut first_refusal = None;
            for envelope in envelopes {
                match self.verifier.admit(envelope) {
                    Ok(envelope) => match self.patients.get(&envelope.gateway) {
                        Some(patient) => {
                            by_patient
                                .entry(patient.clone())
                                .or_default()
                                .push((index, envelope.reading));
                        }
                        None => {
                            *self.stats.rejected.entry("unbound_gateway").or_default() += 1;
                            first_refusal.get_or_insert(IngestOutcome::Rejected(
                                Rejection::UnknownGateway(envelope.gateway),
                            ));
                        }
                    },
                    Err(rejection) => {
                        let outcome = rejected(&mut self.stats, rejection);
                        first_refusal.get_or_insert(outcome);
                    }
                }
            }
            if let Some(refusal) = first_refusal {
                outcomes[index] = refusal;
            }
        }
        // A message is stored if any of its readings was, a duplicate if all its
        // admitted readings were already stored.
        let mut admitted = vec![0usize; messages.len()];
        let mut stored = vec![0usize; messages.len()];
        for readings in by_patient.values() {
            for (index, _) in readings {
                admitted[*index] += 1;
            }
        }
        for (patient, readings) in by_patient {
            // Within a batch, a repeat of an earlier reading is a duplicate as well.
            let mut seen = std::collections::HashSet::with_capacity(readings.len());
            let mut keep = vec![false; readings.len()];
            for (position, (_, reading)) in readings.iter().enumerate() {
                keep[position] = seen.insert((&reading.device, &reading.record));
            }
            drop(seen);
            // The message each reading of the batch came from.
            let mut from_message = Vec::with_capacity(readings.len());
            let mut batch = Vec::with_capacity(readings.len());
            for ((index, reading), keep) in readings.into_iter().zip(keep) {
                if keep {
                    from_message.push(index);
                    batch.push(reading);
                } else {
                    self.stats.duplicates += 1;
                }
            }
            let written = self.store.store_readings(&patient, &batch, now)?;
            if let Some(analytics) = &self.analytics {
                analytics.send(&patient, written.stored_of(&batch));
            }
            self.stats.stored += written.stored as u64;
            self.stats.duplicates += written.duplicates as u64;
            let duplicates: std::collections::HashSet<usize> =
                written.duplicate_positions.into_iter().collect();
            for (position, index) in from_message.iter().enumerate() {
                if !duplicates.contains(&position) {
                    stored[*index] += 1;
                }
            }
        }
        for (index, outcome) in outcomes.iter_mut().enumerate() {
            if admitted[index] > 0 {
                *outcome = if stored[index] > 0 {
                    IngestOutcome::Stored
                } else {
                    IngestOutcome::Duplicate
                };
            }
        }
        self.theengs.commit(pending);
        Ok(outcomes)
    }
}

/// Bytes from hex digits (`None` if malformed).
#[must_use]
pub fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if hex.len() % 2 != 0 {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect()
}

/// Batches at least this large are verified on several cores.
pub const PARALLEL_VERIFY_MIN: usize = 32;

/// Verifies every message (signature and body, not replay), spreading a large batch over
/// the available cores: Ed25519 verification is most of the hub's CPU per reading
/// (docs/benchmarks.md). Results are in message order.
fn verify_all(
    verifier: &Verifier,
    messages: &[(&str, &[u8])],
) -> Vec<Result<Vec<Envelope>, Rejection>> {
    let verify_one = |(topic, payload): &(&str, &[u8])| match gateway_of_topic(topic) {
        None => Err(Rejection::Malformed("not a readings topic".into())),
        Some(gateway) => verifier.verify(gateway, payload),
    };
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    if cores < 2 || messages.len() < PARALLEL_VERIFY_MIN {
        return messages.iter().map(verify_one).collect();
    }
    let chunk = messages.len().div_ceil(cores);
    std::thread::scope(|scope| {
        let workers: Vec<_> = messages
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(verify_one).collect::<Vec<_>>()))
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| match worker.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// Largest number of messages stored in one transaction.
pub const MAX_BATCH: usize = 512;

/// Subscribes to the readings ([`readings_filter`]) on the broker of `session` and
/// ingests until `stop` resolves; every message is acknowledged only after it was
/// handled.
///
/// # Errors
/// Store errors (the unacknowledged message is redelivered when the hub returns).
pub async fn run_mqtt<S: ReadingStore>(
    ingest: &mut Ingest<S>,
    session: &BrokerSession,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), StoreError> {
    let mut options = MqttOptions::new(&session.client_id, &session.host, session.port);
    options.set_max_packet_size(
        firmware_bridge::envelope::MAX_PACKET,
        firmware_bridge::envelope::MAX_PACKET,
    );
    let filters = [
        readings_filter(session.share_group.as_deref()),
        theengs_filter(session.share_group.as_deref()),
    ];
    options.set_manual_acks(true);
    options.set_clean_session(false);
    options.set_keep_alive(Duration::from_secs(30));
    options.set_inflight(u16::try_from(MAX_BATCH).unwrap_or(u16::MAX));
    let (client, mut eventloop) = AsyncClient::new(options, MAX_BATCH * 2);
    // The event loop runs in its own task and is never cancelled; publishes reach the
    // batching loop below through a channel.
    let (publishes, mut incoming) = tokio::sync::mpsc::channel::<rumqttc::Publish>(MAX_BATCH * 4);
    let subscriber = client.clone();
    let poller = tokio::spawn(async move {
        loop {
            match eventloop.poll().await {
                Ok(Event::Incoming(Incoming::Publish(publish))) => {
                    if publishes.send(publish).await.is_err() {
                        return;
                    }
                }
                Ok(Event::Incoming(Incoming::ConnAck(_))) => {
                    for filter in &filters {
                        let _ = subscriber.subscribe(filter, QoS::AtLeastOnce).await;
                    }
                }
                Ok(_) => {}
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    });
    tokio::pin!(stop);
    let result = loop {
        let first = tokio::select! {
            () = &mut stop => break Ok(()),
            publish = incoming.recv() => match publish {
                Some(publish) => publish,
                None => break Ok(()),
            },
        };
        // Group commit: the batch is what has queued up meanwhile, up to the maximum,
        // with no idle wait. The broker lets only a window of unacknowledged messages
        // through (100 for the embedded rumqttd, `max_inflight_messages` for
        // Mosquitto), and nothing is acknowledged before its commit, so waiting for a
        // fuller batch would only stall that window.
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match incoming.try_recv() {
                Ok(publish) => batch.push(publish),
                Err(_) => break,
            }
        }
        let messages: Vec<(&str, &[u8])> = batch
            .iter()
            .map(|p| (p.topic.as_str(), p.payload.as_ref()))
            .collect();
        if let Err(error) = ingest.handle_batch(&messages, Utc::now()) {
            break Err(error);
        }
        // Stored (or refused for good): now the broker may forget them.
        for publish in &batch {
            let _ = client.ack(publish).await;
        }
    };
    poller.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use firmware_bridge::envelope::{readings_topic, Envelope, GatewayKey};

    fn sealed(key: &GatewayKey, counter: u64, offset: u32) -> Vec<u8> {
        let time = DateTime::from_timestamp(1_736_000_000 + i64::from(offset) * 60, 0).unwrap();
        let reading = crate::store::suite::reading("S", offset, 110.0, time);
        key.seal(&Envelope {
            gateway: "gw".into(),
            counter,
            received_at: time,
            characteristic: None,
            raw_hex: None,
            reading,
        })
        .unwrap()
    }

    #[test]
    fn a_batch_verified_on_several_cores_keeps_each_outcome_in_place() {
        let key = GatewayKey::from_seed(&[5; 32]).unwrap();
        let impostor = GatewayKey::from_seed(&[6; 32]).unwrap();
        let mut ingest = Ingest::new(SqliteStore::in_memory().unwrap());
        ingest.pair("gw", key.public_key(), PatientId("p".into()));
        let topic = readings_topic("gw");
        let count = 4 * PARALLEL_VERIFY_MIN;
        let mut messages: Vec<(String, Vec<u8>)> = (0..count)
            .map(|i| (topic.clone(), sealed(&key, i as u64, i as u32)))
            .collect();
        // Spread over the chunks: a forgery, a replay of an earlier counter sealed by
        // the right key (new record, so only the replay window can catch it), a stray topic.
        messages[57].1 = sealed(&impostor, 57, 57);
        messages[80].1 = sealed(&key, 3, 10_000);
        messages[101].0 = "pghd/v1/other".into();
        let batch: Vec<(&str, &[u8])> = messages
            .iter()
            .map(|(t, m)| (t.as_str(), m.as_slice()))
            .collect();
        let outcomes = ingest.handle_batch(&batch, Utc::now()).unwrap();
        assert_eq!(outcomes.len(), count);
        for (index, outcome) in outcomes.iter().enumerate() {
            match index {
                57 => assert!(matches!(
                    outcome,
                    IngestOutcome::Rejected(Rejection::BadSignature(_))
                )),
                80 => assert!(matches!(
                    outcome,
                    IngestOutcome::Rejected(Rejection::Replayed { counter: 3, .. })
                )),
                101 => assert!(matches!(
                    outcome,
                    IngestOutcome::Rejected(Rejection::Malformed(_))
                )),
                _ => assert_eq!(outcome, &IngestOutcome::Stored, "message {index}"),
            }
        }
        assert_eq!(ingest.stats().stored, count as u64 - 3);
    }

    #[test]
    fn a_batch_stores_once_and_reports_each_message() {
        let key = GatewayKey::from_seed(&[5; 32]).unwrap();
        let mut ingest = Ingest::new(SqliteStore::in_memory().unwrap());
        ingest.pair("gw", key.public_key(), PatientId("p".into()));
        let topic = readings_topic("gw");
        let now = Utc::now();
        // Stored earlier, so a duplicate in the batch below.
        assert_eq!(
            ingest.handle(&topic, &sealed(&key, 0, 0), now).unwrap(),
            IngestOutcome::Stored
        );
        let messages = [
            sealed(&key, 1, 5),
            sealed(&key, 2, 0),
            sealed(&key, 3, 5),
            sealed(&key, 1, 5),
            b"junk".to_vec(),
        ];
        let batch: Vec<(&str, &[u8])> = messages
            .iter()
            .map(|m| (topic.as_str(), m.as_slice()))
            .collect();
        let outcomes = ingest.handle_batch(&batch, now).unwrap();
        assert_eq!(outcomes[0], IngestOutcome::Stored);
        assert_eq!(
            outcomes[1],
            IngestOutcome::Duplicate,
            "offset 0 was stored before"
        );
        assert_eq!(
            outcomes[2],
            IngestOutcome::Duplicate,
            "offset 5 earlier in this batch"
        );
        assert!(matches!(
            outcomes[3],
            IngestOutcome::Rejected(Rejection::Replayed { counter: 1, .. })
        ));
        assert!(matches!(
            outcomes[4],
            IngestOutcome::Rejected(Rejection::Malformed(_))
        ));
        let stats = ingest.stats();
        assert_eq!((stats.stored, stats.duplicates), (2, 2));
        assert_eq!(stats.rejected["replayed"], 1);
    }

    #[test]
    fn a_batch_message_stores_its_readings_and_refuses_only_the_replayed_ones() {
        let key = GatewayKey::from_seed(&[5; 32]).unwrap();
        let mut ingest = Ingest::new(SqliteStore::in_memory().unwrap());
        ingest.pair("gw", key.public_key(), PatientId("p".into()));
        let topic = readings_topic("gw");
        let now = Utc::now();
        let envelope = |counter: u64, offset: u32| {
            let time = DateTime::from_timestamp(1_736_000_000 + i64::from(offset) * 60, 0).unwrap();
            Envelope {
                gateway: "gw".into(),
                counter,
                received_at: time,
                characteristic: None,
                raw_hex: None,
                reading: crate::store::suite::reading("S", offset, 110.0, time),
            }
        };
        let first: Vec<Envelope> = (0..40).map(|i| envelope(i, i as u32)).collect();
        let payloads = key.seal_batch("gw", &first).unwrap();
        assert_eq!(payloads.len(), 1);
        assert_eq!(
            ingest.handle(&topic, &payloads[0], now).unwrap(),
            IngestOutcome::Stored
        );
        // Redelivered whole: every counter a replay, the message refused.
        assert!(matches!(
            ingest.handle(&topic, &payloads[0], now).unwrap(),
            IngestOutcome::Rejected(Rejection::Replayed { counter: 0, .. })
        ));
        // A new batch overlapping an old counter: the new readings are stored.
        let mixed: Vec<Envelope> = [envelope(39, 39), envelope(40, 40), envelope(41, 41)].into();
        let payload = key.seal_batch("gw", &mixed).unwrap().remove(0);
        assert_eq!(
            ingest.handle(&topic, &payload, now).unwrap(),
            IngestOutcome::Stored
        );
        // New counters, readings already stored (a gateway restarted without its counter):
        // a duplicate.
        let again: Vec<Envelope> = [envelope(100, 1), envelope(101, 2)].into();
        let payload = key.seal_batch("gw", &again).unwrap().remove(0);
        assert_eq!(
            ingest.handle(&topic, &payload, now).unwrap(),
            IngestOutcome::Duplicate
        );
        let stats = ingest.stats();
        assert_eq!((stats.stored, stats.duplicates), (42, 2));
        assert_eq!(stats.rejected["replayed"], 41);
    }
}
