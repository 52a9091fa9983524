// The image detail page of the data browser: relabel with the class keys (the label page's keys),
// Ctrl/⌘+Z undo, and "label all selected as …" for the nearest neighbours. Every label goes through
// the label page's own endpoints (labeling.services.annotation_submit), so history and undo hold.
import { classForKey, postJSON, readConfig, setStatus } from "./labeling.js";

const config = readConfig();
const names = Object.fromEntries(config.classes.map((c) => [c.index, c.name]));
let busy = false;

function typingInField(event) {
  const target = event.target;
  if (!target) return false;
  if (target.tagName === "TEXTAREA" || target.tagName === "SELECT" || target.isContentEditable) return true;
  return target.tagName === "INPUT" && target.type !== "checkbox";
}

function detailUrl(imageId) {
  return window.location.pathname.replace(/\/\d+\/$/, `/${imageId}/`) + window.location.search;
}

async function relabel(classIndex) {
  if (busy) return;
  busy = true;
  setStatus(`Labeling “${names[classIndex]}”…`);
  try {
    await postJSON(config.urls.submit, {
      image: config.image.id, class_index: classIndex, expected_revision: config.image.expected_revision,
    });
    window.location.reload();
  } catch (error) {
    setStatus(error.message, true);
    busy = false;
  }
}

async function undo() {
  if (busy) return;
  busy = true;
  setStatus("Undoing your last label…");
  try {
    const body = await postJSON(config.urls.undo);
    await postJSON(config.urls.release, { images: [body.image.id] }); // undo leases it back; this page needs no lease
    window.location.assign(detailUrl(body.image.id));
  } catch (error) {
    setStatus(error.message, true);
    busy = false;
  }
}

document.addEventListener("keydown", (event) => {
  if (typingInField(event) || event.repeat || event.altKey) return;
  if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
    event.preventDefault();
    undo();
    return;
  }
  if (event.ctrlKey || event.metaKey) return;
  const target = classForKey(config.classes, event.key);
  if (target) {
    event.preventDefault();
    relabel(target.index);
  }
});

document.querySelectorAll("#classes button").forEach((button) => {
  button.addEventListener("click", () => relabel(Number(button.dataset.classIndex)));
});

const bulk = document.getElementById("bulk-label");
if (bulk) {
  const picks = () => Array.from(document.querySelectorAll(".neighbour-pick"));
  document.getElementById("select-all").addEventListener("change", (event) => {
    picks().forEach((box) => { box.checked = event.target.checked; });
  });
  bulk.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = document.getElementById("bulk-status");
    const chosen = picks().filter((box) => box.checked);
    if (!chosen.length) {
      status.textContent = "Select at least one image.";
      status.classList.add("error");
      return;
    }
    const classIndex = Number(document.getElementById("bulk-class").value);
    const images = chosen.map((box) => ({
      image: Number(box.dataset.imageId),
      expected_revision: box.dataset.revision ? Number(box.dataset.revision) : null,
    }));
    status.classList.remove("error");
    status.textContent = `Labeling ${images.length} image${images.length === 1 ? "" : "s"} “${names[classIndex]}”…`;
    try {
      const result = await postJSON(config.bulk_url, { class_index: classIndex, images });
      const refused = result.conflicts.length ? `; ${result.conflicts.length} refused: ${result.conflicts[0].detail}` : "";
      status.textContent = `Labeled ${result.labeled.length} “${names[classIndex]}”${refused}`;
      status.classList.toggle("error", Boolean(result.conflicts.length));
      for (const id of result.labeled) {
        const caption = document.querySelector(`.neighbour-grid figure[data-image-id="${id}"] figcaption span`);
        if (caption) {
          caption.className = "label-human";
          caption.textContent = names[classIndex];
        }
        const box = document.querySelector(`.neighbour-pick[data-image-id="${id}"]`);
        if (box) box.checked = false;
      }
    } catch (error) {
      status.textContent = error.message;
      status.classList.add("error");
    }
  });
}

document.body.dataset.ready = "1";
