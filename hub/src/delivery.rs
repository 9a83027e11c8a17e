//! Delivery of FHIR submissions to the FSE taccuino and to care-team records (the GP's,
//! a diabetologist's): what to send is built by [`crate::fhir`] and queued in the
//! outbox ([`crate::store::outbox`]) first; a worker then sends each due item as a
//! transaction Bundle, with retries.
//!
//! - Who receives what: a destination of kind [`DestinationKind::Fse`] receives every
//!   patient's data unless the patient opposes forwarding to the FSE; one of kind
//!   [`DestinationKind::CareTeam`] receives a patient's data only if the patient chose it
//!   (`patient_destinations`) and consents to consultation. Both are checked when an
//!   item is queued and again when it is sent: an opposition or a revoked consent stops
//!   what is still pending (the item fails with the reason, visible to the patient).
//! - Exactly once at the receiver: every create in the Bundle is conditional on a stable
//!   identifier (`ifNoneExist`), so a retry after a lost answer, or the same reading in
//!   two Bundles, never makes a duplicate; the outbox never queues the same submission
//!   twice.
//! - Retries: 408, 429 and 5xx answers and network errors are retried with exponential
//!   backoff and jitter (30 s doubling to 1 h), honouring `Retry-After`; other 4xx
//!   answers fail the item at once with the receiver's reason; after
//!   [`MAX_ATTEMPTS`] an item fails for good.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::fhir::{DelegateInfo, FhirError, PatientInfo, SubmissionBuilder};
use crate::store::outbox::{OutboxItem, OutboxStatus};
use crate::store::{window_readings, PatientId, ReadingStore, StoreError};

/// Attempts after which an item fails for good (about two days of retries at the cap).
pub const MAX_ATTEMPTS: i64 = 60;

/// First retry delay.
pub const FIRST_RETRY: Duration = Duration::from_secs(30);

/// Longest retry delay.
pub const LONGEST_RETRY: Duration = Duration::from_secs(3600);

/// Items sent per round at most.
pub const ROUND_SIZE: usize = 32;

/// Whose data a destination receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DestinationKind {
    /// The FSE taccuino: every patient who does not oppose.
    Fse,
    /// A care-team record (GP, specialist): patients who chose it and consent.
    CareTeam,
}

/// How the hub authenticates to a destination.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum DestinationAuth {
    /// None (a test server, or a receiver on a private network behind its own proxy).
    #[default]
    None,
    /// SMART Backend Services: a bearer token from `token_url` for a client assertion
    /// signed (ES384) with the PKCS#8 P-384 key in `key_file` (see `crate::smart`).
    SmartBackend {
        /// The destination's token endpoint.
        token_url: String,
        /// The hub's client id there.
        client_id: String,
        /// The hub's private key (PKCS#8, PEM or DER), readable only by the hub.
        key_file: std::path::PathBuf,
        /// The key's id in the JWKS registered with the destination.
        kid: String,
        /// Scope asked for.
        #[serde(default = "default_scope")]
        scope: String,
    },
}

fn default_scope() -> String {
    "system/Patient.write system/Device.write system/Observation.write system/Provenance.write system/RelatedPerson.write".to_owned()
}

/// The HTTP agents and each destination's credentials (SMART tokens, cached; the FSE
/// Gateway's JWT signer; client certificates).
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    /// Agents of destinations with mutual TLS, by name.
    tls_agents: std::collections::HashMap<String, ureq::Agent>,
    tokens: std::collections::HashMap<String, crate::smart::TokenCache>,
    signers: std::collections::HashMap<String, crate::fse_gateway::Signer>,
}

impl Client {
    /// A client for `destinations`, with their keys loaded.
    ///
    /// # Errors
    /// A message naming the destination whose key cannot be used.
    pub fn new(destinations: &[Destination]) -> Result<Self, String> {
        let mut tokens = std::collections::HashMap::new();
        for d in destinations {
            if let DestinationAuth::SmartBackend {
                token_url,
                client_id,
                key_file,
                kid,
                scope,
            } = &d.auth
            {
                let bytes = std::fs::read(key_file).map_err(|e| {
                    format!(
                        "destination {:?}: cannot read {}: {e}",
                        d.name,
                        key_file.display()
                    )
                })?;
                let key = crate::smart::ClientKey::from_pkcs8(&bytes)
                    .map_err(|e| format!("destination {:?}: {e}", d.name))?;
                tokens.insert(
                    d.name.clone(),
                    crate::smart::TokenCache::new(key, client_id, token_url, kid, scope),
                );
            }
        }
        let mut tls_agents = std::collections::HashMap::new();
        let mut signers = std::collections::HashMap::new();
        for d in destinations {
            if let Some(tls) = &d.tls {
                let agent = tls_agent(tls).map_err(|e| format!("destination {:?}: {e}", d.name))?;
                tls_agents.insert(d.name.clone(), agent);
            }
            if let Protocol::FseGateway(config) = &d.protocol {
                let signer = crate::fse_gateway::Signer::load(config)
                    .map_err(|e| format!("destination {:?}: {e}", d.name))?;
                signers.insert(d.name.clone(), signer);
            }
        }
        Ok(Self {
            agent: agent(),
            tls_agents,
            tokens,
            signers,
        })
    }

    /// The agent for `destination` (its own when it uses mutual TLS).
    fn agent_for(&self, destination: &str) -> &ureq::Agent {
        self.tls_agents.get(destination).unwrap_or(&self.agent)
    }
}

/// Reads every PEM item of `path`.
fn pem_items(path: &std::path::Path) -> Result<Vec<ureq::tls::PemItem<'static>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    ureq::tls::parse_pem(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: not PEM: {e}", path.display()))
}

/// [`agent`] presenting the client certificate of `tls` (mutual TLS).
///
/// # Errors
/// A message naming the file that cannot be read or holds no certificate or key.
pub fn tls_agent(tls: &ClientTls) -> Result<ureq::Agent, String> {
    Ok(agent_with(Some(tls_config(tls)?)))
}

/// The TLS configuration of mutual TLS with a destination.
fn tls_config(tls: &ClientTls) -> Result<ureq::tls::TlsConfig, String> {
    use ureq::tls::{ClientCert, PemItem, RootCerts, TlsConfig};
    let certificates = |path: &std::path::Path| {
        let certs: Vec<_> = pem_items(path)?
            .into_iter()
            .filter_map(|item| match item {
                PemItem::Certificate(cert) => Some(cert),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            Err(format!("{}: no certificate", path.display()))
        } else {
            Ok(certs)
        }
    };
    let chain = certificates(&tls.cert_file)?;
    let key = pem_items(&tls.key_file)?
        .into_iter()
        .find_map(|item| match item {
            PemItem::PrivateKey(key) => Some(key),
            _ => None,
        })
        .ok_or_else(|| format!("{}: no private key", tls.key_file.display()))?;
    let mut config =
        TlsConfig::builder().client_cert(Some(ClientCert::new_with_certs(&chain, key)));
    if let Some(ca) = &tls.ca_file {
        config = config.root_certs(RootCerts::new_with_certs(&certificates(ca)?));
    }
    Ok(config.build())
}

/// A receiving FHIR endpoint, as configured (`--fhir-destinations FILE`, a JSON array).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    /// Name, unique; what the outbox and patients' choices refer to.
    pub name: String,
    /// Whose data it receives.
    pub kind: DestinationKind,
    /// The FHIR base URL, where a transaction Bundle is POSTed; for the FSE Gateway its
    /// base URL ending in `/v1` (also the JWTs' audience).
    pub base_url: String,
    /// Authentication.
    #[serde(default)]
    pub auth: DestinationAuth,
    /// What is sent and how.
    #[serde(default)]
    pub protocol: Protocol,
    /// Mutual TLS: the hub's client certificate, and the CA the receiver's certificate
    /// must chain to (else the public web roots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<ClientTls>,
}

/// What a destination takes.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Protocol {
    /// A FHIR R4 server: every reading and summary as a transaction Bundle.
    #[default]
    FhirTransaction,
    /// A receiver implementing the HL7 CGM IG's `$submit-cgm-bundle` (system-level
    /// operation, `OperationDefinition/submit-cgm-bundle`): the same Bundles, POSTed to
    /// `{base_url}/$submit-cgm-bundle` (its one input parameter is the Bundle, so it is
    /// sent as the body). The answer is a `transaction-response` Bundle whose entries may
    /// fail one by one; see [`operation_verdict`].
    SubmitCgmBundle,
    /// The FSE 2.0 Gateway: each period's summary as a taccuino report (PDF with the
    /// FHIR document embedded), see [`crate::fse_gateway`]; readings alone are not sent.
    FseGateway(Box<crate::fse_gateway::GatewayConfig>),
}

/// The hub's side of mutual TLS with a destination (PEM files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTls {
    /// The hub's client certificate, then any intermediates.
    pub cert_file: std::path::PathBuf,
    /// Its private key (PKCS#8, PKCS#1 or SEC1), readable only by the hub.
    pub key_file: std::path::PathBuf,
    /// The CA certificates the receiver's certificate must chain to; when absent, the
    /// public web roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<std::path::PathBuf>,
}

/// Reads and checks a destinations file (a JSON array of [`Destination`]).
///
/// # Errors
/// A message naming the file and what is wrong with it.
pub fn load_destinations(path: &std::path::Path) -> Result<Vec<Destination>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let destinations: Vec<Destination> = serde_json::from_str(&text)
        .map_err(|e| format!("{}: not a list of destinations: {e}", path.display()))?;
    let mut names = std::collections::HashSet::new();
    for d in &destinations {
        if !names.insert(d.name.as_str()) {
            return Err(format!(
                "{}: destination {:?} named twice",
                path.display(),
                d.name
            ));
        }
        if !(d.base_url.starts_with("http://") || d.base_url.starts_with("https://")) {
            return Err(format!(
                "{}: destination {:?}: base_url must be an http:// or https:// URL",
                path.display(),
                d.name
            ));
        }
    }
    for d in &destinations {
        if matches!(d.protocol, Protocol::FseGateway(_)) && !d.base_url.starts_with("https://") {
            return Err(format!(
                "{}: destination {:?}: the FSE Gateway is reached over (mutual) TLS: base_url must be https://",
                path.display(),
                d.name
            ));
        }
    }
    Ok(destinations)
}

/// Why something could not be queued or sent.
#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The patient does not exist.
    #[error("no patient {0}")]
    NoPatient(String),
    /// No readings in the window.
    #[error("no readings between {from} and {to}")]
    NothingToSend {
        /// Window start (UTC).
        from: DateTime<Utc>,
        /// Window end (UTC).
        to: DateTime<Utc>,
    },
    /// The Bundle could not be serialised.
    #[error("the Bundle could not be serialised: {0}")]
    Json(#[from] serde_json::Error),
}

/// Whether `destination` may receive `patient`'s data now, or why not.
///
/// # Errors
/// Store errors.
pub fn permission(
    store: &mut dyn ReadingStore,
    patient: &PatientId,
    destination: &Destination,
) -> Result<Result<(), &'static str>, StoreError> {
    let consent = store.directory().consent(patient)?;
    Ok(match destination.kind {
        DestinationKind::Fse if consent.fse_opposition => {
            Err("withheld: the patient opposes forwarding to the FSE")
        }
        DestinationKind::Fse => match store.directory().account(&patient.0)? {
            Some(account) if account.fiscal_code.is_some() => Ok(()),
            _ => Err("withheld: the patient has no codice fiscale, which the FSE requires"),
        },
        DestinationKind::CareTeam => {
            if !store
                .directory()
                .destinations_of(patient)?
                .contains(&destination.name)
            {
                Err("withheld: the patient has not chosen this record")
            } else if consent.consultation {
                Ok(())
            } else {
                Err("withheld: the patient does not consent to consultation")
            }
        }
    })
}

/// One submission queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Queued {
    /// The destination's name.
    pub destination: String,
    /// The outbox item.
    pub id: i64,
    /// False when the same submission was already queued (nothing new to send).
    pub new: bool,
}

/// What [`enqueue_window`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnqueueReport {
    /// Readings in the Bundle.
    pub readings: usize,
    /// Whether the Bundle carries a CGM summary (at least two glucose readings).
    pub summary: bool,
    /// Items queued, one per destination that may receive the data.
    pub queued: Vec<Queued>,
    /// Destinations left out, with the reason.
    pub withheld: Vec<(String, String)>,
}

/// Queues the patient's readings in `[from, to)` — with the CGM summary of the window
/// when `with_summary` and there are at least two glucose readings — for every
/// destination that may receive them. `requested_by` names a delegate who asked on the
/// patient's behalf (recorded in Provenance).
///
/// # Errors
/// [`DeliveryError`]: store errors, an unknown patient, an empty window.
pub fn enqueue_window(
    store: &mut dyn ReadingStore,
    destinations: &[Destination],
    patient: &PatientId,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
    with_summary: bool,
    requested_by: Option<&DelegateInfo>,
    now: DateTime<Utc>,
) -> Result<EnqueueReport, DeliveryError> {
    let account = store
        .directory()
        .account(&patient.0)?
        .ok_or_else(|| DeliveryError::NoPatient(patient.0.clone()))?;
    let readings = window_readings(store, patient, None, from, to)?;
    if readings.is_empty() {
        return Err(DeliveryError::NothingToSend { from, to });
    }
    let patient_info = PatientInfo {
        id: account.id.clone(),
        fiscal_code: account.fiscal_code.clone(),
        name: account.display_name.clone(),
    };
    let tz: chrono_tz::Tz = account.time_zone.parse().unwrap_or(chrono_tz::Europe::Rome);
    let mut builder = SubmissionBuilder::new(&patient_info);
    let sources = builder.add_readings(&readings);
    let offset = readings.last().and_then(|r| r.local_offset_min);
    let glucose = if with_summary {
        crate::report::summarize_readings(&readings, tz).ok()
    } else {
        None
    };
    let mut summary = None;
    let mut days = Vec::new();
    if let Some(glucose) = &glucose {
        match builder.add_cgm_summary(glucose, (from, to), offset, &sources, requested_by, now) {
            Ok(panel) => {
                summary = Some(glucose);
                // Glucose readings are ignored by the daily summaries.
                days = crate::daily::daily_summaries(&readings, tz);
                // The AGP report beside the summary (CGM IG `cgm-summary-pdf`).
                let report = agp_input(&patient_info, glucose, &days, (from, to), tz, now);
                let pdf = crate::agp_report::pdf(&report, &[]);
                builder.add_cgm_report_pdf(
                    &panel,
                    (from, to),
                    offset,
                    (pdf.as_bytes(), report.lang.code()),
                    now,
                );
            }
            // Too little data for the IG's summary: the readings still go.
            Err(FhirError::MissingFigure(_) | FhirError::Unit) => {}
        }
    }
    let key = format!(
        "{}/{}/{}/{}",
        if summary.is_some() {
            "summary"
        } else {
            "readings"
        },
        crate::fhir::instant(from),
        crate::fhir::instant(to),
        builder.content_digest()
    );
    let mut report = EnqueueReport {
        readings: readings.len(),
        summary: summary.is_some(),
        queued: Vec::new(),
        withheld: Vec::new(),
    };
    let mut transaction = None;
    let mut builder = Some(builder);
    for destination in destinations {
        if let Err(reason) = permission(store, patient, destination)? {
            report
                .withheld
                .push((destination.name.clone(), reason.to_owned()));
            continue;
        }
        let (item_key, body) = match &destination.protocol {
            Protocol::FhirTransaction | Protocol::SubmitCgmBundle => {
                if transaction.is_none() {
                    if let Some(builder) = builder.take() {
                        transaction = Some(builder.finish_json(&key, now)?);
                    }
                }
                (key.clone(), transaction.clone().unwrap_or_default())
            }
            Protocol::FseGateway(config) => {
                let Some(glucose) = summary else {
                    report.withheld.push((
                        destination.name.clone(),
                        "withheld: the FSE Gateway takes period reports, and this window has no CGM summary"
                            .to_owned(),
                    ));
                    continue;
                };
                let document_key = format!("document/{key}");
                let publication = taccuino_report(
                    config,
                    &patient_info,
                    &document_key,
                    &TaccuinoInput {
                        glucose,
                        days: &days,
                        period: (from, to),
                        offset,
                        sources: &sources,
                        tz,
                        requested_by,
                        now,
                    },
                )?;
                (document_key, serde_json::to_string(&publication)?)
            }
        };
        let (id, new) =
            store
                .outbox()
                .enqueue(patient, &destination.name, &item_key, &body, now)?;
        report.queued.push(Queued {
            destination: destination.name.clone(),
            id,
            new,
        });
    }
    Ok(report)
}

/// What a taccuino report is made of: the summary and the wearables' days, the period
/// (UTC) and the patient's offset (minutes) and zone, the readings' fullUrls, who
/// asked, and when.
#[derive(Clone, Copy)]
struct TaccuinoInput<'a> {
    glucose: &'a glucometrics::GlucoseSummary,
    days: &'a [crate::daily::DailySummary],
    period: (DateTime<Utc>, DateTime<Utc>),
    offset: Option<i32>,
    sources: &'a [String],
    tz: chrono_tz::Tz,
    requested_by: Option<&'a DelegateInfo>,
    now: DateTime<Utc>,
}

/// The AGP report of what is sent: Italian, the FSE's and Italian doctors' language.
fn agp_input<'a>(
    patient: &'a PatientInfo,
    glucose: &'a glucometrics::GlucoseSummary,
    days: &'a [crate::daily::DailySummary],
    period: (DateTime<Utc>, DateTime<Utc>),
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
) -> crate::agp_report::ReportInput<'a> {
    crate::agp_report::ReportInput {
        patient_name: &patient.name,
        fiscal_code: patient.fiscal_code.as_deref(),
        period,
        time_zone: tz,
        glucose: Some(glucose),
        days,
        lang: crate::agp_report::Lang::It,
        generated_at: now,
    }
}

/// The taccuino report of a CGM summary for the FSE Gateway: the AGP report's PDF
/// ([`crate::agp_report`], Italian) with the FHIR document embedded (the summary's
/// Observations, identified as in the transaction Bundle, so both channels name the
/// same results alike), and the metadata; identified by `document_key`.
fn taccuino_report(
    config: &crate::fse_gateway::GatewayConfig,
    patient: &PatientInfo,
    document_key: &str,
    input: &TaccuinoInput<'_>,
) -> Result<crate::fse_gateway::Publication, DeliveryError> {
    let TaccuinoInput {
        glucose,
        days,
        period,
        offset,
        sources,
        tz,
        requested_by,
        now,
    } = *input;
    let mut document = SubmissionBuilder::new(patient);
    // Checked already on the same summary by the caller.
    let _ = document.add_cgm_summary(glucose, period, offset, sources, requested_by, now);
    let bundle = document.finish_document(
        document_key,
        "Profilo glicemico ambulatoriale (AGP) / Ambulatory Glucose Profile",
        now,
    );
    let json = serde_json::to_string(&bundle)?;
    let report = agp_input(patient, glucose, days, period, tz, now);
    let pdf = crate::agp_report::pdf(&report, &[crate::fse_gateway::document_attachment(&json)]);
    Ok(crate::fse_gateway::Publication {
        metadata: crate::fse_gateway::metadata(
            config,
            &crate::fhir::digest_id(&["fse-document", document_key]),
            &crate::fhir::digest_id(&["fse-submission", document_key]),
            period,
        ),
        pdf,
    })
}

/// Length of the scheduled CGM summary periods, days (the consensus' 14 days).
pub const SUMMARY_PERIOD_DAYS: i64 = 14;

/// Complete local days looked back at each scheduled round (late, backfilled readings
/// of those days go in a new Bundle; conditional creates keep the rest once).
pub const DAYS_LOOKED_BACK: i64 = 3;

/// Local midnight starting `date` in `tz`, as UTC (the first instant of the day when
/// midnight falls in a DST gap).
fn midnight(tz: chrono_tz::Tz, date: chrono::NaiveDate) -> Option<DateTime<Utc>> {
    use chrono::TimeZone as _;
    (0..3).find_map(|h| {
        tz.from_local_datetime(&date.and_hms_opt(h, 0, 0)?)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
    })
}

/// The scheduled submissions, for every patient: each of the last
/// [`DAYS_LOOKED_BACK`] complete local days' readings, and the CGM summary of the last
/// complete [`SUMMARY_PERIOD_DAYS`]-day period (periods end at local midnights whose
/// day number since 1970-01-01 is a multiple of 14, so every hub cuts the same
/// periods). Idempotent: what is already queued is not queued again. A patient whose
/// local date and readings version are those `seen` last round is skipped without
/// building anything (a 14-day Bundle costs tens of milliseconds; most patients have
/// nothing new in an hour). Returns the items newly queued.
///
/// # Errors
/// Store errors.
pub fn schedule_round(
    store: &mut dyn ReadingStore,
    destinations: &[Destination],
    seen: &mut std::collections::HashMap<String, (chrono::NaiveDate, i64)>,
    now: DateTime<Utc>,
) -> Result<usize, StoreError> {
    let mut queued = 0;
    for account in store.directory().patients()? {
        let tz: chrono_tz::Tz = account.time_zone.parse().unwrap_or(chrono_tz::Europe::Rome);
        let today = now.with_timezone(&tz).date_naive();
        let patient = PatientId(account.id.clone());
        let version = crate::store::readings_version(store.sql(), &patient)?;
        if seen.get(&account.id) == Some(&(today, version)) {
            continue;
        }
        seen.insert(account.id.clone(), (today, version));
        let mut windows = Vec::new();
        for back in 1..=DAYS_LOOKED_BACK {
            let day = today - chrono::Duration::days(back);
            if let (Some(from), Some(to)) = (
                midnight(tz, day),
                midnight(tz, day.succ_opt().unwrap_or(day)),
            ) {
                windows.push((from, to, false));
            }
        }
        let epoch_day = (today - chrono::NaiveDate::default()).num_days();
        let end = today - chrono::Duration::days(epoch_day.rem_euclid(SUMMARY_PERIOD_DAYS));
        let start = end - chrono::Duration::days(SUMMARY_PERIOD_DAYS);
        if let (Some(from), Some(to)) = (midnight(tz, start), midnight(tz, end)) {
            windows.push((from, to, true));
        }
        for (from, to, with_summary) in windows {
            match enqueue_window(
                store,
                destinations,
                &patient,
                (from, to),
                with_summary,
                None,
                now,
            ) {
                Ok(report) => queued += report.queued.iter().filter(|q| q.new).count(),
                Err(DeliveryError::Store(error)) => return Err(error),
                Err(DeliveryError::NothingToSend { .. } | DeliveryError::NoPatient(_)) => {}
                Err(DeliveryError::Json(error)) => {
                    eprintln!("fhir schedule: patient bundle not serialisable: {error}");
                }
            }
        }
    }
    Ok(queued)
}

/// Runs [`schedule_round`] every `interval` until the process ends.
pub fn run_schedule(
    mut store: Box<dyn ReadingStore>,
    destinations: &[Destination],
    interval: Duration,
) {
    let mut seen = std::collections::HashMap::new();
    loop {
        match schedule_round(store.as_mut(), destinations, &mut seen, Utc::now()) {
            Ok(0) => {}
            Ok(n) => eprintln!("fhir schedule: {n} submissions queued"),
            Err(error) => eprintln!("fhir schedule: {error}"),
        }
        std::thread::sleep(interval);
    }
}

/// What an answer (or its absence) means for an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted, with the receiver's receipt when it gives one worth keeping.
    Sent {
        /// E.g. the FSE Gateway's `workflowInstanceId`.
        receipt: Option<String>,
    },
    /// Try again after the delay, keeping the reason.
    Retry {
        /// Why it failed.
        reason: String,
        /// What the receiver asked for (`Retry-After`), if anything.
        retry_after: Option<Duration>,
    },
    /// Refused for good.
    Refused(String),
}

/// The verdict on an HTTP answer: 2xx sent; 408, 429 and 5xx retried (with the
/// `Retry-After` header, delta-seconds or HTTP-date, read against `now`); any other
/// status refused with the receiver's reason (`body`, trimmed to 500 characters).
#[must_use]
pub fn verdict(status: u16, retry_after: Option<&str>, body: &str, now: DateTime<Utc>) -> Verdict {
    let reason = || {
        let text: String = body.chars().take(500).collect();
        format!("HTTP {status}: {}", text.trim())
    };
    match status {
        200..=299 => Verdict::Sent { receipt: None },
        408 | 429 | 500..=599 => Verdict::Retry {
            reason: reason(),
            retry_after: retry_after.and_then(|v| parse_retry_after(v, now)),
        },
        _ => Verdict::Refused(reason()),
    }
}

/// `Retry-After` as a delay: delta-seconds or an HTTP-date (RFC 9110 §10.2.3), never
/// negative; `None` if unreadable.
#[must_use]
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value)
        .ok()?
        .with_timezone(&Utc);
    Some((at - now).to_std().unwrap_or(Duration::ZERO))
}

/// When to try again after `attempts` failed attempts (counting the one that just
/// failed): the receiver's `Retry-After` if it gave one, else [`FIRST_RETRY`] doubled per
/// attempt up to [`LONGEST_RETRY`], of which a random share (`jitter` in 0–1) of the
/// second half is kept ("equal jitter"), so that many hubs retrying do not beat in step.
#[must_use]
pub fn retry_delay(attempts: i64, retry_after: Option<Duration>, jitter: f64) -> Duration {
    if let Some(asked) = retry_after {
        return asked.min(Duration::from_secs(24 * 3600));
    }
    let exponent = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
    let full = FIRST_RETRY
        .saturating_mul(2_u32.saturating_pow(exponent))
        .min(LONGEST_RETRY);
    full / 2 + full.mul_f64(jitter.clamp(0.0, 1.0) / 2.0)
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RoundReport {
    /// Items accepted.
    pub sent: usize,
    /// Items to be retried.
    pub retried: usize,
    /// Items failed for good (refused, withheld, or out of attempts).
    pub failed: usize,
}

/// An HTTP answer as the verdict reads it: status, `Retry-After`, and the body (read
/// only when it matters: on failure, or when `keep_success_body`; 64 KiB at most).
struct Answer {
    status: u16,
    retry_after: Option<String>,
    body: String,
}

/// Reads the answer to a request, or the retry verdict when there was none.
fn answer(
    result: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    keep_success_body: bool,
) -> Result<Answer, Verdict> {
    let mut response = result.map_err(|error| Verdict::Retry {
        reason: format!("no answer: {error}"),
        retry_after: None,
    })?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = if (200..300).contains(&status) && !keep_success_body {
        String::new()
    } else {
        response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default()
    };
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// Sends one item as its destination's protocol asks; the verdict. `fiscal_code` is
/// the patient's (the FSE Gateway's tokens name them).
fn send(
    client: &mut Client,
    destination: &Destination,
    item: &OutboxItem,
    fiscal_code: Option<&str>,
    now: DateTime<Utc>,
) -> Verdict {
    match &destination.protocol {
        Protocol::FhirTransaction => send_transaction(client, destination, item, false, now),
        Protocol::SubmitCgmBundle => send_transaction(client, destination, item, true, now),
        Protocol::FseGateway(config) => match fiscal_code {
            Some(cf) => publish(client, destination, config, item, cf, now),
            None => Verdict::Refused(
                "withheld: the patient has no codice fiscale, which the FSE requires".to_owned(),
            ),
        },
    }
}

/// POSTs a transaction Bundle to a FHIR server (to its base, or to the CGM IG's
/// `$submit-cgm-bundle` when `operation`).
fn send_transaction(
    client: &mut Client,
    destination: &Destination,
    item: &OutboxItem,
    operation: bool,
    now: DateTime<Utc>,
) -> Verdict {
    let base = destination.base_url.trim_end_matches('/');
    let url = if operation {
        format!("{base}/$submit-cgm-bundle")
    } else {
        base.to_owned()
    };
    let agent = client.agent_for(&destination.name).clone();
    let mut request = agent.post(&url);
    if let Some(tokens) = client.tokens.get_mut(&destination.name) {
        match tokens.bearer(&client.agent, now) {
            Ok(token) => request = request.header("Authorization", &format!("Bearer {token}")),
            // The token endpoint may be down like any server: retry later.
            Err(error) => {
                return Verdict::Retry {
                    reason: error.to_string(),
                    retry_after: None,
                }
            }
        }
    }
    let result = request
        .header("Content-Type", "application/fhir+json")
        .header("Accept", "application/fhir+json")
        .header("X-Request-Id", &format!("pghd-outbox-{}", item.id))
        .send(item.body.as_bytes());
    match answer(result, operation) {
        Ok(a) if operation && (200..300).contains(&a.status) => operation_verdict(&a.body),
        Ok(a) => verdict(a.status, a.retry_after.as_deref(), &a.body, now),
        Err(verdict) => verdict,
    }
}

/// The verdict on a 2xx answer of `$submit-cgm-bundle`, which is not atomic: its
/// `transaction-response` Bundle has one entry per submitted entry, each with its own
/// `response.status`. All 2xx → sent; any 5xx → retried (the whole Bundle again: its
/// creates are conditional, so what was stored stays once); else any 4xx → refused,
/// naming the entries and their `OperationOutcome`s. An answer that is not such a
/// Bundle is trusted as a success only when empty (the operation may answer 204).
#[must_use]
pub fn operation_verdict(body: &str) -> Verdict {
    if body.trim().is_empty() {
        return Verdict::Sent { receipt: None };
    }
    let Ok(answer) = serde_json::from_str::<serde_json::Value>(body) else {
        return Verdict::Refused("the $submit-cgm-bundle answer is not JSON".to_owned());
    };
    let Some(entries) = answer["entry"].as_array() else {
        return Verdict::Refused(format!(
            "the $submit-cgm-bundle answer is a {}, not a transaction-response Bundle",
            answer["resourceType"].as_str().unwrap_or("?")
        ));
    };
    let mut failed = Vec::new();
    let mut server_error = false;
    for (index, entry) in entries.iter().enumerate() {
        let status = entry["response"]["status"].as_str().unwrap_or("");
        let code: u16 = status
            .split_whitespace()
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if !(200..300).contains(&code) {
            server_error |= code >= 500 || code == 0;
            let outcome = entry["response"]["outcome"]["issue"][0]["diagnostics"]
                .as_str()
                .unwrap_or("");
            failed.push(
                format!("entry {index}: {status} {outcome}")
                    .trim()
                    .to_owned(),
            );
        }
    }
    if failed.is_empty() {
        return Verdict::Sent { receipt: None };
    }
    let shown: Vec<&str> = failed.iter().take(5).map(String::as_str).collect();
    let reason = format!(
        "{} of {} entries not accepted: {}",
        failed.len(),
        entries.len(),
        shown.join("; ")
    );
    if server_error {
        Verdict::Retry {
            reason,
            retry_after: None,
        }
    } else {
        Verdict::Refused(reason)
    }
}

/// Publishes a taccuino report to the FSE Gateway (`POST {base}/fhir-documents`,
/// multipart, two JWTs signed now): 2xx is sent, with the `workflowInstanceId` kept
/// as the receipt; 409 means the Gateway already has this `identificativoDoc` (an
/// earlier attempt whose answer was lost), so it is sent too; otherwise as
/// [`verdict`].
fn publish(
    client: &Client,
    destination: &Destination,
    config: &crate::fse_gateway::GatewayConfig,
    item: &OutboxItem,
    fiscal_code: &str,
    now: DateTime<Utc>,
) -> Verdict {
    use crate::fse_gateway::{multipart, sha256_hex, Publication, PUBLICATION_PATH};
    let publication: Publication = match serde_json::from_str(&item.body) {
        Ok(p) => p,
        Err(e) => return Verdict::Refused(format!("the queued item is not a publication: {e}")),
    };
    let Some(signer) = client.signers.get(&destination.name) else {
        return Verdict::Refused("no signing key for this destination".to_owned());
    };
    let base = destination.base_url.trim_end_matches('/');
    let hash = sha256_hex(publication.pdf.as_bytes());
    let (bearer, signature) = match signer.publication_tokens(config, base, fiscal_code, &hash, now)
    {
        Ok(tokens) => tokens,
        Err(reason) => return Verdict::Refused(reason),
    };
    let (content_type, body) = multipart(&publication);
    let result = client
        .agent_for(&destination.name)
        .post(&format!("{base}{PUBLICATION_PATH}"))
        .header("Authorization", &format!("Bearer {bearer}"))
        .header("FSE-JWT-Signature", &signature)
        .header("Content-Type", &content_type)
        .header("Accept", "application/json")
        .send(&body[..]);
    let a = match answer(result, true) {
        Ok(a) => a,
        Err(verdict) => return verdict,
    };
    let field = |name: &str| {
        serde_json::from_str::<serde_json::Value>(&a.body)
            .ok()
            .and_then(|v| v.get(name).and_then(|w| w.as_str()).map(str::to_owned))
    };
    match a.status {
        200..=299 => Verdict::Sent {
            receipt: field("workflowInstanceId"),
        },
        409 => Verdict::Sent {
            receipt: Some(format!(
                "already published: {}",
                field("detail").unwrap_or_default()
            )),
        },
        status => verdict(status, a.retry_after.as_deref(), &a.body, now),
    }
}

/// Sends up to [`ROUND_SIZE`] due items, each checked against the patient's current
/// consent and opposition first. `jitter` gives numbers in 0–1 for the retry delays.
///
/// # Errors
/// Store errors (an item's own failure is recorded on the item, not returned).
pub fn deliver_round(
    store: &mut dyn ReadingStore,
    destinations: &[Destination],
    client: &mut Client,
    now: DateTime<Utc>,
    jitter: &mut dyn FnMut() -> f64,
) -> Result<RoundReport, StoreError> {
    let mut report = RoundReport::default();
    for item in store.outbox().due(now, ROUND_SIZE)? {
        let patient = PatientId(item.patient.clone());
        let verdict = match destinations.iter().find(|d| d.name == item.destination) {
            None => Verdict::Refused(format!(
                "destination {:?} is no longer configured",
                item.destination
            )),
            Some(destination) => match permission(store, &patient, destination)? {
                Err(reason) => Verdict::Refused(reason.to_owned()),
                Ok(()) => {
                    let fiscal_code = store
                        .directory()
                        .account(&patient.0)?
                        .and_then(|a| a.fiscal_code);
                    send(client, destination, &item, fiscal_code.as_deref(), now)
                }
            },
        };
        let attempts = item.attempts + 1;
        let mut receipt = None;
        let (status, error, retry_at) = match verdict {
            Verdict::Sent { receipt: r } => {
                report.sent += 1;
                receipt = r;
                (OutboxStatus::Sent, None, now)
            }
            Verdict::Retry { reason, .. } if attempts >= MAX_ATTEMPTS => {
                report.failed += 1;
                (
                    OutboxStatus::Failed,
                    Some(format!("gave up after {attempts} attempts; last: {reason}")),
                    now,
                )
            }
            Verdict::Retry {
                reason,
                retry_after,
            } => {
                report.retried += 1;
                let delay = retry_delay(attempts, retry_after, jitter());
                let at = now + chrono::Duration::from_std(delay).unwrap_or_default();
                (OutboxStatus::Pending, Some(reason), at)
            }
            Verdict::Refused(reason) => {
                report.failed += 1;
                (OutboxStatus::Failed, Some(reason), now)
            }
        };
        store.outbox().record_attempt(
            item.id,
            status,
            error.as_deref(),
            receipt.as_deref(),
            retry_at,
            now,
        )?;
    }
    Ok(report)
}

/// A small xorshift generator for jitter, seeded from the clock: jitter needs spread,
/// not secrecy.
fn jitter_source(seed: u64) -> impl FnMut() -> f64 {
    let mut state = seed | 1;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1_u64 << 53) as f64
    }
}

/// The HTTP agent for destinations: answers of every status are returned (the verdict
/// reads them), 30 s per request.
#[must_use]
pub fn agent() -> ureq::Agent {
    agent_with(None)
}

/// [`agent`] with its own TLS configuration (mutual TLS).
fn agent_with(tls: Option<ureq::tls::TlsConfig>) -> ureq::Agent {
    let mut config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)));
    if let Some(tls) = tls {
        config = config.tls_config(tls);
    }
    config.build().into()
}

/// Delivers until the process ends: a round every `interval` (sooner while there is
/// more due), on its own thread with its own store connection.
pub fn run(
    mut store: Box<dyn ReadingStore>,
    destinations: Vec<Destination>,
    mut client: Client,
    interval: Duration,
) {
    let mut jitter = jitter_source(Utc::now().timestamp_nanos_opt().unwrap_or(1).unsigned_abs());
    loop {
        match deliver_round(
            store.as_mut(),
            &destinations,
            &mut client,
            Utc::now(),
            &mut jitter,
        ) {
            Ok(report) if report.sent + report.retried + report.failed == ROUND_SIZE => continue,
            Ok(report) => {
                if report.sent + report.failed > 0 {
                    eprintln!(
                        "fhir delivery: {} sent, {} to retry, {} failed",
                        report.sent, report.retried, report.failed
                    );
                }
            }
            Err(error) => eprintln!("fhir delivery: {error}"),
        }
        std::thread::sleep(interval);
    }
}

#[cfg(test)]
mod tests;
