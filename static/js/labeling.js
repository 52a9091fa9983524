// Shared helpers of the labeling pages: page config, JSON calls with CSRF, live project events.

export function readConfig() {
  return JSON.parse(document.getElementById("labeling-config").textContent);
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : "";
}

export class RequestError extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function parse(response) {
  let body = {};
  try {
    body = await response.json();
  } catch (error) {
    body = { detail: `Server answered ${response.status}.` };
  }
  if (!response.ok) throw new RequestError(body.detail || `Server answered ${response.status}.`, response.status);
  return body;
}

export async function postJSON(url, data = {}) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
    body: JSON.stringify(data),
  });
  return parse(response);
}

export async function getJSON(url) {
  return parse(await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } }));
}

export function setStatus(text, isError = false) {
  const status = document.getElementById("status");
  if (!status) return;
  status.textContent = text;
  status.classList.toggle("error", isError);
}

export function updateCounts(counts) {
  for (const [name, value] of Object.entries(counts)) {
    const cell = document.querySelector(`[data-count="${name}"]`);
    if (cell) cell.textContent = name === "version" && !value ? "—" : String(value);
  }
}

export function showRoundProgress(event) {
  const box = document.getElementById("round");
  const bar = document.getElementById("round-progress");
  if (!box || !bar) return;
  if (event.type === "round.started") {
    box.hidden = false;
    bar.value = 0;
  } else if (event.type === "round.progress") {
    box.hidden = false;
    const fraction = event.fraction ?? (event.steps ? event.step / event.steps : 0);
    bar.value = Math.max(0, Math.min(1, fraction));
    const loss = event.losses && event.losses.loss;
    bar.title = loss === undefined ? "" : `loss ${Number(loss).toFixed(3)}`;
  } else if (event.type === "version.ready") {
    box.hidden = true;
  }
}

// Listen to the project's websocket (the training app's live.js) and keep the page's version.
// onVersion(n) runs once per newer version, whether announced or found when catching up after a
// missed message (on reconnect, and every 30 s).
export function followProject(config, { onVersion, onEvent = () => {} }) {
  let known = config.version || 0;
  const seeVersion = (version) => {
    if (version > known) {
      known = version;
      onVersion(version);
    }
  };
  const catchUp = async () => {
    try {
      const state = await getJSON(config.urls.state);
      updateCounts(state);
      seeVersion(state.version);
    } catch (error) {
      /* offline for a moment: the next reconnect catches up */
    }
  };
  const handle = (event) => {
    showRoundProgress(event);
    onEvent(event);
    if (event.type === "version.ready") seeVersion(event.version);
    if (event.type === "version.ready") catchUp();
  };
  import("./live.js")
    .then((live) => live.connectProject(config.slug, { onEvent: handle, onReconnect: catchUp }))
    .catch(() => {});
  setInterval(catchUp, 30000); // a safety net for messages missed while the socket looked open
  return { handle, catchUp, version: () => known };
}

export function showVersionBanner(version, text) {
  const banner = document.getElementById("version-banner");
  if (!banner) return;
  document.getElementById("version-text").textContent = text || `Model version ${version} is ready.`;
  banner.hidden = false;
}

// True when a key event is not the page's: typing in a field, or the "?" list of keys is open.
export function isTyping(event) {
  const target = event.target;
  const help = document.getElementById("keys-help");
  if (help && help.open) return true;
  return target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable);
}

// "?" opens and closes the page's list of keys (templates/labeling/_keys_help.html); Esc closes it too.
export function installKeysHelp() {
  const help = document.getElementById("keys-help");
  if (!help) return;
  document.addEventListener("keydown", (event) => {
    if (event.key !== "?" || event.ctrlKey || event.metaKey || event.altKey) return;
    const target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.isContentEditable)) return;
    event.preventDefault();
    if (help.open) help.close();
    else help.showModal();
  });
}

export function classForKey(classes, key) {
  return classes.find((c) => c.key && c.key.toLowerCase() === key.toLowerCase());
}
