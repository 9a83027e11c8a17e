//! The test suite every backend passes (run against SQLite always and PostgreSQL when a
//! server is configured; see `tests` in `sqlite.rs` and `postgres.rs`).

use chrono::{DateTime, Duration, Utc};
use device_adapters::reading::{
    DeviceIdentity, DeviceTime, Measurement, Reading, ReadingSource, RecordId,
};

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
}
