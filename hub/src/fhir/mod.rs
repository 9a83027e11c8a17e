//! FHIR R4 export: readings and glycemic summaries as the resources of the HL7 Personal
//! Health Device IG (hl7.fhir.uv.phd 2.0.0) and the HL7 CGM IG (hl7.fhir.uv.cgm 1.0.0),
//! assembled into transaction Bundles whose every create is conditional on a stable
//! identifier, so that a retry or a re-send never makes a duplicate. Pure: no I/O, no
//! clock (the caller passes `now`). `docs/fhir.md` documents every element.
//!
//! - [`types`]: the FHIR data types and resources, typed.
//! - [`readings`]: one stored reading → one or two Observations (PHD IG).
//! - [`summary`]: a glucometrics summary → the CGM IG summary panel and its members,
//!   plus our own Observations for TITR, GRI and events.
//! - [`SubmissionBuilder`]: Patient, Devices, Observations and Provenance into one
//!   transaction Bundle, each resource once.

pub mod readings;
pub mod summary;
pub mod types;

use std::collections::HashMap;

use chrono::{DateTime, FixedOffset, SecondsFormat, Utc};
use device_adapters::reading::Reading;
use glucometrics::GlucoseSummary;
use ring::digest::{digest, SHA256};

use types::{
    Attachment, Bundle, BundleEntry, CodeableConcept, Coding, Composition, Device, DeviceName,
    DiagnosticReport, EntryRequest, HumanName, Identifier, Meta, Narrative, Observation, Patient,
    Period, Provenance, ProvenanceAgent, ProvenanceEntity, Reference, RelatedPerson, Resource,
    Section,
};

/// The canonical base of the code systems, identifier systems and extensions this
/// project defines (documented in `docs/fhir.md`).
pub const CANONICAL_BASE: &str = "https://pghd-hub.example/fhir";

/// Identifier system of the Italian codice fiscale (HL7 Italia base).
pub const CODICE_FISCALE_SYSTEM: &str = "http://hl7.it/sid/codiceFiscale";

/// Identifier system of the hub's own patient ids.
pub const PATIENT_ID_SYSTEM: &str = "https://pghd-hub.example/fhir/sid/patient";

/// Identifier system of readings: a keyed digest of patient, device and record identity.
pub const READING_ID_SYSTEM: &str = "https://pghd-hub.example/fhir/sid/reading";

/// Identifier system of computed summaries (patient digest, period, metric).
pub const SUMMARY_ID_SYSTEM: &str = "https://pghd-hub.example/fhir/sid/summary";

/// Identifier system of devices known only by a digest of what they told us.
pub const DEVICE_ID_SYSTEM: &str = "https://pghd-hub.example/fhir/sid/device";

/// Identifier system of device serial numbers (value `model/serial`).
pub const DEVICE_SERIAL_SYSTEM: &str = "https://pghd-hub.example/fhir/sid/device-serial";

/// Identifier system of the bridges (gateways) that forward readings.
pub const GATEWAY_ID_SYSTEM: &str = "https://pghd-hub.example/fhir/sid/gateway";

/// Identifier system of submissions (Bundles).
pub const SUBMISSION_ID_SYSTEM: &str = "https://pghd-hub.example/fhir/sid/submission";

/// Identifier system of the hub's accounts acting as delegates.
pub const ACCOUNT_ID_SYSTEM: &str = "https://pghd-hub.example/fhir/sid/account";

/// Bluetooth MAC addresses as EUI-48 (PHD IG, `Device.identifier` BTMAC).
pub const BLUETOOTH_MAC_SYSTEM: &str = "http://hl7.org/fhir/sid/eui-48/bluetooth";

/// LOINC.
pub const LOINC: &str = "http://loinc.org";

/// ISO/IEEE 11073-10101 nomenclature (MDC codes).
pub const MDC: &str = "urn:iso:std:iso:11073:10101";

/// The patient a submission is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientInfo {
    /// The hub's account id.
    pub id: String,
    /// Codice fiscale, when known (required by the FSE).
    pub fiscal_code: Option<String>,
    /// Name as shown.
    pub name: String,
}

/// A delegate who asked for a submission on the patient's behalf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DelegateInfo {
    /// The hub's account id.
    pub id: String,
    /// Name as shown.
    pub name: String,
}

/// Why a summary cannot be expressed in the CGM IG form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FhirError {
    /// A figure the IG requires is missing (e.g. CV of a single reading).
    #[error("the CGM summary needs {0}, which the engine could not compute for this period")]
    MissingFigure(&'static str),
    /// The summary is not in mg/dL.
    #[error("summaries are exported in mg/dL")]
    Unit,
}

/// Hex of the first 16 bytes of SHA-256 over the parts, each followed by a 0 byte: a
/// stable, opaque identifier value (128 bits) that reveals none of its inputs.
#[must_use]
pub fn digest_id(parts: &[&str]) -> String {
    let mut input = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
    for part in parts {
        input.extend_from_slice(part.as_bytes());
        input.push(0);
    }
    hex(&digest(&SHA256, &input).as_ref()[..16])
}

/// Lower-case hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// A name-based UUID (RFC 9562 version 8, from SHA-256) as `urn:uuid:…`: the same
/// identifier always gets the same `fullUrl`, so Bundles are deterministic.
#[must_use]
pub fn uuid_urn(identifier: &Identifier) -> String {
    let mut context = ring::digest::Context::new(&SHA256);
    context.update(identifier.system.as_bytes());
    context.update(b"|");
    context.update(identifier.value.as_bytes());
    let hash = context.finish();
    let mut b = [0_u8; 16];
    b.copy_from_slice(&hash.as_ref()[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex = hex(&b);
    let mut urn = String::with_capacity(45);
    urn.push_str("urn:uuid:");
    for (i, range) in [0..8, 8..12, 12..16, 16..20, 20..32]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            urn.push('-');
        }
        urn.push_str(&hex[range]);
    }
    urn
}

/// A FHIR `dateTime` for `at` in the offset it was taken in (minutes east of UTC), or in
/// UTC (`Z`) when unknown.
#[must_use]
pub fn date_time(at: DateTime<Utc>, offset_min: Option<i32>) -> String {
    match offset_min.and_then(|m| FixedOffset::east_opt(m * 60)) {
        Some(offset) if offset.local_minus_utc() != 0 => at
            .with_timezone(&offset)
            .to_rfc3339_opts(SecondsFormat::AutoSi, false),
        _ => instant(at),
    }
}

/// A FHIR `instant` in UTC.
#[must_use]
pub fn instant(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Builds one transaction Bundle for one patient: the Patient, each Device once, the
/// Observations, and Provenance for computed results. Every entry is a conditional
/// create on its identifier, except Provenance (which has none in R4), written with a
/// `PUT` at an id derived from what it describes.
pub struct SubmissionBuilder {
    patient_url: String,
    patient_digest: String,
    entries: Vec<BundleEntry>,
    /// Sensor → (fullUrl, its identity as stored): readings mostly share a device, so
    /// its serialisation and Device entry are made once.
    sensors: HashMap<device_adapters::reading::DeviceIdentity, (String, String)>,
    /// Gateway id → fullUrl.
    gateways: HashMap<String, String>,
    /// The device of the previous reading, compared before hashing.
    last_device: Option<(device_adapters::reading::DeviceIdentity, (String, String))>,
    hub_url: Option<String>,
}

impl SubmissionBuilder {
    /// A Bundle about `patient`, starting with the Patient entry (conditional on the
    /// codice fiscale when known, else on the hub's id).
    #[must_use]
    pub fn new(patient: &PatientInfo) -> Self {
        let hub_id = Identifier::new(PATIENT_ID_SYSTEM, patient.id.clone());
        let mut identifier = Vec::with_capacity(2);
        if let Some(cf) = &patient.fiscal_code {
            identifier.push(Identifier::new(CODICE_FISCALE_SYSTEM, cf.clone()));
        }
        identifier.push(hub_id);
        let key = identifier[0].clone();
        let mut builder = Self {
            patient_url: uuid_urn(&key),
            patient_digest: digest_id(&["patient", &patient.id]),
            entries: Vec::new(),
            sensors: HashMap::new(),
            gateways: HashMap::new(),
            last_device: None,
            hub_url: None,
        };
        builder.push(
            &key,
            Resource::Patient(Patient {
                identifier,
                name: vec![HumanName {
                    text: patient.name.clone(),
                }],
            }),
        );
        builder
    }

    /// The Patient entry's reference.
    #[must_use]
    pub fn subject(&self) -> Reference {
        Reference::to(&self.patient_url)
    }

    /// An opaque digest of the patient's id, the prefix of derived identifiers.
    #[must_use]
    pub fn patient_digest(&self) -> &str {
        &self.patient_digest
    }

    fn push(&mut self, key: &Identifier, resource: Resource) -> String {
        let full_url = uuid_urn(key);
        let request = EntryRequest {
            method: "POST",
            url: resource.type_name().to_owned(),
            if_none_exist: Some(key.search_token()),
        };
        self.entries.push(BundleEntry {
            full_url: full_url.clone(),
            resource,
            request: Some(request),
        });
        full_url
    }

    /// The Device entry for a reading's device, added once; returns its fullUrl and
    /// the device identity as stored.
    fn device_of(&mut self, reading: &Reading) -> (String, String) {
        if let Some((device, known)) = &self.last_device {
            if *device == reading.device {
                return known.clone();
            }
        }
        if let Some(known) = self.sensors.get(&reading.device) {
            self.last_device = Some((reading.device.clone(), known.clone()));
            return known.clone();
        }
        let key = serde_json::to_string(&reading.device).unwrap_or_default();
        let device = readings::device(reading, &key);
        let url = self.push(&device.identifier[0].clone(), Resource::Device(device));
        self.sensors
            .insert(reading.device.clone(), (url.clone(), key.clone()));
        self.last_device = Some((reading.device.clone(), (url.clone(), key.clone())));
        (url, key)
    }

    /// The Device entry of a gateway, added once.
    fn gateway(&mut self, gateway_id: &str) -> String {
        if let Some(url) = self.gateways.get(gateway_id) {
            return url.clone();
        }
        let identifier = Identifier::new(GATEWAY_ID_SYSTEM, gateway_id.to_owned());
        let url = self.push(
            &identifier.clone(),
            Resource::Device(Device {
                meta: None,
                identifier: vec![identifier],
                device_name: vec![DeviceName {
                    name: format!("pghd-bridge {gateway_id}"),
                    kind: "user-friendly-name",
                }],
                serial_number: None,
                kind: Some(CodeableConcept::of(
                    &[Coding::fixed(MDC, "531981", "MDC_MOC_VMS_MDS_AHD")],
                    "Application Hosting Device (gateway)",
                )),
            }),
        );
        self.gateways.insert(gateway_id.to_owned(), url.clone());
        url
    }

    /// The hub as a Device (the assembler in Provenance), added once.
    fn hub(&mut self) -> String {
        if let Some(url) = &self.hub_url {
            return url.clone();
        }
        let identifier = Identifier::new(DEVICE_ID_SYSTEM, "pghd-hub".to_owned());
        let url = self.push(
            &identifier.clone(),
            Resource::Device(Device {
                meta: None,
                identifier: vec![identifier],
                device_name: vec![DeviceName {
                    name: format!("pghd-hub {}", env!("CARGO_PKG_VERSION")),
                    kind: "user-friendly-name",
                }],
                serial_number: None,
                kind: None,
            }),
        );
        self.hub_url = Some(url.clone());
        url
    }

    /// Adds `readings` as Observations (with their Devices and gateways); returns the
    /// fullUrls of the Observations, in order.
    pub fn add_readings(&mut self, readings: &[Reading]) -> Vec<String> {
        let subject = self.subject();
        let mut urls = Vec::with_capacity(readings.len());
        for reading in readings {
            let (device, device_key) = self.device_of(reading);
            let gateway = readings::gateway_of(reading).map(|g| self.gateway(g));
            let identity =
                readings::reading_identity_with(&self.patient_digest, &device_key, reading);
            for observation in readings::observations(
                reading,
                &identity,
                &subject,
                &Reference::to(&device),
                gateway.as_deref().map(Reference::to).as_ref(),
            ) {
                let key = observation.identifier[0].clone();
                urls.push(self.push(&key, Resource::Observation(Box::new(observation))));
            }
        }
        urls
    }

    /// Adds the CGM IG summary of `summary` over `period` (start, end, UTC, in the
    /// patient's offset `offset_min`), computed from the Observations `sources` (fullUrls
    /// from [`Self::add_readings`]), with Provenance naming the hub and, when a delegate
    /// asked for it, the delegate acting for the patient. Returns the panel's fullUrl.
    ///
    /// # Errors
    /// [`FhirError`] when the summary lacks a figure the IG requires.
    pub fn add_cgm_summary(
        &mut self,
        summary: &GlucoseSummary,
        period: (DateTime<Utc>, DateTime<Utc>),
        offset_min: Option<i32>,
        sources: &[String],
        delegate: Option<&DelegateInfo>,
        now: DateTime<Utc>,
    ) -> Result<String, FhirError> {
        let subject = self.subject();
        // The summary's identity: this patient, period and set of source readings; the
        // same data summarised again is the same resource, new data a new snapshot.
        let source_refs: Vec<&str> = sources.iter().map(String::as_str).collect();
        let snapshot = format!("{}/{}", self.patient_digest, digest_id(&source_refs));
        let observations = summary::cgm_summary(summary, &snapshot, &subject, period, offset_min)?;
        let mut targets = Vec::with_capacity(observations.len());
        let mut panel = String::new();
        for observation in observations {
            let key = observation.identifier[0].clone();
            let is_panel = observation.code.coding[0].code == summary::PANEL_CODE;
            let url = self.push(&key, Resource::Observation(Box::new(observation)));
            if is_panel {
                panel.clone_from(&url);
            }
            targets.push(url);
        }
        let hub = self.hub();
        let mut agent = vec![ProvenanceAgent {
            kind: CodeableConcept::of(
                &[Coding::fixed(
                    "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                    "assembler",
                    "Assembler",
                )],
                "Computed by pghd-hub",
            ),
            who: Reference::to(&hub),
            on_behalf_of: None,
        }];
        if let Some(delegate) = delegate {
            let identifier = Identifier::new(ACCOUNT_ID_SYSTEM, delegate.id.clone());
            let who = self.push(
                &identifier.clone(),
                Resource::RelatedPerson(RelatedPerson {
                    identifier: vec![identifier],
                    patient: subject.clone(),
                    name: vec![HumanName {
                        text: delegate.name.clone(),
                    }],
                }),
            );
            agent.push(ProvenanceAgent {
                kind: CodeableConcept::of(
                    &[Coding::fixed(
                        "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                        "informant",
                        "Informant",
                    )],
                    "Asked for on the patient's behalf",
                ),
                who: Reference::to(&who),
                on_behalf_of: Some(subject.clone()),
            });
        }
        let mut entity: Vec<ProvenanceEntity> = sources
            .iter()
            .map(|url| ProvenanceEntity {
                role: "source",
                what: Reference::to(url),
            })
            .collect();
        let mut devices: Vec<&String> = self.sensors.values().map(|(url, _)| url).collect();
        devices.sort();
        entity.extend(devices.into_iter().map(|url| ProvenanceEntity {
            role: "source",
            what: Reference::to(url),
        }));
        let provenance_id = format!(
            "pghd-{}",
            digest_id(&[
                "provenance",
                &self.patient_digest,
                &instant(period.0),
                &instant(period.1)
            ])
        );
        let key = Identifier::new(SUMMARY_ID_SYSTEM, provenance_id.clone());
        self.entries.push(BundleEntry {
            full_url: uuid_urn(&key),
            resource: Resource::Provenance(Provenance {
                target: targets.iter().map(|u| Reference::to(u)).collect(),
                recorded: instant(now),
                agent,
                entity,
            }),
            request: Some(EntryRequest {
                method: "PUT",
                url: format!("Provenance/{provenance_id}"),
                if_none_exist: None,
            }),
        });
        Ok(panel)
    }

    /// Adds the CGM IG's `cgm-summary-pdf` DiagnosticReport: the AGP report `pdf` (bytes)
    /// presenting the summary panel `panel` (its fullUrl, from [`Self::add_cgm_summary`])
    /// over `period` (UTC, shown in the patient's offset `offset_min`), in `language`
    /// (BCP 47). Identified by the panel, so the same summary's report is created once.
    /// Returns its fullUrl.
    pub fn add_cgm_report_pdf(
        &mut self,
        panel: &str,
        period: (DateTime<Utc>, DateTime<Utc>),
        offset_min: Option<i32>,
        (pdf, language): (&[u8], &'static str),
        now: DateTime<Utc>,
    ) -> String {
        use base64::Engine as _;
        let identifier = Identifier::new(
            SUMMARY_ID_SYSTEM,
            format!(
                "{}/{}",
                self.patient_digest,
                digest_id(&["cgm-summary-pdf", panel])
            ),
        );
        let subject = self.subject();
        self.push(
            &identifier.clone(),
            Resource::DiagnosticReport(Box::new(DiagnosticReport {
                meta: Meta {
                    profile: vec![summary::ig!("cgm-summary-pdf")],
                },
                identifier: vec![identifier],
                status: "final",
                code: CodeableConcept::of(
                    &[Coding::fixed(
                        LOINC,
                        summary::PANEL_CODE,
                        summary::PANEL_DISPLAY,
                    )],
                    "Ambulatory Glucose Profile report",
                ),
                subject,
                effective_period: Period {
                    start: date_time(period.0, offset_min),
                    end: date_time(period.1, offset_min),
                },
                issued: instant(now),
                result: vec![Reference::to(panel)],
                presented_form: vec![Attachment {
                    content_type: "application/pdf",
                    language,
                    data: base64::engine::general_purpose::STANDARD.encode(pdf),
                    title: "AGP report".to_owned(),
                }],
            })),
        )
    }

    /// [`Self::finish`] serialised as JSON, into a buffer sized for it up front (a
    /// patient-day is ~0.4 MB; growing by doubling would copy it several times).
    ///
    /// # Errors
    /// Serialisation errors (none for the types built here).
    pub fn finish_json(
        self,
        submission_key: &str,
        now: DateTime<Utc>,
    ) -> Result<String, serde_json::Error> {
        let mut buffer = Vec::with_capacity(2048 + self.entries.len() * 1536);
        serde_json::to_writer(&mut buffer, &self.finish(submission_key, now))?;
        // serde_json writes UTF-8 only.
        Ok(String::from_utf8(buffer).unwrap_or_default())
    }

    /// The transaction Bundle, identified by `submission_key` (stable per submission).
    #[must_use]
    pub fn finish(self, submission_key: &str, now: DateTime<Utc>) -> Bundle {
        Bundle {
            meta: None,
            identifier: Identifier::new(SUBMISSION_ID_SYSTEM, submission_key.to_owned()),
            kind: "transaction",
            timestamp: instant(now),
            entry: self.entries,
        }
    }

    /// The entries as a FHIR document about the patient (LOINC [`REPORT_TYPE_CODE`]
    /// "Personal health monitoring report", the FSE taccuino's document type): a
    /// Composition first, authored by the patient and the hub, whose one section
    /// presents every Observation with a generated narrative; then the Patient, the
    /// hub's Device and the Observations. Provenance, delegates and sensors are left
    /// out: a document carries what it presents (the Composition's author and date say
    /// who made it and when), and the transaction Bundle carries the rest.
    /// `document_key` is the document's stable identity.
    #[must_use]
    pub fn finish_document(self, document_key: &str, title: &str, now: DateTime<Utc>) -> Bundle {
        let identifier = Identifier::new(SUBMISSION_ID_SYSTEM, document_key.to_owned());
        let mut lines = Vec::new();
        let mut presented = Vec::new();
        let mut entries = Vec::with_capacity(self.entries.len() + 1);
        for mut entry in self.entries {
            entry.request = None;
            match &entry.resource {
                Resource::Observation(observation) => {
                    report_lines(observation, &mut lines);
                    presented.push(Reference::to(&entry.full_url));
                }
                Resource::Patient(_) => {}
                Resource::Device(_) if Some(&entry.full_url) == self.hub_url.as_ref() => {}
                _ => continue,
            }
            entries.push(entry);
        }
        let mut author = vec![Reference::to(&self.patient_url)];
        author.extend(self.hub_url.as_deref().map(Reference::to));
        let composition = Composition {
            identifier: identifier.clone(),
            status: "final",
            kind: CodeableConcept::of(
                &[Coding::fixed(
                    LOINC,
                    REPORT_TYPE_CODE,
                    "Personal health monitoring report Document",
                )],
                "Personal health monitoring report",
            ),
            subject: Reference::to(&self.patient_url),
            date: instant(now),
            author,
            title: title.to_owned(),
            section: vec![Section {
                title: "Glucose statistics".to_owned(),
                text: Narrative {
                    status: "generated",
                    div: narrative_div(&lines),
                },
                entry: presented,
            }],
        };
        entries.insert(
            0,
            BundleEntry {
                full_url: uuid_urn(&identifier),
                resource: Resource::Composition(composition),
                request: None,
            },
        );
        Bundle {
            meta: None,
            identifier,
            kind: "document",
            timestamp: instant(now),
            entry: entries,
        }
    }

    /// A digest of every entry's identity so far: equal for Bundles that would create
    /// the same resources (the timestamps aside).
    #[must_use]
    pub fn content_digest(&self) -> String {
        let urls: Vec<&str> = self.entries.iter().map(|e| e.full_url.as_str()).collect();
        digest_id(&urls)
    }
}

/// LOINC 53576-5 "Personal health monitoring report Document": the type of the
/// documents the FSE taccuino takes (FSE Gateway guide, §15.4.1: 53576-5 → TAC).
pub const REPORT_TYPE_CODE: &str = "53576-5";

/// One line of a document's narrative: what (the code's display) and its value with its
/// unit, as shown; `depth` 1 for a panel component.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ReportLine {
    /// What the figure is.
    label: String,
    /// The figure and its unit; empty for a panel heading.
    value: String,
    /// 0 for an Observation, 1 for one of its components.
    depth: u8,
}

/// `value` as shown: up to two decimals, no trailing zeros.
fn shown(value: f64, unit: &str) -> String {
    let text = format!("{value:.2}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if unit.is_empty() {
        text.to_owned()
    } else {
        format!("{text} {unit}")
    }
}

/// The label of a code: its text, else its first coding's display, else the code.
fn label(code: &CodeableConcept) -> String {
    code.text
        .as_deref()
        .or_else(|| code.coding.first().and_then(|c| c.display.as_deref()))
        .or_else(|| code.coding.first().map(|c| c.code.as_ref()))
        .unwrap_or_default()
        .to_owned()
}

/// Appends the lines of one Observation and its components.
fn report_lines(observation: &Observation, lines: &mut Vec<ReportLine>) {
    let value = |quantity: Option<&types::Quantity>, concept: Option<&CodeableConcept>| {
        quantity
            .map(|q| shown(q.value, q.unit))
            .or_else(|| concept.map(label))
            .unwrap_or_default()
    };
    lines.push(ReportLine {
        label: label(&observation.code),
        value: observation.value_string.clone().unwrap_or_else(|| {
            value(
                observation.value_quantity.as_ref(),
                observation.value_codeable_concept.as_ref(),
            )
        }),
        depth: 0,
    });
    for component in &observation.component {
        lines.push(ReportLine {
            label: label(&component.code),
            value: value(
                component.value_quantity.as_ref(),
                component.value_codeable_concept.as_ref(),
            ),
            depth: 1,
        });
    }
}

/// The XHTML narrative of `lines`: one paragraph each, text escaped.
fn narrative_div(lines: &[ReportLine]) -> String {
    let escape = |text: &str| {
        text.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut div = String::from("<div xmlns=\"http://www.w3.org/1999/xhtml\">");
    for line in lines {
        let indent = if line.depth > 0 { "\u{a0}\u{a0}" } else { "" };
        if line.value.is_empty() {
            div.push_str(&format!("<p>{indent}<b>{}</b></p>", escape(&line.label)));
        } else {
            div.push_str(&format!(
                "<p>{indent}{}: {}</p>",
                escape(&line.label),
                escape(&line.value)
            ));
        }
    }
    div.push_str("</div>");
    div
}

#[cfg(test)]
pub(crate) mod tests;
