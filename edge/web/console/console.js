// The minimal operator console: log in, claim screens, watch them, trigger and clear an
// emergency and watch its delivery. It speaks the public API with the signed-in user's
// tokens (kept in sessionStorage: this tab only, gone when it closes), so every action
// is checked, audited and refused exactly as it would be from any other client.
//
// The DOM is built with textContent only: names and messages are never parsed as HTML.

const API = "/api/v1";
const TOKENS_KEY = "signage.console.tokens.v1";
const TENANT_KEY = "signage.console.tenant.v1";
/** The sign-in under way with a provider: which tenant's (null: the platform's). */
const SSO_KEY = "signage.console.sso.v1";
/** What a provider sends the browser back with, as the callback endpoint takes it. */
const SSO_PARAMS = ["state", "code", "iss", "error", "error_description", "error_uri", "session_state"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const SCREENS_POLL_MS = 2000;
const DELIVERY_POLL_MS = 500;
/** Screens listed under a watched emergency (its first page, by name). */
const DELIVERY_ROWS = 50;

const $ = (id) => document.getElementById(id);

const consoleState = {
  tokens: loadTokens(),
  me: null,
  tenantId: sessionStorage.getItem(TENANT_KEY),
  challenge: null,
  watching: null,
  timers: [],
};

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
  }
}

function loadTokens() {
  try {
    return JSON.parse(sessionStorage.getItem(TOKENS_KEY) || "null");
  } catch {
    return null;
  }
}

function saveTokens(tokens) {
  consoleState.tokens = tokens;
  if (tokens) sessionStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
  else sessionStorage.removeItem(TOKENS_KEY);
}

function say(text, isError = false) {
  const box = $("message");
  box.textContent = text;
  box.classList.toggle("error", isError);
  box.hidden = !text;
}

/** One API call; refreshes the access token once on a 401. */
async function api(method, path, body, retried = false) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (consoleState.tokens) headers.Authorization = `Bearer ${consoleState.tokens.access_token}`;
  const response = await fetch(`${API}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (response.status === 401 && consoleState.tokens && !retried && (await refresh())) {
    return api(method, path, body, true);
  }
  if (response.status === 204) return null;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

async function refresh() {
  const response = await fetch(`${API}/auth/refresh`, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ refresh_token: consoleState.tokens.refresh_token }),
  });
  if (!response.ok) {
    signedOut("Your session ended: log in again.");
    return false;
  }
  saveTokens(await response.json());
  return true;
}

function element(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function when(iso) {
  if (!iso) return "never";
  const seconds = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return `${Math.max(0, seconds)} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return new Date(iso).toLocaleString();
}

function groupsOf(text) {
  return text
    .split(",")
    .map((g) => g.trim())
    .filter(Boolean);
}

function tenantPath(rest) {
  return `/tenants/${consoleState.tenantId}${rest}`;
}

// --- signing in and out -------------------------------------------------------------------

async function onLogin(event) {
  event.preventDefault();
  say("");
  try {
    const answer = await api("POST", "/auth/login", {
      email: $("login-email").value,
      password: $("login-password").value,
    });
    if (answer.mfa_required) {
      consoleState.challenge = answer.challenge;
      $("login-form").hidden = true;
      $("mfa-form").hidden = false;
      $("mfa-code").focus();
      return;
    }
    saveTokens(answer);
    await signedIn();
  } catch (error) {
    say(error.status === 401 ? "Wrong email or password." : error.message, true);
  }
}

async function onMfa(event) {
  event.preventDefault();
  try {
    const tokens = await api("POST", "/auth/login/mfa", {
      challenge: consoleState.challenge,
      code: $("mfa-code").value.trim(),
    });
    saveTokens(tokens);
    await signedIn();
  } catch (error) {
    say(error.message, true);
  }
}

async function onLogout() {
  const tokens = consoleState.tokens;
  if (tokens) {
    await api("POST", "/auth/logout", { refresh_token: tokens.refresh_token }).catch(() => null);
  }
  signedOut("Logged out.");
}

function signedOut(text) {
  saveTokens(null);
  consoleState.me = null;
  consoleState.timers.forEach(clearInterval);
  consoleState.timers = [];
  $("app-view").hidden = true;
  $("who").hidden = true;
  $("login-view").hidden = false;
  $("login-form").hidden = false;
  $("mfa-form").hidden = true;
  say(text);
}

async function signedIn() {
  const me = await api("GET", "/me");
  consoleState.me = me;
  if (me.required_actions && me.required_actions.length) {
    say(`Your account must first: ${me.required_actions.join(", ")} (see docs/security.md).`, true);
  }
  $("login-view").hidden = true;
  $("who").hidden = false;
  $("who-email").textContent = me.email;
  $("app-view").hidden = false;
  await loadTenants();
  consoleState.timers.push(setInterval(refreshScreens, SCREENS_POLL_MS));
  consoleState.timers.push(setInterval(refreshEmergencies, SCREENS_POLL_MS));
}

// --- single sign-on -----------------------------------------------------------------------
//
// A tenant's (or the platform's) provider is configured with this page as its redirect
// URI (docs/see-it-work.md): `/console?sso=<tenant id>` (or `?sso=platform`) offers the
// button; the provider sends the browser back here with `state` and `code`, which this
// script hands to the callback endpoint for the token pair.

function ssoScope() {
  const wanted = new URLSearchParams(location.search).get("sso");
  if (wanted === "platform") return { tenant: null };
  if (wanted && UUID.test(wanted)) return { tenant: wanted.toLowerCase() };
  return undefined;
}

function ssoPath(scope) {
  return scope.tenant === null ? "/sso" : `/tenants/${scope.tenant}/sso`;
}

function onSsoStart() {
  const scope = ssoScope();
  sessionStorage.setItem(SSO_KEY, JSON.stringify(scope));
  location.assign(`${API}${ssoPath(scope)}/start`);
}

/** Finish a sign-in the provider sent back here; true if there was one to finish. */
async function finishSso() {
  const given = new URLSearchParams(location.search);
  const pending = sessionStorage.getItem(SSO_KEY);
  if (!pending || !(given.has("code") || given.has("error"))) return false;
  sessionStorage.removeItem(SSO_KEY);
  // The code leaves the address bar (and the history) before anything else runs.
  history.replaceState(null, "", location.pathname);
  const query = new URLSearchParams();
  for (const name of SSO_PARAMS) if (given.has(name)) query.set(name, given.get(name));
  saveTokens(null); // the callback is the only credential here
  try {
    saveTokens(await api("GET", `${ssoPath(JSON.parse(pending))}/callback?${query}`));
    await signedIn();
  } catch (error) {
    saveTokens(null);
    say(`Single sign-on failed: ${error.message}`, true);
  }
  return true;
}

// --- tenants ------------------------------------------------------------------------------

async function loadTenants() {
  const select = $("tenant");
  const platform = consoleState.me.tenant_id === null;
  $("tenant-create-view").hidden = !platform || !consoleState.me.roles.includes("platform_admin");
  let tenants;
  if (platform) {
    tenants = (await api("GET", "/tenants?limit=1000")).items;
  } else {
    tenants = [await api("GET", `/tenants/${consoleState.me.tenant_id}`)];
  }
  select.replaceChildren(...tenants.map((t) => {
    const option = element("option", `${t.name} (${t.slug})`);
    option.value = t.id;
    return option;
  }));
  const known = tenants.some((t) => t.id === consoleState.tenantId);
  consoleState.tenantId = known ? consoleState.tenantId : tenants.length ? tenants[0].id : null;
  select.value = consoleState.tenantId || "";
  select.disabled = tenants.length < 2;
  if (!consoleState.tenantId) say("No tenant yet: create one first.");
  await refreshAll();
}

async function onTenantChange() {
  consoleState.tenantId = $("tenant").value;
  sessionStorage.setItem(TENANT_KEY, consoleState.tenantId);
  consoleState.watching = null;
  $("delivery").hidden = true;
  await refreshAll();
}

async function onCreateTenant(event) {
  event.preventDefault();
  try {
    const tenant = await api("POST", "/tenants", { name: $("tenant-name").value, slug: $("tenant-slug").value });
    consoleState.tenantId = tenant.id;
    sessionStorage.setItem(TENANT_KEY, tenant.id);
    event.target.reset();
    say(`Tenant ${tenant.name} created.`);
    await loadTenants();
  } catch (error) {
    say(error.message, true);
  }
}

async function refreshAll() {
  await Promise.all([refreshScreens(), refreshEmergencies()]);
}

// --- screens ------------------------------------------------------------------------------

async function onClaim(event) {
  event.preventDefault();
  try {
    const device = await api("POST", tenantPath("/devices/claim"), {
      pairing_code: $("claim-code").value.trim(),
      name: $("claim-name").value.trim(),
      groups: groupsOf($("claim-groups").value),
    });
    event.target.reset();
    say(`Claimed ${device.name}.`);
    await refreshScreens();
  } catch (error) {
    say(error.status === 404 ? "Unknown, expired or already used pairing code." : error.message, true);
  }
}

async function refreshScreens() {
  if (!consoleState.tenantId || !consoleState.tokens) return;
  let page;
  try {
    page = await api("GET", tenantPath("/devices?limit=200"));
  } catch (error) {
    if (error.status !== 401) say(error.message, true);
    return;
  }
  const rows = page.items.map((device) => {
    const row = element("tr");
    row.dataset.deviceId = device.id;
    const state = device.status !== "approved" ? device.status : device.online ? "online" : "offline";
    row.dataset.state = state;
    const health = device.health || {};
    row.append(
      element("td", device.name),
      element("td", state, state === "online" ? "online" : state === "pending" ? "pending" : "offline"),
      element("td", (device.groups || []).join(", ")),
      element("td", device.online ? "now" : when(device.last_seen_at)),
      element("td", device.node_id || ""),
      element("td", device.app_version || ""),
      element("td", health.playing || ""),
    );
    return row;
  });
  $("screens").replaceChildren(...rows);
  const online = page.items.filter((d) => d.online).length;
  $("screens-count").textContent = `${online} of ${page.items.length} online`;
}

// --- emergencies --------------------------------------------------------------------------

async function onTrigger(event) {
  event.preventDefault();
  const groups = groupsOf($("emergency-groups").value);
  try {
    const started = await api("POST", tenantPath("/emergencies"), {
      message: $("emergency-message").value,
      severity: $("emergency-severity").value,
      mode: $("emergency-mode").value,
      target: groups.length ? { groups } : { all: true },
    });
    say(`Emergency triggered: ${started.targeted} screen(s) targeted.`);
    watch(started.id);
    await refreshEmergencies();
  } catch (error) {
    say(error.message, true);
  }
}

async function clearEmergency(id) {
  try {
    await api("POST", tenantPath(`/emergencies/${id}/clear`));
    say("Emergency cleared.");
    await refreshEmergencies();
  } catch (error) {
    say(error.message, true);
  }
}

async function refreshEmergencies() {
  if (!consoleState.tenantId || !consoleState.tokens) return;
  let page;
  try {
    page = await api("GET", tenantPath("/emergencies?active=true"));
  } catch (error) {
    if (error.status !== 401) say(error.message, true);
    return;
  }
  const items = page.items.map((emergency) => {
    const item = element("li");
    item.dataset.emergencyId = emergency.id;
    const mode = emergency.mode || "live";
    const watchButton = element("button", "Watch delivery", "secondary");
    watchButton.type = "button";
    watchButton.addEventListener("click", () => watch(emergency.id));
    const clearButton = element("button", "Clear");
    clearButton.type = "button";
    clearButton.className = "clear";
    clearButton.addEventListener("click", () => clearEmergency(emergency.id));
    item.append(
      element("span", emergency.severity, `tag ${emergency.severity}`),
      element("span", mode, `tag ${mode}`),
      element("span", emergency.message),
      element("span", when(emergency.started_at), "muted"),
      watchButton,
      clearButton,
    );
    return item;
  });
  $("emergencies").replaceChildren(...(items.length ? items : [element("li", "None.", "muted")]));
}

/** Follow one emergency's delivery counters until it ends or another one is watched. */
function watch(id) {
  consoleState.watching = id;
  $("delivery").hidden = false;
  const tick = async () => {
    if (consoleState.watching !== id || !consoleState.tokens) return;
    try {
      const [detail, screens] = await Promise.all([
        api("GET", tenantPath(`/emergencies/${id}`)),
        api("GET", tenantPath(`/emergencies/${id}/deliveries?limit=${DELIVERY_ROWS}`)),
      ]);
      if (consoleState.watching !== id) return;
      showDelivery(detail);
      showScreens(screens);
      if (!detail.active) return; // ended: the last counts stay on screen
    } catch (error) {
      if (error.status !== 401) say(error.message, true);
      return;
    }
    setTimeout(tick, DELIVERY_POLL_MS);
  };
  tick();
}

function showDelivery(detail) {
  const d = detail.delivery;
  $("delivery-message").textContent = `"${detail.message}"${detail.active ? "" : " (ended)"}`;
  const share = d.targeted ? (100 * d.delivered) / d.targeted : 0;
  $("delivery-bar").style.width = `${share}%`;
  const latency = d.p50_ms === null ? "" : ` · p50 ${Math.round(d.p50_ms)} ms, p99 ${Math.round(d.p99_ms)} ms`;
  const counts = $("delivery-counts");
  counts.textContent =
    `${d.delivered} of ${d.targeted} delivered · ${d.pending} pending · ${d.offline} offline${latency}`;
  counts.dataset.delivered = String(d.delivered);
  counts.dataset.targeted = String(d.targeted);
}

function showScreens(page) {
  const rows = page.items.map((screen) => {
    const row = element("tr");
    row.dataset.deviceId = screen.device_id;
    row.dataset.state = screen.state;
    const css = screen.state === "delivered" ? "online" : screen.state === "pending" ? "pending" : "offline";
    row.append(
      element("td", screen.name),
      element("td", screen.state, css),
      element("td", screen.node || ""),
      element("td", screen.acked_at ? new Date(screen.acked_at).toLocaleTimeString() : ""),
      element("td", screen.latency_ms === null ? "" : `${Math.round(screen.latency_ms)} ms`),
    );
    return row;
  });
  $("delivery-screens").replaceChildren(...rows);
  $("delivery-more").hidden = !page.next_cursor;
}

// --- start --------------------------------------------------------------------------------

$("login-form").addEventListener("submit", onLogin);
$("mfa-form").addEventListener("submit", onMfa);
$("logout").addEventListener("click", onLogout);
$("tenant").addEventListener("change", onTenantChange);
$("tenant-form").addEventListener("submit", onCreateTenant);
$("claim-form").addEventListener("submit", onClaim);
$("emergency-form").addEventListener("submit", onTrigger);

$("sso-start").addEventListener("click", onSsoStart);
$("sso-view").hidden = ssoScope() === undefined;

finishSso().then((finished) => {
  if (!finished && consoleState.tokens) signedIn().catch(() => signedOut(""));
});
