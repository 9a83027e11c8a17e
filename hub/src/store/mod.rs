//! Storage of readings behind one interface with two real backends: SQLite (embedded,
//! the default) and PostgreSQL (several hub processes). Writes are idempotent on the
//! device's own record identity and durable when the call returns; queries by patient,
//! kind and time range are indexed and paginated by keyset (time, id), so a page never
//! repeats or skips a reading when new ones arrive.
//!
//! Schema migrations are versioned and run when a store is opened (`migrations`).

pub mod directory;
pub mod outbox;
pub mod postgres;
pub mod sql;
pub mod sqlite;

use chrono::{DateTime, Utc};
use device_adapters::reading::Reading;
use serde::{Deserialize, Serialize};

/// A patient's pseudonymous identifier within the hub.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PatientId(pub String);

/// What a batch write did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// Readings stored.
    pub stored: usize,
    /// Readings already stored (same patient, device and record identity), skipped.
    pub duplicates: usize,
    /// Positions in the batch of the skipped readings.
    pub duplicate_positions: Vec<usize>,
}

impl WriteOutcome {
    /// The readings of `batch` (the batch this outcome is of) that were stored, i.e.
    /// not duplicates.
    #[must_use]
    pub fn stored_of(&self, batch: &[Reading]) -> Vec<Reading> {
        let skipped: std::collections::HashSet<usize> =
            self.duplicate_positions.iter().copied().collect();
        batch
            .iter()
            .enumerate()
            .filter(|(position, _)| !skipped.contains(position))
            .map(|(_, reading)| reading.clone())
            .collect()
    }

    /// Tallies the reading at `position` of the batch: `inserted` is whether the
    /// store's insert-or-ignore added a row (otherwise it was a duplicate).
    pub(crate) fn tally(&mut self, position: usize, inserted: bool) {
        if inserted {
            self.stored += 1;
        } else {
            self.duplicates += 1;
            self.duplicate_positions.push(position);
        }
    }
}

/// Where a page of readings continues: after this (time, id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageCursor {
    /// Time of the last reading returned, microseconds since the Unix epoch (UTC).
    pub time_us: i64,
    /// Store id of the last reading returned.
    pub id: i64,
}

/// A query for one patient's readings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadingQuery {
    /// Whose readings.
    pub patient: PatientId,
    /// Measurement kind (`cgm_glucose`, `heart_rate`, …); all kinds when `None`.
    pub kind: Option<String>,
    /// From this instant (inclusive).
    pub from: DateTime<Utc>,
    /// Until this instant (exclusive).
    pub to: DateTime<Utc>,
    /// Continue after this cursor.
    pub after: Option<PageCursor>,
    /// Page size (capped at [`MAX_PAGE`]).
    pub limit: usize,
}

/// Largest page returned.
pub const MAX_PAGE: usize = 10_000;

/// One page of readings, in time order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadingPage {
    /// The readings.
    pub readings: Vec<Reading>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<PageCursor>,
}

impl ReadingPage {
    /// A page from rows `(row id, time in µs since the epoch UTC, reading JSON)` fetched
    /// in page order with a limit of `limit + 1`: the extra row only tells that another
    /// page follows, and the cursor points after the last row kept.
    fn from_rows(mut rows: Vec<(i64, i64, String)>, limit: usize) -> Result<Self, StoreError> {
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = if more {
            rows.last()
                .map(|&(id, time_us, _)| PageCursor { time_us, id })
        } else {
            None
        };
        let readings = rows
            .iter()
            .map(|(_, _, body)| serde_json::from_str(body))
            .collect::<Result<_, _>>()?;
        Ok(Self { readings, next })
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("SQLite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] ::postgres::Error),
    /// A stored reading could not be (de)serialised.
    #[error("reading encoding: {0}")]
    Encoding(#[from] serde_json::Error),
    /// A stored value is not what the schema promises.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// The database was written by a newer hub.
    #[error("database schema version {found} is newer than this hub's {supported}")]
    SchemaTooNew {
        /// Version in the database.
        found: i64,
        /// Newest this hub knows.
        supported: i64,
    },
}

/// The readings store.
pub trait ReadingStore: Send {
    /// Stores `readings` of `patient` in one transaction; a reading whose device and
    /// record identity is already stored for the patient is skipped.
    ///
    /// # Errors
    /// Database errors (then nothing of the batch is stored).
    fn store_readings(
        &mut self,
        patient: &PatientId,
        readings: &[Reading],
        received_at: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError>;

    /// The connection, for the records written once over [`sql::Sql`].
    fn sql(&mut self) -> &mut dyn sql::Sql;

    /// One page of readings matching `query` (keyset on time and id; the same statement
    /// on both backends).
    ///
    /// # Errors
    /// Database errors.
    fn readings(&mut self, query: &ReadingQuery) -> Result<ReadingPage, StoreError> {
        let limit = page_size(query);
        let (after_time, after_id) = resume_after(query);
        let mut params: Vec<sql::SqlValue> = vec![
            query.patient.0.as_str().into(),
            query.from.timestamp_micros().into(),
            query.to.timestamp_micros().into(),
            after_time.into(),
            after_id.into(),
            i64::try_from(limit + 1).unwrap_or(i64::MAX).into(),
        ];
        let kind_filter = match &query.kind {
            Some(kind) => {
                params.push(kind.as_str().into());
                "AND kind = ?7"
            }
            None => "",
        };
        let rows = self.sql().query(
            &format!(
                "SELECT id, time_us, body FROM readings
                 WHERE patient_id = ?1 {kind_filter}
                   AND time_us >= ?2 AND time_us < ?3
                   AND (time_us > ?4 OR (time_us = ?4 AND id > ?5))
                 ORDER BY time_us, id
                 LIMIT ?6"
            ),
            &params,
        )?;
        let found = rows
            .iter()
            .map(|row| match row.as_slice() {
                [sql::SqlValue::Int(id), sql::SqlValue::Int(time_us), sql::SqlValue::Text(body)] => {
                    Ok((*id, *time_us, body.clone()))
                }
                _ => Err(StoreError::Corrupt("reading row".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        ReadingPage::from_rows(found, limit)
    }

    /// Accounts, care teams, consent, delegations and the audit.
    fn directory(&mut self) -> directory::Directory<'_> {
        directory::Directory::new(self.sql())
    }

    /// The delivery outbox.
    fn outbox(&mut self) -> outbox::Outbox<'_> {
        outbox::Outbox::new(self.sql())
    }
}

/// Bumps the patient's readings version; run in the transaction of every batch that
/// stored a reading (both backends), so that anything computed from a patient's readings
/// can be reused while the version is unchanged (readings are never changed or deleted).
pub(crate) const BUMP_READINGS_VERSION: &str =
    "INSERT INTO readings_versions (patient_id, version) VALUES (?1, 1)
     ON CONFLICT (patient_id) DO UPDATE SET version = readings_versions.version + 1";

/// The patient's readings version: changes whenever a reading of theirs is stored; 0 if
/// none ever was.
///
/// # Errors
/// Database errors.
pub fn readings_version(sql: &mut dyn sql::Sql, patient: &PatientId) -> Result<i64, StoreError> {
    let rows = sql.query(
        "SELECT version FROM readings_versions WHERE patient_id = ?1",
        &[patient.0.as_str().into()],
    )?;
    Ok(rows
        .first()
        .and_then(|row| row.first())
        .and_then(sql::SqlValue::as_int)
        .unwrap_or(0))
}

/// The patient's newest readings of `kind`, newest first, at most `limit` (capped at
/// [`MAX_PAGE`]).
///
/// # Errors
/// Database errors.
pub fn latest_readings(
    sql: &mut dyn sql::Sql,
    patient: &PatientId,
    kind: &str,
    limit: usize,
) -> Result<Vec<Reading>, StoreError> {
    let rows = sql.query(
        "SELECT body FROM readings WHERE patient_id = ?1 AND kind = ?2
         ORDER BY time_us DESC, id DESC LIMIT ?3",
        &[
            patient.0.as_str().into(),
            kind.into(),
            i64::try_from(limit.clamp(1, MAX_PAGE)).unwrap_or(1).into(),
        ],
    )?;
    rows.iter()
        .map(|row| {
            let body = row
                .first()
                .and_then(sql::SqlValue::as_text)
                .ok_or_else(|| StoreError::Corrupt("reading body".into()))?;
            Ok(serde_json::from_str(body)?)
        })
        .collect()
}

/// A device that sent the patient's readings, as the store knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceSeen {
    /// The device's identity (address, serial, model).
    pub device: device_adapters::reading::DeviceIdentity,
    /// The kinds of readings it sent (e.g. `cgm_glucose`, `heart_rate`), sorted.
    pub kinds: Vec<String>,
    /// Readings stored from it.
    pub readings: i64,
    /// Its first and last reading (UTC).
    pub first_reading: DateTime<Utc>,
    /// Its last reading (UTC).
    pub last_reading: DateTime<Utc>,
}

/// The devices that sent `patient`'s readings, the most recently heard first.
///
/// # Errors
/// Database errors; a stored device identity that is not JSON is corrupt.
pub fn patient_devices(
    sql: &mut dyn sql::Sql,
    patient: &PatientId,
) -> Result<Vec<DeviceSeen>, StoreError> {
    let rows = sql.query(
        "SELECT device_key, kind, COUNT(*), MIN(time_us), MAX(time_us) FROM readings
         WHERE patient_id = ?1 GROUP BY device_key, kind",
        &[patient.0.as_str().into()],
    )?;
    let instant = |v: &sql::SqlValue| {
        v.as_int()
            .and_then(DateTime::from_timestamp_micros)
            .ok_or_else(|| StoreError::Corrupt("reading time".into()))
    };
    let mut devices: Vec<(String, DeviceSeen)> = Vec::new();
    for row in &rows {
        let key = row[0]
            .as_text()
            .ok_or_else(|| StoreError::Corrupt("device key".into()))?;
        let kind = row[1].as_text().unwrap_or_default().to_owned();
        let (count, first, last) = (
            row[2].as_int().unwrap_or(0),
            instant(&row[3])?,
            instant(&row[4])?,
        );
        match devices.iter_mut().find(|(k, _)| k == key) {
            Some((_, seen)) => {
                seen.kinds.push(kind);
                seen.readings += count;
                seen.first_reading = seen.first_reading.min(first);
                seen.last_reading = seen.last_reading.max(last);
            }
            None => devices.push((
                key.to_owned(),
                DeviceSeen {
                    device: serde_json::from_str(key)?,
                    kinds: vec![kind],
                    readings: count,
                    first_reading: first,
                    last_reading: last,
                },
            )),
        }
    }
    let mut devices: Vec<DeviceSeen> = devices.into_iter().map(|(_, d)| d).collect();
    for device in &mut devices {
        device.kinds.sort();
    }
    devices.sort_by_key(|d| std::cmp::Reverse(d.last_reading));
    Ok(devices)
}

/// Every reading of `patient` (of `kind`, or all kinds) in `[from, to)`, in time order,
/// read page by page.
///
/// # Errors
/// Database errors.
pub fn window_readings(
    store: &mut dyn ReadingStore,
    patient: &PatientId,
    kind: Option<&str>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Reading>, StoreError> {
    let mut query = ReadingQuery {
        patient: patient.clone(),
        kind: kind.map(str::to_owned),
        from,
        to,
        after: None,
        limit: MAX_PAGE,
    };
    let mut readings = Vec::new();
    loop {
        let page = store.readings(&query)?;
        readings.extend(page.readings);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(readings),
        }
    }
}

/// A boxed store is a store (the server picks its backend at start-up).
impl ReadingStore for Box<dyn ReadingStore> {
    fn store_readings(
        &mut self,
        patient: &PatientId,
        readings: &[Reading],
        received_at: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError> {
        self.as_mut().store_readings(patient, readings, received_at)
    }

    fn sql(&mut self) -> &mut dyn sql::Sql {
        self.as_mut().sql()
    }
}

/// The columns a reading is stored under.
pub(crate) struct ReadingRow {
    pub(crate) kind: String,
    pub(crate) time_us: i64,
    pub(crate) device_key: String,
    pub(crate) record_key: String,
    pub(crate) body: String,
}

impl ReadingRow {
    pub(crate) fn of(reading: &Reading) -> Result<Self, StoreError> {
        Ok(Self {
            kind: reading.measurement.kind().to_owned(),
            time_us: reading.time.timestamp_micros(),
            device_key: serde_json::to_string(&reading.device)?,
            record_key: serde_json::to_string(&reading.record)?,
            body: serde_json::to_string(reading)?,
        })
    }
}

/// A versioned schema migration: portable DDL for both backends (64-bit integers are
/// `BIGINT`, which SQLite stores as INTEGER; `AUTO_ID` is the auto-numbered primary key,
/// `INTEGER PRIMARY KEY` in SQLite and `BIGSERIAL PRIMARY KEY` in PostgreSQL), then what
/// only one backend needs (triggers are written differently).
pub(crate) struct Migration {
    pub(crate) both: &'static str,
    pub(crate) sqlite_only: &'static str,
    pub(crate) postgres_only: &'static str,
}

impl Migration {
    /// The migration's SQLite text.
    pub(crate) fn sqlite(&self) -> String {
        format!(
            "{}\n{}",
            self.both.replace("AUTO_ID", "INTEGER PRIMARY KEY"),
            self.sqlite_only
        )
    }

    /// The migration's PostgreSQL text.
    pub(crate) fn postgres(&self) -> String {
        format!(
            "{}\n{}",
            self.both.replace("AUTO_ID", "BIGSERIAL PRIMARY KEY"),
            self.postgres_only
        )
    }
}

/// The migrations; index + 1 is the version a migration brings the schema to.
pub(crate) const MIGRATIONS: [Migration; 9] = [
    Migration {
        both: "CREATE TABLE readings (
                 id AUTO_ID,
                 patient_id TEXT NOT NULL,
                 kind TEXT NOT NULL,
                 time_us BIGINT NOT NULL,
                 device_key TEXT NOT NULL,
                 record_key TEXT NOT NULL,
                 body TEXT NOT NULL,
                 received_us BIGINT NOT NULL,
                 UNIQUE (patient_id, device_key, record_key)
             );
             CREATE INDEX readings_by_patient_kind_time ON readings (patient_id, kind, time_us, id);
             CREATE INDEX readings_by_patient_time ON readings (patient_id, time_us, id);",
        sqlite_only: "",
        postgres_only: "",
    },
    Migration {
        both: directory::DIRECTORY_SCHEMA,
        sqlite_only: directory::SQLITE_AUDIT_APPEND_ONLY,
        postgres_only: directory::POSTGRES_AUDIT_APPEND_ONLY,
    },
    Migration {
        both:
            "CREATE TABLE readings_versions (patient_id TEXT PRIMARY KEY, version BIGINT NOT NULL);
               INSERT INTO readings_versions (patient_id, version)
                   SELECT patient_id, 1 FROM readings GROUP BY patient_id;",
        sqlite_only: "",
        postgres_only: "",
    },
    Migration {
        both: directory::UPLOAD_SECRETS_SCHEMA,
        sqlite_only: "",
        postgres_only: "",
    },
    Migration {
        both: directory::GATEWAYS_SCHEMA,
        sqlite_only: "",
        postgres_only: "",
    },
    Migration {
        both: outbox::OUTBOX_SCHEMA,
        sqlite_only: "",
        postgres_only: "",
    },
    Migration {
        both: directory::DESTINATIONS_SCHEMA,
        sqlite_only: "",
        postgres_only: "",
    },
    Migration {
        both: outbox::OUTBOX_RECEIPT_SCHEMA,
        sqlite_only: "",
        postgres_only: "",
    },
    Migration {
        both: directory::THEENGS_GATEWAYS_SCHEMA,
        sqlite_only: "",
        postgres_only: "",
    },
];

/// Where a query resumes: the cursor's (time µs, id), or before everything.
fn resume_after(query: &ReadingQuery) -> (i64, i64) {
    query
        .after
        .map_or((i64::MIN, i64::MIN), |c| (c.time_us, c.id))
}

/// Page size actually used.
fn page_size(query: &ReadingQuery) -> usize {
    query.limit.clamp(1, MAX_PAGE)
}

#[cfg(test)]
pub(crate) mod suite;
