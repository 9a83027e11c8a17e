//! The PostgreSQL backend, for deployments where several hub processes share the load.
//! The same schema and queries as SQLite (migration and SQL texts per backend).

use chrono::{DateTime, Utc};
use device_adapters::reading::Reading;
use postgres::{Client, NoTls};

use super::sql::postgres_placeholders;

use super::{
    PatientId, ReadingRow, ReadingStore, StoreError, WriteOutcome, BUMP_READINGS_VERSION,
    MIGRATIONS,
};

/// A PostgreSQL store.
pub struct PostgresStore {
    client: Client,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection string may hold a password: never printed.
        f.debug_struct("PostgresStore").finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects with `url` (`postgresql://user@host/db`) and migrates the schema.
    ///
    /// # Errors
    /// Database errors, or a schema newer than this hub.
    pub fn connect(url: &str) -> Result<Self, StoreError> {
        let mut client = Client::connect(url, NoTls)?;
        client
            .batch_execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")?;
        let version: i64 = client
            .query_opt("SELECT version FROM schema_version", &[])?
            .map_or(0, |row| row.get(0));
        let supported = MIGRATIONS.len() as i64;
        if version > supported {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported,
            });
        }
        for (index, migration) in MIGRATIONS
            .iter()
            .enumerate()
            .skip(usize::try_from(version).unwrap_or(0))
        {
            let mut transaction = client.transaction()?;
            transaction.batch_execute(&migration.postgres())?;
            transaction.execute("DELETE FROM schema_version", &[])?;
            transaction.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&(index as i64 + 1)],
            )?;
            transaction.commit()?;
        }
        Ok(Self { client })
    }
}

impl ReadingStore for PostgresStore {
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
        let mut transaction = self.client.transaction()?;
        let insert = transaction.prepare(
            "INSERT INTO readings (patient_id, kind, time_us, device_key, record_key, body, received_us)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (patient_id, device_key, record_key) DO NOTHING",
        )?;
        let mut outcome = WriteOutcome::default();
        let received_us = received_at.timestamp_micros();
        for (position, row) in rows.iter().enumerate() {
            let changed = transaction.execute(
                &insert,
                &[
                    &patient.0,
                    &row.kind,
                    &row.time_us,
                    &row.device_key,
                    &row.record_key,
                    &row.body,
                    &received_us,
                ],
            )?;
            outcome.tally(position, changed == 1);
        }
        if outcome.stored > 0 {
            transaction.execute(
                postgres_placeholders(BUMP_READINGS_VERSION).as_str(),
                &[&patient.0],
            )?;
        }
        transaction.commit()?;
        Ok(outcome)
    }

    fn sql(&mut self) -> &mut dyn super::sql::Sql {
        &mut self.client
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The suite against a real PostgreSQL server named by `PGHD_TEST_POSTGRES_URL`
    /// (`.ci/run` starts Debian's server and sets it, with `PGHD_REQUIRE_POSTGRES=1` so
    /// that a missing server fails CI instead of skipping). The database is emptied.
    #[test]
    fn passes_the_suite_on_a_real_server() {
        let Ok(url) = std::env::var("PGHD_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var("PGHD_REQUIRE_POSTGRES").is_err(),
                "PGHD_REQUIRE_POSTGRES is set but PGHD_TEST_POSTGRES_URL is not"
            );
            eprintln!("PostgreSQL suite not run: PGHD_TEST_POSTGRES_URL is not set");
            return;
        };
        let mut client = Client::connect(&url, NoTls).expect("connect to the test database");
        client
            .batch_execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
            .unwrap();
        drop(client);
        let mut store = PostgresStore::connect(&url).unwrap();
        super::super::suite::run(&mut store);
        // Reconnecting does not migrate again.
        assert!(PostgresStore::connect(&url).is_ok());
    }
}
