//! Authentication: passwords hashed with Argon2id (memory-hard, RFC 9106), sessions as
//! short-lived tokens signed with HMAC-SHA-256 (ring; verified in constant time), and a
//! login rate limit. Nothing here logs a password, a hash or a token.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Utc};
use ring::hmac;
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use crate::store::directory::Role;

/// How long a session token is valid (seconds).
pub const TOKEN_LIFETIME_S: i64 = 15 * 60;

/// Hashes a password as a PHC string (Argon2id, the crate's default cost: 19 MiB,
/// 2 passes, as OWASP's password storage guidance recommends as a minimum).
///
/// # Errors
/// Only if the hasher refuses its parameters.
pub fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut OsRng);
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

/// Whether `password` matches the PHC string `hash` (constant-time comparison inside).
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A hash to verify against when the login is unknown, so that an unknown login takes
/// as long as a wrong password (no account enumeration by timing).
#[must_use]
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password, never a real one").unwrap_or_default())
}

/// What a session token says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Account id.
    pub sub: String,
    /// The account's role.
    pub role: Role,
    /// Expiry, seconds since the Unix epoch (UTC).
    pub exp: i64,
}

/// The key that signs and checks session tokens.
pub struct TokenKey {
    key: hmac::Key,
}

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a token of this hub.
    #[error("malformed token")]
    Malformed,
    /// The signature does not match.
    #[error("bad token signature")]
    BadSignature,
    /// Past its expiry.
    #[error("token expired")]
    Expired,
}

impl TokenKey {
    /// A fresh random key (tokens die with the process: a restart logs everyone out).
    ///
    /// # Errors
    /// When the system's random source fails.
    pub fn generate() -> Result<Self, ring::error::Unspecified> {
        let mut bytes = [0_u8; 32];
        SystemRandom::new().fill(&mut bytes)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// A key from secret bytes (shared by several hub processes).
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, bytes),
        }
    }

    /// A token for `account` in `role`, valid [`TOKEN_LIFETIME_S`] from `now`.
    #[must_use]
    pub fn issue(&self, account: &str, role: Role, now: DateTime<Utc>) -> (String, DateTime<Utc>) {
        let expires = now + chrono::Duration::seconds(TOKEN_LIFETIME_S);
        let claims = Claims {
            sub: account.to_owned(),
            role,
            exp: expires.timestamp(),
        };
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap_or_default());
        let tag = hmac::sign(&self.key, body.as_bytes());
        (
            format!("v1.{body}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref())),
            expires,
        )
    }

    /// The claims of a valid, unexpired token.
    ///
    /// # Errors
    /// See [`TokenError`].
    pub fn check(&self, token: &str, now: DateTime<Utc>) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some("v1"), Some(body), Some(tag), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let tag = URL_SAFE_NO_PAD
            .decode(tag)
            .map_err(|_| TokenError::Malformed)?;
        hmac::verify(&self.key, body.as_bytes(), &tag).map_err(|_| TokenError::BadSignature)?;
        let claims: Claims = URL_SAFE_NO_PAD
            .decode(body)
            .ok()
            .and_then(|json| serde_json::from_slice(&json).ok())
            .ok_or(TokenError::Malformed)?;
        if now.timestamp() >= claims.exp {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// Failed logins allowed per login name within [`LOGIN_WINDOW`].
pub const MAX_FAILED_LOGINS: u32 = 5;
/// The window of the login rate limit.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);

/// Counts failed logins per login name; after [`MAX_FAILED_LOGINS`] in [`LOGIN_WINDOW`],
/// further attempts are refused until the window ends (even with the right password).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    failures: HashMap<String, (u32, Instant)>,
}

impl LoginLimiter {
    /// `Err(wait)` if `login` is locked out at `now`.
    ///
    /// # Errors
    /// The time until attempts are accepted again.
    pub fn admit(&mut self, login: &str, now: Instant) -> Result<(), Duration> {
        match self.failures.get(login) {
            Some(&(count, since)) if now.duration_since(since) < LOGIN_WINDOW => {
                if count >= MAX_FAILED_LOGINS {
                    Err(LOGIN_WINDOW - now.duration_since(since))
                } else {
                    Ok(())
                }
            }
            Some(_) => {
                self.failures.remove(login);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Records the outcome of an attempt.
    pub fn record(&mut self, login: &str, succeeded: bool, now: Instant) {
        if succeeded {
            self.failures.remove(login);
            return;
        }
        let entry = self.failures.entry(login.to_owned()).or_insert((0, now));
        if now.duration_since(entry.1) >= LOGIN_WINDOW {
            *entry = (0, now);
        }
        entry.0 += 1;
        // Bounded memory under a spray of made-up logins.
        if self.failures.len() > 100_000 {
            self.failures
                .retain(|_, (_, since)| now.duration_since(*since) < LOGIN_WINDOW);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_when_right() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct hors", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(hash, hash_password("correct horse").unwrap(), "salted");
    }

    #[test]
    fn tokens_expire_and_cannot_be_forged() {
        let key = TokenKey::generate().unwrap();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let (token, expires) = key.issue("pat-1", Role::Patient, now);
        assert_eq!((expires - now).num_seconds(), TOKEN_LIFETIME_S);
        let claims = key.check(&token, now).unwrap();
        assert_eq!((claims.sub.as_str(), claims.role), ("pat-1", Role::Patient));
        assert_eq!(key.check(&token, expires), Err(TokenError::Expired));
        // Another hub's key, a changed role, garbage.
        let other = TokenKey::generate().unwrap();
        assert_eq!(other.check(&token, now), Err(TokenError::BadSignature));
        let (doctor, _) = key.issue("pat-1", Role::Practitioner, now);
        let forged = format!(
            "{}.{}",
            doctor.rsplit_once('.').unwrap().0,
            token.rsplit_once('.').unwrap().1
        );
        assert_eq!(key.check(&forged, now), Err(TokenError::BadSignature));
        assert_eq!(key.check("v1.a", now), Err(TokenError::Malformed));
        assert_eq!(key.check("", now), Err(TokenError::Malformed));
    }

    #[test]
    fn logins_lock_after_repeated_failures_then_recover() {
        let mut limiter = LoginLimiter::default();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILED_LOGINS {
            assert!(limiter.admit("anna", t0).is_ok());
            limiter.record("anna", false, t0);
        }
        let wait = limiter
            .admit("anna", t0 + Duration::from_secs(60))
            .unwrap_err();
        assert_eq!(wait, LOGIN_WINDOW - Duration::from_secs(60));
        assert!(limiter.admit("other", t0).is_ok());
        assert!(limiter.admit("anna", t0 + LOGIN_WINDOW).is_ok());
    }
}
