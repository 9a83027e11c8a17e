//! Messages of Theengs Gateway (Theengs Decoder JSON, one BLE advertisement decoded per
//! message, published on `home/{gateway}/BTtoMQTT/{address without colons}`), for the
//! scales and bands it decodes:
//!
//! - scales (`"type":"SCALE"`, e.g. Xiaomi Mi Smart Scale XMTZC01HM/XMTZC04HM, Mi Body
//!   Composition Scale XMTZC02HM/XMTZC05HM): `weight` in `unit` `kg` or `lb`, and
//!   `weighing_mode` `person` or `object` (an object on the scale is not the patient);
//! - bands (Xiaomi Mi Band, `"model_id":"MiBand"`): `steps`, the band's running total of
//!   the day, and `act_bpm`, the heart rate it shares during an activity.
//!
//! The field names and values are those of Theengs Decoder's own test expectations. A
//! gateway hears every device in range (a neighbour's thermometer too): messages with
//! none of these quantities are [`TheengsError::NotHealth`], for the caller to count and
//! ignore. An advertisement carries no time and no record number: the caller times it
//! at receipt and de-duplicates repeats (see [`StepTotals`]).

use serde_json::Value;

/// The topic filter of Theengs Gateway's decoded advertisements.
pub const TOPIC_FILTER: &str = "home/+/BTtoMQTT/#";

/// The filter of one Theengs gateway's messages, `home/{gateway}/BTtoMQTT/#` (what a
/// paired gateway is told to publish under).
#[must_use]
pub fn gateway_topic_filter(gateway: &str) -> String {
    TOPIC_FILTER.replacen('+', gateway, 1)
}

/// 1 lb in kg (international avoirdupois pound, exact).
pub const KG_PER_LB: f64 = 0.453_592_37;

/// One decoded advertisement.
#[derive(Debug, Clone, PartialEq)]
pub struct TheengsMessage {
    /// The Theengs gateway's name (the topic's second segment).
    pub gateway: String,
    /// The device's Bluetooth address, upper case with colons.
    pub address: String,
    /// Theengs' model id (`XMTZC02HM/XMTZC05HM`, `MiBand`), when sent.
    pub model_id: Option<String>,
    /// What the advertisement says about the wearer, in field order.
    pub observations: Vec<Observation>,
}

/// A health quantity in an advertisement.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Observation {
    /// A person's weight, kg (pounds converted).
    Weight {
        /// Weight, kg.
        kg: f64,
    },
    /// A band's running step total of the day.
    StepsToday {
        /// Steps since the band's midnight.
        total: u32,
    },
    /// Heart rate during an activity, /min.
    HeartRate {
        /// Beats per minute.
        per_min: f64,
    },
}

/// Why a message gives no observation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TheengsError {
    /// Not `home/{gateway}/BTtoMQTT/{address}`.
    #[error("not a Theengs topic: {0}")]
    Topic(String),
    /// Not a JSON object.
    #[error("not a JSON object: {0}")]
    Json(String),
    /// No usable Bluetooth address (`id`, or the topic's last segment).
    #[error("no device address")]
    NoAddress,
    /// A device that measures nothing this hub keeps (thermometer, beacon, plant sensor).
    #[error("not a health device ({model_id})")]
    NotHealth {
        /// Theengs' model id, or `unknown`.
        model_id: String,
    },
    /// A scale weighing an object, not a person.
    #[error("an object weighing, not a person's")]
    ObjectWeighing,
    /// A field of the wrong type or out of range.
    #[error("field `{field}` is not a plausible value")]
    BadValue {
        /// The field.
        field: &'static str,
    },
}

/// Normalises `AA:BB:CC:DD:EE:FF` or `AABBCCDDEEFF` (any case) to upper case with
/// colons; `None` unless it is six octets.
#[must_use]
pub fn normalise_address(text: &str) -> Option<String> {
    let hex: String = text.chars().filter(|c| *c != ':' && *c != '-').collect();
    if hex.len() != 12 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let upper = hex.to_ascii_uppercase();
    Some(
        (0..6)
            .map(|i| &upper[2 * i..2 * i + 2])
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// The gateway of a Theengs topic `home/{gateway}/BTtoMQTT/...`; `None` for any other
/// topic.
#[must_use]
pub fn gateway_of_topic(topic: &str) -> Option<&str> {
    let mut levels = topic.split('/');
    match (levels.next(), levels.next(), levels.next()) {
        (Some("home"), Some(gateway), Some("BTtoMQTT")) if !gateway.is_empty() => Some(gateway),
        _ => None,
    }
}

/// Decodes a message received on `topic`.
///
/// # Errors
/// [`TheengsError`] saying why there is nothing to keep.
pub fn decode(topic: &str, payload: &[u8]) -> Result<TheengsMessage, TheengsError> {
    let topic_error = || TheengsError::Topic(topic.to_owned());
    let gateway = gateway_of_topic(topic).ok_or_else(topic_error)?;
    // The device's address is the last level, below `BTtoMQTT`.
    let last = topic.split('/').skip(3).last().ok_or_else(topic_error)?;
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| TheengsError::Json(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(TheengsError::Json("not an object".into()));
    };
    let address = fields
        .get("id")
        .and_then(Value::as_str)
        .and_then(normalise_address)
        .or_else(|| normalise_address(last))
        .ok_or(TheengsError::NoAddress)?;
    let model_id = fields
        .get("model_id")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let number = |field: &'static str, range: std::ops::RangeInclusive<f64>| {
        fields.get(field).map(|v| {
            v.as_f64()
                .filter(|x| range.contains(x))
                .ok_or(TheengsError::BadValue { field })
        })
    };
    let mut observations = Vec::new();
    if fields.get("type").and_then(Value::as_str) == Some("SCALE") {
        if fields.get("weighing_mode").and_then(Value::as_str) == Some("object") {
            return Err(TheengsError::ObjectWeighing);
        }
        if let Some(weight) = number("weight", 0.0..=700.0) {
            let kg = match fields.get("unit").and_then(Value::as_str) {
                Some("kg") | None => weight?,
                Some("lb") => weight? * KG_PER_LB,
                Some(_) => return Err(TheengsError::BadValue { field: "unit" }),
            };
            if kg < 2.0 {
                return Err(TheengsError::BadValue { field: "weight" });
            }
            observations.push(Observation::Weight { kg });
        }
    }
    if let Some(steps) = number("steps", 0.0..=200_000.0) {
        let steps = steps?;
        if steps.fract() != 0.0 {
            return Err(TheengsError::BadValue { field: "steps" });
        }
        observations.push(Observation::StepsToday {
            total: steps as u32,
        });
    }
    if let Some(bpm) = number("act_bpm", 20.0..=250.0) {
        observations.push(Observation::HeartRate { per_min: bpm? });
    }
    if observations.is_empty() {
        return Err(TheengsError::NotHealth {
            model_id: model_id.unwrap_or_else(|| "unknown".into()),
        });
    }
    Ok(TheengsMessage {
        gateway: gateway.to_owned(),
        address,
        model_id,
        observations,
    })
}

/// Turns a band's running totals into step increments. A band advertises its day's total
/// many times a minute; the hub keeps increments (steps since the previous total), so
/// that a day's steps are their sum. `last` is the previous total seen for the device
/// (kept by the caller, recovered from its store after a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepTotals {
    /// The total did not move (a repeated advertisement): nothing to keep.
    Unchanged,
    /// This many steps since the previous total.
    Increment(u32),
    /// The total went down: the band's day began again (midnight, a reset); the new
    /// total is all steps since.
    Restarted(u32),
}

impl StepTotals {
    /// Compares `total` with the previous one (`None`: the first seen, counted whole).
    #[must_use]
    pub fn between(last: Option<u32>, total: u32) -> Self {
        match last {
            Some(last) if total == last => Self::Unchanged,
            Some(last) if total > last => Self::Increment(total - last),
            _ => Self::Restarted(total),
        }
    }

    /// The steps to keep (0 when unchanged).
    #[must_use]
    pub fn steps(self) -> u32 {
        match self {
            Self::Unchanged => 0,
            Self::Increment(n) | Self::Restarted(n) => n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Payloads as Theengs Decoder's tests expect them, with the `id` Theengs Gateway adds.
    const SCALE: &str = r#"{"id":"5c:ca:d3:11:22:33","brand":"Xiaomi","model":"Mi Body Composition Scale","model_id":"XMTZC02HM/XMTZC05HM","type":"SCALE","weighing_mode":"person","unit":"kg","weight":72.45,"impedance":503}"#;
    const SCALE_LB: &str = r#"{"brand":"Xiaomi","model":"Mi Smart Scale","model_id":"XMTZC01HM/XMTZC04HM","type":"SCALE","weighing_mode":"person","unit":"lb","weight":131.7}"#;
    const OBJECT: &str = r#"{"brand":"Xiaomi","model":"Mi Smart Scale","model_id":"XMTZC01HM/XMTZC04HM","type":"SCALE","weighing_mode":"object","unit":"kg","weight":9.55}"#;
    const BAND: &str = r#"{"id":"C8:0F:10:AA:BB:CC","name":"Mi Smart Band 4","brand":"Xiaomi","model":"Miband","model_id":"MiBand","steps":7181,"act_bpm":96}"#;
    const THERMOMETER: &str = r#"{"brand":"Xiaomi","model":"Mi Jia round","model_id":"LYWSDCGQ","type":"THB","tempc":26,"tempf":78.8,"hum":61.4}"#;

    #[test]
    fn scales_and_bands_become_observations_and_the_rest_is_named() {
        let m = decode("home/hall/BTtoMQTT/5CCAD3112233", SCALE.as_bytes()).unwrap();
        assert_eq!(m.gateway, "hall");
        assert_eq!(m.address, "5C:CA:D3:11:22:33");
        assert_eq!(m.model_id.as_deref(), Some("XMTZC02HM/XMTZC05HM"));
        assert_eq!(m.observations, [Observation::Weight { kg: 72.45 }]);

        // No `id`: the address comes from the topic; pounds become kilograms.
        let m = decode("home/hall/BTtoMQTT/c80f10aabbcd", SCALE_LB.as_bytes()).unwrap();
        assert_eq!(m.address, "C8:0F:10:AA:BB:CD");
        let Observation::Weight { kg } = m.observations[0] else {
            panic!()
        };
        assert!((kg - 131.7 * KG_PER_LB).abs() < 1e-9);

        let m = decode("home/hall/BTtoMQTT/C80F10AABBCC", BAND.as_bytes()).unwrap();
        assert_eq!(
            m.observations,
            [
                Observation::StepsToday { total: 7181 },
                Observation::HeartRate { per_min: 96.0 }
            ]
        );

        assert_eq!(
            decode("home/hall/BTtoMQTT/AABBCCDDEEFF", OBJECT.as_bytes()),
            Err(TheengsError::ObjectWeighing)
        );
        assert_eq!(
            decode("home/hall/BTtoMQTT/582D3433AADF", THERMOMETER.as_bytes()),
            Err(TheengsError::NotHealth {
                model_id: "LYWSDCGQ".into()
            })
        );
        assert!(matches!(
            decode("home/hall/BTtoMQTT/582D3433AADF", b"{\"steps\":-4}"),
            Err(TheengsError::BadValue { field: "steps" })
        ));
        assert!(matches!(
            decode("home/hall/BTtoMQTT/nope", b"{\"steps\":4}"),
            Err(TheengsError::NoAddress)
        ));
        assert!(matches!(
            decode("pghd/v1/gateways/x/readings", b"{}"),
            Err(TheengsError::Topic(_))
        ));
        assert!(matches!(
            decode("home/hall/BTtoMQTT/AABBCCDDEEFF", b"[1]"),
            Err(TheengsError::Json(_))
        ));
    }

    #[test]
    fn the_gateway_is_read_from_the_topic() {
        assert_eq!(
            gateway_of_topic("home/hall/BTtoMQTT/5CCAD3112233"),
            Some("hall")
        );
        assert_eq!(gateway_of_topic("home/hall/BTtoMQTT"), Some("hall"));
        assert_eq!(gateway_topic_filter("hall"), "home/hall/BTtoMQTT/#");
        for other in [
            "home//BTtoMQTT/5CCAD3112233",
            "home/hall/MQTTtoBT/x",
            "pghd/v1/gateways/g/readings",
            "",
        ] {
            assert_eq!(gateway_of_topic(other), None, "{other}");
        }
        assert!(matches!(
            decode("home/hall/BTtoMQTT", SCALE.as_bytes()),
            Err(TheengsError::Topic(_))
        ));
    }

    #[test]
    fn running_totals_become_increments() {
        assert_eq!(StepTotals::between(None, 500), StepTotals::Restarted(500));
        assert_eq!(StepTotals::between(Some(500), 500), StepTotals::Unchanged);
        assert_eq!(
            StepTotals::between(Some(500), 740),
            StepTotals::Increment(240)
        );
        assert_eq!(
            StepTotals::between(Some(9000), 12),
            StepTotals::Restarted(12)
        );
        let totals = [0, 100, 100, 350, 900, 900, 20, 60];
        let mut last = None;
        let kept: u32 = totals
            .iter()
            .map(|&t| {
                let step = StepTotals::between(last, t).steps();
                last = Some(t);
                step
            })
            .sum();
        assert_eq!(kept, 900 + 60, "the day before the reset, then the new day");
    }

    proptest::proptest! {
        #[test]
        fn any_payload_is_decoded_or_refused_without_panic(
            payload in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
            text in "[ -~]{0,120}",
        ) {
            let _ = decode("home/g/BTtoMQTT/AABBCCDDEEFF", &payload);
            let _ = decode("home/g/BTtoMQTT/AABBCCDDEEFF", text.as_bytes());
            let _ = decode(&text, b"{\"steps\":1}");
        }
    }
}
