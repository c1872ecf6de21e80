// Releasing a request's footage: to whom (the requester is filled in; colleagues may be added),
// and for what purpose. Every release is a numbered disclosure log entry.

import { api, post } from "../lib/api.js";
import { busy, byId, el } from "../lib/dom.js";

let pending = null;

function recipientRow(name, organisation, email) {
  return el(
    "div",
    { class: "row recipient" },
    el("label", {}, "Name", el("input", { type: "text", value: name || "", "data-field": "name", required: true })),
    el("label", {}, "Organisation", el("input", { type: "text", value: organisation || "", "data-field": "organisation", required: true })),
    el("label", {}, "E-mail (optional)", el("input", { type: "email", value: email || "", "data-field": "email" }))
  );
}

export function openRelease(request, onDone) {
  const dialog = byId("release-dialog");
  pending = { request: request, onDone: onDone };
  byId("release-title").textContent = "Release " + request.id;
  byId("release-items").textContent =
    (request.items || []).length + " evidence item(s), every one stored and verified, go to:";
  listOutside(request);
  byId("release-recipients").replaceChildren(
    recipientRow(
      [request.rank, request.officer_name].filter(Boolean).join(" ") + (request.collar_number ? " " + request.collar_number : ""),
      request.force,
      request.contact
    )
  );
  byId("release-purpose").value = request.offence
    ? "Investigation of " + request.offence.charAt(0).toLowerCase() + request.offence.slice(1) + " (" + (request.crime_reference || request.id) + ")"
    : "";
  byId("release-error").hidden = true;
  if (!dialog.dataset.wired) wire(dialog);
  dialog.showModal();
  byId("release-confirm").focus();
}

// Footage from elsewhere goes with the release too, numbered after the clips.
async function listOutside(request) {
  const list = byId("release-outside");
  list.hidden = true;
  list.replaceChildren();
  let items = [];
  try {
    items = (await api("/api/requests/" + encodeURIComponent(request.id) + "/outside-items")).items;
  } catch {
    return;
  }
  if (!items.length) return;
  byId("release-items").textContent =
    (request.items || []).length + " evidence item(s) from the sites, every one stored and verified, and " +
    items.length + " file(s) of footage from elsewhere (not from a site agent), go to:";
  list.replaceChildren(...items.map((item) => el("li", { class: "release-outside-item" },
    item.filename + " from " + ((item.statement || {}).name || "?") + ", " + ((item.statement || {}).organisation || "?") +
    " (not from a site agent)")));
  list.hidden = false;
}

function wire(dialog) {
  dialog.dataset.wired = "true";
  byId("release-add").addEventListener("click", () => byId("release-recipients").append(recipientRow()));
  byId("release-cancel").addEventListener("click", () => dialog.close());
  byId("release-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const recipients = Array.from(byId("release-recipients").querySelectorAll(".recipient"))
      .map((row) => {
        const value = (f) => row.querySelector("[data-field=" + f + "]").value.trim();
        const out = { name: value("name"), organisation: value("organisation") };
        if (value("email")) out.email = value("email");
        return out;
      })
      .filter((r) => r.name || r.organisation);
    const error = byId("release-error");
    if (!recipients.length || recipients.some((r) => !r.name || !r.organisation)) {
      error.textContent = "Each recipient needs a name and an organisation.";
      error.hidden = false;
      return;
    }
    const purpose = byId("release-purpose").value.trim();
    if (!purpose) {
      error.textContent = "Say what the footage is released for.";
      error.hidden = false;
      return;
    }
    const { request, onDone } = pending;
    await busy(byId("release-confirm"), error, async () => {
      const updated = await post("/api/requests/" + encodeURIComponent(request.id) + "/release", {
        recipients: recipients,
        purpose: purpose,
      });
      dialog.close();
      await onDone(updated);
    });
  });
}
