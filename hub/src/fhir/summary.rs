//! A glucometrics summary → the HL7 CGM IG 1.0.0 summary: the panel LOINC 107931-8
//! (profile `cgm-summary`) with its six members — mean glucose 97507-8 (mg/dL), times in
//! ranges 106793-3 with components very low 104642-4 (< 54), low 104641-6 (54–69), in
//! range 97510-2 (70–180), high 104640-8 (181–250) and very high 104639-0 (> 250 mg/dL),
//! GMI 97506-0 (%), CV 104638-2 (%), days of wear 104636-6 (d) and sensor active
//! 104637-4 (%) — plus Observations in our code system [`METRICS_SYSTEM`] for what the IG
//! does not cover: time in tight range (70–140 mg/dL), the Glycemia Risk Index with its
//! components and zone, and the hypo-/hyperglycemic event classes of the 2023 consensus.
//!
//! Values are the engine's, unrounded (f64 as JSON numbers), so a receiver reads back
//! exactly what the hub computed.

use chrono::{DateTime, Utc};
use glucometrics::episodes::{EventKind, EventLevel};
use glucometrics::{GlucoseSummary, GlucoseUnit};

use super::types::{
    CodeableConcept, Coding, Component, Identifier, Meta, Observation, Period, Quantity, Reference,
};
use super::{date_time, instant, FhirError, LOINC, SUMMARY_ID_SYSTEM};

/// LOINC code of the CGM summary panel.
pub const PANEL_CODE: &str = "107931-8";

/// LOINC's display of [`PANEL_CODE`].
pub const PANEL_DISPLAY: &str = "Continuous glucose monitoring summary panel";

/// Our code system for the metrics the CGM IG does not code (documented in
/// `docs/fhir.md`).
pub const METRICS_SYSTEM: &str = "https://pghd-hub.example/fhir/CodeSystem/glucometrics";

/// The canonical URL of a CGM IG profile.
macro_rules! ig {
    ($name:literal) => {
        concat!("http://hl7.org/fhir/uv/cgm/StructureDefinition/", $name)
    };
}
pub(crate) use ig;

const LABORATORY: Coding = Coding::fixed(
    "http://terminology.hl7.org/CodeSystem/observation-category",
    "laboratory",
    "Laboratory",
);

fn percent(value: f64) -> Option<Quantity> {
    Quantity::finite(value, "%", "%")
}

/// The summary Observations over `period` (UTC instants shown in offset `offset_min`):
/// the six members first, then the panel, then our own metrics. Identifiers are
/// `{snapshot}/{period start}/{period end}/{code}`, where `snapshot` names the patient
/// and the source readings (see `SubmissionBuilder::add_cgm_summary`), so the same data
/// summarised again is the same resource at the receiver.
///
/// # Errors
/// [`FhirError::MissingFigure`] when a member the IG requires is not a number (e.g. the
/// CV of a single reading); [`FhirError::Unit`] when the summary is not in mg/dL.
pub fn cgm_summary(
    summary: &GlucoseSummary,
    snapshot: &str,
    subject: &Reference,
    period: (DateTime<Utc>, DateTime<Utc>),
    offset_min: Option<i32>,
) -> Result<Vec<Observation>, FhirError> {
    if summary.unit != GlucoseUnit::MgDl {
        return Err(FhirError::Unit);
    }
    let effective = Period {
        start: date_time(period.0, offset_min),
        end: date_time(period.1, offset_min),
    };
    let id_prefix = format!("{snapshot}/{}/{}", instant(period.0), instant(period.1));
    let observation = |code: Coding, text: &'static str, profile: Option<&'static str>| {
        let mut o = Observation::new(
            Identifier::new(SUMMARY_ID_SYSTEM, format!("{id_prefix}/{}", code.code)),
            vec![CodeableConcept {
                coding: vec![LABORATORY],
                text: None,
            }],
            CodeableConcept::of(&[code], text),
            subject.clone(),
        );
        o.effective_period = Some(effective.clone());
        o.meta = profile.map(|p| Meta { profile: vec![p] });
        o
    };
    let required =
        |q: Option<Quantity>, what: &'static str| q.ok_or(FhirError::MissingFigure(what));
    let tir = &summary.time_in_ranges;

    let mut members = Vec::with_capacity(6);
    let mut mean = observation(
        Coding::fixed(
            LOINC,
            "97507-8",
            "Average glucose [Mass/volume] in Interstitial fluid during Reporting Period",
        ),
        "Mean glucose",
        Some(ig!("cgm-summary-mean-glucose-mass-per-volume")),
    );
    mean.value_quantity = Some(required(
        Quantity::finite(summary.statistics.mean, "mg/dl", "mg/dL"),
        "the mean glucose",
    )?);
    members.push(mean);

    let mut ranges = observation(
        Coding::fixed(
            LOINC,
            "106793-3",
            "Glucose tests in Interstitial fluid panel",
        ),
        "Times in glucose ranges",
        Some(ig!("cgm-summary-times-in-ranges")),
    );
    for (code, display, share) in [
        (
            "104642-4",
            "Time in very low range (< 54 mg/dL)",
            tir.very_low_below_54.percent,
        ),
        (
            "104641-6",
            "Time in low range (54–69 mg/dL)",
            tir.low_54_69.percent,
        ),
        (
            "97510-2",
            "Time in target range (70–180 mg/dL)",
            tir.in_range_70_180.percent,
        ),
        (
            "104640-8",
            "Time in high range (181–250 mg/dL)",
            tir.high_181_250.percent,
        ),
        (
            "104639-0",
            "Time in very high range (> 250 mg/dL)",
            tir.very_high_above_250.percent,
        ),
    ] {
        ranges.component.push(Component {
            code: CodeableConcept::of(&[Coding::fixed(LOINC, code, display)], display),
            value_quantity: Some(required(percent(share), "the times in ranges")?),
            value_codeable_concept: None,
        });
    }
    members.push(ranges);

    let mut gmi = observation(
        Coding::fixed(LOINC, "97506-0", "Glucose management indicator"),
        "Glucose Management Indicator (GMI)",
        Some(ig!("cgm-summary-gmi")),
    );
    gmi.value_quantity = Some(required(percent(summary.gmi_percent), "the GMI")?);
    members.push(gmi);

    let mut cv = observation(
        Coding::fixed(LOINC, "104638-2", "Glucose coefficient of variation"),
        "Coefficient of variation (CV)",
        Some(ig!("cgm-summary-coefficient-of-variation")),
    );
    cv.value_quantity = Some(required(
        percent(summary.statistics.cv_percent),
        "the coefficient of variation (at least two readings)",
    )?);
    members.push(cv);

    let mut days = observation(
        Coding::fixed(LOINC, "104636-6", "Number of days CGM worn"),
        "Days of wear",
        Some(ig!("cgm-summary-days-of-wear")),
    );
    days.value_quantity = Some(required(
        Quantity::finite(summary.wear.days, "days", "d"),
        "the days of wear",
    )?);
    members.push(days);

    let mut active = observation(
        Coding::fixed(LOINC, "104637-4", "Percentage of time CGM active"),
        "Sensor active time",
        Some(ig!("cgm-summary-sensor-active-percentage")),
    );
    active.value_quantity = Some(required(
        percent(summary.wear.active_percent),
        "the % time active",
    )?);
    members.push(active);

    let mut panel = observation(
        Coding::fixed(LOINC, PANEL_CODE, PANEL_DISPLAY),
        "CGM summary",
        Some(ig!("cgm-summary")),
    );
    // A member's fullUrl is derived from its identifier (`uuid_urn`), so the panel can
    // name its members before they are in a Bundle.
    panel.has_member = members
        .iter()
        .map(|m| Reference::to(&super::uuid_urn(&m.identifier[0])))
        .collect();

    let mut out = members;
    out.push(panel);

    let ours = |code: &'static str, display: &'static str| {
        observation(Coding::fixed(METRICS_SYSTEM, code, display), display, None)
    };
    let mut titr = ours("time-in-tight-range", "Time in tight range (70–140 mg/dL)");
    titr.value_quantity = percent(tir.tight_range_70_140.percent);
    out.push(titr);

    let mut gri = ours("gri", "Glycemia Risk Index (GRI)");
    gri.value_quantity = Quantity::finite(summary.gri.gri, "{score}", "{score}");
    for (code, display, value) in [
        (
            "gri-hypo-component",
            "GRI hypoglycemia component",
            summary.gri.hypo_component,
        ),
        (
            "gri-hyper-component",
            "GRI hyperglycemia component",
            summary.gri.hyper_component,
        ),
    ] {
        gri.component.push(Component {
            code: CodeableConcept::of(&[Coding::fixed(METRICS_SYSTEM, code, display)], display),
            value_quantity: percent(value),
            value_codeable_concept: None,
        });
    }
    gri.component.push(Component {
        code: CodeableConcept::of(
            &[Coding::fixed(METRICS_SYSTEM, "gri-zone", "GRI zone")],
            "GRI zone",
        ),
        value_quantity: None,
        value_codeable_concept: Some(CodeableConcept {
            coding: vec![Coding {
                system: METRICS_SYSTEM.into(),
                code: format!("gri-zone-{}", summary.gri.zone).into(),
                display: Some(format!("GRI zone {}", summary.gri.zone).into()),
            }],
            text: None,
        }),
    });
    out.push(gri);

    for class in &summary.event_summaries {
        let (code, display) = event_code(class.kind, class.level);
        let mut events = ours(code, display);
        events.value_quantity = Quantity::finite(class.total as f64, "events", "{events}");
        for (c, d, q) in [
            (
                "events-per-day",
                "Events per day",
                Quantity::finite(class.events_per_day, "events/day", "{events}/d"),
            ),
            (
                "mean-event-duration",
                "Mean event duration",
                Quantity::finite(class.mean_duration_min, "min", "min"),
            ),
        ] {
            if let Some(q) = q {
                events.component.push(Component {
                    code: CodeableConcept::of(&[Coding::fixed(METRICS_SYSTEM, c, d)], d),
                    value_quantity: Some(q),
                    value_codeable_concept: None,
                });
            }
        }
        out.push(events);
    }
    // Our own figures the engine could not compute (NaN) are left out, never sent empty.
    out.retain(|o| {
        o.value_quantity.is_some() || !o.component.is_empty() || !o.has_member.is_empty()
    });
    Ok(out)
}

/// Our code for an event class: `{hypo|hyper}-events-{level-1|level-2|extended|level-1-only}`.
#[must_use]
pub fn event_code(kind: EventKind, level: EventLevel) -> (&'static str, &'static str) {
    use EventKind::{Hyper, Hypo};
    use EventLevel::{Extended, Level1, Level1Exclusive, Level2};
    match (kind, level) {
        (Hypo, Level1) => (
            "hypo-events-level-1",
            "Level 1 hypoglycemia events (< 70 mg/dL ≥ 15 min)",
        ),
        (Hypo, Level2) => (
            "hypo-events-level-2",
            "Level 2 hypoglycemia events (< 54 mg/dL ≥ 15 min)",
        ),
        (Hypo, Extended) => (
            "hypo-events-extended",
            "Extended hypoglycemia events (< 70 mg/dL > 120 min)",
        ),
        (Hypo, Level1Exclusive) => (
            "hypo-events-level-1-only",
            "Level 1 hypoglycemia events never reaching level 2",
        ),
        (Hyper, Level1) => (
            "hyper-events-level-1",
            "Level 1 hyperglycemia events (> 180 mg/dL ≥ 15 min)",
        ),
        (Hyper, Level2) => (
            "hyper-events-level-2",
            "Level 2 hyperglycemia events (> 250 mg/dL ≥ 15 min)",
        ),
        (Hyper, Extended) => (
            "hyper-events-extended",
            "Extended hyperglycemia events (> 250 mg/dL ≥ 90 of 120 min)",
        ),
        (Hyper, Level1Exclusive) => (
            "hyper-events-level-1-only",
            "Level 1 hyperglycemia events never reaching level 2",
        ),
    }
}
