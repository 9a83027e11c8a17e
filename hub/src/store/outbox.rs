//! The delivery outbox: every submission to an outside system (the FSE taccuino, a
//! GP's record) is stored first, then sent with retries; what was sent, what is
//! pending and what failed — and why — stays readable by the patient and the admin.
//! An item is unique per (destination, idempotency key), so queueing the same
//! submission twice queues it once. Written once over [`Sql`] for both backends.
//!
//! Instants are microseconds since the Unix epoch (UTC).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::sql::{Sql, SqlValue};
use super::{PatientId, StoreError};

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxStatus {
    /// Waiting for its next attempt.
    Pending,
    /// Accepted by the destination.
    Sent,
    /// Given up (refused for good); `last_error` says why.
    Failed,
}

impl OutboxStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Ok(match text {
            "pending" => Self::Pending,
            "sent" => Self::Sent,
            "failed" => Self::Failed,
            other => return Err(StoreError::Corrupt(format!("outbox status {other:?}"))),
        })
    }
}

/// One submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxItem {
    /// Store id.
    pub id: i64,
    /// Whose data.
    pub patient: String,
    /// Where it goes (a configured destination's name).
    pub destination: String,
    /// The submission's stable identity at that destination.
    pub idempotency_key: String,
    /// What is sent (e.g. a FHIR Bundle, JSON).
    pub body: String,
    /// Where it stands.
    pub status: OutboxStatus,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due (UTC).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure, if any.
    pub last_error: Option<String>,
    /// When queued (UTC).
    pub created_at: DateTime<Utc>,
    /// When accepted (UTC).
    pub sent_at: Option<DateTime<Utc>>,
    /// What the receiver answered on acceptance, when it says something worth keeping
    /// (the FSE Gateway's `workflowInstanceId`, to ask it how the publication went).
    pub receipt: Option<String>,
}

/// An item without its body, for the admin's view: what was sent, is pending or
/// failed, and why, without the health data themselves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxSummary {
    /// Store id.
    pub id: i64,
    /// Whose data.
    pub patient: String,
    /// Where it goes.
    pub destination: String,
    /// The submission's identity.
    pub idempotency_key: String,
    /// Where it stands.
    pub status: OutboxStatus,
    /// Attempts made.
    pub attempts: i64,
    /// Next attempt (UTC).
    pub next_attempt_at: DateTime<Utc>,
    /// The last failure.
    pub last_error: Option<String>,
    /// When queued (UTC).
    pub created_at: DateTime<Utc>,
    /// When accepted (UTC).
    pub sent_at: Option<DateTime<Utc>>,
    /// The receiver's receipt (see [`OutboxItem::receipt`]).
    pub receipt: Option<String>,
}

impl From<OutboxItem> for OutboxSummary {
    fn from(item: OutboxItem) -> Self {
        Self {
            id: item.id,
            patient: item.patient,
            destination: item.destination,
            idempotency_key: item.idempotency_key,
            status: item.status,
            attempts: item.attempts,
            next_attempt_at: item.next_attempt_at,
            last_error: item.last_error,
            created_at: item.created_at,
            sent_at: item.sent_at,
            receipt: item.receipt,
        }
    }
}

/// The receiver's receipt of an accepted item (migration 8).
pub(crate) const OUTBOX_RECEIPT_SCHEMA: &str = "ALTER TABLE outbox ADD COLUMN receipt TEXT;";

/// The outbox tables (migration 6; portable DDL, see `store::Migration`).
pub(crate) const OUTBOX_SCHEMA: &str = "
    CREATE TABLE outbox (
        id AUTO_ID,
        patient_id TEXT NOT NULL REFERENCES accounts (id),
        destination TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        body TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        next_attempt_us BIGINT NOT NULL,
        last_error TEXT,
        created_us BIGINT NOT NULL,
        sent_us BIGINT,
        UNIQUE (destination, idempotency_key)
    );
    CREATE INDEX outbox_due ON outbox (status, next_attempt_us, id);
    CREATE INDEX outbox_by_patient ON outbox (patient_id, id);";

const COLUMNS: &str = "id, patient_id, destination, idempotency_key, body, status, attempts,
                       next_attempt_us, last_error, created_us, sent_us, receipt";

/// [`COLUMNS`] with an empty body: for listings that do not show it (a body is a whole
/// Bundle, megabytes for 14 days).
const COLUMNS_WITHOUT_BODY: &str =
    "id, patient_id, destination, idempotency_key, '' AS body, status,
                       attempts, next_attempt_us, last_error, created_us, sent_us, receipt";

fn micros(at: DateTime<Utc>) -> SqlValue {
    SqlValue::Int(at.timestamp_micros())
}

fn item(row: &[SqlValue]) -> Result<OutboxItem, StoreError> {
    let text = |i: usize| {
        row[i]
            .as_text()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::Corrupt("outbox text".into()))
    };
    let int = |i: usize| {
        row[i]
            .as_int()
            .ok_or_else(|| StoreError::Corrupt("outbox integer".into()))
    };
    let instant = |i: usize| {
        int(i).and_then(|us| {
            DateTime::from_timestamp_micros(us)
                .ok_or_else(|| StoreError::Corrupt("outbox instant".into()))
        })
    };
    Ok(OutboxItem {
        id: int(0)?,
        patient: text(1)?,
        destination: text(2)?,
        idempotency_key: text(3)?,
        body: text(4)?,
        status: OutboxStatus::parse(&text(5)?)?,
        attempts: int(6)?,
        next_attempt_at: instant(7)?,
        last_error: row[8].as_text().map(str::to_owned),
        created_at: instant(9)?,
        sent_at: row[10].as_int().map(|_| instant(10)).transpose()?,
        receipt: row[11].as_text().map(str::to_owned),
    })
}

/// The outbox over one connection.
pub struct Outbox<'a> {
    sql: &'a mut dyn Sql,
}

impl<'a> Outbox<'a> {
    /// The outbox over `sql`.
    pub fn new(sql: &'a mut dyn Sql) -> Self {
        Self { sql }
    }

    /// Queues a submission, due at once; returns its id and whether it is new (an
    /// item with the same destination and key is never queued twice).
    ///
    /// # Errors
    /// Database errors.
    pub fn enqueue(
        &mut self,
        patient: &PatientId,
        destination: &str,
        idempotency_key: &str,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<(i64, bool), StoreError> {
        let inserted = self.sql.execute(
            "INSERT INTO outbox (patient_id, destination, idempotency_key, body, status, attempts,
                                 next_attempt_us, created_us)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)
             ON CONFLICT (destination, idempotency_key) DO NOTHING",
            &[
                patient.0.as_str().into(),
                destination.into(),
                idempotency_key.into(),
                body.into(),
                micros(now),
            ],
        )? == 1;
        let rows = self.sql.query(
            "SELECT id FROM outbox WHERE destination = ?1 AND idempotency_key = ?2",
            &[destination.into(), idempotency_key.into()],
        )?;
        let id = rows
            .first()
            .and_then(|row| row[0].as_int())
            .ok_or_else(|| StoreError::Corrupt("outbox id".into()))?;
        Ok((id, inserted))
    }

    /// Pending items due by `now`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// Database errors.
    pub fn due(&mut self, now: DateTime<Utc>, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = self.sql.query(
            &format!(
                "SELECT {COLUMNS} FROM outbox WHERE status = 'pending' AND next_attempt_us <= ?1
                 ORDER BY next_attempt_us, id LIMIT ?2"
            ),
            &[micros(now), i64::try_from(limit).unwrap_or(i64::MAX).into()],
        )?;
        rows.iter().map(|row| item(row)).collect()
    }

    /// Records an attempt: accepted (`Sent`), to be retried at `retry_at` (`Pending`,
    /// with the error), or given up (`Failed`, with the error).
    ///
    /// # Errors
    /// Database errors.
    pub fn record_attempt(
        &mut self,
        id: i64,
        outcome: OutboxStatus,
        error: Option<&str>,
        receipt: Option<&str>,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let sent = if outcome == OutboxStatus::Sent {
            micros(now)
        } else {
            SqlValue::NullInt
        };
        self.sql.execute(
            "UPDATE outbox SET status = ?2, attempts = attempts + 1, last_error = ?3,
                               next_attempt_us = ?4, sent_us = ?5, receipt = ?6
             WHERE id = ?1 AND status = 'pending'",
            &[
                id.into(),
                outcome.as_str().into(),
                SqlValue::opt_text(error),
                micros(retry_at),
                sent,
                SqlValue::opt_text(receipt),
            ],
        )?;
        Ok(())
    }

    /// The newest `limit` items of every patient (of `status`, or all), newest first,
    /// without their bodies.
    ///
    /// # Errors
    /// Database errors.
    pub fn recent(
        &mut self,
        status: Option<OutboxStatus>,
        limit: usize,
    ) -> Result<Vec<OutboxSummary>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = match status {
            Some(status) => self.sql.query(
                &format!(
                    "SELECT {COLUMNS_WITHOUT_BODY} FROM outbox WHERE status = ?1 ORDER BY id DESC LIMIT ?2"
                ),
                &[status.as_str().into(), limit.into()],
            )?,
            None => self.sql.query(
                &format!("SELECT {COLUMNS_WITHOUT_BODY} FROM outbox ORDER BY id DESC LIMIT ?1"),
                &[limit.into()],
            )?,
        };
        rows.iter()
            .map(|row| item(row).map(OutboxSummary::from))
            .collect()
    }

    /// The patient's newest `limit` items, newest first, without their bodies: what was
    /// sent, is pending or failed, and why (the patient's own view).
    ///
    /// # Errors
    /// Database errors.
    pub fn summaries_for_patient(
        &mut self,
        patient: &PatientId,
        limit: usize,
    ) -> Result<Vec<OutboxSummary>, StoreError> {
        let rows = self.sql.query(
            &format!(
                "SELECT {COLUMNS_WITHOUT_BODY} FROM outbox WHERE patient_id = ?1 ORDER BY id DESC LIMIT ?2"
            ),
            &[
                patient.0.as_str().into(),
                i64::try_from(limit).unwrap_or(i64::MAX).into(),
            ],
        )?;
        rows.iter()
            .map(|row| item(row).map(OutboxSummary::from))
            .collect()
    }

    /// The patient's items with their bodies, newest first.
    ///
    /// # Errors
    /// Database errors.
    pub fn for_patient(&mut self, patient: &PatientId) -> Result<Vec<OutboxItem>, StoreError> {
        let rows = self.sql.query(
            &format!("SELECT {COLUMNS} FROM outbox WHERE patient_id = ?1 ORDER BY id DESC"),
            &[patient.0.as_str().into()],
        )?;
        rows.iter().map(|row| item(row)).collect()
    }
}
