//! Theengs Gateway messages in the ingest (`home/{gateway}/BTtoMQTT/{address}`, decoded
//! by `device_adapters::theengs`): the gateway must be paired as a Theengs gateway and
//! the device bound to it at pairing; then a scale's weighing, a band's steps and
//! activity heart rate become readings for the gateway's patient, timed at receipt (an
//! advertisement carries no time). Theengs messages are not signed: they are trusted
//! through the broker's access control (each Theengs gateway its own credentials,
//! allowed to publish under its own `home/{gateway}/` only; docs/mqtt.md).
//!
//! Advertisements repeat. A weighing is kept once: the same weight from the same scale
//! within [`WEIGHING_REPEAT`] is a duplicate, and its record identity (scale, weight,
//! ten-minute slot) makes a redelivery one too. A band's running step total becomes
//! increments (`StepTotals`); the last total per band is remembered, and recovered from
//! the store after a restart, so no step is counted twice.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use device_adapters::reading::{
    DeviceIdentity, Measurement, Quantity, Reading, ReadingSource, RecordId,
};
use device_adapters::theengs::{self, Observation, StepTotals, TheengsError, TheengsMessage};

use crate::store::{PatientId, ReadingQuery, ReadingStore, StoreError};

/// Repeats of a weighing within this span are the same weighing.
pub const WEIGHING_REPEAT: Duration = Duration::minutes(10);

/// How far back the last step total of a band is looked for after a restart.
const STEP_TOTAL_LOOKBACK: Duration = Duration::hours(36);

/// Why a Theengs message gave no reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skipped {
    /// Not a message to keep (a device measuring nothing kept here, an object on a
    /// scale): counted by reason, acknowledged.
    Ignored(&'static str),
    /// Refused: undecodable, or from a gateway or device not paired.
    Refused(&'static str),
    /// A repeat of something kept.
    Repeat,
}

/// The Theengs side of the ingest: bindings and what repeats are judged by.
#[derive(Debug, Default)]
pub struct TheengsIngest {
    /// Paired Theengs gateways: their patient and bound devices.
    gateways: HashMap<String, (PatientId, HashSet<String>)>,
    /// Last step total per band address and when it was seen.
    step_totals: HashMap<String, (u32, DateTime<Utc>)>,
    /// Last weighing per scale address.
    weighings: HashMap<String, (f64, DateTime<Utc>)>,
}

/// Readings of a batch, with the state to keep once they are stored.
#[derive(Debug, Default)]
pub struct Pending {
    step_totals: HashMap<String, (u32, DateTime<Utc>)>,
    weighings: HashMap<String, (f64, DateTime<Utc>)>,
}

impl TheengsIngest {
    /// Whether `gateway` is a known Theengs gateway.
    #[must_use]
    pub fn knows(&self, gateway: &str) -> bool {
        self.gateways.contains_key(gateway)
    }

    /// Binds a Theengs gateway and its devices to `patient`.
    pub fn pair(&mut self, gateway: &str, patient: PatientId, devices: &[String]) {
        self.gateways.insert(
            gateway.to_owned(),
            (patient, devices.iter().cloned().collect()),
        );
    }

    /// The readings of one message received at `now`, for its gateway's patient; the
    /// state the batch would leave is gathered in `pending` (kept by [`Self::commit`]
    /// once the batch is stored, so a failed store leaves nothing half-remembered).
    ///
    /// # Errors
    /// Store errors while recovering a band's last total.
    pub fn readings<S: ReadingStore + ?Sized>(
        &mut self,
        topic: &str,
        payload: &[u8],
        now: DateTime<Utc>,
        store: &mut S,
        pending: &mut Pending,
    ) -> Result<Result<(PatientId, Vec<Reading>), Skipped>, StoreError> {
        let message = match theengs::decode(topic, payload) {
            Ok(message) => message,
            Err(TheengsError::NotHealth { .. }) => {
                return Ok(Err(Skipped::Ignored("theengs_not_health")))
            }
            Err(TheengsError::ObjectWeighing) => {
                return Ok(Err(Skipped::Ignored("theengs_object_weighing")))
            }
            Err(_) => return Ok(Err(Skipped::Refused("theengs_malformed"))),
        };
        let Some((patient, devices)) = self.gateways.get(&message.gateway) else {
            return Ok(Err(Skipped::Refused("unknown_gateway")));
        };
        if !devices.contains(&message.address) {
            return Ok(Err(Skipped::Refused("unbound_device")));
        }
        let patient = patient.clone();
        let mut readings = Vec::new();
        for observation in &message.observations {
            if let Some(reading) =
                self.observation(&message, *observation, topic, now, &patient, store, pending)?
            {
                readings.push(reading);
            }
        }
        if readings.is_empty() {
            return Ok(Err(Skipped::Repeat));
        }
        Ok(Ok((patient, readings)))
    }

    #[allow(clippy::too_many_arguments)]
    fn observation<S: ReadingStore + ?Sized>(
        &mut self,
        message: &TheengsMessage,
        observation: Observation,
        topic: &str,
        now: DateTime<Utc>,
        patient: &PatientId,
        store: &mut S,
        pending: &mut Pending,
    ) -> Result<Option<Reading>, StoreError> {
        let address = &message.address;
        let (measurement, id) = match observation {
            Observation::Weight { kg } => {
                let last = pending
                    .weighings
                    .get(address)
                    .or_else(|| self.weighings.get(address));
                if last.is_some_and(|&(w, at)| (w - kg).abs() < 0.05 && now - at < WEIGHING_REPEAT)
                {
                    return Ok(None);
                }
                pending.weighings.insert(address.clone(), (kg, now));
                let slot = now.timestamp() / WEIGHING_REPEAT.num_seconds();
                (
                    Measurement::BodyWeight {
                        weight: Quantity::new(kg, "kg"),
                        bmi: None,
                    },
                    format!("theengs:{address}:weight:{}:{slot}", (kg * 100.0).round()),
                )
            }
            Observation::HeartRate { per_min } => (
                Measurement::HeartRate {
                    rate: Quantity::new(per_min, "/min"),
                    rr_intervals_s: Vec::new(),
                },
                format!("theengs:{address}:heart_rate:{}", now.timestamp()),
            ),
            Observation::StepsToday { total } => {
                let last = match pending.step_totals.get(address) {
                    Some(&last) => Some(last),
                    None => match self.step_totals.get(address) {
                        Some(&last) => Some(last),
                        None => last_step_total(store, patient, address, now)?,
                    },
                };
                let change = StepTotals::between(last.map(|(t, _)| t), total);
                pending.step_totals.insert(address.clone(), (total, now));
                if change == StepTotals::Unchanged {
                    return Ok(None);
                }
                let period_min = match (change, last) {
                    (StepTotals::Increment(_), Some((_, at))) => {
                        (now - at).num_seconds() as f64 / 60.0
                    }
                    _ => 0.0,
                };
                (
                    Measurement::Steps {
                        count: Quantity::new(f64::from(change.steps()), "{steps}"),
                        period_min,
                    },
                    format!("theengs:{address}:steps:{total}:{}", now.timestamp()),
                )
            }
        };
        Ok(Some(Reading::stamped(
            measurement,
            now,
            None,
            DeviceIdentity {
                address: Some(address.clone()),
                serial: None,
                model: message.model_id.clone(),
            },
            RecordId::External { id },
            ReadingSource::Mqtt {
                topic: topic.to_owned(),
            },
        )))
    }

    /// Keeps what a stored batch leaves: the last totals and weighings.
    pub fn commit(&mut self, pending: Pending) {
        self.step_totals.extend(pending.step_totals);
        self.weighings.extend(pending.weighings);
    }
}

/// The band's last step total and when, from its newest Theengs steps reading in the
/// store (its record identity carries the total).
fn last_step_total<S: ReadingStore + ?Sized>(
    store: &mut S,
    patient: &PatientId,
    address: &str,
    now: DateTime<Utc>,
) -> Result<Option<(u32, DateTime<Utc>)>, StoreError> {
    let prefix = format!("theengs:{address}:steps:");
    let page = store.readings(&ReadingQuery {
        patient: patient.clone(),
        kind: Some("steps".into()),
        from: now - STEP_TOTAL_LOOKBACK,
        to: now + Duration::seconds(1),
        after: None,
        limit: crate::store::MAX_PAGE,
    })?;
    Ok(page
        .readings
        .iter()
        .rev()
        .find_map(|reading| match &reading.record {
            RecordId::External { id } => id
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split(':').next())
                .and_then(|total| total.parse().ok())
                .map(|total| (total, reading.time)),
            _ => None,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ingest::{Ingest, IngestOutcome};
    use crate::store::sqlite::SqliteStore;

    const SCALE: &str = "5C:CA:D3:11:22:33";
    const BAND: &str = "C8:0F:10:AA:BB:CC";

    fn scale(kg: f64) -> Vec<u8> {
        format!(r#"{{"id":"{SCALE}","brand":"Xiaomi","model":"Mi Body Composition Scale","model_id":"XMTZC02HM/XMTZC05HM","type":"SCALE","weighing_mode":"person","unit":"kg","weight":{kg},"impedance":503}}"#).into_bytes()
    }

    fn band(steps: u32) -> Vec<u8> {
        format!(r#"{{"id":"{BAND}","brand":"Xiaomi","model":"Miband","model_id":"MiBand","steps":{steps}}}"#)
            .into_bytes()
    }

    fn hall_ingest(store: SqliteStore) -> Ingest<SqliteStore> {
        let mut ingest = Ingest::new(store);
        ingest.theengs.pair(
            "hall",
            PatientId("p".into()),
            &[SCALE.to_owned(), BAND.to_owned()],
        );
        ingest
    }

    fn steps_stored(ingest: &mut Ingest<SqliteStore>, now: DateTime<Utc>) -> f64 {
        let page = ingest
            .store_mut()
            .readings(&ReadingQuery {
                patient: PatientId("p".into()),
                kind: Some("steps".into()),
                from: now - Duration::days(2),
                to: now + Duration::days(1),
                after: None,
                limit: 1000,
            })
            .unwrap();
        page.readings
            .iter()
            .map(|r| match &r.measurement {
                Measurement::Steps { count, .. } => count.value,
                _ => 0.0,
            })
            .sum()
    }

    #[test]
    fn a_weighing_is_kept_once_and_strangers_are_refused_or_ignored() {
        let mut ingest = hall_ingest(SqliteStore::in_memory().unwrap());
        let topic = "home/hall/BTtoMQTT/5CCAD3112233";
        let t0 = DateTime::from_timestamp(1_767_250_000, 0).unwrap();
        assert_eq!(
            ingest.handle(topic, &scale(72.45), t0).unwrap(),
            IngestOutcome::Stored
        );
        // The scale repeats its result for a while: one weighing.
        for s in [5, 30, 200] {
            assert_eq!(
                ingest
                    .handle(topic, &scale(72.45), t0 + Duration::seconds(s))
                    .unwrap(),
                IngestOutcome::Skipped(Skipped::Repeat)
            );
        }
        // Tomorrow's weighing is another.
        assert_eq!(
            ingest
                .handle(topic, &scale(72.3), t0 + Duration::days(1))
                .unwrap(),
            IngestOutcome::Stored
        );
        // A neighbour's scale heard by the same gateway, an unknown gateway, a thermometer,
        // an object on the scale.
        let stranger = String::from_utf8(scale(80.0))
            .unwrap()
            .replace(SCALE, "11:22:33:44:55:66");
        assert_eq!(
            ingest.handle(topic, stranger.as_bytes(), t0).unwrap(),
            IngestOutcome::Skipped(Skipped::Refused("unbound_device"))
        );
        assert_eq!(
            ingest
                .handle("home/attic/BTtoMQTT/5CCAD3112233", &scale(72.45), t0)
                .unwrap(),
            IngestOutcome::Skipped(Skipped::Refused("unknown_gateway"))
        );
        let thermometer = br#"{"model_id":"LYWSDCGQ","type":"THB","tempc":26}"#;
        assert_eq!(
            ingest
                .handle("home/hall/BTtoMQTT/582D3433AADF", thermometer, t0)
                .unwrap(),
            IngestOutcome::Skipped(Skipped::Ignored("theengs_not_health"))
        );
        let object = String::from_utf8(scale(9.5))
            .unwrap()
            .replace("person", "object");
        assert_eq!(
            ingest.handle(topic, object.as_bytes(), t0).unwrap(),
            IngestOutcome::Skipped(Skipped::Ignored("theengs_object_weighing"))
        );
        let stats = ingest.stats().clone();
        assert_eq!((stats.stored, stats.duplicates), (2, 3));
        assert_eq!(stats.rejected["unbound_device"], 1);
        assert_eq!(stats.ignored["theengs_not_health"], 1);
        let page = ingest
            .store_mut()
            .readings(&ReadingQuery {
                patient: PatientId("p".into()),
                kind: Some("body_weight".into()),
                from: t0 - Duration::days(1),
                to: t0 + Duration::days(2),
                after: None,
                limit: 10,
            })
            .unwrap();
        assert_eq!(page.readings.len(), 2);
        assert_eq!(page.readings[0].device.address.as_deref(), Some(SCALE));
        assert_eq!(
            page.readings[0].device.model.as_deref(),
            Some("XMTZC02HM/XMTZC05HM")
        );
    }

    #[test]
    fn a_band_s_running_total_is_counted_once_across_repeats_and_a_restart() {
        let directory = std::env::temp_dir().join(format!("pghd-theengs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("hub.sqlite");
        let topic = "home/hall/BTtoMQTT/C80F10AABBCC";
        let t0 = DateTime::from_timestamp(1_767_250_000, 0).unwrap();
        let totals = [1200, 1200, 1500, 1500, 2300];
        let mut ingest = hall_ingest(SqliteStore::open(&path).unwrap());
        for (i, total) in totals.iter().enumerate() {
            ingest
                .handle(topic, &band(*total), t0 + Duration::minutes(i as i64))
                .unwrap();
        }
        assert!((steps_stored(&mut ingest, t0) - 2300.0).abs() < 1e-9);
        drop(ingest);
        // A restarted hub recovers the last total from the store: 2300 again is a repeat,
        // 2600 adds 300; after midnight the band starts again from 40.
        let mut ingest = hall_ingest(SqliteStore::open(&path).unwrap());
        let later = t0 + Duration::minutes(30);
        assert_eq!(
            ingest.handle(topic, &band(2300), later).unwrap(),
            IngestOutcome::Skipped(Skipped::Repeat)
        );
        ingest
            .handle(topic, &band(2600), later + Duration::minutes(1))
            .unwrap();
        ingest
            .handle(topic, &band(40), later + Duration::hours(12))
            .unwrap();
        assert!((steps_stored(&mut ingest, t0) - 2640.0).abs() < 1e-9);
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
