//! Hypo- and hyperglycaemic events (episodes) per the international consensus on CGM
//! metrics for clinical trials, Battelino et al. (2023) Lancet Diabetes Endocrinol
//! 11:42, doi:10.1016/S2213-8587(22)00319-9, table 2:
//!
//! | event | starts with | ends with |
//! |---|---|---|
//! | hypo level 1 | ≥ 15 min < 70 mg/dL | ≥ 15 min ≥ 70 mg/dL |
//! | hypo level 2 | ≥ 15 min < 54 mg/dL | ≥ 15 min ≥ 54 mg/dL |
//! | hypo extended | > 120 min < 70 mg/dL | ≥ 15 min ≥ 70 mg/dL |
//! | hyper level 1 | ≥ 15 min > 180 mg/dL | ≥ 15 min ≤ 180 mg/dL |
//! | hyper level 2 | ≥ 15 min > 250 mg/dL | ≥ 15 min ≤ 250 mg/dL |
//! | hyper extended | ≥ 90 min > 250 mg/dL within 120 min | ≥ 15 min ≤ 180 mg/dL |
//!
//! Events are found on the interpolated grid ([`crate::grid`]) within runs without
//! missing values, exactly as iglu 4.3.0 `episode_calculation` does (which this module
//! reproduces; see `tests/iglu_reference.rs`). As in iglu, a level 1 event includes
//! those that reach level 2; `Level1Exclusive` counts those that do not. iglu has no
//! extended hyperglycaemia; ours follows the consensus wording and is documented in
//! docs/glucometrics.md.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::grid::DayByDayGrid;
use crate::series::utc_from_seconds;
use crate::stats::{self, Condition, Flags};

/// Hypo- or hyperglycaemia.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// Low glucose.
    Hypo,
    /// High glucose.
    Hyper,
}

/// Severity class of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventLevel {
    /// Level 1 (< 70 or > 180 mg/dL), including events that reach level 2.
    Level1,
    /// Level 2 (< 54 or > 250 mg/dL).
    Level2,
    /// Extended (hypo > 120 min < 70; hyper ≥ 90 of 120 min > 250 mg/dL).
    Extended,
    /// Level 1 events that never reach level 2.
    Level1Exclusive,
}

/// The event classes reported, in iglu's order (hyper extended last: iglu has none).
pub const EVENT_CLASSES: [(EventKind, EventLevel); 8] = [
    (EventKind::Hypo, EventLevel::Level1),
    (EventKind::Hypo, EventLevel::Level2),
    (EventKind::Hypo, EventLevel::Extended),
    (EventKind::Hyper, EventLevel::Level1),
    (EventKind::Hyper, EventLevel::Level2),
    (EventKind::Hypo, EventLevel::Level1Exclusive),
    (EventKind::Hyper, EventLevel::Level1Exclusive),
    (EventKind::Hyper, EventLevel::Extended),
];

/// Thresholds and durations (consensus defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EventConfig {
    /// Level 1 hypoglycaemia threshold, mg/dL (event while glucose is below it).
    pub hypo_level1_mg_dl: f64,
    /// Level 2 hypoglycaemia threshold, mg/dL.
    pub hypo_level2_mg_dl: f64,
    /// Level 1 hyperglycaemia threshold, mg/dL (event while glucose is above it).
    pub hyper_level1_mg_dl: f64,
    /// Level 2 hyperglycaemia threshold, mg/dL.
    pub hyper_level2_mg_dl: f64,
    /// Minimum duration that starts an event, minutes.
    pub start_duration_min: u32,
    /// Minimum duration back across the threshold that ends an event, minutes.
    pub end_duration_min: u32,
}

impl Default for EventConfig {
    fn default() -> Self {
        Self {
            hypo_level1_mg_dl: 70.0,
            hypo_level2_mg_dl: 54.0,
            hyper_level1_mg_dl: 180.0,
            hyper_level2_mg_dl: 250.0,
            start_duration_min: 15,
            end_duration_min: 15,
        }
    }
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GlycemicEvent {
    /// Hypo or hyper.
    pub kind: EventKind,
    /// Severity class.
    pub level: EventLevel,
    /// First grid instant of the event (UTC).
    pub start: chrono::DateTime<chrono::Utc>,
    /// Last grid instant of the event (UTC).
    pub end: chrono::DateTime<chrono::Utc>,
    /// Duration as grid points × step, minutes (iglu's convention).
    pub duration_min: f64,
    /// Nadir for hypo events, peak for hyper events (mg/dL as computed).
    pub extreme: f64,
    /// Mean glucose during the event (mg/dL as computed).
    pub mean: f64,
}

/// Summary of one event class (iglu `episode_calculation` columns).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EventClassSummary {
    /// Hypo or hyper.
    pub kind: EventKind,
    /// Severity class.
    pub level: EventLevel,
    /// Events per day of data (days = grid points with a value × step / 1440).
    pub events_per_day: f64,
    /// Mean event duration, minutes (0 when there is none).
    pub mean_duration_min: f64,
    /// Mean of the events' mean glucose (mg/dL as computed; NaN when there is none).
    pub mean_glucose: f64,
    /// Number of events.
    pub total: usize,
}

/// Per-grid-point labels: which event (1, 2, … within its run) each point belongs to,
/// 0 for none; the layout of iglu's `episode_calculation(return_data = TRUE)`, built on
/// request by [`EventAnalysis::labelled_points`].
#[derive(Debug, Clone, PartialEq)]
pub struct LabelledPoints {
    /// Indices into the grid of the points with a value.
    pub grid_index: Vec<usize>,
    /// Glucose at those points, mg/dL.
    pub values: Vec<f64>,
    /// Run number of each point, counting missing runs as iglu does (1-based).
    pub run: Vec<usize>,
    /// Labels per event class, in [`EVENT_CLASSES`] order.
    pub labels: [Vec<usize>; 8],
}

/// Everything the event analysis produces.
#[derive(Debug, Clone, PartialEq)]
pub struct EventAnalysis {
    /// Each class's events as ranges of grid indices (every point in them has a
    /// value), in time order; classes in [`EVENT_CLASSES`] order.
    pub spans: [Vec<Range<usize>>; 8],
    /// Summaries, in [`EVENT_CLASSES`] order.
    pub summaries: Vec<EventClassSummary>,
    /// Every event, in time order within each class, classes in [`EVENT_CLASSES`] order.
    pub events: Vec<GlycemicEvent>,
}

impl EventAnalysis {
    /// The events as iglu lays them out: every grid point with a value, its run and
    /// its label in each class.
    #[must_use]
    pub fn labelled_points(&self, grid: &DayByDayGrid) -> LabelledPoints {
        let values = grid.values();
        let mut points = LabelledPoints {
            grid_index: Vec::new(),
            values: Vec::new(),
            run: Vec::new(),
            labels: Default::default(),
        };
        // Point index and run number of every grid index that has a value.
        let mut point_of = vec![usize::MAX; values.len()];
        for (run_number, (missing, run)) in (1..).zip(grid.missing_runs()) {
            if missing {
                continue;
            }
            for index in run {
                point_of[index] = points.values.len();
                points.grid_index.push(index);
                points.values.push(values[index]);
                points.run.push(run_number);
            }
        }
        for (labels, spans) in points.labels.iter_mut().zip(&self.spans) {
            labels.resize(points.values.len(), 0);
            let (mut run, mut label) = (0, 0);
            for span in spans {
                let first = point_of[span.start];
                // Labels count from 1 again in each run.
                if points.run[first] != run {
                    run = points.run[first];
                    label = 0;
                }
                label += 1;
                labels[first..first + span.len()].fill(label);
            }
        }
        // iglu's exclusive classes keep the level 1 event's number.
        for (exclusive, level1) in [(5, 0), (6, 3)] {
            let (before, from_exclusive) = points.labels.split_at_mut(exclusive);
            let (source, target) = (&before[level1], &mut from_exclusive[0]);
            for (label, &number) in target.iter_mut().zip(source.iter()) {
                if *label != 0 {
                    *label = number;
                }
            }
        }
        points
    }
}

/// Finds events in one run of consecutive values (iglu's `event_class`), `within`
/// the grid, where `inside` flags the points inside the condition: an event starts at a
/// run of ≥ `start_points` points inside and lasts until the point before the next run
/// of ≥ `end_points` points outside it. Appends each event's grid index range to
/// `spans`.
fn find_events(
    inside: &Flags,
    within: Range<usize>,
    start_points: usize,
    end_points: usize,
    spans: &mut Vec<Range<usize>>,
) {
    // A start is the first point of an inside run of ≥ `start_points`, an end the first
    // point of an outside run of ≥ `end_points` (or the end of the values). Both come
    // out ascending, so the end that closes a start is the first end after it, and
    // starts before that end belong to the same event.
    let end_of_values = within.end;
    let mut event_start = None;
    for (state, run) in inside.runs(within) {
        if state && run.len() >= start_points {
            event_start.get_or_insert(run.start);
        } else if !state && run.len() >= end_points {
            if let Some(start) = event_start.take() {
                spans.push(start..run.start);
            }
        }
    }
    if let Some(start) = event_start {
        spans.push(start..end_of_values);
    }
}

/// Extended hyperglycaemia in one run of consecutive values, `within` the grid: starts
/// at a point > level 2 (`above_level2`) where at least `required_points` of the next
/// `window_points` points are > level 2, ends before `end_points` consecutive points
/// ≤ level 1 (not `above_level1`). Appends each event's grid index range to `spans`.
fn find_extended_hyper(
    above_level1: &Flags,
    above_level2: &Flags,
    within: Range<usize>,
    [window_points, required_points, end_points]: [usize; 3],
    spans: &mut Vec<Range<usize>>,
) {
    let n = within.end;
    let mut index = within.start;
    loop {
        // Only a point > level 2 can start an event.
        index = above_level2.next_change(index, false).min(n);
        if index >= n {
            break;
        }
        let window = index..(index + window_points).min(n);
        if above_level2.count_in(window) < required_points {
            index += 1;
            continue;
        }
        // The first run of ≥ `end_points` points ≤ level 1 ends the event.
        let end = above_level1
            .runs(index..n)
            .find(|(above, run)| !above && run.len() >= end_points)
            .map_or(n, |(_, calm)| calm.start);
        spans.push(index..end);
        index = end.max(index + 1);
    }
}

/// Finds and summarises events on `grid` (iglu `episode_calculation` with its
/// defaults when `config` is [`EventConfig::default`]).
#[must_use]
pub fn analyse_events(grid: &DayByDayGrid, config: &EventConfig) -> EventAnalysis {
    analyse(grid, config, false)
}

/// The hypoglycaemia classes only (level 1, level 2, level 1 exclusive; the other
/// classes' labels and summaries are empty), for indices that count nothing else (PGS).
#[must_use]
pub fn analyse_hypo_events(grid: &DayByDayGrid, config: &EventConfig) -> EventAnalysis {
    analyse(grid, config, true)
}

fn analyse(grid: &DayByDayGrid, config: &EventConfig, only_hypo: bool) -> EventAnalysis {
    let (spans, days_of_data) = find_spans(grid, config, only_hypo);
    let mut summaries = Vec::with_capacity(EVENT_CLASSES.len());
    let mut events: Vec<GlycemicEvent> = Vec::new();
    // Where each class's events start in `events`.
    let mut class_starts = [0; EVENT_CLASSES.len()];
    for (class, (class_spans, &(kind, level))) in spans.iter().zip(&EVENT_CLASSES).enumerate() {
        let first = events.len();
        class_starts[class] = first;
        match level1_class_of(class) {
            // An exclusive class's events are level 1 events, found above (both lists
            // ascending): copied with their class, not measured again.
            Some(level1) => {
                let (level1_spans, level1_first) = (&spans[level1], class_starts[level1]);
                let mut next = 0;
                for span in class_spans {
                    while level1_spans[next] != *span {
                        next += 1;
                    }
                    let event = GlycemicEvent {
                        level,
                        ..events[level1_first + next].clone()
                    };
                    events.push(event);
                }
            }
            None => events.extend(
                class_spans
                    .iter()
                    .map(|span| event_of(grid, span.clone(), kind, level)),
            ),
        }
        let class_events = &events[first..];
        let total = class_events.len();
        summaries.push(EventClassSummary {
            kind,
            level,
            events_per_day: events_per_day(total, days_of_data),
            mean_duration_min: if total == 0 {
                0.0
            } else {
                class_events.iter().map(|e| e.duration_min).sum::<f64>() / total as f64
            },
            mean_glucose: if total == 0 {
                f64::NAN
            } else {
                class_events.iter().map(|e| e.mean).sum::<f64>() / total as f64
            },
            total,
        });
    }
    EventAnalysis {
        spans,
        summaries,
        events,
    }
}

/// The level 1 class (index into [`EVENT_CLASSES`]) whose events an exclusive class
/// keeps, for the exclusive classes.
fn level1_class_of(class: usize) -> Option<usize> {
    match EVENT_CLASSES[class] {
        (kind, EventLevel::Level1Exclusive) => EVENT_CLASSES
            .iter()
            .position(|&other| other == (kind, EventLevel::Level1)),
        _ => None,
    }
}

/// Events per day of each hypoglycaemia class (level 1, level 2, level 1 exclusive, in
/// that order), counted without building the events: what indices that only count
/// them need (PGS). The same figures as [`analyse_hypo_events`]' summaries.
#[must_use]
pub fn hypo_events_per_day(grid: &DayByDayGrid, config: &EventConfig) -> [f64; 3] {
    let (spans, days_of_data) = find_spans(grid, config, true);
    let per_day = |class: usize| events_per_day(spans[class].len(), days_of_data);
    [per_day(0), per_day(1), per_day(5)]
}

/// `total` events over `days_of_data` days of readings; 0 without events.
fn events_per_day(total: usize, days_of_data: f64) -> f64 {
    if total == 0 {
        0.0
    } else {
        total as f64 / days_of_data
    }
}

/// Each class's events as grid index ranges ([`EventAnalysis::spans`]), and the days
/// the grid's values cover (points with a value × step).
fn find_spans(
    grid: &DayByDayGrid,
    config: &EventConfig,
    only_hypo: bool,
) -> ([Vec<Range<usize>>; 8], f64) {
    let step = f64::from(grid.step_min());
    let points_for = |minutes: f64| (minutes / step).ceil() as usize;
    let start_points = points_for(f64::from(config.start_duration_min));
    let end_points = points_for(f64::from(config.end_duration_min));
    let extended_hypo_points = (120.0 / step) as usize + 1;
    let (hypo1, hypo2) = (config.hypo_level1_mg_dl, config.hypo_level2_mg_dl);
    let (hyper1, hyper2) = (config.hyper_level1_mg_dl, config.hyper_level2_mg_dl);

    let mut spans: [Vec<Range<usize>>; 8] = Default::default();
    // Each threshold's points flagged once, for every class and run that tests it.
    let below_hypo1 = grid.flags(Condition::Below(hypo1));
    let below_hypo2 = grid.flags(Condition::Below(hypo2));
    let hyper_flags = (!only_hypo).then(|| {
        (
            grid.flags(Condition::Above(hyper1)),
            grid.flags(Condition::Above(hyper2)),
        )
    });
    let mut present = 0;
    for (missing, run) in grid.missing_runs() {
        if missing {
            continue;
        }
        present += run.len();
        let [s_hypo1, s_hypo2, s_hypo_ext, s_hyper1, s_hyper2, s_hypo1_excl, s_hyper1_excl, s_hyper_ext] =
            &mut spans;
        let (hypo1_from, hypo2_from) = (s_hypo1.len(), s_hypo2.len());
        find_events(&below_hypo1, run.clone(), start_points, end_points, s_hypo1);
        find_events(&below_hypo2, run.clone(), start_points, end_points, s_hypo2);
        exclusive(&s_hypo1[hypo1_from..], &s_hypo2[hypo2_from..], s_hypo1_excl);
        let Some((above_hyper1, above_hyper2)) = &hyper_flags else {
            continue;
        };
        let (hyper1_from, hyper2_from) = (s_hyper1.len(), s_hyper2.len());
        find_events(
            &below_hypo1,
            run.clone(),
            extended_hypo_points,
            end_points,
            s_hypo_ext,
        );
        find_events(
            above_hyper1,
            run.clone(),
            start_points,
            end_points,
            s_hyper1,
        );
        find_events(
            above_hyper2,
            run.clone(),
            start_points,
            end_points,
            s_hyper2,
        );
        find_extended_hyper(
            above_hyper1,
            above_hyper2,
            run,
            [
                (120.0 / step).round() as usize,
                (90.0 / step).ceil() as usize,
                end_points,
            ],
            s_hyper_ext,
        );
        exclusive(
            &s_hyper1[hyper1_from..],
            &s_hyper2[hyper2_from..],
            s_hyper1_excl,
        );
    }

    (spans, present as f64 * step / 60.0 / 24.0)
}

/// The level 1 events (of one run) that contain no level 2 point, appended to `result`.
fn exclusive(level1: &[Range<usize>], level2: &[Range<usize>], result: &mut Vec<Range<usize>>) {
    // Both lists are ascending and disjoint within themselves: one forward walk.
    let mut next = 0;
    for event in level1 {
        while next < level2.len() && level2[next].end <= event.start {
            next += 1;
        }
        let reaches_level2 = level2
            .get(next)
            .is_some_and(|deeper| deeper.start < event.end);
        if !reaches_level2 {
            result.push(event.clone());
        }
    }
}

/// One event from its grid index range.
fn event_of(
    grid: &DayByDayGrid,
    span: Range<usize>,
    kind: EventKind,
    level: EventLevel,
) -> GlycemicEvent {
    let (first, last) = (span.start, span.end - 1);
    let values = &grid.values()[span];
    // Lowest and highest in four lanes ([`stats::extremes`]): one running minimum
    // waits on the comparison before, for every point of every event.
    let (lowest, highest) = stats::extremes(values);
    let extreme = match kind {
        EventKind::Hypo => lowest,
        EventKind::Hyper => highest,
    };
    GlycemicEvent {
        kind,
        level,
        start: utc_from_seconds(grid.time_s(first)),
        end: utc_from_seconds(grid.time_s(last)),
        duration_min: values.len() as f64 * f64::from(grid.step_min()),
        extreme,
        mean: stats::mean(values),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    /// Labels (1, 2, … per event, 0 outside) that `find_events` gives booleans (inside
    /// is a value of 1), as iglu lays them out. The run starts at grid index 100, after
    /// points inside the condition that are not part of it.
    fn labels_of(inside: &[bool], start: usize, end: usize) -> Vec<usize> {
        let values: Vec<f64> = std::iter::repeat_n(true, 100)
            .chain(inside.iter().copied())
            .map(|b| f64::from(u8::from(b)))
            .collect();
        let mut spans: Vec<Range<usize>> = std::iter::once(0..0).collect(); // appended after
        let flags = Flags::above(&values, 0.5);
        find_events(&flags, 100..values.len(), start, end, &mut spans);
        assert_eq!(spans.remove(0), 0..0);
        let mut labels = vec![0; inside.len()];
        for (label, span) in (1..).zip(spans) {
            labels[span.start - 100..span.end - 100].fill(label);
        }
        labels
    }

    #[test]
    fn an_event_needs_the_minimum_duration_and_ends_after_recovery() {
        // Two points below: too short. Then four below, one above, two below, three above.
        let inside = [
            true, true, false, false, false, true, true, true, true, false, true, true, false,
            false, false,
        ];
        let labels = labels_of(&inside, 3, 3);
        assert_eq!(labels, vec![0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]);
    }

    #[test]
    fn an_event_running_to_the_end_is_kept() {
        assert_eq!(
            labels_of(&[false, true, true, true], 3, 3),
            vec![0, 1, 1, 1]
        );
    }

    #[test]
    fn several_starts_before_one_end_are_one_event() {
        // Inside runs of 3, a short gap (1 < 3), inside again: one event; then a long
        // gap ends it and a new one starts.
        let inside = [
            true, true, true, false, true, true, true, false, false, false, true, true, true,
        ];
        assert_eq!(
            labels_of(&inside, 3, 3),
            vec![1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 2, 2, 2]
        );
    }

    #[test]
    fn hypo_counts_equal_the_analysis_summaries() {
        let grid = crate::synthetic::default_grid(&crate::grid::GridConfig::default());
        for config in [
            EventConfig::default(),
            EventConfig {
                start_duration_min: 20,
                end_duration_min: 30,
                ..EventConfig::default()
            },
        ] {
            let analysis = analyse_hypo_events(&grid, &config);
            let expected = [0, 1, 5].map(|class| analysis.summaries[class].events_per_day);
            assert!(expected.iter().any(|&per_day| per_day > 0.0));
            assert_eq!(
                hypo_events_per_day(&grid, &config).map(f64::to_bits),
                expected.map(f64::to_bits)
            );
        }
    }

    #[test]
    fn exclusive_events_are_measured_as_any_other() {
        let grid = crate::synthetic::default_grid(&crate::grid::GridConfig::default());
        let analysis = analyse_events(&grid, &EventConfig::default());
        let mut checked = 0;
        for &(kind, level) in &[
            (EventKind::Hypo, EventLevel::Level1Exclusive),
            (EventKind::Hyper, EventLevel::Level1Exclusive),
        ] {
            let class = EVENT_CLASSES
                .iter()
                .position(|&c| c == (kind, level))
                .unwrap();
            let events = analysis
                .events
                .iter()
                .filter(|e| (e.kind, e.level) == (kind, level));
            for (event, span) in events.zip(&analysis.spans[class]) {
                assert_eq!(*event, event_of(&grid, span.clone(), kind, level));
                checked += 1;
            }
            assert_eq!(analysis.summaries[class].total, analysis.spans[class].len());
        }
        assert!(checked > 10, "{checked}");
    }

    #[test]
    fn exclusive_drops_events_reaching_level_2() {
        // Level 1 events at 1–2, 4–5 and 8–9; level 2 at 2 and 9–10.
        let mut result: Vec<Range<usize>> = std::iter::once(0..1).collect();
        exclusive(&[1..3, 4..6, 8..10], &[2..3, 9..11], &mut result);
        assert_eq!(result, vec![0..1, 4..6]);
    }

    /// [`find_extended_hyper`] at the consensus thresholds (180 and 250 mg/dL).
    fn extended_hyper_of(
        values: &[f64],
        within: Range<usize>,
        durations: [usize; 3],
        spans: &mut Vec<Range<usize>>,
    ) {
        let (level1, level2) = (Flags::above(values, 180.0), Flags::above(values, 250.0));
        find_extended_hyper(&level1, &level2, within, durations, spans);
    }

    #[test]
    fn extended_hyper_matches_a_window_counted_at_every_point() {
        // A wandering trace with long stretches above 250 mg/dL, against counting the
        // window afresh at every point.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut level = 200.0;
        let values: Vec<f64> = (0..12_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                level = (level + (state % 41) as f64 - 20.0).clamp(40.0, 400.0);
                level
            })
            .collect();
        let (window, required, end_points) = (24, 18, 3);
        let mut expected = Vec::new();
        let mut index = 0;
        while index < values.len() {
            let window_end = (index + window).min(values.len());
            let above = values[index..window_end]
                .iter()
                .filter(|&&v| v > 250.0)
                .count();
            if values[index] > 250.0 && above >= required {
                let mut end = values.len();
                let mut calm = 0;
                for (k, &value) in values.iter().enumerate().skip(index) {
                    calm = if value <= 180.0 { calm + 1 } else { 0 };
                    if calm >= end_points {
                        end = k + 1 - calm;
                        break;
                    }
                }
                expected.push(7 + index..7 + end);
                index = end.max(index + 1);
            } else {
                index += 1;
            }
        }
        // The run starts at grid index 7, after points that would start an event.
        let grid: Vec<f64> = [300.0; 7].iter().chain(&values).copied().collect();
        let mut spans = Vec::new();
        extended_hyper_of(
            &grid,
            7..grid.len(),
            [window, required, end_points],
            &mut spans,
        );
        assert!(
            expected.len() > 3,
            "the trace has events: {}",
            expected.len()
        );
        assert_eq!(spans, expected);
    }

    #[test]
    fn extended_hyper_needs_90_of_120_minutes() {
        // 5-min grid: 24 points window, 18 required, 3 to end.
        let mut values = vec![260.0; 18];
        values.extend([200.0; 6]);
        values.extend([150.0; 3]);
        let mut spans = Vec::new();
        extended_hyper_of(&values, 0..values.len(), [24, 18, 3], &mut spans);
        assert_eq!(spans, vec![0..24]);
        let short = vec![260.0; 17];
        let mut spans = Vec::new();
        extended_hyper_of(&short, 0..short.len(), [24, 18, 3], &mut spans);
        assert!(spans.is_empty());
    }
}
