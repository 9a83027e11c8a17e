// pghd-hub web app: the patient's taccuino, their devices, consent, delegations and
// access log; the delegate's switch between the people they act for; the doctor's
// consenting patients and their AGP reports. Plain ES modules served by the hub itself,
// no build step, no third-party code. Every call goes to the hub's HTTP API
// (docs/http-api.md) with the session token, which lives in sessionStorage only.

const TEXT = {
  it: {
    skip: "Vai al contenuto", sections: "Sezioni",
    login: "Accedi", loginTitle: "Accesso a pghd-hub", user: "Nome utente", password: "Password",
    logout: "Esci", loginFailed: "Accesso non riuscito",
    taccuino: "Taccuino", report: "Report AGP", devices: "Dispositivi", consent: "Consenso",
    delegations: "Deleghe", log: "Registro accessi", patients: "Pazienti",
    actingFor: "Persona assistita", you: "te stesso/a",
    period: "Periodo", days: "giorni", load: "Aggiorna",
    glucoseChart: "Glucosio (mg/dL) nel periodo, con le soglie 54, 70, 180 e 250 mg/dL",
    noGlucose: "Nessuna lettura di glucosio nel periodo.",
    metrics: "Metriche glicemiche", mean: "Glucosio medio", gmi: "GMI", cv: "CV",
    tir: "Tempo nell'intervallo 70–180", tbr: "Tempo sotto 70", tar: "Tempo sopra 180",
    active: "Tempo CGM attivo", readings: "Letture",
    wearables: "Attività, sonno, cuore e pressione", date: "Data", steps: "Passi",
    sleep: "Sonno (min)", heart: "Frequenza cardiaca media", pressure: "Pressione media",
    noWearables: "Nessun dato da dispositivi indossabili nel periodo.",
    pdf: "Scarica il report PDF", reportTitle: "Report AGP",
    sensors: "Dispositivi che hanno inviato dati", device: "Dispositivo", kinds: "Misure", lastSeen: "Ultima lettura",
    noDevices: "Nessun dispositivo ha ancora inviato dati.",
    gateways: "Gateway abbinati", gateway: "Gateway", paired: "Abbinato il", noGateways: "Nessun gateway abbinato.",
    newCode: "Nuovo codice di abbinamento", codeHelp: "Inserisci questo codice nel gateway entro la scadenza:",
    expires: "Scade il",
    consentTitle: "Consenso e opposizione",
    consultation: "Consento ai medici della mia équipe di cura di consultare i miei dati",
    consultationHelp: "Se togli il consenso, i medici non vedono più i tuoi dati da subito; ogni accesso resta nel registro.",
    opposition: "Mi oppongo all'invio dei miei dati al Fascicolo Sanitario Elettronico (FSE)",
    oppositionHelp: "Con l'opposizione nulla viene più inviato al FSE, nemmeno ciò che è in attesa di invio.",
    save: "Salva", saved: "Salvato",
    given: "Deleghe date", received: "Persone per cui agisci", delegate: "Delegato",
    relationship: "Relazione", scopes: "Permessi", expiresAt: "Scadenza", revoke: "Revoca",
    addDelegation: "Nuova delega", delegateLogin: "Nome utente del delegato",
    parent: "genitore", tutor: "tutore", delegated: "delegato",
    scopeRead: "lettura dei dati", scopeConsent: "gestione del consenso",
    none: "Nessuna.",
    when: "Quando", who: "Chi", role: "Ruolo", action: "Azione", outcome: "Esito",
    myPatients: "I tuoi pazienti che hanno dato il consenso", noPatients: "Nessun paziente con consenso attivo.",
    open: "Apri il report", fiscalCode: "Codice fiscale",
    admin: "Amministrazione", adminHelp: "Gli invii di tutti i pazienti al FSE e alle cartelle dei medici, senza i dati. Il resto dell'amministrazione è nell'API (/api/v1/docs).",
    error: "Errore",
    deliveries: "Invii", deliveriesTitle: "Invii al FSE e ai medici",
    deliveriesHelp: "Ciò che il hub ha inviato, ciò che attende e ciò che non è andato a buon fine, con il motivo.",
    destination: "Destinazione", status: "Stato", attempts: "Tentativi", reason: "Motivo o ricevuta",
    status_pending: "in attesa", status_sent: "inviato", status_failed: "non riuscito",
    noDeliveries: "Nessun invio.", sendNow: "Invia ora il periodo scelto",
    queued: "In coda", withheld: "Non inviato", all: "tutti",
    role_patient: "paziente", role_practitioner: "medico", role_delegate: "delegato", role_admin: "amministratore",
    outcome_allowed: "consentito", outcome_denied: "negato",
  },
  en: {
    skip: "Skip to content", sections: "Sections",
    login: "Log in", loginTitle: "Log in to pghd-hub", user: "User name", password: "Password",
    logout: "Log out", loginFailed: "Login failed",
    taccuino: "Notebook", report: "AGP report", devices: "Devices", consent: "Consent",
    delegations: "Delegations", log: "Access log", patients: "Patients",
    actingFor: "Person cared for", you: "yourself",
    period: "Period", days: "days", load: "Refresh",
    glucoseChart: "Glucose (mg/dL) over the period, with the 54, 70, 180 and 250 mg/dL thresholds",
    noGlucose: "No glucose readings in the period.",
    metrics: "Glucose metrics", mean: "Mean glucose", gmi: "GMI", cv: "CV",
    tir: "Time in range 70–180", tbr: "Time below 70", tar: "Time above 180",
    active: "Time CGM active", readings: "Readings",
    wearables: "Activity, sleep, heart and blood pressure", date: "Date", steps: "Steps",
    sleep: "Sleep (min)", heart: "Mean heart rate", pressure: "Mean blood pressure",
    noWearables: "No wearable data in the period.",
    pdf: "Download the PDF report", reportTitle: "AGP report",
    sensors: "Devices that sent data", device: "Device", kinds: "Measures", lastSeen: "Last reading",
    noDevices: "No device has sent data yet.",
    gateways: "Paired gateways", gateway: "Gateway", paired: "Paired on", noGateways: "No gateway paired.",
    newCode: "New pairing code", codeHelp: "Enter this code on the gateway before it expires:",
    expires: "Expires",
    consentTitle: "Consent and opposition",
    consultation: "I allow the doctors of my care team to consult my data",
    consultationHelp: "If you withdraw consent, doctors no longer see your data from that moment; every access stays in the log.",
    opposition: "I oppose sending my data to the Electronic Health Record (FSE)",
    oppositionHelp: "With the opposition nothing more is sent to the FSE, not even what is waiting to be sent.",
    save: "Save", saved: "Saved",
    given: "Delegations given", received: "People you act for", delegate: "Delegate",
    relationship: "Relationship", scopes: "Permissions", expiresAt: "Expires", revoke: "Revoke",
    addDelegation: "New delegation", delegateLogin: "Delegate's user name",
    parent: "parent", tutor: "tutor", delegated: "delegated",
    scopeRead: "read the data", scopeConsent: "manage consent",
    none: "None.",
    when: "When", who: "Who", role: "Role", action: "Action", outcome: "Outcome",
    myPatients: "Your patients who consent", noPatients: "No patient with consent in force.",
    open: "Open the report", fiscalCode: "Fiscal code",
    admin: "Administration", adminHelp: "Every patient's submissions to the FSE and to doctors' records, without the data. The rest of the administration is in the API (/api/v1/docs).",
    error: "Error",
    deliveries: "Submissions", deliveriesTitle: "Submissions to the FSE and to doctors",
    deliveriesHelp: "What the hub sent, what waits and what failed, and why.",
    destination: "Destination", status: "Status", attempts: "Attempts", reason: "Reason or receipt",
    status_pending: "pending", status_sent: "sent", status_failed: "failed",
    noDeliveries: "No submissions.", sendNow: "Send the chosen period now",
    queued: "Queued", withheld: "Not sent", all: "all",
    role_patient: "patient", role_practitioner: "doctor", role_delegate: "delegate", role_admin: "administrator",
    outcome_allowed: "allowed", outcome_denied: "denied",
  },
};

const state = {
  token: sessionStorage.getItem("pghd-token"),
  me: null,
  lang: localStorage.getItem("pghd-lang") === "en" ? "en" : "it",
  subject: sessionStorage.getItem("pghd-subject"),
  days: 14,
};

const t = (key) => TEXT[state.lang][key] ?? key;

/** Builds an element: attributes (on* as listeners) and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const svg = ["svg", "polyline", "line", "rect", "text", "g", "title"].includes(tag);
  const el = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function say(message, isError = false) {
  const status = document.getElementById("status");
  status.className = "status" + (isError ? " error" : "");
  status.textContent = message;
  if (!isError) setTimeout(() => { if (status.textContent === message) status.textContent = ""; }, 4000);
}

/** Calls the API; a 401 ends the session. Returns parsed JSON, text or a Blob. */
async function api(method, path, body, as = "json") {
  const headers = { Accept: as === "json" ? "application/json" : "*/*" };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401 && state.token) { logout(); throw new Error(t("loginFailed")); }
  if (!response.ok) {
    let detail = `HTTP ${response.status}`;
    try { const problem = await response.json(); detail = problem.detail || problem.title || detail; } catch (_) { /* not JSON */ }
    const error = new Error(detail);
    error.status = response.status;
    throw error;
  }
  if (as === "text") return response.text();
  if (as === "blob") return response.blob();
  return response.status === 204 ? null : response.json();
}

function logout() {
  state.token = null; state.me = null; state.subject = null;
  sessionStorage.removeItem("pghd-token"); sessionStorage.removeItem("pghd-subject");
  location.hash = "#/login";
  render();
}

const fmtNumber = (v, digits = 0) =>
  v === null || v === undefined || Number.isNaN(v) ? "–" :
    new Intl.NumberFormat(state.lang, { minimumFractionDigits: digits, maximumFractionDigits: digits }).format(v);
const fmtDate = (day) => new Intl.DateTimeFormat(state.lang, { dateStyle: "medium", timeZone: "UTC" })
  .format(new Date(`${day}T12:00:00Z`));
const fmtTime = (iso) => new Intl.DateTimeFormat(state.lang, {
  dateStyle: "short", timeStyle: "short", timeZone: state.me?.account?.time_zone || "Europe/Rome",
}).format(new Date(iso));

function windowParams() {
  const to = new Date();
  to.setSeconds(0, 0);
  to.setMinutes(to.getMinutes() + 1);
  const from = new Date(to.getTime() - state.days * 86400000);
  return { from: from.toISOString(), to: to.toISOString(), query: `from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}` };
}

// ---------------------------------------------------------------- views

function loginView(main) {
  const error = h("p", { class: "error", role: "alert", id: "login-error" });
  const form = h("form", { class: "stack", id: "login-form", onsubmit: async (event) => {
    event.preventDefault();
    error.textContent = "";
    try {
      const answer = await api("POST", "/api/v1/auth/login", { login: form.login.value, password: form.password.value });
      state.token = answer.token;
      sessionStorage.setItem("pghd-token", answer.token);
      await loadMe();
      location.hash = home();
    } catch (e) {
      error.textContent = `${t("loginFailed")}: ${e.message}`;
    }
  } },
  h("label", {}, t("user"), h("input", { name: "login", id: "login", autocomplete: "username", required: true })),
  h("label", {}, t("password"), h("input", { name: "password", id: "password", type: "password", autocomplete: "current-password", required: true })),
  h("button", { class: "primary", type: "submit", id: "login-submit" }, t("login")));
  main.append(h("h1", {}, t("loginTitle")), form, error);
}

function periodPicker(onChange) {
  const select = h("select", { id: "period", onchange: () => { state.days = Number(select.value); onChange(); } },
    [7, 14, 30, 90].map((d) => h("option", { value: d, selected: d === state.days }, `${d} ${t("days")}`)));
  return h("label", { class: "row" }, t("period"), select);
}

/** The glucose chart: readings over the window, with the consensus thresholds. */
function glucoseChart(readings, from, to) {
  const W = 900, H = 300, left = 40, top = 10, bottom = 24, right = 10;
  const plotW = W - left - right, plotH = H - top - bottom;
  const max = 400;
  const x = (time) => left + ((time - from) / (to - from)) * plotW;
  const y = (mg) => top + plotH - (Math.min(Math.max(mg, 0), max) / max) * plotH;
  const svg = h("svg", { viewBox: `0 0 ${W} ${H}`, class: "chart", role: "img", "aria-labelledby": "glucose-chart-title", id: "glucose-chart" },
    h("title", { id: "glucose-chart-title" }, t("glucoseChart")),
    h("rect", { x: left, y: y(180), width: plotW, height: y(70) - y(180), fill: "#e3f2e5" }));
  for (const [level, color] of [[54, "#8b1a1a"], [70, "#3b9f47"], [180, "#3b9f47"], [250, "#f28c28"]]) {
    svg.append(h("line", { x1: left, x2: left + plotW, y1: y(level), y2: y(level), stroke: color, "stroke-dasharray": level === 54 || level === 250 ? "4 3" : null }),
      h("text", { x: left - 4, y: y(level) + 4, "text-anchor": "end", "font-size": 11, fill: "#4d4d4d" }, String(level)));
  }
  let points = [];
  let last = null;
  const flush = () => {
    if (points.length > 1) svg.append(h("polyline", { points: points.join(" "), fill: "none", stroke: "#1f4e8c", "stroke-width": 1.5 }));
    points = [];
  };
  for (const r of readings) {
    const time = Date.parse(r.time);
    if (last !== null && time - last > 30 * 60000) flush();
    points.push(`${x(time).toFixed(1)},${y(r.measurement.glucose.value).toFixed(1)}`);
    last = time;
  }
  flush();
  svg.append(h("rect", { x: left, y: top, width: plotW, height: plotH, fill: "none", stroke: "#c8c8c8" }));
  svg.dataset.readings = String(readings.length);
  return svg;
}

async function allReadings(subject, query) {
  const readings = [];
  let after = null;
  do {
    const page = await api("GET", `/api/v1/patients/${encodeURIComponent(subject)}/readings?kind=cgm_glucose&${query}&limit=10000${after ? `&after=${after}` : ""}`);
    readings.push(...page.readings);
    after = page.next;
  } while (after);
  return readings;
}

async function taccuinoView(main, subject) {
  const content = h("div", { id: "taccuino" });
  main.append(h("h1", {}, t("taccuino")), periodPicker(() => route()), content);
  const w = windowParams();
  content.dataset.from = w.from;
  content.dataset.to = w.to;
  const base = `/api/v1/patients/${encodeURIComponent(subject)}`;
  const readings = await allReadings(subject, w.query);
  content.append(h("h2", {}, t("glucoseChart")));
  if (readings.length === 0) content.append(h("p", { id: "no-glucose" }, t("noGlucose")));
  else content.append(glucoseChart(readings, Date.parse(w.from), Date.parse(w.to)));
  if (readings.length > 0) {
    const g = await api("GET", `${base}/glucometrics?${w.query}`);
    const tir = g.time_in_ranges;
    const metric = (id, label, value) => h("div", { class: "metric" },
      h("div", { class: "label", id: `label-${id}` }, label),
      h("div", { class: "value", "data-testid": `metric-${id}`, "aria-labelledby": `label-${id}` }, value));
    content.append(h("h2", {}, t("metrics")), h("div", { class: "metrics", id: "metrics" },
      metric("mean", t("mean"), `${fmtNumber(g.statistics.mean)} mg/dL`),
      metric("gmi", t("gmi"), `${fmtNumber(g.gmi_percent, 1)} %`),
      metric("cv", t("cv"), `${fmtNumber(g.statistics.cv_percent, 1)} %`),
      metric("tir", t("tir"), `${fmtNumber(tir.in_range_70_180.percent)} %`),
      metric("tbr", t("tbr"), `${fmtNumber(tir.very_low_below_54.percent + tir.low_54_69.percent)} %`),
      metric("tar", t("tar"), `${fmtNumber(tir.high_181_250.percent + tir.very_high_above_250.percent)} %`),
      metric("active", t("active"), `${fmtNumber(g.wear.active_percent, 1)} %`),
      metric("readings", t("readings"), String(g.readings))));
  }
  const days = await api("GET", `${base}/daily?${w.query}`);
  content.append(h("h2", {}, t("wearables")));
  if (days.length === 0) content.append(h("p", {}, t("noWearables")));
  else content.append(h("table", { id: "daily" },
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("date")), h("th", { scope: "col", class: "num" }, t("steps")),
      h("th", { scope: "col", class: "num" }, t("sleep")), h("th", { scope: "col", class: "num" }, t("heart")),
      h("th", { scope: "col", class: "num" }, t("pressure")))),
    h("tbody", {}, days.map((d) => h("tr", {},
      h("th", { scope: "row" }, fmtDate(d.date)), h("td", { class: "num" }, fmtNumber(d.steps)),
      h("td", { class: "num" }, fmtNumber(d.sleep_min)),
      h("td", { class: "num" }, d.heart_rate ? `${fmtNumber(d.heart_rate.mean_per_min)} /min` : "–"),
      h("td", { class: "num" }, d.blood_pressure ? `${fmtNumber(d.blood_pressure.systolic_mean_mm_hg)}/${fmtNumber(d.blood_pressure.diastolic_mean_mm_hg)} mmHg` : "–"))))));
}

async function reportView(main, subject) {
  const holder = h("div", { class: "report", id: "report" });
  const download = h("p", {});
  main.append(h("h1", {}, t("reportTitle")), periodPicker(() => route()), download, holder);
  const w = windowParams();
  const base = `/api/v1/patients/${encodeURIComponent(subject)}/agp-report?${w.query}&lang=${state.lang}`;
  const text = await api("GET", `${base}&format=svg`, undefined, "text");
  const svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  holder.append(document.importNode(svg, true));
  download.append(h("button", { class: "secondary", type: "button", id: "report-pdf", onclick: async () => {
    const blob = await api("GET", `${base}&format=pdf`, undefined, "blob");
    const link = h("a", { href: URL.createObjectURL(blob), download: "agp-report.pdf" });
    document.body.append(link);
    link.click();
    link.remove();
  } }, t("pdf")));
}

async function devicesView(main, subject) {
  const base = `/api/v1/patients/${encodeURIComponent(subject)}`;
  const [devices, gateways] = await Promise.all([api("GET", `${base}/devices`), api("GET", `${base}/gateways`)]);
  const code = h("div", { "aria-live": "polite", id: "pairing" });
  const name = (d) => [d.model, d.serial, d.address].filter(Boolean).join(" · ") || "–";
  main.append(h("h1", {}, t("devices")), h("h2", {}, t("sensors")),
    devices.length === 0 ? h("p", {}, t("noDevices")) :
      h("table", { id: "devices" }, h("thead", {}, h("tr", {}, [t("device"), t("kinds"), t("readings"), t("lastSeen")].map((c) => h("th", { scope: "col" }, c)))),
        h("tbody", {}, devices.map((d) => h("tr", {}, h("td", {}, name(d.device)), h("td", {}, d.kinds.join(", ")),
          h("td", { class: "num" }, fmtNumber(d.readings)), h("td", {}, fmtTime(d.last_reading)))))),
    h("h2", {}, t("gateways")),
    gateways.length === 0 ? h("p", {}, t("noGateways")) :
      h("table", { id: "gateways" }, h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("gateway")), h("th", { scope: "col" }, t("paired")))),
        h("tbody", {}, gateways.map((g) => h("tr", {}, h("td", {}, g.id), h("td", {}, fmtTime(g.paired_at)))))),
    h("button", { class: "primary", type: "button", id: "new-code", onclick: async () => {
      const answer = await api("POST", `${base}/pairing-codes`);
      code.replaceChildren(h("p", {}, t("codeHelp")), h("p", { class: "code", id: "pairing-code" }, answer.code),
        h("p", {}, `${t("expires")} ${fmtTime(answer.expires_at)}`));
    } }, t("newCode")), code);
}

async function consentView(main, subject) {
  const path = `/api/v1/patients/${encodeURIComponent(subject)}/consent`;
  const consent = await api("GET", path);
  const result = h("p", { role: "status", id: "consent-result" });
  const consultation = h("input", { type: "checkbox", id: "consultation", checked: consent.consultation, "aria-describedby": "consultation-help" });
  const opposition = h("input", { type: "checkbox", id: "fse-opposition", checked: consent.fse_opposition, "aria-describedby": "opposition-help" });
  const form = h("form", { class: "stack", id: "consent-form", onsubmit: async (event) => {
    event.preventDefault();
    await api("PUT", path, { consultation: consultation.checked, fse_opposition: opposition.checked });
    result.className = "ok";
    result.textContent = t("saved");
  } },
  h("div", { class: "row" }, consultation, h("label", { for: "consultation" }, t("consultation"))),
  h("p", { class: "statement", id: "consultation-help" }, t("consultationHelp")),
  h("div", { class: "row" }, opposition, h("label", { for: "fse-opposition" }, t("opposition"))),
  h("p", { class: "statement", id: "opposition-help" }, t("oppositionHelp")),
  h("button", { class: "primary", type: "submit", id: "consent-save" }, t("save")));
  main.append(h("h1", {}, t("consentTitle")), form, result);
}

async function delegationsView(main, subject) {
  const path = `/api/v1/patients/${encodeURIComponent(subject)}/delegations`;
  const given = (await api("GET", path)).filter((d) => !d.revoked_at && new Date(d.expires_at) > new Date());
  const scopeName = (s) => (s === "read" ? t("scopeRead") : s === "manage_consent" ? t("scopeConsent") : s);
  main.append(h("h1", {}, t("delegations")), h("h2", {}, t("given")),
    given.length === 0 ? h("p", {}, t("none")) : h("table", { id: "delegations-given" },
      h("thead", {}, h("tr", {}, [t("delegate"), t("relationship"), t("scopes"), t("expiresAt"), ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, given.map((d) => h("tr", {}, h("td", {}, d.delegate), h("td", {}, t(d.relationship)),
        h("td", {}, d.scopes.map(scopeName).join(", ")), h("td", {}, fmtTime(d.expires_at)),
        h("td", {}, h("button", { class: "secondary", type: "button", onclick: async () => {
          await api("DELETE", `${path}/${d.id}`);
          route();
        } }, t("revoke"))))))));
  const expires = new Date(Date.now() + 365 * 86400000).toISOString().slice(0, 10);
  const form = h("form", { class: "stack", id: "delegation-form", onsubmit: async (event) => {
    event.preventDefault();
    const scopes = [...form.querySelectorAll("input[name=scope]:checked")].map((c) => c.value);
    try {
      await api("POST", path, { delegate_login: form.delegate.value, relationship: form.relationship.value, scopes, expires_at: new Date(`${form.expires.value}T23:59:00Z`).toISOString() });
      route();
    } catch (e) { say(`${t("error")}: ${e.message}`, true); }
  } },
  h("label", {}, t("delegateLogin"), h("input", { name: "delegate", required: true })),
  h("label", {}, t("relationship"), h("select", { name: "relationship" }, ["parent", "tutor", "delegated"].map((r) => h("option", { value: r }, t(r))))),
  h("fieldset", {}, h("legend", {}, t("scopes")),
    ["read", "manage_consent"].map((s) => h("label", { class: "row" }, h("input", { type: "checkbox", name: "scope", value: s, checked: s === "read" }), scopeName(s)))),
  h("label", {}, t("expiresAt"), h("input", { type: "date", name: "expires", value: expires, required: true })),
  h("button", { class: "primary", type: "submit" }, t("addDelegation")));
  main.append(h("h2", {}, t("addDelegation")), form, h("h2", {}, t("received")),
    state.me.acts_for.length === 0 ? h("p", {}, t("none")) :
      h("ul", {}, state.me.acts_for.map((d) => h("li", {}, `${d.patient} (${t(d.relationship)})`))));
}

async function logView(main, subject) {
  const records = await api("GET", `/api/v1/patients/${encodeURIComponent(subject)}/audit?limit=200`);
  main.append(h("h1", {}, t("log")), h("table", { id: "audit" },
    h("thead", {}, h("tr", {}, [t("when"), t("who"), t("role"), t("action"), t("outcome")].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, records.map((r) => h("tr", { "data-actor": r.actor },
      h("td", {}, fmtTime(r.at)), h("td", {}, r.actor), h("td", {}, t(`role_${r.actor_role}`)),
      h("td", {}, r.action), h("td", {}, t(`outcome_${r.outcome}`)))))));
}

/** The outbox items as a table (the patient's, or every patient's for the admin). */
function deliveriesTable(items, withPatient) {
  if (items.length === 0) return h("p", { id: "no-deliveries" }, t("noDeliveries"));
  const head = [withPatient ? t("patients") : null, t("destination"), t("status"), t("attempts"), t("when"), t("reason")].filter(Boolean);
  return h("table", { id: "deliveries" },
    h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, items.map((i) => h("tr", { "data-status": i.status },
      withPatient ? h("td", {}, i.patient) : null,
      h("td", {}, i.destination), h("td", {}, t(`status_${i.status}`)), h("td", { class: "num" }, String(i.attempts)),
      h("td", {}, fmtTime(i.sent_at || i.created_at)), h("td", {}, i.last_error || i.receipt || "")))));
}

async function deliveriesView(main, subject) {
  const base = `/api/v1/patients/${encodeURIComponent(subject)}`;
  const items = await api("GET", `${base}/deliveries`);
  const outcome = h("div", { role: "status", id: "submission-result" });
  main.append(h("h1", {}, t("deliveriesTitle")), h("p", {}, t("deliveriesHelp")),
    h("div", { class: "row" }, periodPicker(() => route()),
      h("button", { class: "secondary", type: "button", id: "send-now", onclick: async () => {
        const w = windowParams();
        try {
          const report = await api("POST", `${base}/fhir-submissions`, { from: w.from, to: w.to });
          outcome.replaceChildren(
            h("p", { class: "ok" }, `${t("queued")}: ${report.queued.map((q) => q.destination).join(", ") || "–"}`),
            report.withheld.length ? h("p", {}, `${t("withheld")}: ${report.withheld.map(([d, why]) => `${d} (${why})`).join("; ")}`) : null);
        } catch (e) {
          outcome.replaceChildren(h("p", { class: "error" }, `${t("error")}: ${e.message}`));
        }
      } }, t("sendNow"))),
    outcome, deliveriesTable(items, false));
}

async function adminView(main) {
  const select = h("select", { id: "delivery-status", onchange: () => load() },
    ["", "pending", "sent", "failed"].map((s) => h("option", { value: s }, s ? t(`status_${s}`) : t("all"))));
  const holder = h("div", {});
  const load = async () => {
    const items = await api("GET", `/api/v1/admin/deliveries${select.value ? `?status=${select.value}` : ""}`);
    holder.replaceChildren(deliveriesTable(items, true));
  };
  main.append(h("h1", {}, t("admin")), h("p", {}, t("adminHelp")), h("label", { class: "row" }, t("status"), select), holder);
  await load();
}

async function patientsView(main) {
  const patients = await api("GET", "/api/v1/practitioner/patients");
  main.append(h("h1", {}, t("myPatients")),
    patients.length === 0 ? h("p", { id: "no-patients" }, t("noPatients")) :
      h("ul", { id: "patients" }, patients.map((p) => h("li", { "data-patient": p.id },
        h("a", { href: `#/report/${encodeURIComponent(p.id)}` }, p.display_name),
        p.fiscal_code ? ` — ${t("fiscalCode")} ${p.fiscal_code}` : ""))));
}

// ---------------------------------------------------------------- shell

async function loadMe() {
  state.me = await api("GET", "/api/v1/me");
  const role = state.me.account.role;
  if (role === "patient") state.subject = state.me.account.id;
  else if (role === "delegate" && !state.me.acts_for.some((d) => d.patient === state.subject)) state.subject = state.me.acts_for[0]?.patient ?? null;
  if (state.subject) sessionStorage.setItem("pghd-subject", state.subject);
}

function home() {
  const role = state.me?.account?.role;
  if (role === "practitioner") return "#/patients";
  if (role === "admin") return "#/admin";
  return "#/taccuino";
}

function renderNav(view) {
  const nav = document.getElementById("nav");
  nav.setAttribute("aria-label", t("sections"));
  nav.replaceChildren();
  if (!state.me) return;
  const role = state.me.account.role;
  const links = role === "practitioner" ? ["patients"] :
    role === "patient" ? ["taccuino", "report", "devices", "consent", "delegations", "deliveries", "log"] :
      role === "delegate" ? ["taccuino", "report", "consent", "deliveries", "log"] :
        role === "admin" ? ["admin"] : [];
  for (const name of links) {
    nav.append(h("a", { href: `#/${name}`, "aria-current": view === name ? "page" : null, id: `nav-${name}` }, t(name)));
  }
  if (role === "delegate" && state.me.acts_for.length > 0) {
    const select = h("select", { id: "acting-for", onchange: () => {
      state.subject = select.value;
      sessionStorage.setItem("pghd-subject", state.subject);
      route();
    } }, state.me.acts_for.map((d) => h("option", { value: d.patient, selected: d.patient === state.subject }, d.patient)));
    nav.append(h("label", { class: "row" }, t("actingFor"), select));
  }
  nav.append(h("button", { type: "button", id: "logout", onclick: logout }, `${t("logout")} (${state.me.account.display_name})`));
}

const VIEWS = {
  taccuino: taccuinoView, report: reportView, devices: devicesView, consent: consentView,
  delegations: delegationsView, log: logView, patients: patientsView, deliveries: deliveriesView,
  admin: adminView,
};

async function route() {
  document.documentElement.lang = state.lang;
  document.getElementById("skip").textContent = t("skip");
  for (const b of document.querySelectorAll(".lang button")) b.setAttribute("aria-pressed", String(b.dataset.lang === state.lang));
  const main = document.getElementById("main");
  main.replaceChildren();
  if (!state.token) { renderNav(null); loginView(main); return; }
  if (!state.me) {
    try { await loadMe(); } catch (e) { logout(); return; }
  }
  const [, view = "", arg] = location.hash.split("/");
  if (!VIEWS[view]) { location.hash = home(); return; }
  renderNav(view);
  const subject = arg ? decodeURIComponent(arg) : state.subject;
  try {
    await VIEWS[view](main, subject);
    main.focus();
  } catch (e) {
    main.append(h("p", { class: "error", role: "alert", id: "view-error" }, `${t("error")}: ${e.message}`));
  }
}

function render() { route(); }

for (const button of document.querySelectorAll(".lang button")) {
  button.addEventListener("click", () => {
    state.lang = button.dataset.lang;
    localStorage.setItem("pghd-lang", state.lang);
    route();
  });
}
window.addEventListener("hashchange", route);
route();
