//! The Nightscout-compatible upload API, so that xDrip+, Juggluco, AndroidAPS and
//! LibreLinkUp bridges upload to the hub unchanged: `POST/GET /api/v1/entries`
//! (also `.json` and `/sgv.json`) and `GET /api/v1/status`. A client authenticates as
//! Nightscout clients do, with the `api-secret` header carrying the SHA-1 hex digest of
//! a secret; the hub gives each patient their own secret (`POST
//! /api/v1/patients/{patient}/upload-secret`), so the digest also says whose data it
//! is. The hub keeps only SHA-256 of that digest.
//!
//! Entries are parsed by `device_adapters::import::nightscout`; the readings are stored
//! idempotently (a re-sent entry is a duplicate, not a second reading). Entries that are
//! not glucose readings (Dexcom status codes, unknown types) are not stored; their count
//! is returned in `X-Pghd-Rejected` and `X-Pghd-Ignored`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{SecondsFormat, Utc};
use device_adapters::reading::{Measurement, Reading};
use ring::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY, SHA256};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{ApiError, ApiState, Query};
use crate::store::{latest_readings, PatientId};

/// Largest upload body (bytes): a day of one-minute readings with room to spare.
pub const MAX_UPLOAD_BYTES: usize = 1024 * 1024;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What Nightscout clients send for `secret`: its SHA-1, lowercase hex.
#[must_use]
pub fn api_secret_header(secret: &str) -> String {
    hex(digest(&SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes()).as_ref())
}

/// What the hub stores for an `api-secret` header value: SHA-256 of the lowercase value.
#[must_use]
pub fn stored_digest(header: &str) -> String {
    hex(digest(&SHA256, header.trim().to_ascii_lowercase().as_bytes()).as_ref())
}

/// The patient whose secret the request's `api-secret` header carries.
async fn uploader(state: &Arc<ApiState>, headers: &HeaderMap) -> Result<PatientId, ApiError> {
    let header = headers
        .get("api-secret")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() == 40)
        .ok_or_else(ApiError::unauthenticated)?;
    let digest = stored_digest(header);
    state
        .pool
        .run(move |store| {
            store
                .directory()
                .patient_for_upload_secret(&digest)?
                .ok_or_else(ApiError::unauthenticated)
        })
        .await
}

/// `POST /api/v1/entries`: stores the uploaded entries; answers with the entries taken.
pub(super) async fn upload(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    body: axum::body::Body,
) -> Result<Response, ApiError> {
    let patient = uploader(&state, &headers).await?;
    let body = axum::body::to_bytes(body, MAX_UPLOAD_BYTES)
        .await
        .map_err(|_| ApiError::body_too_large(MAX_UPLOAD_BYTES))?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("body is not UTF-8"))?;
    let report = device_adapters::import::nightscout::import(text, None)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let ignored: usize = report.ignored_by_kind.values().sum();
    // Instants before 2000 or more than a day ahead are clock errors (a device reset to
    // 1970), not readings.
    let earliest: chrono::DateTime<Utc> = super::EARLIEST.parse().unwrap_or_default();
    let latest = Utc::now() + chrono::Duration::days(1);
    let (readings, out_of_range): (Vec<Reading>, Vec<Reading>) = report
        .records
        .into_iter()
        .partition(|r| r.time >= earliest && r.time <= latest);
    let rejected = report.rejected.len() + out_of_range.len();
    if readings.is_empty() && rejected > 0 {
        let first = report.rejected.first().map_or_else(
            || format!("entry time outside {} to one day from now", super::EARLIEST),
            |r| r.reason.clone(),
        );
        return Err(ApiError::unprocessable(format!(
            "no entry could be stored ({rejected} rejected; first: {first})"
        )));
    }
    let taken: Vec<Value> = readings.iter().map(entry).collect();
    let analytics = state.analytics.clone();
    state
        .pool
        .run(move |store| {
            if !readings.is_empty() {
                let written = store.store_readings(&patient, &readings, Utc::now())?;
                if let Some(analytics) = analytics {
                    analytics.send(&patient, written.stored_of(&readings));
                }
            }
            Ok(())
        })
        .await?;
    let mut response = Json(taken).into_response();
    for (name, count) in [("x-pghd-rejected", rejected), ("x-pghd-ignored", ignored)] {
        if let Ok(value) = HeaderValue::from_str(&count.to_string()) {
            response.headers_mut().insert(name, value);
        }
    }
    Ok(response)
}

/// Query of `GET /api/v1/entries` (other Nightscout query parameters are ignored).
#[derive(Debug, Deserialize)]
pub struct EntriesParams {
    /// How many of the newest entries (default 10, at most 10000).
    count: Option<usize>,
}

/// `GET /api/v1/entries`: the newest CGM entries, newest first, in Nightscout's form.
pub(super) async fn entries(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
    Query(params): Query<EntriesParams>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let patient = uploader(&state, &headers).await?;
    let count = params.count.unwrap_or(10);
    if count == 0 || count > crate::store::MAX_PAGE {
        return Err(ApiError::bad_request("`count` must be 1 to 10000"));
    }
    // One more than asked: the oldest entry's delta needs its predecessor.
    let readings = state
        .pool
        .run(move |store| {
            Ok(latest_readings(
                store.sql(),
                &patient,
                "cgm_glucose",
                count + 1,
            )?)
        })
        .await?;
    Ok(Json(
        readings
            .iter()
            .enumerate()
            .take(count)
            .map(|(i, reading)| {
                let mut entry = entry(reading);
                if let Some(previous) = readings.get(i + 1) {
                    add_delta(&mut entry, reading, previous);
                }
                entry
            })
            .collect(),
    ))
}

/// Nightscout's `delta` (mg/dL since the previous reading) and `direction` (the arrow,
/// from the rate in mg/dL per minute with Nightscout's thresholds of 1, 2 and 3; `NONE`
/// across a gap of more than 15 minutes).
fn add_delta(entry: &mut Value, reading: &Reading, previous: &Reading) {
    let (Some(now), Some(before)) = (reading.glucose_mg_dl(), previous.glucose_mg_dl()) else {
        return;
    };
    let delta = now - before;
    entry["delta"] = json!((delta * 10.0).round() / 10.0);
    let minutes = (reading.time - previous.time).num_seconds() as f64 / 60.0;
    let arrow = if minutes > 0.0 && minutes <= 15.0 {
        match delta / minutes {
            r if r > 3.0 => "DoubleUp",
            r if r > 2.0 => "SingleUp",
            r if r > 1.0 => "FortyFiveUp",
            r if r >= -1.0 => "Flat",
            r if r >= -2.0 => "FortyFiveDown",
            r if r >= -3.0 => "SingleDown",
            _ => "DoubleDown",
        }
    } else {
        "NONE"
    };
    entry["direction"] = json!(arrow);
}

/// The status document Nightscout clients read.
#[derive(Debug, Serialize)]
pub struct Status {
    status: &'static str,
    name: &'static str,
    version: &'static str,
    #[serde(rename = "apiEnabled")]
    api_enabled: bool,
    #[serde(rename = "serverTime")]
    server_time: String,
    settings: Value,
}

/// `GET /api/v1/status`: what Nightscout clients check before they upload.
pub(super) async fn status(
    State(state): State<Arc<ApiState>>,
    headers: HeaderMap,
) -> Result<Json<Status>, ApiError> {
    uploader(&state, &headers).await?;
    Ok(Json(Status {
        status: "ok",
        name: "pghd-hub",
        version: env!("CARGO_PKG_VERSION"),
        api_enabled: true,
        server_time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        settings: json!({"units": "mg/dl"}),
    }))
}

/// A stored reading as a Nightscout entry (`sgv` or `mbg`, mg/dL).
fn entry(reading: &Reading) -> Value {
    let (kind, value) = match &reading.measurement {
        Measurement::CgmGlucose { glucose, .. } => ("sgv", glucose.value),
        Measurement::MeterGlucose { glucose } => ("mbg", glucose.value),
        _ => ("other", f64::NAN),
    };
    let mut entry = json!({
        "type": kind,
        // Nightscout stores whole mg/dL.
        kind: value.round() as i64,
        "date": reading.time.timestamp_millis(),
        "dateString": reading.time.to_rfc3339_opts(SecondsFormat::Millis, true),
        "device": reading.device.model.clone().or_else(|| reading.device.serial.clone()).unwrap_or_default(),
    });
    if let Some(offset) = reading.local_offset_min {
        entry["utcOffset"] = json!(offset);
    }
    entry
}

/// `POST /api/v1/patients/{patient}/upload-secret` answer: the new secret, shown once.
#[derive(Debug, Serialize)]
pub struct UploadSecret {
    /// The secret to enter in the uploader app (its "API secret").
    secret: String,
    /// What the app will send as `api-secret`: SHA-1 of the secret.
    api_secret_header: String,
}

/// Makes a new upload secret for the patient (replacing any older one).
pub(super) fn new_upload_secret(
    store: &mut dyn crate::store::ReadingStore,
    patient: &PatientId,
) -> Result<(StatusCode, Json<UploadSecret>), ApiError> {
    use base64::Engine as _;
    use ring::rand::SecureRandom as _;
    let mut bytes = [0_u8; 18];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::internal("no system randomness"))?;
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = api_secret_header(&secret);
    store
        .directory()
        .set_upload_secret(patient, &stored_digest(&header), Utc::now())?;
    Ok((
        StatusCode::CREATED,
        Json(UploadSecret {
            secret,
            api_secret_header: header,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_is_sha1_hex_and_the_stored_digest_ignores_case() {
        // SHA-1 of "abc" (FIPS 180-2 appendix A.1).
        assert_eq!(
            api_secret_header("abc"),
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            stored_digest("A9993E364706816ABA3E25717850C26C9CD0D89D"),
            stored_digest("a9993e364706816aba3e25717850c26c9cd0d89d")
        );
        assert_ne!(
            stored_digest("a9993e364706816aba3e25717850c26c9cd0d89d"),
            api_secret_header("abc")
        );
    }
}
