//! The test suite every backend passes (run against SQLite always and PostgreSQL when a
//! server is configured; see `tests` in `sqlite.rs` and `postgres.rs`).

use chrono::{DateTime, Duration, Utc};
use device_adapters::reading::{
    DeviceIdentity, DeviceTime, Measurement, Reading, ReadingSource, RecordId,
};

use super::directory::{GatewayCredential, GatewayKind, NewAccount, PairingRefusal, Role, Scope};
use super::{PatientId, ReadingQuery, ReadingStore};

pub(crate) fn reading(serial: &str, offset_min: u32, mg_dl: f64, time: DateTime<Utc>) -> Reading {
    Reading {
        measurement: Measurement::glucose(mg_dl, true),
        time,
        local_offset_min: Some(60),
        device_time: DeviceTime::SessionOffset {
            session_start: time.naive_utc(),
            session_utc_offset_min: Some(60),
            offset_min,
        },
        device: DeviceIdentity {
            serial: Some(serial.into()),
            ..DeviceIdentity::default()
        },
        record: RecordId::Session {
            session_start: "2025-01-01T00:00:00".into(),
            offset_min,
        },
        flags: Vec::new(),
        source: ReadingSource::Ble {
            characteristic: 0x2AA7,
        },
    }
}

fn start() -> DateTime<Utc> {
    DateTime::from_timestamp(1_735_689_600, 0).unwrap()
}

fn all(
    store: &mut dyn ReadingStore,
    patient: &PatientId,
    kind: Option<&str>,
    page: usize,
) -> Vec<Reading> {
    let mut query = ReadingQuery {
        patient: patient.clone(),
        kind: kind.map(str::to_owned),
        from: DateTime::from_timestamp(0, 0).unwrap(),
        to: DateTime::from_timestamp(4_200_000_000, 0).unwrap(),
        after: None,
        limit: page,
    };
    let mut out = Vec::new();
    loop {
        let result = store.readings(&query).unwrap();
        assert!(result.readings.len() <= page);
        out.extend(result.readings);
        match result.next {
            Some(cursor) => query.after = Some(cursor),
            None => return out,
        }
    }
}

/// Runs every check on `store`, which must be empty.
pub(crate) fn run(store: &mut dyn ReadingStore) {
    readings(store);
    directory(store);
    outbox(store);
}

/// The delivery outbox: once per key, due order, attempts, and the patient's view.
fn outbox(store: &mut dyn ReadingStore) {
    use super::outbox::OutboxStatus;
    let now = start();
    let patient = PatientId("pat-1".into());
    let mut outbox = store.outbox();
    let (first, new) = outbox
        .enqueue(&patient, "fse", "bundle-1", "{}", now)
        .unwrap();
    assert!(new);
    let (again, new) = outbox
        .enqueue(&patient, "fse", "bundle-1", "{}", now)
        .unwrap();
    assert_eq!(
        (again, new),
        (first, false),
        "the same submission is queued once"
    );
    let (other, _) = outbox
        .enqueue(&patient, "gp", "bundle-1", "{}", now)
        .unwrap();
    assert_ne!(other, first, "another destination is another item");
    let (later, _) = outbox
        .enqueue(
            &patient,
            "fse",
            "bundle-2",
            "{}",
            now + Duration::seconds(1),
        )
        .unwrap();
    assert_eq!(
        outbox
            .due(now, 10)
            .unwrap()
            .iter()
            .map(|i| i.id)
            .collect::<Vec<_>>(),
        [first, other]
    );
    // A 503: retried in a minute; then accepted.
    outbox
        .record_attempt(
            first,
            OutboxStatus::Pending,
            Some("503"),
            None,
            now + Duration::minutes(1),
            now,
        )
        .unwrap();
    let due: Vec<i64> = outbox
        .due(now + Duration::seconds(2), 10)
        .unwrap()
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(due, [other, later]);
    outbox
        .record_attempt(
            first,
            OutboxStatus::Sent,
            None,
            Some("workflow-1"),
            now,
            now + Duration::minutes(1),
        )
        .unwrap();
    // A 400: given up, with the reason.
    outbox
        .record_attempt(
            other,
            OutboxStatus::Failed,
            Some("400: invalid bundle"),
            None,
            now,
            now,
        )
        .unwrap();
    let items = outbox.for_patient(&patient).unwrap();
    let first_item = items.iter().find(|i| i.id == first).unwrap();
    assert_eq!(
        (first_item.status, first_item.attempts),
        (OutboxStatus::Sent, 2)
    );
    assert_eq!(first_item.sent_at, Some(now + Duration::minutes(1)));
    assert_eq!(first_item.receipt.as_deref(), Some("workflow-1"));
    let failed = items.iter().find(|i| i.id == other).unwrap();
    assert_eq!(failed.last_error.as_deref(), Some("400: invalid bundle"));
    assert_eq!(outbox.due(now + Duration::hours(1), 10).unwrap().len(), 1);
    // The admin's listing: newest first, filtered by status, the same fields as the
    // patient's view but the body.
    let failed_only = outbox.recent(Some(OutboxStatus::Failed), 10).unwrap();
    assert_eq!(failed_only.len(), 1);
    assert_eq!(
        failed_only[0],
        crate::store::outbox::OutboxSummary::from(failed.clone())
    );
    // The patient's own listing: the same, without bodies, newest first.
    let mine = outbox.summaries_for_patient(&patient, 10).unwrap();
    assert_eq!(
        mine,
        items
            .iter()
            .cloned()
            .map(crate::store::outbox::OutboxSummary::from)
            .collect::<Vec<_>>()
    );
    let all = outbox.recent(None, 10).unwrap();
    assert_eq!(all.len(), items.len());
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
}

fn new_account<'a>(id: &'a str, role: Role) -> NewAccount<'a> {
    NewAccount {
        id,
        role,
        display_name: id,
        login: id,
        password_hash: "$argon2id$not-a-real-hash",
        time_zone: "Europe/Rome",
    }
}

/// Accounts, care teams, consent, delegations, audit and its outbox.
fn directory(store: &mut dyn ReadingStore) {
    let now = start();
    let mut directory = store.directory();
    for (id, role) in [
        ("pat-1", Role::Patient),
        ("pat-2", Role::Patient),
        ("doc-1", Role::Practitioner),
        ("parent-1", Role::Delegate),
    ] {
        directory
            .create_account(&new_account(id, role), now)
            .unwrap();
    }
    // Logins are unique.
    assert!(directory
        .create_account(
            &NewAccount {
                id: "other",
                ..new_account("pat-1", Role::Patient)
            },
            now
        )
        .is_err());
    let (account, hash) = directory.credentials("pat-1").unwrap().unwrap();
    assert_eq!(
        (account.role, hash.as_str()),
        (Role::Patient, "$argon2id$not-a-real-hash")
    );
    assert!(directory.credentials("nobody").unwrap().is_none());
    assert_eq!(
        directory.account("doc-1").unwrap().unwrap().role,
        Role::Practitioner
    );

    // Consent defaults to none; the doctor sees only consenting patients of the team.
    let (p1, p2) = (PatientId("pat-1".into()), PatientId("pat-2".into()));
    assert!(!directory.consent(&p1).unwrap().consultation);
    directory.add_to_care_team(&p1, "doc-1", now).unwrap();
    directory.add_to_care_team(&p1, "doc-1", now).unwrap();
    directory.add_to_care_team(&p2, "doc-1", now).unwrap();
    assert!(directory.in_care_team(&p1, "doc-1").unwrap());
    assert!(!directory.in_care_team(&p1, "parent-1").unwrap());
    assert!(directory.consenting_patients("doc-1").unwrap().is_empty());
    let consent = directory
        .set_consent(&p1, true, false, "pat-1", now)
        .unwrap();
    assert!(consent.consultation && !consent.fse_opposition);
    assert_eq!(consent.updated_by.as_deref(), Some("pat-1"));
    directory
        .set_consent(&p2, false, true, "pat-2", now)
        .unwrap();
    let ids: Vec<String> = directory
        .consenting_patients("doc-1")
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    assert_eq!(ids, ["pat-1"]);
    directory
        .set_consent(&p1, false, true, "pat-1", now)
        .unwrap();
    assert!(directory.consenting_patients("doc-1").unwrap().is_empty());
    assert!(directory.consent(&p1).unwrap().fse_opposition);

    // Delegations: scoped, expiring, revocable once.
    let given = directory
        .delegate(
            &p1,
            "parent-1",
            "parent",
            &[Scope::Read, Scope::Read],
            now + Duration::days(1),
        )
        .unwrap();
    assert_eq!(given.scopes, [Scope::Read]);
    assert!(given.grants(Scope::Read, now));
    assert!(!given.grants(Scope::ManageConsent, now));
    assert!(!given.grants(Scope::Read, now + Duration::days(1)));
    assert_eq!(
        directory.delegations_received("parent-1").unwrap(),
        std::slice::from_ref(&given)
    );
    assert_eq!(
        directory.delegations_given(&p1).unwrap(),
        std::slice::from_ref(&given)
    );
    assert!(!directory.revoke_delegation(&p2, given.id, now).unwrap());
    assert!(directory.revoke_delegation(&p1, given.id, now).unwrap());
    assert!(!directory.revoke_delegation(&p1, given.id, now).unwrap());
    let revoked = directory.delegations_given(&p1).unwrap().remove(0);
    assert!(!revoked.grants(Scope::Read, now));

    // The audit is append-only and each record queues one notification.
    let first = directory
        .record_access(&p1, "doc-1", Role::Practitioner, "GET readings", true, now)
        .unwrap();
    let second = directory
        .record_access(
            &p1,
            "doc-1",
            Role::Practitioner,
            "GET glucometrics",
            false,
            now + Duration::seconds(1),
        )
        .unwrap();
    assert!(second.id > first.id);
    let log = directory.audit(&p1, None, 10).unwrap();
    assert_eq!(log, [second.clone(), first.clone()]);
    assert_eq!(
        directory.audit(&p1, Some(second.id), 10).unwrap(),
        std::slice::from_ref(&first)
    );
    assert!(directory.audit(&p2, None, 10).unwrap().is_empty());
    let notes = directory.notifications(&p1, true).unwrap();
    assert_eq!(
        notes.iter().map(|n| n.audit_id).collect::<Vec<_>>(),
        [first.id, second.id]
    );
    assert!(directory
        .sql
        .execute("UPDATE audit SET outcome = 'allowed'", &[])
        .is_err());
    assert!(directory.sql.execute("DELETE FROM audit", &[]).is_err());
    assert_eq!(directory.audit(&p1, None, 10).unwrap().len(), 2);

    // Upload secrets: one per patient, found by digest, replaced on rotation.
    directory.set_upload_secret(&p1, "digest-1", now).unwrap();
    assert_eq!(
        directory.patient_for_upload_secret("digest-1").unwrap(),
        Some(p1.clone())
    );
    directory.set_upload_secret(&p1, "digest-2", now).unwrap();
    assert_eq!(
        directory.patient_for_upload_secret("digest-1").unwrap(),
        None
    );
    assert_eq!(
        directory.patient_for_upload_secret("digest-2").unwrap(),
        Some(p1.clone())
    );
    // Pairing: a code binds one gateway once, before it expires.
    let hour = Duration::hours(1);
    directory
        .create_pairing_code(&p2, "code-1", now + hour)
        .unwrap();
    directory
        .create_pairing_code(&p2, "code-2", now + hour)
        .unwrap();
    directory
        .create_pairing_code(&p2, "old", now - hour)
        .unwrap();
    let key = |hex: &str| GatewayCredential::Signed {
        public_key_hex: hex.to_owned(),
    };
    let paired = directory
        .redeem_pairing_code("code-1", "gw-1", &key("ab"), now)
        .unwrap()
        .unwrap();
    assert_eq!(
        (paired.patient.as_str(), paired.id.as_str()),
        ("pat-2", "gw-1")
    );
    assert_eq!(
        directory
            .redeem_pairing_code("code-1", "gw-2", &key("ab"), now)
            .unwrap(),
        Err(PairingRefusal::BadCode)
    );
    assert_eq!(
        directory
            .redeem_pairing_code("old", "gw-2", &key("ab"), now)
            .unwrap(),
        Err(PairingRefusal::BadCode)
    );
    assert_eq!(
        directory
            .redeem_pairing_code("code-2", "gw-1", &key("cd"), now)
            .unwrap(),
        Err(PairingRefusal::GatewayTaken)
    );
    assert_eq!(directory.gateway("gw-1").unwrap(), Some(paired.clone()));
    assert_eq!(paired.kind, GatewayKind::Signed);
    assert!(directory.gateway("gw-2").unwrap().is_none());
    // A Theengs gateway pairs with its devices; a second code adds one; it cannot
    // become a signed gateway, nor a signed one a Theengs gateway.
    directory
        .create_pairing_code(&p2, "code-3", now + hour)
        .unwrap();
    directory
        .create_pairing_code(&p2, "code-4", now + hour)
        .unwrap();
    let devices = |list: &[&str]| GatewayCredential::Theengs {
        devices: list.iter().map(|d| (*d).to_owned()).collect(),
    };
    let theengs = directory
        .redeem_pairing_code("code-3", "hall", &devices(&["AA:AA:AA:AA:AA:01"]), now)
        .unwrap()
        .unwrap();
    assert_eq!(theengs.kind, GatewayKind::Theengs);
    assert_eq!(theengs.public_key_hex, "");
    let theengs = directory
        .redeem_pairing_code("code-4", "hall", &devices(&["AA:AA:AA:AA:AA:02"]), now)
        .unwrap()
        .unwrap();
    assert_eq!(theengs.devices, ["AA:AA:AA:AA:AA:01", "AA:AA:AA:AA:AA:02"]);
    directory
        .create_pairing_code(&p2, "code-5", now + hour)
        .unwrap();
    assert_eq!(
        directory
            .redeem_pairing_code("code-5", "hall", &key(""), now)
            .unwrap(),
        Err(PairingRefusal::GatewayTaken)
    );
    assert_eq!(
        directory
            .redeem_pairing_code("code-5", "gw-1", &devices(&["AA:AA:AA:AA:AA:03"]), now)
            .unwrap(),
        Err(PairingRefusal::GatewayTaken)
    );
    assert_eq!(directory.gateway("hall").unwrap(), Some(theengs.clone()));
    assert_eq!(directory.gateways_of(&p2).unwrap(), [paired, theengs]);

    // Two patients cannot share a digest.
    assert!(directory.set_upload_secret(&p2, "digest-2", now).is_err());
    assert_eq!(
        directory.patient_for_upload_secret("digest-2").unwrap(),
        Some(p1)
    );
}

fn all_times(store: &mut dyn ReadingStore, patient: &PatientId) -> Vec<DateTime<Utc>> {
    let query = ReadingQuery {
        patient: patient.clone(),
        kind: Some("cgm_glucose".into()),
        from: DateTime::from_timestamp(0, 0).unwrap(),
        to: DateTime::from_timestamp(7_258_118_400, 0).unwrap(), // 2200-01-01
        after: None,
        limit: super::MAX_PAGE,
    };
    store
        .readings(&query)
        .unwrap()
        .readings
        .iter()
        .map(|r| r.time)
        .collect()
}

/// Readings: idempotent batches, queries, pagination.
fn readings(store: &mut dyn ReadingStore) {
    let alice = PatientId("patient-a".into());
    let bob = PatientId("patient-b".into());
    let batch: Vec<Reading> = (0..50)
        .map(|i| {
            reading(
                "S1",
                i * 5,
                100.0 + f64::from(i),
                start() + Duration::minutes(i64::from(i) * 5),
            )
        })
        .collect();

    // Idempotent on the record identity.
    let first = store.store_readings(&alice, &batch, start()).unwrap();
    assert_eq!((first.stored, first.duplicates), (50, 0));
    // The patient's devices: one sensor, its kind, count and span.
    let devices = super::patient_devices(store.sql(), &alice).unwrap();
    assert_eq!(devices.len(), 1);
    assert_eq!(devices[0].device.serial.as_deref(), Some("S1"));
    assert_eq!(devices[0].kinds, ["cgm_glucose"]);
    assert_eq!(devices[0].readings, 50);
    assert_eq!(
        (devices[0].first_reading, devices[0].last_reading),
        (start(), start() + Duration::minutes(49 * 5))
    );
    assert!(
        super::patient_devices(store.sql(), &PatientId("nobody".into()))
            .unwrap()
            .is_empty()
    );
    let again = store
        .store_readings(&alice, &batch[10..30], start())
        .unwrap();
    assert_eq!((again.stored, again.duplicates), (0, 20));
    // Same record identity for another patient is another reading.
    assert_eq!(
        store
            .store_readings(&bob, &batch[..5], start())
            .unwrap()
            .stored,
        5
    );
    // Same offsets from another sensor are other readings.
    let other_sensor: Vec<Reading> = (0..3)
        .map(|i| {
            reading(
                "S2",
                i * 5,
                90.0,
                start() + Duration::minutes(i64::from(i) * 5),
            )
        })
        .collect();
    assert_eq!(
        store
            .store_readings(&alice, &other_sensor, start())
            .unwrap()
            .stored,
        3
    );

    // Paginated reads return everything once, in time order, exactly as written.
    let read = all(store, &alice, None, 7);
    assert_eq!(read.len(), 53);
    assert!(read.windows(2).all(|w| w[0].time <= w[1].time));
    for original in &batch {
        assert!(
            read.contains(original),
            "reading {:?} changed or missing",
            original.record
        );
    }
    assert_eq!(
        all(store, &bob, None, 100).len(),
        5,
        "patients are isolated"
    );

    // Pages stay consistent while new readings arrive.
    let mut query = ReadingQuery {
        patient: alice.clone(),
        kind: Some("cgm_glucose".into()),
        from: start(),
        to: start() + Duration::days(2),
        after: None,
        limit: 20,
    };
    let first_page = store.readings(&query).unwrap();
    let late: Vec<Reading> = (50..60)
        .map(|i| {
            reading(
                "S1",
                i * 5,
                150.0,
                start() + Duration::minutes(i64::from(i) * 5),
            )
        })
        .collect();
    store.store_readings(&alice, &late, start()).unwrap();
    query.after = first_page.next;
    let mut rest = Vec::new();
    loop {
        let page = store.readings(&query).unwrap();
        rest.extend(page.readings);
        match page.next {
            Some(c) => query.after = Some(c),
            None => break,
        }
    }
    assert_eq!(first_page.readings.len() + rest.len(), 63);

    // Kind filter and time range.
    assert!(all(store, &alice, Some("heart_rate"), 10).is_empty());
    let range = store
        .readings(&ReadingQuery {
            patient: alice.clone(),
            kind: None,
            from: start() + Duration::minutes(10),
            to: start() + Duration::minutes(20),
            after: None,
            limit: 100,
        })
        .unwrap();
    assert_eq!(
        range.readings.len(),
        2 + 1,
        "10 and 15 min from S1, 10 from S2; 20 excluded"
    );

    // Instants at the edges of the supported range survive the round trip.
    let edges = [
        DateTime::from_timestamp(0, 0).unwrap(),
        DateTime::from_timestamp(4_102_444_800, 0).unwrap(),
    ];
    let edge_readings: Vec<Reading> = edges
        .iter()
        .enumerate()
        .map(|(i, &t)| reading("EDGE", i as u32, 100.0, t))
        .collect();
    store
        .store_readings(&alice, &edge_readings, start())
        .unwrap();
    let read = all(store, &alice, None, 1000);
    assert_eq!(read.first().unwrap().time, edges[0]);
    assert_eq!(read.last().unwrap().time, edges[1]);

    // A page size of 0 is treated as 1, and huge ones are capped.
    let tiny = store
        .readings(&ReadingQuery {
            limit: 0,
            ..query.clone()
        })
        .unwrap();
    assert!(tiny.readings.len() <= 1);

    // The readings version moves with every batch that stored something, only then.
    let version = super::readings_version(store.sql(), &alice).unwrap();
    assert!(version > 0);
    assert_eq!(
        store
            .store_readings(&alice, &batch, start())
            .unwrap()
            .stored,
        0
    );
    assert_eq!(
        super::readings_version(store.sql(), &alice).unwrap(),
        version
    );
    let one_more = [reading("S9", 0, 99.0, start())];
    store.store_readings(&alice, &one_more, start()).unwrap();
    assert!(super::readings_version(store.sql(), &alice).unwrap() > version);
    let nobody = PatientId("nobody".into());
    assert_eq!(super::readings_version(store.sql(), &nobody).unwrap(), 0);

    // The newest readings, newest first.
    let newest = super::latest_readings(store.sql(), &alice, "cgm_glucose", 3).unwrap();
    let times: Vec<_> = newest.iter().map(|r| r.time).collect();
    let mut expected: Vec<_> = all_times(store, &alice);
    expected.sort();
    expected.reverse();
    assert_eq!(times, expected[..3]);
    assert!(
        super::latest_readings(store.sql(), &nobody, "cgm_glucose", 3)
            .unwrap()
            .is_empty()
    );
}
