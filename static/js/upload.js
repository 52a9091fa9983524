// Upload page: sends the chosen files in small batches with XHR, shows upload progress
// and each file's result (added / duplicate / refused with its reason).
(function () {
  "use strict";
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("files");
  const dropzone = document.getElementById("dropzone");
  const statusBox = document.getElementById("upload-status");
  const bar = document.getElementById("upload-progress");
  const summary = document.getElementById("upload-summary");
  const rows = document.getElementById("upload-results");
  const button = document.getElementById("upload-button");
  const BATCH_FILES = 20;
  const BATCH_BYTES = 32 * 1024 * 1024;
  let dropped = null;

  function batches(files) {
    const out = [];
    let current = [];
    let bytes = 0;
    for (const file of files) {
      if (current.length && (current.length >= BATCH_FILES || bytes + file.size > BATCH_BYTES)) {
        out.push(current);
        current = [];
        bytes = 0;
      }
      current.push(file);
      bytes += file.size;
    }
    if (current.length) out.push(current);
    return out;
  }

  function addRow(result) {
    const tr = document.createElement("tr");
    for (const [text, cls] of [[result.name, ""], [result.status + (result.label ? " · " + result.label : ""), result.status], [result.reason || "", ""]]) {
      const td = document.createElement("td");
      td.textContent = text;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    rows.appendChild(tr);
  }

  function send(batch, onProgress) {
    return new Promise(function (resolve) {
      const data = new FormData();
      data.append("csrfmiddlewaretoken", form.elements.csrfmiddlewaretoken.value);
      if (document.getElementById("labels-from-folders").checked) data.append("labels_from_folders", "1");
      for (const file of batch) data.append("files", file, file.name);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
      xhr.upload.onprogress = function (event) { if (event.lengthComputable) onProgress(event.loaded); };
      xhr.onload = function () {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status === 200 && body) resolve(body);
        else resolve({ results: batch.map(function (f) {
          return { name: f.name, status: "refused", reason: (body && body.detail) || ("server answered " + xhr.status) };
        }) });
      };
      xhr.onerror = function () {
        resolve({ results: batch.map(function (f) { return { name: f.name, status: "refused", reason: "network error" }; }) });
      };
      xhr.send(data);
    });
  }

  async function upload(files) {
    if (!files.length) return;
    statusBox.hidden = false;
    button.disabled = true;
    rows.textContent = "";
    const total = files.reduce(function (sum, f) { return sum + f.size; }, 0) || 1;
    const counts = { added: 0, duplicate: 0, refused: 0 };
    let done = 0;
    for (const batch of batches(files)) {
      const size = batch.reduce(function (sum, f) { return sum + f.size; }, 0);
      const body = await send(batch, function (loaded) { bar.value = Math.round(100 * (done + loaded) / total); });
      done += size;
      bar.value = Math.round(100 * done / total);
      for (const result of body.results) { counts[result.status] = (counts[result.status] || 0) + 1; addRow(result); }
      summary.textContent = counts.added + " added, " + counts.duplicate + " duplicates skipped, " + counts.refused + " refused";
    }
    summary.textContent = "Done: " + summary.textContent + ".";
    button.disabled = false;
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    upload(Array.from(dropped || input.files));
    dropped = null;
  });
  dropzone.addEventListener("dragover", function (event) { event.preventDefault(); dropzone.classList.add("over"); });
  dropzone.addEventListener("dragleave", function () { dropzone.classList.remove("over"); });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    dropzone.classList.remove("over");
    dropped = Array.from(event.dataTransfer.files);
    upload(dropped);
    dropped = null;
  });
})();
