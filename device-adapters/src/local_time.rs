//! Local wall-clock times without a zone, as many exports write them, resolved to UTC
//! in the zone the user names (`--tz`). Daylight-saving transitions are handled, never
//! guessed silently: a time in the spring-forward gap does not exist and is rejected;
//! a time in the fall-back overlap occurs twice and is resolved to keep the series in
//! order, and counted.

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// How a local time was resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// The local time occurs once.
    Unique,
    /// The local time occurs twice (DST fall-back); the earlier instant was taken.
    AmbiguousEarlier,
    /// The local time occurs twice; the later instant was taken because the earlier
    /// one would go back before the previous reading of the same series.
    AmbiguousLater,
}

/// Why a local time could not be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LocalTimeError {
    /// The local time falls in a DST gap (clocks jumped over it).
    #[error("local time {local} does not exist in {zone} (daylight-saving gap)")]
    InDstGap {
        /// The local time as given.
        local: NaiveDateTime,
        /// The zone.
        zone: String,
    },
}

/// Resolves `local` in `zone`. For an ambiguous time the earlier instant is taken,
/// unless it lies before `previous` (the previous reading of the same series), in
/// which case the later one is.
///
/// # Errors
/// [`LocalTimeError::InDstGap`] when the local time does not exist.
pub fn resolve(
    local: NaiveDateTime,
    zone: Tz,
    previous: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, Resolution), LocalTimeError> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(instant) => Ok((instant.with_timezone(&Utc), Resolution::Unique)),
        LocalResult::Ambiguous(earlier, later) => {
            let earlier = earlier.with_timezone(&Utc);
            if previous.is_some_and(|p| earlier < p) {
                Ok((later.with_timezone(&Utc), Resolution::AmbiguousLater))
            } else {
                Ok((earlier, Resolution::AmbiguousEarlier))
            }
        }
        LocalResult::None => Err(LocalTimeError::InDstGap {
            local,
            zone: zone.name().to_owned(),
        }),
    }
}

/// [`resolve`] with a memo per local hour: an hour whose start and end resolve to the
/// same single offset resolves every time inside it to that offset without consulting
/// the time-zone database again (exports have thousands of rows per hour looked up).
/// Hours containing a transition are resolved minute by minute as before.
#[derive(Debug, Clone)]
pub struct CachedResolver {
    zone: Tz,
    hours: std::collections::HashMap<(chrono::NaiveDate, u32), Option<i32>>,
}

impl CachedResolver {
    /// A resolver for `zone`.
    #[must_use]
    pub fn new(zone: Tz) -> Self {
        Self {
            zone,
            hours: std::collections::HashMap::new(),
        }
    }

    /// As [`resolve`].
    ///
    /// # Errors
    /// [`LocalTimeError::InDstGap`] when the local time does not exist.
    pub fn resolve(
        &mut self,
        local: NaiveDateTime,
        previous: Option<DateTime<Utc>>,
    ) -> Result<(DateTime<Utc>, Resolution), LocalTimeError> {
        use chrono::Timelike;
        let zone = self.zone;
        let key = (local.date(), local.hour());
        let offset = *self.hours.entry(key).or_insert_with(|| {
            let start = local.date().and_hms_opt(local.hour(), 0, 0)?;
            let end = local.date().and_hms_opt(local.hour(), 59, 59)?;
            let offset_of = |t: NaiveDateTime| match zone.from_local_datetime(&t) {
                LocalResult::Single(instant) => {
                    use chrono::Offset;
                    Some(instant.offset().fix().local_minus_utc())
                }
                _ => None,
            };
            let (a, b) = (offset_of(start)?, offset_of(end)?);
            (a == b).then_some(a)
        });
        match offset {
            Some(seconds) => Ok((
                (local - chrono::Duration::seconds(i64::from(seconds))).and_utc(),
                Resolution::Unique,
            )),
            None => resolve(local, zone, previous),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn local(day: u32, hour: u32, minute: u32) -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2024, 10, day)
            .unwrap()
            .and_hms_opt(hour, minute, 0)
            .unwrap()
    }

    #[test]
    fn fall_back_overlap_keeps_order() {
        let rome = chrono_tz::Europe::Rome;
        // 2024-10-27 02:30 occurs at 00:30Z and 01:30Z.
        let (first, how) = resolve(local(27, 2, 30), rome, None).unwrap();
        assert_eq!(how, Resolution::AmbiguousEarlier);
        assert_eq!(first.format("%H:%M").to_string(), "00:30");
        // After a reading at 02:55 (first pass, 00:55Z), 02:10 must be the second pass.
        let (after, how) = resolve(
            local(27, 2, 10),
            rome,
            Some(first + chrono::Duration::minutes(25)),
        )
        .unwrap();
        assert_eq!(how, Resolution::AmbiguousLater);
        assert_eq!(after.format("%H:%M").to_string(), "01:10");
    }

    #[test]
    fn cached_resolver_agrees_with_resolve() {
        for zone in [
            chrono_tz::Europe::Rome,
            chrono_tz::Australia::Lord_Howe,
            chrono_tz::America::Santiago,
        ] {
            let mut cached = CachedResolver::new(zone);
            let mut previous = None;
            let start = NaiveDate::from_ymd_opt(2024, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap();
            for step in 0..(366 * 24 * 4) {
                let local = start + chrono::Duration::minutes(15 * step + 7);
                let direct = resolve(local, zone, previous);
                assert_eq!(cached.resolve(local, previous), direct, "{zone} {local}");
                if let Ok((instant, _)) = direct {
                    previous = Some(instant);
                }
            }
        }
    }

    #[test]
    fn spring_forward_gap_is_an_error() {
        let rome = chrono_tz::Europe::Rome;
        let gap = NaiveDate::from_ymd_opt(2024, 3, 31)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        let error = resolve(gap, rome, None).unwrap_err();
        assert!(error.to_string().contains("daylight-saving gap"));
    }
}
