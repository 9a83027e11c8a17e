use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use chrono::{DateTime, Utc};

use super::*;
use crate::store::directory::{NewAccount, Role};
use crate::store::sqlite::SqliteStore;

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_737_000_000 + seconds, 0).unwrap()
}

#[test]
fn verdicts_follow_the_status() {
    let now = at(0);
    assert_eq!(verdict(200, None, "", now), Verdict::Sent { receipt: None });
    assert_eq!(verdict(201, None, "", now), Verdict::Sent { receipt: None });
    assert_eq!(
        verdict(429, Some("120"), "slow down", now),
        Verdict::Retry {
            reason: "HTTP 429: slow down".into(),
            retry_after: Some(Duration::from_secs(120))
        }
    );
    // An HTTP-date 90 s ahead.
    let date = (now + chrono::Duration::seconds(90)).to_rfc2822();
    assert!(matches!(
        verdict(503, Some(&date), "", now),
        Verdict::Retry { retry_after: Some(d), .. } if d == Duration::from_secs(90)
    ));
    assert!(matches!(
        verdict(500, Some("soon"), "", now),
        Verdict::Retry {
            retry_after: None,
            ..
        }
    ));
    assert!(matches!(verdict(408, None, "", now), Verdict::Retry { .. }));
    assert_eq!(
        verdict(
            422,
            None,
            "  {\"resourceType\":\"OperationOutcome\"}  ",
            now
        ),
        Verdict::Refused("HTTP 422: {\"resourceType\":\"OperationOutcome\"}".into())
    );
    assert!(matches!(verdict(401, None, "", now), Verdict::Refused(_)));
}

#[test]
fn retry_delays_grow_with_jitter_and_honour_the_receiver() {
    assert_eq!(retry_delay(1, None, 0.0), Duration::from_secs(15));
    assert_eq!(retry_delay(1, None, 1.0), Duration::from_secs(30));
    assert_eq!(retry_delay(3, None, 1.0), Duration::from_secs(120));
    assert_eq!(retry_delay(40, None, 1.0), LONGEST_RETRY);
    assert_eq!(retry_delay(40, None, 0.5), LONGEST_RETRY.mul_f64(0.75));
    assert_eq!(
        retry_delay(5, Some(Duration::from_secs(7)), 0.9),
        Duration::from_secs(7)
    );
    let mut jitter = jitter_source(7);
    let draws: Vec<f64> = (0..1000).map(|_| jitter()).collect();
    assert!(draws.iter().all(|d| (0.0..1.0).contains(d)));
    let mean = draws.iter().sum::<f64>() / 1000.0;
    assert!((0.4..0.6).contains(&mean), "{mean}");
}

#[test]
fn destination_files_are_checked() {
    let dir = std::env::temp_dir().join(format!("pghd-dest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("d.json");
    std::fs::write(
        &file,
        r#"[{"name":"fse","kind":"fse","base_url":"https://fse.example/fhir"},
            {"name":"mmg","kind":"care_team","base_url":"http://gp.example/fhir","auth":{"type":"none"}}]"#,
    )
    .unwrap();
    let loaded = load_destinations(&file).unwrap();
    assert_eq!(loaded[1].kind, DestinationKind::CareTeam);
    std::fs::write(&file, r#"[{"name":"a","kind":"fse","base_url":"ftp://x"}]"#).unwrap();
    assert!(load_destinations(&file)
        .unwrap_err()
        .contains("http:// or https://"));
    std::fs::write(
        &file,
        r#"[{"name":"a","kind":"fax","base_url":"http://x"}]"#,
    )
    .unwrap();
    assert!(load_destinations(&file)
        .unwrap_err()
        .contains("not a list of destinations"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A store with one patient (codice fiscale set) and 300 CGM readings.
fn store_with_patient() -> SqliteStore {
    let mut store = SqliteStore::in_memory().unwrap();
    store
        .directory()
        .create_account(
            &NewAccount {
                id: "p1",
                role: Role::Patient,
                display_name: "Mario Rossi",
                login: "p1",
                password_hash: "x",
                time_zone: "Europe/Rome",
            },
            at(0),
        )
        .unwrap();
    store
        .directory()
        .set_fiscal_code("p1", "RSSMRA85T10A562S")
        .unwrap();
    let readings = crate::fhir::tests::fourteen_days();
    store
        .store_readings(&PatientId("p1".into()), &readings[..300], at(0))
        .unwrap();
    store
}

fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    let readings = crate::fhir::tests::fourteen_days();
    (readings[0].time, readings[300].time)
}

fn destinations(url: &str) -> Vec<Destination> {
    vec![
        Destination {
            name: "fse".into(),
            kind: DestinationKind::Fse,
            base_url: url.into(),
            auth: DestinationAuth::None,
            protocol: Protocol::FhirTransaction,
            tls: None,
        },
        Destination {
            name: "mmg".into(),
            kind: DestinationKind::CareTeam,
            base_url: url.into(),
            auth: DestinationAuth::None,
            protocol: Protocol::FhirTransaction,
            tls: None,
        },
    ]
}

#[test]
fn queueing_follows_consent_opposition_and_choice_and_never_twice() {
    let mut store = store_with_patient();
    let patient = PatientId("p1".into());
    let dest = destinations("http://127.0.0.1:9/fhir");
    let report = enqueue_window(&mut store, &dest, &patient, window(), true, None, at(10)).unwrap();
    assert_eq!(report.readings, 300);
    assert!(report.summary);
    assert_eq!(
        report.queued.len(),
        1,
        "the FSE only: the GP's record was not chosen"
    );
    assert_eq!(
        report.withheld[0].1,
        "withheld: the patient has not chosen this record"
    );
    store
        .directory()
        .set_destinations(&patient, &["mmg".into()])
        .unwrap();
    let again = enqueue_window(&mut store, &dest, &patient, window(), true, None, at(20)).unwrap();
    assert_eq!(
        again.queued[0],
        Queued {
            new: false,
            ..report.queued[0].clone()
        }
    );
    assert_eq!(
        again.withheld[0].1,
        "withheld: the patient does not consent to consultation"
    );
    store
        .directory()
        .set_consent(&patient, true, true, "p1", at(30))
        .unwrap();
    let consented =
        enqueue_window(&mut store, &dest, &patient, window(), true, None, at(40)).unwrap();
    assert_eq!(consented.queued.len(), 1);
    assert_eq!(consented.queued[0].destination, "mmg");
    assert_eq!(
        consented.withheld[0].1,
        "withheld: the patient opposes forwarding to the FSE"
    );
    let empty = (
        window().1 + chrono::Duration::days(30),
        window().1 + chrono::Duration::days(31),
    );
    assert!(matches!(
        enqueue_window(&mut store, &dest, &patient, empty, true, None, at(50)),
        Err(DeliveryError::NothingToSend { .. })
    ));
}

/// A receiver answering from a script of statuses, recording what it got.
async fn scripted_receiver(
    script: Vec<(u16, Option<&'static str>)>,
) -> (String, Arc<Mutex<Vec<(HeaderMap, String)>>>) {
    let received = Arc::new(Mutex::new(Vec::new()));
    let script = Arc::new(Mutex::new(script.into_iter()));
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/fhir",
        post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            let script = script.clone();
            async move {
                seen.lock().unwrap().push((headers, body));
                let (status, retry_after) = script.lock().unwrap().next().unwrap_or((200, None));
                let mut response_headers = HeaderMap::new();
                if let Some(value) = retry_after {
                    response_headers.insert("retry-after", value.parse().unwrap());
                }
                (
                    StatusCode::from_u16(status).unwrap(),
                    response_headers,
                    "{}",
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fhir", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rounds_retry_as_asked_and_stop_when_the_patient_opposes() {
    let (url, received) =
        scripted_receiver(vec![(503, Some("120")), (200, None), (400, None)]).await;
    tokio::task::spawn_blocking(move || {
        let mut store = store_with_patient();
        let patient = PatientId("p1".into());
        let dest = destinations(&url);
        let mut client = Client::new(&dest).unwrap();
        let mut half = || 0.5;
        let queued =
            enqueue_window(&mut store, &dest, &patient, window(), true, None, at(0)).unwrap();
        let id = queued.queued[0].id;
        // 503 + Retry-After: 120 → pending, due in two minutes, not before.
        let r = deliver_round(&mut store, &dest, &mut client, at(0), &mut half).unwrap();
        assert_eq!((r.sent, r.retried), (0, 1));
        let item = &store.outbox().for_patient(&patient).unwrap()[0];
        assert_eq!(item.next_attempt_at, at(120));
        assert_eq!(item.last_error.as_deref(), Some("HTTP 503: {}"));
        assert_eq!(
            deliver_round(&mut store, &dest, &mut client, at(60), &mut half).unwrap(),
            RoundReport::default()
        );
        // Then 200 → sent, once.
        let r = deliver_round(&mut store, &dest, &mut client, at(120), &mut half).unwrap();
        assert_eq!(r.sent, 1);
        let item = &store.outbox().for_patient(&patient).unwrap()[0];
        assert_eq!(
            (item.id, item.status, item.attempts),
            (id, OutboxStatus::Sent, 2)
        );
        {
            let got = received.lock().unwrap();
            assert_eq!(got.len(), 2);
            assert_eq!(got[0].1, got[1].1, "a retry sends the same Bundle");
            assert_eq!(got[1].0["content-type"], "application/fhir+json");
            let bundle: serde_json::Value = serde_json::from_str(&got[1].1).unwrap();
            assert_eq!(bundle["type"], "transaction");
        }
        // New data queued, then the patient opposes before it goes: withheld, not sent.
        let more = crate::fhir::tests::fourteen_days();
        store
            .store_readings(&patient, &more[300..400], at(200))
            .unwrap();
        let wider = (window().0, more[400].time);
        enqueue_window(&mut store, &dest, &patient, wider, true, None, at(200)).unwrap();
        store
            .directory()
            .set_consent(&patient, false, true, "p1", at(210))
            .unwrap();
        let r = deliver_round(&mut store, &dest, &mut client, at(220), &mut half).unwrap();
        assert_eq!(r.failed, 1);
        let newest = &store.outbox().for_patient(&patient).unwrap()[0];
        assert_eq!(newest.status, OutboxStatus::Failed);
        assert_eq!(
            newest.last_error.as_deref(),
            Some("withheld: the patient opposes forwarding to the FSE")
        );
        assert_eq!(
            received.lock().unwrap().len(),
            2,
            "nothing more reached the receiver"
        );
    })
    .await
    .unwrap();
}

#[test]
fn the_schedule_queues_recent_days_and_the_last_period_once() {
    let mut store = store_with_patient();
    let readings = crate::fhir::tests::fourteen_days();
    let patient = PatientId("p1".into());
    store.store_readings(&patient, &readings, at(0)).unwrap();
    let dest = destinations("http://127.0.0.1:9/fhir");
    // 2025-01-16 10:00 in Rome: day 20104 since 1970, a period boundary.
    let now = DateTime::parse_from_rfc3339("2025-01-16T10:00:00+01:00")
        .unwrap()
        .with_timezone(&Utc);
    let mut seen = std::collections::HashMap::new();
    assert_eq!(
        schedule_round(&mut store, &dest, &mut seen, now).unwrap(),
        4,
        "three days and one summary, FSE only"
    );
    assert_eq!(
        schedule_round(&mut store, &dest, &mut seen, now).unwrap(),
        0,
        "nothing twice"
    );
    // Nor after a restart (nothing seen yet): the outbox keys say it is queued.
    assert_eq!(
        schedule_round(&mut store, &dest, &mut Default::default(), now).unwrap(),
        0
    );
    let items = store.outbox().for_patient(&patient).unwrap();
    let summary = items
        .iter()
        .find(|i| i.idempotency_key.starts_with("summary/"))
        .unwrap();
    assert!(
        summary
            .idempotency_key
            .starts_with("summary/2025-01-01T23:00:00Z/2025-01-15T23:00:00Z/"),
        "{}",
        summary.idempotency_key
    );
    let day = items
        .iter()
        .find(|i| {
            i.idempotency_key
                .starts_with("readings/2025-01-13T23:00:00Z/")
        })
        .unwrap();
    let bundle: serde_json::Value = serde_json::from_str(&day.body).unwrap();
    let observations = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["resource"]["resourceType"] == "Observation")
        .count();
    assert!(
        (200..=288).contains(&observations),
        "one local day of 5-minute readings: {observations}"
    );
}

/// A SMART token endpoint that checks the client assertion against the registered
/// JWK and claims, and a FHIR receiver that wants its token; counts token requests.
async fn smart_peer(
    jwk: serde_json::Value,
    client_id: &'static str,
) -> (String, String, Arc<Mutex<usize>>) {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use ring::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let token_url = format!("{base}/token");
    let issued = Arc::new(Mutex::new(0_usize));
    let (count, audience) = (issued.clone(), token_url.clone());
    let token = move |body: String| {
        let (jwk, count, audience) = (jwk.clone(), count.clone(), audience.clone());
        async move {
            let form: std::collections::HashMap<String, String> = body
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.replace("%3A", ":").replace("%2F", "/")))
                .collect();
            let refuse = |why: &str| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("{{\"error\":\"invalid_client\",\"error_description\":\"{why}\"}}"),
                )
            };
            if form.get("grant_type").map(String::as_str) != Some("client_credentials")
                || form.get("client_assertion_type").map(String::as_str)
                    != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            {
                return refuse("grant");
            }
            let jwt = &form["client_assertion"];
            let parts: Vec<&str> = jwt.split('.').collect();
            let header: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
            let claims: serde_json::Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
            if header["kid"] != jwk["kid"] || header["alg"] != "ES384" {
                return refuse("unknown key");
            }
            let mut point = vec![4_u8];
            point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
            point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
            let signed = format!("{}.{}", parts[0], parts[1]);
            if UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &point)
                .verify(
                    signed.as_bytes(),
                    &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
                )
                .is_err()
            {
                return refuse("signature");
            }
            if claims["iss"] != client_id
                || claims["sub"] != client_id
                || claims["aud"] != audience.as_str()
            {
                return refuse("claims");
            }
            *count.lock().unwrap() += 1;
            (
                StatusCode::OK,
                r#"{"access_token":"tok-1","token_type":"bearer","expires_in":300}"#.to_owned(),
            )
        }
    };
    // The receiver reads the whole body before answering, as a FHIR server does: an
    // answer sent while the hub is still writing a large Bundle breaks the pipe.
    let receiver = |headers: HeaderMap, _bundle: String| async move {
        if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer tok-1") {
            (StatusCode::OK, "{}")
        } else {
            (StatusCode::UNAUTHORIZED, "{}")
        }
    };
    let app = axum::Router::new()
        .route("/token", post(token))
        .route("/fhir", post(receiver));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("{base}/fhir"), token_url, issued)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smart_backend_tokens_are_fetched_once_and_sent_as_bearer() {
    use ring::signature::{EcdsaKeyPair, ECDSA_P384_SHA384_FIXED_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
    let key = crate::smart::ClientKey::from_pkcs8(pkcs8.as_ref()).unwrap();
    let (fhir, token_url, issued) = smart_peer(key.public_jwk("hub-key-1"), "pghd-hub").await;
    let dir = std::env::temp_dir().join(format!("pghd-smart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let key_file = dir.join("hub.p8");
    std::fs::write(&key_file, pkcs8.as_ref()).unwrap();
    let missing = dir.join("missing.p8");
    tokio::task::spawn_blocking(move || {
        let smart = |kid: &str| DestinationAuth::SmartBackend {
            token_url: token_url.clone(),
            client_id: "pghd-hub".into(),
            key_file: key_file.clone(),
            kid: kid.into(),
            scope: default_scope(),
        };
        let mut dest = destinations(&fhir);
        dest.truncate(1);
        dest[0].auth = smart("hub-key-1");
        let mut store = store_with_patient();
        let patient = PatientId("p1".into());
        let mut client = Client::new(&dest).unwrap();
        let mut half = || 0.5;
        let (from, to) = window();
        enqueue_window(&mut store, &dest, &patient, (from, to), true, None, at(0)).unwrap();
        enqueue_window(
            &mut store,
            &dest,
            &patient,
            (from, from + chrono::Duration::hours(2)),
            false,
            None,
            at(0),
        )
        .unwrap();
        let r = deliver_round(&mut store, &dest, &mut client, at(0), &mut half).unwrap();
        assert_eq!(
            r.sent,
            2,
            "{:?}",
            store.outbox().for_patient(&patient).unwrap()
        );
        assert_eq!(*issued.lock().unwrap(), 1, "one token for both submissions");
        // A key the token endpoint does not know: no token, the item waits with the reason.
        dest[0].auth = smart("unknown-key");
        let mut client = Client::new(&dest).unwrap();
        enqueue_window(
            &mut store,
            &dest,
            &patient,
            (from, from + chrono::Duration::hours(1)),
            false,
            None,
            at(10),
        )
        .unwrap();
        let r = deliver_round(&mut store, &dest, &mut client, at(10), &mut half).unwrap();
        assert_eq!(r.retried, 1);
        let item = &store.outbox().for_patient(&patient).unwrap()[0];
        assert!(
            item.last_error.as_deref().unwrap().contains("unknown key"),
            "{:?}",
            item.last_error
        );
        // A destination whose key file is missing is refused at start-up, by name.
        dest[0].auth = DestinationAuth::SmartBackend {
            token_url: "http://x".into(),
            client_id: "c".into(),
            key_file: missing,
            kid: "k".into(),
            scope: default_scope(),
        };
        assert!(Client::new(&dest)
            .unwrap_err()
            .contains("destination \"fse\": cannot read"));
    })
    .await
    .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_operation_s_answer_is_read_entry_by_entry() {
    let response = |statuses: &[&str]| {
        serde_json::json!({
            "resourceType": "Bundle",
            "type": "transaction-response",
            "entry": statuses.iter().map(|s| serde_json::json!({"response": {"status": s,
                "outcome": {"resourceType": "OperationOutcome",
                            "issue": [{"severity": "error", "code": "invalid", "diagnostics": "bad unit"}]}}}))
                .collect::<Vec<_>>(),
        })
        .to_string()
    };
    assert_eq!(
        operation_verdict(&response(&["201 Created", "200 OK"])),
        Verdict::Sent { receipt: None }
    );
    assert_eq!(operation_verdict(""), Verdict::Sent { receipt: None });
    assert_eq!(
        operation_verdict(&response(&["201 Created", "422 Unprocessable Entity"])),
        Verdict::Refused(
            "1 of 2 entries not accepted: entry 1: 422 Unprocessable Entity bad unit".into()
        )
    );
    assert!(matches!(
        operation_verdict(&response(&["400", "503 Service Unavailable"])),
        Verdict::Retry { .. }
    ));
    assert!(matches!(
        operation_verdict(r#"{"resourceType":"OperationOutcome"}"#),
        Verdict::Refused(reason) if reason.contains("OperationOutcome")
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_cgm_bundle_posts_the_bundle_to_the_operation() {
    let received = Arc::new(Mutex::new(Vec::new()));
    let seen = received.clone();
    let app = axum::Router::new().route(
        "/fhir/$submit-cgm-bundle",
        post(move |body: String| {
            let seen = seen.clone();
            async move {
                let bundle: serde_json::Value = serde_json::from_str(&body).unwrap();
                let entries = bundle["entry"].as_array().unwrap().len();
                seen.lock().unwrap().push(bundle);
                let answer = serde_json::json!({
                    "resourceType": "Bundle",
                    "type": "transaction-response",
                    "entry": vec![serde_json::json!({"response": {"status": "201 Created"}}); entries],
                });
                (StatusCode::OK, answer.to_string())
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fhir", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    tokio::task::spawn_blocking(move || {
        let mut store = store_with_patient();
        let patient = PatientId("p1".into());
        let mut dest = destinations(&url);
        dest.truncate(1);
        dest[0].protocol = Protocol::SubmitCgmBundle;
        let mut client = Client::new(&dest).unwrap();
        enqueue_window(&mut store, &dest, &patient, window(), true, None, at(0)).unwrap();
        let r = deliver_round(&mut store, &dest, &mut client, at(0), &mut || 0.5).unwrap();
        assert_eq!(r.sent, 1, "{:?}", store.outbox().for_patient(&patient));
        let got = received.lock().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0]["type"], "transaction");
    })
    .await
    .unwrap();
}
