//! Pairing with the hub (the bridge's side of `POST /api/v1/gateways/pair`,
//! docs/mqtt.md): the bridge presents the patient's code with its gateway id and
//! Ed25519 public key; the hub answers with the topic to publish on.

use serde::Deserialize;

use crate::envelope::GatewayKey;

/// What the hub answered.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Paired {
    /// The gateway id.
    pub gateway: String,
    /// Where to publish readings.
    pub topic: String,
}

/// Why pairing failed.
#[derive(Debug, thiserror::Error)]
pub enum PairError {
    /// The hub could not be reached.
    #[error("hub unreachable: {0}")]
    Unreachable(String),
    /// The hub refused (its problem document's detail, or the status).
    #[error("the hub refused the pairing ({status}): {detail}")]
    Refused {
        /// HTTP status.
        status: u16,
        /// Why, as the hub said.
        detail: String,
    },
}

/// Pairs gateway `gateway` (signing with `key`) with the patient who got `code`, at the
/// hub whose base URL is `hub` (e.g. `https://hub.example`).
///
/// # Errors
/// [`PairError`].
pub fn pair(hub: &str, code: &str, gateway: &str, key: &GatewayKey) -> Result<Paired, PairError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(std::time::Duration::from_secs(30)))
        .build()
        .into();
    let public_key: String = key
        .public_key()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let mut response = agent
        .post(format!(
            "{}/api/v1/gateways/pair",
            hub.trim_end_matches('/')
        ))
        .send_json(serde_json::json!({"code": code, "gateway": gateway, "public_key": public_key}))
        .map_err(|e| PairError::Unreachable(e.to_string()))?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.body_mut().read_json().unwrap_or_default();
    if status == 201 {
        serde_json::from_value(body).map_err(|e| PairError::Unreachable(e.to_string()))
    } else {
        Err(PairError::Refused {
            status,
            detail: body["detail"].as_str().unwrap_or("no detail").to_owned(),
        })
    }
}
