// Suspected label errors, one at a time: K keeps the label, a class key relabels, N moves on.
import {
  RequestError, classForKey, followProject, getJSON, installKeysHelp, isTyping, postJSON, readConfig, setStatus,
  showVersionBanner,
} from "./labeling.js";

const config = readConfig();
const names = Object.fromEntries(config.classes.map((c) => [c.index, c.name]));
const page = { items: [...config.first_page.items], after: config.first_page.next_after, version: config.first_page.version };
let busy = false;

function current() {
  return page.items[0] || null;
}

function show() {
  const item = current();
  document.getElementById("empty").hidden = Boolean(item);
  document.getElementById("stage").hidden = !item;
  document.getElementById("stage").dataset.imageId = item ? String(item.image_id) : "";
  document.getElementById("suspect-text").textContent = item
    ? `Labeled “${names[item.label_index]}”${item.labeled_by ? ` by ${item.labeled_by}` : ""}; ` +
      `the model says “${names[item.predicted_index]}” (${Math.round(item.confidence * 100)}%).`
    : "";
  if (item) document.getElementById("image").src = item.url;
  if (page.items[1]) new Image().src = page.items[1].url;
}

async function next() {
  page.items.shift();
  if (!page.items.length && page.after) {
    const more = await getJSON(`${config.urls.suspects_items}?after=${encodeURIComponent(page.after)}`);
    page.items = more.items;
    page.after = more.next_after;
  }
  show();
}

async function act(action) {
  if (busy || !current()) return;
  busy = true;
  try {
    await action(current());
    await next();
  } catch (error) {
    setStatus(error instanceof RequestError ? error.message : `Something went wrong: ${error.message}`, true);
  } finally {
    busy = false;
  }
}

const keep = () => act(async (item) => {
  await postJSON(config.urls.suspect_keep, { image: item.image_id, version: page.version });
  setStatus(`Kept “${names[item.label_index]}”.`);
});
const relabel = (classIndex) => act(async (item) => {
  await postJSON(config.urls.submit, { image: item.image_id, class_index: classIndex, expected_revision: item.revision });
  setStatus(`Relabeled “${names[classIndex]}”.`);
});

document.addEventListener("keydown", (event) => {
  if (isTyping(event) || event.ctrlKey || event.metaKey || event.altKey) return;
  const target = classForKey(config.classes, event.key);
  if (target) {
    event.preventDefault();
    relabel(target.index);
  } else if (event.key === "k" || event.key === "K") {
    event.preventDefault();
    keep();
  } else if (event.key === "n" || event.key === "N") {
    event.preventDefault();
    act(async () => {});
  } else if ((event.key === "r" || event.key === "R") && !document.getElementById("version-banner").hidden) {
    window.location.reload();
  }
});
document.getElementById("keep").addEventListener("click", keep);
document.getElementById("classes").addEventListener("click", (event) => {
  const button = event.target.closest("button[data-class-index]");
  if (button) relabel(Number(button.dataset.classIndex));
});

followProject(config, {
  onVersion: (number) => showVersionBanner(number, `Model version ${number} is ready: reload to see its suspects.`),
});
show();
installKeysHelp();
document.body.dataset.ready = "1";
