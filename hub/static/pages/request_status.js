// One request's status page (#request/R-2026-0001): where it is, what happens next, each camera's
// hold, clip job and evidence item, and the timeline. What a role may do is offered here too:
// decide, re-run or extend a camera, release, record the outcome, set retention, delete an item.

import { api } from "../lib/api.js";
import { byId, el, showNotice, table } from "../lib/dom.js";
import { can, session } from "../lib/session.js";
import { shown, span } from "../lib/time.js";
import { decisionPanel } from "./decision_panel.js";
import { itemActions, jobActions, outcomeForm, retentionForm } from "./request_actions.js";
import { exportButton } from "./export_button.js";
import { openRedaction } from "./redaction_dialog.js";
import { openRelease } from "./release_dialog.js";
import { renderOutside } from "./outside_footage.js";
import {
  basisLabel, cameraName, cameraParts, facts, jobProgress, policeReference, statePill, timelineList, URGENCY, urgencyPill,
} from "./request_bits.js";

const current = { id: null, key: "", playing: null };

export async function show(id) {
  current.id = id;
  current.key = "";
  byId("rs-player").hidden = true;
  byId("rs-video").removeAttribute("src");
  await refresh(id);
}

export function leave() {
  byId("rs-video").pause();
}

export async function refresh(id) {
  const request = await api("/api/requests/" + encodeURIComponent(id || current.id));
  // Re-render only when something changed, so a half-typed form is not wiped by the poll.
  const key = JSON.stringify([request.state, request.jobs, request.camera_progress, request.items, request.holds, request.releases, request.timeline, request.retention, request.outcome]);
  if (key === current.key) return;
  const typing = byId("request-body").contains(document.activeElement) && document.activeElement.matches("input, textarea, select");
  if (typing && current.key) return;
  current.key = key;
  render(request);
}

function nextStep(request) {
  const d = request.decision || {};
  switch (request.state) {
    case "submitted": return "Waiting for the data controller's decision.";
    case "approved":
    case "partly_approved":
    case "fulfilling":
      return "Approved" + (d.by ? " by " + d.by : "") + (d.rule ? " (rule: " + d.rule + ")" : "") +
        ". The footage is held at the site and is being cut and uploaded.";
    case "ready": return "Every clip is stored and verified: waiting to be released.";
    case "released": return "Released " + shown(request.released_at) + ". Watch or download each camera below.";
    case "declined": return "Declined" + (d.by ? " by " + d.by : "") + ": " + (d.reason || "no reason given") + ".";
    case "closed": return "Closed with the outcome recorded.";
    case "expired": return "Past its retention date: due for deletion or review.";
    default: return "";
  }
}

function holdText(hold) {
  if (!hold) return "";
  if (hold.lifted_at) return "hold lifted " + shown(hold.lifted_at);
  return hold.edge_confirmed_at ? "held at the site since " + shown(hold.edge_confirmed_at) : "hold placed " + shown(hold.placed_at) + "; waiting for the site";
}

function cameraRows(request) {
  const same = (a) => (b) => a.site_id === b.site_id && a.camera_id === b.camera_id;
  return (request.cameras || []).map((camera) => ({
    camera: camera,
    hold: (request.holds || []).find(same(camera)),
    jobs: (request.jobs || []).filter(same(camera)),
    items: (request.items || []).filter((item) => item.camera_id === camera.camera_id && (!item.site_id || item.site_id === camera.site_id)),
  }));
}

function itemCell(request, item) {
  const play = el("button", { type: "button", class: "play", "data-clip-id": item.clip_id }, "Play");
  play.addEventListener("click", () => playItem(item).catch((err) => showNotice(err.message)));
  return el(
    "div",
    { class: "item", "data-clip-id": item.clip_id },
    el("span", { class: item.verified ? "state state-stored" : "state state-failed" }, item.verified ? "verified" : "not verified"),
    item.exhibit_reference ? el("span", { class: "exhibit-ref", title: "Exhibit reference" }, " · exhibit " + item.exhibit_reference) : "",
    el("div", { class: "hash", title: "SHA-256" }, item.sha256),
    item.delivery && item.delivery.source
      ? el("span", { class: "delivery-source", "data-source": item.delivery.source }, "from " + item.delivery.source)
      : null,
    can("footage.view") && !item.deleted_at ? play : null,
    can("evidence.manage") && !item.deleted_at ? redactButton(item) : null,
    itemActions(request, item, reload)
  );
}

function redactButton(item) {
  const button = el("button", { type: "button", class: "redact", "data-clip-id": item.clip_id }, "Redact…");
  button.addEventListener("click", () => openRedaction(item).catch((err) => showNotice(err.message)));
  return button;
}

function render(request) {
  const rows = cameraRows(request);
  const mine = request.requested_by === session.user || (request.colleagues || []).includes(session.user);
  const body = byId("request-body");
  byId("rs-title").textContent = "Request " + request.id;
  body.replaceChildren(el("div", {},
    el("p", { class: "status-line" }, statePill(request), " ", urgencyPill(request.urgency),
      request.ripa ? el("span", { class: "pill pill-wait" }, "RIPA") : null, " ", el("span", { id: "rs-next" }, nextStep(request))),
    request.state === "submitted" && can("requests.decide") ? decisionPanel(request, reload) : null,
    request.state === "ready" && can("requests.release")
      ? el("p", {}, el("button", { type: "button", class: "primary", id: "rs-release", onclick: () => openRelease(request, reload) }, "Release…"))
      : null,
    exportPanel(request, mine),
    el("h3", {}, "Cameras"),
    table(
      [
        ["Camera", (r) => [cameraName(r.camera), el("div", { class: "hint" }, holdText(r.hold)), cameraParts(request, r.camera)]],
        ["Clip job", (r) => (r.jobs.length ? r.jobs.map((job) => [jobProgress(job), jobActions(request, job, reload)]) : el("span", { class: "hint" }, "none yet"))],
        ["Evidence", (r) => r.items.map((item) => itemCell(request, item))],
      ],
      rows,
      (r) => ({ "data-camera": r.camera.site_id + "/" + r.camera.camera_id })
    ),
    el("div", { id: "rs-outside" }),
    (request.releases || []).length
      ? [el("h3", {}, "Released to"), table(
          [
            ["Disclosure", (r) => r.disclosure_number],
            ["To", (r) => r.recipient + ", " + r.organisation],
            ["When", (r) => shown(r.released_at)],
          ],
          request.releases
        )]
      : null,
    mine && ["released", "closed"].includes(request.state) ? outcomeForm(request, reload) : null,
    can("requests.decide") && ["released", "closed", "expired"].includes(request.state) ? retentionForm(request, reload) : null,
    el("h3", {}, "Details"),
    facts([
      ["Officer", [request.rank, request.officer_name, request.collar_number].filter(Boolean).join(" ") + ", " + (request.force || "")],
      ["Contact", request.contact],
      ["Crime ref. / incident log", policeReference(request)],
      ["Offence or reason", request.offence],
      ["Lawful basis", basisLabel(request.lawful_basis)],
      ["Urgency", URGENCY[request.urgency] || request.urgency],
      ["Incident window", span(request.window_start, request.window_end)],
      request.decision && request.decision.window_start
        ? ["Approved window", span(request.decision.window_start, request.decision.window_end)]
        : null,
      ["Notes", request.notes],
      ["Colleagues", (request.colleagues || []).join(", ")],
      ["Requested by", request.requested_by + (request.filed_by && request.filed_by !== request.requested_by ? " (filed by " + request.filed_by + ")" : "")],
      ["Received", shown(request.created_at)],
      request.outcome ? ["Outcome", request.outcome.outcome + (request.outcome.note ? ": " + request.outcome.note : "")] : null,
      request.retention ? ["Retention", request.retention.category.replace(/_/g, " ") + (request.retention.delete_after ? "; delete after " + shown(request.retention.delete_after) : "") + (request.retention.review_at ? "; review " + shown(request.retention.review_at) : "")] : null,
    ]),
    el("h3", {}, "Timeline"),
    timelineList(request.timeline)
  ));
  renderOutside(request, byId("rs-outside")).catch((err) => showNotice(err.message));
}

// "Export for court": the package (zip) of every released item, its working copies, custody rows,
// continuity statement and the two offline verifiers. The hub builds it whole before sending it.
function exportPanel(request, mine) {
  const released = ["released", "closed", "expired"].includes(request.state);
  const allowed = can("footage.download") && (mine || session.role === "supervisor");
  if (!released || !allowed) return null;
  const [button, status, error] = exportButton(request);
  return el("div", { class: "export-panel" },
    el("p", {}, button, " ", status),
    error,
    el("p", { class: "hint" }, "One zip: each exhibit exactly as stored, its working copies, footage from elsewhere, custody rows, continuity statement, and verifiers that need no hub."));
}

async function reload() {
  current.key = "";
  await refresh(current.id);
}

async function playItem(item) {
  const clip = await api("/api/clips/" + encodeURIComponent(item.clip_id));
  const video = byId("rs-video");
  video.src = clip.video_url;
  video.dataset.clipId = item.clip_id;
  byId("rs-player-facts").replaceChildren(
    ...[
      ["Clip", clip.clip_id],
      ["Camera", clip.site_id + " / " + clip.camera_id],
      ["Footage", span(clip.delivered_start, clip.delivered_end)],
      ["SHA-256 (signed at the site, checked at the hub)", el("span", { class: "hash" }, clip.sha256)],
      can("footage.download")
        ? ["Download", el("span", {}, el("a", { href: clip.video_url + "?download=1" }, "clip"), " · ", el("a", { href: clip.manifest_url }, "manifest.json"))]
        : null,
    ].filter(Boolean).flatMap(([term, value]) => [el("dt", {}, term), el("dd", {}, value)])
  );
  byId("rs-player").hidden = false;
  byId("rs-player").scrollIntoView({ block: "nearest" });
  video.play().catch(() => {});
}
