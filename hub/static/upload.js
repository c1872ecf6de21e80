// The public upload page (/upload/{token}): the uploader's statement, then each file sent with
// tus (tus-js-client, vendor/tus.min.js) to /api/tus/ with the link's token in a header. A cut
// connection is retried and resumes from the hub's offset; a reload resumes a file chosen again.
// When a file is whole and checked, the hub's signed receipt is shown and can be saved.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("upload-config").textContent || "{}");
  const token = decodeURIComponent(window.location.pathname.split("/").pop() || "");
  const byId = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "class") node.className = value;
      else if (key.startsWith("data-")) node.setAttribute(key, value);
      else node[key] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function bytes(n) {
    if (n >= 1024 ** 3) return (n / 1024 ** 3).toFixed(1) + " GB";
    if (n >= 1024 ** 2) return (n / 1024 ** 2).toFixed(1) + " MB";
    if (n >= 1024) return (n / 1024).toFixed(0) + " kB";
    return n + " bytes";
  }

  function shown(iso) {
    return new Date(iso).toLocaleString("en-GB", { timeZone: "Europe/London", dateStyle: "medium", timeStyle: "short" }) + " (UK time)";
  }

  byId("purpose").textContent = config.purpose || "";
  byId("recipient").textContent = [config.recipient, config.organisation].filter(Boolean).join(", ");
  byId("expires").textContent = config.expires_at ? shown(config.expires_at) : "";
  byId("limits").textContent = "up to " + config.files_left + " more files, " + bytes(config.bytes_left) + " in all";
  byId("accepted").textContent = "Accepted: " + (config.accepted || "video and pictures") + ".";
  if (config.recipient) byId("st-name").value = config.recipient;
  if (config.organisation) byId("st-organisation").value = config.organisation;

  function statement() {
    return {
      name: byId("st-name").value.trim(),
      organisation: byId("st-organisation").value.trim(),
      footage_from: byId("st-from").value.trim(),
      obtained: byId("st-obtained").value.trim(),
      contact: byId("st-contact").value.trim(),
      declaration: byId("st-declaration").checked,
    };
  }

  function missing(st) {
    if (!st.name) return "Give your name.";
    if (!st.organisation) return "Give your role or organisation.";
    if (!st.footage_from) return "Say where and when the footage is from.";
    if (!st.obtained) return "Say how you obtained the footage.";
    if (!st.declaration) return "Tick the declaration.";
    if (!byId("files").files.length) return "Choose at least one file.";
    return "";
  }

  function hubMessage(error) {
    const response = error && error.originalResponse;
    if (response) {
      try {
        const body = JSON.parse(response.getBody() || "{}");
        if (body && typeof body.detail === "string") return body.detail;
      } catch (ignored) {
        // not JSON: fall through
      }
      return "the hub refused it (HTTP " + response.getStatus() + ")";
    }
    return "the connection failed; try again";
  }

  async function showReceipt(row, url) {
    const response = await fetch(url + "/receipt", { headers: { "Upload-Token": token } });
    const receipt = await response.json();
    if (!response.ok) throw new Error(receipt.detail || "no receipt");
    const saved = new Blob([JSON.stringify({ receipt: JSON.parse(receipt.receipt), signature: receipt.receipt_signature, hub_key_id: receipt.hub_key_id, hub_public_key_pem: receipt.hub_public_key_pem }, null, 2)], { type: "application/json" });
    const save = el("a", { href: URL.createObjectURL(saved), download: receipt.id + "-receipt.json" }, "Save the receipt");
    row.querySelector(".status").replaceChildren(el("span", { class: "done" }, "Received and checked"), " · ", save);
    row.dataset.state = "done";
    row.dataset.itemId = receipt.id;
    row.append(
      el("dl", { class: "receipt" },
        el("dt", {}, "Reference"), el("dd", {}, receipt.id),
        el("dt", {}, "SHA-256"), el("dd", { class: "hash", "data-sha256": receipt.sha256 }, receipt.sha256),
        el("dt", {}, "Size"), el("dd", {}, bytes(receipt.size) + " (" + receipt.media_type + ")"),
        el("dt", {}, "Received"), el("dd", {}, shown(receipt.uploaded_at)),
        el("dt", {}, "Hub signature"), el("dd", { class: "hash" }, receipt.receipt_signature + " (key " + receipt.hub_key_id + ")"))
    );
  }

  function send(file, st) {
    const bar = el("progress", { max: 100, value: 0 });
    const status = el("div", { class: "status" }, "Waiting…");
    const row = el("li", { "data-file": file.name, "data-state": "sending" }, el("div", { class: "name" }, file.name + " · " + bytes(file.size)), bar, status);
    byId("uploads").append(row);
    return new Promise((resolve) => {
      const upload = new window.tus.Upload(file, {
        endpoint: "/api/tus/",
        headers: { "Upload-Token": token },
        chunkSize: config.chunk_bytes || 8 * 1024 * 1024,
        retryDelays: [0, 1000, 2000, 4000, 8000, 15000, 30000],
        removeFingerprintOnSuccess: true,
        metadata: { filename: file.name, filetype: file.type || "", statement: JSON.stringify(st) },
        onProgress(sent, total) {
          const percent = total ? Math.floor((sent / total) * 100) : 0;
          bar.value = percent;
          status.textContent = percent + "% · " + bytes(sent) + " of " + bytes(total);
          row.dataset.sent = String(sent);
        },
        onShouldRetry(error, attempt) {
          const code = error.originalResponse ? error.originalResponse.getStatus() : 0;
          const retry = code === 0 || code === 409 || code === 423 || code >= 500;
          if (retry) status.textContent = "Connection lost; carrying on from where it stopped (try " + (attempt + 1) + ")…";
          if (retry) row.dataset.retried = String(attempt + 1);
          return retry;
        },
        onError(error) {
          row.dataset.state = "failed";
          status.replaceChildren(el("span", { class: "failed" }, "Not uploaded: " + hubMessage(error)));
          resolve();
        },
        onSuccess() {
          bar.value = 100;
          showReceipt(row, upload.url)
            .catch((err) => {
              row.dataset.state = "failed";
              status.textContent = "Uploaded, but the receipt could not be fetched: " + err.message;
            })
            .finally(resolve);
        },
      });
      upload.findPreviousUploads().then((previous) => {
        if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
        upload.start();
      });
    });
  }

  byId("upload-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const st = statement();
    const problem = missing(st);
    const error = byId("form-error");
    error.textContent = problem;
    error.hidden = !problem;
    if (problem) return;
    const button = byId("start");
    button.disabled = true;
    const files = Array.from(byId("files").files);
    for (const file of files) await send(file, st);
    byId("files").value = "";
    button.disabled = false;
  });
})();
