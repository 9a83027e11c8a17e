//! SMART Backend Services authorisation (HL7 SMART App Launch 2.x, "Backend Services"):
//! the hub proves who it is to a destination's token endpoint with a short-lived JWT
//! signed by its own private key (`private_key_jwt`, RFC 7523), asks for a
//! `client_credentials` access token, and sends it as `Authorization: Bearer` with each
//! submission. Signed with ring, ES384 (ECDSA P-384 with SHA-384), one of the two
//! algorithms the specification requires servers to accept.
//!
//! The assertion and the token answer are pure functions of their inputs (time and the
//! random `jti` are arguments); [`TokenCache`] does the HTTP and keeps the token until a
//! minute before it expires.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P384_SHA384_FIXED_SIGNING};
use serde::{Deserialize, Serialize};

/// Lifetime of a client assertion (the specification allows at most five minutes).
pub const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);

/// Why a token could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SmartError {
    /// The key file is unreadable or not a PKCS#8 P-384 key.
    #[error("SMART key: {0}")]
    Key(String),
    /// Signing failed.
    #[error("SMART assertion could not be signed")]
    Sign,
    /// The token endpoint did not answer, or refused.
    #[error("SMART token endpoint: {0}")]
    Token(String),
}

/// The hub's signing key for one destination: ECDSA P-384, PKCS#8 (PEM or DER).
pub struct ClientKey {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key itself.
        f.write_str("ClientKey(P-384)")
    }
}

impl ClientKey {
    /// A key from PKCS#8 bytes, PEM (`-----BEGIN PRIVATE KEY-----`) or DER.
    ///
    /// # Errors
    /// [`SmartError::Key`] naming what is wrong (never the key's content).
    pub fn from_pkcs8(bytes: &[u8]) -> Result<Self, SmartError> {
        let der = match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN") => {
                let body: String = text
                    .lines()
                    .filter(|l| !l.starts_with("-----"))
                    .collect::<Vec<_>>()
                    .concat();
                base64::engine::general_purpose::STANDARD
                    .decode(body.trim())
                    .map_err(|_| SmartError::Key("PEM body is not base64".into()))?
            }
            _ => bytes.to_vec(),
        };
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &der, &rng)
            .map_err(|e| SmartError::Key(format!("not a PKCS#8 ECDSA P-384 key ({e})")))?;
        Ok(Self { pair, rng })
    }

    /// The public key as a JWK (`kty` EC, `crv` P-384), to register with the
    /// destination (its JWKS).
    #[must_use]
    pub fn public_jwk(&self, kid: &str) -> serde_json::Value {
        // Uncompressed point: 0x04 || x (48 bytes) || y (48 bytes).
        let point = self.pair.public_key().as_ref();
        serde_json::json!({
            "kty": "EC",
            "crv": "P-384",
            "kid": kid,
            "alg": "ES384",
            "use": "sig",
            "key_ops": ["verify"],
            "x": URL_SAFE_NO_PAD.encode(&point[1..49]),
            "y": URL_SAFE_NO_PAD.encode(&point[49..97]),
        })
    }

    /// The client assertion: a JWT with `iss` = `sub` = `client_id`, `aud` = the token
    /// endpoint, `exp` = `now` + [`ASSERTION_LIFETIME`], `jti` = `jti`, header `kid`.
    ///
    /// # Errors
    /// [`SmartError::Sign`].
    pub fn assertion(
        &self,
        client_id: &str,
        token_url: &str,
        kid: &str,
        jti: &str,
        now: DateTime<Utc>,
    ) -> Result<String, SmartError> {
        let header = serde_json::json!({"alg": "ES384", "typ": "JWT", "kid": kid});
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "exp": now.timestamp() + i64::try_from(ASSERTION_LIFETIME.as_secs()).unwrap_or(300),
            "jti": jti,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| SmartError::Sign)?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }
}

/// A token endpoint's answer (RFC 6749 §5.1).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
pub struct TokenAnswer {
    /// The bearer token.
    pub access_token: String,
    /// `bearer`.
    pub token_type: String,
    /// Lifetime, seconds.
    pub expires_in: Option<u64>,
}

/// The form body of a `client_credentials` token request with a JWT assertion.
#[must_use]
pub fn token_request_body(scope: &str, assertion: &str) -> String {
    fn encode(text: &str) -> String {
        text.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    char::from(b).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect()
    }
    format!(
        "grant_type=client_credentials&scope={}&client_assertion_type={}&client_assertion={}",
        encode(scope),
        encode("urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        encode(assertion)
    )
}

/// A destination's SMART settings and the token it currently holds.
#[derive(Debug)]
pub struct TokenCache {
    key: ClientKey,
    client_id: String,
    token_url: String,
    kid: String,
    scope: String,
    token: Option<(String, DateTime<Utc>)>,
}

impl TokenCache {
    /// A cache for `client_id` at `token_url`, signing with `key` under `kid`, asking
    /// for `scope`.
    #[must_use]
    pub fn new(key: ClientKey, client_id: &str, token_url: &str, kid: &str, scope: &str) -> Self {
        Self {
            key,
            client_id: client_id.to_owned(),
            token_url: token_url.to_owned(),
            kid: kid.to_owned(),
            scope: scope.to_owned(),
            token: None,
        }
    }

    /// A valid bearer token: the cached one until a minute before it expires, else a
    /// new one from the token endpoint.
    ///
    /// # Errors
    /// [`SmartError`] when signing fails or the endpoint refuses or does not answer.
    pub fn bearer(
        &mut self,
        agent: &ureq::Agent,
        now: DateTime<Utc>,
    ) -> Result<String, SmartError> {
        if let Some((token, until)) = &self.token {
            if now + chrono::Duration::seconds(60) < *until {
                return Ok(token.clone());
            }
        }
        let mut jti = [0_u8; 16];
        ring::rand::SecureRandom::fill(&self.key.rng, &mut jti).map_err(|_| SmartError::Sign)?;
        let assertion = self.key.assertion(
            &self.client_id,
            &self.token_url,
            &self.kid,
            &URL_SAFE_NO_PAD.encode(jti),
            now,
        )?;
        let mut response = agent
            .post(&self.token_url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("Accept", "application/json")
            .send(token_request_body(&self.scope, &assertion).as_bytes())
            .map_err(|e| SmartError::Token(format!("no answer: {e}")))?;
        let status = response.status().as_u16();
        let body = response
            .body_mut()
            .with_config()
            .limit(64 * 1024)
            .read_to_string()
            .unwrap_or_default();
        if !(200..300).contains(&status) {
            let reason: String = body.chars().take(300).collect();
            return Err(SmartError::Token(format!(
                "HTTP {status}: {}",
                reason.trim()
            )));
        }
        let answer: TokenAnswer = serde_json::from_str(&body)
            .map_err(|e| SmartError::Token(format!("unreadable answer: {e}")))?;
        let lifetime = answer.expires_in.unwrap_or(300).min(24 * 3600);
        let until = now + chrono::Duration::seconds(i64::try_from(lifetime).unwrap_or(300));
        self.token = Some((answer.access_token.clone(), until));
        Ok(answer.access_token)
    }
}

#[cfg(test)]
mod tests {
    use ring::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED};

    use super::*;

    fn key() -> (ClientKey, Vec<u8>) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng).unwrap();
        let der = pkcs8.as_ref().to_vec();
        (ClientKey::from_pkcs8(&der).unwrap(), der)
    }

    #[test]
    fn the_assertion_verifies_with_the_public_jwk_and_carries_the_claims() {
        let (key, der) = key();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let jwt = key
            .assertion("pghd-hub", "https://fse.example/token", "k1", "abc", now)
            .unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let header: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "ES384", "typ": "JWT", "kid": "k1"})
        );
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
        assert_eq!(claims["iss"], "pghd-hub");
        assert_eq!(claims["sub"], "pghd-hub");
        assert_eq!(claims["aud"], "https://fse.example/token");
        assert_eq!(claims["exp"], 1_800_000_300);
        assert_eq!(claims["jti"], "abc");
        // Verify with the key rebuilt from the JWK alone, as a server would.
        let jwk = key.public_jwk("k1");
        let mut point = vec![4_u8];
        point.extend(URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap());
        point.extend(URL_SAFE_NO_PAD.decode(jwk["y"].as_str().unwrap()).unwrap());
        let signature = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &point)
            .verify(input.as_bytes(), &signature)
            .unwrap();
        // A PEM of the same key loads too; a wrong key is refused without its content.
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&der)
        );
        assert!(ClientKey::from_pkcs8(pem.as_bytes()).is_ok());
        let err = ClientKey::from_pkcs8(b"not a key").unwrap_err().to_string();
        assert!(err.contains("not a PKCS#8 ECDSA P-384 key"), "{err}");
    }

    #[test]
    fn the_token_request_is_form_encoded() {
        assert_eq!(
            token_request_body("system/Observation.write", "a.b_c-d"),
            "grant_type=client_credentials&scope=system%2FObservation.write&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b_c-d"
        );
    }
}
