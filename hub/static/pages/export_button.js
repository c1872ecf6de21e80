// "Export for court": the hub builds the whole package (zip) before sending it, which can take
// a while; the button says so, saves the zip when it has arrived, and shows the hub's reason in
// the page when it cannot be made (a damaged master, say) instead of saving an error as a file.

import { fetchFile } from "../lib/api.js";
import { el } from "../lib/dom.js";

function save(blob, filename) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

export function exportButton(request) {
  const status = el("span", { class: "hint", id: "rs-export-status", role: "status" });
  const error = el("p", { class: "error", id: "rs-export-error", role: "alert", hidden: true });
  const button = el("button", { type: "button", class: "primary", id: "rs-export" }, "Export for court");
  button.addEventListener("click", async () => {
    error.hidden = true;
    button.disabled = true;
    status.textContent = "Building the package... the download starts when it is complete.";
    try {
      const path = "/api/requests/" + encodeURIComponent(request.id) + "/export";
      const { blob, filename } = await fetchFile(path);
      save(blob, filename || request.id + "-export.zip");
      status.textContent = "Package saved (" + Math.round(blob.size / 1024) + " kB).";
    } catch (err) {
      status.textContent = "";
      error.textContent = "The export package could not be made: " + err.message;
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  });
  return [button, status, error];
}
