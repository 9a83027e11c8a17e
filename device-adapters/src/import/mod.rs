//! Importers for export files. Each returns every record it could read and every row
//! it could not, with the line number and the reason, plus counts — nothing is skipped
//! silently.

pub mod generic_csv;

use serde::{Deserialize, Serialize};

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
}

impl<T> Default for ImportReport<T> {
    fn default() -> Self {
        Self {
            records: Vec::new(),
            rejected: Vec::new(),
            counts: ImportCounts::default(),
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
}

/// Why a file could not be imported at all (as opposed to single rows).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImportError {
    /// The file has no header line.
    #[error("the file is empty")]
    Empty,
    /// A required column is missing from the header.
    #[error("column `{column}` not found in header `{header}`")]
    MissingColumn {
        /// The column looked for.
        column: &'static str,
        /// The header line as read.
        header: String,
    },
}
