//! The FHIR R4 data types and resources the hub emits, as typed serde structs: only the
//! elements we fill, in the order the specification lists them, absent when empty. Typed
//! rather than `serde_json::Value` so that a misspelt element is a compile error and a
//! Bundle of a patient-day serialises without building a tree of maps first.

use std::borrow::Cow;

use serde::Serialize;

/// UCUM, the unit system of every quantity we send.
pub const UCUM: &str = "http://unitsofmeasure.org";

/// A code in a code system (FHIR `Coding`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Coding {
    /// Code system URI.
    pub system: Cow<'static, str>,
    /// The code.
    pub code: Cow<'static, str>,
    /// Human-readable name from the code system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display: Option<Cow<'static, str>>,
}

impl Coding {
    /// A coding of constant strings.
    #[must_use]
    pub const fn fixed(system: &'static str, code: &'static str, display: &'static str) -> Self {
        Self {
            system: Cow::Borrowed(system),
            code: Cow::Borrowed(code),
            display: Some(Cow::Borrowed(display)),
        }
    }
}

/// One or more codings and a text (FHIR `CodeableConcept`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CodeableConcept {
    /// The codings, most specific first.
    pub coding: Vec<Coding>,
    /// Plain text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<Cow<'static, str>>,
}

impl CodeableConcept {
    /// A concept of the given codings and text.
    #[must_use]
    pub fn of(coding: &[Coding], text: &'static str) -> Self {
        Self {
            coding: coding.to_vec(),
            text: Some(Cow::Borrowed(text)),
        }
    }
}

/// A measured amount with its UCUM unit (FHIR `Quantity`). `unit` is the display form,
/// `code` the UCUM code; profiles sometimes fix the display form (`mg/dl` in the CGM IG).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Quantity {
    /// The number; never NaN or infinite (callers check, see [`Quantity::finite`]).
    pub value: f64,
    /// Unit as shown.
    pub unit: &'static str,
    /// Always [`UCUM`].
    pub system: &'static str,
    /// UCUM code.
    pub code: &'static str,
}

impl Quantity {
    /// `value` in UCUM `code` shown as `unit`, or `None` when `value` is not finite (JSON
    /// has no NaN; a missing figure is left out, never sent as `null`).
    #[must_use]
    pub fn finite(value: f64, unit: &'static str, code: &'static str) -> Option<Self> {
        value.is_finite().then_some(Self {
            value,
            unit,
            system: UCUM,
            code,
        })
    }
}

/// A business identifier (FHIR `Identifier`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identifier {
    /// What kind of identifier (e.g. Bluetooth MAC), when the system alone does not say.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<CodeableConcept>,
    /// Namespace URI.
    pub system: Cow<'static, str>,
    /// The value, unique within the system.
    pub value: String,
}

impl Identifier {
    /// `value` in `system`.
    #[must_use]
    pub fn new(system: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        Self {
            kind: None,
            system: system.into(),
            value: value.into(),
        }
    }

    /// The search token that finds this identifier (`system|value`), for `ifNoneExist`.
    #[must_use]
    pub fn search_token(&self) -> String {
        format!("identifier={}|{}", self.system, self.value)
    }
}

/// A reference to another resource (FHIR `Reference`), here always to a Bundle entry's
/// `fullUrl` (`urn:uuid:…`), which the receiver rewrites to the id it assigns.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reference {
    /// The target's full URL.
    pub reference: String,
}

impl Reference {
    /// A reference to `full_url`.
    #[must_use]
    pub fn to(full_url: &str) -> Self {
        Self {
            reference: full_url.to_owned(),
        }
    }
}

/// A time span (FHIR `Period`), instants as FHIR `dateTime` with offset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Period {
    /// Start, inclusive.
    pub start: String,
    /// End, inclusive.
    pub end: String,
}

/// An extension carrying a reference or a string (FHIR `Extension`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Extension {
    /// The extension's canonical URL.
    pub url: &'static str,
    /// A referenced resource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_reference: Option<Reference>,
    /// A text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
}

/// Profiles a resource claims (FHIR `Meta.profile`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Meta {
    /// Canonical URLs of the profiles.
    pub profile: Vec<&'static str>,
}

/// One part of a compound observation (FHIR `Observation.component`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    /// What the part measures.
    pub code: CodeableConcept,
    /// Its value as a quantity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    /// Its value as a code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_codeable_concept: Option<CodeableConcept>,
}

/// A measurement or a computed figure (FHIR `Observation`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observation {
    /// Profiles claimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Extensions (gateway device, device time).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extension: Vec<Extension>,
    /// Stable business identifiers (the de-duplication key).
    pub identifier: Vec<Identifier>,
    /// Always `final`.
    pub status: &'static str,
    /// Categories (vital signs, laboratory, PHD).
    pub category: Vec<CodeableConcept>,
    /// What was observed.
    pub code: CodeableConcept,
    /// The patient.
    pub subject: Reference,
    /// When, for a point in time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_date_time: Option<String>,
    /// When, for a span.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_period: Option<Period>,
    /// Who measured (the patient for self-measurements).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub performer: Vec<Reference>,
    /// The value, when a quantity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_quantity: Option<Quantity>,
    /// The value, when a code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_codeable_concept: Option<CodeableConcept>,
    /// The value, when a text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_string: Option<String>,
    /// How the value is to be read (below/above the device's range).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<CodeableConcept>,
    /// Free-text notes (device status flags).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub note: Vec<Annotation>,
    /// The measuring device.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<Reference>,
    /// Members of a panel.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub has_member: Vec<Reference>,
    /// Observations this one was computed from.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub derived_from: Vec<Reference>,
    /// Parts of a compound observation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub component: Vec<Component>,
}

impl Observation {
    /// A final observation of `code` about `subject` with `identifier`, everything else
    /// empty; callers fill time, value and the rest.
    #[must_use]
    pub fn new(
        identifier: Identifier,
        category: Vec<CodeableConcept>,
        code: CodeableConcept,
        subject: Reference,
    ) -> Self {
        Self {
            meta: None,
            extension: Vec::new(),
            identifier: vec![identifier],
            status: "final",
            category,
            code,
            subject,
            effective_date_time: None,
            effective_period: None,
            performer: Vec::new(),
            value_quantity: None,
            value_codeable_concept: None,
            value_string: None,
            interpretation: Vec::new(),
            note: Vec::new(),
            device: None,
            has_member: Vec::new(),
            derived_from: Vec::new(),
            component: Vec::new(),
        }
    }
}

/// A note (FHIR `Annotation`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Annotation {
    /// The text.
    pub text: String,
}

/// A name as text (FHIR `HumanName`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HumanName {
    /// The full name.
    pub text: String,
}

/// The patient (FHIR `Patient`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Patient {
    /// Codice fiscale and the hub's own id.
    pub identifier: Vec<Identifier>,
    /// Name as shown.
    pub name: Vec<HumanName>,
}

/// Someone acting for the patient (FHIR `RelatedPerson`): a parent, a legal tutor, a
/// person the patient delegated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RelatedPerson {
    /// The delegate's account id in the hub.
    pub identifier: Vec<Identifier>,
    /// Whom they act for.
    pub patient: Reference,
    /// Name as shown.
    pub name: Vec<HumanName>,
}

/// A device name (FHIR `Device.deviceName`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceName {
    /// The name.
    pub name: String,
    /// `user-friendly-name`, `model-name`, …
    #[serde(rename = "type")]
    pub kind: &'static str,
}

/// A sensor, a gateway or the hub itself (FHIR `Device`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    /// Profiles claimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Bluetooth address, serial, gateway id.
    pub identifier: Vec<Identifier>,
    /// Names.
    pub device_name: Vec<DeviceName>,
    /// Serial number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// What kind of device (MDC).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<CodeableConcept>,
}

/// An agent of a provenance record (FHIR `Provenance.agent`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProvenanceAgent {
    /// Its part (author, assembler, …).
    #[serde(rename = "type")]
    pub kind: CodeableConcept,
    /// Who.
    pub who: Reference,
    /// For whom, when acting for someone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on_behalf_of: Option<Reference>,
}

/// A source of a provenance record (FHIR `Provenance.entity`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProvenanceEntity {
    /// `source`.
    pub role: &'static str,
    /// The source.
    pub what: Reference,
}

/// Where a computed result came from (FHIR `Provenance`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Provenance {
    /// The results described.
    pub target: Vec<Reference>,
    /// When they were computed (instant, UTC).
    pub recorded: String,
    /// The hub, and whoever acted for the patient.
    pub agent: Vec<ProvenanceAgent>,
    /// The readings and devices used.
    pub entity: Vec<ProvenanceEntity>,
}

/// Any resource we put in a Bundle; serialised with its `resourceType`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType")]
pub enum Resource {
    /// A patient.
    Patient(Patient),
    /// A delegate.
    RelatedPerson(RelatedPerson),
    /// A device.
    Device(Device),
    /// An observation.
    Observation(Box<Observation>),
    /// A provenance record.
    Provenance(Provenance),
    /// A document's table of contents.
    Composition(Composition),
    /// A report with its presented form (the AGP report as PDF).
    DiagnosticReport(Box<DiagnosticReport>),
}

impl Resource {
    /// The resource type's name (the `request.url` of a create).
    #[must_use]
    pub fn type_name(&self) -> &'static str {
        match self {
            Self::Patient(_) => "Patient",
            Self::RelatedPerson(_) => "RelatedPerson",
            Self::Device(_) => "Device",
            Self::Observation(_) => "Observation",
            Self::Provenance(_) => "Provenance",
            Self::Composition(_) => "Composition",
            Self::DiagnosticReport(_) => "DiagnosticReport",
        }
    }
}

/// A report (FHIR `DiagnosticReport`): here the CGM IG's `cgm-summary-pdf`, the AGP
/// report as a PDF beside the summary it presents.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiagnosticReport {
    /// Profiles claimed.
    pub meta: Meta,
    /// Stable business identifier (the de-duplication key).
    pub identifier: Vec<Identifier>,
    /// Always `final`.
    pub status: &'static str,
    /// LOINC 107931-8, the CGM summary.
    pub code: CodeableConcept,
    /// The patient.
    pub subject: Reference,
    /// The period summarised.
    pub effective_period: Period,
    /// When made (instant).
    pub issued: String,
    /// The summary panel it presents.
    pub result: Vec<Reference>,
    /// The report itself.
    pub presented_form: Vec<Attachment>,
}

/// Data carried inline (FHIR `Attachment`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attachment {
    /// MIME type, e.g. `application/pdf`.
    pub content_type: &'static str,
    /// Language of the content (BCP 47).
    pub language: &'static str,
    /// The bytes, base64.
    pub data: String,
    /// Title as shown.
    pub title: String,
}

/// A document's header and table of contents (FHIR `Composition`): what the document
/// is, whom it is about, who made it, and its sections.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Composition {
    /// The document's stable identity (also the Bundle's).
    pub identifier: Identifier,
    /// Always `final`.
    pub status: &'static str,
    /// The kind of document (LOINC).
    #[serde(rename = "type")]
    pub kind: CodeableConcept,
    /// The patient.
    pub subject: Reference,
    /// When it was made (instant).
    pub date: String,
    /// Who made it.
    pub author: Vec<Reference>,
    /// Title as shown.
    pub title: String,
    /// The sections.
    pub section: Vec<Section>,
}

/// A section of a [`Composition`]: a title, a narrative and the entries it presents.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Section {
    /// Title as shown.
    pub title: String,
    /// The section's human-readable text.
    pub text: Narrative,
    /// The resources it presents.
    pub entry: Vec<Reference>,
}

/// Human-readable text (FHIR `Narrative`), generated from the data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Narrative {
    /// Always `generated`.
    pub status: &'static str,
    /// XHTML `<div>` in the XHTML namespace.
    pub div: String,
}

/// How a transaction entry is applied (FHIR `Bundle.entry.request`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntryRequest {
    /// `POST` (create) or `PUT` (update at a client-chosen id).
    pub method: &'static str,
    /// The resource type, or type/id for `PUT`.
    pub url: String,
    /// Conditional create: the search that, if it matches, means "already there".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub if_none_exist: Option<String>,
}

/// One entry of a transaction Bundle.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleEntry {
    /// `urn:uuid:…`, what other entries reference.
    pub full_url: String,
    /// The resource.
    pub resource: Resource,
    /// How it is applied (transactions only; a document's entries have none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<EntryRequest>,
}

/// A Bundle (FHIR `Bundle`): a `transaction` for FHIR servers, or a `document` (a
/// Composition first) for the FSE Gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "resourceType", rename = "Bundle")]
pub struct Bundle {
    /// Profiles claimed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// The submission's stable identity.
    pub identifier: Identifier,
    /// `transaction` or `document`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// When assembled (instant, UTC).
    pub timestamp: String,
    /// The entries.
    pub entry: Vec<BundleEntry>,
}
