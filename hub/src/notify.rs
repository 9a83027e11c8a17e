//! Delivery of the access notifications queued in the outbox (every third-party access
//! to a patient's record queues one, in the audit's transaction) to a webhook: the
//! deployment's notification gateway, which knows each patient's address (e-mail, SMS,
//! app) — sending those is out of the hub's scope.
//!
//! Each notification is POSTed as JSON with an `Idempotency-Key` header
//! (`pghd-notification-<id>`) and marked delivered on a 2xx answer; anything else leaves
//! it queued for the next round (at-least-once: a receiver dedupes on the key). The body
//! names the access (who, role, what, when, outcome), never health values.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::store::directory::{AuditRecord, Notification};
use crate::store::{ReadingStore, StoreError};

/// Notifications sent per round at most.
pub const ROUND_SIZE: usize = 100;

/// What a webhook receives.
#[derive(Debug, Serialize)]
pub struct NotificationBody<'a> {
    /// The notification's id (also in `Idempotency-Key`).
    pub notification_id: i64,
    /// Whose record was accessed.
    pub patient: &'a str,
    /// The access.
    pub access: &'a AuditRecord,
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Notifications delivered.
    pub delivered: usize,
    /// Notifications whose POST failed (left queued).
    pub failed: usize,
}

/// Why a round stopped.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// The outbox could not be read or updated.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Sends up to [`ROUND_SIZE`] undelivered notifications to `url`. Stops at the first
/// failed POST (the receiver is down or refusing: the rest waits for the next round).
///
/// # Errors
/// Store errors.
pub fn deliver_round(
    store: &mut dyn ReadingStore,
    agent: &ureq::Agent,
    url: &str,
    now: DateTime<Utc>,
) -> Result<RoundReport, NotifyError> {
    let pending = store.directory().undelivered_notifications(ROUND_SIZE)?;
    let mut report = RoundReport::default();
    for (notification, access) in &pending {
        if post(agent, url, notification, access) {
            store.directory().mark_delivered(notification.id, now)?;
            report.delivered += 1;
        } else {
            report.failed += 1;
            break;
        }
    }
    Ok(report)
}

fn post(agent: &ureq::Agent, url: &str, notification: &Notification, access: &AuditRecord) -> bool {
    let body = NotificationBody {
        notification_id: notification.id,
        patient: &notification.patient,
        access,
    };
    agent
        .post(url)
        .header(
            "Idempotency-Key",
            &format!("pghd-notification-{}", notification.id),
        )
        .send_json(&body)
        .is_ok_and(|response| response.status().is_success())
}

/// Delivers notifications to `url` until the process ends: a round every `interval`,
/// backing off exponentially (to at most 5 minutes) while the receiver fails. Runs on
/// its own thread with its own store connection.
pub fn run(mut store: Box<dyn ReadingStore>, url: String, interval: Duration) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut wait = interval;
    loop {
        std::thread::sleep(wait);
        match deliver_round(store.as_mut(), &agent, &url, Utc::now()) {
            Ok(report) if report.failed == 0 => wait = interval,
            Ok(_) => wait = (wait * 2).min(Duration::from_secs(300)),
            Err(error) => {
                eprintln!("notification delivery: {error}");
                wait = (wait * 2).min(Duration::from_secs(300));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    use super::*;
    use crate::store::directory::{NewAccount, Role};
    use crate::store::sqlite::SqliteStore;
    use crate::store::PatientId;

    /// A webhook receiver on a loopback port that refuses while `down` is set and
    /// records what it accepted (idempotency key, body).
    fn receiver(
        down: Arc<Mutex<bool>>,
        seen: Arc<Mutex<Vec<(String, serde_json::Value)>>>,
    ) -> (String, tokio::runtime::Runtime) {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let app = axum::Router::new().route(
            "/hook",
            post(
                move |headers: HeaderMap, body: axum::Json<serde_json::Value>| {
                    let (down, seen) = (Arc::clone(&down), Arc::clone(&seen));
                    async move {
                        if *down.lock().unwrap() {
                            return StatusCode::SERVICE_UNAVAILABLE;
                        }
                        let key = headers["idempotency-key"].to_str().unwrap().to_owned();
                        seen.lock().unwrap().push((key, body.0));
                        StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        runtime.spawn(async move { axum::serve(listener, app).await });
        (url, runtime)
    }

    #[test]
    fn every_access_reaches_the_webhook_once_it_answers() {
        let mut store = SqliteStore::in_memory().unwrap();
        let now = Utc::now();
        for (id, role) in [("pat", Role::Patient), ("doc", Role::Practitioner)] {
            store
                .directory()
                .create_account(
                    &NewAccount {
                        id,
                        role,
                        display_name: id,
                        login: id,
                        password_hash: "x",
                        time_zone: "Europe/Rome",
                    },
                    now,
                )
                .unwrap();
        }
        let patient = PatientId("pat".into());
        for action in ["GET readings", "GET glucometrics", "GET consent"] {
            store
                .directory()
                .record_access(
                    &patient,
                    "doc",
                    Role::Practitioner,
                    action,
                    action != "GET consent",
                    now,
                )
                .unwrap();
        }
        let (down, seen) = (Arc::new(Mutex::new(true)), Arc::new(Mutex::new(Vec::new())));
        let (url, _runtime) = receiver(Arc::clone(&down), Arc::clone(&seen));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        // Receiver down: nothing delivered, nothing lost.
        let report = deliver_round(&mut store, &agent, &url, now).unwrap();
        assert_eq!(
            report,
            RoundReport {
                delivered: 0,
                failed: 1
            }
        );
        assert_eq!(
            store
                .directory()
                .undelivered_notifications(10)
                .unwrap()
                .len(),
            3
        );
        // Back up: all three, in order, once.
        *down.lock().unwrap() = false;
        let report = deliver_round(&mut store, &agent, &url, now).unwrap();
        assert_eq!(
            report,
            RoundReport {
                delivered: 3,
                failed: 0
            }
        );
        assert_eq!(
            deliver_round(&mut store, &agent, &url, now).unwrap(),
            RoundReport::default()
        );
        let seen = seen.lock().unwrap();
        let actions: Vec<&str> = seen
            .iter()
            .map(|(_, b)| b["access"]["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["GET readings", "GET glucometrics", "GET consent"]);
        assert_eq!(seen[2].1["access"]["outcome"], "denied");
        assert_eq!(seen[0].1["patient"], "pat");
        assert_eq!(
            seen[0].0,
            format!("pghd-notification-{}", seen[0].1["notification_id"])
        );
        assert!(store
            .directory()
            .notifications(&patient, false)
            .unwrap()
            .iter()
            .all(|n| n.delivered_at.is_some()));
    }
}
