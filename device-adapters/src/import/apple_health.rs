//! Apple Health `export.xml`, streamed: the file is read element by element, never held
//! in memory (exports of several GB exist), and readings are handed to a callback.
//!
//! ```xml
//! <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Apple Watch" unit="count/min"
//!         startDate="2024-01-01 08:00:00 +0100" endDate="2024-01-01 08:00:00 +0100" value="72"/>
//! <Correlation type="HKCorrelationTypeIdentifierBloodPressure" …>
//!   <Record type="HKQuantityTypeIdentifierBloodPressureSystolic" unit="mmHg" value="120" …/>
//!   <Record type="HKQuantityTypeIdentifierBloodPressureDiastolic" unit="mmHg" value="80" …/>
//! </Correlation>
//! ```
//!
//! Records used: blood glucose (mg/dL, or Apple's `mmol<180.1558800000541>/L`), heart
//! rate, step count, active energy, walking/running distance, body mass, sleep analysis
//! (stage from the category value), and blood pressure from its correlation. Systolic
//! and diastolic records outside a correlation are counted as ignored: Apple lists each
//! pressure inside its correlation, which is what is imported. Glucose from a source
//! whose name says Dexcom, Libre or CGM is CGM glucose, otherwise meter glucose. Every
//! other record type is counted as ignored by type. Rejected records are reported by
//! their ordinal (the n-th `Record` or `Correlation` element).

use std::io::BufRead;

use chrono::{DateTime, FixedOffset, Utc};
use quick_xml::events::{BytesStart, Event};

use super::{ImportCounts, ImportError, RejectedRow};
use crate::reading::{
    DeviceIdentity, Measurement, Quantity, Reading, ReadingSource, RecordId, SleepStage,
};

/// Top-level elements holding health data that are not imported (counted as ignored).
const OTHER_DATA: [&str; 5] = [
    "Workout",
    "ActivitySummary",
    "ClinicalRecord",
    "Audiogram",
    "VisionPrescription",
];

/// What a streamed import found (the readings went to the callback).
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamReport {
    /// Rejected records, in file order.
    pub rejected: Vec<RejectedRow>,
    /// Counts (`imported` readings were passed to the callback).
    pub counts: ImportCounts,
    /// Ignored records by type.
    pub ignored_by_kind: std::collections::BTreeMap<String, usize>,
}

impl StreamReport {
    fn reject(&mut self, ordinal: usize, reason: impl Into<String>) {
        self.counts.rejected += 1;
        self.rejected.push(RejectedRow {
            line: ordinal,
            reason: reason.into(),
        });
    }

    fn ignore(&mut self, kind: &str) {
        self.counts.ignored += 1;
        *self
            .ignored_by_kind
            .entry(kind.strip_prefix("HK").unwrap_or(kind).to_owned())
            .or_default() += 1;
    }
}

/// The attributes of one `Record` used here.
#[derive(Debug, Default, Clone)]
struct RecordAttributes {
    kind: String,
    unit: String,
    value: String,
    start: String,
    end: String,
    source: String,
}

fn attributes(element: &BytesStart<'_>) -> Result<RecordAttributes, String> {
    let mut record = RecordAttributes::default();
    for attribute in element.attributes() {
        let attribute = attribute.map_err(|e| format!("malformed attribute: {e}"))?;
        let slot = match attribute.key.as_ref() {
            "type" => &mut record.kind,
            "unit" => &mut record.unit,
            "value" => &mut record.value,
            "startDate" => &mut record.start,
            "endDate" => &mut record.end,
            "sourceName" => &mut record.source,
            _ => continue,
        };
        *slot = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| format!("attribute value: {e}"))?
            .into_owned();
    }
    Ok(record)
}

/// A blood-pressure correlation being read.
struct OpenCorrelation {
    /// Ordinal of the correlation element.
    ordinal: usize,
    /// The systolic record and its value, mmHg.
    systolic: Option<(RecordAttributes, f64)>,
    /// The diastolic value, mmHg.
    diastolic: Option<f64>,
}

/// Apple's date layout, `2024-01-01 08:00:00 +0100`.
fn date(text: &str, what: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S %z")
        .map_err(|e| format!("{what} `{text}`: {e}"))
}

fn number(record: &RecordAttributes) -> Result<f64, String> {
    record
        .value
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
        .ok_or_else(|| format!("value `{}` is not a non-negative number", record.value))
}

fn scale(record: &RecordAttributes, factors: &[(&str, f64)]) -> Result<f64, String> {
    let factor = factors
        .iter()
        .find(|(unit, _)| record.unit == *unit)
        .map(|(_, f)| *f)
        .ok_or_else(|| format!("unit `{}` not supported for {}", record.unit, record.kind))?;
    Ok(number(record)? * factor)
}

/// The measurement of one record; `Ok(None)` for types not imported.
fn measurement(record: &RecordAttributes, period_min: f64) -> Result<Option<Measurement>, String> {
    let kind = record.kind.as_str();
    Ok(Some(match kind {
        "HKQuantityTypeIdentifierBloodGlucose" => {
            let mg_dl = if record.unit.starts_with("mmol") {
                number(record)? * glucometrics::MG_DL_PER_MMOL_L
            } else {
                scale(record, &[("mg/dL", 1.0)])?
            };
            let source = record.source.to_ascii_lowercase();
            let from_cgm = ["dexcom", "libre", "cgm"]
                .iter()
                .any(|s| source.contains(s));
            Measurement::glucose(mg_dl, from_cgm)
        }
        "HKQuantityTypeIdentifierHeartRate" => Measurement::HeartRate {
            rate: Quantity::new(
                scale(record, &[("count/min", 1.0), ("count/s", 60.0)])?,
                "/min",
            ),
            rr_intervals_s: Vec::new(),
        },
        "HKQuantityTypeIdentifierStepCount" => Measurement::Steps {
            count: Quantity::new(scale(record, &[("count", 1.0)])?, "{steps}"),
            period_min,
        },
        "HKQuantityTypeIdentifierActiveEnergyBurned" => Measurement::Calories {
            energy: Quantity::new(
                scale(record, &[("kcal", 1.0), ("Cal", 1.0), ("kJ", 1.0 / 4.184)])?,
                "kcal",
            ),
            period_min,
        },
        "HKQuantityTypeIdentifierDistanceWalkingRunning" => Measurement::Distance {
            distance: Quantity::new(
                scale(record, &[("km", 1000.0), ("m", 1.0), ("mi", 1609.344)])?,
                "m",
            ),
            period_min,
        },
        "HKQuantityTypeIdentifierBodyMass" => Measurement::BodyWeight {
            weight: Quantity::new(
                scale(record, &[("kg", 1.0), ("lb", 0.453_592_37), ("g", 0.001)])?,
                "kg",
            ),
            bmi: None,
        },
        "HKCategoryTypeIdentifierSleepAnalysis" => {
            let stage = match record
                .value
                .strip_prefix("HKCategoryValueSleepAnalysis")
                .unwrap_or(&record.value)
            {
                "InBed" | "Awake" => SleepStage::Awake,
                "AsleepCore" => SleepStage::Light,
                "AsleepDeep" => SleepStage::Deep,
                "AsleepREM" => SleepStage::Rem,
                "Asleep" | "AsleepUnspecified" => SleepStage::Asleep,
                other => return Err(format!("sleep value `{other}` not known")),
            };
            Measurement::Sleep {
                duration: Quantity::new(period_min, "min"),
                stage: Some(stage),
            }
        }
        _ => return Ok(None),
    }))
}

fn reading(
    record: &RecordAttributes,
    measurement: Measurement,
    end: DateTime<FixedOffset>,
    file: Option<&str>,
    ordinal: usize,
) -> Reading {
    let utc: DateTime<Utc> = end.with_timezone(&Utc);
    let offset = end.offset().local_minus_utc() / 60;
    Reading::stamped(
        measurement,
        utc,
        Some(offset),
        DeviceIdentity {
            model: Some(record.source.clone()).filter(|s| !s.is_empty()),
            ..DeviceIdentity::default()
        },
        RecordId::Instant {
            at: format!("{}@{}/{}", record.kind, record.start, record.end),
        },
        ReadingSource::Import {
            importer: "apple_health".into(),
            file: file.map(str::to_owned),
            line: ordinal,
        },
    )
}

/// Streams `input` (an `export.xml`), passing each reading to `on_reading`.
///
/// # Errors
/// [`ImportError::NotXml`] when the XML itself is broken (the readings passed so far
/// stand; the error says where).
pub fn import(
    input: impl BufRead,
    file: Option<&str>,
    mut on_reading: impl FnMut(Reading),
) -> Result<StreamReport, ImportError> {
    let mut reader = quick_xml::Reader::from_reader(input);
    let mut buffer = Vec::new();
    let mut report = StreamReport::default();
    let mut ordinal = 0;
    // Inside a blood-pressure correlation: its ordinal and the systolic/diastolic seen.
    let mut correlation: Option<OpenCorrelation> = None;
    loop {
        let event = reader
            .read_event_into(&mut buffer)
            .map_err(|e| ImportError::NotXml {
                reason: e.to_string(),
                byte: reader.buffer_position(),
            })?;
        match event {
            Event::Eof => {
                if let Some(open) = correlation.take() {
                    report.reject(
                        open.ordinal,
                        "blood-pressure correlation not closed before the end of the file",
                    );
                }
                break;
            }
            Event::Start(ref element) | Event::Empty(ref element)
                if element.local_name().as_ref() == "Correlation" =>
            {
                ordinal += 1;
                report.counts.read += 1;
                let kind = attributes(element).map(|a| a.kind).unwrap_or_default();
                if let Some(open) = correlation.take() {
                    report.reject(
                        open.ordinal,
                        "blood-pressure correlation not closed before the next one",
                    );
                }
                if kind == "HKCorrelationTypeIdentifierBloodPressure"
                    && matches!(event, Event::Start(_))
                {
                    correlation = Some(OpenCorrelation {
                        ordinal,
                        systolic: None,
                        diastolic: None,
                    });
                } else {
                    report.ignore(&kind);
                }
            }
            Event::End(ref element) if element.local_name().as_ref() == "Correlation" => {
                if let Some(OpenCorrelation {
                    ordinal: at,
                    systolic,
                    diastolic,
                }) = correlation.take()
                {
                    match (systolic, diastolic) {
                        (Some((record, systolic)), Some(diastolic)) => {
                            match date(&record.end, "endDate") {
                                Ok(end) => {
                                    let m = Measurement::BloodPressure {
                                        systolic: Quantity::new(systolic, "mm[Hg]"),
                                        diastolic: Some(Quantity::new(diastolic, "mm[Hg]")),
                                        mean_arterial: None,
                                        pulse: None,
                                    };
                                    report.counts.imported += 1;
                                    on_reading(reading(&record, m, end, file, at));
                                }
                                Err(reason) => report.reject(at, reason),
                            }
                        }
                        _ => report.reject(
                            at,
                            "blood-pressure correlation without both systolic and diastolic",
                        ),
                    }
                }
            }
            Event::Start(ref element) | Event::Empty(ref element)
                if OTHER_DATA.contains(&element.local_name().as_ref()) =>
            {
                // Data this importer does not turn into readings: counted, not dropped.
                ordinal += 1;
                report.counts.read += 1;
                report.ignore(element.local_name().as_ref());
            }
            Event::Start(ref element) | Event::Empty(ref element)
                if element.local_name().as_ref() == "Record" =>
            {
                let record = match attributes(element) {
                    Ok(record) => record,
                    Err(reason) => {
                        ordinal += 1;
                        report.counts.read += 1;
                        report.reject(ordinal, reason);
                        continue;
                    }
                };
                let pressure = match record.kind.as_str() {
                    "HKQuantityTypeIdentifierBloodPressureSystolic" => Some(true),
                    "HKQuantityTypeIdentifierBloodPressureDiastolic" => Some(false),
                    _ => None,
                };
                if let (Some(systolic), Some(open)) = (pressure, correlation.as_mut()) {
                    // A component of the current correlation; an invalid one makes the
                    // correlation incomplete, which is reported when it closes.
                    if let Ok(value) = scale(&record, &[("mmHg", 1.0), ("kPa", 7.500_62)]) {
                        if systolic {
                            open.systolic = Some((record, value));
                        } else {
                            open.diastolic = Some(value);
                        }
                    }
                    continue;
                }
                ordinal += 1;
                report.counts.read += 1;
                if pressure.is_some() {
                    report.ignore("blood pressure component outside its correlation");
                    continue;
                }
                let frame = date(&record.start, "startDate")
                    .and_then(|s| Ok((s, date(&record.end, "endDate")?)));
                let (start, end) = match frame {
                    Ok(frame) => frame,
                    Err(reason) => {
                        report.reject(ordinal, reason);
                        continue;
                    }
                };
                let period_min = (end - start).num_seconds() as f64 / 60.0;
                if period_min < 0.0 {
                    report.reject(ordinal, "endDate before startDate");
                    continue;
                }
                match measurement(&record, period_min) {
                    Ok(Some(m)) => {
                        report.counts.imported += 1;
                        on_reading(reading(&record, m, end, file, ordinal));
                    }
                    Ok(None) => report.ignore(&record.kind),
                    Err(reason) => report.reject(ordinal, reason),
                }
            }
            _ => {}
        }
        buffer.clear();
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE HealthData [
<!ELEMENT HealthData (ExportDate,Me,(Record|Correlation|Workout|ActivitySummary)*)>
]>
<HealthData locale="it_IT">
 <ExportDate value="2024-03-02 10:00:00 +0100"/>
 <Me HKCharacteristicTypeIdentifierBiologicalSex="HKBiologicalSexFemale"/>
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Apple Watch" device="&lt;&lt;HKDevice: 0x1&gt;, name:Apple Watch&gt;" unit="count/min" creationDate="2024-03-01 08:00:30 +0100" startDate="2024-03-01 08:00:00 +0100" endDate="2024-03-01 08:00:00 +0100" value="72">
  <MetadataEntry key="HKMetadataKeyHeartRateMotionContext" value="0"/>
 </Record>
 <Record type="HKQuantityTypeIdentifierBloodGlucose" sourceName="Dexcom G7" unit="mmol&lt;180.1558800000541&gt;/L" startDate="2024-03-01 08:05:00 +0100" endDate="2024-03-01 08:05:00 +0100" value="6.1"/>
 <Record type="HKQuantityTypeIdentifierBloodGlucose" sourceName="Contour" unit="mg/dL" startDate="2024-03-01 08:10:00 +0100" endDate="2024-03-01 08:10:00 +0100" value="118"/>
 <Record type="HKQuantityTypeIdentifierStepCount" sourceName="iPhone" unit="count" startDate="2024-03-01 08:00:00 +0100" endDate="2024-03-01 08:10:00 +0100" value="812"/>
 <Record type="HKCategoryTypeIdentifierSleepAnalysis" sourceName="Apple Watch" startDate="2024-03-01 01:00:00 +0100" endDate="2024-03-01 01:45:00 +0100" value="HKCategoryValueSleepAnalysisAsleepDeep"/>
 <Record type="HKQuantityTypeIdentifierBodyMass" sourceName="Scale" unit="lb" startDate="2024-03-01 07:00:00 +0100" endDate="2024-03-01 07:00:00 +0100" value="150"/>
 <Correlation type="HKCorrelationTypeIdentifierBloodPressure" sourceName="Omron" startDate="2024-03-01 09:00:00 +0100" endDate="2024-03-01 09:00:00 +0100">
  <Record type="HKQuantityTypeIdentifierBloodPressureSystolic" sourceName="Omron" unit="mmHg" startDate="2024-03-01 09:00:00 +0100" endDate="2024-03-01 09:00:00 +0100" value="128"/>
  <Record type="HKQuantityTypeIdentifierBloodPressureDiastolic" sourceName="Omron" unit="mmHg" startDate="2024-03-01 09:00:00 +0100" endDate="2024-03-01 09:00:00 +0100" value="82"/>
 </Correlation>
 <Record type="HKQuantityTypeIdentifierBloodPressureSystolic" sourceName="Omron" unit="mmHg" startDate="2024-03-01 09:00:00 +0100" endDate="2024-03-01 09:00:00 +0100" value="128"/>
 <Record type="HKQuantityTypeIdentifierDietaryWater" sourceName="App" unit="mL" startDate="2024-03-01 09:00:00 +0100" endDate="2024-03-01 09:00:00 +0100" value="250"/>
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Apple Watch" unit="count/min" startDate="yesterday" endDate="2024-03-01 08:00:00 +0100" value="70"/>
 <Record type="HKQuantityTypeIdentifierHeartRate" sourceName="Apple Watch" unit="count/min" startDate="2024-03-01 08:00:00 +0100" endDate="2024-03-01 08:00:00 +0100" value="-3"/>
 <Workout workoutActivityType="HKWorkoutActivityTypeWalking"/>
</HealthData>
"#;

    #[test]
    fn streams_every_supported_record_and_reports_the_rest() {
        let mut readings = Vec::new();
        let report = import(EXPORT.as_bytes(), Some("export.xml"), |r| readings.push(r)).unwrap();
        let c = report.counts;
        assert_eq!(
            (c.read, c.imported, c.ignored, c.rejected),
            (12, 7, 3, 2),
            "{report:?}"
        );
        assert_eq!(readings.len(), 7);
        assert!(matches!(
            readings[1].measurement,
            Measurement::CgmGlucose { .. }
        ));
        assert!((readings[1].glucose_mg_dl().unwrap() - 6.1 * 18.0156).abs() < 1e-9);
        assert!(matches!(
            readings[2].measurement,
            Measurement::MeterGlucose { .. }
        ));
        assert_eq!(readings[0].time.to_rfc3339(), "2024-03-01T07:00:00+00:00");
        match &readings[4].measurement {
            Measurement::Sleep { duration, stage } => {
                assert!((duration.value - 45.0).abs() < 1e-9);
                assert_eq!(*stage, Some(SleepStage::Deep));
            }
            other => panic!("{other:?}"),
        }
        match &readings[6].measurement {
            Measurement::BloodPressure {
                systolic,
                diastolic,
                ..
            } => {
                assert!((systolic.value - 128.0).abs() < 1e-9);
                assert!((diastolic.as_ref().unwrap().value - 82.0).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            report.ignored_by_kind["QuantityTypeIdentifierDietaryWater"],
            1
        );
        assert_eq!(
            report.ignored_by_kind["blood pressure component outside its correlation"],
            1
        );
        assert_eq!(report.rejected[0].line, 10);
        assert!(report.rejected[1].reason.contains("`-3`"));
    }

    #[test]
    fn unclosed_correlations_are_rejected_not_lost() {
        // Found by the importers fuzz target: a correlation cut off by the end of the file.
        let text = r#"<HealthData><Correlation type="HKCorrelationTypeIdentifierBloodPressure"><Record type="HKQuantityTypeIdentifierBloodPressureSystolic" unit="mmHg" startDate="2024-03-01 09:00:00 +0100" endDate="2024-03-01 09:00:00 +0100" value="128"/><Correlation type="HKCorrelationTypeIdentifierBloodPressure">"#;
        let report = import(text.as_bytes(), None, |_| {}).unwrap();
        let c = report.counts;
        assert_eq!((c.read, c.rejected), (2, 2), "{report:?}");
        assert!(report.rejected[0].reason.contains("before the next one"));
        assert!(report.rejected[1]
            .reason
            .contains("before the end of the file"));
    }

    #[test]
    fn broken_xml_is_an_error_with_a_position() {
        let error = import(
            &b"<HealthData><Record type=\"x\"></Foo></HealthData>"[..],
            None,
            |_| {},
        )
        .unwrap_err();
        assert!(matches!(error, ImportError::NotXml { .. }), "{error:?}");
    }
}
