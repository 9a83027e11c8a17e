//! The signed MQTT messages a bridge publishes (contract, see docs/mqtt.md), and the
//! hub-side verification: signature, known gateway, replay.
//!
//! ```text
//! payload: version u8 | Ed25519 signature (64 bytes) over the body | body (UTF-8 JSON)
//! version 1, one reading:   {"gateway", "counter", "received_at", "characteristic", "raw_hex", "reading"}
//! version 2, many readings: {"gateway", "envelopes": [version-1 bodies, counters consecutive or not]}
//!                           signed: the body's SHA-256 digest (see `signed_bytes`)
//! ```
//!
//! The signature covers the body bytes exactly as sent, so no canonical JSON is needed.
//! Version 2 signs many readings at once: one signature and one MQTT message for up to
//! [`MAX_BATCH_READINGS`] readings, which is what lets the hub take tens of thousands of
//! readings a second (docs/benchmarks.md). The counter increases by one per reading of a
//! gateway. Because delivery is at-least-once (a message is resent after a crash until
//! the broker acknowledges it), the hub accepts counters out of order within a window
//! and rejects a counter it has already accepted or one older than the window
//! (anti-replay, as IPsec's), reading by reading.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use device_adapters::reading::{Reading, ReadingSource};
use ring::signature::{Ed25519KeyPair, KeyPair, UnparsedPublicKey, ED25519};
use serde::{Deserialize, Serialize};

/// Contract version of a one-reading payload, carried in its first byte.
pub const VERSION: u8 = 1;
/// Contract version of a several-readings payload.
pub const VERSION_BATCH: u8 = 2;
/// Most readings sealed into one version-2 payload.
pub const MAX_BATCH_READINGS: usize = 256;
/// Largest body a batch is filled to, bytes (below [`MAX_PAYLOAD`] with room for the
/// header and one more reading's growth).
const BATCH_BODY_BUDGET: usize = MAX_PAYLOAD - 4 * 1024;
/// Counters this far below the highest accepted one are rejected as replays.
pub const REPLAY_WINDOW: u64 = 4096;
/// Largest payload accepted, bytes.
pub const MAX_PAYLOAD: usize = 64 * 1024;
/// Largest MQTT packet a gateway or the hub sends or takes, bytes: a largest payload
/// with its topic and header (MQTT clients default to 10 KiB, less than a batch).
pub const MAX_PACKET: usize = MAX_PAYLOAD + 1024;

/// What a message says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The gateway that received the reading.
    pub gateway: String,
    /// The gateway's reading counter (starts at 0, +1 per reading).
    pub counter: u64,
    /// When the gateway received it (its own clock, UTC).
    pub received_at: DateTime<Utc>,
    /// The characteristic the raw bytes came from (16-bit UUID), for BLE sources.
    pub characteristic: Option<u16>,
    /// The device's raw bytes, hex, for BLE sources.
    pub raw_hex: Option<String>,
    /// The decoded reading.
    pub reading: Reading,
}

impl Envelope {
    /// `reading` as gateway `gateway` forwards it: numbered `counter`, received at
    /// `received_at`, from the characteristic its BLE source names (a band has several),
    /// else from `characteristic`.
    #[must_use]
    pub fn of_reading(
        gateway: &str,
        counter: u64,
        received_at: DateTime<Utc>,
        characteristic: u16,
        reading: Reading,
    ) -> Self {
        let characteristic = match reading.source {
            ReadingSource::Ble { characteristic } => characteristic,
            _ => characteristic,
        };
        Self {
            gateway: gateway.to_owned(),
            counter,
            received_at,
            characteristic: Some(characteristic),
            raw_hex: None,
            reading,
        }
    }
}

/// What the signature of a `version` payload covers: a version-1 body itself; the
/// SHA-256 digest of a version-2 body. A batch body is tens of kilobytes, and Ed25519
/// hashes what it signs two or three times with SHA-512 (no hardware help on current
/// servers); one hardware-accelerated SHA-256 pass cost a tenth of the whole pipeline's
/// CPU less (docs/benchmarks.md). SHA-256's collision resistance is what the
/// signature's strength then rests on.
enum SignedBytes<'a> {
    Body(&'a [u8]),
    Digest(ring::digest::Digest),
}

impl AsRef<[u8]> for SignedBytes<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Body(body) => body,
            Self::Digest(digest) => digest.as_ref(),
        }
    }
}

fn signed_bytes(version: u8, body: &[u8]) -> SignedBytes<'_> {
    if version == VERSION {
        SignedBytes::Body(body)
    } else {
        SignedBytes::Digest(ring::digest::digest(&ring::digest::SHA256, body))
    }
}

/// The body of a version-2 payload.
#[derive(Debug, Deserialize)]
struct BatchBody {
    gateway: String,
    envelopes: Vec<Envelope>,
}

/// A gateway's signing key.
pub struct GatewayKey {
    pair: Ed25519KeyPair,
}

impl std::fmt::Debug for GatewayKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("GatewayKey")
            .field("public", &self.public_key_hex())
            .finish()
    }
}

impl GatewayKey {
    /// A key from a 32-byte seed (kept by the gateway in its protected storage).
    ///
    /// # Errors
    /// When ring rejects the seed.
    pub fn from_seed(seed: &[u8; 32]) -> Result<Self, ring::error::KeyRejected> {
        Ok(Self {
            pair: Ed25519KeyPair::from_seed_unchecked(seed)?,
        })
    }

    /// The public key, as the hub learns it at pairing.
    #[must_use]
    pub fn public_key(&self) -> Vec<u8> {
        self.pair.public_key().as_ref().to_vec()
    }

    fn public_key_hex(&self) -> String {
        self.public_key()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Signs `envelope` into a version-1 payload.
    ///
    /// # Errors
    /// When the envelope cannot be serialised.
    pub fn seal(&self, envelope: &Envelope) -> Result<Vec<u8>, serde_json::Error> {
        let body = serde_json::to_vec(envelope)?;
        Ok(self.signed(VERSION, &body))
    }

    fn signed(&self, version: u8, body: &[u8]) -> Vec<u8> {
        let signature = self.pair.sign(signed_bytes(version, body).as_ref());
        let mut payload = Vec::with_capacity(1 + 64 + body.len());
        payload.push(version);
        payload.extend_from_slice(signature.as_ref());
        payload.extend_from_slice(body);
        payload
    }

    /// Signs the envelopes of `gateway` into version-2 payloads, in order: each holds up
    /// to [`MAX_BATCH_READINGS`] of them and stays within [`MAX_PAYLOAD`]. An envelope
    /// too large for any payload is an error, never dropped.
    ///
    /// # Errors
    /// When an envelope cannot be serialised or alone exceeds a payload.
    pub fn seal_batch(
        &self,
        gateway: &str,
        envelopes: &[Envelope],
    ) -> Result<Vec<Vec<u8>>, serde_json::Error> {
        let head = format!(
            "{{\"gateway\":{},\"envelopes\":[",
            serde_json::to_string(gateway)?
        );
        let mut payloads = Vec::new();
        let mut body = head.clone().into_bytes();
        let mut count = 0;
        for envelope in envelopes {
            let one = serde_json::to_vec(envelope)?;
            if head.len() + one.len() + 2 > BATCH_BODY_BUDGET {
                return Err(serde::ser::Error::custom(format!(
                    "a reading of {} bytes exceeds a payload",
                    one.len()
                )));
            }
            if count == MAX_BATCH_READINGS || body.len() + one.len() + 2 > BATCH_BODY_BUDGET {
                body.extend_from_slice(b"]}");
                payloads.push(self.signed(VERSION_BATCH, &body));
                body = head.clone().into_bytes();
                count = 0;
            }
            if count > 0 {
                body.push(b',');
            }
            body.extend_from_slice(&one);
            count += 1;
        }
        if count > 0 {
            body.extend_from_slice(b"]}");
            payloads.push(self.signed(VERSION_BATCH, &body));
        }
        Ok(payloads)
    }
}

/// Why the hub refused a message (logged and counted, with no health data).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not a version-1 payload, too large, or the body is not the envelope.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// The gateway is not paired.
    #[error("unknown gateway `{0}`")]
    UnknownGateway(String),
    /// The signature does not verify with the gateway's key.
    #[error("bad signature from gateway `{0}`")]
    BadSignature(String),
    /// The counter was already accepted, or is older than the replay window.
    #[error("replayed counter {counter} from gateway `{gateway}`")]
    Replayed {
        /// Gateway.
        gateway: String,
        /// Counter.
        counter: u64,
    },
    /// The topic names another gateway than the body.
    #[error("topic gateway `{topic}` differs from body gateway `{body}`")]
    TopicMismatch {
        /// Gateway in the topic.
        topic: String,
        /// Gateway in the body.
        body: String,
    },
}

/// Counters accepted from one gateway.
#[derive(Debug, Clone, Default)]
struct ReplayWindow {
    highest: Option<u64>,
    accepted: BTreeSet<u64>,
}

impl ReplayWindow {
    fn accept(&mut self, counter: u64) -> bool {
        if let Some(highest) = self.highest {
            if counter + REPLAY_WINDOW <= highest || self.accepted.contains(&counter) {
                return false;
            }
        }
        self.accepted.insert(counter);
        let highest = self.highest.map_or(counter, |h| h.max(counter));
        self.highest = Some(highest);
        // Forget counters that fell out of the window.
        let floor = highest.saturating_sub(REPLAY_WINDOW);
        self.accepted = self.accepted.split_off(&floor);
        true
    }
}

/// The hub's view of the paired gateways.
#[derive(Debug, Default)]
pub struct Verifier {
    gateways: HashMap<String, (Vec<u8>, ReplayWindow)>,
}

impl Verifier {
    /// Pairs `gateway` with its public key.
    pub fn pair(&mut self, gateway: &str, public_key: Vec<u8>) {
        self.gateways
            .insert(gateway.to_owned(), (public_key, ReplayWindow::default()));
    }

    /// Whether `gateway` is paired.
    #[must_use]
    pub fn is_paired(&self, gateway: &str) -> bool {
        self.gateways.contains_key(gateway)
    }

    /// Verifies a one-reading message received on the topic of `topic_gateway` and
    /// admits it through the gateway's anti-replay window ([`Self::verify`] then
    /// [`Self::admit`]).
    ///
    /// # Errors
    /// A [`Rejection`] saying why; a version-2 payload with other than one reading is
    /// malformed here.
    pub fn open(&mut self, topic_gateway: &str, payload: &[u8]) -> Result<Envelope, Rejection> {
        let mut envelopes = self.verify(topic_gateway, payload)?;
        if envelopes.len() != 1 {
            return Err(Rejection::Malformed("not one reading".into()));
        }
        self.admit(envelopes.remove(0))
    }

    /// Checks everything but replay: the version (1 or 2), that the topic's gateway is
    /// paired, the signature, the body, and that the body and each of its envelopes name
    /// the topic's gateway; returns the message's envelopes in order. Takes `&self`, so
    /// the messages of a batch can be verified on several cores; each envelope must
    /// still pass [`Self::admit`], in arrival order.
    ///
    /// # Errors
    /// A [`Rejection`] saying why (the whole message).
    pub fn verify(&self, topic_gateway: &str, payload: &[u8]) -> Result<Vec<Envelope>, Rejection> {
        if payload.len() > MAX_PAYLOAD
            || payload.len() < 65
            || !matches!(payload[0], VERSION | VERSION_BATCH)
        {
            return Err(Rejection::Malformed(
                "not a version-1 or version-2 payload".into(),
            ));
        }
        let (signature, body) = (&payload[1..65], &payload[65..]);
        let (key, _) = self
            .gateways
            .get(topic_gateway)
            .ok_or_else(|| Rejection::UnknownGateway(topic_gateway.to_owned()))?;
        UnparsedPublicKey::new(&ED25519, key)
            .verify(signed_bytes(payload[0], body).as_ref(), signature)
            .map_err(|_| Rejection::BadSignature(topic_gateway.to_owned()))?;
        let mismatch = |body: &str| Rejection::TopicMismatch {
            topic: topic_gateway.to_owned(),
            body: body.to_owned(),
        };
        let envelopes = if payload[0] == VERSION {
            let envelope: Envelope =
                serde_json::from_slice(body).map_err(|e| Rejection::Malformed(e.to_string()))?;
            vec![envelope]
        } else {
            let batch: BatchBody =
                serde_json::from_slice(body).map_err(|e| Rejection::Malformed(e.to_string()))?;
            if batch.gateway != topic_gateway {
                return Err(mismatch(&batch.gateway));
            }
            if batch.envelopes.is_empty() || batch.envelopes.len() > MAX_BATCH_READINGS {
                return Err(Rejection::Malformed(format!(
                    "{} readings in a batch (1 to {MAX_BATCH_READINGS})",
                    batch.envelopes.len()
                )));
            }
            batch.envelopes
        };
        if let Some(other) = envelopes.iter().find(|e| e.gateway != topic_gateway) {
            return Err(mismatch(&other.gateway));
        }
        Ok(envelopes)
    }

    /// Admits an envelope that passed [`Self::verify`] if its counter was not accepted
    /// before and is within the anti-replay window of its gateway.
    ///
    /// # Errors
    /// [`Rejection::Replayed`], or [`Rejection::UnknownGateway`] if the gateway was
    /// unpaired in between.
    pub fn admit(&mut self, envelope: Envelope) -> Result<Envelope, Rejection> {
        let Some((_, window)) = self.gateways.get_mut(&envelope.gateway) else {
            return Err(Rejection::UnknownGateway(envelope.gateway));
        };
        if !window.accept(envelope.counter) {
            return Err(Rejection::Replayed {
                gateway: envelope.gateway,
                counter: envelope.counter,
            });
        }
        Ok(envelope)
    }
}

/// The topic a gateway publishes readings on (contract version 1).
#[must_use]
pub fn readings_topic(gateway: &str) -> String {
    format!("pghd/v1/gateways/{gateway}/readings")
}

/// The gateway named by a readings topic, if it is one.
#[must_use]
pub fn gateway_of_topic(topic: &str) -> Option<&str> {
    topic
        .strip_prefix("pghd/v1/gateways/")?
        .strip_suffix("/readings")
        .filter(|g| !g.is_empty() && !g.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use device_adapters::reading::{
        DeviceIdentity, DeviceTime, Measurement, ReadingSource, RecordId,
    };

    fn envelope(counter: u64) -> Envelope {
        let time = DateTime::from_timestamp(1_736_000_000, 0).unwrap();
        Envelope {
            gateway: "gw-1".into(),
            counter,
            received_at: time,
            characteristic: Some(0x2AA7),
            raw_hex: Some("060000100600".into()),
            reading: Reading {
                measurement: Measurement::glucose(120.0, true),
                time,
                local_offset_min: Some(60),
                device_time: DeviceTime::Absolute {
                    instant: time,
                    utc_offset_min: Some(60),
                },
                device: DeviceIdentity::default(),
                record: RecordId::Session {
                    session_start: "2025-01-04T09:00:00".into(),
                    offset_min: counter as u32,
                },
                flags: Vec::new(),
                source: ReadingSource::Ble {
                    characteristic: 0x2AA7,
                },
            },
        }
    }

    #[test]
    fn sealed_messages_open_once_and_forgeries_do_not() {
        let key = GatewayKey::from_seed(&[7; 32]).unwrap();
        let mut verifier = Verifier::default();
        verifier.pair("gw-1", key.public_key());
        let payload = key.seal(&envelope(5)).unwrap();
        assert_eq!(verifier.open("gw-1", &payload).unwrap(), envelope(5));
        assert!(matches!(
            verifier.open("gw-1", &payload),
            Err(Rejection::Replayed { counter: 5, .. })
        ));
        // Out of order within the window is fine (at-least-once redelivery).
        assert!(verifier
            .open("gw-1", &key.seal(&envelope(4)).unwrap())
            .is_ok());
        let mut tampered = key.seal(&envelope(6)).unwrap();
        let last = tampered.len() - 3;
        tampered[last] ^= 1;
        assert!(matches!(
            verifier.open("gw-1", &tampered),
            Err(Rejection::BadSignature(_))
        ));
        let stranger = GatewayKey::from_seed(&[9; 32]).unwrap();
        assert!(matches!(
            verifier.open("gw-1", &stranger.seal(&envelope(7)).unwrap()),
            Err(Rejection::BadSignature(_))
        ));
        assert!(matches!(
            verifier.open("gw-2", &payload),
            Err(Rejection::UnknownGateway(_))
        ));
        verifier.pair("gw-2", key.public_key());
        assert!(matches!(
            verifier.open("gw-2", &key.seal(&envelope(8)).unwrap()),
            Err(Rejection::TopicMismatch { .. })
        ));
        // Far older than the window: replay.
        assert!(verifier
            .open("gw-1", &key.seal(&envelope(REPLAY_WINDOW + 100)).unwrap())
            .is_ok());
        assert!(matches!(
            verifier.open("gw-1", &key.seal(&envelope(50)).unwrap()),
            Err(Rejection::Replayed { .. })
        ));
        assert!(matches!(
            verifier.open("gw-1", &[1, 2, 3]),
            Err(Rejection::Malformed(_))
        ));
        assert!(!format!("{key:?}").contains("seed"));
    }

    #[test]
    fn topics() {
        assert_eq!(readings_topic("gw-1"), "pghd/v1/gateways/gw-1/readings");
        assert_eq!(
            gateway_of_topic("pghd/v1/gateways/gw-1/readings"),
            Some("gw-1")
        );
        assert_eq!(gateway_of_topic("pghd/v1/gateways//readings"), None);
        assert_eq!(gateway_of_topic("pghd/v1/gateways/a/b/readings"), None);
    }

    #[test]
    fn a_batch_is_one_signature_over_many_readings_split_to_fit_a_payload() {
        let key = GatewayKey::from_seed(&[7; 32]).unwrap();
        let mut verifier = Verifier::default();
        verifier.pair("gw-1", key.public_key());
        let envelopes: Vec<Envelope> = (0..600).map(envelope).collect();
        let payloads = key.seal_batch("gw-1", &envelopes).unwrap();
        // ~500 bytes a reading: about 120 fit in a payload.
        assert!((5..=7).contains(&payloads.len()), "{}", payloads.len());
        let mut opened = Vec::new();
        for payload in &payloads {
            assert_eq!(payload[0], VERSION_BATCH);
            assert!(payload.len() <= MAX_PAYLOAD);
            let readings = verifier.verify("gw-1", payload).unwrap();
            assert!(readings.len() <= MAX_BATCH_READINGS);
            for envelope in readings {
                opened.push(verifier.admit(envelope).unwrap());
            }
        }
        assert_eq!(opened, envelopes, "every reading once, in order");
        // A redelivered batch: each reading a replay.
        let again = verifier.verify("gw-1", &payloads[0]).unwrap();
        assert!(again
            .into_iter()
            .all(|e| matches!(verifier.admit(e), Err(Rejection::Replayed { .. }))));

        // Large readings: the payload budget, not the count, splits them.
        let mut big = envelope(1000);
        big.raw_hex = Some("ab".repeat(6000));
        let bigs: Vec<Envelope> = (0..12)
            .map(|i| Envelope {
                counter: 1000 + i,
                ..big.clone()
            })
            .collect();
        let payloads = key.seal_batch("gw-1", &bigs).unwrap();
        assert!(payloads.len() >= 2 && payloads.iter().all(|p| p.len() <= MAX_PAYLOAD));
        let count: usize = payloads
            .iter()
            .map(|p| verifier.verify("gw-1", p).unwrap().len())
            .sum();
        assert_eq!(count, 12);
        // One reading too large for any payload is an error, not a silent drop.
        let mut huge = envelope(2000);
        huge.raw_hex = Some("ab".repeat(MAX_PAYLOAD));
        assert!(key.seal_batch("gw-1", &[huge]).is_err());
        assert!(key.seal_batch("gw-1", &[]).unwrap().is_empty());

        // Tampering, a reading of another gateway inside, an empty batch: refused whole.
        let mut tampered = key.seal_batch("gw-1", &envelopes[..3]).unwrap().remove(0);
        let last = tampered.len() - 5;
        tampered[last] ^= 1;
        assert!(matches!(
            verifier.verify("gw-1", &tampered),
            Err(Rejection::BadSignature(_))
        ));
        let mut stray = envelope(3000);
        stray.gateway = "gw-2".into();
        let mixed = key
            .seal_batch("gw-1", &[envelope(3001), stray])
            .unwrap()
            .remove(0);
        assert!(matches!(
            verifier.verify("gw-1", &mixed),
            Err(Rejection::TopicMismatch { .. })
        ));
        let empty = key.signed(VERSION_BATCH, br#"{"gateway":"gw-1","envelopes":[]}"#);
        assert!(matches!(
            verifier.verify("gw-1", &empty),
            Err(Rejection::Malformed(_))
        ));
        // `open` takes one reading only.
        let two = key
            .seal_batch("gw-1", &[envelope(4000), envelope(4001)])
            .unwrap();
        assert!(matches!(
            verifier.open("gw-1", &two[0]),
            Err(Rejection::Malformed(_))
        ));
    }
}
