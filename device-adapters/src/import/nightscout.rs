//! Nightscout entries JSON (`/api/v1/entries.json`, uploads from xDrip+, Juggluco,
//! AndroidAPS, Loop): an array of entries.
//!
//! ```json
//! [{"_id":"65e…","type":"sgv","sgv":127,"direction":"Flat","date":1709276703000,
//!   "dateString":"2024-03-01T08:05:03.000+01:00","device":"xDrip-DexcomG6","utcOffset":60}]
//! ```
//!
//! `sgv` entries are CGM glucose, `mbg` entries meter glucose; `cal` and other types are
//! counted as ignored. `date` (epoch milliseconds, UTC) is the instant; the offset comes
//! from `utcOffset` (minutes) or `dateString`. Nightscout stores mg/dL. An `sgv` below
//! 39 is a Dexcom status code, not glucose (1 sensor not active, 5 not calibrated, …),
//! and is rejected with its code; 39 is the "LOW" marker and is kept with a flag.

use chrono::DateTime;
use serde_json::Value;

use super::{ImportError, ImportReport};
use crate::reading::{
    DeviceIdentity, Measurement, Quantity, Reading, ReadingFlag, ReadingSource, RecordId,
};

/// Imports a Nightscout entries array; `file` names it in each reading's source. The
/// "line" of a reading's source is the 1-based index of its entry.
///
/// # Errors
/// [`ImportError::NotJson`] when the text is not a JSON array of objects.
pub fn import(text: &str, file: Option<&str>) -> Result<ImportReport<Reading>, ImportError> {
    let entries: Vec<Value> = match serde_json::from_str(text) {
        Ok(Value::Array(entries)) => entries,
        Ok(Value::Object(object)) => vec![Value::Object(object)],
        Ok(_) => {
            return Err(ImportError::NotJson {
                reason: "expected an array of entries".into(),
            })
        }
        Err(error) => {
            return Err(ImportError::NotJson {
                reason: error.to_string(),
            })
        }
    };
    let mut report = ImportReport::default();
    let mut seen = super::SeenReadings::default();
    for (index, entry) in entries.iter().enumerate() {
        let number = index + 1;
        report.counts.read += 1;
        let kind = entry.get("type").and_then(Value::as_str).unwrap_or("sgv");
        let (field, meter) = match kind {
            "sgv" => ("sgv", false),
            "mbg" => ("mbg", true),
            other => {
                report.ignore(other);
                continue;
            }
        };
        let Some(value) = entry.get(field).and_then(Value::as_f64) else {
            report.reject(number, format!("{kind} entry without a numeric `{field}`"));
            continue;
        };
        let mut flags = Vec::new();
        if !meter && value < 39.0 {
            report.reject(
                number,
                format!("sgv {value} is a Dexcom status code, not glucose"),
            );
            continue;
        }
        if !meter && (value - 39.0).abs() < f64::EPSILON {
            flags.push(ReadingFlag::BelowMeasurementRange);
        }
        if value <= 0.0 || !value.is_finite() {
            report.reject(number, format!("{field} {value} is not a positive number"));
            continue;
        }
        let Some(time) = entry
            .get("date")
            .and_then(Value::as_i64)
            .and_then(DateTime::from_timestamp_millis)
        else {
            report.reject(number, "entry without a valid `date` (epoch milliseconds)");
            continue;
        };
        let offset = entry
            .get("utcOffset")
            .and_then(Value::as_i64)
            .and_then(|o| i32::try_from(o).ok())
            .or_else(|| {
                entry
                    .get("dateString")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                    .map(|t| t.offset().local_minus_utc() / 60)
            });
        let glucose = Quantity::new(value, "mg/dL");
        let measurement = if meter {
            Measurement::MeterGlucose { glucose }
        } else {
            Measurement::CgmGlucose {
                glucose,
                trend: None,
            }
        };
        let record = match entry.get("_id").and_then(Value::as_str) {
            Some(id) => RecordId::External { id: id.to_owned() },
            None => RecordId::Instant {
                at: format!("{kind}@{}", time.to_rfc3339()),
            },
        };
        let reading = Reading {
            flags,
            ..Reading::stamped(
                measurement,
                time,
                offset,
                DeviceIdentity {
                    model: entry
                        .get("device")
                        .and_then(Value::as_str)
                        .map(str::to_owned),
                    ..DeviceIdentity::default()
                },
                record,
                ReadingSource::Import {
                    importer: "nightscout".into(),
                    file: file.map(str::to_owned),
                    line: number,
                },
            )
        };
        report.push_unique(&mut seen, reading);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sgv_mbg_cal_and_status_codes() {
        let text = r#"[
          {"_id":"a","type":"sgv","sgv":127,"date":1709276703000,"dateString":"2024-03-01T08:05:03.000+01:00","device":"xDrip-DexcomG6"},
          {"_id":"b","type":"mbg","mbg":110,"date":1709277003000,"utcOffset":60},
          {"_id":"c","type":"cal","slope":800,"date":1709277003000},
          {"_id":"d","type":"sgv","sgv":5,"date":1709277303000},
          {"_id":"e","type":"sgv","sgv":39,"date":1709277603000},
          {"_id":"a","type":"sgv","sgv":127,"date":1709276703000,"device":"xDrip-DexcomG6"},
          {"_id":"f","type":"sgv","date":1709277903000}
        ]"#;
        let report = import(text, Some("entries.json")).unwrap();
        let c = report.counts;
        assert_eq!(
            (c.read, c.imported, c.duplicate, c.rejected, c.ignored),
            (7, 3, 1, 2, 1)
        );
        assert_eq!(report.records[0].local_offset_min, Some(60));
        assert_eq!(
            report.records[0].time.to_rfc3339(),
            "2024-03-01T07:05:03+00:00"
        );
        assert!(matches!(
            report.records[1].measurement,
            Measurement::MeterGlucose { .. }
        ));
        assert!(report.records[2]
            .flags
            .contains(&ReadingFlag::BelowMeasurementRange));
        assert!(report.rejected[0].reason.contains("status code"));
        assert_eq!(report.rejected[1].line, 7);
        assert!(matches!(
            import("{not json", None),
            Err(ImportError::NotJson { .. })
        ));
    }
}
