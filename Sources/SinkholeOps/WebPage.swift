/// The page `GET /` serves: the mode, live counters, rules, sessions, captured
/// mail and the greylist, read from the JSON API with `fetch` (relative URLs,
/// so it also works behind a proxy that adds a path prefix).
///
/// One self-contained document: inline CSS and script, no external files,
/// fonts or frameworks. Data goes into the DOM only as `textContent`. Viewing
/// changes nothing in sinkhole: a message is read through `/headers` and
/// `/raw`, which leave it unread. Only the mode buttons change state.
enum WebPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sinkhole</title>
<style>
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1b1b; --muted: #555; --line: #d4d4d4; --panel: #f5f5f5;
  --accent: #0b57d0; --ok: #146c2e; --warn: #7a4b00; --bad: #a50e0e; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #121212; --fg: #e8e8e8; --muted: #b4b4b4; --line: #3c3c3c; --panel: #1d1d1d;
    --accent: #8ab4f8; --ok: #81c995; --warn: #fdd663; --bad: #f28b82; } }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 15px/1.45 system-ui, sans-serif; }
header, main { max-width: 1280px; margin: 0 auto; padding: 0.5rem 1rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 0 1rem; }
h1 { font-size: 1.3rem; margin: 0.3rem 0; }
h2 { font-size: 1.05rem; margin: 0 0 0.5rem; }
h3 { font-size: 1rem; margin: 0.8rem 0 0.3rem; overflow-wrap: anywhere; }
.muted, #status { color: var(--muted); }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 0.75rem; margin-bottom: 1rem; min-width: 0; }
.grid { display: grid; gap: 0 1rem; grid-template-columns: repeat(auto-fit, minmax(min(100%, 34rem), 1fr)); }
#problem, .note { border-left: 4px solid var(--bad); padding: 0.3rem 0.6rem; background: var(--panel); margin: 0.5rem 0; }
#mode { font-size: 2rem; font-weight: 700; text-transform: uppercase; letter-spacing: 0.03em; }
#mode[data-mode="accept"], #mode[data-mode="accept-log"] { color: var(--ok); }
#mode[data-mode="defer"], #mode[data-mode="greylist"] { color: var(--warn); }
#mode[data-mode="bounce"] { color: var(--bad); }
button, input, select { font: inherit; color: inherit; }
button { background: var(--panel); border: 1px solid var(--muted); border-radius: 4px; padding: 0.25rem 0.7rem; cursor: pointer; }
button[aria-pressed="true"] { background: var(--accent); border-color: var(--accent); color: var(--bg); font-weight: 600; }
button:disabled { cursor: not-allowed; opacity: 0.55; }
input, select { background: var(--bg); border: 1px solid var(--muted); border-radius: 4px; padding: 0.2rem 0.4rem; }
:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.row { display: flex; flex-wrap: wrap; gap: 0.4rem; align-items: center; margin: 0.4rem 0; }
dl.counters { display: flex; flex-wrap: wrap; gap: 0.5rem 2rem; margin: 0; }
dl.counters dt { color: var(--muted); font-size: 0.85rem; }
dl.counters dd { margin: 0; font-size: 1.6rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
th, td { text-align: left; padding: 0.25rem 0.45rem; border-bottom: 1px solid var(--line); vertical-align: top; overflow-wrap: break-word; }
th, td.nowrap, td.num { white-space: nowrap; }
th { font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr { cursor: pointer; }
tbody tr:hover, tr.selected { background: var(--panel); }
tr.exhausted { color: var(--muted); }
td button { padding: 0; border: 0; background: none; color: var(--accent); text-decoration: underline; text-align: left; }
pre, #transcript { font: 0.82rem/1.4 ui-monospace, monospace; background: var(--panel); padding: 0.5rem; margin: 0;
  max-height: 28rem; overflow: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
#transcript { list-style: none; padding-left: 0.5rem; }
#transcript .at { color: var(--muted); }
.t-client { font-weight: 600; }
.t-decision, .t-note { color: var(--warn); }
</style>
</head>
<body>
<header>
  <h1>sinkhole</h1>
  <p id="status">Loading…</p>
</header>
<main>
  <p id="problem" role="alert" hidden></p>

  <section id="auth" class="card" aria-labelledby="auth-h" hidden>
    <h2 id="auth-h">API token</h2>
    <p id="auth-why">The control API answered 401: it needs the token sinkhole was started with
      (<code>--api-token</code>, <code>SINKHOLE_API_TOKEN</code> or <code>--api-token-file</code>).
      It is kept in this tab only.</p>
    <form id="token-form" class="row">
      <label for="token">Token</label>
      <input id="token" type="password" autocomplete="off" spellcheck="false" required minlength="8">
      <button type="submit">Use token</button>
      <button type="button" id="token-forget">Forget token</button>
    </form>
  </section>

  <div class="grid">
    <section id="mode-section" class="card" aria-labelledby="mode-h">
      <h2 id="mode-h">Mode of new sessions</h2>
      <p><span id="mode">…</span> <span class="muted">from</span> <strong id="mode-source">…</strong></p>
      <p id="mode-detail" class="muted"></p>
      <div class="row" role="group" aria-label="Switch the mode">
        <button type="button" id="switch-defer" data-mode="defer">defer</button>
        <button type="button" id="switch-bounce" data-mode="bounce">bounce</button>
        <button type="button" id="switch-accept" data-mode="accept">accept</button>
        <button type="button" id="switch-accept-log" data-mode="accept-log">accept-log</button>
        <button type="button" id="switch-greylist" data-mode="greylist">greylist</button>
      </div>
      <div class="row">
        <label for="mode-ttl">for</label>
        <select id="mode-ttl">
          <option value="">until cleared</option>
          <option value="10m">10 minutes</option>
          <option value="1h">1 hour</option>
        </select>
        <button type="button" id="clear-override">Clear override</button>
      </div>
      <p id="mode-note" class="note" role="status" hidden></p>
      <p id="mode-read-note" class="note" hidden></p>
    </section>

    <section id="counters-section" class="card" aria-labelledby="counters-h">
      <h2 id="counters-h">Counters</h2>
      <dl class="counters">
        <div><dt>Messages kept</dt><dd id="count-messages">–</dd></div>
        <div><dt>Accepted since start</dt><dd id="count-accepted">–</dd></div>
        <div><dt>Sessions kept</dt><dd id="count-sessions">–</dd></div>
        <div><dt>Up</dt><dd id="uptime">–</dd></div>
      </dl>
      <p id="live" class="muted">Refreshed every 2 s.</p>
      <p id="counters-note" class="note" hidden></p>
    </section>

    <section id="messages-section" class="card" aria-labelledby="messages-h">
      <h2 id="messages-h">Captured messages</h2>
      <p id="messages-note" class="note" hidden></p>
      <p id="capture-note" class="muted" hidden>Capture is off: start sinkhole with <code>--capture memory</code> to keep mail.</p>
      <p id="messages-empty" class="muted" hidden>No messages kept.</p>
      <div class="scroll">
        <table id="messages" aria-labelledby="messages-h">
          <thead><tr><th scope="col">Subject</th><th scope="col">From</th><th scope="col">To</th>
            <th scope="col">Received</th><th scope="col">Size</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <div id="message-panel" hidden>
        <h3 id="message-subject" tabindex="-1"></h3>
        <p id="message-meta" class="muted"></p>
        <div class="scroll">
          <table id="message-headers" aria-label="Headers">
            <thead><tr><th scope="col">Header</th><th scope="col">Value</th></tr></thead>
            <tbody></tbody>
          </table>
        </div>
        <h3>Raw source</h3>
        <pre id="message-raw"></pre>
      </div>
    </section>

    <section id="sessions-section" class="card" aria-labelledby="sessions-h">
      <h2 id="sessions-h">Recent sessions</h2>
      <p id="sessions-note" class="note" hidden></p>
      <p id="sessions-empty" class="muted" hidden>No finished sessions yet.</p>
      <div class="scroll">
        <table id="sessions" aria-labelledby="sessions-h">
          <thead><tr><th scope="col">#</th><th scope="col">Ended</th><th scope="col">Client</th>
            <th scope="col">Outcome</th><th scope="col">Envelope</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
      <div id="transcript-panel" hidden>
        <h3 id="transcript-title" tabindex="-1"></h3>
        <ol id="transcript"></ol>
      </div>
    </section>

    <section id="rules-section" class="card" aria-labelledby="rules-h">
      <h2 id="rules-h">Rules</h2>
      <p id="rules-note" class="note" hidden></p>
      <p id="rules-empty" class="muted" hidden>No rules.</p>
      <div class="scroll">
        <table id="rules" aria-labelledby="rules-h">
          <thead><tr><th scope="col">Rule</th><th scope="col">Origin</th><th scope="col">Commands</th>
            <th scope="col">Answered</th><th scope="col">Left</th><th scope="col">Next</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </section>

    <section id="greylist-section" class="card" aria-labelledby="greylist-h">
      <h2 id="greylist-h">Greylist</h2>
      <p id="greylist-note" class="note" hidden></p>
      <p id="greylist-empty" class="muted" hidden>No greylist entries.</p>
      <div class="scroll">
        <table id="greylist" aria-labelledby="greylist-h">
          <thead><tr><th scope="col">Key</th><th scope="col">State</th><th scope="col">Attempts</th>
            <th scope="col">First seen</th><th scope="col">Last seen</th><th scope="col">Last gap</th></tr></thead>
          <tbody></tbody>
        </table>
      </div>
    </section>
  </div>
</main>
<script>
"use strict";
const TOKEN_KEY = "sinkhole.api-token";
const MODES = ["defer", "bounce", "accept", "accept-log", "greylist"];
const RAW_LIMIT = 200000;
const $ = (id) => document.getElementById(id);
const shown = {};            // the JSON each table was last drawn from
let changesLocked = false;   // a mode change got 401
let openSession = null;
let openMessage = null;
let waitingForToken = false; // every read got 401: stop polling (each 401 is a log line) until a token is given

class Unauthorized extends Error {}
class Unreachable extends Error {}

function storedToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch (e) { return null; }
}

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  const token = storedToken();
  if (token) headers.set("Authorization", "Bearer " + token);
  let response;
  try {
    response = await fetch(path, { ...options, headers, cache: "no-store" });
  } catch (error) {
    throw new Unreachable(error.message);
  }
  if (response.status === 401) throw new Unauthorized(path);
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { const body = await response.json(); if (body.error) message = body.error + " (" + response.status + ")"; } catch (e) { /* not JSON */ }
    throw new Error(message);
  }
  return response;
}
const getJSON = async (path) => (await api(path)).json();

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}
function cell(content, className) {
  const td = el("td", null, className);
  if (content instanceof Node) td.append(content); else td.textContent = content == null ? "" : String(content);
  return td;
}
function note(id, text) { const node = $(id); node.textContent = text || ""; node.hidden = !text; }
function time(iso) { const d = new Date(iso); return isNaN(d) ? String(iso) : d.toLocaleTimeString([], { hour12: false }); }
function bytes(n) { return n < 1024 ? n + " B" : n < 1048576 ? (n / 1024).toFixed(1) + " KiB" : (n / 1048576).toFixed(1) + " MiB"; }
function seconds(s) {
  if (s == null) return "";
  if (s < 60) return Math.round(s) + " s";
  if (s < 3600) return Math.floor(s / 60) + " min " + Math.round(s % 60) + " s";
  return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
}
function address(a) { return !a || !a.Address ? "" : a.Name ? a.Name + " <" + a.Address + ">" : a.Address; }

// -- token -------------------------------------------------------------------

function askForToken(why) {
  $("auth").hidden = false;
  $("token-forget").hidden = !storedToken();
  if (why) $("auth-why").textContent = why;
}
$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  try { sessionStorage.setItem(TOKEN_KEY, $("token").value.trim()); } catch (e) { /* storage off */ }
  $("token").value = "";
  $("auth").hidden = true;
  waitingForToken = false;
  unlockChanges();
  refresh();
});
$("token-forget").addEventListener("click", () => {
  try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* storage off */ }
  $("token-forget").hidden = true;
});
function unauthorized() {
  askForToken(storedToken() ? "The control API refused the token (401). Enter the right one."
    : "The control API answered 401: it needs the token sinkhole was started with (--api-token, SINKHOLE_API_TOKEN or --api-token-file). It is kept in this tab only.");
}

// -- mode --------------------------------------------------------------------

function renderMode(m) {
  $("mode").textContent = m.mode;
  $("mode").dataset.mode = m.mode;
  $("mode-source").textContent = m.source;
  const c = m.configured || {};
  let detail = "Configured: " + c.mode + " from " + c.source + (c.known === false ? " (no good value yet)" : "");
  if (c.last_error) detail += ". Last error: " + c.last_error;
  if (m.override) detail += m.override.expires_in_seconds == null ? ". Override until cleared."
    : ". Override ends in " + seconds(m.override.expires_in_seconds) + ".";
  $("mode-detail").textContent = detail;
  for (const name of MODES) $("switch-" + name).setAttribute("aria-pressed", String(name === m.mode));
  $("clear-override").disabled = changesLocked || !m.override;
  document.title = "sinkhole: " + m.mode;
}
function lockChanges() {
  changesLocked = true;
  for (const name of MODES) $("switch-" + name).disabled = true;
  $("clear-override").disabled = true;
  note("mode-note", "The API answered 401 to the change: changing the mode needs the API token. Enter it above.");
  unauthorized();
}
function unlockChanges() {
  changesLocked = false;
  for (const name of MODES) $("switch-" + name).disabled = false;
  note("mode-note", "");
  delete shown.mode;
}
async function changeMode(method, body) {
  try {
    const response = await api("api/v1/mode", { method, body: body && JSON.stringify(body),
      headers: { "Content-Type": "application/json" } });
    note("mode-note", "");
    renderMode(await response.json());
    refresh();
  } catch (error) {
    if (error instanceof Unauthorized) lockChanges();
    else note("mode-note", "Could not change the mode: " + error.message);
  }
}
for (const name of MODES) {
  $("switch-" + name).addEventListener("click", () => {
    const ttl = $("mode-ttl").value;
    changeMode("PUT", ttl ? { mode: name, ttl } : { mode: name });
  });
}
$("clear-override").addEventListener("click", () => changeMode("DELETE"));

// -- tables ------------------------------------------------------------------

function fill(table, items, makeRow) {
  const body = $(table).tBodies[0];
  body.replaceChildren(...items.map(makeRow));
  $(table + "-empty").hidden = items.length > 0;
}
function clickable(tr, label, open) {
  const button = el("button", label);
  button.type = "button";
  button.addEventListener("click", (event) => { event.stopPropagation(); open(); });
  tr.addEventListener("click", open);
  return button;
}

function renderMessages(list) {
  fill("messages", list.messages || [], (m) => {
    const tr = el("tr");
    tr.dataset.id = m.ID;
    if (openMessage === m.ID) tr.className = "selected";
    const to = (m.To || []).concat(m.Cc || [], m.Bcc || []).map(address).join(", ");
    tr.append(cell(clickable(tr, m.Subject || "(no subject)", () => showMessage(m))), cell(address(m.From)), cell(to),
      cell(time(m.Created), "nowrap"), cell(bytes(m.Size), "num"));
    tr.cells[3].title = m.Created;
    return tr;
  });
}
async function showMessage(m) {
  openMessage = m.ID;
  for (const tr of $("messages").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === m.ID);
  $("message-panel").hidden = false;
  $("message-subject").textContent = m.Subject || "(no subject)";
  $("message-meta").textContent = m.ID + " · " + bytes(m.Size) + " · received " + m.Created
    + (m.Attachments ? " · " + m.Attachments + " attachment(s)" : "");
  $("message-headers").tBodies[0].replaceChildren();
  $("message-raw").textContent = "Loading…";
  $("message-subject").focus({ preventScroll: true });
  $("message-panel").scrollIntoView({ block: "nearest" });
  const id = encodeURIComponent(m.ID);
  try {
    const [headers, raw] = await Promise.all([getJSON("api/v1/message/" + id + "/headers"),
      api("api/v1/message/" + id + "/raw").then((r) => r.text())]);
    if (openMessage !== m.ID) return;
    const rows = [];
    for (const [name, values] of Object.entries(headers)) {
      for (const value of values) { const tr = el("tr"); tr.append(el("th", name), cell(value)); tr.cells[0].scope = "row"; rows.push(tr); }
    }
    $("message-headers").tBodies[0].replaceChildren(...rows);
    $("message-raw").textContent = raw.length <= RAW_LIMIT ? raw
      : raw.slice(0, RAW_LIMIT) + "\n… cut here: " + (raw.length - RAW_LIMIT) + " more characters (GET api/v1/message/" + m.ID + "/raw)";
  } catch (error) {
    if (error instanceof Unauthorized) unauthorized();
    $("message-raw").textContent = "Could not load the message: " + (error instanceof Unauthorized ? "it needs the API token" : error.message);
  }
}

function renderSessions(list) {
  $("count-sessions").textContent = list.total;
  fill("sessions", list.sessions || [], (s) => {
    const tr = el("tr");
    tr.dataset.id = s.id;
    if (openSession === s.id) tr.className = "selected";
    const envelope = (s.senders.length ? s.senders.join(", ") : "—") + " → " + (s.recipients.join(", ") || "—");
    tr.append(cell(clickable(tr, s.id, () => showSession(s.id)), "num"), cell(time(s.ended), "nowrap"),
      cell(s.client, "nowrap"), cell(s.outcome), cell(envelope));
    tr.cells[0].firstChild.setAttribute("aria-label", "Transcript of session " + s.id);
    tr.cells[1].title = s.ended;
    return tr;
  });
}
async function showSession(id) {
  openSession = id;
  for (const tr of $("sessions").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.id === String(id));
  $("transcript-panel").hidden = false;
  $("transcript-title").textContent = "Session " + id;
  $("transcript").replaceChildren(el("li", "Loading…"));
  $("transcript-title").focus({ preventScroll: true });
  $("transcript-panel").scrollIntoView({ block: "nearest" });
  try {
    const s = await getJSON("api/v1/sessions/" + encodeURIComponent(id));
    if (openSession !== id) return;
    $("transcript-title").textContent = "Session " + s.id + ": " + s.client + ", " + s.mode + ", " + s.outcome
      + " after " + s.duration_ms + " ms";
    const prefix = { client: "C:", server: "S:", decision: "  ⇒", note: "  ·" };
    const lines = [];
    for (const line of s.transcript) {
      for (const text of String(line.text).split("\r\n")) {
        const li = el("li", null, "t-" + line.kind);
        li.append(el("span", String(line.at_ms).padStart(6) + " ms ", "at"), el("span", (prefix[line.kind] || line.kind) + " " + text));
        lines.push(li);
      }
    }
    if (s.dropped_lines) lines.push(el("li", s.dropped_lines + " more lines not kept (--journal-max-lines)", "t-note"));
    $("transcript").replaceChildren(...lines);
  } catch (error) {
    if (error instanceof Unauthorized) unauthorized();
    $("transcript").replaceChildren(el("li", "Could not load the transcript: " + error.message));
  }
}

function ruleLeft(r) {
  const limit = r.number_of_answer;
  if (limit == null) return "unlimited";
  const keys = Object.entries(r.keys || {});
  if (r.count_per === "global") return String(Math.max(0, limit - r.answered));
  const each = limit + " per " + r.count_per.replace("_", " ");
  return keys.length ? each + "; " + keys.map(([k, s]) => k + ": " + Math.max(0, limit - s.answered)).join(", ") : each;
}
function ruleNext(r) {
  if (r.next) return r.next;
  const keys = Object.entries(r.keys || {});
  return keys.length === 1 ? keys[0][1].next : keys.map(([k, s]) => k + ": " + s.next).join(", ");
}
function renderRules(data) {
  fill("rules", data.rules || [], (r) => {
    const tr = el("tr");
    const next = ruleNext(r);
    if (r.count_per === "global" && next === "exhausted") tr.className = "exhausted";
    tr.append(cell(r.id, "nowrap"), cell(r.origin), cell((r.commands || []).join(" ")), cell(r.answered, "num"),
      cell(ruleLeft(r)), cell(next));
    return tr;
  });
}

function renderGreylist(data) {
  fill("greylist", data.entries || [], (g) => {
    const tr = el("tr");
    tr.append(cell(g.key), cell(g.state), cell(g.attempts, "num"), cell(seconds(g.first_seconds_ago) + " ago", "nowrap"),
      cell(seconds(g.last_seconds_ago) + " ago", "nowrap"), cell(seconds(g.last_gap_seconds), "nowrap"));
    return tr;
  });
}

function renderInfo(info) {
  $("count-messages").textContent = info.Messages;
  $("count-accepted").textContent = info.RuntimeStats ? info.RuntimeStats.SMTPAccepted : "–";
  $("uptime").textContent = info.RuntimeStats ? seconds(info.RuntimeStats.Uptime) : "–";
  $("capture-note").hidden = info.Database === "memory";
}

// -- refresh -----------------------------------------------------------------

const SECTIONS = [
  { name: "mode", path: "api/v1/mode", render: renderMode, note: "mode-read-note", redraw: true },
  { name: "info", path: "api/v1/info", render: renderInfo, note: "counters-note", redraw: true },
  { name: "sessions", path: "api/v1/sessions?limit=25", render: renderSessions, note: "sessions-note" },
  { name: "messages", path: "api/v1/messages?limit=50", render: renderMessages, note: "messages-note" },
  { name: "rules", path: "api/v1/rules", render: renderRules, note: "rules-note" },
  { name: "greylist", path: "api/v1/greylist", render: renderGreylist, note: "greylist-note" },
];
let busy = false;
let again = false;

// Loads one section; answers the error that stopped it, or null.
async function load(section) {
  try {
    const data = await getJSON(section.path);
    note(section.note, "");
    // Redraw a table only when its data changed, so focus and selection stay put.
    const text = JSON.stringify(data);
    if (section.redraw || shown[section.name] !== text) { shown[section.name] = text; section.render(data); }
    return null;
  } catch (error) {
    delete shown[section.name];
    if (error instanceof Unauthorized) { unauthorized(); note(section.note, "Reading this needs the API token."); }
    else if (!(error instanceof Unreachable)) note(section.note, error.message);
    return error;
  }
}
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    const errors = (await Promise.all(SECTIONS.map(load))).filter(Boolean);
    const unreachable = errors.filter((e) => e instanceof Unreachable);
    waitingForToken = errors.length === SECTIONS.length && errors.every((e) => e instanceof Unauthorized);
    if (unreachable.length === SECTIONS.length) {
      note("problem", "Cannot reach sinkhole at " + location.host + " (" + unreachable[0].message + "). Retrying every 2 s.");
    } else if (waitingForToken) {
      note("problem", "");
      $("status").textContent = "Waiting for the API token.";
    } else {
      note("problem", "");
      $("status").textContent = "Updated " + time(new Date()) + " from " + location.host;
    }
  } finally {
    busy = false;
    if (again) { again = false; refresh(); }
  }
}

let soon = null;
function refreshSoon() { clearTimeout(soon); soon = setTimeout(refresh, 100); }

function listen() {
  if (!("EventSource" in window)) { $("live").textContent = "Refreshed every 2 s (this browser has no EventSource)."; return; }
  const source = new EventSource("api/v1/events");
  source.onopen = () => { $("live").textContent = "Live: refreshed on each event and every 2 s."; };
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      // 401 (EventSource cannot send the token), 409 (events off) or 429 (too many listeners).
      $("live").textContent = "Refreshed every 2 s (no live events: the event stream refused this page).";
      if (!storedToken()) setTimeout(listen, 30000);
    } else {
      $("live").textContent = "Refreshed every 2 s (live events reconnecting…).";
    }
  };
  for (const type of ["message_captured", "session_closed", "mode_changed", "rule_exhausted"]) source.addEventListener(type, refreshSoon);
}

setInterval(() => { if (!document.hidden && !waitingForToken) refresh(); }, 2000);
document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
refresh();
listen();
</script>
</body>
</html>
"""#
}
