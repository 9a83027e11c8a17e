//! A minimal PDF 1.7 writer (ISO 32000-1): A4 pages of text in the standard Helvetica
//! fonts, and files embedded as attachments — in the document's `EmbeddedFiles` name
//! tree (§7.7.4, §7.11.4) and its associated files (`/AF`, PDF 2.0 / PDF/A-3), where
//! the FSE Gateway looks for `bundleFhir.json` (`Root/Names/EmbeddedFiles/Names[1]/EF/F`).
//!
//! Pure and deterministic: the same input gives the same bytes (no creation date, no
//! random file id), so a hash over the file (the Gateway's `attachment_hash`) is stable
//! across retries. The output is a `String`: every byte the writer adds is ASCII (text
//! outside ASCII is written as octal escapes of its WinAnsi code), and attachments are
//! UTF-8 text stored unfiltered, so the file is valid UTF-8 and can sit in the outbox's
//! text column as it is.
//!
//! Not PDF/A: the standard fonts are not embedded and there is no XMP metadata. The
//! AGP report (issue 7) will draw into the same pages.

use std::fmt::Write as _;

/// A4 width, points (1/72 inch).
pub const A4_WIDTH_PT: f32 = 595.0;

/// A4 height, points.
pub const A4_HEIGHT_PT: f32 = 842.0;

/// One run of text on a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    /// Left edge, points from the page's left edge.
    pub x: f32,
    /// Baseline, points from the page's bottom edge.
    pub y: f32,
    /// Font size, points.
    pub size: f32,
    /// Helvetica-Bold instead of Helvetica.
    pub bold: bool,
    /// The text; characters WinAnsi lacks are shown as `?` (`≥`, `≤`, `→` as `>=`, `<=`,
    /// `->`).
    pub text: String,
}

/// A page: its content stream (PDF operators, §8–9), built with [`Page::text`] and
/// [`Page::operators`]. Fonts `/F1` (Helvetica) and `/F2` (Helvetica-Bold) are in its
/// resources.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    content: String,
}

impl Page {
    /// Writes a run of text (black unless a fill colour was set before).
    pub fn text(&mut self, text: &Text) {
        let _ = writeln!(
            self.content,
            "BT /{} {} Tf 1 0 0 1 {} {} Tm {} Tj ET",
            if text.bold { "F2" } else { "F1" },
            text.size,
            text.x,
            text.y,
            literal(&text.text)
        );
    }

    /// Appends raw content-stream operators (graphics, colours, text objects).
    pub fn operators(&mut self, operators: &str) {
        self.content.push_str(operators);
    }
}

/// A file embedded in the PDF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attachment<'a> {
    /// File name (ASCII), e.g. `bundleFhir.json`.
    pub name: &'a str,
    /// MIME type, e.g. `application/fhir+json`.
    pub mime: &'a str,
    /// What it is, shown by PDF readers.
    pub description: &'a str,
    /// Its content (UTF-8 text).
    pub content: &'a str,
}

/// The PDF of `pages` (at least one is written) with `attachments`, titled `title`.
#[must_use]
pub fn write(title: &str, pages: &[Page], attachments: &[Attachment<'_>]) -> String {
    let empty = [Page::default()];
    let pages = if pages.is_empty() { &empty[..] } else { pages };
    let mut attachments: Vec<&Attachment<'_>> = attachments.iter().collect();
    // Name-tree keys must be sorted (§7.9.6).
    attachments.sort_by_key(|a| a.name);

    // Object numbers: 1 catalog, 2 page tree, 3 Helvetica, 4 Helvetica-Bold, 5 info,
    // then two per attachment (file specification, embedded file), then two per page
    // (page, content stream).
    let first_attachment = 6;
    let first_page = first_attachment + 2 * attachments.len();
    let mut objects: Vec<String> = Vec::with_capacity(first_page + 2 * pages.len());

    let filespecs: Vec<String> = (0..attachments.len())
        .map(|i| format!("{} 0 R", first_attachment + 2 * i))
        .collect();
    let names: Vec<String> = attachments
        .iter()
        .zip(&filespecs)
        .map(|(a, spec)| format!("{} {spec}", literal(a.name)))
        .collect();
    let mut catalog = String::from("<< /Type /Catalog /Pages 2 0 R");
    if !attachments.is_empty() {
        let _ = write!(
            catalog,
            " /Names << /EmbeddedFiles << /Names [{}] >> >> /AF [{}] /PageMode /UseAttachments",
            names.join(" "),
            filespecs.join(" ")
        );
    }
    catalog.push_str(" >>");
    objects.push(catalog);

    let kids: Vec<String> = (0..pages.len())
        .map(|i| format!("{} 0 R", first_page + 2 * i))
        .collect();
    objects.push(format!(
        "<< /Type /Pages /Kids [{}] /Count {} >>",
        kids.join(" "),
        pages.len()
    ));
    for font in ["Helvetica", "Helvetica-Bold"] {
        objects.push(format!(
            "<< /Type /Font /Subtype /Type1 /BaseFont /{font} /Encoding /WinAnsiEncoding >>"
        ));
    }
    objects.push(format!(
        "<< /Title {} /Producer {} >>",
        literal(title),
        literal(concat!("pghd-hub ", env!("CARGO_PKG_VERSION")))
    ));

    for (i, a) in attachments.iter().enumerate() {
        let stream = first_attachment + 2 * i + 1;
        objects.push(format!(
            "<< /Type /Filespec /F {name} /UF {name} /Desc {desc} /AFRelationship /Source \
             /EF << /F {stream} 0 R /UF {stream} 0 R >> >>",
            name = literal(a.name),
            desc = literal(a.description),
        ));
        objects.push(format!(
            "<< /Type /EmbeddedFile /Subtype /{} /Length {len} /Params << /Size {len} >> >>\nstream\n{}\nendstream",
            pdf_name(a.mime),
            a.content,
            len = a.content.len(),
        ));
    }

    for (i, page) in pages.iter().enumerate() {
        let content = &page.content;
        objects.push(format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {A4_WIDTH_PT} {A4_HEIGHT_PT}] \
             /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {} 0 R >>",
            first_page + 2 * i + 1
        ));
        objects.push(format!(
            "<< /Length {} >>\nstream\n{content}\nendstream",
            content.len()
        ));
    }

    // The header's second line marks the file as binary for transfer programs (§7.5.2);
    // its characters are above 127 yet valid UTF-8.
    let mut out = String::from("%PDF-1.7\n%\u{e2}\u{e3}\u{cf}\u{d3}\n");
    let mut offsets = Vec::with_capacity(objects.len());
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        let _ = write!(out, "{} 0 obj\n{body}\nendobj\n", i + 1);
    }
    let xref = out.len();
    let _ = write!(out, "xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1);
    for offset in offsets {
        let _ = writeln!(out, "{offset:010} 00000 n ");
    }
    let _ = write!(
        out,
        "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
        objects.len() + 1
    );
    out
}

/// A PDF literal string of `text` in WinAnsi (PDF 32000-1 Annex D.2), ASCII-only:
/// parentheses and backslashes escaped, everything outside printable ASCII as an octal
/// escape of its WinAnsi code, characters WinAnsi lacks as `?`.
#[must_use]
pub fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('(');
    for c in text.chars() {
        match c {
            '(' | ')' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            '≥' => out.push_str(">="),
            '≤' => out.push_str("<="),
            '→' => out.push_str("->"),
            _ => {
                let code = win_ansi(c).unwrap_or(b'?');
                if code.is_ascii_graphic() {
                    out.push(char::from(code));
                } else {
                    let _ = write!(out, "\\{code:03o}");
                }
            }
        }
    }
    out.push(')');
    out
}

/// The WinAnsi code of `c`, where it has one.
fn win_ansi(c: char) -> Option<u8> {
    match c {
        '\u{a0}'..='\u{ff}' => u8::try_from(u32::from(c)).ok(),
        '€' => Some(0x80),
        '…' => Some(0x85),
        '‘' => Some(0x91),
        '’' => Some(0x92),
        '“' => Some(0x93),
        '”' => Some(0x94),
        '•' => Some(0x95),
        '–' => Some(0x96),
        '—' => Some(0x97),
        _ => None,
    }
}

/// `text` as a PDF name's characters (after the slash): regular characters as they are,
/// others (such as the `/` of a MIME type) as `#xx` (§7.3.5).
fn pdf_name(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'+' | b'.' | b'_') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "#{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> String {
        write(
            "Report",
            &[{
                let mut page = Page::default();
                page.text(&Text {
                    x: 50.0,
                    y: 800.0,
                    size: 12.0,
                    bold: true,
                    text: "Glicemia media (mg/dL) è ≥ 70".to_owned(),
                });
                page
            }],
            &[Attachment {
                name: "bundleFhir.json",
                mime: "application/fhir+json",
                description: "FHIR document",
                content: "{\"resourceType\":\"Bundle\",\"name\":\"Nicolò\"}",
            }],
        )
    }

    #[test]
    fn the_cross_reference_table_points_at_every_object() {
        let pdf = sample();
        let xref: usize = pdf
            .lines()
            .skip_while(|l| *l != "startxref")
            .nth(1)
            .and_then(|l| l.parse().ok())
            .expect("startxref");
        assert!(pdf[xref..].starts_with("xref\n0 "));
        let entries: Vec<&str> = pdf[xref..]
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .collect();
        assert_eq!(
            entries.len(),
            9,
            "catalog, pages, 2 fonts, info, 2 attachment, 2 page"
        );
        for (i, entry) in entries.iter().enumerate() {
            let offset: usize = entry[..10].parse().expect("offset");
            assert!(
                pdf[offset..].starts_with(&format!("{} 0 obj\n", i + 1)),
                "object {} not at {offset}",
                i + 1
            );
        }
    }

    #[test]
    fn the_attachment_is_where_the_gateway_looks_and_byte_exact() {
        let pdf = sample();
        assert!(pdf.contains(
            "/Names << /EmbeddedFiles << /Names [(bundleFhir.json) 6 0 R] >> >> /AF [6 0 R]"
        ));
        assert!(pdf.contains("/EF << /F 7 0 R /UF 7 0 R >>"));
        let content = "{\"resourceType\":\"Bundle\",\"name\":\"Nicolò\"}";
        assert!(pdf.contains(&format!(
            "/Subtype /application#2Ffhir+json /Length {} /Params << /Size {} >> >>\nstream\n{content}\nendstream",
            content.len(),
            content.len()
        )));
    }

    #[test]
    fn text_is_ascii_with_win_ansi_escapes_and_the_same_input_gives_the_same_bytes() {
        let pdf = sample();
        assert!(pdf.contains("(Glicemia media \\(mg/dL\\) \\350 >= 70) Tj"));
        assert_eq!(pdf, sample());
        assert_eq!(literal("a(b)\\c✓"), "(a\\(b\\)\\\\c?)");
    }
}
