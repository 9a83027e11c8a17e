//! Open mHealth data points (IEEE 1752.1 schemas, `omh:` namespace): blood-glucose,
//! heart-rate, blood-pressure, step-count, sleep-duration, body-weight. Input is a JSON
//! array of data points, one data point, or newline-delimited JSON.
//!
//! ```json
//! {"header": {"uuid": "…", "schema_id": {"namespace": "omh", "name": "blood-glucose", "version": "3.0"}, …},
//!  "body": {"blood_glucose": {"value": 110, "unit": "mg/dL"},
//!           "effective_time_frame": {"date_time": "2024-03-01T08:05:00+01:00"},
//!           "specimen_source": "capillary blood"}}
//! ```
//!
//! Times carry their offset (RFC 3339). A time interval gives the reading's time as its
//! end and its period as the length. The schema name decides the measurement; unknown
//! schemas are ignored by name; bad data points are rejected with their index.

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;

use super::{ImportError, ImportReport, SeenReadings};
use crate::reading::{
    DeviceIdentity, Measurement, Quantity, Reading, ReadingSource, RecordId, SleepStage,
};

/// A data point's time: an instant, or an interval (start, end).
fn time_frame(body: &Value) -> Result<(DateTime<FixedOffset>, f64), String> {
    let frame = body
        .get("effective_time_frame")
        .ok_or("no effective_time_frame")?;
    let parse = |v: Option<&Value>, what: &str| -> Result<DateTime<FixedOffset>, String> {
        let text = v.and_then(Value::as_str).ok_or(format!("no {what}"))?;
        DateTime::parse_from_rfc3339(text).map_err(|e| format!("{what} `{text}`: {e}"))
    };
    if let Some(at) = frame.get("date_time") {
        return Ok((parse(Some(at), "date_time")?, 0.0));
    }
    let interval = frame
        .get("time_interval")
        .ok_or("effective_time_frame has neither date_time nor time_interval")?;
    let end = parse(interval.get("end_date_time"), "end_date_time")?;
    let start = match interval.get("start_date_time") {
        Some(start) => parse(Some(start), "start_date_time")?,
        None => {
            let minutes = interval
                .get("duration")
                .and_then(|d| {
                    unit_value(
                        d,
                        &[
                            ("min", 1.0),
                            ("h", 60.0),
                            ("sec", 1.0 / 60.0),
                            ("s", 1.0 / 60.0),
                            ("d", 1440.0),
                        ],
                    )
                })
                .ok_or("time_interval without start_date_time or duration")??;
            end - chrono::Duration::seconds((minutes * 60.0).round() as i64)
        }
    };
    let minutes = (end - start).num_seconds() as f64 / 60.0;
    if minutes < 0.0 {
        return Err("time_interval ends before it starts".into());
    }
    Ok((end, minutes))
}

/// `{"value": v, "unit": u}` converted with the first matching unit factor.
fn unit_value(quantity: &Value, factors: &[(&str, f64)]) -> Option<Result<f64, String>> {
    let value = quantity.get("value")?.as_f64();
    let unit = quantity.get("unit").and_then(Value::as_str).unwrap_or("");
    Some(
        match (
            value,
            factors.iter().find(|(u, _)| u.eq_ignore_ascii_case(unit)),
        ) {
            (Some(v), Some((_, factor))) if v.is_finite() => Ok(v * factor),
            (None, _) => Err("value is not a number".into()),
            (_, None) => Err(format!("unit `{unit}` not supported")),
            _ => Err("value is not finite".into()),
        },
    )
}

fn quantity(body: &Value, field: &str, factors: &[(&str, f64)]) -> Result<f64, String> {
    let q = body.get(field).ok_or(format!("no {field}"))?;
    unit_value(q, factors)
        .ok_or(format!("{field} has no value"))?
        .map_err(|e| format!("{field}: {e}"))
}

/// Builds the measurement of one data point.
fn measurement(schema: &str, body: &Value, period_min: f64) -> Result<Option<Measurement>, String> {
    let glucose_units = [("mg/dL", 1.0), ("mmol/L", glucometrics::MG_DL_PER_MMOL_L)];
    Ok(Some(match schema {
        "blood-glucose" => {
            let mg_dl = quantity(body, "blood_glucose", &glucose_units)?;
            let source = body
                .get("specimen_source")
                .and_then(Value::as_str)
                .unwrap_or("");
            Measurement::glucose(mg_dl, source.contains("interstitial"))
        }
        "heart-rate" => Measurement::HeartRate {
            rate: Quantity::new(quantity(body, "heart_rate", &[("beats/min", 1.0)])?, "/min"),
            rr_intervals_s: Vec::new(),
        },
        "blood-pressure" => {
            let mm = [("mmHg", 1.0), ("kPa", 7.500_62)];
            Measurement::BloodPressure {
                systolic: Quantity::new(quantity(body, "systolic_blood_pressure", &mm)?, "mm[Hg]"),
                diastolic: Some(Quantity::new(
                    quantity(body, "diastolic_blood_pressure", &mm)?,
                    "mm[Hg]",
                )),
                mean_arterial: None,
                pulse: None,
            }
        }
        "step-count" => {
            // v1: a bare number; v2+: {"value", "unit": "steps"}.
            let count = match body.get("step_count") {
                Some(Value::Number(n)) => n.as_f64().ok_or("step_count is not a number")?,
                _ => quantity(body, "step_count", &[("steps", 1.0)])?,
            };
            if count < 0.0 {
                return Err("negative step count".into());
            }
            Measurement::Steps {
                count: Quantity::new(count, "{steps}"),
                period_min,
            }
        }
        "sleep-duration" => Measurement::Sleep {
            duration: Quantity::new(
                quantity(
                    body,
                    "sleep_duration",
                    &[("min", 1.0), ("h", 60.0), ("sec", 1.0 / 60.0)],
                )?,
                "min",
            ),
            stage: Some(SleepStage::Asleep),
        },
        "body-weight" => Measurement::BodyWeight {
            weight: Quantity::new(
                quantity(
                    body,
                    "body_weight",
                    &[("kg", 1.0), ("lb", 0.453_592_37), ("g", 0.001)],
                )?,
                "kg",
            ),
            bmi: None,
        },
        _ => return Ok(None),
    }))
}

/// Imports Open mHealth data points; `file` names the source. The "line" of a reading's
/// source is the 1-based index of its data point.
///
/// # Errors
/// [`ImportError::NotJson`] when the text is neither JSON nor newline-delimited JSON.
pub fn import(text: &str, file: Option<&str>) -> Result<ImportReport<Reading>, ImportError> {
    let points: Vec<Value> = match serde_json::from_str::<Value>(text) {
        Ok(Value::Array(points)) => points,
        Ok(point @ Value::Object(_)) => vec![point],
        Ok(_) => {
            return Err(ImportError::NotJson {
                reason: "expected data points".into(),
            })
        }
        Err(whole) => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<_, _>>()
            .map_err(|_| ImportError::NotJson {
                reason: whole.to_string(),
            })?,
    };
    let mut report = ImportReport::default();
    let mut seen = SeenReadings::default();
    for (index, point) in points.iter().enumerate() {
        let number = index + 1;
        report.counts.read += 1;
        let schema = point
            .pointer("/header/schema_id/name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let Some(body) = point.get("body") else {
            report.reject(number, "data point without a body");
            continue;
        };
        let (time, period_min) = match time_frame(body) {
            Ok(frame) => frame,
            Err(reason) => {
                report.reject(number, reason);
                continue;
            }
        };
        let measurement = match measurement(schema, body, period_min) {
            Ok(Some(m)) => m,
            Ok(None) => {
                report.ignore(if schema.is_empty() {
                    "no schema"
                } else {
                    schema
                });
                continue;
            }
            Err(reason) => {
                report.reject(number, reason);
                continue;
            }
        };
        let utc: DateTime<Utc> = time.with_timezone(&Utc);
        let offset = time.offset().local_minus_utc() / 60;
        let record = match point
            .pointer("/header/uuid")
            .or_else(|| point.pointer("/header/id"))
            .and_then(Value::as_str)
        {
            Some(id) => RecordId::External { id: id.to_owned() },
            None => RecordId::Instant {
                at: format!("{schema}@{}", utc.to_rfc3339()),
            },
        };
        let model = point
            .pointer("/header/acquisition_provenance/source_name")
            .or_else(|| point.pointer("/header/source_name"))
            .and_then(Value::as_str)
            .map(str::to_owned);
        report.push_unique(
            &mut seen,
            Reading::stamped(
                measurement,
                utc,
                Some(offset),
                DeviceIdentity {
                    model,
                    ..DeviceIdentity::default()
                },
                record,
                ReadingSource::Import {
                    importer: "open_mhealth".into(),
                    file: file.map(str::to_owned),
                    line: number,
                },
            ),
        );
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(schema: &str, body: &str) -> String {
        format!(
            r#"{{"header":{{"uuid":"{schema}-1","schema_id":{{"namespace":"omh","name":"{schema}","version":"2.0"}}}},"body":{body}}}"#
        )
    }

    #[test]
    fn every_schema_and_the_errors() {
        let points = [
            point(
                "blood-glucose",
                r#"{"blood_glucose":{"value":6.1,"unit":"mmol/L"},"effective_time_frame":{"date_time":"2024-03-01T08:05:00+01:00"},"specimen_source":"capillary blood"}"#,
            ),
            point(
                "heart-rate",
                r#"{"heart_rate":{"value":61,"unit":"beats/min"},"effective_time_frame":{"date_time":"2024-03-01T08:06:00Z"}}"#,
            ),
            point(
                "blood-pressure",
                r#"{"systolic_blood_pressure":{"value":121,"unit":"mmHg"},"diastolic_blood_pressure":{"value":79,"unit":"mmHg"},"effective_time_frame":{"date_time":"2024-03-01T08:07:00Z"}}"#,
            ),
            point(
                "step-count",
                r#"{"step_count":{"value":5400,"unit":"steps"},"effective_time_frame":{"time_interval":{"start_date_time":"2024-03-01T08:00:00Z","end_date_time":"2024-03-01T09:00:00Z"}}}"#,
            ),
            point(
                "sleep-duration",
                r#"{"sleep_duration":{"value":7.5,"unit":"h"},"effective_time_frame":{"time_interval":{"duration":{"value":8,"unit":"h"},"end_date_time":"2024-03-02T07:00:00+01:00"}}}"#,
            ),
            point(
                "physical-activity",
                r#"{"effective_time_frame":{"date_time":"2024-03-01T08:00:00Z"}}"#,
            ),
            point(
                "heart-rate",
                r#"{"heart_rate":{"value":61,"unit":"beats/s"},"effective_time_frame":{"date_time":"2024-03-01T08:06:00Z"}}"#,
            ),
            point(
                "blood-glucose",
                r#"{"blood_glucose":{"value":110,"unit":"mg/dL"}}"#,
            ),
        ];
        let report = import(&format!("[{}]", points.join(",")), None).unwrap();
        let c = report.counts;
        assert_eq!((c.read, c.imported, c.ignored, c.rejected), (8, 5, 1, 2));
        assert!((report.records[0].glucose_mg_dl().unwrap() - 6.1 * 18.0156).abs() < 1e-9);
        assert_eq!(report.records[0].local_offset_min, Some(60));
        assert!(
            matches!(report.records[3].measurement, Measurement::Steps { period_min, .. } if (period_min - 60.0).abs() < 1e-9)
        );
        match &report.records[4].measurement {
            Measurement::Sleep { duration, .. } => assert!((duration.value - 450.0).abs() < 1e-9),
            other => panic!("{other:?}"),
        }
        assert!(report.rejected[0].reason.contains("unit `beats/s`"));
        assert!(report.rejected[1].reason.contains("effective_time_frame"));
        // Newline-delimited input reads the same.
        let ndjson = import(&points[..2].join("\n"), None).unwrap();
        assert_eq!(ndjson.counts.imported, 2);
    }
}
