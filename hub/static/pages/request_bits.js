// Pieces every request page shows the same way: its state, urgency, cameras and clip jobs.

import { el } from "../lib/dom.js";
import { duration, shown, span } from "../lib/time.js";

const STATE_KIND = {
  submitted: "wait",
  approved: "go",
  partly_approved: "go",
  fulfilling: "go",
  ready: "good",
  released: "good",
  closed: "plain",
  expired: "plain",
  declined: "bad",
  withdrawn: "plain",
  deleted: "plain",
};

export const URGENCY = {
  routine: "Routine",
  priority: "Priority",
  threat_to_life: "Threat to life",
};

export const LAWFUL_BASES = [
  ["dpa2018-part3-s35", "DPA 2018 Part 3, s.35: law enforcement purposes"],
  ["dpa2018-sch2-para2", "DPA 2018 Sch. 2 para. 2: prevention or detection of crime"],
  ["dpa2018-sch2-para5", "DPA 2018 Sch. 2 para. 5: legal proceedings"],
];

export function basisLabel(code) {
  const found = LAWFUL_BASES.find(([value]) => value === code);
  return found ? found[1] : code || "";
}

export function stateLabel(request) {
  return request.state_label || String(request.state || "").replace(/_/g, " ");
}

export function statePill(request) {
  const kind = STATE_KIND[request.state] || "plain";
  return el("span", { class: "pill pill-" + kind, "data-state": request.state }, stateLabel(request));
}

export function urgencyPill(urgency) {
  if (!urgency || urgency === "routine") return el("span", { class: "pill pill-plain" }, "Routine");
  return el("span", { class: "pill pill-" + (urgency === "threat_to_life" ? "bad" : "wait") }, URGENCY[urgency] || urgency);
}

export function requestLink(request) {
  return el("a", { href: "#request/" + encodeURIComponent(request.id), class: "ref" }, request.id);
}

export function cameraName(camera) {
  return camera.camera_name || camera.camera_id + (camera.site_id ? " · " + camera.site_id : "");
}

export function camerasText(cameras) {
  return (cameras || []).map((c) => c.camera_name || c.camera_id).join(", ");
}

export function windowText(request) {
  return span(request.window_start, request.window_end);
}

export function policeReference(request) {
  return request.crime_reference || request.incident_log || "";
}

// One camera's parts (a long window is cut and uploaded in parts): "2 of 4 parts stored",
// a bar, the percent and the time left from the pace so far.
export function cameraParts(request, camera) {
  const parts = (request.camera_progress || []).find((p) => p.site_id === camera.site_id && p.camera_id === camera.camera_id);
  if (!parts) return null;
  const box = el("div", { class: "camera-parts", "data-parts-stored": parts.parts_stored, "data-parts-total": parts.parts_total },
    el("span", { class: "parts-count" }, parts.parts_stored + " of " + parts.parts_total + (parts.parts_total === 1 ? " part" : " parts") + " stored"));
  if (!parts.complete) {
    box.append(" ", el("progress", { max: 100, value: parts.percent, "aria-label": "parts of " + camera.camera_id }), " " + parts.percent + "%");
    box.append(el("span", { class: "hint" }, parts.estimate_seconds_left !== null && parts.estimate_seconds_left !== undefined
      ? " · about " + duration(parts.estimate_seconds_left) + " left" : " · no estimate yet"));
  }
  return box;
}

// One camera's clip job: state, a progress bar, time left, and why it failed.
export function jobProgress(job) {
  const box = el("div", { class: "job", "data-job-id": job.job_id, "data-state": job.state });
  const stored = job.state === "stored";
  const failed = job.state === "failed";
  box.append(
    el("span", { class: "state state-" + job.state }, stored ? "stored" : failed ? "could not be served" : job.state)
  );
  if (!job.ended && !stored && !failed) {
    const percent = Number(job.percent || 0);
    box.append(
      " ",
      el("progress", { max: 100, value: percent, "aria-label": "progress of " + job.camera_id }),
      " " + percent + "%"
    );
    if (job.estimate_seconds_left !== null && job.estimate_seconds_left !== undefined) {
      box.append(el("span", { class: "hint" }, " · about " + duration(job.estimate_seconds_left) + " left"));
    }
  }
  if (job.delivery && job.delivery.summary) {
    const complete = job.delivery.complete;
    box.append(el("div", { class: "delivery " + (complete ? "delivery-complete" : "delivery-incomplete") },
      el("span", { class: "delivery-summary" }, job.delivery.summary),
      job.delivery.source ? el("span", { class: "delivery-source", "data-source": job.delivery.source }, "from " + job.delivery.source) : null));
  }
  if (job.error) box.append(el("div", { class: "why" }, "Why: " + job.error));
  return box;
}

// "moved on: now ready", "hold placed: site-a/cam-1", "released: disclosure 3 to DC Jane Smith".
export function stepText(step) {
  const d = step.detail || {};
  const camera = d.camera || (d.camera_id ? (d.site_id ? d.site_id + "/" : "") + d.camera_id : "");
  const more = d.to ? "now " + String(d.to).replace(/_/g, " ")
    : d.summary ? d.summary
    : d.disclosure_number ? "disclosure " + d.disclosure_number + (d.recipient ? " to " + d.recipient : "")
    : d.outcome ? String(d.outcome).replace(/_/g, " ")
    : d.category ? String(d.category).replace(/_/g, " ")
    : camera ? camera + (d.why ? ": " + d.why : "")
    : "";
  return step.what + (more ? ": " + more : "");
}

export function timelineList(timeline) {
  return el(
    "ol",
    { class: "timeline-steps" },
    (timeline || []).map((step) =>
      el("li", {}, el("time", { dateTime: step.at }, shown(step.at)), " ", el("span", {}, stepText(step)),
        step.by ? el("span", { class: "hint" }, " · " + step.by) : null)
    )
  );
}

export function facts(pairs) {
  return el(
    "dl",
    { class: "facts facts-grid" },
    pairs.filter((pair) => pair && pair[1] !== "" && pair[1] !== null && pair[1] !== undefined)
      .flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)])
  );
}
