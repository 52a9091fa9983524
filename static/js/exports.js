// Exports panel: follow queued and running background exports. Once a second each open job's status
// is fetched; its progress bar and message follow, and when it ends its row is replaced by the
// server's rendering (download link, size and expiry, or the error). Rows are looked up afresh on
// each tick, so a panel re-rendered by panels.js keeps being followed.
(function () {
  "use strict";
  const POLL_MS = 1000;
  const RETRY_MS = 5000;
  const OPEN = new Set(["queued", "running"]);
  const inFlight = new Set();

  function openRows() {
    return Array.from(document.querySelectorAll("li.export-job")).filter((row) => OPEN.has(row.dataset.status));
  }

  async function refresh(row) {
    const id = row.dataset.job;
    if (inFlight.has(id)) return;
    inFlight.add(id);
    try {
      const response = await fetch(row.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" });
      if (!response.ok) throw new Error(String(response.status));
      const state = await response.json();
      const current = document.querySelector(`li.export-job[data-job="${id}"]`) || row;
      if (OPEN.has(state.status)) {
        current.dataset.status = state.status;
        current.querySelector("progress").value = state.progress;
        current.querySelector(".export-job-status").textContent = state.status;
        const message = current.querySelector(".export-job-message");
        if (message) message.textContent = state.message;
      } else {
        current.outerHTML = state.html;
      }
    } catch (error) {
      const message = row.querySelector(".export-job-message");
      if (message) message.textContent = "status unavailable, retrying";
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    } finally {
      inFlight.delete(id);
    }
  }

  function tick() {
    openRows().forEach(refresh);
    setTimeout(tick, POLL_MS);
  }

  tick();
})();
