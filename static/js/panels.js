/**
 * panels.js: every element marked `data-live-panel` (with an id) follows the project's events.
 *
 * On version.ready and round.failed (a round's start and progress are drawn by the
 * page's own script), and each time the socket (re)opens, the page's own
 * URL is fetched again and each live panel's content is replaced by the server's fresh rendering: the
 * templates stay the one renderer (no copy of their logic in JS). A panel holding the focused field
 * (an open select, a typed input) is left alone until the next refresh, so nobody's choice is reset.
 *
 *   import { followPanels, refreshPanels } from "./panels.js";
 *   followPanels(slug);      // once per page
 *   await refreshPanels();   // e.g. after a form posted by fetch
 */
import { connectProject } from "./live.js";

const REFRESH_ON = new Set(["version.ready", "round.failed"]);
let inFlight = null;
let again = false;

function busy(panel) {
  const active = document.activeElement;
  return Boolean(active && panel.contains(active) && ["INPUT", "SELECT", "TEXTAREA"].includes(active.tagName));
}

async function swap() {
  const response = await fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  document.querySelectorAll("[data-live-panel][id]").forEach((panel) => {
    const next = fresh.getElementById(panel.id);
    if (next && next.innerHTML !== panel.innerHTML && !busy(panel)) panel.innerHTML = next.innerHTML;
  });
  document.dispatchEvent(new CustomEvent("panels:refreshed"));
}

// One refresh at a time; events that arrive meanwhile cause exactly one more.
export function refreshPanels() {
  if (inFlight) {
    again = true;
    return inFlight;
  }
  inFlight = swap()
    .catch(() => {})
    .finally(() => {
      inFlight = null;
      if (again) {
        again = false;
        refreshPanels();
      }
    });
  return inFlight;
}

export function followPanels(slug) {
  let opened = false;
  return connectProject(slug, {
    onEvent: (event) => {
      if (REFRESH_ON.has(event.type)) refreshPanels();
    },
    onReconnect: () => {
      if (opened) refreshPanels(); // the first open: the page was just rendered
      opened = true;
    },
  });
}
