//! Publication to the FSE 2.0 Gateway (`POST /v1/fhir-documents`, the public contract
//! `swagger_gtw.yaml` of the Ministry of Health's `it-fse-support`, and its integration
//! guide "Interfacce REST Gateway" v2.22): the patient's report as a PDF with the FHIR
//! document embedded as `bundleFhir.json`, the taccuino metadata, and the two RS256 JWTs
//! with `x5c`.
//!
//! - What is sent ([`Publication`], built when queued, stored in the outbox): the
//!   metadata (`requestBody`, `PublicationCreationReqDTO`: `tipologiaStruttura`
//!   Cittadino, `tipoAttivitaClinica` PHR, `tipoDocumentoLivAlto` TAC,
//!   `administrativeRequest` AUTO, `mode` ATTACHMENT) and the PDF ([`crate::pdf`]),
//!   deterministic so that a retry sends the same bytes and the same
//!   `identificativoDoc`.
//! - How (at send time): `multipart/form-data` with the parts `requestBody` (JSON) and
//!   `file` (the PDF); `Authorization: Bearer` the authentication JWT and
//!   `FSE-JWT-Signature` the one with the custom claims (guide §15.1), both RS256 and
//!   carrying the signing certificate in `x5c`, `attachment_hash` = SHA-256 (hex) of the
//!   PDF. Mutual TLS is the destination's `tls` (see `crate::delivery`).
//! - Who speaks: the hub publishes into the citizen's own taccuino on their behalf, so
//!   `sub` and `person_id` are the patient's codice fiscale (CX,
//!   `^^^&2.16.840.1.113883.2.9.4.3.2&ISO`), `subject_role` ASS (assistito),
//!   `purpose_of_use` TREATMENT, `action_id` CREATE, `patient_consent` true (the hub
//!   sends nothing for a patient who opposes; see `crate::delivery::permission`).
//! - Exactly once: `identificativoDoc` is derived from the outbox key; the Gateway
//!   answers 409 for a document it already has, which therefore counts as delivered.

use std::path::PathBuf;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde::{Deserialize, Serialize};

/// OID of the codice fiscale in HL7 v2 CX identifiers (Affinity Domain Italia).
pub const FISCAL_CODE_OID: &str = "2.16.840.1.113883.2.9.4.3.2";

/// LOINC's OID, for `resource_hl7_type`.
pub const LOINC_OID: &str = "2.16.840.1.113883.6.1";

/// The embedded FHIR document's file name, which the Gateway looks for.
pub const BUNDLE_FILE_NAME: &str = "bundleFhir.json";

/// The Gateway's publication path (under the base URL, which ends in `/v1`).
pub const PUBLICATION_PATH: &str = "/fhir-documents";

/// Configuration of a Gateway destination (the `fse_gateway` protocol of a
/// destination in `--fhir-destinations`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// RSA private key signing the JWTs (PEM, PKCS#8 or PKCS#1), readable only by the hub.
    pub signing_key_file: PathBuf,
    /// Its certificate, then any intermediates (PEM); sent in `x5c`, and whose Common
    /// Name makes `iss` (`auth:CN`, `integrity:CN`).
    pub signing_cert_file: PathBuf,
    /// `subject_organization_id`: the region's code (guide table 48, e.g. `090` Toscana).
    pub subject_organization_id: String,
    /// `subject_organization`: the region's name (e.g. `Regione Toscana`).
    pub subject_organization: String,
    /// `locality`: the accredited structure, HL7 v2 XON (e.g.
    /// `PGHD HUB^^^^^&2.16.840.1.113883.2.9.4.1.3&ISO^^^^090101123456`).
    pub locality: String,
    /// Root OID of the document and submission ids the hub assigns
    /// (`identificativoDoc` = `OID^id`).
    pub document_oid: String,
    /// `identificativoRep`: the repository the documents belong to.
    pub repository_id: String,
    /// `assettoOrganizzativo` (guide table 49); default `AD_PSC999` ("Altro"): data the
    /// citizen collected belong to no ward.
    #[serde(default = "default_assetto")]
    pub assetto_organizzativo: String,
    /// `subject_application_id`.
    #[serde(default = "default_application_id")]
    pub application_id: String,
    /// `subject_application_vendor`.
    #[serde(default = "default_application_vendor")]
    pub application_vendor: String,
    /// Lifetime of each JWT, seconds (default 300).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_s: i64,
}

fn default_assetto() -> String {
    "AD_PSC999".to_owned()
}
fn default_application_id() -> String {
    "pghd-hub".to_owned()
}
fn default_application_vendor() -> String {
    "pghd-hub project".to_owned()
}
fn default_token_lifetime() -> i64 {
    300
}

/// What is published: the metadata and the PDF. Stored as the outbox item's body (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Publication {
    /// The `requestBody` part (`PublicationCreationReqDTO`).
    pub metadata: serde_json::Value,
    /// The `file` part: the PDF, with the document embedded.
    pub pdf: String,
}

/// The metadata of a taccuino report (`PublicationCreationReqDTO`): `document_id` and
/// `submission_id` are local ids made unique under the configured root OID; the
/// period's dates are `yyyyMMddHHmmss` UTC, as the Gateway's other date fields.
#[must_use]
pub fn metadata(
    config: &GatewayConfig,
    document_id: &str,
    submission_id: &str,
    (from, to): (DateTime<Utc>, DateTime<Utc>),
) -> serde_json::Value {
    serde_json::json!({
        "tipologiaStruttura": "Cittadino",
        "tipoDocumentoLivAlto": "TAC",
        "tipoAttivitaClinica": "PHR",
        "assettoOrganizzativo": config.assetto_organizzativo,
        "identificativoDoc": format!("{}^{document_id}", config.document_oid),
        "identificativoSottomissione": format!("{}^{submission_id}", config.document_oid),
        "identificativoRep": config.repository_id,
        "dataInizioPrestazione": from.format("%Y%m%d%H%M%S").to_string(),
        "dataFinePrestazione": to.format("%Y%m%d%H%M%S").to_string(),
        "administrativeRequest": ["AUTO"],
        "mode": "ATTACHMENT",
    })
}

/// The FHIR document as the PDF attachment the Gateway looks for ([`BUNDLE_FILE_NAME`]).
#[must_use]
pub fn document_attachment(document_json: &str) -> crate::pdf::Attachment<'_> {
    crate::pdf::Attachment {
        name: BUNDLE_FILE_NAME,
        mime: "application/fhir+json",
        description: "FHIR document (Bundle) of this report",
        content: document_json,
    }
}

/// The `multipart/form-data` request (RFC 7578) of a publication: its Content-Type
/// (with the boundary) and body. The boundary is derived from the content and checked
/// not to occur in it.
#[must_use]
pub fn multipart(publication: &Publication) -> (String, Vec<u8>) {
    let metadata = publication.metadata.to_string();
    let mut salt = 0_u32;
    let boundary = loop {
        let candidate = format!(
            "pghd-{}",
            crate::fhir::digest_id(&[&metadata, &publication.pdf, &salt.to_string()])
        );
        if !publication.pdf.contains(&candidate) && !metadata.contains(&candidate) {
            break candidate;
        }
        salt += 1;
    };
    let mut body = Vec::with_capacity(publication.pdf.len() + metadata.len() + 512);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"requestBody\"\r\n\
             Content-Type: application/json\r\n\r\n{metadata}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"report.pdf\"\r\n\
             Content-Type: application/pdf\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(publication.pdf.as_bytes());
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A patient's codice fiscale as an HL7 v2 CX identifier, as the JWTs carry it.
#[must_use]
pub fn fiscal_code_cx(fiscal_code: &str) -> String {
    format!("{fiscal_code}^^^&{FISCAL_CODE_OID}&ISO")
}

/// SHA-256 of `bytes`, lower-case hex (`attachment_hash`).
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    crate::fhir::hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

/// The hub's signing identity for one Gateway: the RSA key, the certificate chain (DER)
/// and the leaf's Common Name.
pub struct Signer {
    key: RsaKeyPair,
    chain: Vec<Vec<u8>>,
    common_name: String,
    rng: ring::rand::SystemRandom,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("Signer")
            .field("common_name", &self.common_name)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Loads the key and certificates named by `config`.
    ///
    /// # Errors
    /// A message naming the file and what is wrong with it (never the key itself).
    pub fn load(config: &GatewayConfig) -> Result<Self, String> {
        let read = |path: &PathBuf| {
            std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
        };
        let key_pem = read(&config.signing_key_file)?;
        let key = ureq::tls::parse_pem(&key_pem)
            .find_map(|item| match item {
                Ok(ureq::tls::PemItem::PrivateKey(key)) => Some(key),
                _ => None,
            })
            .ok_or_else(|| format!("{}: no private key", config.signing_key_file.display()))?;
        // PKCS#8, else PKCS#1 (ureq does not export the kind it read).
        let key = RsaKeyPair::from_pkcs8(key.der())
            .or_else(|_| RsaKeyPair::from_der(key.der()))
            .map_err(|e| {
                format!(
                    "{}: not a usable RSA key (2048 bits or more): {e}",
                    config.signing_key_file.display()
                )
            })?;
        let cert_pem = read(&config.signing_cert_file)?;
        let chain: Vec<Vec<u8>> = ureq::tls::parse_pem(&cert_pem)
            .filter_map(|item| match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => Some(cert.der().to_vec()),
                _ => None,
            })
            .collect();
        let common_name = chain
            .first()
            .and_then(|leaf| subject_common_name(leaf))
            .ok_or_else(|| {
                format!(
                    "{}: no certificate with a subject Common Name",
                    config.signing_cert_file.display()
                )
            })?;
        Ok(Self {
            key,
            chain,
            common_name,
            rng: ring::rand::SystemRandom::new(),
        })
    }

    /// The signing certificate's Common Name.
    #[must_use]
    pub fn common_name(&self) -> &str {
        &self.common_name
    }

    /// A compact JWT of `claims`, RS256, with the chain in `x5c` (standard base64 DER,
    /// RFC 7515 §4.1.6).
    ///
    /// # Errors
    /// When the key cannot sign (never for a key that loaded).
    pub fn sign(&self, claims: &serde_json::Value) -> Result<String, String> {
        let b64 = base64::engine::general_purpose::STANDARD;
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = serde_json::json!({
            "alg": "RS256",
            "typ": "JWT",
            "x5c": self.chain.iter().map(|der| b64.encode(der)).collect::<Vec<_>>(),
        });
        let input = format!(
            "{}.{}",
            url.encode(header.to_string()),
            url.encode(claims.to_string())
        );
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &self.rng,
                input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| "the JWT signing key could not sign".to_owned())?;
        Ok(format!("{input}.{}", url.encode(signature)))
    }

    /// A fresh JWT id (128 random bits, hex).
    fn jti(&self) -> String {
        let mut bytes = [0_u8; 16];
        let _ = ring::rand::SecureRandom::fill(&self.rng, &mut bytes);
        crate::fhir::hex(&bytes)
    }

    /// The two tokens of a publication (guide §15.1): the authentication token
    /// (`Authorization: Bearer`) and the `FSE-JWT-Signature` with the custom claims,
    /// for the patient with `fiscal_code`, over a file whose SHA-256 is
    /// `attachment_hash`; `audience` is the Gateway's base URL.
    ///
    /// # Errors
    /// When signing fails.
    pub fn publication_tokens(
        &self,
        config: &GatewayConfig,
        audience: &str,
        fiscal_code: &str,
        attachment_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, String), String> {
        let iat = now.timestamp();
        let exp = iat + config.token_lifetime_s.max(1);
        let subject = fiscal_code_cx(fiscal_code);
        let bearer = serde_json::json!({
            "iss": format!("auth:{}", self.common_name),
            "sub": subject,
            "aud": audience,
            "iat": iat,
            "exp": exp,
            "jti": self.jti(),
        });
        let signature = serde_json::json!({
            "iss": format!("integrity:{}", self.common_name),
            "sub": subject,
            "aud": audience,
            "iat": iat,
            "exp": exp,
            "jti": self.jti(),
            "subject_organization_id": config.subject_organization_id,
            "subject_organization": config.subject_organization,
            "locality": config.locality,
            "subject_role": "ASS",
            "person_id": subject,
            "patient_consent": true,
            "purpose_of_use": "TREATMENT",
            "resource_hl7_type": format!("('{}^^{LOINC_OID}')", crate::fhir::REPORT_TYPE_CODE),
            "action_id": "CREATE",
            "attachment_hash": attachment_hash,
            "subject_application_id": config.application_id,
            "subject_application_vendor": config.application_vendor,
            "subject_application_version": env!("CARGO_PKG_VERSION"),
        });
        Ok((self.sign(&bearer)?, self.sign(&signature)?))
    }
}

/// One DER element: (tag, content, what follows), or `None` if malformed.
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0_usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// The subject Common Name (OID 2.5.4.3) of an X.509 certificate (RFC 5280 §4.1),
/// read from its DER: Certificate → tbsCertificate → [version], serial, signature,
/// issuer, validity, subject.
#[must_use]
pub fn subject_common_name(certificate: &[u8]) -> Option<String> {
    const SEQUENCE: u8 = 0x30;
    const COMMON_NAME: [u8; 3] = [0x55, 0x04, 0x03];
    let (SEQUENCE, certificate, _) = der_element(certificate)? else {
        return None;
    };
    let (SEQUENCE, mut tbs, _) = der_element(certificate)? else {
        return None;
    };
    if tbs.first() == Some(&0xa0) {
        tbs = der_element(tbs)?.2;
    }
    // serial, signature algorithm, issuer, validity; then the subject.
    for _ in 0..4 {
        tbs = der_element(tbs)?.2;
    }
    let (SEQUENCE, mut names, _) = der_element(tbs)? else {
        return None;
    };
    let mut found = None;
    while !names.is_empty() {
        let (_, set, rest) = der_element(names)?;
        names = rest;
        let (_, attribute, _) = der_element(set)?;
        let (_, oid, value) = der_element(attribute)?;
        if oid == COMMON_NAME {
            let (_, text, _) = der_element(value)?;
            found = Some(String::from_utf8_lossy(text).into_owned());
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> GatewayConfig {
        serde_json::from_value(serde_json::json!({
            "signing_key_file": "/nonexistent/key.pem",
            "signing_cert_file": "/nonexistent/cert.pem",
            "subject_organization_id": "090",
            "subject_organization": "Regione Toscana",
            "locality": "PGHD HUB^^^^^&2.16.840.1.113883.2.9.4.1.3&ISO^^^^090101123456",
            "document_oid": "2.16.840.1.113883.2.9.2.90.4.4",
            "repository_id": "2.16.840.1.113883.2.9.2.90.4.5.1",
        }))
        .unwrap()
    }

    #[test]
    fn the_metadata_are_the_taccuino_s() {
        let from = DateTime::parse_from_rfc3339("2026-11-01T23:00:00Z")
            .unwrap()
            .to_utc();
        let to = DateTime::parse_from_rfc3339("2026-11-15T23:00:00Z")
            .unwrap()
            .to_utc();
        let m = metadata(&config(), "doc1", "sub1", (from, to));
        assert_eq!(m["tipologiaStruttura"], "Cittadino");
        assert_eq!(m["tipoAttivitaClinica"], "PHR");
        assert_eq!(m["tipoDocumentoLivAlto"], "TAC");
        assert_eq!(m["assettoOrganizzativo"], "AD_PSC999");
        assert_eq!(
            m["identificativoDoc"],
            "2.16.840.1.113883.2.9.2.90.4.4^doc1"
        );
        assert_eq!(m["dataInizioPrestazione"], "20261101230000");
        assert_eq!(m["administrativeRequest"], serde_json::json!(["AUTO"]));
    }

    #[test]
    fn the_multipart_body_has_both_parts_and_a_boundary_found_nowhere_else() {
        let publication = Publication {
            metadata: serde_json::json!({"identificativoDoc": "x"}),
            pdf: "%PDF-1.7\nbody\n%%EOF\n".to_owned(),
        };
        let (content_type, body) = multipart(&publication);
        let boundary = content_type
            .strip_prefix("multipart/form-data; boundary=")
            .unwrap();
        let body = String::from_utf8(body).unwrap();
        assert_eq!(body.matches(boundary).count(), 3);
        assert!(body.contains(
            "name=\"requestBody\"\r\nContent-Type: application/json\r\n\r\n{\"identificativoDoc\":\"x\"}\r\n"
        ));
        assert!(body.contains(
            "filename=\"report.pdf\"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.7\nbody\n%%EOF\n\r\n"
        ));
        assert!(body.ends_with(&format!("--{boundary}--\r\n")));
        assert_eq!(multipart(&publication).1, body.as_bytes(), "deterministic");
    }

    #[test]
    fn the_common_name_is_read_from_the_subject_not_the_issuer() {
        // A minimal DER skeleton: tbsCertificate with version, serial, algorithm,
        // issuer CN=Issuer CA, validity, subject CN=pghd-hub signer.
        fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
            let mut out = vec![tag];
            if content.len() < 0x80 {
                out.push(u8::try_from(content.len()).unwrap());
            } else {
                out.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]);
            }
            out.extend_from_slice(content);
            out
        }
        let name = |cn: &str| {
            let attribute = [tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, cn.as_bytes())].concat();
            let country = [tlv(0x06, &[0x55, 0x04, 0x06]), tlv(0x13, b"IT")].concat();
            tlv(
                0x30,
                &[
                    tlv(0x31, &tlv(0x30, &country)),
                    tlv(0x31, &tlv(0x30, &attribute)),
                ]
                .concat(),
            )
        };
        let tbs = tlv(
            0x30,
            &[
                tlv(0xa0, &tlv(0x02, &[2])),
                tlv(0x02, &[1]),
                tlv(0x30, &tlv(0x06, &[0x2a, 0x86, 0x48])),
                name("Issuer CA"),
                tlv(0x30, &[]),
                name("pghd-hub signer"),
                tlv(0x30, &[0; 200]),
            ]
            .concat(),
        );
        let certificate = tlv(0x30, &[tbs, tlv(0x30, &[]), tlv(0x03, &[0])].concat());
        assert_eq!(
            subject_common_name(&certificate).as_deref(),
            Some("pghd-hub signer")
        );
        assert_eq!(subject_common_name(&certificate[..20]), None);
        assert_eq!(subject_common_name(&[]), None);
    }
}
