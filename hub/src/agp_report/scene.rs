//! A small vector drawing model — rectangles, lines, filled polygons and text on pages
//! of points (1/72 inch, origin at the top left, y downwards) — with two back ends that
//! draw the same page: SVG 1.1 text and PDF content streams ([`crate::pdf`]). Pure and
//! deterministic: numbers are written with at most two decimals.

use std::fmt::Write as _;

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// Black.
    pub const BLACK: Self = Self(0, 0, 0);
    /// White.
    pub const WHITE: Self = Self(255, 255, 255);

    fn svg(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    fn pdf(self) -> String {
        let c = |v: u8| num(f32::from(v) / 255.0);
        format!("{} {} {}", c(self.0), c(self.1), c(self.2))
    }
}

/// Horizontal alignment of text on its x.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    /// x is the left edge.
    Start,
    /// x is the centre.
    Middle,
    /// x is the right edge.
    End,
}

/// One thing drawn.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A rectangle: top-left corner, size; filled and/or outlined.
    Rect {
        /// Left, pt.
        x: f32,
        /// Top, pt.
        y: f32,
        /// Width, pt.
        w: f32,
        /// Height, pt.
        h: f32,
        /// Fill colour.
        fill: Option<Rgb>,
        /// Outline colour and width, pt.
        stroke: Option<(Rgb, f32)>,
    },
    /// An open polyline.
    Line {
        /// The points, pt.
        points: Vec<(f32, f32)>,
        /// Colour.
        color: Rgb,
        /// Width, pt.
        width: f32,
        /// Dash length, pt (solid when `None`).
        dash: Option<f32>,
    },
    /// A closed, filled polygon.
    Polygon {
        /// The vertices, pt.
        points: Vec<(f32, f32)>,
        /// Fill colour.
        fill: Rgb,
    },
    /// A run of text in Helvetica; `id`, when given, names the figure it shows (the SVG
    /// carries it as `data-metric`, so a reader or a test can find the number).
    Text {
        /// Anchor x, pt.
        x: f32,
        /// Baseline, pt.
        y: f32,
        /// Size, pt.
        size: f32,
        /// Helvetica-Bold.
        bold: bool,
        /// Alignment on `x`.
        anchor: Anchor,
        /// Colour.
        color: Rgb,
        /// What it says.
        text: String,
        /// The figure's name, e.g. `mean_glucose`.
        id: Option<&'static str>,
    },
}

/// A page being drawn.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scene {
    /// What is on it, in painting order.
    pub items: Vec<Item>,
}

impl Scene {
    /// A filled rectangle.
    pub fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, fill: Rgb) {
        self.items.push(Item::Rect {
            x,
            y,
            w,
            h,
            fill: Some(fill),
            stroke: None,
        });
    }

    /// An outlined rectangle.
    pub fn frame(&mut self, x: f32, y: f32, w: f32, h: f32, color: Rgb, width: f32) {
        self.items.push(Item::Rect {
            x,
            y,
            w,
            h,
            fill: None,
            stroke: Some((color, width)),
        });
    }

    /// A polyline.
    pub fn line(&mut self, points: Vec<(f32, f32)>, color: Rgb, width: f32, dash: Option<f32>) {
        if points.len() >= 2 {
            self.items.push(Item::Line {
                points,
                color,
                width,
                dash,
            });
        }
    }

    /// A filled polygon.
    pub fn polygon(&mut self, points: Vec<(f32, f32)>, fill: Rgb) {
        if points.len() >= 3 {
            self.items.push(Item::Polygon { points, fill });
        }
    }

    /// Text (regular, black, left-aligned unless changed with the builder below).
    pub fn text(&mut self, x: f32, y: f32, size: f32, text: impl Into<String>) -> &mut Item {
        self.items.push(Item::Text {
            x,
            y,
            size,
            bold: false,
            anchor: Anchor::Start,
            color: Rgb::BLACK,
            text: text.into(),
            id: None,
        });
        self.items.last_mut().unwrap_or_else(|| unreachable!())
    }
}

impl Item {
    /// Makes text bold.
    pub fn bold(&mut self) -> &mut Self {
        if let Self::Text { bold, .. } = self {
            *bold = true;
        }
        self
    }

    /// Aligns text on its x.
    pub fn anchor(&mut self, to: Anchor) -> &mut Self {
        if let Self::Text { anchor, .. } = self {
            *anchor = to;
        }
        self
    }

    /// Colours text.
    pub fn color(&mut self, to: Rgb) -> &mut Self {
        if let Self::Text { color, .. } = self {
            *color = to;
        }
        self
    }

    /// Names the figure the text shows.
    pub fn id(&mut self, name: &'static str) -> &mut Self {
        if let Self::Text { id, .. } = self {
            *id = Some(name);
        }
        self
    }
}

/// A number with at most two decimals, without trailing zeros.
fn num(value: f32) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// `text` escaped for XML character data and attribute values.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            _ => out.push(c),
        }
    }
    out
}

/// The pages as one SVG document, stacked vertically with a gap, each `width` × `height`
/// pt; `title` is the document's accessible name.
#[must_use]
pub fn svg(pages: &[Scene], width: f32, height: f32, title: &str, lang: &str) -> String {
    const GAP: f32 = 16.0;
    let count = pages.len().max(1);
    let total = height * count as f32 + GAP * (count as f32 - 1.0);
    let mut out = String::with_capacity(64 * 1024);
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{w}pt\" height=\"{t}pt\" \
         viewBox=\"0 0 {w} {t}\" role=\"img\" aria-labelledby=\"report-title\" xml:lang=\"{lang}\" \
         font-family=\"Helvetica, Arial, 'Liberation Sans', sans-serif\">\n<title id=\"report-title\">{title}</title>\n",
        w = num(width),
        t = num(total),
        title = xml(title),
        lang = xml(lang),
    );
    for (index, page) in pages.iter().enumerate() {
        let top = (height + GAP) * index as f32;
        let _ = writeln!(
            out,
            "<g id=\"page-{}\" transform=\"translate(0 {})\">\n<rect width=\"{}\" height=\"{}\" fill=\"#ffffff\"/>",
            index + 1,
            num(top),
            num(width),
            num(height)
        );
        for item in &page.items {
            svg_item(&mut out, item);
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

fn svg_points(points: &[(f32, f32)]) -> String {
    points
        .iter()
        .map(|(x, y)| format!("{},{}", num(*x), num(*y)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn svg_item(out: &mut String, item: &Item) {
    match item {
        Item::Rect {
            x,
            y,
            w,
            h,
            fill,
            stroke,
        } => {
            let _ = write!(
                out,
                "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"",
                num(*x),
                num(*y),
                num(*w),
                num(*h),
                fill.map_or_else(|| "none".to_owned(), Rgb::svg)
            );
            if let Some((color, width)) = stroke {
                let _ = write!(
                    out,
                    " stroke=\"{}\" stroke-width=\"{}\"",
                    color.svg(),
                    num(*width)
                );
            }
            out.push_str("/>\n");
        }
        Item::Line {
            points,
            color,
            width,
            dash,
        } => {
            let _ = write!(
                out,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" stroke-linejoin=\"round\"",
                svg_points(points),
                color.svg(),
                num(*width)
            );
            if let Some(dash) = dash {
                let _ = write!(out, " stroke-dasharray=\"{}\"", num(*dash));
            }
            out.push_str("/>\n");
        }
        Item::Polygon { points, fill } => {
            let _ = writeln!(
                out,
                "<polygon points=\"{}\" fill=\"{}\"/>",
                svg_points(points),
                fill.svg()
            );
        }
        Item::Text {
            x,
            y,
            size,
            bold,
            anchor,
            color,
            text,
            id,
        } => {
            let _ = write!(
                out,
                "<text x=\"{}\" y=\"{}\" font-size=\"{}\"",
                num(*x),
                num(*y),
                num(*size)
            );
            if *bold {
                out.push_str(" font-weight=\"bold\"");
            }
            match anchor {
                Anchor::Start => {}
                Anchor::Middle => out.push_str(" text-anchor=\"middle\""),
                Anchor::End => out.push_str(" text-anchor=\"end\""),
            }
            if *color != Rgb::BLACK {
                let _ = write!(out, " fill=\"{}\"", color.svg());
            }
            if let Some(id) = id {
                let _ = write!(out, " data-metric=\"{id}\"");
            }
            let _ = writeln!(out, ">{}</text>", xml(text));
        }
    }
}

/// Helvetica's advance widths (Adobe's AFM, 1/1000 em) for ASCII 32–126, for aligning
/// text in the PDF the way `text-anchor` does in SVG.
const HELVETICA_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// The width of `text` at `size` pt in Helvetica (bold approximated as 5 % wider;
/// characters outside ASCII as an average letter).
#[must_use]
pub fn text_width(text: &str, size: f32, bold: bool) -> f32 {
    let units: u32 = text
        .chars()
        .map(|c| {
            u32::from(c)
                .checked_sub(32)
                .and_then(|i| HELVETICA_WIDTHS.get(usize::try_from(i).ok()?))
                .map_or(556, |w| u32::from(*w))
        })
        .sum();
    let width = units as f32 / 1000.0 * size;
    if bold {
        width * 1.05
    } else {
        width
    }
}

/// The page as PDF content-stream operators, on a page `height` pt tall (PDF's y goes
/// up from the bottom).
#[must_use]
pub fn pdf_operators(scene: &Scene, height: f32) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let flip = |y: f32| height - y;
    let path = |out: &mut String, points: &[(f32, f32)]| {
        for (i, (x, y)) in points.iter().enumerate() {
            let _ = write!(
                out,
                "{} {} {} ",
                num(*x),
                num(flip(*y)),
                if i == 0 { "m" } else { "l" }
            );
        }
    };
    for item in &scene.items {
        match item {
            Item::Rect {
                x,
                y,
                w,
                h,
                fill,
                stroke,
            } => {
                let rect = format!(
                    "{} {} {} {} re",
                    num(*x),
                    num(flip(y + h)),
                    num(*w),
                    num(*h)
                );
                if let Some(fill) = fill {
                    let _ = writeln!(out, "{} rg {rect} f", fill.pdf());
                }
                if let Some((color, width)) = stroke {
                    let _ = writeln!(out, "{} RG {} w [] 0 d {rect} S", color.pdf(), num(*width));
                }
            }
            Item::Line {
                points,
                color,
                width,
                dash,
            } => {
                let _ = write!(out, "{} RG {} w 1 j ", color.pdf(), num(*width));
                match dash {
                    Some(d) => {
                        let _ = write!(out, "[{}] 0 d ", num(*d));
                    }
                    None => out.push_str("[] 0 d "),
                }
                path(&mut out, points);
                out.push_str("S\n");
            }
            Item::Polygon { points, fill } => {
                let _ = write!(out, "{} rg ", fill.pdf());
                path(&mut out, points);
                out.push_str("h f\n");
            }
            Item::Text {
                x,
                y,
                size,
                bold,
                anchor,
                color,
                text,
                ..
            } => {
                let shift = match anchor {
                    Anchor::Start => 0.0,
                    Anchor::Middle => text_width(text, *size, *bold) / 2.0,
                    Anchor::End => text_width(text, *size, *bold),
                };
                let _ = writeln!(
                    out,
                    "BT /{} {} Tf {} rg 1 0 0 1 {} {} Tm {} Tj ET",
                    if *bold { "F2" } else { "F1" },
                    num(*size),
                    color.pdf(),
                    num(x - shift),
                    num(flip(*y)),
                    crate::pdf::literal(text)
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Scene {
        let mut scene = Scene::default();
        scene.fill_rect(10.0, 20.0, 30.0, 40.0, Rgb(59, 159, 71));
        scene.line(vec![(0.0, 0.0), (10.5, 5.25)], Rgb::BLACK, 1.0, Some(2.0));
        scene
            .text(100.0, 50.0, 10.0, "Glucosio <medio> & \"GMI\"")
            .bold()
            .anchor(Anchor::End)
            .id("mean_glucose");
        scene
    }

    #[test]
    fn svg_escapes_text_and_names_the_figures() {
        let svg = svg(&[sample()], 595.0, 842.0, "AGP", "it");
        assert!(
            svg.contains("<rect x=\"10\" y=\"20\" width=\"30\" height=\"40\" fill=\"#3b9f47\"/>")
        );
        assert!(svg.contains("stroke-dasharray=\"2\""));
        assert!(svg.contains(
            "font-weight=\"bold\" text-anchor=\"end\" data-metric=\"mean_glucose\">Glucosio &lt;medio&gt; &amp; &quot;GMI&quot;</text>"
        ));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    }

    #[test]
    fn pdf_flips_y_and_right_aligns_by_the_font_metrics() {
        let ops = pdf_operators(&sample(), 842.0);
        // The rectangle's bottom-left corner: y = 842 - (20 + 40).
        assert!(ops.contains("0.23 0.62 0.28 rg 10 782 30 40 re f"), "{ops}");
        assert!(ops.contains("[2] 0 d 0 842 m 10.5 836.75 l S"));
        let width = text_width("Glucosio <medio> & \"GMI\"", 10.0, true);
        assert!(ops.contains(&format!("1 0 0 1 {} 792 Tm", num(100.0 - width))));
        assert!((text_width("Il", 10.0, false) - 5.0).abs() < 1e-6);
    }
}
