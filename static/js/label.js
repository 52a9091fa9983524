// The labeling page: one image large, class hotkeys, Ctrl/⌘+Z undo, Space skip, the next image preloaded.
// The server leases each image to one annotator; this page holds two (the current one and the next).
import {
  RequestError, classForKey, followProject, installKeysHelp, isTyping, postJSON, readConfig, setStatus, showVersionBanner,
} from "./labeling.js";

const config = readConfig();
const stage = document.getElementById("stage");
const img = document.getElementById("image");
const names = Object.fromEntries(config.classes.map((c) => [c.index, c.name]));
const state = { current: null, upcoming: null, session: 0 };

function preload(item) {
  if (item) new Image().src = item.url;
}

function held() {
  return [state.current, state.upcoming].filter(Boolean).map((item) => item.id);
}

async function fetchNext() {
  const body = await postJSON(config.urls.next, { queue: config.queue, held: held() });
  return body.image;
}

function show(item) {
  state.current = item;
  document.getElementById("empty").hidden = Boolean(item);
  stage.hidden = !item;
  stage.dataset.imageId = item ? String(item.id) : "";
  document.getElementById("image-name").textContent = item ? item.name : "";
  const currentLabel = document.getElementById("current-label");
  currentLabel.hidden = !(item && item.current);
  if (item && item.current) {
    const source = item.current.source === "pseudo" ? "accepted pseudo-label" : "label";
    currentLabel.textContent = `Current ${source}: ${names[item.current.class_index]}`;
  }
  const guess = document.getElementById("guess");
  guess.hidden = !(item && item.guess);
  document.querySelectorAll("#classes button").forEach((button) => {
    const index = Number(button.dataset.classIndex);
    button.classList.toggle("guess", Boolean(item && item.guess && item.guess.class_index === index));
    button.classList.toggle("current", Boolean(item && item.current && item.current.class_index === index));
  });
  if (item && item.guess) {
    guess.textContent = `Model's guess: ${names[item.guess.class_index]} (${Math.round(item.guess.confidence * 100)}%)`;
  }
  if (item) img.src = item.url;
}

async function advance() {
  const next = state.upcoming;
  state.current = null;
  state.upcoming = null;
  show(next ?? (await fetchNext())); // nothing preloaded: the queue may have refilled since
  if (state.current) {
    state.upcoming = await fetchNext();
    preload(state.upcoming);
  }
}

function remember(item, text) {
  const recent = document.getElementById("recent");
  const entry = document.createElement("li");
  entry.textContent = text;
  entry.dataset.imageId = String(item.id);
  recent.prepend(entry);
  while (recent.children.length > 5) recent.lastChild.remove();
}

function forget(imageId) {
  const entry = document.querySelector(`#recent li[data-image-id="${imageId}"]`);
  if (entry) entry.remove();
}

// Keep the page's counts current between server refreshes: one label moves one image.
function bump(changes) {
  for (const [name, delta] of Object.entries(changes)) {
    const cell = document.querySelector(`[data-count="${name}"]`);
    if (cell && cell.textContent.trim() !== "" && !Number.isNaN(Number(cell.textContent))) {
      cell.textContent = String(Math.max(0, Number(cell.textContent) + delta));
    }
  }
}

// Actions run one after another in key order (type-ahead), never two at once.
let queue = Promise.resolve();
function run(action) {
  queue = queue.then(action).catch((error) => {
    setStatus(error instanceof RequestError ? error.message : `Something went wrong: ${error.message}`, true);
  });
  return queue;
}

// The session's count, and the numbering of its recent list (reversed: the newest is number `session`).
function countSession(delta) {
  state.session = Math.max(0, state.session + delta);
  document.getElementById("session-count").textContent = String(state.session);
  document.getElementById("recent").start = Math.max(1, state.session);
}

function label(classIndex) {
  return run(async () => {
    const item = state.current;
    if (!item) return;
    try {
      await postJSON(config.urls.submit, {
        image: item.id, class_index: classIndex, expected_revision: item.expected_revision, lease_token: item.lease_token,
      });
      countSession(1);
      remember(item, `${item.name} → ${names[classIndex]}`);
      if (!item.current) bump({ human: 1, unlabeled: -1 });
      setStatus(`Labeled ${names[classIndex]}.`);
    } catch (error) {
      if (!(error instanceof RequestError && error.status === 409)) throw error;
      setStatus(error.message, true); // someone else labeled it first: theirs stands, move on
    }
    await advance();
  });
}

function skip() {
  return run(async () => {
    if (!state.current) return;
    await postJSON(config.urls.skip, { image: state.current.id });
    setStatus(`Skipped ${state.current.name}.`);
    await advance();
  });
}

function undo() {
  return run(async () => {
    const body = await postJSON(config.urls.undo);
    const dropped = state.upcoming;
    state.upcoming = state.current;
    if (dropped) await postJSON(config.urls.release, { images: [dropped.id] });
    show(body.image);
    forget(body.image.id);
    if (!body.image.current) bump({ human: -1, unlabeled: 1 });
    countSession(-1);
    setStatus(`Undone: ${body.image.name} is back.`);
  });
}

function rerank() {
  return run(async () => {
    document.getElementById("version-banner").hidden = true;
    const dropped = state.upcoming;
    state.upcoming = null;
    if (dropped) await postJSON(config.urls.release, { images: [dropped.id] });
    if (!state.current) show(await fetchNext());
    if (state.current) {
      state.upcoming = await fetchNext();
      preload(state.upcoming);
    }
    setStatus("Queue re-ranked with the new model; the image in front of you stayed.");
  });
}

document.addEventListener("keydown", (event) => {
  if (isTyping(event) || event.repeat) return;
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
    event.preventDefault();
    undo();
    return;
  }
  if (event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.key === config.skip_key) {
    event.preventDefault();
    skip();
    return;
  }
  if ((event.key === "r" || event.key === "R") && !document.getElementById("version-banner").hidden) {
    event.preventDefault();
    rerank();
    return;
  }
  const target = classForKey(config.classes, event.key);
  if (target) {
    event.preventDefault();
    label(target.index);
  }
});

document.getElementById("classes").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-class-index]");
  if (button) label(Number(button.dataset.classIndex));
});
document.getElementById("rerank").addEventListener("click", rerank);

const live = followProject(config, {
  onVersion: (version) => {
    showVersionBanner(version, `Model version ${version} is ready: the queue can be re-ranked.`);
    if (config.queue === "label") postJSON(config.urls.prepare).catch(() => {}); // rank now, not on the next key
  },
});
window.labelPage = { state, live }; // for the browser tests and the curious

run(async () => {
  show(await fetchNext());
  if (state.current) {
    state.upcoming = await fetchNext();
    preload(state.upcoming);
  }
  installKeysHelp();
  document.body.dataset.ready = "1";
});
