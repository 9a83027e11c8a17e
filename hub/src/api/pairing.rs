//! Pairing a gateway (the bridge on a phone or home gateway) with a patient: the patient
//! asks for a short code (`POST /api/v1/patients/{patient}/pairing-codes`, valid
//! [`CODE_LIFETIME_MIN`] minutes, single use); the bridge presents it with its id and
//! Ed25519 public key (`POST /api/v1/gateways/pair`, no session: the code is the
//! credential); the hub binds gateway → patient, and the MQTT ingest verifies that
//! gateway's readings with that key from then on (docs/mqtt.md). Codes are stored as
//! SHA-256 digests. Failed redemptions count against the gateway id like failed logins.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Duration, Utc};
use ring::digest::{digest, SHA256};
use ring::rand::SecureRandom as _;
use serde::{Deserialize, Serialize};

use super::{on_record, ApiError, ApiState, Body, Caller, Path};
use crate::access::Action;
use crate::store::directory::{Gateway, GatewayCredential, GatewayKind, PairingRefusal};
use crate::store::PatientId;

/// How long a pairing code is valid (minutes).
pub const CODE_LIFETIME_MIN: i64 = 10;

/// The code alphabet: Crockford's base 32 (no I, L, O, U: nothing to misread).
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A code as people see it: `XXXX-XXXX` (40 bits).
fn new_code() -> Result<String, ApiError> {
    let mut bytes = [0_u8; 8];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| ApiError::internal("no system randomness"))?;
    let chars: String = bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b % 32)]))
        .collect();
    Ok(format!("{}-{}", &chars[..4], &chars[4..]))
}

/// The stored digest of a code as typed: case, spaces and dashes do not matter.
fn code_digest(code: &str) -> String {
    let normalised: String = code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect();
    digest(&SHA256, normalised.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new pairing code.
#[derive(Debug, Serialize)]
pub struct PairingCode {
    /// The code to type into the bridge.
    pub code: String,
    /// Valid until (UTC).
    pub expires_at: DateTime<Utc>,
}

/// `POST /api/v1/patients/{patient}/pairing-codes` (the patient only).
pub(super) async fn new_pairing_code(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
) -> Result<(StatusCode, Json<PairingCode>), ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ManageDevices,
        "POST pairing-codes",
        move |store, _, account| {
            let code = new_code()?;
            let expires_at = Utc::now() + Duration::minutes(CODE_LIFETIME_MIN);
            store.directory().create_pairing_code(
                &PatientId(account.id),
                &code_digest(&code),
                expires_at,
            )?;
            Ok((StatusCode::CREATED, Json(PairingCode { code, expires_at })))
        },
    )
    .await
}

/// `GET /api/v1/patients/{patient}/gateways`.
pub(super) async fn gateways(
    State(state): State<Arc<ApiState>>,
    caller: Caller,
    Path(patient): Path<String>,
) -> Result<Json<Vec<Gateway>>, ApiError> {
    on_record(
        &state,
        caller,
        patient,
        Action::ReadData,
        "GET gateways",
        move |store, _, account| Ok(Json(store.directory().gateways_of(&PatientId(account.id))?)),
    )
    .await
}

/// What a gateway sends to pair: a pghd bridge its public key; a Theengs Gateway (no
/// key) the Bluetooth addresses of the patient's devices it may forward.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PairRequest {
    /// The code the patient got.
    code: String,
    /// The gateway's id: 1 to 64 of `A-Z a-z 0-9 . _ -` (it is an MQTT topic segment;
    /// a Theengs Gateway's is its name in `home/{name}/BTtoMQTT`).
    gateway: String,
    /// A bridge's Ed25519 public key, 64 hex digits.
    #[serde(default)]
    public_key: Option<String>,
    /// A Theengs Gateway's devices: 1 to 16 Bluetooth addresses (`AA:BB:CC:DD:EE:FF`).
    #[serde(default)]
    theengs_devices: Option<Vec<String>>,
}

/// Most devices one Theengs pairing binds.
pub const MAX_THEENGS_DEVICES: usize = 16;

impl PairRequest {
    /// The credential presented, or why it is not one.
    fn credential(&self) -> Result<GatewayCredential, ApiError> {
        match (&self.public_key, &self.theengs_devices) {
            (Some(key), None) => match crate::ingest::decode_hex(key) {
                Some(bytes) if bytes.len() == 32 => Ok(GatewayCredential::Signed {
                    public_key_hex: key.to_ascii_lowercase(),
                }),
                _ => Err(ApiError::bad_request("`public_key` must be 64 hex digits")),
            },
            (None, Some(devices)) if (1..=MAX_THEENGS_DEVICES).contains(&devices.len()) => {
                let mut normalised = devices
                    .iter()
                    .map(|d| device_adapters::theengs::normalise_address(d))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        ApiError::bad_request(
                            "`theengs_devices` must be Bluetooth addresses (AA:BB:CC:DD:EE:FF)",
                        )
                    })?;
                normalised.sort();
                normalised.dedup();
                Ok(GatewayCredential::Theengs {
                    devices: normalised,
                })
            }
            _ => Err(ApiError::bad_request(
                "give either `public_key` (a pghd bridge) or `theengs_devices` (1 to 16 addresses, a Theengs Gateway)",
            )),
        }
    }
}

/// The answer to a pairing.
#[derive(Debug, Serialize)]
pub struct Paired {
    /// The gateway id.
    pub gateway: String,
    /// Where it publishes readings.
    pub topic: String,
}

/// `POST /api/v1/gateways/pair`.
pub(super) async fn pair(
    State(state): State<Arc<ApiState>>,
    Body(request): Body<PairRequest>,
) -> Result<(StatusCode, Json<Paired>), ApiError> {
    let valid_id = (1..=64).contains(&request.gateway.len())
        && request
            .gateway
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !valid_id {
        return Err(ApiError::bad_request(
            "`gateway` must be 1 to 64 of A-Z a-z 0-9 . _ -",
        ));
    }
    let credential = request.credential()?;
    if request.code.len() > 32 {
        return Err(ApiError::bad_request("`code` must be a pairing code"));
    }
    let started = std::time::Instant::now();
    let limit_key = format!("pairing:{}", request.gateway);
    if let Err(wait) = state
        .limiter
        .lock()
        .map_err(|_| ApiError::internal("limiter poisoned"))?
        .admit(&limit_key, started)
    {
        return Err(ApiError::too_many_requests(wait));
    }
    let gateway = request.gateway.clone();
    let digest = code_digest(&request.code);
    let outcome = state
        .pool
        .run(move |store| {
            Ok(store
                .directory()
                .redeem_pairing_code(&digest, &gateway, &credential, Utc::now())?)
        })
        .await?;
    state
        .limiter
        .lock()
        .map_err(|_| ApiError::internal("limiter poisoned"))?
        .record(&limit_key, outcome.is_ok(), started);
    match outcome {
        Ok(gateway) => Ok((
            StatusCode::CREATED,
            Json(Paired {
                topic: match gateway.kind {
                    GatewayKind::Signed => firmware_bridge::envelope::readings_topic(&gateway.id),
                    GatewayKind::Theengs => {
                        device_adapters::theengs::gateway_topic_filter(&gateway.id)
                    }
                },
                gateway: gateway.id,
            }),
        )),
        Err(PairingRefusal::BadCode) => Err(ApiError::invalid_credentials()),
        Err(PairingRefusal::GatewayTaken) => Err(ApiError::conflict(
            "this gateway id is paired already, with another patient, key or kind",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_readable_and_typing_variants_match() {
        let code = new_code().unwrap();
        assert_eq!(code.len(), 9);
        assert!(code
            .chars()
            .all(|c| c == '-' || ALPHABET.contains(&(c as u8))));
        assert_eq!(
            code_digest(&code),
            code_digest(&code.to_lowercase().replace('-', " "))
        );
        assert_ne!(code_digest("AAAA-AAAA"), code_digest("AAAA-AAAB"));
    }
}
