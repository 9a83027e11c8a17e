//! The HTTP API (`/api/v1`, JSON; reference in docs/http-api.md and the OpenAPI document
//! served at `/api/v1/openapi.json`). Every endpoint but login, the OpenAPI document and
//! the health check needs a session token; every action on a patient's record is decided
//! by [`crate::access::allowed`], and every action by anyone but the patient is written to
//! the patient's audit log (allowed or denied) before the answer is sent.
//!
//! The stores are synchronous: handlers borrow one from a [`StorePool`] on the blocking
//! thread pool, so a slow query never stalls the async runtime.

pub mod audit_log;
pub mod nightscout;
pub mod pairing;
mod problem;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use audit_log::AuditLog;
pub use problem::{ApiError, PROBLEM_BASE};

use crate::access::{allowed, Action, Facts};
use crate::auth::{self, LoginLimiter, TokenKey};
use device_adapters::reading::Measurement;

use crate::store::directory::{AccessEntry, Account, Consent, Delegation, NewAccount, Role, Scope};
use crate::store::{
    readings_version, window_readings, PageCursor, PatientId, ReadingQuery, ReadingStore, MAX_PAGE,
};

/// Largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Readings are accepted and queried from this instant on (UTC): earlier timestamps are
/// clock errors (a device reset to 1970), not data.
pub const EARLIEST: &str = "2000-01-01T00:00:00Z";

/// Longest window of one readings or summary query (days).
pub const MAX_WINDOW_DAYS: i64 = 366;

/// Store connections shared by the handlers.
pub struct StorePool {
    stores: Mutex<Vec<Box<dyn ReadingStore>>>,
    available: tokio::sync::Semaphore,
}

impl StorePool {
    /// A pool of these connections (to the same database).
    #[must_use]
    pub fn new(stores: Vec<Box<dyn ReadingStore>>) -> Self {
        let count = stores.len();
        Self {
            stores: Mutex::new(stores),
            available: tokio::sync::Semaphore::new(count),
        }
    }

    /// Runs `work` with a store on the blocking thread pool.
    ///
    /// # Errors
    /// `work`'s error; an internal error if the pool is closed or `work` panicked.
    pub async fn run<R, F>(self: &Arc<Self>, work: F) -> Result<R, ApiError>
    where
        R: Send + 'static,
        F: FnOnce(&mut dyn ReadingStore) -> Result<R, ApiError> + Send + 'static,
    {
        let permit = self
            .available
            .acquire()
            .await
            .map_err(|_| ApiError::internal("store pool closed"))?;
        let mut store = self
            .stores
            .lock()
            .map_err(|_| ApiError::internal("store pool poisoned"))?
            .pop()
            .ok_or_else(|| ApiError::internal("store pool empty"))?;
        let pool = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let result = work(store.as_mut());
            if let Ok(mut stores) = pool.stores.lock() {
                stores.push(store);
            }
            result
        })
        .await;
        match joined {
            Ok(result) => {
                drop(permit);
                result
            }
            Err(_) => {
                // The connection went down with the panic: one fewer in the pool.
                permit.forget();
                Err(ApiError::internal("store task failed"))
            }
        }
    }
}

/// Glucometrics summaries by (patient, time zone, window), kept with the patient's
/// readings version they were computed from ([`readings_version`]): a summary is served
/// again only while no reading of the patient was stored since. Bounded: emptied when
/// full.
#[derive(Debug, Default)]
pub struct SummaryCache {
    entries: Mutex<HashMap<SummaryKey, (i64, axum::body::Bytes)>>,
}

/// A summary's key: patient id, their time zone, window start and end (µs since the
/// Unix epoch, UTC).
type SummaryKey = (String, String, i64, i64);

/// Most summaries kept.
pub const SUMMARY_CACHE_ENTRIES: usize = 4096;

impl SummaryCache {
    fn get(&self, key: &SummaryKey, version: i64) -> Option<axum::body::Bytes> {
        let entries = self.entries.lock().ok()?;
        entries
            .get(key)
            .filter(|(v, _)| *v == version)
            .map(|(_, body)| body.clone())
    }

    fn put(&self, key: SummaryKey, version: i64, body: axum::body::Bytes) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= SUMMARY_CACHE_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (version, body));
        }
    }
}

/// What the handlers share.
pub struct ApiState {
    /// The stores.
    pub pool: Arc<StorePool>,
    /// The audit writer (group commits).
    pub audit: AuditLog,
    /// Summaries already computed, by window and content.
    pub summaries: Arc<SummaryCache>,
    /// Signs session tokens.
    pub tokens: TokenKey,
    /// Failed-login counter.
    pub limiter: Mutex<LoginLimiter>,
    /// The pseudonymised analytics stream, when configured.
    pub analytics: Option<crate::analytics::AnalyticsSender>,
    /// Where FHIR submissions go (`delivery`); empty: nowhere.
    pub destinations: Arc<Vec<crate::delivery::Destination>>,
}

impl ApiState {
    /// The state over `stores` (the handlers' pool) and `audit_store` (the audit
    /// writer's own connection), with a fresh token key.
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn new(
        stores: Vec<Box<dyn ReadingStore>>,
        audit_store: Box<dyn ReadingStore>,
    ) -> Result<Self, ring::error::Unspecified> {
        Ok(Self {
            pool: Arc::new(StorePool::new(stores)),
            audit: AuditLog::start(audit_store),
            summaries: Arc::new(SummaryCache::default()),
            tokens: TokenKey::generate()?,
            limiter: Mutex::new(LoginLimiter::default()),
            analytics: None,
            destinations: Arc::new(Vec::new()),
        })
    }
}

/// The API's routes.
pub fn router(state: Arc<ApiState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/docs", get(viewer))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/me", get(me))
        .route("/api/v1/practitioner/patients", get(practitioner_patients))
        .route("/api/v1/patients/{patient}/readings", get(readings))
        .route("/api/v1/patients/{patient}/glucometrics", get(glucometrics))
        .route("/api/v1/patients/{patient}/daily", get(daily))
        .route("/api/v1/patients/{patient}/agp-report", get(agp_report))
        .route("/api/v1/patients/{patient}/devices", get(devices))
        .route(
            "/api/v1/patients/{patient}/consent",
            get(consent).put(set_consent),
        )
        .route(
            "/api/v1/patients/{patient}/delegations",
            get(delegations).post(add_delegation),
        )
        .route(
            "/api/v1/patients/{patient}/delegations/{delegation}",
            delete(revoke_delegation),
        )
        .route("/api/v1/patients/{patient}/audit", get(audit))
        .route("/api/v1/patients/{patient}/deliveries", get(deliveries))
        .route(
            "/api/v1/patients/{patient}/fhir-submissions",
            post(fhir_submission),
        )
        .route(
            "/api/v1/patients/{patient}/destinations",
            get(destinations).put(set_destinations),
        )
        .route(
            "/api/v1/patients/{patient}/notifications",
            get(notifications),
        )
        .route(
            "/api/v1/patients/{patient}/upload-secret",
            post(new_upload_secret),
        )
        .route(
            "/api/v1/patients/{patient}/pairing-codes",
            post(pairing::new_pairing_code),
        )
        .route(
            "/api/v1/patients/{patient}/gateways",
            get(pairing::gateways),
        )
        .route("/api/v1/gateways/pair", post(pairing::pair))
        .route(
            "/api/v1/entries",
            post(nightscout::upload).get(nightscout::entries).layer(
                axum::extract::DefaultBodyLimit::max(nightscout::MAX_UPLOAD_BYTES),
            ),
        )
        .route(
            "/api/v1/entries.json",
            post(nightscout::upload).get(nightscout::entries).layer(
                axum::extract::DefaultBodyLimit::max(nightscout::MAX_UPLOAD_BYTES),
            ),
        )
        .route("/api/v1/entries/sgv.json", get(nightscout::entries))
        .route("/api/v1/status", get(nightscout::status))
        .route("/api/v1/status.json", get(nightscout::status))
        .route("/api/v1/admin/accounts", post(create_account))
        .route("/api/v1/admin/care-team", post(add_to_care_team))
        .route("/api/v1/admin/deliveries", get(admin_deliveries))
        .merge(crate::web::router())
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The OpenAPI document (docs/openapi.json, compiled in).
pub const OPENAPI: &str = include_str!("../../../docs/openapi.json");

/// The interactive viewer of the OpenAPI document (no external assets).
pub const VIEWER: &str = include_str!("viewer.html");

async fn viewer() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'",
            ),
        ],
        VIEWER,
    )
        .into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

/// A JSON body whose rejections are problem documents; unknown fields are refused by the
/// body types themselves (`deny_unknown_fields`).
pub(crate) struct Body<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::from_json_rejection(&rejection)),
        }
    }
}

/// A query string whose rejections are problem documents.
struct Query<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// Path parameters whose rejections are problem documents.
pub(crate) struct Path<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(rejection) => Err(ApiError::bad_request(rejection.body_text())),
        }
    }
}

/// The authenticated caller (from `Authorization: Bearer <token>`).
#[derive(Debug, Clone)]
pub struct Caller {
    /// Account id.
    pub id: String,
    /// Role.
    pub role: Role,
}

impl FromRequestParts<Arc<ApiState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ApiState>,
    ) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(ApiError::unauthenticated)?;
        let claims = state
            .tokens
            .check(token, Utc::now())
            .map_err(|_| ApiError::unauthenticated())?;
        Ok(Self {
            id: claims.sub,
            role: claims.role,
        })
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// What [`decide`] found.
struct Decision {
    /// The patient's account; `None` if no patient has that id.
    account: Option<Account>,
    permitted: bool,
}

/// Gathers the facts about `caller` and `patient` and applies [`allowed`].
fn decide(
    store: &mut dyn ReadingStore,
    caller: &Caller,
    patient: &PatientId,
    action: Action,
) -> Result<Decision, ApiError> {
    let now = Utc::now();
    let mut directory = store.directory();
    let Some(account) = directory
        .account(&patient.0)?
        .filter(|a| a.role == Role::Patient)
    else {
        return Ok(Decision {
            account: None,
            permitted: false,
        });
    };
    let facts = Facts {
        is_patient: caller.id == patient.0,
        delegated: directory
            .delegations_received(&caller.id)?
            .into_iter()
            .filter(|d| d.patient == patient.0)
            .flat_map(|d| {
                [Scope::Read, Scope::ManageConsent]
                    .into_iter()
                    .filter(move |&s| d.grants(s, now))
            })
            .collect(),
        in_care_team: caller.role == Role::Practitioner
            && directory.in_care_team(patient, &caller.id)?,
        consultation: directory.consent(patient)?.consultation,
    };
    Ok(Decision {
        permitted: allowed(caller.role, &facts, action),
        account: Some(account),
    })
}

/// Does `work` on `patient`'s record if [`allowed`] lets `caller` do `action`. Unless
/// the caller is the patient, the attempt (`what`, allowed or denied) is first made
/// durable in the patient's audit log. Unknown patients and refused actions get the
/// same answer, so ids cannot be probed.
///
/// # Errors
/// Forbidden, `work`'s errors, or store errors.
pub(crate) async fn on_record<R, F>(
    state: &Arc<ApiState>,
    caller: Caller,
    patient: String,
    action: Action,
    what: &'static str,
    work: F,
) -> Result<R, ApiError>
where
    R: Send + 'static,
    F: FnOnce(&mut dyn ReadingStore, &Caller, Account) -> Result<R, ApiError> + Send + 'static,
{
    let patient = PatientId(patient);
    let (asking, id) = (caller.clone(), patient.clone());
    let decision = state
        .pool
        .run(move |store| decide(store, &asking, &id, action))
        .await?;
    let Some(account) = decision.account else {
        return Err(ApiError::forbidden());
    };
    if !(caller.id == patient.0 && caller.role == Role::Patient) {
        state
            .audit
            .append(AccessEntry {
                patient,
                actor: caller.id.clone(),
                actor_role: caller.role,
                action: what.to_owned(),
                allowed: decision.permitted,
                at: Utc::now(),
            })
            .await?;
    }
    if !decision.permitted {
        return Err(ApiError::forbidden());
    }
    state
        .pool
        .run(move |store| work(store, &caller, account))
        .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    login: String,
    password: String,
}

#[derive(Debug, Serialize)]
struct LoginResponse {
    token: String,
    expires_at: DateTime<Utc>,
    account: Account,
}

async fn login(
    State(state): State<Arc<ApiState>>,
    Body(request): Body<LoginRequest>,
) -> Result<Json<LoginResponse>, ApiError> {
    if request.login.len() > 256 || request.password.len() > 1024 {
        return Err(ApiError::bad_request("login or password too long"));
    }
    let started = std::time::Instant::now();
    if let Err(wait) = state
        .limiter
        .lock()
        .map_err(|_| ApiError::internal("limiter poisoned"))?
        .admit(&request.login, started)
    {
        return Err(ApiError::too_many_requests(wait));
    }
    let login = request.login.clone();
    let found = state
        .pool
        .run(move |store| Ok(store.directory().credentials(&login)?))
        .await?;
    let password = request.password;
    let (account, ok) = tokio::task::spawn_blocking(move || match found {
        Some((account, hash)) => {
            let ok = auth::verify_password(&password, &hash);
            (Some(account), ok)
        }
        None => {
            let _ = auth::verify_password(&password, auth::decoy_hash());
            (None, false)
        }
    })
    .await
    .map_err(|_| ApiError::internal("password check failed"))?;
    state
        .limiter
        .lock()
        .map_err(|_| ApiError::internal("limiter poisoned"))?
        .record(&request.login, ok, started);
    match account {
        Some(account) if ok => {
            let (token, expires_at) = state.tokens.issue(&account.id, account.role, Utc::now());
            Ok(Json(LoginResponse {
                token,
                expires_at,
                account,
            }))
        }
        _ => Err(ApiError::invalid_credentials()),
    }
}

#[derive(Debug, Serialize)]
struct Me {
    account: Account,
    /// Delegations in force that the caller received: the people they act for.
    acts_for: Vec<Delegation>,
}

async fn me(State(state): State<Arc<ApiState>>, caller: Caller) -> Result<Json<Me>, ApiError> {
    state
        .pool
        .run(move |store| {
            let now = Utc::now();
            let mut directory = store.directory();
            let account = directory
                .account(&caller.id)?
                .ok_or_else(ApiError::unauthenticated)?;
            let acts_for = directory
                .delegations_received(&caller.id)?
                .into_iter()
                .filter(|d| d.revoked_at.is_none() && now < d.expires_at)
                .collect();
            Ok(Json(Me { account, acts_for }))
        })
        .await
}

async fn practitioner_patients(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
) -> Result<Json<Vec<Account>>, ApiError> {
    if caller.role != Role::Practitioner {
        return Err(ApiError::forbidden());
    }
    state
        .pool
        .run(move |store| Ok(Json(store.directory().consenting_patients(&caller.id)?)))
        .await
}

/// A time window from query parameters: `to` defaults to now and `from` to 14 days
/// before `to`; both must lie between [`EARLIEST`] and a day from now, `from < to`, and
/// the window may not exceed [`MAX_WINDOW_DAYS`].
fn window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let now = Utc::now();
    // The default window ends at the next whole minute, so that requests within a minute
    // ask for the same window (and share a cached summary).
    let to = to.unwrap_or_else(|| {
        let seconds = now.timestamp();
        DateTime::from_timestamp(seconds - seconds.rem_euclid(60) + 60, 0).unwrap_or(now)
    });
    let from = from.unwrap_or(to - Duration::days(14));
    let earliest: DateTime<Utc> = EARLIEST.parse().unwrap_or_default();
    let latest = now + Duration::days(1);
    if from < earliest || to > latest {
        return Err(ApiError::bad_request(format!(
            "the window must lie between {EARLIEST} and one day from now"
        )));
    }
    if from >= to {
        return Err(ApiError::bad_request("`from` must be before `to`"));
    }
    if to - from > Duration::days(MAX_WINDOW_DAYS) {
        return Err(ApiError::bad_request(format!(
            "the window may not exceed {MAX_WINDOW_DAYS} days"
        )));
    }
    Ok((from, to))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadingsParams {
    kind: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// Opaque cursor from a previous page's `next`.
    after: Option<String>,
    limit: Option<usize>,
}

#[derive(Debug, Serialize)]
struct ReadingsPage {
    readings: Vec<device_adapters::reading::Reading>,
    /// Pass as `after` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

fn parse_cursor(text: &str) -> Result<PageCursor, ApiError> {
    text.split_once('.')
        .and_then(|(time, id)| {
            Some(PageCursor {
                time_us: time.parse().ok()?,
                id: id.parse().ok()?,
            })
        })
        .ok_or_else(|| ApiError::bad_request("`after` is not a cursor of this API"))
}

async fn readings(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
    Query(params): Query<ReadingsParams>,
) -> Result<Json<ReadingsPage>, ApiError> {
    let (from, to) = window(params.from, params.to)?;
    let after = params.after.as_deref().map(parse_cursor).transpose()?;
    let limit = params.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_PAGE {
        return Err(ApiError::bad_request(format!(
            "`limit` must be 1 to {MAX_PAGE}"
        )));
    }
    on_record(
        &state,
        caller,
        patient,
        Action::ReadData,
        "GET readings",
        move |store, _, account| {
            let patient = PatientId(account.id.clone());
            let page = store.readings(&ReadingQuery {
                patient,
                kind: params.kind,
                from,
                to,
                after,
                limit,
            })?;
            Ok(Json(ReadingsPage {
                readings: page.readings,
                next: page.next.map(|c| format!("{}.{}", c.time_us, c.id)),
            }))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowParams {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
}

async fn glucometrics(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
    Query(params): Query<WindowParams>,
) -> Result<Response, ApiError> {
    let (from, to) = window(params.from, params.to)?;
    let cache = Arc::clone(&state.summaries);
    let body = on_record(
        &state,
        caller,
        patient,
        Action::ReadData,
        "GET glucometrics",
        move |store, _, account| {
            let patient = PatientId(account.id.clone());
            let tz: chrono_tz::Tz = account
                .time_zone
                .parse()
                .map_err(|_| ApiError::internal("patient time zone"))?;
            let version = readings_version(store.sql(), &patient)?;
            let key = (
                account.id,
                account.time_zone,
                from.timestamp_micros(),
                to.timestamp_micros(),
            );
            if let Some(body) = cache.get(&key, version) {
                return Ok(body);
            }
            let readings = window_readings(store, &patient, Some("cgm_glucose"), from, to)?;
            let summary = crate::report::summarize_readings(&readings, tz)
                .map_err(|error| ApiError::unprocessable(error.to_string()))?;
            let body = axum::body::Bytes::from(
                serde_json::to_vec(&summary).map_err(|e| ApiError::internal(e.to_string()))?,
            );
            cache.put(key, version, body.clone());
            Ok(body)
        },
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// The devices that sent the patient's readings.
async fn devices(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
) -> Result<Json<Vec<crate::store::DeviceSeen>>, ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ReadData,
        "GET devices",
        move |store, _, account| {
            Ok(Json(crate::store::patient_devices(
                store.sql(),
                &PatientId(account.id),
            )?))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportParams {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// `svg` (default), `pdf` or `png`.
    format: Option<String>,
    /// `it` (default) or `en`.
    lang: Option<String>,
}

/// The AGP report of a window (default: the last 14 days) as SVG, PDF or PNG.
async fn agp_report(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
    Query(params): Query<ReportParams>,
) -> Result<Response, ApiError> {
    let (from, to) = window(params.from, params.to)?;
    let lang = match params.lang.as_deref() {
        None => crate::agp_report::Lang::default(),
        Some(code) => crate::agp_report::Lang::parse(code)
            .ok_or_else(|| ApiError::bad_request("`lang` must be `it` or `en`"))?,
    };
    let format = match params.format.as_deref() {
        None | Some("svg") => ReportFormat::Svg,
        Some("pdf") => ReportFormat::Pdf,
        Some("png") => ReportFormat::Png,
        Some(_) => {
            return Err(ApiError::bad_request(
                "`format` must be `svg`, `pdf` or `png`",
            ))
        }
    };
    let body: Vec<u8> = on_record(
        &state,
        caller,
        patient,
        Action::ReadData,
        "GET agp-report",
        move |store, _, account| {
            let patient = PatientId(account.id.clone());
            let tz: chrono_tz::Tz = account
                .time_zone
                .parse()
                .map_err(|_| ApiError::internal("patient time zone"))?;
            // One read of the window: the CGM readings for the glucose page, the rest
            // (glucose is ignored there) for the daily summaries.
            let readings = window_readings(store, &patient, None, from, to)?;
            let cgm: Vec<_> = readings
                .iter()
                .filter(|r| matches!(r.measurement, Measurement::CgmGlucose { .. }))
                .cloned()
                .collect();
            let glucose = if cgm.is_empty() {
                None
            } else {
                Some(
                    crate::report::summarize_readings(&cgm, tz)
                        .map_err(|error| ApiError::unprocessable(error.to_string()))?,
                )
            };
            let days = crate::daily::daily_summaries(&readings, tz);
            let input = crate::agp_report::ReportInput {
                patient_name: &account.display_name,
                fiscal_code: account.fiscal_code.as_deref(),
                period: (from, to),
                time_zone: tz,
                glucose: glucose.as_ref(),
                days: &days,
                lang,
                generated_at: Utc::now(),
            };
            Ok(match format {
                ReportFormat::Svg => crate::agp_report::svg(&input).into_bytes(),
                ReportFormat::Pdf => crate::agp_report::pdf(&input, &[]).into_bytes(),
                ReportFormat::Png => {
                    crate::agp_report::png(&input, 1.5).map_err(ApiError::internal)?
                }
            })
        },
    )
    .await?;
    let (content_type, disposition) = match format {
        ReportFormat::Svg => ("image/svg+xml; charset=utf-8", "inline"),
        ReportFormat::Pdf => ("application/pdf", "inline; filename=\"agp-report.pdf\""),
        ReportFormat::Png => ("image/png", "inline; filename=\"agp-report.png\""),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body,
    )
        .into_response())
}

/// What `GET …/agp-report` answers with.
#[derive(Debug, Clone, Copy)]
enum ReportFormat {
    Svg,
    Pdf,
    Png,
}

async fn daily(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
    Query(params): Query<WindowParams>,
) -> Result<Json<Vec<crate::daily::DailySummary>>, ApiError> {
    let (from, to) = window(params.from, params.to)?;
    on_record(
        &state,
        caller,
        patient,
        Action::ReadData,
        "GET daily",
        move |store, _, account| {
            let tz: chrono_tz::Tz = account
                .time_zone
                .parse()
                .map_err(|_| ApiError::internal("patient time zone"))?;
            // Glucose readings are ignored by the daily summaries.
            let readings = window_readings(store, &PatientId(account.id), None, from, to)?;
            Ok(Json(crate::daily::daily_summaries(&readings, tz)))
        },
    )
    .await
}

async fn consent(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
) -> Result<Json<Consent>, ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ReadConsent,
        "GET consent",
        move |store, _, account| {
            let patient = PatientId(account.id.clone());
            Ok(Json(store.directory().consent(&patient)?))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentRequest {
    /// Doctors of the care team may consult the record.
    consultation: bool,
    /// Opposition to forwarding to the FSE.
    fse_opposition: bool,
}

async fn set_consent(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
    Body(request): Body<ConsentRequest>,
) -> Result<Json<Consent>, ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ChangeConsent,
        "PUT consent",
        move |store, caller, account| {
            let patient = PatientId(account.id.clone());
            Ok(Json(store.directory().set_consent(
                &patient,
                request.consultation,
                request.fse_opposition,
                &caller.id,
                Utc::now(),
            )?))
        },
    )
    .await
}

async fn delegations(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
) -> Result<Json<Vec<Delegation>>, ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ManageDelegations,
        "GET delegations",
        move |store, _, account| {
            let patient = PatientId(account.id.clone());
            Ok(Json(store.directory().delegations_given(&patient)?))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DelegationRequest {
    /// The delegate's login name.
    delegate_login: String,
    /// `parent`, `tutor` or `delegated`.
    relationship: String,
    scopes: Vec<Scope>,
    expires_at: DateTime<Utc>,
}

/// Longest delegation (years): a parent's, until a newborn comes of age.
pub const MAX_DELEGATION_YEARS: i64 = 18;

/// Checks a delegation request's fields.
fn check_delegation(request: &DelegationRequest, now: DateTime<Utc>) -> Result<(), ApiError> {
    if !["parent", "tutor", "delegated"].contains(&request.relationship.as_str()) {
        return Err(ApiError::bad_request(
            "`relationship` must be parent, tutor or delegated",
        ));
    }
    if request.scopes.is_empty() {
        return Err(ApiError::bad_request("`scopes` may not be empty"));
    }
    if request.expires_at <= now
        || request.expires_at > now + Duration::days(366 * MAX_DELEGATION_YEARS)
    {
        return Err(ApiError::bad_request(format!(
            "`expires_at` must be in the future and within {MAX_DELEGATION_YEARS} years"
        )));
    }
    Ok(())
}

async fn add_delegation(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
    Body(request): Body<DelegationRequest>,
) -> Result<(StatusCode, Json<Delegation>), ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ManageDelegations,
        "POST delegations",
        move |store, _, account| {
            let patient = PatientId(account.id.clone());
            check_delegation(&request, Utc::now())?;
            let mut directory = store.directory();
            let delegate = directory
                .credentials(&request.delegate_login)?
                .map(|(account, _)| account)
                .filter(|a| matches!(a.role, Role::Patient | Role::Delegate) && a.id != patient.0)
                .ok_or_else(|| {
                    ApiError::unprocessable("no patient or delegate account has that login")
                })?;
            let given = directory.delegate(
                &patient,
                &delegate.id,
                &request.relationship,
                &request.scopes,
                request.expires_at,
            )?;
            Ok((StatusCode::CREATED, Json(given)))
        },
    )
    .await
}

async fn revoke_delegation(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path((patient, delegation)): Path<(String, i64)>,
) -> Result<StatusCode, ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ManageDelegations,
        "DELETE delegation",
        move |store, _, account| {
            let patient = PatientId(account.id.clone());
            if store
                .directory()
                .revoke_delegation(&patient, delegation, Utc::now())?
            {
                Ok(StatusCode::NO_CONTENT)
            } else {
                Err(ApiError::not_found("no such delegation in force"))
            }
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    /// Records older than this audit id.
    before: Option<i64>,
    limit: Option<usize>,
}

async fn audit(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
    Query(params): Query<AuditParams>,
) -> Result<Json<Vec<crate::store::directory::AuditRecord>>, ApiError> {
    let limit = params.limit.unwrap_or(100);
    if limit == 0 || limit > 1000 {
        return Err(ApiError::bad_request("`limit` must be 1 to 1000"));
    }
    on_record(
        &state,
        caller,
        patient,
        Action::ReadAudit,
        "GET audit",
        move |store, _, account| {
            let patient = PatientId(account.id.clone());
            Ok(Json(store.directory().audit(
                &patient,
                params.before,
                limit,
            )?))
        },
    )
    .await
}

async fn deliveries(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
) -> Result<Json<Vec<crate::store::outbox::OutboxSummary>>, ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ReadAudit,
        "GET deliveries",
        move |store, _, account| {
            Ok(Json(
                store
                    .outbox()
                    .summaries_for_patient(&PatientId(account.id), 500)?,
            ))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SubmissionRequest {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    #[serde(default = "yes")]
    summary: bool,
}

fn yes() -> bool {
    true
}

/// Longest window one submission may cover, days.
pub const MAX_SUBMISSION_DAYS: i64 = 90;

async fn fhir_submission(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
    Body(request): Body<SubmissionRequest>,
) -> Result<(StatusCode, Json<crate::delivery::EnqueueReport>), ApiError> {
    if request.to <= request.from
        || request.to - request.from > chrono::Duration::days(MAX_SUBMISSION_DAYS)
    {
        return Err(ApiError::bad_request(format!(
            "`to` must follow `from` by at most {MAX_SUBMISSION_DAYS} days"
        )));
    }
    let destinations = state.destinations.clone();
    on_record(
        &state,
        caller,
        patient,
        Action::ReadData,
        "POST fhir-submission",
        move |store, caller, account| {
            if destinations.is_empty() {
                return Err(ApiError::conflict(
                    "this hub has no FHIR destinations configured",
                ));
            }
            let delegate = (caller.id != account.id && caller.role != Role::Practitioner)
                .then(|| -> Result<_, ApiError> {
                    let who = store.directory().account(&caller.id)?;
                    Ok(crate::fhir::DelegateInfo {
                        id: caller.id.clone(),
                        name: who.map_or_else(|| caller.id.clone(), |a| a.display_name),
                    })
                })
                .transpose()?;
            let report = crate::delivery::enqueue_window(
                store,
                &destinations,
                &PatientId(account.id),
                (request.from, request.to),
                request.summary,
                delegate.as_ref(),
                Utc::now(),
            )
            .map_err(|e| match e {
                crate::delivery::DeliveryError::Store(e) => ApiError::from(e),
                crate::delivery::DeliveryError::NothingToSend { .. } => {
                    ApiError::unprocessable(e.to_string())
                }
                other => ApiError::internal(other),
            })?;
            Ok((StatusCode::ACCEPTED, Json(report)))
        },
    )
    .await
}

#[derive(Debug, Serialize)]
struct DestinationChoice {
    /// The care-team records the patient chose.
    chosen: Vec<String>,
    /// Every configured destination (name and kind).
    available: Vec<DestinationSummary>,
}

#[derive(Debug, Serialize)]
struct DestinationSummary {
    name: String,
    kind: crate::delivery::DestinationKind,
}

fn destination_choice(
    store: &mut dyn ReadingStore,
    destinations: &[crate::delivery::Destination],
    patient: &PatientId,
) -> Result<DestinationChoice, ApiError> {
    Ok(DestinationChoice {
        chosen: store.directory().destinations_of(patient)?,
        available: destinations
            .iter()
            .map(|d| DestinationSummary {
                name: d.name.clone(),
                kind: d.kind,
            })
            .collect(),
    })
}

async fn destinations(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
) -> Result<Json<DestinationChoice>, ApiError> {
    let destinations = state.destinations.clone();
    on_record(
        &state,
        caller,
        patient,
        Action::ReadConsent,
        "GET destinations",
        move |store, _, account| {
            Ok(Json(destination_choice(
                store,
                &destinations,
                &PatientId(account.id),
            )?))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DestinationsRequest {
    destinations: Vec<String>,
}

async fn set_destinations(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
    Body(request): Body<DestinationsRequest>,
) -> Result<Json<DestinationChoice>, ApiError> {
    for name in &request.destinations {
        match state.destinations.iter().find(|d| &d.name == name) {
            Some(d) if d.kind == crate::delivery::DestinationKind::CareTeam => {}
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "{name:?} is the FSE, which receives every patient's data unless they oppose (see consent)"
                )))
            }
            None => return Err(ApiError::bad_request(format!("no destination {name:?}"))),
        }
    }
    let destinations = state.destinations.clone();
    on_record(
        &state,
        caller,
        patient,
        Action::ChangeConsent,
        "PUT destinations",
        move |store, _, account| {
            let patient = PatientId(account.id);
            store
                .directory()
                .set_destinations(&patient, &request.destinations)?;
            Ok(Json(destination_choice(store, &destinations, &patient)?))
        },
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    status: Option<crate::store::outbox::OutboxStatus>,
}

async fn admin_deliveries(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    axum::extract::Query(query): axum::extract::Query<DeliveriesQuery>,
) -> Result<Json<Vec<crate::store::outbox::OutboxSummary>>, ApiError> {
    if caller.role != Role::Admin {
        return Err(ApiError::forbidden());
    }
    state
        .pool
        .run(move |store| Ok(Json(store.outbox().recent(query.status, 500)?)))
        .await
}

async fn notifications(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
) -> Result<Json<Vec<crate::store::directory::Notification>>, ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ReadAudit,
        "GET notifications",
        move |store, _, account| {
            let patient = PatientId(account.id.clone());
            Ok(Json(store.directory().notifications(&patient, false)?))
        },
    )
    .await
}

async fn new_upload_secret(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
) -> Result<(StatusCode, Json<nightscout::UploadSecret>), ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ManageDevices,
        "POST upload-secret",
        move |store, _, account| nightscout::new_upload_secret(store, &PatientId(account.id)),
    )
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountRequest {
    id: String,
    role: Role,
    display_name: String,
    login: String,
    password: String,
    time_zone: Option<String>,
    /// Codice fiscale (patients; the FSE requires it).
    fiscal_code: Option<String>,
}

fn check_identifier(name: &str, value: &str) -> Result<(), ApiError> {
    let ok = (1..=64).contains(&value.len())
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "`{name}` must be 1 to 64 letters, digits, '-', '_', '.' or '@'"
        )))
    }
}

/// Shortest password accepted (characters).
pub const MIN_PASSWORD_CHARS: usize = 12;

async fn create_account(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Body(request): Body<AccountRequest>,
) -> Result<(StatusCode, Json<Account>), ApiError> {
    if caller.role != Role::Admin {
        return Err(ApiError::forbidden());
    }
    check_identifier("id", &request.id)?;
    check_identifier("login", &request.login)?;
    if request.display_name.trim().is_empty() || request.display_name.len() > 200 {
        return Err(ApiError::bad_request(
            "`display_name` must be 1 to 200 bytes",
        ));
    }
    if request.password.chars().count() < MIN_PASSWORD_CHARS || request.password.len() > 1024 {
        return Err(ApiError::bad_request(format!(
            "`password` must have at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    let time_zone = request.time_zone.unwrap_or_else(|| "Europe/Rome".into());
    if time_zone.parse::<chrono_tz::Tz>().is_err() {
        return Err(ApiError::bad_request(
            "`time_zone` is not an IANA time zone",
        ));
    }
    let fiscal_code = match &request.fiscal_code {
        Some(code) => Some(
            crate::fiscal_code::validate(code)
                .map_err(|e| ApiError::bad_request(format!("`fiscal_code`: {e}")))?,
        ),
        None => None,
    };
    let password = request.password;
    let hash = tokio::task::spawn_blocking(move || auth::hash_password(&password))
        .await
        .map_err(|_| ApiError::internal("password hashing failed"))?
        .map_err(|_| ApiError::internal("password hashing failed"))?;
    state
        .pool
        .run(move |store| {
            let mut directory = store.directory();
            if directory.account(&request.id)?.is_some()
                || directory.credentials(&request.login)?.is_some()
            {
                return Err(ApiError::conflict(
                    "an account with that id or login exists",
                ));
            }
            directory.create_account(
                &NewAccount {
                    id: &request.id,
                    role: request.role,
                    display_name: &request.display_name,
                    login: &request.login,
                    password_hash: &hash,
                    time_zone: &time_zone,
                },
                Utc::now(),
            )?;
            if let Some(code) = &fiscal_code {
                directory.set_fiscal_code(&request.id, code)?;
            }
            let account = directory
                .account(&request.id)?
                .ok_or_else(|| ApiError::internal("account vanished"))?;
            Ok((StatusCode::CREATED, Json(account)))
        })
        .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CareTeamRequest {
    patient: String,
    practitioner: String,
}

async fn add_to_care_team(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Body(request): Body<CareTeamRequest>,
) -> Result<StatusCode, ApiError> {
    if caller.role != Role::Admin {
        return Err(ApiError::forbidden());
    }
    state
        .pool
        .run(move |store| {
            let mut directory = store.directory();
            let roles = (
                directory.account(&request.patient)?.map(|a| a.role),
                directory.account(&request.practitioner)?.map(|a| a.role),
            );
            if roles != (Some(Role::Patient), Some(Role::Practitioner)) {
                return Err(ApiError::unprocessable(
                    "`patient` must be a patient account and `practitioner` a practitioner's",
                ));
            }
            directory.add_to_care_team(
                &PatientId(request.patient),
                &request.practitioner,
                Utc::now(),
            )?;
            Ok(StatusCode::NO_CONTENT)
        })
        .await
}

#[cfg(test)]
mod tests;
