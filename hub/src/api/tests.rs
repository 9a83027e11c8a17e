//! The API over real HTTP: a hub on a loopback port with a SQLite file, driven by an
//! HTTP client, checked against a second connection to the same database.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

use super::{router, ApiState};
use crate::auth::{hash_password, TokenKey, MAX_FAILED_LOGINS};
use crate::store::directory::{NewAccount, Role, Scope};
use crate::store::sqlite::SqliteStore;
use crate::store::{PatientId, ReadingStore};

const PASSWORD: &str = "a long test password";

struct TestHub {
    base: String,
    store: SqliteStore,
    agent: ureq::Agent,
    _runtime: tokio::runtime::Runtime,
    directory: std::path::PathBuf,
}

impl Drop for TestHub {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.directory);
    }
}

struct Reply {
    status: u16,
    body: Value,
    content_type: String,
    retry_after: Option<String>,
}

impl TestHub {
    /// A hub with accounts `pat` (the patient under test, with 2 days of CGM data),
    /// `other` (another patient), `deleg` (a delegate), `doc` (in `pat`'s care team),
    /// `doc2` (in no care team) and `admin`.
    fn start(name: &str) -> Self {
        let directory =
            std::env::temp_dir().join(format!("pghd-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        std::fs::create_dir_all(&directory).unwrap();
        let path = directory.join("hub.sqlite");
        let mut store = SqliteStore::open(&path).unwrap();
        let hash = hash_password(PASSWORD).unwrap();
        let now = Utc::now();
        for (id, role) in [
            ("pat", Role::Patient),
            ("other", Role::Patient),
            ("deleg", Role::Delegate),
            ("doc", Role::Practitioner),
            ("doc2", Role::Practitioner),
            ("admin", Role::Admin),
        ] {
            store
                .directory()
                .create_account(
                    &NewAccount {
                        id,
                        role,
                        display_name: id,
                        login: id,
                        password_hash: &hash,
                        time_zone: "Europe/Rome",
                    },
                    now,
                )
                .unwrap();
        }
        store
            .directory()
            .add_to_care_team(&PatientId("pat".into()), "doc", now)
            .unwrap();
        let readings: Vec<_> = (0..576)
            .map(|i| {
                crate::store::suite::reading(
                    "S1",
                    i * 5,
                    110.0 + f64::from(i % 40),
                    now - Duration::days(2) + Duration::minutes(i64::from(i) * 5),
                )
            })
            .collect();
        store
            .store_readings(&PatientId("pat".into()), &readings, now)
            .unwrap();
        let pool: Vec<Box<dyn ReadingStore>> = (0..3)
            .map(|_| Box::new(SqliteStore::open(&path).unwrap()) as Box<dyn ReadingStore>)
            .collect();
        let state =
            Arc::new(ApiState::new(pool, Box::new(SqliteStore::open(&path).unwrap())).unwrap());
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, router(state)).await });
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            base,
            store,
            agent,
            _runtime: runtime,
            directory,
        }
    }

    fn request(&self, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Reply {
        let url = format!("{}{path}", self.base);
        let mut builder = ureq::http::Request::builder().method(method).uri(&url);
        if let Some(token) = token {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        if body.is_some() {
            builder = builder.header("Content-Type", "application/json");
        }
        let request = builder.body(body.unwrap_or("").to_owned()).unwrap();
        let mut response = self.agent.run(request).unwrap();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        Reply {
            status,
            body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
            content_type,
            retry_after,
        }
    }

    fn login(&self, login: &str) -> String {
        let reply = self.request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"login": login, "password": PASSWORD}).to_string()),
        );
        assert_eq!(reply.status, 200, "{login}: {:?}", reply.body);
        reply.body["token"].as_str().unwrap().to_owned()
    }

    fn audit_len(&mut self) -> usize {
        self.store
            .directory()
            .audit(&PatientId("pat".into()), None, 100_000)
            .unwrap()
            .len()
    }
}

/// The endpoints acting on `pat`'s record: (method, path, body). Bodies are chosen so
/// that an allowed call changes nothing the matrix depends on.
fn record_endpoints(consultation: bool) -> Vec<(&'static str, String, Option<String>)> {
    vec![
        ("GET", "/api/v1/patients/pat/readings".into(), None),
        ("GET", "/api/v1/patients/pat/glucometrics".into(), None),
        ("GET", "/api/v1/patients/pat/consent".into(), None),
        (
            "PUT",
            "/api/v1/patients/pat/consent".into(),
            Some(json!({"consultation": consultation, "fse_opposition": false}).to_string()),
        ),
        ("GET", "/api/v1/patients/pat/delegations".into(), None),
        (
            "POST",
            "/api/v1/patients/pat/delegations".into(),
            // `admin` may not be a delegate: 422 once allowed, so nothing is created.
            Some(
                json!({"delegate_login": "admin", "relationship": "delegated",
                       "scopes": ["read"], "expires_at": Utc::now() + Duration::days(365)})
                .to_string(),
            ),
        ),
        (
            "DELETE",
            "/api/v1/patients/pat/delegations/999999".into(),
            None,
        ),
        ("GET", "/api/v1/patients/pat/audit".into(), None),
        ("GET", "/api/v1/patients/pat/notifications".into(), None),
        ("POST", "/api/v1/patients/pat/upload-secret".into(), None),
        ("GET", "/api/v1/patients/pat/daily".into(), None),
        ("POST", "/api/v1/patients/pat/pairing-codes".into(), None),
        ("GET", "/api/v1/patients/pat/gateways".into(), None),
        ("GET", "/api/v1/patients/pat/deliveries".into(), None),
        ("GET", "/api/v1/patients/pat/destinations".into(), None),
        (
            "PUT",
            "/api/v1/patients/pat/destinations".into(),
            Some(json!({"destinations": []}).to_string()),
        ),
        (
            "POST",
            "/api/v1/patients/pat/fhir-submissions".into(),
            // This hub has no destinations: 409 once allowed, so nothing is queued.
            Some(json!({"from": Utc::now() - Duration::days(1), "to": Utc::now()}).to_string()),
        ),
        ("GET", "/api/v1/patients/pat/agp-report".into(), None),
        ("GET", "/api/v1/patients/pat/devices".into(), None),
    ]
}

/// What each caller may do on `pat`'s record, written out by hand from the rules in
/// docs/http-api.md (not computed by the code under test). The status expected when
/// allowed: 200, except the POST of a delegation (422: admin cannot be a delegate), the
/// DELETE of a missing delegation (404), the POSTs that create (201) and the FHIR
/// submission on a hub without destinations (409).
fn expected_allowed(
    caller: &str,
    consultation: bool,
    delegation_valid: bool,
    endpoint: usize,
) -> bool {
    let data =
        endpoint <= 1 || endpoint == 10 || endpoint == 12 || endpoint == 16 || endpoint >= 17;
    let consent_read = endpoint == 2 || endpoint == 14;
    let consent_write = endpoint == 3 || endpoint == 15;
    let audit = endpoint == 7 || endpoint == 8 || endpoint == 13;
    match caller {
        "pat" => true,
        "deleg" => delegation_valid && (data || consent_read || consent_write || audit),
        "doc" => consultation && data,
        _ => false,
    }
}

fn allowed_status(endpoint: usize) -> u16 {
    match endpoint {
        5 => 422,
        6 => 404,
        16 => 409,
        9 | 11 => 201,
        _ => 200,
    }
}

#[test]
fn authorisation_matrix_with_one_audit_record_per_third_party_action() {
    let mut hub = TestHub::start("matrix");
    let callers = ["pat", "other", "deleg", "doc", "doc2", "admin"];
    let tokens: Vec<(&str, String)> = callers.iter().map(|c| (*c, hub.login(c))).collect();
    let patient = PatientId("pat".into());
    let mut cells = 0;
    for consultation in [true, false] {
        for delegation_valid in [true, false] {
            let now = Utc::now();
            let mut directory = hub.store.directory();
            directory
                .set_consent(&patient, consultation, false, "pat", now)
                .unwrap();
            for given in directory.delegations_given(&patient).unwrap() {
                directory
                    .revoke_delegation(&patient, given.id, now)
                    .unwrap();
            }
            let expires = if delegation_valid {
                now + Duration::days(1)
            } else {
                now - Duration::seconds(1)
            };
            directory
                .delegate(
                    &patient,
                    "deleg",
                    "parent",
                    &[Scope::Read, Scope::ManageConsent],
                    expires,
                )
                .unwrap();
            for (caller, token) in &tokens {
                for (index, (method, path, body)) in
                    record_endpoints(consultation).into_iter().enumerate()
                {
                    let before = hub.audit_len();
                    let reply = hub.request(method, &path, Some(token), body.as_deref());
                    let allowed = expected_allowed(caller, consultation, delegation_valid, index);
                    let want = if allowed { allowed_status(index) } else { 403 };
                    let cell = format!(
                        "{caller} {method} {path} consent={consultation} delegation={delegation_valid}"
                    );
                    assert_eq!(reply.status, want, "{cell}: {:?}", reply.body);
                    let written = hub.audit_len() - before;
                    if *caller == "pat" {
                        assert_eq!(
                            written, 0,
                            "{cell}: the patient's own access is not audited"
                        );
                    } else {
                        assert_eq!(
                            written, 1,
                            "{cell}: one audit record per third-party action"
                        );
                        let last = hub.store.directory().audit(&patient, None, 1).unwrap();
                        assert_eq!(last[0].actor, *caller, "{cell}");
                        let outcome = if allowed { "allowed" } else { "denied" };
                        assert_eq!(last[0].outcome, outcome, "{cell}");
                    }
                    // Without a token: 401, and nothing audited.
                    let before = hub.audit_len();
                    let anonymous = hub.request(method, &path, None, body.as_deref());
                    assert_eq!(anonymous.status, 401, "anonymous {cell}");
                    assert_eq!(hub.audit_len(), before);
                    cells += 1;
                }
            }
        }
    }
    assert_eq!(cells, 4 * callers.len() * 19);

    // Endpoints outside a patient's record.
    for (caller, token) in &tokens {
        let outbox = hub.request("GET", "/api/v1/admin/deliveries", Some(token), None);
        let want = if *caller == "admin" { 200 } else { 403 };
        assert_eq!(outbox.status, want, "{caller} admin/deliveries");
        let me = hub.request("GET", "/api/v1/me", Some(token), None);
        assert_eq!(me.status, 200, "{caller} /me");
        assert_eq!(me.body["account"]["id"], *caller);
        let list = hub.request("GET", "/api/v1/practitioner/patients", Some(token), None);
        let want = if caller.starts_with("doc") { 200 } else { 403 };
        assert_eq!(list.status, want, "{caller} practitioner/patients");
        let team = hub.request(
            "POST",
            "/api/v1/admin/care-team",
            Some(token),
            Some(r#"{"patient": "pat", "practitioner": "doc"}"#),
        );
        assert_eq!(
            team.status,
            if *caller == "admin" { 204 } else { 403 },
            "{caller} care-team"
        );
        let account = hub.request(
            "POST",
            "/api/v1/admin/accounts",
            Some(token),
            Some(
                &json!({"id": "pat", "role": "patient", "display_name": "x", "login": "new-login",
                        "password": PASSWORD})
                .to_string(),
            ),
        );
        assert_eq!(
            account.status,
            if *caller == "admin" { 409 } else { 403 },
            "{caller} accounts"
        );
    }
}

#[test]
fn revoking_consent_hides_the_patient_from_the_doctor_at_once() {
    let mut hub = TestHub::start("consent");
    let (patient, doctor) = (hub.login("pat"), hub.login("doc"));
    let grant = |hub: &TestHub, consultation: bool| {
        let reply = hub.request(
            "PUT",
            "/api/v1/patients/pat/consent",
            Some(&patient),
            Some(&json!({"consultation": consultation, "fse_opposition": false}).to_string()),
        );
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body["consultation"], consultation);
        assert_eq!(reply.body["updated_by"], "pat");
    };
    grant(&hub, true);
    let list = hub.request("GET", "/api/v1/practitioner/patients", Some(&doctor), None);
    assert_eq!(list.body[0]["id"], "pat");
    let summary = hub.request(
        "GET",
        "/api/v1/patients/pat/glucometrics",
        Some(&doctor),
        None,
    );
    assert_eq!(summary.status, 200);
    assert_eq!(summary.body["readings"], 576);
    grant(&hub, false);
    let list = hub.request("GET", "/api/v1/practitioner/patients", Some(&doctor), None);
    assert_eq!(list.body, json!([]));
    let denied = hub.request("GET", "/api/v1/patients/pat/readings", Some(&doctor), None);
    assert_eq!(denied.status, 403);
    // The patient sees both of the doctor's attempts, and was notified of each.
    let log = hub.request("GET", "/api/v1/patients/pat/audit", Some(&patient), None);
    let entries: Vec<(String, String)> = log
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["action"].as_str().unwrap().into(),
                r["outcome"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("GET readings".to_owned(), "denied".to_owned()),
            ("GET glucometrics".to_owned(), "allowed".to_owned())
        ]
    );
    let notes = hub.request(
        "GET",
        "/api/v1/patients/pat/notifications",
        Some(&patient),
        None,
    );
    assert_eq!(notes.body.as_array().unwrap().len(), 2);
    assert_eq!(hub.audit_len(), 2);
}

#[test]
fn readings_page_through_a_window_without_repeats() {
    let hub = TestHub::start("pages");
    let token = hub.login("pat");
    let mut after: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let path = match &after {
            Some(cursor) => format!("/api/v1/patients/pat/readings?limit=100&after={cursor}"),
            None => "/api/v1/patients/pat/readings?limit=100".to_owned(),
        };
        let page = hub.request("GET", &path, Some(&token), None);
        assert_eq!(page.status, 200, "{:?}", page.body);
        for reading in page.body["readings"].as_array().unwrap() {
            seen.push(reading["time"].as_str().unwrap().to_owned());
        }
        match page.body.get("next").and_then(Value::as_str) {
            Some(next) => after = Some(next.to_owned()),
            None => break,
        }
    }
    let mut unique = seen.clone();
    unique.dedup();
    assert_eq!((seen.len(), unique.len()), (576, 576));
    let times: Vec<DateTime<Utc>> = seen.iter().map(|t| t.parse().unwrap()).collect();
    assert!(times.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn bad_input_gets_a_clear_4xx_problem_and_changes_nothing() {
    let mut hub = TestHub::start("bad-input");
    let token = hub.login("pat");
    let admin = hub.login("admin");
    let huge = format!(
        r#"{{"consultation": true, "fse_opposition": false, "x": "{}"}}"#,
        "a".repeat(100_000)
    );
    let consent = "/api/v1/patients/pat/consent";
    let cases: Vec<(&str, String, Option<String>, &str, u16)> = vec![
        ("PUT", consent.into(), Some("{not json".into()), &token, 400),
        ("PUT", consent.into(), Some(huge), &token, 413),
        ("PUT", consent.into(), Some(r#"{"consultation": "yes", "fse_opposition": false}"#.into()), &token, 422),
        ("PUT", consent.into(), Some(r#"{"consultation": true, "fse_opposition": false, "extra": 1}"#.into()), &token, 422),
        ("PUT", consent.into(), Some(r#"{"consultation": true}"#.into()), &token, 422),
        ("GET", "/api/v1/patients/pat/readings?from=1970-01-01T00:00:00Z".into(), None, &token, 400),
        ("GET", "/api/v1/patients/pat/readings?to=2100-01-01T00:00:00Z".into(), None, &token, 400),
        ("GET", "/api/v1/patients/pat/readings?from=yesterday".into(), None, &token, 400),
        ("GET", "/api/v1/patients/pat/readings?limit=0".into(), None, &token, 400),
        ("GET", "/api/v1/patients/pat/readings?after=1;DROP%20TABLE%20readings".into(), None, &token, 400),
        ("GET", "/api/v1/patients/pat/readings?kind=x%27%20OR%201=1--".into(), None, &token, 200),
        ("GET", "/api/v1/patients/pat%27%20OR%20%271%27=%271/readings".into(), None, &token, 403),
        ("GET", "/api/v1/patients/pat/glucometrics?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z".into(), None, &token, 400),
        ("DELETE", "/api/v1/patients/pat/delegations/not-a-number".into(), None, &token, 400),
        ("POST", "/api/v1/admin/accounts".into(), Some(json!({"id": "x'; DROP TABLE accounts; --", "role": "patient", "display_name": "x", "login": "x", "password": PASSWORD}).to_string()), &admin, 400),
        ("POST", "/api/v1/admin/accounts".into(), Some(json!({"id": "newbie", "role": "patient", "display_name": "x", "login": "newbie", "password": "short"}).to_string()), &admin, 400),
        ("POST", "/api/v1/admin/accounts".into(), Some(json!({"id": "newbie", "role": "superuser", "display_name": "x", "login": "newbie", "password": PASSWORD}).to_string()), &admin, 422),
        ("GET", "/api/v1/nowhere".into(), None, &token, 404),
        ("PATCH", consent.into(), None, &token, 405),
    ];
    for (method, path, body, token, want) in cases {
        let reply = hub.request(method, &path, Some(token), body.as_deref());
        assert_eq!(reply.status, want, "{method} {path}: {:?}", reply.body);
        if want >= 400 {
            assert_eq!(
                reply.content_type, "application/problem+json",
                "{method} {path}"
            );
            assert_eq!(reply.body["status"], want);
            assert!(reply.body["type"]
                .as_str()
                .unwrap()
                .starts_with(super::PROBLEM_BASE));
        }
    }
    // Nothing changed: consent never set, no account created, readings intact.
    let patient = PatientId("pat".into());
    assert!(hub
        .store
        .directory()
        .consent(&patient)
        .unwrap()
        .updated_at
        .is_none());
    assert!(hub.store.directory().account("newbie").unwrap().is_none());
    let count: i64 = hub
        .store
        .sql()
        .query("SELECT COUNT(*) FROM readings", &[])
        .unwrap()[0][0]
        .as_int()
        .unwrap();
    assert_eq!(count, 576);
    // The OpenAPI document and its viewer are public and consistent.
    let spec = hub.request("GET", "/api/v1/openapi.json", None, None);
    assert_eq!(spec.status, 200);
    assert!(spec.body["paths"]["/api/v1/patients/{patient}/readings"]["get"].is_object());
    let viewer = hub.request("GET", "/api/v1/docs", None, None);
    assert_eq!(
        (viewer.status, viewer.content_type.as_str()),
        (200, "text/html; charset=utf-8")
    );
    assert!(viewer
        .body
        .as_str()
        .unwrap()
        .contains("/api/v1/openapi.json"));
    // A body without a JSON content type.
    let url = format!("{}{consent}", hub.base);
    let reply = hub
        .agent
        .put(&url)
        .header("Authorization", &format!("Bearer {token}"))
        .header("Content-Type", "text/plain")
        .send(r#"{"consultation": true, "fse_opposition": false}"#)
        .unwrap();
    assert_eq!(reply.status().as_u16(), 415);
}

#[test]
fn logins_are_checked_rate_limited_and_tokens_unforgeable() {
    let hub = TestHub::start("login");
    let attempt = |login: &str, password: &str| {
        hub.request(
            "POST",
            "/api/v1/auth/login",
            None,
            Some(&json!({"login": login, "password": password}).to_string()),
        )
    };
    // Wrong password and unknown login look the same.
    let wrong = attempt("pat", "wrong password");
    let unknown = attempt("nobody", "wrong password");
    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(wrong.body, unknown.body);
    for _ in 1..MAX_FAILED_LOGINS {
        assert_eq!(attempt("pat", "wrong password").status, 401);
    }
    // Locked, even with the right password; other logins unaffected.
    let locked = attempt("pat", PASSWORD);
    assert_eq!(locked.status, 429);
    assert!(locked.retry_after.unwrap().parse::<u64>().unwrap() > 0);
    assert_eq!(attempt("doc", PASSWORD).status, 200);
    // A token of another hub, a tampered token, a token that is not one.
    let (foreign, _) = TokenKey::generate()
        .unwrap()
        .issue("pat", Role::Patient, Utc::now());
    let good = hub.login("doc");
    let tampered = format!("{}x", &good[..good.len() - 1]);
    for token in [
        foreign.as_str(),
        tampered.as_str(),
        "v1.e30.AAAA",
        "garbage",
    ] {
        let reply = hub.request("GET", "/api/v1/me", Some(token), None);
        assert_eq!(reply.status, 401, "{token}");
    }
    assert_eq!(
        hub.request("GET", "/api/v1/me", Some(&good), None).status,
        200
    );
}

#[test]
fn a_cached_summary_is_recomputed_when_its_window_gains_a_reading() {
    let mut hub = TestHub::start("summary-cache");
    let token = hub.login("pat");
    let to = (Utc::now() + Duration::minutes(10)).format("%Y-%m-%dT%H:%M:%SZ");
    let path = format!("/api/v1/patients/pat/glucometrics?to={to}");
    let first = hub.request("GET", &path, Some(&token), None);
    let again = hub.request("GET", &path, Some(&token), None);
    assert_eq!(first.body, again.body);
    assert_eq!(first.body["readings"], 576);
    // A late (backfilled) reading inside the window, older than the newest one.
    let late = crate::store::suite::reading("S2", 1, 300.0, Utc::now() - Duration::hours(30));
    hub.store
        .store_readings(&PatientId("pat".into()), &[late], Utc::now())
        .unwrap();
    let after = hub.request("GET", &path, Some(&token), None);
    assert_eq!(after.body["readings"], 577);
    assert!(after.body["statistics"]["max"].as_f64().unwrap() >= 300.0);
}

#[test]
fn nightscout_uploads_are_stored_once_and_read_back_with_the_secret() {
    let hub = TestHub::start("nightscout");
    // `other` has no readings yet.
    let token = hub.login("other");
    let made = hub.request(
        "POST",
        "/api/v1/patients/other/upload-secret",
        Some(&token),
        None,
    );
    assert_eq!(made.status, 201);
    let secret = made.body["secret"].as_str().unwrap().to_owned();
    let header = super::nightscout::api_secret_header(&secret);
    assert_eq!(made.body["api_secret_header"], header.as_str());
    let send = |method: &str, path: &str, api_secret: &str, body: Option<String>| {
        let url = format!("{}{path}", hub.base);
        let mut request = ureq::http::Request::builder()
            .method(method)
            .uri(&url)
            .header("api-secret", api_secret)
            .header("Content-Type", "application/json");
        request = request.header("Accept", "application/json");
        let mut reply = hub
            .agent
            .run(request.body(body.unwrap_or_default()).unwrap())
            .unwrap();
        let rejected = reply
            .headers()
            .get("x-pghd-rejected")
            .map(|v| v.to_str().unwrap().to_owned());
        let status = reply.status().as_u16();
        let text = reply.body_mut().read_to_string().unwrap_or_default();
        (
            status,
            serde_json::from_str::<Value>(&text).unwrap_or(Value::Null),
            rejected,
        )
    };
    // xDrip+'s upload: sgv entries with date (ms), dateString, direction, device; one
    // Dexcom status code (5: not calibrated), which is not glucose.
    let now = Utc::now().timestamp_millis() / 60_000 * 60_000;
    let entries: Vec<Value> = (0..12)
        .map(|i| {
            let date = now - (12 - i) * 300_000;
            json!({"type": "sgv", "sgv": 100 + i, "direction": "Flat", "date": date,
                   "dateString": DateTime::from_timestamp_millis(date).unwrap().to_rfc3339(),
                   "device": "xDrip-LibreReceiver", "utcOffset": 60})
        })
        .chain([json!({"type": "sgv", "sgv": 5, "date": now, "device": "xDrip-LibreReceiver"})])
        .collect();
    let body = serde_json::to_string(&entries).unwrap();
    let (status, taken, rejected) = send("POST", "/api/v1/entries", &header, Some(body.clone()));
    assert_eq!(status, 200, "{taken}");
    assert_eq!(taken.as_array().unwrap().len(), 12);
    assert_eq!(rejected.as_deref(), Some("1"));
    let count = |hub: &TestHub| -> i64 {
        let mut store = SqliteStore::open(&hub.directory.join("hub.sqlite")).unwrap();
        store
            .sql()
            .query(
                "SELECT COUNT(*) FROM readings WHERE patient_id = 'other'",
                &[],
            )
            .unwrap()[0][0]
            .as_int()
            .unwrap()
    };
    assert_eq!(count(&hub), 12);
    // The same upload again (a retry): nothing stored twice.
    let (status, _, _) = send(
        "POST",
        "/api/v1/entries.json",
        &header.to_uppercase(),
        Some(body),
    );
    assert_eq!(status, 200);
    assert_eq!(count(&hub), 12);
    // Read back, newest first, as Nightscout clients expect.
    let (status, newest, _) = send("GET", "/api/v1/entries/sgv.json?count=3", &header, None);
    assert_eq!(status, 200);
    let values: Vec<i64> = newest
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["sgv"].as_i64().unwrap())
        .collect();
    assert_eq!(values, [111, 110, 109]);
    assert_eq!(newest[0]["date"], now - 300_000);
    // +1 mg/dL in 5 minutes: a delta of 1 and a flat arrow.
    assert_eq!(
        (newest[0]["delta"].as_f64(), newest[0]["direction"].as_str()),
        (Some(1.0), Some("Flat"))
    );
    let (status, info, _) = send("GET", "/api/v1/status.json", &header, None);
    assert_eq!((status, info["status"].as_str()), (200, Some("ok")));
    // A wrong secret, no secret, a rotated-out secret: 401, nothing stored.
    let wrong = super::nightscout::api_secret_header("guess");
    assert_eq!(
        send("POST", "/api/v1/entries", &wrong, Some("[]".into())).0,
        401
    );
    assert_eq!(send("GET", "/api/v1/entries", "", None).0, 401);
    hub.request(
        "POST",
        "/api/v1/patients/other/upload-secret",
        Some(&token),
        None,
    );
    assert_eq!(send("GET", "/api/v1/entries", &header, None).0, 401);
    // Not JSON: 400.
    let made = hub.request(
        "POST",
        "/api/v1/patients/other/upload-secret",
        Some(&token),
        None,
    );
    let header = super::nightscout::api_secret_header(made.body["secret"].as_str().unwrap());
    assert_eq!(
        send("POST", "/api/v1/entries", &header, Some("{oops".into())).0,
        400
    );
    // Only clock errors (1970, 2100) or status codes: 422, nothing stored.
    let bad_times = json!([
        {"type": "sgv", "sgv": 120, "date": 0, "device": "x"},
        {"type": "sgv", "sgv": 121, "date": 4_102_444_800_000_i64, "device": "x"},
        {"type": "sgv", "sgv": 5, "date": now, "device": "x"}
    ]);
    let (status, problem, _) = send(
        "POST",
        "/api/v1/entries",
        &header,
        Some(bad_times.to_string()),
    );
    assert_eq!(status, 422, "{problem}");
    assert_eq!(count(&hub), 12);
    assert_eq!(count(&hub), 12);
}

#[test]
fn every_documented_operation_is_served_and_every_served_route_documented() {
    let hub = TestHub::start("openapi");
    let spec: Value = serde_json::from_str(super::OPENAPI).unwrap();
    let token = hub.login("pat");
    let mut operations = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{patient}", "pat")
                .replace("{delegation}", "1");
            let reply = hub.request(&method.to_uppercase(), &concrete, Some(&token), None);
            assert_ne!(reply.body["detail"], "no such endpoint", "{method} {path}");
            assert_ne!(reply.status, 405, "{method} {path}");
            operations += 1;
        }
    }
    assert!(operations >= 25, "{operations}");
    // And the other way round: the router's routes, as written in `router`, are all in
    // the document.
    let source = include_str!("mod.rs");
    for line in source.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix(".route(\"") {
            let path = rest.split('"').next().unwrap();
            assert!(
                spec["paths"].get(path).is_some(),
                "{path} is served but not documented"
            );
        }
    }
    for path in source
        .split("\"/api/v1/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|p| !p.contains(' '))
    {
        let full = format!("/api/v1/{path}");
        if source.contains(&format!("\"{full}\",")) && !full.ends_with('/') {
            assert!(
                spec["paths"].get(&full).is_some(),
                "{full} is served but not documented"
            );
        }
    }
}
