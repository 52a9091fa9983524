// Pseudo-label review grid: arrows move, X/Space toggles reject, Enter accepts the page, U undoes it
// (within a minute, after the reload that shows the next page), N next page, ? lists the keys.
import { followProject, installKeysHelp, isTyping, postJSON, readConfig, setStatus, showVersionBanner } from "./labeling.js";

const config = readConfig();
const versionNode = document.getElementById("review-version");
const version = versionNode ? JSON.parse(versionNode.textContent) : null;
const tiles = Array.from(document.querySelectorAll(".tile"));
let position = 0;
let busy = false;
const DONE_KEY = `review-done:${config.slug}`;
const UNDO_MS = 60000; // the server's REVIEW_UNDO_SECONDS

function columns() {
  if (tiles.length < 2) return 1;
  const top = tiles[position].offsetTop;
  const row = tiles.filter((tile) => tile.offsetTop === top && tile.parentElement === tiles[position].parentElement);
  return Math.max(1, row.length);
}

function focus(index) {
  if (!tiles.length) return;
  position = Math.max(0, Math.min(tiles.length - 1, index));
  tiles[position].focus();
}

function toggle(tile) {
  const rejected = !tile.classList.contains("rejected");
  tile.classList.toggle("rejected", rejected);
  tile.setAttribute("aria-pressed", String(rejected));
  document.getElementById("reject-count").textContent = String(document.querySelectorAll(".tile.rejected").length);
}

async function acceptPage() {
  if (busy || !tiles.length || version === null) return;
  busy = true;
  const reject = tiles.filter((t) => t.classList.contains("rejected")).map((t) => Number(t.dataset.imageId));
  const accept = tiles.filter((t) => !t.classList.contains("rejected")).map((t) => Number(t.dataset.imageId));
  try {
    const result = await postJSON(config.urls.review_decide, { version, accept, reject });
    const done = `Accepted ${result.accepted}, rejected ${result.rejected}.`;
    setStatus(`${done} Loading the next ones…`);
    // shown again after the reload, with an undo for a minute
    window.sessionStorage.setItem(DONE_KEY, JSON.stringify({ text: done, images: [...accept, ...reject], at: Date.now() }));
    window.location.reload(); // decided images left the queue: the same cursor now shows the next ones
  } catch (error) {
    setStatus(error.message, true);
    busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  const moves = { ArrowLeft: -1, ArrowRight: 1, h: -1, l: 1 };
  if (event.key in moves) {
    event.preventDefault();
    focus(position + moves[event.key]);
  } else if (event.key === "ArrowDown" || event.key === "j") {
    event.preventDefault();
    focus(position + columns());
  } else if (event.key === "ArrowUp" || event.key === "k") {
    event.preventDefault();
    focus(position - columns());
  } else if ((event.key === "x" || event.key === " ") && tiles.length) {
    event.preventDefault();
    toggle(tiles[position]);
  } else if (event.key === "Enter") {
    event.preventDefault();
    acceptPage();
  } else if (event.key === "u" || event.key === "U") {
    event.preventDefault();
    undoPage();
  } else if (event.key === "n") {
    const next = document.getElementById("next-page");
    if (next) window.location.href = next.href;
  } else if (event.key === "r" && !document.getElementById("version-banner").hidden) {
    window.location.reload();
  }
});

tiles.forEach((tile, index) => {
  tile.addEventListener("click", () => {
    position = index;
    toggle(tile);
  });
  tile.addEventListener("focus", () => {
    position = index;
  });
});
const form = document.getElementById("review-form");
if (form) form.addEventListener("submit", (event) => {
  event.preventDefault();
  acceptPage();
});

const live = followProject(config, {
  onVersion: (number) => showVersionBanner(number, `Model version ${number} is ready: reload for its pseudo-labels (your marks on this page would be lost).`),
});
window.reviewPage = { live };
let lastPage = null; // the page decided just before this reload: {text, images, at}
try {
  lastPage = JSON.parse(window.sessionStorage.getItem(DONE_KEY));
} catch {
  lastPage = null;
}
const undoButton = document.getElementById("undo-page");
if (lastPage) {
  setStatus(lastPage.text);
  const left = UNDO_MS - (Date.now() - lastPage.at);
  if (undoButton && left > 0) {
    undoButton.hidden = false;
    window.setTimeout(() => { undoButton.hidden = true; window.sessionStorage.removeItem(DONE_KEY); }, left);
  } else {
    window.sessionStorage.removeItem(DONE_KEY);
  }
}

async function undoPage() {
  if (busy || !lastPage || !undoButton || undoButton.hidden) return;
  busy = true;
  try {
    const result = await postJSON(config.urls.review_undo, { images: lastPage.images });
    const text = `Undone: ${result.unaccepted} accepted and ${result.unrejected} rejected are back for review.`;
    window.sessionStorage.setItem(DONE_KEY, JSON.stringify({ text, images: [], at: 0 }));
    window.location.reload();
  } catch (error) {
    setStatus(error.message, true);
    busy = false;
  }
}
if (undoButton) undoButton.addEventListener("click", undoPage);
focus(0);
installKeysHelp();
document.body.dataset.ready = "1";
