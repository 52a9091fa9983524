// Exports panel: follow queued and running distillations (poll their status once a second) and
// reload the page when one finishes, so that the model form offers "distilled to <student>".
(function () {
  "use strict";
  const POLL_MS = 1000;
  const open = new Set(["queued", "running"]);

  function follow(item) {
    const bar = item.querySelector("progress");
    const status = item.querySelector(".distillation-status");
    const result = item.querySelector(".distillation-result");
    async function poll() {
      let state;
      try {
        const response = await fetch(item.dataset.statusUrl, { headers: { Accept: "application/json" } });
        if (!response.ok) throw new Error(String(response.status));
        state = await response.json();
      } catch (error) {
        status.textContent = item.dataset.status + " (status unavailable, retrying)";
        setTimeout(poll, POLL_MS * 5);
        return;
      }
      bar.value = state.progress;
      status.textContent = state.status + (state.status === "running" ? ` (${state.steps} steps)` : "");
      item.dataset.status = state.status;
      if (state.status === "failed") result.textContent = state.error;
      if (state.status === "done") {
        window.location.reload();
        return;
      }
      if (open.has(state.status)) setTimeout(poll, POLL_MS);
    }
    poll();
  }

  document.querySelectorAll("li.distillation").forEach((item) => {
    if (open.has(item.dataset.status)) follow(item);
  });
})();
