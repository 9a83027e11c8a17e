//! The web app in a real browser: Debian's headless Chromium driven through
//! chromedriver's W3C WebDriver API, against `serve --demo`. The patient logs in and
//! sees the glucose chart and the metrics (equal to the API's for the same window) and
//! the AGP report; the doctor sees the consenting patient and opens the report; the
//! patient revokes consent; the doctor logs in again and the patient is gone; the
//! patient's access log shows the doctor's reads; the delegate acts for the patient;
//! the language switch turns the app English. Every main page passes axe-core's WCAG 2.1
//! A/AA rules (labels, contrast, roles; axe-core from npm via
//! `scripts/install-test-tools.sh`). Screenshots of the main pages go to
//! `target/test-artefacts/web/`.
//!
//! Needs `chromium` and `chromium-driver` (installed by `.ci/run`); without them the
//! test says so and does nothing, unless `PGHD_REQUIRE_CHROMIUM=1` (set by `.ci/run`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

use crate::fhir_export::free_port;
use crate::serve_demo::{start_demo_hub, Hub};

/// The W3C WebDriver element key.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
    agent: ureq::Agent,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self
            .agent
            .delete(&format!("{}/session/{}", self.base, self.session))
            .call();
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium (flags as this machine needs: no
    /// sandbox as root, no background networking on a closed network).
    fn start() -> Option<Self> {
        let (chromium, driver) = (
            Path::new("/usr/bin/chromium"),
            Path::new("/usr/bin/chromedriver"),
        );
        if !(chromium.is_file() && driver.is_file()) {
            assert!(
                std::env::var("PGHD_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
                "PGHD_REQUIRE_CHROMIUM=1 but chromium or chromedriver is missing (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: chromium and chromium-driver are not installed");
            return None;
        }
        let port = free_port();
        let driver = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while agent.get(&format!("{base}/status")).call().is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "chromedriver did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile =
            std::env::temp_dir().join(format!("pghd-chromium-{}-{port}", std::process::id()));
        let capabilities = json!({"capabilities": {"alwaysMatch": {"goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                     "--window-size=1280,1800", format!("--user-data-dir={}", profile.display())]
        }}}});
        let mut reply = agent
            .post(&format!("{base}/session"))
            .send_json(&capabilities)
            .unwrap();
        let answer: Value = reply.body_mut().read_json().unwrap();
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {answer}"))
            .to_owned();
        Some(Self {
            driver,
            base,
            session,
            agent,
            profile,
        })
    }

    fn command(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut reply = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            ("DELETE", _) => self.agent.delete(&url).call(),
            (_, body) => self.agent.post(&url).send_json(body.unwrap_or(json!({}))),
        }
        .unwrap();
        let answer: Value = reply.body_mut().read_json().unwrap();
        answer["value"].clone()
    }

    fn go(&self, url: &str) {
        self.command("POST", "/url", Some(json!({ "url": url })));
    }

    /// The element matching `css`, waiting up to 20 s for it to appear.
    fn find(&self, css: &str) -> String {
        self.find_within(css, Duration::from_secs(20))
            .unwrap_or_else(|found| {
                panic!("no element {css}: {found}; page: {}", self.text_of("body"))
            })
    }

    /// The element matching `css`, waiting up to `patience` for it to appear; the
    /// driver's last answer if it does not.
    fn find_within(&self, css: &str, patience: Duration) -> Result<String, Value> {
        let started = Instant::now();
        loop {
            let found = self.command(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            );
            if let Some(id) = found[ELEMENT].as_str() {
                return Ok(id.to_owned());
            }
            if started.elapsed() >= patience {
                return Err(found);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn text(&self, element: &str) -> String {
        self.command("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn text_of(&self, css: &str) -> String {
        let found = self.command(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        found[ELEMENT]
            .as_str()
            .map(|id| self.text(id))
            .unwrap_or_default()
    }

    fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.command("GET", &format!("/element/{element}/attribute/{name}"), None)
            .as_str()
            .map(str::to_owned)
    }

    fn click(&self, css: &str) {
        let element = self.find(css);
        self.command("POST", &format!("/element/{element}/click"), None);
    }

    fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.command("POST", &format!("/element/{element}/clear"), None);
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        );
    }

    /// Waits until `css`'s text satisfies `ok`; returns the text.
    fn wait_text(&self, css: &str, ok: impl Fn(&str) -> bool) -> String {
        let started = Instant::now();
        loop {
            let text = self.text_of(css);
            if ok(&text) {
                return text;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "{css} never matched; last text {text:?}; page: {}",
                self.text_of("body")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn screenshot(&self, name: &str) {
        let data = self.command("GET", "/screenshot", None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/test-artefacts/web");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// The WCAG 2.1 A/AA violations axe-core finds on the current page (`axe` is its
    /// source), as "rule: nodes, help" lines.
    fn accessibility_violations(&self, axe: &str) -> Vec<String> {
        self.command(
            "POST",
            "/execute/sync",
            Some(json!({"script": axe, "args": []})),
        );
        let found = self.command(
            "POST",
            "/execute/async",
            Some(json!({"script": "const done = arguments[arguments.length - 1];
                axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
                  .then(r => done(r.violations.map(v => `${v.id}: ${v.nodes.length} × ${v.help} (${v.nodes[0].target})`)))
                  .catch(e => done([`axe failed: ${e}`]));", "args": []})),
        );
        found
            .as_array()
            .unwrap_or_else(|| panic!("axe: {found}"))
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect()
    }

    /// Logs in as `login` through the form. Going to the login route may render the
    /// form again after the fields were found (seen once on a loaded machine: the
    /// credentials went into the old form, the click into the new, empty one), so a
    /// login that shows no session within 10 s is typed again, up to three times.
    fn log_in(&self, hub: &Hub, login: &str) {
        let password = &hub.passwords.iter().find(|(l, _)| l == login).unwrap().1;
        self.go(&format!("{}/#/login", hub.base));
        for _ in 0..3 {
            self.type_into("#login", login);
            self.type_into("#password", password);
            self.click("#login-submit");
            if self.find_within("#logout", Duration::from_secs(10)).is_ok() {
                return;
            }
        }
        self.find("#logout");
    }

    fn log_out(&self) {
        self.click("#logout");
        self.find("#login-form");
    }
}

/// axe-core's source, from `scripts/install-test-tools.sh` (npm), or `None` (after saying
/// why) when it is not installed and not required.
fn axe_source() -> Option<String> {
    let path = std::env::var_os("PGHD_TEST_TOOLS").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/tools/node"),
        |bin| PathBuf::from(bin).join("../../node"),
    );
    let file = path.join("node_modules/axe-core/axe.min.js");
    match std::fs::read_to_string(&file) {
        Ok(source) => Some(source),
        Err(error) => {
            assert!(
                std::env::var("PGHD_REQUIRE_TEST_TOOLS").as_deref() != Ok("1"),
                "PGHD_REQUIRE_TEST_TOOLS=1 but {} cannot be read: {error}",
                file.display()
            );
            eprintln!("accessibility checks skipped: run scripts/install-test-tools.sh");
            None
        }
    }
}

#[test]
fn patient_doctor_and_delegate_use_the_web_app_and_consent_rules_what_the_doctor_sees() {
    let hub = start_demo_hub("web");
    let Some(browser) = Browser::start() else {
        return;
    };
    // Served with a strict CSP (no inline script).
    let reply = ureq::get(&format!("{}/", hub.base)).call().unwrap();
    let csp = reply
        .headers()
        .get("content-security-policy")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );

    let axe = axe_source();
    let accessible = |page: &str| {
        if let Some(axe) = &axe {
            let violations = browser.accessibility_violations(axe);
            assert!(violations.is_empty(), "{page}: {violations:#?}");
        }
    };
    browser.go(&format!("{}/#/login", hub.base));
    browser.find("#login-form");
    accessible("login");

    // 1. The patient: the chart and the metrics, equal to the API's for the same window.
    browser.log_in(&hub, "paziente");
    let chart = browser.find("#glucose-chart");
    let plotted: usize = browser
        .attribute(&chart, "data-readings")
        .unwrap()
        .parse()
        .unwrap();
    assert!(plotted > 1000, "{plotted} readings plotted");
    let shown_mean = browser.wait_text("[data-testid=metric-mean]", |t| t.ends_with("mg/dL"));
    let taccuino = browser.find("#taccuino");
    let (from, to) = (
        browser.attribute(&taccuino, "data-from").unwrap(),
        browser.attribute(&taccuino, "data-to").unwrap(),
    );
    let token = hub.login("paziente");
    let (status, summary) = hub.get(
        &format!("/api/v1/patients/demo-patient/glucometrics?from={from}&to={to}"),
        &token,
    );
    assert_eq!(status, 200);
    assert_eq!(
        shown_mean,
        format!(
            "{:.0} mg/dL",
            summary["statistics"]["mean"].as_f64().unwrap()
        )
    );
    let shown_tir = browser.text_of("[data-testid=metric-tir]");
    assert_eq!(
        shown_tir,
        format!(
            "{:.0} %",
            summary["time_in_ranges"]["in_range_70_180"]["percent"]
                .as_f64()
                .unwrap()
        )
    );
    browser.screenshot("patient-taccuino");
    accessible("taccuino");
    browser.click("#nav-report");
    browser.wait_text("#report [data-metric=mean_glucose]", |t| {
        t.ends_with("mg/dL")
    });
    browser.screenshot("patient-agp-report");
    accessible("report");

    // 2. The doctor sees the consenting patient and opens their report.
    browser.log_out();
    browser.log_in(&hub, "medico");
    browser.wait_text("#patients", |t| t.contains("Maria Rossi"));
    browser.screenshot("doctor-patients");
    accessible("doctor's patients");
    browser.click("[data-patient=demo-patient] a");
    browser.wait_text("#report [data-metric=tir_in_range]", |t| t.ends_with('%'));
    browser.screenshot("doctor-agp-report");

    // 3. The patient revokes consent, with the statement of what it means on the page.
    browser.log_out();
    browser.log_in(&hub, "paziente");
    browser.click("#nav-consent");
    let statement = browser.wait_text("#consultation-help", |t| !t.is_empty());
    assert!(statement.contains("non vedono più"), "{statement}");
    let checkbox = browser.find("#consultation");
    assert_eq!(
        browser.attribute(&checkbox, "checked").as_deref(),
        Some("true")
    );
    browser.click("#consultation");
    browser.click("#consent-save");
    browser.wait_text("#consent-result", |t| t == "Salvato");
    browser.screenshot("patient-consent-revoked");
    accessible("consent");

    // 4. The doctor: the patient is gone at once.
    browser.log_out();
    browser.log_in(&hub, "medico");
    browser.find("#no-patients");
    browser.screenshot("doctor-patient-gone");

    // 5. The patient's access log shows the doctor's reads.
    browser.log_out();
    browser.log_in(&hub, "paziente");
    browser.click("#nav-log");
    let log = browser.wait_text("#audit", |t| t.contains("dr-bianchi"));
    assert!(log.contains("GET agp-report"), "{log}");
    browser.screenshot("patient-access-log");
    accessible("access log");
    browser.click("#nav-devices");
    // The demo's simulated CGM streams through the demo gateway.
    browser.wait_text("#devices", |t| t.contains("cgm_glucose"));
    browser.wait_text("#gateways", |t| t.contains("demo-gateway"));
    browser.click("#new-code");
    browser.wait_text("#pairing-code", |t| t.len() == 9);
    browser.screenshot("patient-devices");
    accessible("devices");
    browser.click("#nav-delegations");
    browser.find("#delegation-form");
    accessible("delegations");
    // Submissions: none yet; asking for one on a hub without destinations says why.
    browser.click("#nav-deliveries");
    browser.find("#no-deliveries");
    browser.click("#send-now");
    let refused = browser.wait_text("#submission-result", |t| !t.is_empty());
    assert!(refused.contains("destination"), "{refused}");
    accessible("deliveries");

    // The admin sees every patient's submissions (none here), without health data.
    browser.log_out();
    browser.log_in(&hub, "admin");
    browser.find("#delivery-status");
    browser.find("#no-deliveries");
    accessible("admin");

    // 6. The delegate acts for the patient (their consent governs doctors, not her).
    browser.log_out();
    browser.log_in(&hub, "delegato");
    let acting = browser.find("#acting-for");
    assert!(browser.text(&acting).contains("demo-patient"));
    browser.find("#glucose-chart");
    // 7. English.
    browser.click(".lang button[data-lang=en]");
    browser.wait_text("#nav-taccuino", |t| t == "Notebook");
    browser.find("#glucose-chart");
    browser.screenshot("delegate-taccuino-en");
}
