// Fleet health, the engineers' landing page: every site and camera, what needs attention first,
// and the open alerts (camera down, clock drift, buffer under 31 days, disk filling). Health
// only: this page loads no footage, still or live view.

import { api } from "../lib/api.js";
import { busy, byId, el, errorLine, table } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { brief } from "../lib/time.js";

const KINDS = {
  camera_down: "Camera down",
  clock_drift: "Clock drift",
  buffer_short: "Buffer under target",
  disk_filling: "Disk filling",
};

function when(iso) {
  return iso ? brief(iso) : "never";
}

function days(value) {
  return value === null || value === undefined ? "-" : value.toFixed(1) + " d";
}

function drift(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  return (seconds >= 0 ? "+" : "") + seconds.toFixed(1) + " s";
}

function gb(bytes) {
  return bytes === null || bytes === undefined ? "-" : (bytes / 1e9).toFixed(1) + " GB";
}

function statePill(state) {
  const kind = state === "recording" || state === "online" ? "pill-good" : state === "reconnecting" ? "pill-wait" : "pill-bad";
  return el("span", { class: "pill " + kind }, state);
}

function alertItem(alert) {
  const where = alert.site_id + (alert.camera_id ? " / " + alert.camera_id : "");
  return el(
    "li",
    { class: "fleet-alert", "data-kind": alert.kind, "data-site": alert.site_id, "data-camera": alert.camera_id || "" },
    el("span", { class: "pill pill-bad" }, KINDS[alert.kind] || alert.kind),
    " ",
    el("strong", {}, where),
    ": ",
    alert.message,
    alert.since ? el("span", { class: "hint" }, " since " + brief(alert.since)) : ""
  );
}

function siteFacts(site) {
  const parts = [
    ["Last seen", when(site.last_seen)],
    ["Agent", site.agent_version || "-"],
    ["Time sync", site.time_sync || "unknown"],
    ["Buffer forecast", days(site.buffer_days_forecast)],
    ["Disk free", gb(site.disk_free_bytes) + (site.disk_total_bytes ? " of " + gb(site.disk_total_bytes) : "")],
    ["Upload queue", site.upload_queue === null || site.upload_queue === undefined ? "-" : String(site.upload_queue)],
  ];
  return el("dl", { class: "fleet-facts" }, parts.map(([term, value]) => el("div", {}, el("dt", {}, term), el("dd", {}, value))));
}

function cameraTable(site) {
  return table(
    [
      ["Camera", (c) => el("strong", {}, c.camera_id)],
      ["State", (c) => [statePill(c.state), c.down_since ? el("div", { class: "hint" }, "since " + brief(c.down_since)) : "", c.last_error && c.state !== "recording" ? el("div", { class: "hint" }, c.last_error) : ""]],
      ["Frames lost 24 h", (c) => (c.frames_lost_24h === null || c.frames_lost_24h === undefined ? "-" : String(c.frames_lost_24h))],
      ["Days now / forecast", (c) => days(c.days_now) + " / " + days(c.days_forecast)],
      ["Clock drift", (c) => drift(c.clock_offset_seconds)],
      ["Last good retrieval", (c) => when(c.last_retrieval)],
      ["Last event", (c) => when(c.last_event)],
      ["Alerts", (c) => (c.alerts.length ? c.alerts.map((a) => el("div", { class: "warn" }, (KINDS[a.kind] || a.kind) + ": " + a.message)) : "none")],
    ],
    site.cameras,
    (c) => ({ "data-camera": c.camera_id, "data-attention": c.needs_attention ? "yes" : "no", class: c.needs_attention ? "attention" : "" })
  );
}

// The site's upload queue (GET /api/sites/{id}/uploads): clips in the order the agent sends them,
// most urgent first, with what the hub holds and the time left at the rate measured at the hub.
const URGENCY = { 9: "threat to life", 7: "priority", 5: "routine" };

function mb(bytes) {
  return (bytes / 1e6).toFixed(1) + " MB";
}

function timeLeft(seconds) {
  if (seconds === null || seconds === undefined) return "-";
  if (seconds < 90) return Math.ceil(seconds) + " s";
  if (seconds < 5400) return Math.round(seconds / 60) + " min";
  return (seconds / 3600).toFixed(1) + " h";
}

function acked(clip) {
  if (clip.bytes_total === null || clip.bytes_total === undefined) return clip.state === "uploading" ? "none received yet" : "not cut yet";
  const percent = Math.floor((100 * clip.bytes_acked) / clip.bytes_total);
  return `${mb(clip.bytes_acked)} of ${mb(clip.bytes_total)} (${percent}%)`;
}

function queueTable(queue) {
  const rows = queue.clips;
  return el(
    "section",
    { class: "fleet-queue", "data-site": queue.site_id },
    el("h4", {}, `Upload queue: ${rows.length} clip${rows.length === 1 ? "" : "s"}`, el("span", { class: "hint" }, ` · ${queue.rate_mbps.toFixed(1)} Mbit/s now`)),
    table(
      [
        ["#", (c) => String(c.position)],
        ["Camera", (c) => el("strong", {}, c.camera_id)],
        ["Priority", (c) => el("span", { class: "pill " + (c.priority >= 9 ? "pill-bad" : c.priority >= 7 ? "pill-wait" : "pill-good") }, URGENCY[c.priority] || "priority " + c.priority)],
        ["State", (c) => c.state],
        ["Acked", acked],
        ["Time left", (c) => timeLeft(c.seconds_left)],
      ],
      rows,
      (c) => ({ "data-job": c.job_id, "data-priority": String(c.priority) })
    )
  );
}

function capLine(cap) {
  const text = cap.source === "hub" ? `${cap.summary} (set at the hub by ${cap.set_by})` : "as the site's own config says";
  return el("p", { class: "fleet-cap hint", "data-source": cap.source }, el("strong", {}, "Upload cap: "), text);
}

async function loadQueue(card, siteId) {
  const base = `/api/sites/${encodeURIComponent(siteId)}`;
  let queue, cap;
  try {
    [queue, cap] = await Promise.all([api(base + "/uploads"), api(base + "/uplink-cap")]);
  } catch (error) {
    return; // the fleet itself is shown; the queue and the cap are extra
  }
  const oldCap = card.querySelector(".fleet-cap");
  if (oldCap) oldCap.replaceWith(capLine(cap));
  else card.querySelector(".fleet-facts").after(capLine(cap));
  const old = card.querySelector(".fleet-queue");
  if (!queue.clips.length) {
    if (old) old.remove();
    return;
  }
  const fresh = queueTable(queue);
  if (old) old.replaceWith(fresh);
  else card.querySelector(".fleet-cap").after(fresh);
}

function siteCard(site) {
  const attention = site.alerts.length || site.state !== "online" || site.cameras.some((c) => c.needs_attention);
  return el(
    "article",
    { class: "card fleet-site" + (attention ? " attention" : ""), "data-site": site.site_id },
    el("div", { class: "card-head" }, el("h3", {}, site.name || site.site_id), el("span", { class: "hint" }, site.site_id), statePill(site.state)),
    siteFacts(site),
    site.checks_failing.length
      ? el("ul", { class: "fleet-checks" }, site.checks_failing.map((line) => el("li", { class: "warn" }, "FAIL " + line)))
      : "",
    site.cameras.length ? cameraTable(site) : el("p", { class: "hint" }, "No cameras reported yet.")
  );
}

function render(body) {
  const sites = body.sites || [];
  const alerts = sites.flatMap((s) => s.alerts.concat(s.cameras.flatMap((c) => c.alerts)));
  const cameras = sites.reduce((n, s) => n + s.cameras.length, 0);
  const needing = sites.reduce((n, s) => n + s.cameras.filter((c) => c.needs_attention).length, 0);
  byId("fleet-summary").textContent =
    `${alerts.length} alert${alerts.length === 1 ? "" : "s"} · ${sites.length} site${sites.length === 1 ? "" : "s"} · ` +
    `${cameras} camera${cameras === 1 ? "" : "s"}, ${needing} need${needing === 1 ? "s" : ""} attention`;
  byId("fleet-alerts").replaceChildren(...alerts.map(alertItem));
  byId("fleet-alerts").hidden = alerts.length === 0;
  const cards = sites.map(siteCard);
  byId("fleet-sites").replaceChildren(...cards);
  cards.forEach((card, i) => loadQueue(card, sites[i].site_id));
  byId("fleet-empty").hidden = sites.length > 0;
}

// "mon-fri 08:00-18:00 5" per line -> [{days, start, end, mbps}]
function parseWindows(text) {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean)
    .map((line) => {
      const match = line.match(/^(\S+)\s+(\d\d:\d\d)\s*-\s*(\d\d:\d\d)\s+([\d.]+)$/);
      if (!match) throw new Error(`"${line}": write days, from-to and Mbit/s, e.g. mon-fri 08:00-18:00 5`);
      return { days: match[1], start: match[2], end: match[3], mbps: Number(match[4]) };
    });
}

function capForm(sites) {
  const form = byId("fleet-cap-form");
  form.hidden = !can("sites.register") || sites.length === 0;
  if (form.hidden || form.dataset.ready) return;
  form.dataset.ready = "yes";
  byId("fleet-cap-site").replaceChildren(...sites.map((s) => el("option", { value: s.site_id }, s.name || s.site_id)));
  const error = byId("fleet-cap-error");
  const path = () => `/api/sites/${encodeURIComponent(byId("fleet-cap-site").value)}/uplink-cap`;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(byId("fleet-cap-save"), error, async () => {
      const max = byId("fleet-cap-max").value;
      const body = { max_mbps: max === "" ? null : Number(max), windows: parseWindows(byId("fleet-cap-windows").value) };
      await api(path(), { method: "PUT", body });
      errorLine(error, "");
      await refresh();
    });
  });
  byId("fleet-cap-clear").addEventListener("click", () =>
    busy(byId("fleet-cap-clear"), error, async () => {
      await api(path(), { method: "DELETE" });
      await refresh();
    })
  );
}

export async function show() {
  const body = await api("/api/fleet");
  render(body);
  capForm(body.sites || []);
}

export async function refresh() {
  render(await api("/api/fleet"));
}
