//! The generic `id,time,gl` CSV: one glucose reading per row, as the R package iglu and
//! many research exports write it. Columns are found by name in the header (any order,
//! optionally quoted, extra columns such as R's unnamed row index ignored).
//!
//! - `id`: the series (subject, sensor) the reading belongs to;
//! - `time`: RFC 3339 with a zone (`2024-05-01T08:00:00+02:00`), or a local time
//!   without one (`2024-05-01 08:00:00`, `2024-05-01 08:00`, `2024-05-01T08:00:00`),
//!   resolved in the zone given ([`crate::local_time`]);
//! - `gl`: glucose in the unit given (mg/dL by default).

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use glucometrics::GlucoseUnit;
use serde::{Deserialize, Serialize};

use super::{ImportError, ImportReport};
use crate::local_time::{self, Resolution};

/// Local-time layouts accepted when the time has no zone.
const LOCAL_FORMATS: [&str; 4] = [
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
];

/// One imported reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlucoseRow {
    /// The series the row belongs to (the `id` column).
    pub series_id: String,
    /// When the reading was taken (UTC).
    pub time: DateTime<Utc>,
    /// Glucose, mg/dL (converted from the file's unit).
    pub mg_dl: f64,
    /// 1-based line number in the file.
    pub line: usize,
}

/// How to read the file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenericCsvOptions {
    /// Zone of times written without one.
    pub zone: Tz,
    /// Unit of the `gl` column.
    pub unit: GlucoseUnit,
}

/// Splits one CSV line, honouring double quotes (`""` inside quotes is a quote).
#[must_use]
pub fn split_csv_line(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(std::mem::take(&mut field)),
            _ => field.push(c),
        }
    }
    fields.push(field);
    fields.into_iter().map(|f| f.trim().to_owned()).collect()
}

/// Parses a time with a zone, or a local one resolved in `zone` after `previous`.
fn parse_time(
    text: &str,
    zone: Tz,
    previous: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, Resolution), String> {
    if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
        return Ok((instant.with_timezone(&Utc), Resolution::Unique));
    }
    let naive = LOCAL_FORMATS
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .ok_or_else(|| {
            format!("time `{text}` is not in a recognised format (e.g. 2024-05-01 08:00:00)")
        })?;
    local_time::resolve(naive, zone, previous).map_err(|e| e.to_string())
}

impl GlucoseRow {
    /// The row as a normalised CGM glucose reading (the generic layout does not say
    /// which device or sample type; the series id stands as the device serial).
    #[must_use]
    pub fn into_reading(self, file: Option<&str>) -> crate::reading::Reading {
        use crate::reading::{
            DeviceIdentity, Measurement, Quantity, Reading, ReadingSource, RecordId,
        };
        Reading::stamped(
            Measurement::CgmGlucose {
                glucose: Quantity::new(self.mg_dl, "mg/dL"),
                trend: None,
            },
            self.time,
            None,
            DeviceIdentity {
                serial: Some(self.series_id),
                ..DeviceIdentity::default()
            },
            RecordId::Instant {
                at: self.time.to_rfc3339(),
            },
            ReadingSource::Import {
                importer: "generic_csv".into(),
                file: file.map(str::to_owned),
                line: self.line,
            },
        )
    }
}

/// Imports `text`.
///
/// # Errors
/// [`ImportError`] when the file is empty or lacks one of the three columns; bad rows
/// do not fail the import, they are listed in the report.
pub fn import(
    text: &str,
    options: &GenericCsvOptions,
) -> Result<ImportReport<GlucoseRow>, ImportError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header_line) = lines.next().ok_or(ImportError::Empty)?;
    let header: Vec<String> = split_csv_line(header_line.trim_start_matches('\u{feff}'))
        .into_iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let find = |column: &'static str| {
        header
            .iter()
            .position(|h| h == column)
            .ok_or_else(|| ImportError::MissingColumn {
                column,
                header: header_line.to_owned(),
            })
    };
    let (id_at, time_at, gl_at) = (find("id")?, find("time")?, find("gl")?);
    let needed = id_at.max(time_at).max(gl_at) + 1;

    let mut report = ImportReport::default();
    let mut seen: HashSet<(String, i64, u64)> = HashSet::new();
    let mut previous: HashMap<String, DateTime<Utc>> = HashMap::new();
    for (index, line) in lines {
        let line_number = index + 1;
        report.counts.read += 1;
        let fields = split_csv_line(line);
        if fields.len() < needed {
            report.reject(
                line_number,
                format!("expected at least {needed} fields, found {}", fields.len()),
            );
            continue;
        }
        let series_id = fields[id_at].clone();
        let value_text = &fields[gl_at];
        let value: f64 = match value_text.parse() {
            Ok(v) if f64::is_finite(v) && v > 0.0 => v,
            Ok(_) => {
                report.reject(
                    line_number,
                    format!("glucose `{value_text}` is not a positive number"),
                );
                continue;
            }
            Err(_) if value_text.is_empty() || value_text.eq_ignore_ascii_case("na") => {
                report.reject(line_number, "glucose value missing");
                continue;
            }
            Err(_) => {
                report.reject(
                    line_number,
                    format!("glucose `{value_text}` is not a number"),
                );
                continue;
            }
        };
        let (time, resolution) = match parse_time(
            &fields[time_at],
            options.zone,
            previous.get(&series_id).copied(),
        ) {
            Ok(resolved) => resolved,
            Err(reason) => {
                report.reject(line_number, reason);
                continue;
            }
        };
        if resolution != Resolution::Unique {
            report.counts.ambiguous_local_times += 1;
        }
        let mg_dl = options.unit.to_mg_dl(value);
        if !seen.insert((series_id.clone(), time.timestamp_micros(), mg_dl.to_bits())) {
            report.counts.duplicate += 1;
            continue;
        }
        previous.insert(series_id.clone(), time);
        report.counts.imported += 1;
        report.records.push(GlucoseRow {
            series_id,
            time,
            mg_dl,
            line: line_number,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> GenericCsvOptions {
        GenericCsvOptions {
            zone: chrono_tz::Europe::Rome,
            unit: GlucoseUnit::MgDl,
        }
    }

    #[test]
    fn reads_the_iglu_layout() {
        let text = "\"\",\"id\",\"time\",\"gl\"\n\"1\",\"Subject 1\",2015-06-06 16:50:27,153\n\"2\",\"Subject 1\",2015-06-06 17:05:27,137\n";
        let report = import(text, &options()).unwrap();
        assert_eq!(report.counts.imported, 2);
        assert_eq!(report.records[0].series_id, "Subject 1");
        assert_eq!(
            report.records[0].time.to_rfc3339(),
            "2015-06-06T14:50:27+00:00"
        );
        assert_eq!(report.records[1].line, 3);
    }

    #[test]
    fn every_bad_row_is_reported_with_its_line() {
        let text = "id,time,gl\n\
                    a,2024-03-31 02:30:00,100\n\
                    a,yesterday,100\n\
                    a,2024-04-01 08:00:00,NA\n\
                    a,2024-04-01 08:05:00,-3\n\
                    a,2024-04-01 08:10:00,abc\n\
                    a,2024-04-01 08:15\n\
                    a,2024-04-01T06:20:00Z,120\n\
                    a,2024-04-01 08:20:00,120\n";
        let report = import(text, &options()).unwrap();
        let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 5, 6, 7]);
        assert!(report.rejected[0].reason.contains("daylight-saving gap"));
        assert_eq!(report.counts.read, 8);
        assert_eq!(report.counts.imported, 1);
        assert_eq!(
            report.counts.duplicate, 1,
            "08:20 Rome is 06:20Z, same value"
        );
        assert_eq!(report.counts.rejected, 6);
    }

    #[test]
    fn converts_mmol_and_needs_the_columns() {
        let report = import(
            "id,time,gl\nx,2024-01-01 00:00:00,5.5\n",
            &GenericCsvOptions {
                unit: GlucoseUnit::MmolL,
                ..options()
            },
        )
        .unwrap();
        assert!((report.records[0].mg_dl - 99.0858).abs() < 1e-9);
        assert!(matches!(
            import("id,when,gl\n", &options()),
            Err(ImportError::MissingColumn { column: "time", .. })
        ));
        assert!(matches!(import("", &options()), Err(ImportError::Empty)));
    }

    #[test]
    fn quoted_fields_may_hold_commas() {
        assert_eq!(
            split_csv_line(r#"1,"Rossi, Mario","a ""b""""#),
            vec!["1", "Rossi, Mario", "a \"b\""]
        );
    }
}
