// What a role may do to a request once it is under way: re-run or extend a camera's clip job
// (operator), delete an evidence item with a reason (supervisor), record the outcome
// (requester) and set the retention category (supervisor).

import { api, post } from "../lib/api.js";
import { busy, el } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { fromInput, toInput } from "../lib/time.js";

function requestUrl(request) {
  return "/api/requests/" + encodeURIComponent(request.id);
}

function inlineForm(label, fields, submitLabel, send) {
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const submit = el("button", { type: "submit", class: "primary" }, submitLabel);
  const form = el("form", { class: "inline-form", hidden: true }, fields, submit, error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, error, () => send(form));
  });
  const open = el("button", { type: "button", "aria-expanded": "false" }, label);
  open.addEventListener("click", () => {
    form.hidden = !form.hidden;
    open.setAttribute("aria-expanded", String(!form.hidden));
    const first = form.querySelector("input, textarea, select");
    if (!form.hidden && first) first.focus();
  });
  return [open, form];
}

export function jobActions(request, job, onDone) {
  if (!can("requests.fulfil")) return null;
  const rerun = el("button", { type: "button", "data-action": "rerun", "data-job-id": job.job_id }, "Re-run");
  const error = el("p", { class: "error", role: "alert", hidden: true });
  rerun.addEventListener("click", () =>
    busy(rerun, error, async () => {
      await post(requestUrl(request) + "/jobs/" + encodeURIComponent(job.job_id) + "/rerun");
      await onDone();
    })
  );
  const start = el("input", { type: "datetime-local", value: toInput(job.start || request.window_start), "data-field": "start" });
  const end = el("input", { type: "datetime-local", value: toInput(job.end || request.window_end), "data-field": "end" });
  const [extend, form] = inlineForm(
    "Extend…",
    [el("label", {}, "From (UK time)", start), el("label", {}, "To (UK time)", end)],
    "Cut this window",
    async () => {
      await post(
        requestUrl(request) + "/cameras/" + encodeURIComponent(job.site_id) + "/" + encodeURIComponent(job.camera_id) + "/extend",
        { window_start: fromInput(start.value), window_end: fromInput(end.value) }
      );
      await onDone();
    }
  );
  extend.dataset.action = "extend";
  form.dataset.form = "extend";
  // A re-run for a camera that failed, or whose clip holds less than the window.
  const offer = job.state === "failed" || (job.state === "stored" && job.delivery && !job.delivery.complete);
  return el("div", { class: "actions" }, offer ? rerun : null, extend, form, error);
}

export function itemActions(request, item, onDone) {
  if (!can("evidence.manage") || item.deleted_at) return null;
  const reason = el("input", { type: "text", maxLength: 500, required: true, "aria-label": "Why it is deleted" });
  const [open, form] = inlineForm("Delete…", [el("label", {}, "Why it is deleted (kept in the custody log)", reason)], "Delete item", async () => {
    await api(requestUrl(request) + "/items/" + encodeURIComponent(item.clip_id), {
      method: "DELETE",
      body: { reason: reason.value.trim() },
    });
    await onDone();
  });
  open.dataset.action = "delete";
  form.dataset.form = "delete";
  form.querySelector("button[type=submit]").className = "danger";
  return el("div", { class: "actions" }, open, form);
}

const OUTCOMES = [
  ["further_enquiries", "Further lines of enquiry"],
  ["charge", "Charge"],
  ["nfa", "No further action"],
  ["other", "Other"],
];

export function outcomeForm(request, onDone) {
  const select = el("select", { id: "rs-outcome" }, OUTCOMES.map(([value, label]) => el("option", { value: value }, label)));
  if (request.outcome) select.value = request.outcome.outcome;
  const note = el("input", { type: "text", id: "rs-outcome-note", maxLength: 500, value: request.outcome ? request.outcome.note || "" : "" });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const save = el("button", { type: "submit", class: "primary" }, "Save outcome");
  const form = el(
    "form",
    { class: "panel", id: "rs-outcome-form" },
    el("h3", {}, "What did the footage lead to?"),
    el("div", { class: "row" }, el("label", { for: "rs-outcome" }, "Outcome", select), el("label", { class: "grow" }, "Note (optional)", note), save),
    error
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, error, async () => {
      await post(requestUrl(request) + "/outcome", { outcome: select.value, note: note.value.trim() });
      await onDone();
    });
  });
  return form;
}

const CATEGORIES = [
  ["no_further_action", "No further action (31 days after release)"],
  ["under_investigation", "Under investigation"],
  ["charged", "Charged (until the case ends)"],
];

export function retentionForm(request, onDone) {
  const category = el("select", {}, CATEGORIES.map(([value, label]) => el("option", { value: value }, label)));
  if (request.retention) category.value = request.retention.category;
  const review = el("input", { type: "date", value: request.retention && request.retention.review_at ? request.retention.review_at.slice(0, 10) : "" });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const save = el("button", { type: "submit" }, "Save retention");
  const form = el(
    "form",
    { class: "panel" },
    el("h3", {}, "Retention"),
    el("div", { class: "row" }, el("label", {}, "Category", category), el("label", {}, "Review on", review), save),
    error
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(save, error, async () => {
      const body = { category: category.value };
      if (review.value) body.review_at = fromInput(review.value + "T09:00");
      await post(requestUrl(request) + "/retention", body);
      await onDone();
    });
  });
  return form;
}
