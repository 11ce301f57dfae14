// The reference web player: the screen side of docs/devices.md, in a browser.
//
// register → show the pairing code → poll /devices/self until approved → WebSocket
// (hello with the secret and last_seq) → play the manifest, take the screen over for
// emergencies, acknowledge both, heartbeat with status, answer commands → reconnect by
// the contract. The secret lives in localStorage (this origin only; the page's policy
// lets no other script run here).

import { parseRetryAfter, reconnectDelay } from "./backoff.js";
import { MediaStore } from "./media.js";
import { Playback } from "./playback.js";

export const APP_VERSION = "web-player 1.0.0";
const IDENTITY_KEY = "signage.player.identity.v1";
const HARDWARE_KEY = "signage.player.hardware-id.v1";
const MANIFEST_KEY = "signage.player.manifest.v1";
const API = "/api/v1";
/** Well inside WS_IDLE_TIMEOUT_S (90 s): two may be lost before the node gives up. */
const HEARTBEAT_MS = 30000;
const SELF_POLL_MS = 3000;
const SUSPENDED_POLL_MS = 30000;
const IDENTIFY_MS = 10000;
const ERROR_REPORT_MS = 2000;
const SEVERITY_RANK = { info: 0, warning: 1, critical: 2 };
// Proof of play (docs/devices.md): plays are kept (localStorage: an outage loses none, up
// to PLAYS_KEPT, oldest dropped first) and sent oldest first, PLAYS_PER_FRAME a frame,
// when that many are waiting or the oldest has waited the report interval; at most one
// frame per PLAYS_CHECK_MS stays within the node's 2 items/s. `/player?report_s=N` sets
// the interval (5 … 3,600 s).
const PLAYS_KEY = "signage.player.plays.v1";
const PLAYS_KEPT = 2000;
const PLAYS_PER_FRAME = 20;
const PLAYS_CHECK_MS = 10000;
const PLAYS_REPORT_MS = reportInterval();
const MAX_PLAY_MS = 86400000;

const $ = (id) => document.getElementById(id);
const started = performance.now();

const player = {
  identity: loadJson(IDENTITY_KEY),
  manifest: loadJson(MANIFEST_KEY),
  lastError: null,
  lastSeq: 0,
  clockOffsetMs: 0,
  socket: null,
  failures: 0,
  /** @type {Map<string, object>} active emergencies by id */
  emergencies: new Map(),
  expiryTimers: new Map(),
  heartbeatTimer: null,
  errorReport: null,
  plays: loadJson(PLAYS_KEY) || [],
  /** The last batch sent: sent again after a reconnect (the node counts a play once). */
  lastBatch: null,
};

const media = new MediaStore((message) => noteError(message));
const playback = new Playback({
  now: serverNow,
  render: renderItem,
  visible: () => player.emergencies.size === 0,
  played: recordPlay,
});

// --- small helpers ------------------------------------------------------------------------

function loadJson(key) {
  try {
    const text = localStorage.getItem(key);
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

function saveJson(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
  } catch (error) {
    noteError(`storage: ${error.message}`);
  }
}

function serverNow() {
  return Date.now() + player.clockOffsetMs;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function noteError(message) {
  player.lastError = String(message).slice(0, 500);
  console.warn("player:", player.lastError);
  // Reported with the next status, soon: an operator sees a broken item without waiting
  // for the regular heartbeat (at most one extra frame per ERROR_REPORT_MS).
  if (player.errorReport === null) {
    player.errorReport = setTimeout(() => {
      player.errorReport = null;
      heartbeat();
    }, ERROR_REPORT_MS);
  }
}

function setPhase(phase) {
  document.body.dataset.phase = phase;
  $("status-dot").title = phase;
}

function hardwareId() {
  let id = localStorage.getItem(HARDWARE_KEY);
  if (!id) {
    // getRandomValues exists outside secure contexts too (randomUUID does not).
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    id = "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    localStorage.setItem(HARDWARE_KEY, id);
  }
  return id;
}

function showNotice(text) {
  $("notice-text").textContent = text;
  $("notice").hidden = !text;
}

// --- registration and approval ------------------------------------------------------------

async function register() {
  for (let attempt = 0; ; attempt++) {
    let response;
    try {
      response = await fetch(`${API}/devices/register`, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ hardware_id: hardwareId(), model: "web player", app_version: APP_VERSION }),
      });
    } catch (error) {
      noteError(`register: ${error.message}`);
      await sleep(reconnectDelay(attempt));
      continue;
    }
    if (response.status === 201) {
      player.identity = await response.json();
      saveJson(IDENTITY_KEY, player.identity);
      saveJson(MANIFEST_KEY, null);
      player.manifest = null;
      return;
    }
    noteError(`register: HTTP ${response.status}`);
    const floor = parseRetryAfter(response.headers.get("Retry-After"));
    await sleep(reconnectDelay(attempt, { retryAfterS: floor }));
  }
}

function showPairing() {
  const { pairing_code: code, pairing_expires_at: expires } = player.identity;
  $("pairing-code").textContent = code.length === 8 ? `${code.slice(0, 4)}-${code.slice(4)}` : code;
  const minutes = Math.max(0, Math.round((Date.parse(expires) - Date.now()) / 60000));
  $("pairing-expiry").textContent = `Valid for about ${minutes} more minute(s). Device ${player.identity.device_id}`;
  $("pairing-console").textContent = `${location.origin}/console`;
  $("pairing").hidden = false;
  setPhase("pairing");
}

/** `GET /devices/self`: the status, or a reason to register again. */
async function selfStatus() {
  const response = await fetch(`${API}/devices/self`, {
    headers: { Authorization: `Bearer ${player.identity.device_secret}` },
    cache: "no-store",
  });
  if (response.status === 200) return { status: (await response.json()).status };
  if (response.status === 401) return { status: "unknown" };
  return { status: "retry", retryAfterS: parseRetryAfter(response.headers.get("Retry-After")) };
}

/** Returns once this screen is approved (registering again whenever it has to). */
async function awaitApproval() {
  for (let failures = 0; ; ) {
    if (!player.identity) await register();
    let answer;
    try {
      answer = await selfStatus();
    } catch (error) {
      noteError(`devices/self: ${error.message}`);
      await sleep(reconnectDelay(failures++));
      continue;
    }
    failures = 0;
    if (answer.status === "approved") {
      $("pairing").hidden = true;
      showNotice("");
      return;
    }
    if (answer.status === "unknown" || answer.status === "revoked") {
      // Unknown: the pending registration expired and was purged. Revoked: an admin
      // removed the screen; it may be claimed again under a new registration.
      showNotice(answer.status === "revoked" ? "This screen was revoked. Claim it again:" : "");
      forgetIdentity();
      continue;
    }
    if (answer.status === "suspended") {
      $("pairing").hidden = true;
      showNotice("This screen's organisation is suspended.");
      setPhase("suspended");
      await sleep(SUSPENDED_POLL_MS);
      continue;
    }
    if (answer.status === "pending") {
      if (Date.parse(player.identity.pairing_expires_at) <= Date.now()) {
        forgetIdentity();
        continue;
      }
      showPairing();
      await sleep(SELF_POLL_MS);
      continue;
    }
    await sleep(Math.max(SELF_POLL_MS, (answer.retryAfterS || 0) * 1000));
  }
}

function forgetIdentity() {
  player.identity = null;
  player.manifest = null;
  saveJson(IDENTITY_KEY, null);
  saveJson(MANIFEST_KEY, null);
  player.plays = []; // another registration's plays: no node would count them
  player.lastBatch = null;
  saveJson(PLAYS_KEY, null);
  playback.load({ slices: [], content: [] });
}

// --- the WebSocket session ----------------------------------------------------------------

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${API}/devices/ws`;
}

/** One session, from the upgrade to the close: resolves with how it ended. */
function session() {
  return new Promise((resolve) => {
    const ws = new WebSocket(socketUrl());
    const ended = { opened: false, welcomed: false, code: null, afterMs: null };
    player.socket = ws;
    ws.onopen = () => {
      ended.opened = true;
      send({ type: "hello", token: player.identity.device_secret, last_seq: player.lastSeq });
    };
    ws.onmessage = (event) => {
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        noteError("server sent a frame that is not JSON");
        return;
      }
      if (frame.type === "welcome") ended.welcomed = true;
      if (frame.type === "reconnect") ended.afterMs = Number(frame.after_ms) || 0;
      onFrame(frame);
    };
    ws.onclose = (event) => {
      ended.code = event.code;
      player.socket = null;
      clearInterval(player.heartbeatTimer);
      resolve(ended);
    };
  });
}

function send(frame) {
  if (player.socket && player.socket.readyState === WebSocket.OPEN) {
    player.socket.send(JSON.stringify(frame));
  }
}

async function runSessions() {
  for (;;) {
    await awaitApproval();
    setPhase("connecting");
    const ended = await session();
    setPhase("offline");
    if (ended.welcomed) player.failures = 0;
    if (ended.code === 4401) {
      // Final until the device's status changes: ask what it is now (unknown after a
      // rotation, revoked, suspended) before any new attempt, after the usual wait.
      await sleep(reconnectDelay(player.failures++));
      continue;
    }
    let retryAfterS = null;
    if (!ended.opened) {
      // Refused before the upgrade (429, 503): a browser never sees that answer's status
      // or Retry-After, so ask an HTTP endpoint of the same node, which carries its own.
      try {
        const answer = await selfStatus();
        if (answer.status !== "approved" && answer.status !== "retry") continue;
        retryAfterS = answer.retryAfterS ?? null;
      } catch {
        // The node is unreachable: plain backoff.
      }
    }
    const delay = reconnectDelay(player.failures, { retryAfterS, afterMs: ended.afterMs });
    player.failures += 1;
    await sleep(delay);
  }
}

// --- frames from the node -----------------------------------------------------------------

function onFrame(frame) {
  if (typeof frame.seq === "number") player.lastSeq = Math.max(player.lastSeq, frame.seq);
  switch (frame.type) {
    case "welcome":
      player.clockOffsetMs = Date.parse(frame.server_time) - Date.now();
      setPhase("online");
      heartbeat();
      player.heartbeatTimer = setInterval(heartbeat, HEARTBEAT_MS);
      // A batch the node may not have handled before the last session ended.
      if (player.lastBatch) send({ type: "played", items: player.lastBatch });
      break;
    case "manifest":
      onManifest(frame);
      break;
    case "emergency":
      onEmergency(frame);
      break;
    case "emergency_clear":
      endEmergency(frame.id);
      break;
    case "command":
      onCommand(frame);
      break;
    case "error":
      noteError(`server: ${frame.detail}`);
      break;
    case "revoked":
      showNotice("This screen was revoked.");
      break;
    default:
      break; // reconnect (handled by the session), and frames of newer nodes
  }
}

function onManifest(frame) {
  player.manifest = frame;
  saveJson(MANIFEST_KEY, frame);
  startPlayback();
  send({ type: "ack", manifest_version: frame.version });
  heartbeat(); // what plays changed: the console shows it from the next status write
}

function startPlayback() {
  const contents = player.manifest.content || [];
  media.prefetch(contents);
  playback.load(player.manifest);
  // A media item that becomes ready while the screen idles is shown at once.
  for (const content of contents) {
    if (content.sha256 && !media.url(content)) {
      media.ensure(content).then(() => {
        if (document.body.dataset.showing === "idle") playback.advance();
      });
    }
  }
}

// --- content ------------------------------------------------------------------------------

/** Show one item (null: idle). False when it cannot be shown now (media not verified). */
function renderItem(item, content) {
  const stage = $("stage");
  if (item === null || content === null) {
    const idle = document.createElement("div");
    idle.className = "idle";
    stage.replaceChildren(idle);
    document.body.dataset.showing = "idle";
    return true;
  }
  const element = contentElement(content);
  if (element === null) return false;
  element.dataset.contentId = content.id;
  stage.replaceChildren(element);
  document.body.dataset.showing = content.kind;
  return true;
}

function contentElement(content) {
  switch (content.kind) {
    case "text": {
      const box = document.createElement("div");
      box.className = "text";
      box.textContent = content.body || "";
      return box;
    }
    case "html": {
      // No scripts, no same-origin, no forms, no popups: the editor's markup and styles only.
      const frame = document.createElement("iframe");
      frame.setAttribute("sandbox", "");
      frame.setAttribute("referrerpolicy", "no-referrer");
      frame.srcdoc = content.body || "";
      return frame;
    }
    case "url": {
      if (!/^https?:\/\//i.test(content.url || "")) return null;
      // Scripts run (web pages need them) in an opaque origin: never this page's storage.
      const frame = document.createElement("iframe");
      frame.setAttribute("sandbox", "allow-scripts");
      frame.setAttribute("referrerpolicy", "no-referrer");
      frame.src = content.url;
      return frame;
    }
    case "image":
    case "video": {
      const src = media.url(content);
      if (src === null) return null;
      const element = document.createElement(content.kind === "image" ? "img" : "video");
      element.className = "media";
      element.src = src;
      if (content.kind === "video") {
        element.muted = true;
        element.autoplay = true;
        element.loop = true;
        element.playsInline = true;
      }
      return element;
    }
    default:
      return null; // a kind this player does not know
  }
}

// --- emergencies --------------------------------------------------------------------------

function onEmergency(frame) {
  playback.endPlay(); // the content is hidden from now on: its play ends here
  player.emergencies.set(frame.id, frame);
  clearTimeout(player.expiryTimers.get(frame.id));
  if (frame.expires_at) {
    const left = Date.parse(frame.expires_at) - serverNow();
    player.expiryTimers.set(frame.id, setTimeout(() => endEmergency(frame.id), Math.max(0, left)));
  }
  renderEmergency(); // first: on screen in this very task, before anything else
  send({ type: "ack", emergency_id: frame.id });
}

function endEmergency(id) {
  clearTimeout(player.expiryTimers.get(id));
  player.expiryTimers.delete(id);
  const wasShown = player.emergencies.delete(id);
  renderEmergency();
  if (wasShown && player.emergencies.size === 0 && player.manifest) playback.advance();
}

/** The takeover shows the most severe active emergency, the newest among equals. */
function renderEmergency() {
  const shown = [...player.emergencies.values()].sort(
    (a, b) => SEVERITY_RANK[b.severity] - SEVERITY_RANK[a.severity] || b.seq - a.seq,
  )[0];
  const panel = $("emergency");
  if (!shown) {
    panel.hidden = true;
    delete panel.dataset.emergencyId;
    document.body.classList.remove("taken-over");
    return;
  }
  const drill = shown.mode === "drill";
  panel.dataset.emergencyId = shown.id;
  panel.dataset.severity = shown.severity;
  panel.dataset.mode = drill ? "drill" : "live";
  $("emergency-severity").textContent = shown.severity.toUpperCase();
  $("emergency-message").textContent = shown.message;
  $("emergency-drill").hidden = !drill;
  $("emergency-drill-foot").hidden = !drill;
  panel.hidden = false;
  document.body.classList.add("taken-over");
}

// --- commands -----------------------------------------------------------------------------

async function onCommand(frame) {
  const answer = (result, detail) =>
    send({ type: "command_result", id: frame.id, result, ...(detail ? { detail: detail.slice(0, 200) } : {}) });
  switch (frame.name) {
    case "reload":
    case "reboot":
      // A browser cannot restart its device: both restart the player. Answered just
      // before, as the contract asks for reboot (the socket ends with the page).
      answer("ok", frame.name === "reboot" ? "the web player restarts itself" : undefined);
      setTimeout(() => location.reload(), 100);
      return;
    case "clear_cache":
      try {
        await media.clear();
        if (player.manifest) startPlayback();
        answer("ok");
      } catch (error) {
        answer("failed", error.message);
      }
      return;
    case "identify":
      $("identify-text").textContent = `Device ${player.identity.device_id}`;
      $("identify").hidden = false;
      setTimeout(() => {
        $("identify").hidden = true;
      }, IDENTIFY_MS);
      answer("ok");
      return;
    default:
      answer("unsupported");
  }
}

// --- proof of play ------------------------------------------------------------------------

function reportInterval() {
  const given = Number(new URLSearchParams(location.search).get("report_s"));
  return Number.isFinite(given) && given >= 5 ? Math.min(given, 3600) * 1000 : 60000;
}

function recordPlay(contentId, startMs, ms) {
  player.plays.push({
    content_id: contentId,
    started_at: new Date(startMs).toISOString(),
    duration_ms: Math.min(MAX_PLAY_MS, Math.round(ms)),
  });
  if (player.plays.length > PLAYS_KEPT) player.plays.splice(0, player.plays.length - PLAYS_KEPT);
  saveJson(PLAYS_KEY, player.plays);
}

function reportPlays() {
  if (!player.socket || player.socket.readyState !== WebSocket.OPEN || !player.plays.length) return;
  const oldest = Date.parse(player.plays[0].started_at);
  if (player.plays.length < PLAYS_PER_FRAME && serverNow() - oldest < PLAYS_REPORT_MS) return;
  const batch = player.plays.slice(0, PLAYS_PER_FRAME);
  send({ type: "played", items: batch });
  player.lastBatch = batch;
  player.plays.splice(0, batch.length);
  saveJson(PLAYS_KEY, player.plays);
}

// --- heartbeats ---------------------------------------------------------------------------

async function heartbeat() {
  const status = {
    type: "heartbeat",
    app_version: APP_VERSION,
    uptime_s: Math.round((performance.now() - started) / 100) / 10,
    display_on: document.visibilityState === "visible",
    last_error: player.lastError,
    playing: player.emergencies.size ? `emergency:${$("emergency").dataset.emergencyId}` : playback.playing(),
  };
  if (player.manifest) status.manifest_version = player.manifest.version;
  try {
    if (navigator.storage && navigator.storage.estimate) {
      const { quota, usage } = await navigator.storage.estimate();
      if (Number.isFinite(quota) && Number.isFinite(usage)) {
        status.free_storage_bytes = Math.max(0, Math.floor(quota - usage));
      }
    }
  } catch {
    // not reported where the browser will not say
  }
  send(status);
}

// --- start --------------------------------------------------------------------------------

function start() {
  setPhase("starting");
  // The page itself for offline starts (sw.js); where browsers have no service workers
  // (plain http on a LAN address) the player works the same, only not from a cold start.
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker
      .register("player/sw.js", { scope: "/player" })
      .catch((error) => noteError(`service worker: ${error.message}`));
  }
  // Offline start: what was playing before the page loaded plays again at once.
  if (player.identity && player.manifest) startPlayback();
  else renderItem(null, null);
  setInterval(reportPlays, PLAYS_CHECK_MS);
  runSessions();
}

start();
