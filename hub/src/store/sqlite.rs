//! The embedded SQLite backend: one file, WAL journal, `synchronous = FULL` so a write
//! is on disk when the call returns.

use std::path::Path;

use chrono::{DateTime, Utc};
use device_adapters::reading::Reading;
use rusqlite::{params, Connection, OptionalExtension};

use super::{
    PatientId, ReadingRow, ReadingStore, StoreError, WriteOutcome, BUMP_READINGS_VERSION,
    MIGRATIONS,
};

/// A SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    connection: Connection,
}

impl SqliteStore {
    /// Opens (or creates) the database at `path` and migrates it.
    ///
    /// # Errors
    /// Database errors, or a schema newer than this hub.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::with_connection(Connection::open(path)?)
    }

    /// An in-memory database (tests, tools).
    ///
    /// # Errors
    /// Database errors.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(connection: Connection) -> Result<Self, StoreError> {
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "synchronous", "FULL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // A page cache of 64 MiB (the default is 2 MiB): the readings' unique index is
        // probed on every insert at random places (one entry per device and record), and
        // reading its pages back from the OS cost the ingest a fifth of its time
        // (docs/benchmarks.md). Pages are allocated as used.
        connection.pragma_update(None, "cache_size", -65_536)?;
        // Checkpoint the WAL every 8,000 pages (32 MiB) instead of 1,000: index pages
        // written again and again between checkpoints are copied to the database once.
        connection.pragma_update(None, "wal_autocheckpoint", 8_000)?;
        // Several connections share the file (the HTTP API's pool): wait for a writer
        // instead of failing at once.
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.execute_batch(
            "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        )?;
        let version: i64 = connection
            .query_row("SELECT version FROM schema_version", [], |row| row.get(0))
            .optional()?
            .unwrap_or(0);
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported,
            });
        }
        let mut store = Self { connection };
        for (index, migration) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            let transaction = store.connection.transaction()?;
            transaction.execute_batch(&migration.sqlite())?;
            transaction.execute("DELETE FROM schema_version", [])?;
            transaction.execute(
                "INSERT INTO schema_version (version) VALUES (?1)",
                [index as i64 + 1],
            )?;
            transaction.commit()?;
        }
        Ok(store)
    }
}

impl ReadingStore for SqliteStore {
    fn store_readings(
        &mut self,
        patient: &PatientId,
        readings: &[Reading],
        received_at: DateTime<Utc>,
    ) -> Result<WriteOutcome, StoreError> {
        let rows = readings
            .iter()
            .map(ReadingRow::of)
            .collect::<Result<Vec<_>, _>>()?;
        let transaction = self.connection.transaction()?;
        let mut outcome = WriteOutcome::default();
        {
            let mut insert = transaction.prepare_cached(
                "INSERT INTO readings (patient_id, kind, time_us, device_key, record_key, body, received_us)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (patient_id, device_key, record_key) DO NOTHING",
            )?;
            for (position, row) in rows.iter().enumerate() {
                let changed = insert.execute(params![
                    patient.0,
                    row.kind,
                    row.time_us,
                    row.device_key,
                    row.record_key,
                    row.body,
                    received_at.timestamp_micros()
                ])?;
                outcome.tally(position, changed == 1);
            }
        }
        if outcome.stored > 0 {
            transaction.execute(BUMP_READINGS_VERSION, [&patient.0])?;
        }
        transaction.commit()?;
        Ok(outcome)
    }

    fn sql(&mut self) -> &mut dyn super::sql::Sql {
        &mut self.connection
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passes_the_suite_in_memory() {
        super::super::suite::run(&mut SqliteStore::in_memory().unwrap());
    }

    #[test]
    fn data_and_schema_survive_reopening() {
        let directory = std::env::temp_dir().join(format!("pghd-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("hub.sqlite");
        let patient = PatientId("p".into());
        let now = DateTime::from_timestamp(1_735_689_600, 0).unwrap();
        let readings = vec![super::super::suite::reading("S", 0, 120.0, now)];
        {
            let mut store = SqliteStore::open(&path).unwrap();
            assert_eq!(
                store
                    .store_readings(&patient, &readings, now)
                    .unwrap()
                    .stored,
                1
            );
        }
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store
                .store_readings(&patient, &readings, now)
                .unwrap()
                .duplicates,
            1
        );
        // A database from a newer hub is refused, not misread.
        store
            .connection
            .execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        drop(store);
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::SchemaTooNew { found: 99, .. })
        ));
        std::fs::remove_dir_all(&directory).unwrap();
    }
}
