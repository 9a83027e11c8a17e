//! The Ambulatory Glucose Profile report: the one-page layout diabetologists read (after
//! the International Diabetes Center's AGP report v5 and the consensus of Battelino et
//! al., Diabetes Care 2019;42:1593 — statistics and targets, the time-in-ranges bar with
//! the consensus targets, the AGP curve, daily profiles), plus the events and the GRI
//! grid (Klonoff et al., J Diabetes Sci Technol 2023;17:1226), and a second page for
//! wearables and blood pressure. Drawn once as a [`scene::Scene`] per page, then written
//! as SVG, PDF or PNG — the same picture, deterministic for the same input.
//!
//! Data sufficiency (consensus): the AGP curve needs ≥ 14 days and ≥ 70 % of the
//! expected CGM readings; below that the chart says why instead of drawing a curve.
//! Italian by default, English on request.

pub mod scene;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use glucometrics::episodes::{EventKind, EventLevel};
use glucometrics::GlucoseSummary;

use crate::daily::DailySummary;
use scene::{Anchor, Rgb, Scene};

/// A4 width, pt.
pub const PAGE_WIDTH: f32 = crate::pdf::A4_WIDTH_PT;
/// A4 height, pt.
pub const PAGE_HEIGHT: f32 = crate::pdf::A4_HEIGHT_PT;

/// The report's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Italian (the default).
    #[default]
    It,
    /// English.
    En,
}

impl Lang {
    /// `it` or `en` (case-insensitive), else `None`.
    #[must_use]
    pub fn parse(code: &str) -> Option<Self> {
        match code.to_ascii_lowercase().as_str() {
            "it" => Some(Self::It),
            "en" => Some(Self::En),
            _ => None,
        }
    }

    /// The BCP 47 code.
    #[must_use]
    pub fn code(self) -> &'static str {
        match self {
            Self::It => "it",
            Self::En => "en",
        }
    }

    fn pick(self, it: &'static str, en: &'static str) -> &'static str {
        match self {
            Self::It => it,
            Self::En => en,
        }
    }

    /// `value` with `decimals` decimals, with the language's decimal separator; `–` for
    /// a missing figure (NaN).
    #[must_use]
    pub fn number(self, value: f64, decimals: usize) -> String {
        if !value.is_finite() {
            return "–".to_owned();
        }
        let text = format!("{value:.decimals$}");
        let text = if text.starts_with('-') && text.trim_start_matches(['-', '0', '.']).is_empty() {
            text[1..].to_owned()
        } else {
            text
        };
        match self {
            Self::It => text.replace('.', ","),
            Self::En => text,
        }
    }

    fn date(self, date: NaiveDate) -> String {
        match self {
            Self::It => date.format("%d/%m/%Y").to_string(),
            Self::En => date.format("%Y-%m-%d").to_string(),
        }
    }

    fn weekday(self, date: NaiveDate) -> &'static str {
        let i = date.weekday().num_days_from_monday() as usize;
        match self {
            Self::It => ["lun", "mar", "mer", "gio", "ven", "sab", "dom"][i],
            Self::En => ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"][i],
        }
    }
}

/// What a report is drawn from.
#[derive(Debug, Clone)]
pub struct ReportInput<'a> {
    /// The patient's name as shown.
    pub patient_name: &'a str,
    /// Their codice fiscale, when known.
    pub fiscal_code: Option<&'a str>,
    /// The period, UTC (start inclusive, end exclusive).
    pub period: (DateTime<Utc>, DateTime<Utc>),
    /// The patient's zone (days and times of day).
    pub time_zone: chrono_tz::Tz,
    /// The glucose summary of the period (mg/dL), or `None` without glucose data.
    pub glucose: Option<&'a GlucoseSummary>,
    /// The wearables' and cuffs' daily summaries of the period.
    pub days: &'a [DailySummary],
    /// Language.
    pub lang: Lang,
    /// When the report is made (UTC).
    pub generated_at: DateTime<Utc>,
}

/// Colours of the ranges (the AGP report's convention: reds below, green in range,
/// yellow and orange above).
pub mod colors {
    use super::Rgb;
    /// < 54 mg/dL.
    pub const VERY_LOW: Rgb = Rgb(139, 26, 26);
    /// 54–69 mg/dL.
    pub const LOW: Rgb = Rgb(224, 60, 49);
    /// 70–180 mg/dL.
    pub const IN_RANGE: Rgb = Rgb(59, 159, 71);
    /// 181–250 mg/dL.
    pub const HIGH: Rgb = Rgb(246, 196, 69);
    /// > 250 mg/dL.
    pub const VERY_HIGH: Rgb = Rgb(242, 140, 40);
    /// The target band's background.
    pub const TARGET_BAND: Rgb = Rgb(227, 242, 229);
    /// 5–95 % band.
    pub const OUTER_BAND: Rgb = Rgb(199, 217, 238);
    /// 25–75 % band.
    pub const INNER_BAND: Rgb = Rgb(125, 167, 217);
    /// Median, daily traces.
    pub const MEDIAN: Rgb = Rgb(31, 78, 140);
    /// Grid lines and secondary text.
    pub const GREY: Rgb = Rgb(110, 110, 110);
    /// Light rules.
    pub const RULE: Rgb = Rgb(200, 200, 200);
}

const MARGIN: f32 = 28.0;
const RIGHT: f32 = PAGE_WIDTH - MARGIN;
/// Top of the glucose axis of the charts, mg/dL (higher values are drawn at the top).
const AXIS_MAX_MG_DL: f64 = 350.0;

/// The report's pages: the AGP page, then wearables and blood pressure.
#[must_use]
pub fn pages(input: &ReportInput<'_>) -> Vec<Scene> {
    vec![glucose_page(input), wearables_page(input)]
}

/// The report as one SVG document (both pages, stacked).
#[must_use]
pub fn svg(input: &ReportInput<'_>) -> String {
    scene::svg(
        &pages(input),
        PAGE_WIDTH,
        PAGE_HEIGHT,
        &title(input),
        input.lang.code(),
    )
}

/// The report as a PDF, with `attachments` embedded (e.g. the FHIR document).
#[must_use]
pub fn pdf(input: &ReportInput<'_>, attachments: &[crate::pdf::Attachment<'_>]) -> String {
    let pages: Vec<crate::pdf::Page> = pages(input)
        .iter()
        .map(|scene| {
            let mut page = crate::pdf::Page::default();
            page.operators(&scene::pdf_operators(scene, PAGE_HEIGHT));
            page
        })
        .collect();
    crate::pdf::write(&title(input), &pages, attachments)
}

/// Liberation Sans (SIL OFL 1.1, `hub/assets/fonts/OFL.txt`), metric-compatible with
/// Helvetica and Arial: the PNG's text does not depend on the host's fonts.
const FONT_REGULAR: &[u8] = include_bytes!("../../assets/fonts/LiberationSans-Regular.ttf");
const FONT_BOLD: &[u8] = include_bytes!("../../assets/fonts/LiberationSans-Bold.ttf");

/// The embedded fonts, loaded once.
fn fonts() -> std::sync::Arc<resvg::usvg::fontdb::Database> {
    static FONTS: std::sync::OnceLock<std::sync::Arc<resvg::usvg::fontdb::Database>> =
        std::sync::OnceLock::new();
    FONTS
        .get_or_init(|| {
            let mut db = resvg::usvg::fontdb::Database::new();
            db.load_font_data(FONT_REGULAR.to_vec());
            db.load_font_data(FONT_BOLD.to_vec());
            std::sync::Arc::new(db)
        })
        .clone()
}

/// The report as a PNG (both pages, stacked), `scale` pixels per CSS pixel (1 CSS px =
/// 0.75 pt; 1.5 gives an A4 page 1,190 px wide), drawn from the SVG by resvg with the
/// embedded fonts.
///
/// # Errors
/// A message if the picture cannot be made (a scale of 0 or too large).
pub fn png(input: &ReportInput<'_>, scale: f32) -> Result<Vec<u8>, String> {
    let options = resvg::usvg::Options {
        font_family: "Liberation Sans".to_owned(),
        fontdb: fonts(),
        ..resvg::usvg::Options::default()
    };
    let tree = resvg::usvg::Tree::from_str(&svg(input), &options).map_err(|e| e.to_string())?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or("the picture's size is out of range")?;
    let mut pixmap = resvg::tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or("the picture's size is out of range")?;
    pixmap.fill(resvg::tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        resvg::tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().map_err(|e| e.to_string())
}

fn title(input: &ReportInput<'_>) -> String {
    format!(
        "{} — {}",
        input.lang.pick(
            "Profilo glicemico ambulatoriale (AGP)",
            "Ambulatory Glucose Profile (AGP) report"
        ),
        input.patient_name
    )
}

/// The local dates of the period (the end is exclusive).
fn local_dates(input: &ReportInput<'_>) -> (NaiveDate, NaiveDate) {
    let first = input.period.0.with_timezone(&input.time_zone).date_naive();
    let last = (input.period.1 - chrono::Duration::milliseconds(1))
        .with_timezone(&input.time_zone)
        .date_naive()
        .max(first);
    (first, last)
}

/// Header lines shared by both pages; returns the y below them.
fn header(scene: &mut Scene, input: &ReportInput<'_>, heading: &str) -> f32 {
    let lang = input.lang;
    scene.text(MARGIN, 40.0, 16.0, heading).bold();
    let mut who = format!(
        "{}: {}",
        lang.pick("Paziente", "Patient"),
        input.patient_name
    );
    if let Some(cf) = input.fiscal_code {
        who.push_str(&format!(
            " · {}: {cf}",
            lang.pick("Codice fiscale", "Fiscal code")
        ));
    }
    scene.text(MARGIN, 58.0, 9.0, who).id("patient");
    let (first, last) = local_dates(input);
    let days = (last - first).num_days() + 1;
    scene
        .text(
            MARGIN,
            72.0,
            9.0,
            format!(
                "{}: {} – {} ({days} {})",
                lang.pick("Periodo", "Period"),
                lang.date(first),
                lang.date(last),
                lang.pick("giorni", "days")
            ),
        )
        .id("period");
    scene.line(vec![(MARGIN, 80.0), (RIGHT, 80.0)], colors::RULE, 1.0, None);
    80.0
}

fn footer(scene: &mut Scene, input: &ReportInput<'_>, page: usize) {
    let lang = input.lang;
    let made = input.generated_at.with_timezone(&input.time_zone);
    scene
        .text(
            MARGIN,
            PAGE_HEIGHT - 18.0,
            7.0,
            format!(
                "pghd-hub {} · {} {} {} ({}) · {}",
                env!("CARGO_PKG_VERSION"),
                lang.pick("generato il", "made on"),
                lang.date(made.date_naive()),
                made.format("%H:%M"),
                input.time_zone,
                lang.pick(
                    "dati raccolti dal paziente (PGHD), non validati da un laboratorio",
                    "patient-generated data, not laboratory-validated"
                )
            ),
        )
        .color(colors::GREY);
    scene
        .text(RIGHT, PAGE_HEIGHT - 18.0, 7.0, format!("{page}/2"))
        .anchor(Anchor::End)
        .color(colors::GREY);
}

fn glucose_page(input: &ReportInput<'_>) -> Scene {
    let lang = input.lang;
    let mut scene = Scene::default();
    header(
        &mut scene,
        input,
        lang.pick(
            "Profilo glicemico ambulatoriale (AGP)",
            "Ambulatory Glucose Profile (AGP)",
        ),
    );
    match input.glucose {
        None => {
            scene
                .text(
                    PAGE_WIDTH / 2.0,
                    300.0,
                    12.0,
                    lang.pick(
                        "Nessuna lettura di glucosio nel periodo.",
                        "No glucose readings in the period.",
                    ),
                )
                .anchor(Anchor::Middle)
                .id("no_glucose");
        }
        Some(summary) => {
            statistics(&mut scene, lang, summary);
            time_in_ranges(&mut scene, lang, summary);
            events(&mut scene, lang, summary);
            gri(&mut scene, lang, summary);
            agp_chart(&mut scene, lang, summary);
            daily_profiles(&mut scene, lang, summary);
        }
    }
    footer(&mut scene, input, 1);
    scene
}

fn section(scene: &mut Scene, x: f32, y: f32, title: &str) {
    scene.text(x, y, 11.0, title).bold().color(colors::MEDIAN);
}

/// A label and a right-aligned value named `id`.
fn row(
    scene: &mut Scene,
    (x, right): (f32, f32),
    y: f32,
    label: &str,
    value: String,
    id: &'static str,
) {
    scene.text(x, y, 9.0, label);
    scene
        .text(right, y, 9.0, value)
        .bold()
        .anchor(Anchor::End)
        .id(id);
}

fn statistics(scene: &mut Scene, lang: Lang, summary: &GlucoseSummary) {
    let s = &summary.statistics;
    let columns = (MARGIN, 290.0);
    section(
        scene,
        MARGIN,
        98.0,
        lang.pick(
            "Statistiche glicemiche e obiettivi",
            "Glucose statistics and targets",
        ),
    );
    let rows: [(&str, String, &'static str); 7] = [
        (
            lang.pick("Glucosio medio", "Mean glucose"),
            format!("{} mg/dL", lang.number(s.mean, 0)),
            "mean_glucose",
        ),
        (
            lang.pick("Indicatore GMI", "GMI"),
            format!(
                "{} % ({} mmol/mol)",
                lang.number(summary.gmi_percent, 1),
                lang.number(summary.gmi_mmol_per_mol, 0)
            ),
            "gmi",
        ),
        (
            lang.pick(
                "Variabilità glicemica (CV), obiettivo ≤36 %",
                "Glucose variability (CV), target ≤36 %",
            ),
            format!("{} %", lang.number(s.cv_percent, 1)),
            "cv",
        ),
        (
            lang.pick("Deviazione standard", "Standard deviation"),
            format!("{} mg/dL", lang.number(s.sd, 0)),
            "sd",
        ),
        (
            lang.pick("Giorni di utilizzo del sensore", "Days of sensor wear"),
            lang.number(summary.wear.days, 1),
            "days_worn",
        ),
        (
            lang.pick("Tempo CGM attivo", "Time CGM active"),
            format!("{} %", lang.number(summary.wear.active_percent, 1)),
            "active_percent",
        ),
        (
            lang.pick("Letture", "Readings"),
            summary.readings.to_string(),
            "readings",
        ),
    ];
    for (i, (label, value, id)) in rows.into_iter().enumerate() {
        row(scene, columns, 118.0 + 17.0 * i as f32, label, value, id);
    }
}

fn time_in_ranges(scene: &mut Scene, lang: Lang, summary: &GlucoseSummary) {
    let tir = &summary.time_in_ranges;
    let x = 312.0;
    section(
        scene,
        x,
        98.0,
        lang.pick("Tempo negli intervalli", "Time in ranges"),
    );
    // Top to bottom, as the AGP report draws them.
    let ranges = [
        (
            tir.very_high_above_250.percent,
            colors::VERY_HIGH,
            lang.pick("Molto alto  >250 mg/dL", "Very high  >250 mg/dL"),
            lang.pick("obiettivo <5 %", "target <5 %"),
            "tir_very_high",
        ),
        (
            tir.high_181_250.percent,
            colors::HIGH,
            lang.pick("Alto  181–250 mg/dL", "High  181–250 mg/dL"),
            lang.pick("alto + molto alto <25 %", "high + very high <25 %"),
            "tir_high",
        ),
        (
            tir.in_range_70_180.percent,
            colors::IN_RANGE,
            lang.pick("Nell'intervallo  70–180 mg/dL", "In range  70–180 mg/dL"),
            lang.pick("obiettivo >70 %", "target >70 %"),
            "tir_in_range",
        ),
        (
            tir.low_54_69.percent,
            colors::LOW,
            lang.pick("Basso  54–69 mg/dL", "Low  54–69 mg/dL"),
            lang.pick("basso + molto basso <4 %", "low + very low <4 %"),
            "tir_low",
        ),
        (
            tir.very_low_below_54.percent,
            colors::VERY_LOW,
            lang.pick("Molto basso  <54 mg/dL", "Very low  <54 mg/dL"),
            lang.pick("obiettivo <1 %", "target <1 %"),
            "tir_very_low",
        ),
    ];
    let (bar_top, bar_height, bar_width) = (108.0, 150.0_f32, 34.0);
    let total: f64 = ranges.iter().map(|r| r.0.max(0.0)).sum();
    let mut y = bar_top;
    for (percent, color, _, _, _) in &ranges {
        let h = if total > 0.0 {
            (percent.max(0.0) / total) as f32 * bar_height
        } else {
            0.0
        };
        if h > 0.0 {
            scene.fill_rect(x, y, bar_width, h, *color);
        }
        y += h;
    }
    scene.frame(x, bar_top, bar_width, bar_height, colors::GREY, 0.5);
    for (i, (percent, color, label, target, id)) in ranges.iter().enumerate() {
        let row_y = 120.0 + 30.0 * i as f32;
        scene.fill_rect(x + bar_width + 8.0, row_y - 7.0, 8.0, 8.0, *color);
        scene.text(x + bar_width + 20.0, row_y, 9.0, *label);
        scene
            .text(
                RIGHT,
                row_y,
                10.0,
                format!("{} %", lang.number(*percent, 0)),
            )
            .bold()
            .anchor(Anchor::End)
            .id(id);
        scene
            .text(x + bar_width + 20.0, row_y + 11.0, 7.0, *target)
            .color(colors::GREY);
    }
    scene.text(
        x,
        274.0,
        9.0,
        lang.pick(
            "Tempo nell'intervallo stretto 70–140 mg/dL",
            "Time in tight range 70–140 mg/dL",
        ),
    );
    scene
        .text(
            RIGHT,
            274.0,
            10.0,
            format!("{} %", lang.number(tir.tight_range_70_140.percent, 0)),
        )
        .bold()
        .anchor(Anchor::End)
        .id("titr");
}

fn events(scene: &mut Scene, lang: Lang, summary: &GlucoseSummary) {
    section(
        scene,
        MARGIN,
        300.0,
        lang.pick("Eventi (consenso 2023)", "Events (2023 consensus)"),
    );
    let find = |kind: EventKind, level: EventLevel| {
        summary
            .event_summaries
            .iter()
            .find(|e| e.kind == kind && e.level == level)
    };
    let rows = [
        (
            EventKind::Hypo,
            EventLevel::Level1,
            lang.pick(
                "Ipoglicemie livello 1 (<70 mg/dL)",
                "Level 1 hypoglycaemia (<70 mg/dL)",
            ),
            "events_hypo_level1",
        ),
        (
            EventKind::Hypo,
            EventLevel::Level2,
            lang.pick(
                "Ipoglicemie livello 2 (<54 mg/dL)",
                "Level 2 hypoglycaemia (<54 mg/dL)",
            ),
            "events_hypo_level2",
        ),
        (
            EventKind::Hyper,
            EventLevel::Level1,
            lang.pick(
                "Iperglicemie livello 1 (>180 mg/dL)",
                "Level 1 hyperglycaemia (>180 mg/dL)",
            ),
            "events_hyper_level1",
        ),
        (
            EventKind::Hyper,
            EventLevel::Level2,
            lang.pick(
                "Iperglicemie livello 2 (>250 mg/dL)",
                "Level 2 hyperglycaemia (>250 mg/dL)",
            ),
            "events_hyper_level2",
        ),
    ];
    for (i, (kind, level, label, id)) in rows.into_iter().enumerate() {
        let (total, per_day) = find(kind, level).map_or((0, 0.0), |e| (e.total, e.events_per_day));
        row(
            scene,
            (MARGIN, 290.0),
            318.0 + 15.0 * i as f32,
            label,
            format!(
                "{total} ({} {})",
                lang.number(per_day, 1),
                lang.pick("/giorno", "/day")
            ),
            id,
        );
    }
}

/// The half of `polygon` where `3·x + 1.6·y ≤ limit` (Sutherland–Hodgman against one
/// line), in GRI component coordinates.
fn clip_gri(polygon: &[(f64, f64)], limit: f64) -> Vec<(f64, f64)> {
    let inside = |p: (f64, f64)| 3.0 * p.0 + 1.6 * p.1 <= limit;
    let mut out = Vec::new();
    for (i, &current) in polygon.iter().enumerate() {
        let previous = polygon[(i + polygon.len() - 1) % polygon.len()];
        let crossing = || {
            let (f0, f1) = (
                3.0 * previous.0 + 1.6 * previous.1 - limit,
                3.0 * current.0 + 1.6 * current.1 - limit,
            );
            let t = f0 / (f0 - f1);
            (
                previous.0 + t * (current.0 - previous.0),
                previous.1 + t * (current.1 - previous.1),
            )
        };
        match (inside(previous), inside(current)) {
            (true, true) => out.push(current),
            (true, false) => out.push(crossing()),
            (false, true) => {
                out.push(crossing());
                out.push(current);
            }
            (false, false) => {}
        }
    }
    out
}

fn gri(scene: &mut Scene, lang: Lang, summary: &GlucoseSummary) {
    let g = &summary.gri;
    let x = 312.0;
    section(
        scene,
        x,
        300.0,
        lang.pick(
            "Indice di rischio glicemico (GRI)",
            "Glycemia Risk Index (GRI)",
        ),
    );
    scene.text(x, 318.0, 9.0, "GRI");
    scene
        .text(x + 100.0, 318.0, 10.0, lang.number(g.gri, 1))
        .bold()
        .anchor(Anchor::End)
        .id("gri");
    scene.text(x, 333.0, 9.0, lang.pick("Zona", "Zone"));
    scene
        .text(x + 100.0, 333.0, 10.0, g.zone.to_string())
        .bold()
        .anchor(Anchor::End)
        .id("gri_zone");
    scene.text(x, 348.0, 8.0, lang.pick("Componente ipo", "Hypo component"));
    scene
        .text(x + 100.0, 348.0, 8.0, lang.number(g.hypo_component, 1))
        .anchor(Anchor::End)
        .id("gri_hypo");
    scene.text(
        x,
        361.0,
        8.0,
        lang.pick("Componente iper", "Hyper component"),
    );
    scene
        .text(x + 100.0, 361.0, 8.0, lang.number(g.hyper_component, 1))
        .anchor(Anchor::End)
        .id("gri_hyper");
    // The GRI grid: hypo component 0–30 across, hyper component 0–60 up; zones A–E are
    // the bands between the lines 3·hypo + 1.6·hyper = 20, 40, 60, 80.
    let (gx, gy, gw, gh) = (447.0_f32, 308.0_f32, 114.0_f32, 60.0_f32);
    let to_page = |(hypo, hyper): (f64, f64)| {
        (
            gx + (hypo / 30.0) as f32 * gw,
            gy + gh - (hyper / 60.0) as f32 * gh,
        )
    };
    let rect = [(0.0, 0.0), (30.0, 0.0), (30.0, 60.0), (0.0, 60.0)];
    let zones = [
        (f64::INFINITY, Rgb(242, 170, 160)),
        (80.0, Rgb(246, 196, 170)),
        (60.0, Rgb(250, 225, 170)),
        (40.0, Rgb(240, 240, 180)),
        (20.0, Rgb(205, 232, 200)),
    ];
    for (limit, color) in zones {
        let part = if limit.is_finite() {
            clip_gri(&rect, limit)
        } else {
            rect.to_vec()
        };
        scene.polygon(part.into_iter().map(to_page).collect(), color);
    }
    scene.frame(gx, gy, gw, gh, colors::GREY, 0.5);
    for (label, at) in [
        ("A", (3.0, 4.0)),
        ("B", (8.0, 14.0)),
        ("C", (13.0, 24.0)),
        ("D", (18.0, 34.0)),
        ("E", (25.0, 50.0)),
    ] {
        let (px, py) = to_page(at);
        scene.text(px, py, 7.0, label).color(colors::GREY);
    }
    if g.hypo_component.is_finite() && g.hyper_component.is_finite() {
        let (px, py) = to_page((g.hypo_component.min(30.0), g.hyper_component.min(60.0)));
        scene.fill_rect(px - 2.5, py - 2.5, 5.0, 5.0, Rgb::BLACK);
    }
    scene
        .text(
            gx + gw / 2.0,
            gy + gh + 9.0,
            6.5,
            lang.pick("ipo →", "hypo →"),
        )
        .anchor(Anchor::Middle)
        .color(colors::GREY);
    scene
        .text(gx - 3.0, gy + 7.0, 6.5, lang.pick("iper", "hyper"))
        .anchor(Anchor::End)
        .color(colors::GREY);
}

/// y of `mg_dl` in a chart whose top is `top` and height `height` (clipped to the axis).
fn glucose_y(mg_dl: f64, top: f32, height: f32) -> f32 {
    top + height - (mg_dl.clamp(0.0, AXIS_MAX_MG_DL) / AXIS_MAX_MG_DL) as f32 * height
}

fn agp_chart(scene: &mut Scene, lang: Lang, summary: &GlucoseSummary) {
    section(
        scene,
        MARGIN,
        392.0,
        lang.pick(
            "Profilo glicemico ambulatoriale: percentili 5–25–50–75–95 per ora del giorno",
            "Ambulatory glucose profile: 5th–25th–50th–75th–95th percentiles by time of day",
        ),
    );
    let (x0, top, width, height) = (60.0_f32, 402.0_f32, RIGHT - 60.0, 170.0_f32);
    let band_top = glucose_y(180.0, top, height);
    scene.fill_rect(
        x0,
        band_top,
        width,
        glucose_y(70.0, top, height) - band_top,
        colors::TARGET_BAND,
    );
    for (level, color, dash) in [
        (54.0, colors::VERY_LOW, Some(2.0)),
        (70.0, colors::IN_RANGE, None),
        (180.0, colors::IN_RANGE, None),
        (250.0, colors::VERY_HIGH, Some(2.0)),
    ] {
        let y = glucose_y(level, top, height);
        scene.line(vec![(x0, y), (x0 + width, y)], color, 0.75, dash);
        scene
            .text(x0 - 4.0, y + 3.0, 7.0, lang.number(level, 0))
            .anchor(Anchor::End)
            .color(colors::GREY);
    }
    scene
        .text(x0 - 4.0, top + 3.0, 7.0, "mg/dL")
        .anchor(Anchor::End)
        .color(colors::GREY);
    for hour in (0..=24).step_by(3) {
        let x = x0 + width * hour as f32 / 24.0;
        scene.line(
            vec![(x, top + height), (x, top + height + 3.0)],
            colors::GREY,
            0.5,
            None,
        );
        scene
            .text(x, top + height + 12.0, 7.0, format!("{hour:02}:00"))
            .anchor(Anchor::Middle)
            .color(colors::GREY);
    }
    scene.frame(x0, top, width, height, colors::GREY, 0.5);
    if !summary.sufficiency.sufficient() {
        scene
            .text(
                x0 + width / 2.0,
                top + height / 2.0,
                9.0,
                match lang {
                    Lang::It => format!(
                        "Dati insufficienti per l'AGP: servono almeno 14 giorni e il 70 % di tempo CGM attivo (qui {} giorni, {} %).",
                        lang.number(summary.wear.days, 1),
                        lang.number(summary.wear.active_percent, 0)
                    ),
                    Lang::En => format!(
                        "Not enough data for an AGP: it needs at least 14 days and 70 % time CGM active (here {} days, {} %).",
                        lang.number(summary.wear.days, 1),
                        lang.number(summary.wear.active_percent, 0)
                    ),
                },
            )
            .anchor(Anchor::Middle)
            .bold()
            .id("agp_insufficient");
        return;
    }
    // Bins at their centres; runs of bins with data drawn separately.
    let bin_width = summary.agp.get(1).map_or(15.0, |b| {
        f64::from(b.start_min) - f64::from(summary.agp[0].start_min)
    });
    let x_of =
        |start_min: u32| x0 + width * ((f64::from(start_min) + bin_width / 2.0) / 1440.0) as f32;
    let mut runs: Vec<Vec<&glucometrics::agp::AgpBin>> = vec![Vec::new()];
    for bin in &summary.agp {
        if bin.percentiles.iter().all(|p| p.is_finite()) {
            runs.last_mut().unwrap_or_else(|| unreachable!()).push(bin);
        } else if !runs.last().is_some_and(Vec::is_empty) {
            runs.push(Vec::new());
        }
    }
    for run in runs.iter().filter(|r| !r.is_empty()) {
        for ((low, high), color) in [((0, 4), colors::OUTER_BAND), ((1, 3), colors::INNER_BAND)] {
            let mut points: Vec<(f32, f32)> = run
                .iter()
                .map(|b| {
                    (
                        x_of(b.start_min),
                        glucose_y(b.percentiles[high], top, height),
                    )
                })
                .collect();
            points.extend(run.iter().rev().map(|b| {
                (
                    x_of(b.start_min),
                    glucose_y(b.percentiles[low], top, height),
                )
            }));
            scene.polygon(points, color);
        }
        scene.line(
            run.iter()
                .map(|b| (x_of(b.start_min), glucose_y(b.percentiles[2], top, height)))
                .collect(),
            colors::MEDIAN,
            2.0,
            None,
        );
    }
    let legend_y = top + height + 24.0;
    for (i, (color, label)) in [
        (colors::MEDIAN, lang.pick("mediana", "median")),
        (colors::INNER_BAND, "25–75 %"),
        (colors::OUTER_BAND, "5–95 %"),
        (
            colors::TARGET_BAND,
            lang.pick("obiettivo 70–180 mg/dL", "target 70–180 mg/dL"),
        ),
    ]
    .into_iter()
    .enumerate()
    {
        let x = x0 + 110.0 * i as f32;
        scene.fill_rect(x, legend_y - 6.0, 10.0, 6.0, color);
        scene
            .text(x + 14.0, legend_y, 7.0, label)
            .color(colors::GREY);
    }
}

fn daily_profiles(scene: &mut Scene, lang: Lang, summary: &GlucoseSummary) {
    section(
        scene,
        MARGIN,
        622.0,
        lang.pick("Profili glicemici giornalieri", "Daily glucose profiles"),
    );
    // The last 14 days, seven to a row.
    let days = &summary.daily_profiles[summary.daily_profiles.len().saturating_sub(14)..];
    let (columns, cell_w, cell_h) = (7, (RIGHT - MARGIN) / 7.0, 84.0_f32);
    for (i, day) in days.iter().enumerate() {
        let x = MARGIN + cell_w * (i % columns) as f32;
        let y = 632.0 + (cell_h + 6.0) * (i / columns) as f32;
        let (top, height) = (y + 10.0, cell_h - 22.0);
        scene
            .text(
                x + 2.0,
                y + 7.0,
                6.5,
                format!("{} {}", lang.weekday(day.date), day.date.format("%d/%m")),
            )
            .color(colors::GREY);
        let band_top = glucose_y(180.0, top, height);
        scene.fill_rect(
            x + 1.0,
            band_top,
            cell_w - 2.0,
            glucose_y(70.0, top, height) - band_top,
            colors::TARGET_BAND,
        );
        scene.frame(x + 1.0, top, cell_w - 2.0, height, colors::RULE, 0.5);
        // A gap of more than 30 minutes breaks the trace.
        let mut trace: Vec<(f32, f32)> = Vec::new();
        let mut last_minute = f32::NEG_INFINITY;
        for &(minute, mg_dl) in &day.points {
            if minute - last_minute > 30.0 && !trace.is_empty() {
                scene.line(std::mem::take(&mut trace), colors::MEDIAN, 0.6, None);
            }
            trace.push((
                x + 1.0 + (cell_w - 2.0) * (minute / 1440.0),
                glucose_y(f64::from(mg_dl), top, height),
            ));
            last_minute = minute;
        }
        scene.line(trace, colors::MEDIAN, 0.6, None);
        scene
            .text(
                x + cell_w - 3.0,
                y + cell_h - 3.0,
                6.5,
                format!("TIR {} %", lang.number(day.time_in_range_percent, 0)),
            )
            .anchor(Anchor::End)
            .color(colors::GREY);
    }
}

/// A bar or point chart across the period's days: frame, y labels, day ticks; returns
/// the x of each day's centre.
struct DayAxis {
    first: NaiveDate,
    count: usize,
    x0: f32,
    width: f32,
}

impl DayAxis {
    fn slot(&self) -> f32 {
        self.width / self.count as f32
    }

    fn x(&self, date: NaiveDate) -> Option<f32> {
        let i = usize::try_from((date - self.first).num_days()).ok()?;
        (i < self.count).then(|| self.x0 + self.slot() * (i as f32 + 0.5))
    }
}

/// Draws a chart frame with y ticks at `ticks` (value → y) and day labels; returns the
/// value → y mapping's parameters (top, height, max).
fn chart_frame(
    scene: &mut Scene,
    lang: Lang,
    axis: &DayAxis,
    top: f32,
    height: f32,
    max: f64,
    ticks: &[f64],
) {
    scene.frame(axis.x0, top, axis.width, height, colors::GREY, 0.5);
    for &tick in ticks {
        let y = top + height - (tick / max) as f32 * height;
        scene.line(
            vec![(axis.x0, y), (axis.x0 + axis.width, y)],
            colors::RULE,
            0.4,
            None,
        );
        scene
            .text(axis.x0 - 3.0, y + 2.5, 6.5, lang.number(tick, 0))
            .anchor(Anchor::End)
            .color(colors::GREY);
    }
    let step = axis.count.div_ceil(14).max(1);
    for i in (0..axis.count).step_by(step) {
        let date = axis.first + chrono::Duration::days(i as i64);
        if let Some(x) = axis.x(date) {
            scene
                .text(x, top + height + 9.0, 6.0, date.format("%d/%m").to_string())
                .anchor(Anchor::Middle)
                .color(colors::GREY);
        }
    }
}

/// A round upper bound for a chart of values up to `max`.
fn nice_max(max: f64, floor: f64) -> f64 {
    let max = max.max(floor);
    let magnitude = 10f64.powf(max.log10().floor());
    let steps = [1.0, 2.0, 2.5, 5.0, 10.0];
    steps
        .iter()
        .map(|s| s * magnitude)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * magnitude)
}

fn mean(values: impl Iterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values.fold((0.0, 0_u32), |(s, n), v| (s + v, n + 1));
    (n > 0).then(|| sum / f64::from(n))
}

fn wearables_page(input: &ReportInput<'_>) -> Scene {
    let lang = input.lang;
    let mut scene = Scene::default();
    header(
        &mut scene,
        input,
        lang.pick(
            "Attività, sonno, frequenza cardiaca e pressione",
            "Activity, sleep, heart rate and blood pressure",
        ),
    );
    let (first, last) = local_dates(input);
    let axis = DayAxis {
        first,
        count: usize::try_from((last - first).num_days() + 1)
            .unwrap_or(1)
            .max(1),
        x0: 60.0,
        width: RIGHT - 60.0,
    };
    let days = input.days;
    if days.is_empty() {
        scene
            .text(
                PAGE_WIDTH / 2.0,
                300.0,
                12.0,
                lang.pick(
                    "Nessun dato da dispositivi indossabili o bracciali nel periodo.",
                    "No data from wearables or cuffs in the period.",
                ),
            )
            .anchor(Anchor::Middle)
            .id("no_wearables");
        footer(&mut scene, input, 2);
        return scene;
    }
    let bar = axis.slot() * 0.7;

    // Steps.
    let steps: Vec<(NaiveDate, f64)> = days
        .iter()
        .filter_map(|d| Some((d.date, d.steps?)))
        .collect();
    let steps_mean = mean(steps.iter().map(|s| s.1));
    section(
        &mut scene,
        MARGIN,
        100.0,
        lang.pick("Passi al giorno", "Steps per day"),
    );
    scene
        .text(
            RIGHT,
            100.0,
            9.0,
            match steps_mean {
                Some(m) => format!("{}: {}", lang.pick("media", "mean"), lang.number(m, 0)),
                None => "–".to_owned(),
            },
        )
        .anchor(Anchor::End)
        .id("steps_mean");
    let (top, height) = (108.0, 110.0);
    let max = nice_max(steps.iter().map(|s| s.1).fold(0.0, f64::max), 1000.0);
    chart_frame(
        &mut scene,
        lang,
        &axis,
        top,
        height,
        max,
        &[0.0, max / 2.0, max],
    );
    for (date, value) in &steps {
        if let Some(x) = axis.x(*date) {
            let h = (value / max) as f32 * height;
            scene.fill_rect(x - bar / 2.0, top + height - h, bar, h, colors::MEDIAN);
        }
    }

    // Sleep by stage.
    section(
        &mut scene,
        MARGIN,
        252.0,
        lang.pick("Sonno (ore per notte)", "Sleep (hours per night)"),
    );
    let sleep_mean = mean(days.iter().filter_map(|d| d.sleep_min));
    scene
        .text(
            RIGHT,
            252.0,
            9.0,
            match sleep_mean {
                Some(m) => format!(
                    "{}: {} h {:02} min",
                    lang.pick("media", "mean"),
                    (m / 60.0).floor(),
                    (m % 60.0).round() as u32 % 60
                ),
                None => "–".to_owned(),
            },
        )
        .anchor(Anchor::End)
        .id("sleep_mean");
    let (top, height) = (260.0, 110.0);
    let max_h = nice_max(
        days.iter()
            .map(|d| d.sleep_by_stage_min.values().sum::<f64>() / 60.0)
            .fold(0.0, f64::max),
        8.0,
    );
    chart_frame(
        &mut scene,
        lang,
        &axis,
        top,
        height,
        max_h,
        &[0.0, max_h / 2.0, max_h],
    );
    let stages = [
        ("deep", Rgb(31, 78, 140)),
        ("light", Rgb(125, 167, 217)),
        ("rem", Rgb(150, 110, 190)),
        ("asleep", Rgb(100, 130, 180)),
        ("awake", Rgb(230, 190, 120)),
    ];
    for day in days {
        let Some(x) = axis.x(day.date) else { continue };
        let mut y = top + height;
        for (stage, color) in stages {
            if let Some(minutes) = day.sleep_by_stage_min.get(stage) {
                let h = (minutes / 60.0 / max_h) as f32 * height;
                y -= h;
                scene.fill_rect(x - bar / 2.0, y, bar, h, color);
            }
        }
    }
    for (i, (stage, color)) in stages.iter().enumerate() {
        let label = match (lang, *stage) {
            (Lang::It, "deep") => "profondo",
            (Lang::It, "light") => "leggero",
            (Lang::It, "asleep") => "sonno",
            (Lang::It, "awake") => "sveglio",
            (_, "rem") => "REM",
            (Lang::En, s) => s,
            (Lang::It, s) => s,
        };
        let x = 60.0 + 80.0 * i as f32;
        scene.fill_rect(x, top + height + 14.0, 8.0, 6.0, *color);
        scene
            .text(x + 11.0, top + height + 20.0, 6.5, label)
            .color(colors::GREY);
    }

    // Heart rate: daily mean (bar from min to max, dot at mean) and resting.
    section(
        &mut scene,
        MARGIN,
        418.0,
        lang.pick("Frequenza cardiaca (/min)", "Heart rate (/min)"),
    );
    let hr: Vec<(NaiveDate, &crate::daily::HeartRateDay)> = days
        .iter()
        .filter_map(|d| Some((d.date, d.heart_rate.as_ref()?)))
        .collect();
    scene
        .text(
            RIGHT,
            418.0,
            9.0,
            match (
                mean(hr.iter().map(|h| h.1.mean_per_min)),
                mean(hr.iter().filter_map(|h| h.1.resting_per_min)),
            ) {
                (Some(m), Some(r)) => format!(
                    "{}: {} · {}: {}",
                    lang.pick("media", "mean"),
                    lang.number(m, 0),
                    lang.pick("a riposo", "resting"),
                    lang.number(r, 0)
                ),
                (Some(m), None) => format!("{}: {}", lang.pick("media", "mean"), lang.number(m, 0)),
                _ => "–".to_owned(),
            },
        )
        .anchor(Anchor::End)
        .id("heart_rate_mean");
    let (top, height, max) = (426.0, 110.0, 200.0);
    chart_frame(
        &mut scene,
        lang,
        &axis,
        top,
        height,
        max,
        &[40.0, 80.0, 120.0, 160.0, 200.0],
    );
    let y_of = |v: f64, top: f32, height: f32, max: f64| {
        top + height - (v.clamp(0.0, max) / max) as f32 * height
    };
    for (date, day) in &hr {
        let Some(x) = axis.x(*date) else { continue };
        scene.line(
            vec![
                (x, y_of(day.min_per_min, top, height, max)),
                (x, y_of(day.max_per_min, top, height, max)),
            ],
            colors::OUTER_BAND,
            bar.min(6.0),
            None,
        );
        let y = y_of(day.mean_per_min, top, height, max);
        scene.fill_rect(x - 2.0, y - 2.0, 4.0, 4.0, colors::MEDIAN);
        if let Some(resting) = day.resting_per_min {
            let y = y_of(resting, top, height, max);
            scene.line(
                vec![(x - 3.0, y), (x + 3.0, y)],
                colors::IN_RANGE,
                1.5,
                None,
            );
        }
    }

    // Blood pressure with the ESH home thresholds (135/85 mmHg; ESH 2023 guidelines,
    // J Hypertens 2023;41:1874, table 6).
    section(
        &mut scene,
        MARGIN,
        584.0,
        lang.pick("Pressione arteriosa (mmHg)", "Blood pressure (mmHg)"),
    );
    let bp: Vec<(NaiveDate, &crate::daily::BloodPressureDay)> = days
        .iter()
        .filter_map(|d| Some((d.date, d.blood_pressure.as_ref()?)))
        .collect();
    let systolic = mean(bp.iter().map(|b| b.1.systolic_mean_mm_hg));
    let diastolic = mean(bp.iter().filter_map(|b| b.1.diastolic_mean_mm_hg));
    scene
        .text(
            RIGHT,
            584.0,
            9.0,
            match (systolic, diastolic) {
                (Some(s), Some(d)) => format!(
                    "{}: {}/{}",
                    lang.pick("media", "mean"),
                    lang.number(s, 0),
                    lang.number(d, 0)
                ),
                (Some(s), None) => format!("{}: {}", lang.pick("media", "mean"), lang.number(s, 0)),
                _ => "–".to_owned(),
            },
        )
        .anchor(Anchor::End)
        .id("blood_pressure_mean");
    let (top, height, max) = (592.0, 130.0, 200.0);
    chart_frame(
        &mut scene,
        lang,
        &axis,
        top,
        height,
        max,
        &[60.0, 100.0, 140.0, 180.0],
    );
    for (threshold, label) in [(135.0, "135"), (85.0, "85")] {
        let y = y_of(threshold, top, height, max);
        scene.line(
            vec![(axis.x0, y), (axis.x0 + axis.width, y)],
            colors::LOW,
            0.75,
            Some(3.0),
        );
        scene
            .text(
                axis.x0 + axis.width - 2.0,
                y - 2.0,
                6.5,
                format!("ESH {label}"),
            )
            .anchor(Anchor::End)
            .color(colors::LOW);
    }
    for (date, day) in &bp {
        let Some(x) = axis.x(*date) else { continue };
        let ys = y_of(day.systolic_mean_mm_hg, top, height, max);
        scene.fill_rect(x - 2.5, ys - 2.5, 5.0, 5.0, colors::VERY_HIGH);
        if let Some(d) = day.diastolic_mean_mm_hg {
            let yd = y_of(d, top, height, max);
            scene.line(vec![(x, ys), (x, yd)], colors::GREY, 0.5, None);
            scene.fill_rect(x - 2.5, yd - 2.5, 5.0, 5.0, colors::MEDIAN);
        }
    }
    scene
        .text(
            60.0,
            top + height + 22.0,
            7.0,
            lang.pick(
                "Sistolica (arancio) e diastolica (blu), media del giorno; soglie ESH 2023 per la misurazione domiciliare: 135/85 mmHg.",
                "Systolic (orange) and diastolic (blue), daily mean; ESH 2023 thresholds for home measurement: 135/85 mmHg.",
            ),
        )
        .color(colors::GREY);

    // Energy and distance.
    let energy = mean(days.iter().filter_map(|d| d.energy_kcal));
    let distance = mean(days.iter().filter_map(|d| d.distance_m));
    row(
        &mut scene,
        (MARGIN, 290.0),
        770.0,
        lang.pick(
            "Energia spesa, media giornaliera",
            "Energy expended, daily mean",
        ),
        energy.map_or_else(|| "–".to_owned(), |e| format!("{} kcal", lang.number(e, 0))),
        "energy_mean",
    );
    row(
        &mut scene,
        (312.0, RIGHT),
        770.0,
        lang.pick("Distanza, media giornaliera", "Distance, daily mean"),
        distance.map_or_else(
            || "–".to_owned(),
            |d| format!("{} km", lang.number(d / 1000.0, 1)),
        ),
        "distance_mean",
    );
    footer(&mut scene, input, 2);
    scene
}

#[cfg(test)]
mod tests;
