// The operator's queue: approved requests, threat to life first, with each camera's hold and
// clip job (progress, time left, why it could not be served), re-run and extend, and live view.

import { api } from "../lib/api.js";
import { byId, el } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { jobActions } from "./request_actions.js";
import { cameraName, cameraParts, jobProgress, policeReference, requestLink, statePill, urgencyPill, windowText } from "./request_bits.js";

const QUEUED = ["approved", "partly_approved", "fulfilling", "ready"];
const RANK = { threat_to_life: 0, priority: 1, routine: 2 };
const seen = { key: "" };

export async function show() {
  byId("fulfil-section").hidden = !can("requests.fulfil");
  seen.key = "";
  if (can("requests.fulfil")) await refresh();
}

export async function refresh() {
  if (!can("requests.fulfil")) return;
  const body = await api("/api/requests");
  const queued = (body.requests || []).filter((r) => QUEUED.includes(r.state))
    .sort((a, b) => (RANK[a.urgency] ?? 3) - (RANK[b.urgency] ?? 3) || String(a.created_at).localeCompare(String(b.created_at)));
  const full = await Promise.all(queued.map((r) => api("/api/requests/" + encodeURIComponent(r.id))));
  const key = JSON.stringify(full.map((r) => [r.id, r.state, r.jobs, r.holds, r.camera_progress]));
  const typing = byId("fulfil-list").contains(document.activeElement) && document.activeElement.matches("input");
  if (key === seen.key || (typing && seen.key)) return;
  seen.key = key;
  byId("fulfil-empty").hidden = full.length > 0;
  byId("fulfil-list").replaceChildren(...full.map(card));
}

function liveLink(camera) {
  if (!can("live.view")) return null;
  const href = "/live?site=" + encodeURIComponent(camera.site_id) + "&camera=" + encodeURIComponent(camera.camera_id);
  return el("a", { class: "live-link", href: href, target: "_blank", rel: "noopener", title: "Watch " + camera.camera_id + " live" }, "Live");
}

function card(request) {
  const cameras = request.cameras || [];
  const reload = async () => {
    seen.key = "";
    await refresh();
  };
  return el(
    "article",
    { class: "card", "data-request-id": request.id },
    el("header", { class: "card-head" }, requestLink(request), " ", statePill(request), " ", urgencyPill(request.urgency),
      el("span", { class: "hint" }, " " + policeReference(request) + " · " + windowText(request))),
    el(
      "ul",
      { class: "camera-jobs" },
      cameras.map((camera) => {
        const jobs = (request.jobs || []).filter((j) => j.site_id === camera.site_id && j.camera_id === camera.camera_id);
        const hold = (request.holds || []).find((h) => h.site_id === camera.site_id && h.camera_id === camera.camera_id);
        return el(
          "li",
          { "data-camera": camera.site_id + "/" + camera.camera_id },
          el("div", { class: "camera-line" }, el("strong", {}, cameraName(camera)), liveLink(camera),
            hold ? el("span", { class: "hint" }, hold.edge_confirmed_at ? " · held at the site" : " · hold waiting for the site") : null),
          cameraParts(request, camera),
          jobs.length ? jobs.map((job) => [jobProgress(job), jobActions(request, job, reload)]) : el("span", { class: "hint" }, "no clip job yet")
        );
      })
    )
  );
}
