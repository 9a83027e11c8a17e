//! One stored reading → FHIR Observations, after the HL7 Personal Health Device IG 2.0.0
//! (MDC and LOINC codes, UCUM units, `device` → the sensor's Device, the gateway in the
//! core extension `observation-gatewayDevice`) and, for CGM glucose, the HL7 CGM IG
//! sensor-reading profile `cgm-sensor-reading-mass-per-volume` (LOINC 99504-3, mg/dL).
//!
//! A blood-pressure reading with a pulse rate becomes the BP panel and a separate pulse
//! Observation, a weight with BMI the weight and a BMI Observation, as the PHD IG maps
//! IEEE 11073 metrics one Observation each.

use std::borrow::Cow;

use device_adapters::reading::{
    DeviceTime, Measurement, Reading, ReadingFlag, ReadingSource, SleepStage,
};

use super::types::{
    Annotation, CodeableConcept, Coding, Component, Device, DeviceName, Extension, Identifier,
    Meta, Observation, Period, Quantity, Reference,
};
use super::{
    date_time, digest_id, BLUETOOTH_MAC_SYSTEM, DEVICE_ID_SYSTEM, DEVICE_SERIAL_SYSTEM, LOINC, MDC,
    READING_ID_SYSTEM,
};

/// The CGM IG sensor-reading profile (mg/dL).
pub const CGM_READING_PROFILE: &str =
    "http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-sensor-reading-mass-per-volume";

/// Our extension carrying the device's own time fields as received, when they differ
/// from the resolved instant in `effectiveDateTime` (a meter's base time + offset, a CGM
/// session start + offset).
pub const DEVICE_TIME_EXTENSION: &str =
    "https://pghd-hub.example/fhir/StructureDefinition/device-time";

/// The core extension naming the gateway that forwarded a reading.
pub const GATEWAY_EXTENSION: &str =
    "http://hl7.org/fhir/StructureDefinition/observation-gatewayDevice";

const VITAL_SIGNS: Coding = Coding::fixed(
    "http://terminology.hl7.org/CodeSystem/observation-category",
    "vital-signs",
    "Vital Signs",
);
const LABORATORY: Coding = Coding::fixed(
    "http://terminology.hl7.org/CodeSystem/observation-category",
    "laboratory",
    "Laboratory",
);
const ACTIVITY: Coding = Coding::fixed(
    "http://terminology.hl7.org/CodeSystem/observation-category",
    "activity",
    "Activity",
);
const PHD: Coding = Coding::fixed(
    "http://hl7.org/fhir/uv/phd/CodeSystem/PhdObservationCategories",
    "phd",
    "PHD generated",
);
const INTERPRETATION: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation";

/// Our code system for sleep stages (no LOINC answer list covers consumer sleep stages).
pub const SLEEP_STAGE_SYSTEM: &str = "https://pghd-hub.example/fhir/CodeSystem/sleep-stage";

fn categories(codings: &[Coding]) -> Vec<CodeableConcept> {
    codings
        .iter()
        .map(|c| CodeableConcept {
            coding: vec![c.clone()],
            text: None,
        })
        .collect()
}

/// The reading's identifier value: a digest of the patient's digest and the device and
/// record identity serialised exactly as the store's unique key is, so that what the
/// store deduplicates, the receiver deduplicates too.
#[must_use]
pub fn reading_identity(patient_digest: &str, reading: &Reading) -> String {
    let device = serde_json::to_string(&reading.device).unwrap_or_default();
    reading_identity_with(patient_digest, &device, reading)
}

/// [`reading_identity`] with the device identity already serialised (`device_key`).
#[must_use]
pub fn reading_identity_with(patient_digest: &str, device_key: &str, reading: &Reading) -> String {
    let record = serde_json::to_string(&reading.record).unwrap_or_default();
    digest_id(&[patient_digest, device_key, &record])
}

/// The gateway a reading came through, for readings forwarded over MQTT.
#[must_use]
pub fn gateway_of(reading: &Reading) -> Option<&str> {
    match &reading.source {
        ReadingSource::Mqtt { topic } => firmware_bridge::envelope::gateway_of_topic(topic),
        _ => None,
    }
}

/// The Device for a reading's device: identified by its Bluetooth address (EUI-48, as
/// the PHD IG's BTMAC identifier), else its serial, else a digest of `identity_key` (the
/// device identity as stored).
#[must_use]
pub fn device(reading: &Reading, identity_key: &str) -> Device {
    let d = &reading.device;
    let mut identifier = Vec::new();
    if let Some(address) = &d.address {
        identifier.push(Identifier {
            kind: Some(CodeableConcept::of(
                &[Coding::fixed(
                    "http://terminology.hl7.org/CodeSystem/ContinuaDeviceIdentifiers",
                    "BTMAC",
                    "Bluetooth MAC address",
                )],
                "Bluetooth MAC address",
            )),
            system: Cow::Borrowed(BLUETOOTH_MAC_SYSTEM),
            value: address.replace(':', "-").to_uppercase(),
        });
    }
    if let Some(serial) = &d.serial {
        identifier.push(Identifier::new(
            DEVICE_SERIAL_SYSTEM,
            format!("{}/{serial}", d.model.as_deref().unwrap_or("")),
        ));
    }
    if identifier.is_empty() {
        identifier.push(Identifier::new(
            DEVICE_ID_SYSTEM,
            digest_id(&["device", identity_key]),
        ));
    }
    let cgm = matches!(reading.measurement, Measurement::CgmGlucose { .. });
    let name = d
        .model
        .clone()
        .unwrap_or_else(|| source_name(&reading.source));
    Device {
        meta: cgm.then(|| Meta {
            profile: vec!["http://hl7.org/fhir/uv/cgm/StructureDefinition/cgm-device"],
        }),
        identifier,
        device_name: vec![DeviceName {
            name,
            kind: "user-friendly-name",
        }],
        serial_number: d.serial.clone(),
        kind: device_type(&reading.measurement),
    }
}

fn source_name(source: &ReadingSource) -> String {
    match source {
        ReadingSource::Ble { .. } | ReadingSource::Mqtt { .. } => "Bluetooth sensor".to_owned(),
        ReadingSource::Import { importer, .. } => format!("device of a {importer} export"),
    }
}

/// The IEEE 11073-20601 device specialisation (PHD IG `Device.type`), where one fits.
fn device_type(measurement: &Measurement) -> Option<CodeableConcept> {
    let (code, display, text) = match measurement {
        Measurement::CgmGlucose { .. } => (
            "528409",
            "MDC_DEV_SPEC_PROFILE_CGM",
            "Continuous glucose monitor",
        ),
        Measurement::MeterGlucose { .. } => {
            ("528401", "MDC_DEV_SPEC_PROFILE_GLUCOSE", "Glucose meter")
        }
        Measurement::BloodPressure { .. } => (
            "528391",
            "MDC_DEV_SPEC_PROFILE_BPM",
            "Blood pressure monitor",
        ),
        Measurement::BodyWeight { .. } => {
            ("528399", "MDC_DEV_SPEC_PROFILE_SCALE", "Weighing scale")
        }
        Measurement::Steps { .. } | Measurement::Calories { .. } | Measurement::Distance { .. } => {
            (
                "528484",
                "MDC_DEV_SUB_SPEC_PROFILE_STEP_COUNTER",
                "Step counter",
            )
        }
        Measurement::HeartRate { .. } => {
            ("528390", "MDC_DEV_SPEC_PROFILE_ECG", "Heart rate sensor")
        }
        Measurement::Sleep { .. } => return None,
    };
    Some(CodeableConcept::of(
        &[Coding::fixed(MDC, code, display)],
        text,
    ))
}

/// The device's own time, described, when it is not simply the resolved instant.
fn device_time_text(time: &DeviceTime) -> Option<String> {
    match time {
        DeviceTime::Absolute { .. } => None,
        DeviceTime::Local { local } => Some(format!("device clock {local} (no zone)")),
        DeviceTime::Relative { anchor, offset_s } => Some(format!(
            "session anchored at {} + {offset_s} s",
            anchor.to_rfc3339()
        )),
        DeviceTime::SessionOffset {
            session_start,
            session_utc_offset_min,
            offset_min,
        } => Some(match session_utc_offset_min {
            Some(o) => format!("session start {session_start} (UTC{o:+} min) + {offset_min} min"),
            None => format!("session start {session_start} + {offset_min} min"),
        }),
    }
}

fn flag_interpretation(flags: &[ReadingFlag]) -> Vec<CodeableConcept> {
    flags
        .iter()
        .filter_map(|f| match f {
            ReadingFlag::BelowMeasurementRange => Some(CodeableConcept::of(
                &[Coding::fixed(INTERPRETATION, "<", "Off scale low")],
                "Below the device's measurement range; the value is the bound",
            )),
            ReadingFlag::AboveMeasurementRange => Some(CodeableConcept::of(
                &[Coding::fixed(INTERPRETATION, ">", "Off scale high")],
                "Above the device's measurement range; the value is the bound",
            )),
            _ => None,
        })
        .collect()
}

fn flag_notes(flags: &[ReadingFlag]) -> Vec<Annotation> {
    flags
        .iter()
        .filter_map(|f| {
            let text = match f {
                ReadingFlag::BelowMeasurementRange | ReadingFlag::AboveMeasurementRange => {
                    return None
                }
                ReadingFlag::SensorMalfunction => "device status: sensor malfunction".to_owned(),
                ReadingFlag::BatteryLow => "device status: battery low".to_owned(),
                ReadingFlag::CalibrationRequired => {
                    "device status: calibration required".to_owned()
                }
                ReadingFlag::TemperatureOutOfRange => {
                    "device status: temperature out of range".to_owned()
                }
                ReadingFlag::Scan => "scan (on-demand reading)".to_owned(),
                ReadingFlag::Other(raw) => format!("device status: {raw}"),
            };
            Some(Annotation { text })
        })
        .collect()
}

/// The Observations for `reading` (identifier value `identity`, see
/// [`reading_identity`]) about `subject`, measured by `device`, forwarded by `gateway`.
/// A reading whose value is not a finite number gives no Observation (the importers and
/// decoders never produce one; this is a guard, not a path).
#[must_use]
pub fn observations(
    reading: &Reading,
    identity: &str,
    subject: &Reference,
    device: &Reference,
    gateway: Option<&Reference>,
) -> Vec<Observation> {
    let effective = date_time(reading.time, reading.local_offset_min);
    let base = |suffix: &str, category: &[Coding], code: CodeableConcept| {
        let value = if suffix.is_empty() {
            identity.to_owned()
        } else {
            format!("{identity}/{suffix}")
        };
        let mut o = Observation::new(
            Identifier::new(READING_ID_SYSTEM, value),
            categories(category),
            code,
            subject.clone(),
        );
        o.effective_date_time = Some(effective.clone());
        o.performer = vec![subject.clone()];
        o.device = Some(device.clone());
        if let Some(gateway) = gateway {
            o.extension.push(Extension {
                url: GATEWAY_EXTENSION,
                value_reference: Some(gateway.clone()),
                value_string: None,
            });
        }
        if let Some(text) = device_time_text(&reading.device_time) {
            o.extension.push(Extension {
                url: DEVICE_TIME_EXTENSION,
                value_reference: None,
                value_string: Some(text),
            });
        }
        o.interpretation = flag_interpretation(&reading.flags);
        o.note = flag_notes(&reading.flags);
        o
    };
    // A span ending at the reading's time (steps, energy, distance, sleep).
    let span = |o: &mut Observation, minutes: f64| {
        let end = reading.time;
        let start = end - chrono::Duration::milliseconds((minutes * 60_000.0).round() as i64);
        o.effective_date_time = None;
        o.effective_period = Some(Period {
            start: date_time(start, reading.local_offset_min),
            end: effective.clone(),
        });
    };
    // One numeric Observation: identifier suffix, categories, codings, text, value.
    let numeric = |suffix: &str,
                   category: &[Coding],
                   codes: &[Coding],
                   text: &'static str,
                   value: Option<Quantity>| {
        let mut o = base(suffix, category, CodeableConcept::of(codes, text));
        o.value_quantity = value;
        o
    };
    let mm_hg =
        |q: &device_adapters::reading::Quantity| Quantity::finite(q.value, "mmHg", "mm[Hg]");
    let per_min =
        |q: &device_adapters::reading::Quantity| Quantity::finite(q.value, "beats/minute", "/min");
    let component = |codes: &[Coding], text: &'static str, value: Option<Quantity>| Component {
        code: CodeableConcept::of(codes, text),
        value_quantity: value,
        value_codeable_concept: None,
    };
    let mut out = Vec::with_capacity(2);
    match &reading.measurement {
        Measurement::CgmGlucose { glucose, .. } => {
            let mut o = numeric(
                "",
                &[LABORATORY, PHD],
                &[Coding::fixed(
                    LOINC,
                    "99504-3",
                    "Glucose [Mass/volume] in Interstitial fluid",
                )],
                "CGM glucose",
                Quantity::finite(glucose.value, "mg/dl", "mg/dL"),
            );
            o.meta = Some(Meta {
                profile: vec![CGM_READING_PROFILE],
            });
            out.push(o);
        }
        Measurement::MeterGlucose { glucose } => out.push(numeric(
            "",
            &[LABORATORY, PHD],
            &[
                Coding::fixed(MDC, "160368", "MDC_CONC_GLU_UNDETERMINED_PLASMA"),
                Coding::fixed(
                    LOINC,
                    "41653-7",
                    "Glucose [Mass/volume] in Capillary blood by Glucometer",
                ),
            ],
            "Meter glucose",
            Quantity::finite(glucose.value, "mg/dL", "mg/dL"),
        )),
        Measurement::HeartRate { rate, .. } => out.push(numeric(
            "",
            &[VITAL_SIGNS, PHD],
            &[
                Coding::fixed(MDC, "147842", "MDC_ECG_HEART_RATE"),
                Coding::fixed(LOINC, "8867-4", "Heart rate"),
            ],
            "Heart rate",
            per_min(rate),
        )),
        Measurement::BloodPressure {
            systolic,
            diastolic,
            mean_arterial,
            pulse,
        } => {
            let mut o = numeric(
                "",
                &[VITAL_SIGNS, PHD],
                &[
                    Coding::fixed(MDC, "150020", "MDC_PRESS_BLD_NONINV"),
                    Coding::fixed(LOINC, "85354-9", "Blood pressure panel"),
                ],
                "Blood pressure",
                None,
            );
            o.component.push(component(
                &[
                    Coding::fixed(MDC, "150021", "MDC_PRESS_BLD_NONINV_SYS"),
                    Coding::fixed(LOINC, "8480-6", "Systolic blood pressure"),
                ],
                "Systolic blood pressure",
                mm_hg(systolic),
            ));
            if let Some(diastolic) = diastolic {
                o.component.push(component(
                    &[
                        Coding::fixed(MDC, "150022", "MDC_PRESS_BLD_NONINV_DIA"),
                        Coding::fixed(LOINC, "8462-4", "Diastolic blood pressure"),
                    ],
                    "Diastolic blood pressure",
                    mm_hg(diastolic),
                ));
            }
            if let Some(mean) = mean_arterial {
                o.component.push(component(
                    &[
                        Coding::fixed(MDC, "150023", "MDC_PRESS_BLD_NONINV_MEAN"),
                        Coding::fixed(LOINC, "8478-0", "Mean blood pressure"),
                    ],
                    "Mean blood pressure",
                    mm_hg(mean),
                ));
            }
            out.push(o);
            if let Some(pulse) = pulse {
                out.push(numeric(
                    "pulse",
                    &[VITAL_SIGNS, PHD],
                    &[
                        Coding::fixed(MDC, "149546", "MDC_PULS_RATE_NON_INV"),
                        Coding::fixed(LOINC, "8867-4", "Heart rate"),
                    ],
                    "Pulse rate",
                    per_min(pulse),
                ));
            }
        }
        Measurement::BodyWeight { weight, bmi } => {
            out.push(numeric(
                "",
                &[VITAL_SIGNS, PHD],
                &[
                    Coding::fixed(MDC, "188736", "MDC_MASS_BODY_ACTUAL"),
                    Coding::fixed(LOINC, "29463-7", "Body weight"),
                ],
                "Body weight",
                Quantity::finite(weight.value, "kg", "kg"),
            ));
            if let Some(bmi) = bmi {
                out.push(numeric(
                    "bmi",
                    &[VITAL_SIGNS, PHD],
                    &[
                        Coding::fixed(MDC, "188752", "MDC_RATIO_MASS_BODY_LEN_SQ"),
                        Coding::fixed(LOINC, "39156-5", "Body mass index (BMI) [Ratio]"),
                    ],
                    "Body mass index",
                    Quantity::finite(bmi.value, "kg/m2", "kg/m2"),
                ));
            }
        }
        Measurement::Steps { count, period_min } => {
            let mut o = numeric(
                "",
                &[ACTIVITY, PHD],
                &[Coding::fixed(
                    LOINC,
                    "55423-8",
                    "Number of steps in unspecified time Pedometer",
                )],
                "Steps",
                Quantity::finite(count.value, "steps", "{steps}"),
            );
            span(&mut o, *period_min);
            out.push(o);
        }
        Measurement::Calories { energy, period_min } => {
            let mut o = numeric(
                "",
                &[ACTIVITY, PHD],
                &[Coding::fixed(LOINC, "41981-2", "Calories burned")],
                "Energy expended",
                Quantity::finite(energy.value, "kcal", "kcal"),
            );
            span(&mut o, *period_min);
            out.push(o);
        }
        Measurement::Distance {
            distance,
            period_min,
        } => {
            let mut o = numeric(
                "",
                &[ACTIVITY, PHD],
                &[Coding::fixed(
                    LOINC,
                    "55430-3",
                    "Walking distance unspecified time Pedometer",
                )],
                "Distance",
                Quantity::finite(distance.value, "m", "m"),
            );
            span(&mut o, *period_min);
            out.push(o);
        }
        Measurement::Sleep { duration, stage } => {
            let mut o = numeric(
                "",
                &[ACTIVITY, PHD],
                &[Coding::fixed(LOINC, "93832-4", "Sleep duration")],
                "Sleep",
                Quantity::finite(duration.value, "min", "min"),
            );
            if let Some(stage) = stage {
                let (code, display) = match stage {
                    SleepStage::Awake => ("awake", "Awake in bed"),
                    SleepStage::Light => ("light", "Light sleep"),
                    SleepStage::Deep => ("deep", "Deep sleep"),
                    SleepStage::Rem => ("rem", "REM sleep"),
                    SleepStage::Asleep => ("asleep", "Asleep, stage not reported"),
                };
                o.component.push(Component {
                    code: CodeableConcept::of(
                        &[Coding::fixed(SLEEP_STAGE_SYSTEM, "stage", "Sleep stage")],
                        "Sleep stage",
                    ),
                    value_quantity: None,
                    value_codeable_concept: Some(CodeableConcept::of(
                        &[Coding::fixed(SLEEP_STAGE_SYSTEM, code, display)],
                        display,
                    )),
                });
            }
            span(&mut o, duration.value);
            out.push(o);
        }
    }
    // Never send an Observation without its value (a NaN from a corrupt record).
    out.retain(|o| {
        o.value_quantity.is_some() || o.component.iter().all(|c| c.value_quantity.is_some())
    });
    out
}
