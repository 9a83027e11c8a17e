//! Dexcom Clarity CSV exports.
//!
//! Layout (Clarity "Export" of G6/G7 data): a header row, then metadata rows (patient,
//! device, alerts) and event rows, all in the same columns:
//!
//! ```text
//! Index,Timestamp (YYYY-MM-DDThh:mm:ss),Event Type,Event Subtype,Patient Info,Device Info,Source Device ID,Glucose Value (mg/dL),Insulin Value (u),Carb Value (grams),Duration (hh:mm:ss),Glucose Rate of Change (mg/dL/min),Transmitter Time (Long Integer),Transmitter ID
//! 10,2024-03-01T08:05:03,EGV,,,,Android G6,127,,,,-1.2,1234567,8ABC12
//! ```
//!
//! `EGV` rows are CGM glucose; `Calibration` rows are meter glucose entered to calibrate;
//! every other event type (FirstName, Device, Alert, Insulin, Carbs, Exercise, Health …)
//! is counted as ignored by kind. `Low` and `High` stand for below 40 and above 400 mg/dL
//! (the G6/G7 range): the bound is kept with a flag. Units from the header (mg/dL or
//! mmol/L); timestamps are local without a zone.

use chrono::{DateTime, NaiveDateTime, Utc};
use chrono_tz::Tz;
use glucometrics::GlucoseUnit;

use super::generic_csv::split_csv_line;
use super::libreview::ZoneOffsets;
use super::{column, glucose_cell, ImportError, ImportReport};
use crate::local_time::CachedResolver;
use crate::reading::{
    DeviceIdentity, DeviceTime, Measurement, Quantity, Reading, ReadingSource, RecordId,
};

/// Dexcom G6/G7 lower reporting bound, mg/dL (`Low`).
const DEXCOM_LOW_MG_DL: f64 = 40.0;
/// Dexcom G6/G7 upper reporting bound, mg/dL (`High`).
const DEXCOM_HIGH_MG_DL: f64 = 400.0;

/// Imports a Dexcom Clarity export; `file` names it in each reading's source.
///
/// # Errors
/// [`ImportError`] when the header lacks the timestamp, event type or glucose column.
pub fn import(
    text: &str,
    zone: Tz,
    file: Option<&str>,
) -> Result<ImportReport<Reading>, ImportError> {
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let (_, header_line) = lines.next().ok_or(ImportError::Empty)?;
    let header = split_csv_line(header_line.trim_start_matches('\u{feff}'));
    let need = |prefix: &'static str| {
        column(&header, prefix).ok_or_else(|| ImportError::MissingColumn {
            column: prefix,
            header: header_line.to_owned(),
        })
    };
    let (time_at, type_at, glucose_at) = (
        need("Timestamp")?,
        need("Event Type")?,
        need("Glucose Value")?,
    );
    let unit = if header[glucose_at].contains("mmol") {
        GlucoseUnit::MmolL
    } else {
        GlucoseUnit::MgDl
    };
    let index_at = column(&header, "Index");
    let source_at = column(&header, "Source Device ID");
    let transmitter_at = column(&header, "Transmitter ID");
    let rate_at = column(&header, "Glucose Rate of Change");

    let mut report = ImportReport::default();
    let mut seen = super::SeenReadings::default();
    let mut previous: Option<DateTime<Utc>> = None;
    let mut resolver = CachedResolver::new(zone);
    let mut offsets = ZoneOffsets::new(zone);
    for (index, line) in lines {
        let line_number = index + 1;
        report.counts.read += 1;
        let fields = split_csv_line(line);
        let field = |at: usize| fields.get(at).map_or("", String::as_str);
        let event = field(type_at);
        let meter = match event {
            "EGV" => false,
            "Calibration" => true,
            "" => {
                report.reject(line_number, "event type missing");
                continue;
            }
            other => {
                report.ignore(other);
                continue;
            }
        };
        let value_text = field(glucose_at);
        let Some((mg_dl, range_flag)) =
            glucose_cell(value_text, unit, DEXCOM_LOW_MG_DL, DEXCOM_HIGH_MG_DL)
        else {
            report.reject(
                line_number,
                format!("glucose value `{value_text}` is not a positive number, Low or High"),
            );
            continue;
        };
        let flags: Vec<_> = range_flag.into_iter().collect();
        let time_text = field(time_at);
        let Some(local) = NaiveDateTime::parse_from_str(time_text, "%Y-%m-%dT%H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(time_text, "%Y-%m-%d %H:%M:%S"))
            .ok()
        else {
            report.reject(
                line_number,
                format!("timestamp `{time_text}` is not YYYY-MM-DDThh:mm:ss"),
            );
            continue;
        };
        let Some(time) = report.resolve_row_time(&mut resolver, local, &mut previous, line_number)
        else {
            continue;
        };
        let glucose = Quantity::new(mg_dl, "mg/dL");
        let trend = rate_at
            .and_then(|at| field(at).parse::<f64>().ok())
            .map(|rate| Quantity::new(unit.to_mg_dl(rate), "mg/dL/min"));
        let measurement = if meter {
            Measurement::MeterGlucose { glucose }
        } else {
            Measurement::CgmGlucose { glucose, trend }
        };
        let record = match index_at.map(&field).filter(|s| !s.is_empty()) {
            Some(id) => RecordId::External { id: id.to_owned() },
            None => RecordId::Instant {
                at: format!("{event}@{}", time.to_rfc3339()),
            },
        };
        let reading = Reading {
            measurement,
            time,
            local_offset_min: Some(offsets.at(time)),
            device_time: DeviceTime::Local { local },
            device: DeviceIdentity {
                address: None,
                serial: transmitter_at
                    .map(|at| field(at).to_owned())
                    .filter(|s| !s.is_empty()),
                model: source_at
                    .map(|at| field(at).to_owned())
                    .filter(|s| !s.is_empty()),
            },
            record,
            flags,
            source: ReadingSource::Import {
                importer: "dexcom_clarity".into(),
                file: file.map(str::to_owned),
                line: line_number,
            },
        };
        report.push_unique(&mut seen, reading);
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reading::ReadingFlag;

    const SAMPLE: &str = "Index,Timestamp (YYYY-MM-DDThh:mm:ss),Event Type,Event Subtype,Patient Info,Device Info,Source Device ID,Glucose Value (mg/dL),Insulin Value (u),Carb Value (grams),Duration (hh:mm:ss),Glucose Rate of Change (mg/dL/min),Transmitter Time (Long Integer),Transmitter ID\n\
1,,FirstName,,Mario,,,,,,,,,\n\
2,,Device,,,G6 Mobile App,Android G6,,,,,,,\n\
10,2024-03-01T08:05:03,EGV,,,,Android G6,127,,,,-1.2,1234567,8ABC12\n\
11,2024-03-01T08:10:03,EGV,,,,Android G6,Low,,,,,1234867,8ABC12\n\
12,2024-03-01T08:15:03,EGV,,,,Android G6,High,,,,,1235167,8ABC12\n\
13,2024-03-01T08:17:00,Insulin,Fast-Acting,,,Android G6,,4,,,,,8ABC12\n\
14,2024-03-01T08:20:03,Calibration,,,,Android G6,110,,,,,1235467,8ABC12\n\
15,2024-03-01T08:25:03,EGV,,,,Android G6,,,,,,1235767,8ABC12\n\
10,2024-03-01T08:05:03,EGV,,,,Android G6,127,,,,-1.2,1234567,8ABC12\n";

    #[test]
    fn egvs_words_calibrations_and_the_rest() {
        let report = import(SAMPLE, chrono_tz::Europe::Rome, Some("clarity.csv")).unwrap();
        let c = report.counts;
        assert_eq!(
            (c.read, c.imported, c.duplicate, c.rejected, c.ignored),
            (9, 4, 1, 1, 3)
        );
        assert_eq!(report.ignored_by_kind["Insulin"], 1);
        assert_eq!(report.rejected[0].line, 9);
        let first = &report.records[0];
        assert_eq!(first.time.to_rfc3339(), "2024-03-01T07:05:03+00:00");
        assert_eq!(first.device.serial.as_deref(), Some("8ABC12"));
        match &first.measurement {
            Measurement::CgmGlucose {
                trend: Some(trend), ..
            } => assert!((trend.value + 1.2).abs() < 1e-12),
            other => panic!("{other:?}"),
        }
        assert_eq!(report.records[1].glucose_mg_dl(), Some(40.0));
        assert!(report.records[1]
            .flags
            .contains(&ReadingFlag::BelowMeasurementRange));
        assert_eq!(report.records[2].glucose_mg_dl(), Some(400.0));
        assert!(matches!(
            report.records[3].measurement,
            Measurement::MeterGlucose { .. }
        ));
    }
}
