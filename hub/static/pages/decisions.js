// The data controller's page: requests awaiting a decision (threat to life first), requests
// ready for release, and what retention says is due for deletion or review.

import { api, post } from "../lib/api.js";
import { busy, byId, el, table } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { shown } from "../lib/time.js";
import { decisionPanel } from "./decision_panel.js";
import { openRelease } from "./release_dialog.js";
import { basisLabel, camerasText, policeReference, requestLink, urgencyPill, windowText } from "./request_bits.js";

const RANK = { threat_to_life: 0, priority: 1, routine: 2 };
const seen = { key: "" };

export async function show() {
  seen.key = "";
  await refresh();
}

export async function refresh() {
  const body = await api("/api/requests");
  const all = body.requests || [];
  const waiting = all.filter((r) => r.state === "submitted")
    .sort((a, b) => (RANK[a.urgency] ?? 3) - (RANK[b.urgency] ?? 3) || String(a.created_at).localeCompare(String(b.created_at)));
  const ready = all.filter((r) => r.state === "ready");
  const key = JSON.stringify([waiting.map((r) => r.id), ready.map((r) => r.id)]);
  const busy = byId("decisions-list").contains(document.activeElement) && document.activeElement.matches("input, textarea");
  if (key === seen.key || (busy && seen.key)) return;
  seen.key = key;
  const full = await Promise.all(waiting.map((r) => api("/api/requests/" + encodeURIComponent(r.id)).then(withCoverage)));
  byId("decisions-empty").hidden = full.length > 0;
  byId("decisions-list").replaceChildren(...full.map(card));
  byId("ready-empty").hidden = ready.length > 0;
  byId("ready-list").replaceChildren(
    ready.length
      ? table(
          [
            ["Request", (r) => requestLink(r)],
            ["Crime ref.", (r) => policeReference(r)],
            ["Cameras", (r) => camerasText(r.cameras)],
            ["", (r) => releaseButton(r)],
          ],
          ready,
          (r) => ({ "data-request-id": r.id })
        )
      : ""
  );
  await showRetention();
}

// What each camera still holds of the window, as the officer was told when filing.
async function withCoverage(request) {
  try {
    const found = await post("/api/requests/preview-coverage", {
      window_start: request.window_start,
      window_end: request.window_end,
      cameras: (request.cameras || []).map((c) => ({ site_id: c.site_id, camera_id: c.camera_id })),
    });
    request.coverage = found.cameras || [];
  } catch {
    request.coverage = [];
  }
  return request;
}

function card(request) {
  return el(
    "article",
    { class: "card", "data-request-id": request.id },
    el("header", { class: "card-head" }, requestLink(request), " ", urgencyPill(request.urgency),
      request.ripa ? el("span", { class: "pill pill-wait" }, "RIPA") : null,
      el("span", { class: "hint" }, " received " + shown(request.created_at))),
    el("p", {}, el("strong", {}, policeReference(request)), " · " + (request.offence || "")),
    el("p", { class: "hint" },
      [request.rank, request.officer_name, request.collar_number].filter(Boolean).join(" ") + ", " + (request.force || "") +
      " · " + basisLabel(request.lawful_basis)),
    el("p", {}, windowText(request), el("br"), camerasText(request.cameras)),
    (request.coverage || []).filter((c) => c.warning).map((c) => el("p", { class: "warn" }, c.warning)),
    request.notes ? el("p", { class: "notes" }, request.notes) : null,
    decisionPanel(request, async () => {
      seen.key = "";
      await refresh();
    })
  );
}

function releaseButton(summary) {
  if (!can("requests.release")) return "";
  const button = el("button", { type: "button", class: "primary", "data-action": "release" }, "Release…");
  button.addEventListener("click", async () => {
    const request = await api("/api/requests/" + encodeURIComponent(summary.id));
    openRelease(request, async () => {
      seen.key = "";
      await refresh();
    });
  });
  return button;
}

async function showRetention() {
  const section = byId("retention-due");
  if (byId("retention-list").contains(document.activeElement) && document.activeElement.matches("input")) return;
  let due;
  try {
    due = await api("/api/retention/due");
  } catch {
    section.hidden = true;
    return;
  }
  const rows = []
    .concat((due.due_for_deletion || []).map((d) => Object.assign({ what: "due for deletion" }, d)))
    .concat((due.due_for_review || []).map((d) => Object.assign({ what: "due for review" }, d)))
    .concat((due.held_past_date || []).map((d) => Object.assign({ what: "kept by a hold past its date" }, d)));
  section.hidden = rows.length === 0;
  byId("retention-list").replaceChildren(
    table(
      [
        ["Item", (d) => dueItem(d)],
        ["Due", (d) => d.what],
        ["Since", (d) => shown(d.what === "due for review" ? d.review_on : d.delete_on)],
        ["Why", (d) => d.why || ""],
        ["", (d) => (d.what === "due for deletion" && can("evidence.manage") ? deleteDue(d) : "")],
      ],
      rows
    )
  );
}

// "R-2026-0001", or "clip-… of R-2026-0001" for one evidence item; linked to the request.
function dueItem(due) {
  const link = due.request_id ? el("a", { href: "#request/" + encodeURIComponent(due.request_id) }, due.request_id) : null;
  if (!due.clip_id) return link || due.id;
  return [el("span", { class: "hash" }, due.clip_id), link ? [" of ", link] : null];
}

// Delete what retention says is due: one evidence item, or every item of a request; with a reason.
function deleteDue(due) {
  const reason = el("input", { type: "text", maxLength: 500, "aria-label": "Why it is deleted" });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const send = el("button", { type: "submit", class: "danger" }, "Delete");
  const form = el("form", { class: "inline-form", hidden: true, "data-form": "delete" }, reason, send, error);
  const open = el("button", { type: "button", "data-action": "delete", "aria-expanded": "false" }, "Delete…");
  open.addEventListener("click", () => {
    form.hidden = !form.hidden;
    open.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) reason.focus();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(send, error, async () => {
      if (!reason.value.trim()) throw new Error("Say why it is deleted.");
      const request = await api("/api/requests/" + encodeURIComponent(due.request_id));
      const clips = due.clip_id ? [due.clip_id] : (request.items || []).filter((i) => !i.deleted_at).map((i) => i.clip_id);
      for (const clip of clips) {
        await api("/api/requests/" + encodeURIComponent(due.request_id) + "/items/" + encodeURIComponent(clip), {
          method: "DELETE",
          body: { reason: reason.value.trim() },
        });
      }
      seen.key = "";
      await refresh();
    });
  });
  return el("div", { class: "actions" }, open, form);
}
