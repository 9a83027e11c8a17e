//! The FSE 2.0 Gateway publication against an emulator of the Gateway's published
//! contract (`swagger_gtw.yaml`, integration guide v2.22), started by the test:
//!
//! - mutual TLS (a client certificate from the emulator's CA; none → 401);
//! - both JWTs (`Authorization: Bearer`, `FSE-JWT-Signature`): RS256 only, `x5c` whose
//!   first certificate chains to the CA and verifies the signature, `iss` =
//!   `auth:`/`integrity:` + the accredited Common Name, `aud` = the base URL, `exp` in
//!   the future, every mandatory claim of guide §15.1 present and well-formed (403);
//! - `multipart/form-data` with `requestBody` and `file` (else 415/400), the file a PDF
//!   (415) whose SHA-256 is `attachment_hash` (400 `/msg/document-hash`);
//! - the metadata's required fields and the document type's high-level class (§15.4:
//!   53576-5 → TAC);
//! - `bundleFhir.json` at `Root/Names/EmbeddedFiles/Names[1]/EF/F`, read with lopdf, a
//!   FHIR document whose Composition is of the type claimed and whose Patient has the
//!   codice fiscale of `person_id`;
//! - a document already published → 409; then 202 with a `workflowInstanceId`, and
//!   `GET /v1/status/{id}` with its events (404 for an unknown id).
//!
//! The emulator is independent of the hub's code: lopdf reads the PDF, multer the
//! multipart body, rustls-webpki checks certificates and signatures. Certificates come
//! from Debian's `openssl` (installed by `.ci/run`).

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use serde_json::{json, Value};

/// Runs `openssl` with `args` in `dir`, failing the test with its output if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian package openssl) must be installed");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A certificate `name`.pem / `name`.key with `cn`, issued by `ca` (or self-signed),
/// with the extensions `ext` (openssl extension syntax, one per line).
fn issue(dir: &Path, name: &str, cn: &str, ca: Option<&str>, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    let subject = format!("/CN={cn}");
    let (key, csr, pem, extfile) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    openssl(
        dir,
        &[
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &csr, "-subj",
            &subject,
        ],
    );
    let (signer_cert, signer_key) = ca.map_or_else(
        || (None, key.clone()),
        |ca| (Some(format!("{ca}.pem")), format!("{ca}.key")),
    );
    let mut args = vec![
        "x509", "-req", "-in", &csr, "-out", &pem, "-days", "2", "-extfile", &extfile,
    ];
    let serial = format!("{}", name.len() * 1000 + usize::from(name.as_bytes()[0]));
    args.extend(["-set_serial", &serial]);
    match &signer_cert {
        Some(cert) => args.extend(["-CA", cert, "-CAkey", &signer_key]),
        None => args.extend(["-key", &signer_key]),
    }
    openssl(dir, &args);
}

/// The test's PKI: a CA; the emulator's server certificate (127.0.0.1); the hub's
/// client certificate; the hub's JWT signing certificate (CN [`ACCREDITED_CN`]); and a
/// signing certificate from outside the CA.
fn make_pki(dir: &Path) {
    issue(
        dir,
        "ca",
        "Test FSE CA",
        None,
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n",
    );
    issue(
        dir,
        "server",
        "localhost",
        Some("ca"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    );
    issue(
        dir,
        "client",
        "pghd-hub test client",
        Some("ca"),
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    issue(
        dir,
        "signer",
        ACCREDITED_CN,
        Some("ca"),
        "keyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    issue(
        dir,
        "rogue",
        ACCREDITED_CN,
        None,
        "keyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n",
    );
}

/// The Common Name of the signing certificate the emulator accepts.
const ACCREDITED_CN: &str = "090201123456XX";

/// What the emulator keeps: published documents and their workflow events.
#[derive(Default)]
struct GatewayState {
    /// identificativoDoc → workflowInstanceId.
    documents: HashMap<String, String>,
    /// workflowInstanceId → events (StatusCheckDTO).
    events: HashMap<String, Vec<Value>>,
    /// The embedded FHIR documents published, in order.
    bundles: Vec<Value>,
    /// Answer the next publication with this status after storing it (a lost answer).
    lose_next_answer: Option<u16>,
    /// Every answer given: (status, problem type or "").
    answers: Vec<(u16, String)>,
}

/// The emulator: a TLS server on 127.0.0.1 answering the contract's two paths.
struct Gateway {
    base: String,
    state: Arc<Mutex<GatewayState>>,
}

impl Gateway {
    fn start(pki: &Path) -> Self {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let ca = CertificateDer::from_pem_file(pki.join("ca.pem")).unwrap();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        // A request without a certificate reaches the emulator, which answers 401 as
        // the Gateway's front end does; a certificate from elsewhere fails the handshake.
        .allow_unauthenticated()
        .build()
        .unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                vec![CertificateDer::from_pem_file(pki.join("server.pem")).unwrap()],
                PrivateKeyDer::from_pem_file(pki.join("server.key")).unwrap(),
            )
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!(
            "https://127.0.0.1:{}/v1",
            listener.local_addr().unwrap().port()
        );
        let state = Arc::new(Mutex::new(GatewayState::default()));
        let context = Arc::new(Context {
            base: base.clone(),
            ca: ca.clone().into_owned(),
            state: state.clone(),
        });
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (config, context) = (config.clone(), context.clone());
                std::thread::spawn(move || {
                    let Ok(connection) = rustls::ServerConnection::new(config) else {
                        return;
                    };
                    let mut tls = rustls::StreamOwned::new(connection, stream);
                    let _ = serve_one(&mut tls, &context);
                });
            }
        });
        Self { base, state }
    }
}

/// What a connection's handler needs.
struct Context {
    base: String,
    ca: CertificateDer<'static>,
    state: Arc<Mutex<GatewayState>>,
}

/// An HTTP request as read off the wire.
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (Content-Length bodies), answers it, closes.
fn serve_one(
    tls: &mut rustls::StreamOwned<rustls::ServerConnection, std::net::TcpStream>,
    context: &Context,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(&mut *tls);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, path) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or_default().to_owned(),
    );
    let mut headers = HashMap::new();
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    drop(reader);
    let client_certified = tls
        .conn
        .peer_certificates()
        .is_some_and(|certs| !certs.is_empty());
    let request = Request {
        method,
        path,
        headers,
        body,
    };
    let (status, answer) = match handle(&request, client_certified, context) {
        Ok((status, body)) => (status, body),
        Err(problem) => (problem.status, problem.body()),
    };
    context.state.lock().unwrap().answers.push((
        status,
        answer["type"].as_str().unwrap_or_default().to_owned(),
    ));
    let content_type = if status < 300 {
        "application/json"
    } else {
        "application/problem+json"
    };
    let text = answer.to_string();
    write!(
        tls,
        "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}",
        text.len()
    )?;
    tls.flush()?;
    tls.conn.send_close_notify();
    tls.flush()
}

/// A contract error (`ErrorResponseDTO`, guide §14).
#[derive(Debug)]
struct Problem {
    status: u16,
    kind: &'static str,
    title: &'static str,
    detail: String,
}

impl Problem {
    fn new(
        status: u16,
        kind: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            kind,
            title,
            detail: detail.into(),
        }
    }

    fn body(&self) -> Value {
        json!({
            "traceID": "emulator",
            "spanID": "emulator",
            "type": self.kind,
            "title": self.title,
            "detail": self.detail,
            "status": self.status,
        })
    }
}

fn jwt_invalid(detail: impl Into<String>) -> Problem {
    Problem::new(
        403,
        "/msg/jwt-validation",
        "Campo token JWT non valido.",
        detail,
    )
}

fn missing_token() -> Problem {
    Problem::new(
        403,
        "/msg/missing-token",
        "Token non fornito.",
        "Attenzione il jwt fornito risulta essere vuoto",
    )
}

fn claim_missing(claim: &str) -> Problem {
    Problem::new(
        403,
        "/msg/mandatory-element-token",
        "Token JWT non valido.",
        format!("claim {claim} missing"),
    )
}

fn mandatory(field: &str) -> Problem {
    Problem::new(
        400,
        "/msg/mandatory-element",
        "Campo obbligatorio non presente.",
        format!("Il campo {field} deve essere valorizzato"),
    )
}

/// Checks one JWT: RS256, `x5c` chaining to the CA and verifying the signature, `iss`
/// = `issuer_prefix` + the accredited CN, `aud`, `exp`; returns its claims.
fn verify_jwt(token: &str, issuer_prefix: &str, context: &Context) -> Result<Value, Problem> {
    let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err(jwt_invalid("not a compact JWS"));
    };
    let decode = |part: &str| -> Result<Value, Problem> {
        url.decode(part)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| jwt_invalid("undecodable JWT part"))
    };
    let (header_json, claims) = (decode(header)?, decode(payload)?);
    if header_json["alg"] != "RS256" {
        return Err(jwt_invalid(format!(
            "alg {} not allowed",
            header_json["alg"]
        )));
    }
    if header_json["typ"] != "JWT" {
        return Err(jwt_invalid("typ must be JWT"));
    }
    let chain: Vec<CertificateDer<'static>> = header_json["x5c"]
        .as_array()
        .ok_or_else(|| jwt_invalid("x5c missing"))?
        .iter()
        .filter_map(|c| c.as_str())
        .filter_map(|c| base64::engine::general_purpose::STANDARD.decode(c).ok())
        .map(CertificateDer::from)
        .collect();
    let leaf = chain.first().ok_or_else(|| jwt_invalid("x5c empty"))?;
    let end_entity =
        webpki::EndEntityCert::try_from(leaf).map_err(|e| jwt_invalid(format!("x5c: {e}")))?;
    let anchor = webpki::anchor_from_trusted_cert(&context.ca).unwrap();
    end_entity
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &[anchor],
            &chain[1..],
            UnixTime::now(),
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .map_err(|e| jwt_invalid(format!("x5c certificate not trusted: {e}")))?;
    let signature = url
        .decode(signature)
        .map_err(|_| jwt_invalid("undecodable signature"))?;
    end_entity
        .verify_signature(
            webpki::ring::RSA_PKCS1_2048_8192_SHA256,
            format!("{header}.{payload}").as_bytes(),
            &signature,
        )
        .map_err(|_| jwt_invalid("signature does not verify"))?;
    for claim in ["iss", "iat", "exp", "jti", "aud", "sub"] {
        if claims.get(claim).is_none() {
            return Err(claim_missing(claim));
        }
    }
    if claims["iss"] != format!("{issuer_prefix}{ACCREDITED_CN}") {
        return Err(jwt_invalid(format!("iss {} not accredited", claims["iss"])));
    }
    if claims["aud"] != context.base.as_str() {
        return Err(jwt_invalid(format!(
            "aud {} is not this Gateway",
            claims["aud"]
        )));
    }
    let now = Utc::now().timestamp();
    if claims["exp"].as_i64().is_none_or(|exp| exp <= now) {
        return Err(jwt_invalid("token expired"));
    }
    if claims["iat"].as_i64().is_none_or(|iat| iat > now + 60) {
        return Err(jwt_invalid("token issued in the future"));
    }
    Ok(claims)
}

/// The `Authorization: Bearer` token, checked.
fn bearer(request: &Request, context: &Context) -> Result<Value, Problem> {
    let token = request
        .headers
        .get("authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty())
        .ok_or_else(missing_token)?;
    verify_jwt(token, "auth:", context)
}

/// The codice fiscale of an HL7 v2 CX identifier with the codice fiscale's OID.
fn fiscal_code_of(cx: &str) -> Option<&str> {
    let cf = cx.strip_suffix("^^^&2.16.840.1.113883.2.9.4.3.2&ISO")?;
    (cf.len() == 16 && cf.chars().all(|c| c.is_ascii_alphanumeric())).then_some(cf)
}

/// The guide's §15.4.1 map (the part that concerns LOINC types used here).
fn high_level_class(document_type: &str) -> Option<&'static str> {
    match document_type {
        "53576-5" | "103140-0" => Some("TAC"),
        "11502-2" | "68604-8" | "11526-1" | "11488-4" => Some("REF"),
        "34105-7" | "18842-5" => Some("LDO"),
        "57833-6" | "57829-4" | "57832-8" => Some("PRS"),
        _ => None,
    }
}

/// The `FSE-JWT-Signature` token's custom claims (guide §15.1), checked.
fn signature_claims(request: &Request, context: &Context) -> Result<Value, Problem> {
    let token = request
        .headers
        .get("fse-jwt-signature")
        .filter(|t| !t.is_empty())
        .ok_or_else(missing_token)?;
    let claims = verify_jwt(token, "integrity:", context)?;
    for claim in [
        "subject_organization_id",
        "subject_organization",
        "locality",
        "subject_role",
        "person_id",
        "patient_consent",
        "purpose_of_use",
        "resource_hl7_type",
        "action_id",
        "attachment_hash",
        "subject_application_id",
        "subject_application_vendor",
        "subject_application_version",
    ] {
        if claims.get(claim).is_none_or(Value::is_null) {
            return Err(claim_missing(claim));
        }
    }
    let roles = [
        "AAS", "APR", "PSS", "INF", "FAR", "DSA", "DAM", "OAM", "ASS", "TUT", "ING", "GEN", "NOR",
        "DRS", "RSA", "MRP", "INI", "OGC", "OPI", "MDS", "GTW", "DAP",
    ];
    if !roles.contains(&claims["subject_role"].as_str().unwrap_or_default()) {
        return Err(jwt_invalid("subject_role not in the Ruolo table"));
    }
    if claims["action_id"] != "CREATE" || claims["purpose_of_use"] != "TREATMENT" {
        return Err(jwt_invalid(
            "a creation is action_id CREATE, purpose_of_use TREATMENT",
        ));
    }
    if !claims["patient_consent"].is_boolean() {
        return Err(jwt_invalid("patient_consent must be a boolean"));
    }
    let person = claims["person_id"].as_str().unwrap_or_default();
    if fiscal_code_of(person).is_none() {
        return Err(Problem::new(
            403,
            "/msg/jwt-validation",
            "Campo token JWT non valido.",
            "person_id is not a CX codice fiscale",
        ));
    }
    // XON: XON.1 name, XON.6.2 an OID, XON.6.3 ISO, XON.10 the structure's code.
    let xon: Vec<&str> = claims["locality"]
        .as_str()
        .unwrap_or_default()
        .split('^')
        .collect();
    let authority: Vec<&str> = xon.get(5).copied().unwrap_or_default().split('&').collect();
    if xon.len() != 10
        || xon[0].is_empty()
        || authority.len() != 3
        || !authority[1].split('.').all(|n| n.parse::<u64>().is_ok())
        || authority[2] != "ISO"
        || xon[9].is_empty()
    {
        return Err(jwt_invalid("locality is not an XON"));
    }
    let hash = claims["attachment_hash"].as_str().unwrap_or_default();
    if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(jwt_invalid("attachment_hash is not a SHA-256"));
    }
    Ok(claims)
}

/// The multipart parts by name (multer).
fn parts(request: &Request) -> Result<HashMap<String, Vec<u8>>, Problem> {
    let unsupported = || {
        Problem::new(
            415,
            "/msg/document-type",
            "Unsupported media type",
            "multipart/form-data expected",
        )
    };
    let content_type = request
        .headers
        .get("content-type")
        .ok_or_else(unsupported)?;
    let boundary = multer::parse_boundary(content_type).map_err(|_| unsupported())?;
    let body = bytes::Bytes::from(request.body.clone());
    let stream = futures_util::stream::once(async move { Ok::<_, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut parts = HashMap::new();
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| Problem::new(400, "/msg/syntax", "Errore di sintassi.", e.to_string()))?
        {
            let name = field.name().unwrap_or_default().to_owned();
            let data = field.bytes().await.map_err(|e| {
                Problem::new(400, "/msg/syntax", "Errore di sintassi.", e.to_string())
            })?;
            parts.insert(name, data.to_vec());
        }
        Ok(parts)
    })
}

/// `bundleFhir.json` where the guide says the Gateway looks for it:
/// `Root/Names/EmbeddedFiles/Names[1]/EF/F`, its name at `Names[0]`.
fn embedded_bundle(pdf: &[u8]) -> Result<Vec<u8>, String> {
    let document = lopdf::Document::load_mem(pdf).map_err(|e| format!("not a PDF: {e}"))?;
    let dict = |object: &lopdf::Object| -> Result<lopdf::Dictionary, String> {
        match object {
            lopdf::Object::Reference(id) => document
                .get_dictionary(*id)
                .cloned()
                .map_err(|e| e.to_string()),
            lopdf::Object::Dictionary(d) => Ok(d.clone()),
            other => Err(format!("not a dictionary: {other:?}")),
        }
    };
    let root = dict(document.trailer.get(b"Root").map_err(|e| e.to_string())?)?;
    let names = dict(root.get(b"Names").map_err(|e| e.to_string())?)?;
    let files = dict(names.get(b"EmbeddedFiles").map_err(|e| e.to_string())?)?;
    let list = files
        .get(b"Names")
        .and_then(lopdf::Object::as_array)
        .map_err(|e| e.to_string())?;
    let name = list
        .first()
        .and_then(|n| n.as_str().ok())
        .ok_or("no name at Names[0]")?;
    if !name.eq_ignore_ascii_case(b"bundleFhir.json") {
        return Err(format!(
            "the attachment is {:?}",
            String::from_utf8_lossy(name)
        ));
    }
    let spec = dict(list.get(1).ok_or("no file specification at Names[1]")?)?;
    let ef = dict(spec.get(b"EF").map_err(|e| e.to_string())?)?;
    let id = ef
        .get(b"F")
        .and_then(lopdf::Object::as_reference)
        .map_err(|e| e.to_string())?;
    let stream = document
        .get_object(id)
        .and_then(lopdf::Object::as_stream)
        .map_err(|e| e.to_string())?;
    stream
        .get_plain_content()
        .map_err(|e| format!("embedded file: {e}"))
}

/// Answers one request as the Gateway's contract says.
fn handle(
    request: &Request,
    client_certified: bool,
    context: &Context,
) -> Result<(u16, Value), Problem> {
    if !client_certified {
        return Err(Problem::new(
            401,
            "/msg/unauthorized",
            "Unauthorized",
            "client certificate required (mutual TLS)",
        ));
    }
    if request.method == "GET" {
        if let Some(id) = request.path.strip_prefix("/v1/status/") {
            bearer(request, context)?;
            let state = context.state.lock().unwrap();
            let events = state.events.get(id).ok_or_else(|| {
                Problem::new(
                    404,
                    "/msg/record-not-found",
                    "Record non trovato.",
                    format!("workflowInstanceId {id}"),
                )
            })?;
            return Ok((
                200,
                json!({"traceID": "emulator", "spanID": "emulator", "transactionData": events}),
            ));
        }
    }
    if request.method != "POST" || request.path != "/v1/fhir-documents" {
        return Err(Problem::new(
            404,
            "/msg/record-not-found",
            "Not found",
            request.path.clone(),
        ));
    }
    let authenticated = bearer(request, context)?;
    let claims = signature_claims(request, context)?;
    if authenticated["sub"] != claims["sub"] {
        return Err(jwt_invalid("the two tokens name different subjects"));
    }
    let mut parts = parts(request)?;
    let metadata = parts
        .remove("requestBody")
        .ok_or_else(|| mandatory("requestBody"))?;
    let file = parts.remove("file").ok_or_else(|| mandatory("file"))?;
    if file.is_empty() {
        return Err(Problem::new(
            400,
            "/msg/empty-file",
            "File vuoto.",
            "File vuoto",
        ));
    }
    if !file.starts_with(b"%PDF-") {
        return Err(Problem::new(
            415,
            "/msg/document-type",
            "Il documento non è pdf.",
            "Il documento non è pdf.",
        ));
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, &file);
    let hash: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    if claims["attachment_hash"] != hash.as_str() {
        return Err(Problem::new(
            400,
            "/msg/document-hash",
            "Verifica hash fallita.",
            "Verifica hash fallita.",
        ));
    }
    let metadata: Value = serde_json::from_slice(&metadata)
        .map_err(|e| Problem::new(400, "/msg/syntax", "Errore di sintassi.", e.to_string()))?;
    for field in [
        "assettoOrganizzativo",
        "identificativoDoc",
        "identificativoRep",
        "identificativoSottomissione",
        "tipoAttivitaClinica",
        "tipoDocumentoLivAlto",
        "tipologiaStruttura",
    ] {
        if metadata[field].as_str().is_none_or(str::is_empty) {
            return Err(mandatory(field));
        }
    }
    let document_type = claims["resource_hl7_type"]
        .as_str()
        .and_then(|t| t.strip_prefix("('"))
        .and_then(|t| t.strip_suffix("^^2.16.840.1.113883.6.1')"))
        .ok_or_else(|| jwt_invalid("resource_hl7_type is not ('code^^2.16.840.1.113883.6.1')"))?;
    if high_level_class(document_type) != metadata["tipoDocumentoLivAlto"].as_str() {
        return Err(Problem::new(
            400,
            "/msg/invalid-format",
            "Formato campo non valido.",
            "tipoDocumentoLivAlto does not match resource_hl7_type",
        ));
    }
    if ![
        "Ospedale",
        "Prevenzione",
        "Territorio",
        "SistemaTS",
        "Cittadino",
        "MdsPN_DGC",
    ]
    .contains(&metadata["tipologiaStruttura"].as_str().unwrap_or_default())
        || !["PHR", "CON", "DIS", "ERP", "Sistema_TS"]
            .contains(&metadata["tipoAttivitaClinica"].as_str().unwrap_or_default())
    {
        return Err(Problem::new(
            400,
            "/msg/invalid-format",
            "Formato campo non valido.",
            "enumeration",
        ));
    }
    let mapping = |detail: String| {
        Problem::new(
            400,
            "/msg/fhir-mapping-type",
            "Mapping fhir fallito.",
            detail,
        )
    };
    let bundle: Value = embedded_bundle(&file)
        .and_then(|json| serde_json::from_slice(&json).map_err(|e| e.to_string()))
        .map_err(mapping)?;
    let composition = &bundle["entry"][0]["resource"];
    if bundle["type"] != "document" || composition["resourceType"] != "Composition" {
        return Err(mapping("not a FHIR document".to_owned()));
    }
    if composition["type"]["coding"][0]["code"] != document_type {
        return Err(mapping(
            "the Composition's type is not resource_hl7_type".to_owned(),
        ));
    }
    let subject = composition["subject"]["reference"].clone();
    let person =
        fiscal_code_of(claims["person_id"].as_str().unwrap_or_default()).unwrap_or_default();
    let patient_has_cf = bundle["entry"].as_array().into_iter().flatten().any(|e| {
        e["fullUrl"] == subject
            && e["resource"]["identifier"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|i| i["system"] == "http://hl7.it/sid/codiceFiscale" && i["value"] == person)
    });
    if !patient_has_cf {
        return Err(mapping(
            "the document's patient is not person_id".to_owned(),
        ));
    }
    let document_id = metadata["identificativoDoc"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let mut state = context.state.lock().unwrap();
    if state.documents.contains_key(&document_id) {
        return Err(Problem::new(
            409,
            "/msg/conflict",
            "Conflict",
            format!("{document_id} already published"),
        ));
    }
    let workflow = format!(
        "2.16.840.1.113883.2.9.2.90.4.4.{}^^^^urn:ihe:iti:xdw:2013:workflowInstanceId",
        state.documents.len() + 1
    );
    state
        .documents
        .insert(document_id.clone(), workflow.clone());
    state.bundles.push(bundle);
    state.events.insert(
        workflow.clone(),
        vec![json!({
            "eventType": "PUBLICATION",
            "eventDate": Utc::now().to_rfc3339(),
            "eventStatus": "SUCCESS",
            "identificativoDocumento": document_id,
            "subject": claims["sub"],
            "subjectRole": claims["subject_role"],
            "tipoAttivita": metadata["tipoAttivitaClinica"],
            "organizzazione": claims["subject_organization_id"],
            "workflowInstanceId": workflow,
            "issuer": claims["iss"],
        })],
    );
    if let Some(status) = state.lose_next_answer.take() {
        return Err(Problem::new(
            status,
            "/msg/generic-timeout",
            "Generic timeout.",
            "the answer was lost",
        ));
    }
    Ok((
        202,
        json!({"traceID": "emulator", "spanID": "emulator", "workflowInstanceId": workflow}),
    ))
}

/// The hub's Gateway configuration for the test PKI.
fn gateway_config(pki: &Path) -> pghd_hub::fse_gateway::GatewayConfig {
    serde_json::from_value(json!({
        "signing_key_file": pki.join("signer.key"),
        "signing_cert_file": pki.join("signer.pem"),
        "subject_organization_id": "090",
        "subject_organization": "Regione Toscana",
        "locality": "PGHD HUB^^^^^&2.16.840.1.113883.2.9.4.1.3&ISO^^^^090101123456",
        "document_oid": "2.16.840.1.113883.2.9.2.90.4.4",
        "repository_id": "2.16.840.1.113883.2.9.2.90.4.5.1",
    }))
    .unwrap()
}

/// POSTs a publication as the hub would, but with the given tokens and body, through
/// `agent`; the answer's status and problem type.
fn post(
    agent: &ureq::Agent,
    base: &str,
    tokens: (&str, &str),
    content_type: &str,
    body: &[u8],
) -> (u16, String) {
    let mut response = agent
        .post(&format!("{base}/fhir-documents"))
        .header("Authorization", &format!("Bearer {}", tokens.0))
        .header("FSE-JWT-Signature", tokens.1)
        .header("Content-Type", content_type)
        .send(body)
        .unwrap();
    let status = response.status().as_u16();
    let answer: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    (
        status,
        answer["type"].as_str().unwrap_or_default().to_owned(),
    )
}

#[test]
fn a_fortnight_is_published_once_to_the_gateway_and_the_contract_s_errors_are_answered() {
    use pghd_hub::delivery::{
        deliver_round, enqueue_window, tls_agent, ClientTls, Destination, DestinationAuth,
        DestinationKind, Protocol,
    };
    use pghd_hub::fse_gateway::{multipart, sha256_hex, Publication, Signer};
    use pghd_hub::store::outbox::OutboxStatus;
    use pghd_hub::store::ReadingStore;

    let dir = std::env::temp_dir().join(format!("pghd-fse-gateway-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    make_pki(&dir);
    let gateway = Gateway::start(&dir);

    // A patient with 14 days of CGM, in two 7-day periods.
    let start = DateTime::parse_from_rfc3339("2026-10-01T00:00:00Z")
        .unwrap()
        .to_utc();
    let readings = crate::fhir_export::simulated_fortnight(start);
    let (mut store, patient) = crate::fhir_export::hub_with_patient(&dir, &readings, start);
    let tls = ClientTls {
        cert_file: dir.join("client.pem"),
        key_file: dir.join("client.key"),
        ca_file: Some(dir.join("ca.pem")),
    };
    let destinations = vec![Destination {
        name: "fse-gateway".into(),
        kind: DestinationKind::Fse,
        base_url: gateway.base.clone(),
        auth: DestinationAuth::None,
        protocol: Protocol::FseGateway(Box::new(gateway_config(&dir))),
        tls: Some(tls.clone()),
    }];
    let mut client = pghd_hub::delivery::Client::new(&destinations).unwrap();
    let mut jitter = || 0.5;
    let now = Utc::now();
    let week = chrono::Duration::days(7);
    let enqueue = |store: &mut dyn ReadingStore, window, with_summary| {
        enqueue_window(
            store,
            &destinations,
            &patient,
            window,
            with_summary,
            None,
            now,
        )
        .unwrap()
    };

    // A readings-only window is not a report: withheld for the Gateway, with the reason.
    let report = enqueue(&mut store, (start, start + week), false);
    assert!(report.queued.is_empty());
    assert!(
        report.withheld[0].1.contains("period reports"),
        "{:?}",
        report.withheld
    );

    // 1. The first week's report: accepted (202), the workflowInstanceId kept.
    let report = enqueue(&mut store, (start, start + week), true);
    assert_eq!(report.queued.len(), 1);
    let round = deliver_round(&mut store, &destinations, &mut client, now, &mut jitter).unwrap();
    assert_eq!(
        (round.sent, round.retried, round.failed),
        (1, 0, 0),
        "{:?}",
        store.outbox().for_patient(&patient)
    );
    let items = store.outbox().for_patient(&patient).unwrap();
    let first = &items[0];
    let workflow = first.receipt.clone().expect("workflowInstanceId kept");
    assert!(
        workflow.ends_with("^^^^urn:ihe:iti:xdw:2013:workflowInstanceId"),
        "{workflow}"
    );

    // The embedded document carries the engine's figures.
    let tz = chrono_tz::Europe::Rome;
    let week_readings: Vec<_> = readings
        .iter()
        .filter(|r| r.time < start + week)
        .cloned()
        .collect();
    let engine = pghd_hub::report::summarize_readings(&week_readings, tz).unwrap();
    let published = gateway.state.lock().unwrap().bundles[0].clone();
    let mean = published["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["code"]["coding"][0]["code"] == "97507-8")
        .expect("mean glucose in the document");
    assert_eq!(
        mean["valueQuantity"]["value"].as_f64(),
        Some(engine.statistics.mean)
    );

    // Status polling: the publication's events; an unknown id is 404.
    let agent = tls_agent(&tls).unwrap();
    let signer = Signer::load(&gateway_config(&dir)).unwrap();
    let config = gateway_config(&dir);
    let publication: Publication = serde_json::from_str(&first.body).unwrap();
    // The PDF is the AGP report, in Italian, with the engine's mean glucose on page 1.
    let report = lopdf::Document::load_mem(publication.pdf.as_bytes()).unwrap();
    let page_one = report.extract_text(&[1]).unwrap();
    assert!(
        page_one.contains("Profilo glicemico ambulatoriale"),
        "{page_one}"
    );
    assert!(
        page_one.contains(&format!("{:.0} mg/dL", engine.statistics.mean)),
        "{page_one}"
    );
    let hash = sha256_hex(publication.pdf.as_bytes());
    let (bearer, _) = signer
        .publication_tokens(
            &config,
            &gateway.base,
            "RSSMRA85T10A562S",
            &hash,
            Utc::now(),
        )
        .unwrap();
    let status = |id: &str| {
        let mut response = agent
            .get(&format!("{}/status/{id}", gateway.base))
            .header("Authorization", &format!("Bearer {bearer}"))
            .call()
            .unwrap();
        (
            response.status().as_u16(),
            response
                .body_mut()
                .read_json::<Value>()
                .unwrap_or(Value::Null),
        )
    };
    let (code, events) = status(&workflow);
    assert_eq!(code, 200);
    assert_eq!(events["transactionData"][0]["eventType"], "PUBLICATION");
    assert_eq!(events["transactionData"][0]["eventStatus"], "SUCCESS");
    assert_eq!(events["transactionData"][0]["tipoAttivita"], "PHR");
    assert_eq!(
        events["transactionData"][0]["issuer"],
        format!("integrity:{ACCREDITED_CN}")
    );
    assert_eq!(status("2.16.840.1.113883.2.9.2.90.4.4.999").0, 404);

    // 2. The second week's report: the Gateway stores it but the answer is lost (504);
    // the retry is told 409 (already there) and the item counts as delivered, once.
    gateway.state.lock().unwrap().lose_next_answer = Some(504);
    enqueue(&mut store, (start + week, start + week + week), true);
    let round = deliver_round(&mut store, &destinations, &mut client, now, &mut jitter).unwrap();
    assert_eq!((round.sent, round.retried), (0, 1));
    // The retry is due ~22 s later; the Gateway's clock is the real one (tokens are
    // signed with the round's `now`, and one from the future is refused).
    let later = now + chrono::Duration::seconds(40);
    let round = deliver_round(&mut store, &destinations, &mut client, later, &mut jitter).unwrap();
    assert_eq!((round.sent, round.retried, round.failed), (1, 0, 0));
    let items = store.outbox().for_patient(&patient).unwrap();
    assert!(items.iter().all(|i| i.status == OutboxStatus::Sent));
    assert!(items.iter().any(|i| i
        .receipt
        .as_deref()
        .is_some_and(|r| r.starts_with("already published"))));
    assert_eq!(
        gateway.state.lock().unwrap().bundles.len(),
        2,
        "each report once"
    );
    // Enqueueing the same report again queues nothing new.
    let again = enqueue(&mut store, (start, start + week), true);
    assert!(!again.queued[0].new);

    // 3. The contract's errors, each on an otherwise valid request.
    let (content_type, body) = multipart(&publication);
    let fresh = |pdf: &str, at: DateTime<Utc>, signer: &Signer| {
        signer
            .publication_tokens(
                &config,
                &gateway.base,
                "RSSMRA85T10A562S",
                &sha256_hex(pdf.as_bytes()),
                at,
            )
            .unwrap()
    };
    // A valid request for a document already there: 409.
    let (b, s) = fresh(&publication.pdf, Utc::now(), &signer);
    assert_eq!(
        post(&agent, &gateway.base, (&b, &s), &content_type, &body),
        (409, "/msg/conflict".into())
    );
    // Wrong hash: the tokens are for another file.
    let (b, s) = fresh("another file", Utc::now(), &signer);
    assert_eq!(
        post(&agent, &gateway.base, (&b, &s), &content_type, &body),
        (400, "/msg/document-hash".into())
    );
    // Expired tokens (signed an hour ago, valid five minutes).
    let (b, s) = fresh(
        &publication.pdf,
        Utc::now() - chrono::Duration::hours(1),
        &signer,
    );
    assert_eq!(
        post(&agent, &gateway.base, (&b, &s), &content_type, &body),
        (403, "/msg/jwt-validation".into())
    );
    // Unsigned tokens (alg none, no signature).
    let (b, s) = fresh(&publication.pdf, Utc::now(), &signer);
    let unsign = |token: &str| {
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let payload = token.split('.').nth(1).unwrap();
        format!("{}.{payload}.", url.encode(r#"{"alg":"none","typ":"JWT"}"#))
    };
    assert_eq!(
        post(
            &agent,
            &gateway.base,
            (&unsign(&b), &unsign(&s)),
            &content_type,
            &body
        ),
        (403, "/msg/jwt-validation".into())
    );
    // Signed with a certificate the Gateway's CA did not issue (same Common Name).
    let mut rogue_config = gateway_config(&dir);
    rogue_config.signing_key_file = dir.join("rogue.key");
    rogue_config.signing_cert_file = dir.join("rogue.pem");
    let rogue = Signer::load(&rogue_config).unwrap();
    let (b, s) = fresh(&publication.pdf, Utc::now(), &rogue);
    assert_eq!(
        post(&agent, &gateway.base, (&b, &s), &content_type, &body),
        (403, "/msg/jwt-validation".into())
    );
    // No FSE-JWT-Signature.
    let (b, _) = fresh(&publication.pdf, Utc::now(), &signer);
    assert_eq!(
        post(&agent, &gateway.base, (&b, ""), &content_type, &body),
        (403, "/msg/missing-token".into())
    );
    // Not multipart.
    let (b, s) = fresh(&publication.pdf, Utc::now(), &signer);
    assert_eq!(
        post(
            &agent,
            &gateway.base,
            (&b, &s),
            "application/pdf",
            publication.pdf.as_bytes()
        ),
        (415, "/msg/document-type".into())
    );
    // No client certificate: the front end's 401.
    let anonymous = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .root_certs(ureq::tls::RootCerts::new_with_certs(&[
                    ureq::tls::Certificate::from_pem(&std::fs::read(dir.join("ca.pem")).unwrap())
                        .unwrap(),
                ]))
                .build(),
        )
        .build()
        .new_agent();
    assert_eq!(
        post(&anonymous, &gateway.base, (&b, &s), &content_type, &body),
        (401, "/msg/unauthorized".into())
    );
    // Through all this, still exactly the two documents.
    assert_eq!(gateway.state.lock().unwrap().bundles.len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}
