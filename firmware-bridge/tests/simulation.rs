//! Deterministic simulation of a CGM and the bridge's session under a virtual clock
//! (quinn's `Pair` idea): radio outages of random length and bridge restarts from the
//! persisted cursor; afterwards every record the sensor measured has reached the bridge
//! exactly once, with its value and time, and the cursor is the last record.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use device_adapters::reading::RecordId;
use firmware_bridge::session::{CgmSession, GattSession as _, SessionConfig, SessionState};
use firmware_bridge::sim::cgm::{SimulatedCgm, SimulatedCgmConfig};
use proptest::prelude::*;

struct Run {
    /// Readings received, by time offset: (count, mg/dL, instant).
    received: BTreeMap<u32, (u32, f64, DateTime<Utc>)>,
    session: CgmSession,
}

/// Drives `device` and a session from `start` to `end` in one-minute steps, restarting
/// the bridge (a new session from the persisted cursor) at each instant in `restarts`.
fn run(
    device: &mut SimulatedCgm,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    restarts: &[DateTime<Utc>],
) -> Run {
    let config = SessionConfig::default();
    let mut session = CgmSession::new(config.clone(), None, None, start);
    let mut received = BTreeMap::new();
    let mut now = start;
    while now <= end {
        if restarts.contains(&now) {
            // The bridge process dies; what it persisted is the sensor session and cursor.
            session = CgmSession::new(
                config.clone(),
                session.session_start(),
                session.cursor(),
                now,
            );
        }
        session.exchange(device, now);
        while let Some(reading) = session.poll_reading() {
            let RecordId::Session { offset_min, .. } = reading.record else {
                panic!("CGM reading without session identity")
            };
            let entry = received.entry(offset_min).or_insert((
                0,
                reading.glucose_mg_dl().unwrap(),
                reading.time,
            ));
            entry.0 += 1;
        }
        assert!(
            session.poll_issue().is_none(),
            "no decode or conversion issue expected"
        );
        now += Duration::minutes(1);
    }
    Run { received, session }
}

fn check(
    config: SimulatedCgmConfig,
    end: DateTime<Utc>,
    restarts: &[DateTime<Utc>],
) -> Result<(), TestCaseError> {
    let start = config.session_start;
    let mut device = SimulatedCgm::new(config);
    let Run { received, session } = run(&mut device, start, end, restarts);
    let measured = device.measured(end);
    prop_assert!(!measured.is_empty());
    prop_assert_eq!(
        received.len(),
        measured.len(),
        "every measured record received"
    );
    for (offset, mg_dl) in &measured {
        let Some(&(count, value, time)) = received.get(&u32::from(*offset)) else {
            return Err(TestCaseError::fail(format!("record {offset} missing")));
        };
        prop_assert_eq!(count, 1, "record {} received once within a session", offset);
        prop_assert!((value - mg_dl).abs() < 1e-9);
        prop_assert_eq!(time, start + Duration::minutes(i64::from(*offset)));
    }
    prop_assert_eq!(session.state(), SessionState::Streaming);
    prop_assert_eq!(session.cursor(), measured.last().map(|m| m.0));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn radio_gaps_and_restarts_lose_nothing(
        outages in prop::collection::vec((0_i64..(3 * 1440 - 180), 1_i64..720), 0..6),
        restarts in prop::collection::vec(0_i64..(3 * 1440), 0..3),
        interval in prop::sample::select(vec![1_u16, 5]),
        seed in any::<u64>(),
    ) {
        let start: DateTime<Utc> = DateTime::from_timestamp(1_735_689_600, 0).unwrap();
        let end = start + Duration::days(3);
        // Outages end at least an hour before the end, so the last backfill can run.
        let radio_outages = outages
            .iter()
            .map(|&(from, length)| {
                let from = start + Duration::minutes(from);
                (from, (from + Duration::minutes(length)).min(end - Duration::hours(1)))
            })
            .collect();
        let config = SimulatedCgmConfig { session_start: start, interval_min: interval, days: 3, seed, radio_outages, ..SimulatedCgmConfig::default() };
        let restarts: Vec<DateTime<Utc>> = restarts.iter().map(|&m| start + Duration::minutes(m)).collect();
        check(config, end, &restarts)?;
    }
}

#[test]
fn a_day_offline_is_backfilled_on_reconnect() {
    let start: DateTime<Utc> = DateTime::from_timestamp(1_735_689_600, 0).unwrap();
    let outage = (start + Duration::hours(6), start + Duration::hours(30));
    let config = SimulatedCgmConfig {
        session_start: start,
        days: 2,
        radio_outages: vec![outage],
        ..SimulatedCgmConfig::default()
    };
    let end = start + Duration::hours(36);
    let mut device = SimulatedCgm::new(config.clone());
    let Run { received, session } = run(&mut device, start, end, &[]);
    assert_eq!(received.len(), device.measured(end).len());
    let stats = session.stats();
    assert!(stats.connections >= 2, "{stats:?}");
    assert!(stats.backfills >= 2, "{stats:?}");
    assert_eq!(stats.duplicates, 0, "nothing seen twice without a restart");
    // The backoff doubles to its 300 s cap while the radio is down, then reconnects.
    assert!(check(config, end, &[]).is_ok());
}
