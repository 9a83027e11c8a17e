//! Importers for export files. Each returns every record it could read and every row
//! it could not, with the line number and the reason, plus counts — nothing is skipped
//! silently.

pub mod apple_health;
pub mod dexcom;
pub mod generic_csv;
pub mod libreview;
pub mod nightscout;
pub mod open_mhealth;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The export formats the importers read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// LibreView CSV ([`libreview`]).
    LibreView,
    /// Dexcom Clarity CSV ([`dexcom`]).
    DexcomClarity,
    /// Nightscout entries JSON ([`nightscout`]).
    Nightscout,
    /// Generic `id,time,gl` CSV ([`generic_csv`]).
    GenericCsv,
    /// Open mHealth data points JSON ([`open_mhealth`]).
    OpenMHealth,
    /// Apple Health `export.xml`, streamed ([`apple_health`]).
    AppleHealth,
}

/// Recognises the format from the start of a file (its first few kilobytes).
#[must_use]
pub fn detect(start: &str) -> Option<Format> {
    let start = start.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with('<') {
        return start.contains("<HealthData").then_some(Format::AppleHealth);
    }
    if start.starts_with('[') || start.starts_with('{') {
        return Some(if start.contains("\"schema_id\"") {
            Format::OpenMHealth
        } else {
            Format::Nightscout
        });
    }
    let head: Vec<&str> = start.lines().take(10).collect();
    if head
        .iter()
        .any(|l| l.contains("Device Timestamp") && l.contains("Record Type"))
    {
        return Some(Format::LibreView);
    }
    let first = head.first()?.to_ascii_lowercase();
    if first.contains("event type") && first.contains("glucose value") {
        return Some(Format::DexcomClarity);
    }
    let columns: Vec<String> = generic_csv::split_csv_line(&first)
        .into_iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    if ["id", "time", "gl"]
        .iter()
        .all(|c| columns.iter().any(|h| h == c))
    {
        return Some(Format::GenericCsv);
    }
    None
}

/// A row an importer could not use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedRow {
    /// 1-based line number in the file.
    pub line: usize,
    /// Why the row was rejected, for a person to read.
    pub reason: String,
}

/// What an import found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportCounts {
    /// Data rows read (header and blank lines excluded).
    pub read: usize,
    /// Rows turned into records.
    pub imported: usize,
    /// Rows identical to an earlier row (same series, instant and value), dropped.
    pub duplicate: usize,
    /// Rows rejected, each listed in the report.
    pub rejected: usize,
    /// Local times in a DST overlap, resolved to keep each series in order.
    pub ambiguous_local_times: usize,
    /// Valid rows that are not readings (insulin, food, notes, metadata, calibrations
    /// the importer does not use), counted by kind in [`ImportReport::ignored_by_kind`].
    pub ignored: usize,
    /// Imported glucose readings that were scans (on-demand readings, LibreView).
    pub scans: usize,
}

/// The outcome of an import.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportReport<T> {
    /// The records, in file order.
    pub records: Vec<T>,
    /// Rejected rows, in file order.
    pub rejected: Vec<RejectedRow>,
    /// Counts.
    pub counts: ImportCounts,
    /// Rows that are not readings, by kind (e.g. `Insulin` → 12).
    pub ignored_by_kind: BTreeMap<String, usize>,
}

impl<T> Default for ImportReport<T> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            rejected: Vec::new(),
            counts: ImportCounts::default(),
            ignored_by_kind: BTreeMap::new(),
        }
    }
}

impl<T> ImportReport<T> {
    fn reject(&mut self, line: usize, reason: impl Into<String>) {
        self.counts.rejected += 1;
        self.rejected.push(RejectedRow {
            line,
            reason: reason.into(),
        });
    }

    fn ignore(&mut self, kind: &str) {
        self.counts.ignored += 1;
        *self.ignored_by_kind.entry(kind.to_owned()).or_default() += 1;
    }

    /// Resolves a row's local time in series order: a DST-gap time rejects the row
    /// (`None`), an overlap is counted; `previous` advances to the resolved instant.
    fn resolve_row_time(
        &mut self,
        resolver: &mut crate::local_time::CachedResolver,
        local: chrono::NaiveDateTime,
        previous: &mut Option<chrono::DateTime<chrono::Utc>>,
        line: usize,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        match resolver.resolve(local, *previous) {
            Ok((time, resolution)) => {
                if resolution != crate::local_time::Resolution::Unique {
                    self.counts.ambiguous_local_times += 1;
                }
                *previous = Some(time);
                Some(time)
            }
            Err(error) => {
                self.reject(line, error.to_string());
                None
            }
        }
    }
}

/// Remembers which readings an import has taken, by device and record identity,
/// without cloning keys: an FNV-1a hash of the key points at the readings that share
/// it, which are compared in full.
#[derive(Debug, Default)]
pub(crate) struct SeenReadings {
    /// The first reading seen with each hash.
    first: std::collections::HashMap<u64, usize, std::hash::BuildHasherDefault<Fnv1a>>,
    /// Further distinct readings sharing a hash (rare).
    more: std::collections::HashMap<u64, Vec<usize>, std::hash::BuildHasherDefault<Fnv1a>>,
}

/// FNV-1a: fast on the short keys here; collisions are resolved by full comparison.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl std::hash::Hasher for Fnv1a {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 = (self.0 ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl ImportReport<crate::reading::Reading> {
    /// Adds `reading` unless one with the same device identity and record identity was
    /// imported before (counted as a duplicate).
    fn push_unique(&mut self, seen: &mut SeenReadings, reading: crate::reading::Reading) {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let hash =
            BuildHasherDefault::<Fnv1a>::default().hash_one((&reading.device, &reading.record));
        let same = |i: &usize| {
            let other = &self.records[*i];
            other.device == reading.device && other.record == reading.record
        };
        let index = self.records.len();
        match seen.first.get(&hash) {
            None => {
                seen.first.insert(hash, index);
            }
            Some(first) => {
                let others = seen.more.entry(hash).or_default();
                if same(first) || others.iter().any(same) {
                    self.counts.duplicate += 1;
                    return;
                }
                others.push(index);
            }
        }
        self.counts.imported += 1;
        if reading.flags.contains(&crate::reading::ReadingFlag::Scan) {
            self.counts.scans += 1;
        }
        self.records.push(reading);
    }
}

/// Splits one CSV line into `fields`, borrowing from the line when it has no quotes
/// (the common case) and falling back to [`generic_csv::split_csv_line`] otherwise.
pub(crate) fn split_fields<'a>(line: &'a str, fields: &mut Vec<std::borrow::Cow<'a, str>>) {
    fields.clear();
    if line.contains('"') {
        fields.extend(
            generic_csv::split_csv_line(line)
                .into_iter()
                .map(std::borrow::Cow::Owned),
        );
    } else {
        fields.extend(
            line.split(',')
                .map(|f| std::borrow::Cow::Borrowed(f.trim())),
        );
    }
}

/// A glucose cell of an export: a positive number in `unit`, or one of the
/// measurement-range words exports write instead (`Low`/`LO`, `High`/`HI`), which stand
/// for the device's bound, mg/dL. The value is then the bound and the flag says the true
/// value lies beyond it, so nothing is invented and nothing is dropped. `None` for
/// anything else.
fn glucose_cell(
    text: &str,
    unit: glucometrics::GlucoseUnit,
    low_bound_mg_dl: f64,
    high_bound_mg_dl: f64,
) -> Option<(f64, Option<crate::reading::ReadingFlag>)> {
    use crate::reading::ReadingFlag;
    if let Ok(value) = text.parse::<f64>() {
        return (value.is_finite() && value > 0.0).then(|| (unit.to_mg_dl(value), None));
    }
    match text.to_ascii_lowercase().as_str() {
        "low" | "lo" => Some((low_bound_mg_dl, Some(ReadingFlag::BelowMeasurementRange))),
        "high" | "hi" => Some((high_bound_mg_dl, Some(ReadingFlag::AboveMeasurementRange))),
        _ => None,
    }
}

/// Finds a column whose header starts with `prefix` (case-insensitive).
fn column(header: &[String], prefix: &str) -> Option<usize> {
    let prefix = prefix.to_ascii_lowercase();
    header
        .iter()
        .position(|h| h.to_ascii_lowercase().starts_with(&prefix))
}

/// Why a file could not be imported at all (as opposed to single rows).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file has no header line.
    #[error("the file is empty")]
    Empty,
    /// The XML is malformed.
    #[error("malformed XML at byte {byte}: {reason}")]
    NotXml {
        /// Parser message.
        reason: String,
        /// Byte offset in the file.
        byte: u64,
    },
    /// The file is not the JSON the importer reads.
    #[error("not a JSON array of entries: {reason}")]
    NotJson {
        /// Parser message.
        reason: String,
    },
    /// A required column is missing from the header.
    #[error("column `{column}` not found in header `{header}`")]
    MissingColumn {
        /// The column looked for.
        column: &'static str,
        /// The header line as read.
        header: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_format() {
        assert_eq!(detect("[{\"sgv\":1}]"), Some(Format::Nightscout));
        assert_eq!(
            detect("Patient report,x\nname\nDevice,Serial Number,Device Timestamp,Record Type\n"),
            Some(Format::LibreView)
        );
        assert_eq!(
            detect("Index,Timestamp (YYYY-MM-DDThh:mm:ss),Event Type,Glucose Value (mg/dL)\n"),
            Some(Format::DexcomClarity)
        );
        assert_eq!(
            detect("\"\",\"id\",\"time\",\"gl\"\n"),
            Some(Format::GenericCsv)
        );
        assert_eq!(detect("hello,world\n"), None);
        assert_eq!(
            detect(
                "<?xml version=\"1.0\"?>\n<!DOCTYPE HealthData [\n]>\n<HealthData locale=\"it\">"
            ),
            Some(Format::AppleHealth)
        );
        assert_eq!(
            detect("[{\"header\":{\"schema_id\":{\"name\":\"heart-rate\"}}}]"),
            Some(Format::OpenMHealth)
        );
    }
}
