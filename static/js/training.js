/**
 * training.js: the project page's training panel between two renderings by the server (panels.js):
 * the progress bar, step line and activity of the running round, and Start/Stop posted without leaving the page.
 * The panel's state (running, queued, off, the round's version) is rendered by the template only: a round's
 * start renders the panel again.
 */
import { followPanels, refreshPanels } from "./panels.js";
import { connectProject } from "./live.js";

const panel = document.getElementById("training-panel");

function setup(root) {
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const setText = (name, text) => {
    const element = field(name);
    if (element) element.textContent = text;
  };

  function onEvent(event) {
    const bar = field("progress");
    if (event.type === "round.started") {
      refreshPanels(); // the template is the one renderer of the round's state; here only its progress is drawn
    } else if (event.type === "round.progress" && bar) {
      bar.value = event.fraction;
      bar.hidden = false;
      const steps = event.steps ? `${event.step}/${event.steps}` : `${event.step}`;
      const loss = event.losses && event.losses.loss !== undefined ? ` · loss ${event.losses.loss.toFixed(3)}` : "";
      setText("detail", `step ${steps}${loss}`);
      if (event.activity) setText("activity", event.activity);
    }
  }

  // Start and Stop post by fetch and the panel is rendered again at once ("Stopping after this round…").
  root.addEventListener("submit", async (submit) => {
    const form = submit.target;
    if (!form.matches('[data-field="start"], [data-field="stop"]')) return;
    submit.preventDefault();
    form.querySelectorAll("button").forEach((button) => { button.disabled = true; });
    try {
      await fetch(form.action, {
        method: "POST", body: new FormData(form), credentials: "same-origin", headers: { Accept: "application/json" },
      });
    } finally {
      await refreshPanels();
    }
  });

  connectProject(root.dataset.slug, { onEvent });
  followPanels(root.dataset.slug);
}

if (panel) setup(panel);
