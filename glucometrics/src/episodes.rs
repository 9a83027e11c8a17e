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

use serde::{Deserialize, Serialize};

use crate::grid::DayByDayGrid;
use crate::series::utc_from_seconds;
use crate::stats;

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
/// 0 for none; the layout of iglu's `episode_calculation(return_data = TRUE)`.
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
    /// The labelled grid points.
    pub points: LabelledPoints,
    /// Summaries, in [`EVENT_CLASSES`] order.
    pub summaries: Vec<EventClassSummary>,
    /// Every event, in time order within each class, classes in [`EVENT_CLASSES`] order.
    pub events: Vec<GlycemicEvent>,
}

/// Labels events in one run of consecutive values (iglu's `event_class`): an event
/// starts at a run of ≥ `start_points` points inside the condition and lasts until the
/// point before the next run of ≥ `end_points` points outside it.
fn label_run(
    values: &[f64],
    inside: impl Fn(f64) -> bool,
    start_points: usize,
    end_points: usize,
    labels: &mut Vec<usize>,
) {
    let n = values.len();
    let base = labels.len();
    labels.resize(base + n, 0);
    // Runs of points inside and outside, in order: a start is the first point of an
    // inside run of ≥ `start_points`, an end the first point of an outside run of
    // ≥ `end_points` (or the end of the values). Both come out ascending, so the end
    // that closes a start is found by one forward walk.
    let mut starts = Vec::new();
    let mut ends = Vec::new();
    let mut index = 0;
    while index < n {
        let state = inside(values[index]);
        let run_start = index;
        while index < n && inside(values[index]) == state {
            index += 1;
        }
        let length = index - run_start;
        if state && length >= start_points {
            starts.push(run_start);
        } else if !state && length >= end_points {
            ends.push(run_start);
        }
    }
    ends.push(n);
    let mut next_end = 0;
    let mut last_end = None;
    let mut label = 0;
    for start in starts {
        while ends[next_end] <= start {
            next_end += 1;
        }
        let end = ends[next_end] - 1;
        if last_end == Some(end) {
            continue;
        }
        last_end = Some(end);
        label += 1;
        labels[base + start..=base + end].fill(label);
    }
}

/// Extended hyperglycaemia in one run: starts at a point > `level2` where at least
/// `required_points` of the next `window_points` points are > `level2`, ends before
/// `end_points` consecutive points ≤ `level1`.
fn label_extended_hyper(
    values: &[f64],
    level1: f64,
    level2: f64,
    window_points: usize,
    required_points: usize,
    end_points: usize,
    labels: &mut Vec<usize>,
) {
    let n = values.len();
    let base = labels.len();
    labels.resize(base + n, 0);
    let labels = &mut labels[base..];
    // above[k] = points > level2 among the first k: any window's count in O(1).
    let mut above_before = Vec::with_capacity(n + 1);
    above_before.push(0usize);
    for &v in values {
        let last = *above_before.last().unwrap_or(&0);
        above_before.push(last + usize::from(v > level2));
    }
    let mut label = 0;
    let mut index = 0;
    while index < n {
        let window_end = (index + window_points).min(n);
        let above = above_before[window_end] - above_before[index];
        if values[index] > level2 && above >= required_points {
            let mut end = n;
            let mut calm = 0;
            for (k, &value) in values.iter().enumerate().skip(index) {
                calm = if value <= level1 { calm + 1 } else { 0 };
                if calm >= end_points {
                    end = k + 1 - calm;
                    break;
                }
            }
            label += 1;
            labels[index..end].fill(label);
            index = end.max(index + 1);
        } else {
            index += 1;
        }
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
    let step = f64::from(grid.step_min());
    let points_for = |minutes: f64| (minutes / step).ceil() as usize;
    let start_points = points_for(f64::from(config.start_duration_min));
    let end_points = points_for(f64::from(config.end_duration_min));
    let extended_hypo_points = (120.0 / step) as usize + 1;

    let values = grid.values();
    let present = values.iter().filter(|v| !v.is_nan()).count();
    let mut points = LabelledPoints {
        grid_index: Vec::with_capacity(present),
        values: Vec::with_capacity(present),
        run: Vec::with_capacity(present),
        labels: std::array::from_fn(|_| Vec::with_capacity(present)),
    };
    let mut run_number = 0;
    let mut index = 0;
    while index < values.len() {
        let missing = values[index].is_nan();
        let run_start = index;
        while index < values.len() && values[index].is_nan() == missing {
            index += 1;
        }
        run_number += 1;
        if missing {
            continue;
        }
        let run = &values[run_start..index];
        let (hypo1, hypo2) = (config.hypo_level1_mg_dl, config.hypo_level2_mg_dl);
        let (hyper1, hyper2) = (config.hyper_level1_mg_dl, config.hyper_level2_mg_dl);
        let [l_hypo1, l_hypo2, l_hypo_ext, l_hyper1, l_hyper2, l_hypo1_excl, l_hyper1_excl, l_hyper_ext] =
            &mut points.labels;
        label_run(run, |v| v < hypo1, start_points, end_points, l_hypo1);
        if !only_hypo {
            label_run(run, |v| v < hypo2, start_points, end_points, l_hypo2);
            label_run(
                run,
                |v| v < hypo1,
                extended_hypo_points,
                end_points,
                l_hypo_ext,
            );
            label_run(run, |v| v > hyper1, start_points, end_points, l_hyper1);
            label_run(run, |v| v > hyper2, start_points, end_points, l_hyper2);
            label_extended_hyper(
                run,
                hyper1,
                hyper2,
                (120.0 / step).round() as usize,
                (90.0 / step).ceil() as usize,
                end_points,
                l_hyper_ext,
            );
            exclusive(l_hyper1, l_hyper2, run.len(), l_hyper1_excl);
        } else {
            label_run(run, |v| v < hypo2, start_points, end_points, l_hypo2);
        }
        exclusive(l_hypo1, l_hypo2, run.len(), l_hypo1_excl);
        points.grid_index.extend(run_start..index);
        points.values.extend_from_slice(run);
        points
            .run
            .extend(std::iter::repeat_n(run_number, run.len()));
    }

    let days_of_data = points.values.len() as f64 * step / 60.0 / 24.0;
    let mut summaries = Vec::with_capacity(EVENT_CLASSES.len());
    let mut events = Vec::new();
    for (class_index, &(kind, level)) in EVENT_CLASSES.iter().enumerate() {
        let class_events = if points.labels[class_index].is_empty() {
            Vec::new()
        } else {
            collect_events(grid, &points, class_index, kind, level)
        };
        let durations: Vec<f64> = class_events.iter().map(|e| e.duration_min).collect();
        let means: Vec<f64> = class_events.iter().map(|e| e.mean).collect();
        summaries.push(EventClassSummary {
            kind,
            level,
            events_per_day: if class_events.is_empty() {
                0.0
            } else {
                class_events.len() as f64 / days_of_data
            },
            mean_duration_min: if durations.is_empty() {
                0.0
            } else {
                stats::mean(&durations)
            },
            mean_glucose: stats::mean(&means),
            total: class_events.len(),
        });
        events.extend(class_events);
    }
    EventAnalysis {
        points,
        summaries,
        events,
    }
}

/// The last `n` level 1 labels with the events that contain any level 2 point set to 0,
/// appended to `result`.
fn exclusive(level1: &[usize], level2: &[usize], n: usize, result: &mut Vec<usize>) {
    let (level1, level2) = (&level1[level1.len() - n..], &level2[level2.len() - n..]);
    let base = result.len();
    result.extend_from_slice(level1);
    let mut index = 0;
    while index < level1.len() {
        let label = level1[index];
        let start = index;
        while index < level1.len() && level1[index] == label {
            index += 1;
        }
        if label != 0 && level2[start..index].iter().any(|&l| l != 0) {
            result[base + start..base + index].fill(0);
        }
    }
}

fn collect_events(
    grid: &DayByDayGrid,
    points: &LabelledPoints,
    class_index: usize,
    kind: EventKind,
    level: EventLevel,
) -> Vec<GlycemicEvent> {
    let labels = &points.labels[class_index];
    let step = f64::from(grid.step_min());
    let mut events = Vec::new();
    let mut index = 0;
    while index < labels.len() {
        let (label, run) = (labels[index], points.run[index]);
        let start = index;
        while index < labels.len() && labels[index] == label && points.run[index] == run {
            index += 1;
        }
        if label == 0 {
            continue;
        }
        let values = &points.values[start..index];
        let extreme = match kind {
            EventKind::Hypo => values.iter().copied().fold(f64::INFINITY, f64::min),
            EventKind::Hyper => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        };
        events.push(GlycemicEvent {
            kind,
            level,
            start: utc_from_seconds(grid.time_s(points.grid_index[start])),
            end: utc_from_seconds(grid.time_s(points.grid_index[index - 1])),
            duration_min: values.len() as f64 * step,
            extreme,
            mean: stats::mean(values),
        });
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `label_run` on booleans: inside is a value of 1.
    fn labels_of(inside: &[bool], start: usize, end: usize) -> Vec<usize> {
        let values: Vec<f64> = inside.iter().map(|&b| f64::from(u8::from(b))).collect();
        let mut labels = vec![9]; // labels are appended after what is there
        label_run(&values, |v| v > 0.5, start, end, &mut labels);
        assert_eq!(labels.remove(0), 9);
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
    fn exclusive_drops_events_reaching_level_2() {
        let mut result = vec![7];
        exclusive(&[5, 1, 1, 0, 2, 2], &[5, 0, 1, 0, 0, 0], 5, &mut result);
        assert_eq!(result, vec![7, 0, 0, 0, 2, 2]);
    }

    #[test]
    fn extended_hyper_needs_90_of_120_minutes() {
        // 5-min grid: 24 points window, 18 required, 3 to end.
        let mut values = vec![260.0; 18];
        values.extend([200.0; 6]);
        values.extend([150.0; 3]);
        let mut labels = Vec::new();
        label_extended_hyper(&values, 180.0, 250.0, 24, 18, 3, &mut labels);
        assert!(labels[..24].iter().all(|&l| l == 1));
        assert!(labels[24..].iter().all(|&l| l == 0));
        let short = vec![260.0; 17];
        let mut labels = Vec::new();
        label_extended_hyper(&short, 180.0, 250.0, 24, 18, 3, &mut labels);
        assert!(labels.iter().all(|&l| l == 0));
    }
}
