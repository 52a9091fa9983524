/**
 * training.js: keeps the project page's training panel live (progress bar, latest version) without reloading.
 */
import { connectProject } from "./live.js";

const panel = document.getElementById("training-panel");

function percent(value) {
  return `${Math.round(value * 100)}%`;
}

function setup(root) {
  const field = (name) => root.querySelector(`[data-field="${name}"]`);
  const setText = (name, text) => {
    const element = field(name);
    if (element) element.textContent = text;
  };
  const show = (name, visible) => {
    const element = field(name);
    if (element) element.hidden = !visible;
  };

  function renderStatus(status) {
    const state = status.running ? "Training round running"
      : status.queued ? "Round queued"
        : status.training_enabled ? "Training on" : "Training off";
    setText("state", state);
    setText("version", status.current_version ? `v${status.current_version}` : "none yet");
    setText("activity", status.activity || "");
    const inForce = status.strategy_in_force && status.strategy_in_force !== status.strategy ? ` (now ${status.strategy_in_force})` : "";
    setText("strategy", `${status.strategy}${inForce}`);
    show("progress", status.running);
    // While training is on but nothing runs or waits (the worker died, or a round failed), Start resumes it.
    show("start", !status.training_enabled || (!status.running && !status.queued));
    show("stop", status.training_enabled);
    if (status.running && status.progress && status.progress.fraction !== undefined) {
      field("progress").value = status.progress.fraction;
    }
    const failed = status.progress && status.progress.type === "round.failed";
    setText("detail", failed ? `Last round failed: ${status.progress.error}` : "");
    const version = status.version;
    show("facts", Boolean(version));
    if (!version) return;
    const m = version.metrics || {};
    setText("labels", `${version.human_labels} human + ${version.pseudo_labels} accepted pseudo-labels, ${version.images} images`);
    setText("steps", `${version.steps} (${version.round_steps} in the last round, ${version.device})`);
    setText("running", m.running_accuracy == null ? "–" : `${percent(m.running_accuracy)} of ${m.running_count}`);
    setText("holdout", m.holdout_accuracy == null ? "–" : `${percent(m.holdout_accuracy)} of ${m.holdout_count}`);
  }

  async function refresh() {
    const response = await fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (response.ok) renderStatus(await response.json());
  }

  function onEvent(event) {
    if (event.type === "round.started") {
      setText("state", `Training round running (v${event.version})`);
      if (event.activity) setText("activity", event.activity);
      setText("detail", "");
      field("progress").value = 0;
      show("progress", true);
    } else if (event.type === "round.progress") {
      field("progress").value = event.fraction;
      const steps = event.steps ? `${event.step}/${event.steps}` : `${event.step}`;
      const loss = event.losses && event.losses.loss !== undefined ? ` · loss ${event.losses.loss.toFixed(3)}` : "";
      setText("detail", `step ${steps}${loss}`);
      if (event.activity) setText("activity", event.activity);
    } else if (event.type === "version.ready") {
      setText("version", `v${event.version}`);
      show("progress", false);
      refresh();
    } else if (event.type === "round.failed") {
      show("progress", false);
      refresh();
    }
  }

  connectProject(root.dataset.slug, { onEvent, onReconnect: refresh });
}

if (panel) setup(panel);
