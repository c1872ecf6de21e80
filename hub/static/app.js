// The clip job and evidence sections: a clip job without a request, jobs' progress, evidence and
// its player, site health with live links. main.js (the pages and the menu) starts it with the
// session and decides which sections a page shows. No libraries, no CDN. Everything from the
// server is put into the page with textContent, never as HTML.
"use strict";

const POLL_MS = 1000;
const state = { me: null, sites: [], clipIds: "", storedJobs: "", playing: null };

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers["X-Requested-With"] = "cctv-ui";
  if (opts.body !== undefined) opts.headers["Content-Type"] = "application/json";
  const response = await fetch(path, opts);
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("not logged in");
  }
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(describeError(body, response.status));
  return body;
}

function describeError(body, status) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail
      .map((item) => {
        const where = (item.loc || []).filter((part) => part !== "body").join(".");
        return (where ? where + ": " : "") + String(item.msg).replace(/^Value error, /, "");
      })
      .join("; ");
  }
  return "request failed (HTTP " + status + ")";
}

// Times: the API speaks UTC; people type local time.

function utcText(iso) {
  if (!iso) return "";
  return iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", "") + " UTC";
}

function localInputValue(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return (
    date.getFullYear() + "-" + pad(date.getMonth() + 1) + "-" + pad(date.getDate()) + "T" +
    pad(date.getHours()) + ":" + pad(date.getMinutes()) + ":" + pad(date.getSeconds())
  );
}

function inputToIso(value) {
  if (!value) return null;
  const date = new Date(value); // a datetime-local value is local time
  return isNaN(date.getTime()) ? null : date.toISOString();
}

function bytesText(n) {
  if (n >= 1024 * 1024) return (n / 1024 / 1024).toFixed(1) + " MiB";
  if (n >= 1024) return (n / 1024).toFixed(1) + " KiB";
  return n + " B";
}

// Each cell gets its column's heading as data-label: narrow screens show rows as cards.
function labelCells(body) {
  const heads = Array.from(body.closest("table").querySelectorAll("thead th")).map((th) => th.textContent);
  for (const row of body.rows) {
    Array.from(row.cells).forEach((cell, i) => {
      if (heads[i]) cell.dataset.label = heads[i];
    });
  }
}

function can(permission) {
  return state.me && state.me.permissions[permission] && state.me.permissions[permission] !== "none";
}

function showNotice(message) {
  const notice = document.getElementById("notice");
  notice.textContent = message;
  notice.hidden = !message;
}

// Sites and the job form.

async function loadSites() {
  state.sites = await api("/api/sites");
  renderSites();
  fillSiteSelect();
  fillTimelineSelects(); // timeline.js
}

function renderSites() {
  const body = document.getElementById("sites-body");
  body.replaceChildren(
    ...state.sites.map((site) =>
      el(
        "tr",
        { "data-site-id": site.site_id },
        el("td", {}, site.name ? site.name + " (" + site.site_id + ")" : site.site_id),
        el("td", { class: "state state-" + site.state }, site.state),
        el("td", {}, utcText(site.last_seen)),
        el(
          "td",
          {},
          ...site.cameras.map((camera) =>
            el(
              "div",
              { "data-camera-id": camera.camera_id },
              camera.camera_id + " · " + camera.state +
                (camera.buffer_start ? " · " + utcText(camera.buffer_start) + " → " + utcText(camera.buffer_end) : ""),
              liveLink(site, camera)
            )
          )
        )
      )
    )
  );
  labelCells(body);
}

// A "Live" link per camera, for roles that may watch live; it opens the live page in a new tab.
function liveLink(site, camera) {
  if (!can("live.view")) return null;
  const href =
    "/live?site=" + encodeURIComponent(site.site_id) + "&camera=" + encodeURIComponent(camera.camera_id);
  const link = el("a", { class: "live-link", href: href, target: "_blank", rel: "noopener" }, "Live");
  link.title = "Watch " + camera.camera_id + " live" + (site.state === "online" ? "" : " (the site is " + site.state + ")");
  return link;
}

function fillSiteSelect() {
  const select = document.getElementById("job-site");
  const chosen = select.value;
  select.replaceChildren(
    ...state.sites.map((site) =>
      el("option", { value: site.site_id }, (site.name || site.site_id) + " (" + site.state + ")")
    )
  );
  if (chosen && state.sites.some((site) => site.site_id === chosen)) select.value = chosen;
  fillCameraSelect();
}

function fillCameraSelect() {
  const site = state.sites.find((s) => s.site_id === document.getElementById("job-site").value);
  const select = document.getElementById("job-camera");
  const chosen = select.value;
  const cameras = site ? site.cameras : [];
  select.replaceChildren(
    ...cameras.map((camera) => el("option", { value: camera.camera_id }, camera.camera_id))
  );
  if (chosen && cameras.some((camera) => camera.camera_id === chosen)) select.value = chosen;
  const camera = cameras.find((c) => c.camera_id === select.value);
  document.getElementById("camera-buffer").textContent = !site
    ? "No sites registered."
    : cameras.length === 0
      ? "This site has not reported any camera yet."
      : camera && camera.buffer_start
        ? "Footage held: " + utcText(camera.buffer_start) + " → " + utcText(camera.buffer_end)
        : "";
}

function showWindowUtc() {
  const start = inputToIso(document.getElementById("job-start").value);
  const end = inputToIso(document.getElementById("job-end").value);
  document.getElementById("window-utc").textContent =
    start && end ? "Sent as " + utcText(start) + " → " + utcText(end) : "";
}

function setLast(seconds) {
  const end = new Date();
  const start = new Date(end.getTime() - seconds * 1000);
  document.getElementById("job-start").value = localInputValue(start);
  document.getElementById("job-end").value = localInputValue(end);
  showWindowUtc();
}

async function submitJob(event) {
  event.preventDefault();
  const error = document.getElementById("job-error");
  error.hidden = true;
  const body = {
    site_id: document.getElementById("job-site").value,
    camera_id: document.getElementById("job-camera").value,
    start: inputToIso(document.getElementById("job-start").value),
    end: inputToIso(document.getElementById("job-end").value),
    reason: document.getElementById("job-reason").value,
  };
  if (!body.site_id || !body.camera_id || !body.start || !body.end) {
    error.textContent = "Choose a site, a camera, a start and an end.";
    error.hidden = false;
    return;
  }
  const button = document.getElementById("job-submit");
  button.disabled = true;
  try {
    await api("/api/jobs", { method: "POST", body: JSON.stringify(body) });
    document.getElementById("job-reason").value = "";
    await refreshJobs();
  } catch (err) {
    error.textContent = err.message;
    error.hidden = false;
  } finally {
    button.disabled = false;
  }
}

// Jobs, polled every second.

// Delivery: a stored clip that holds less than the window says so, in amber, with its gaps.

// "13:47:30", or "13:47:30.2" with tenths (for gaps of a few seconds, whose ends would read alike).
function timeOfDay(iso, tenths) {
  const time = iso.replace(/^.*T/, "").replace("Z", "");
  const [whole, fraction] = time.split(".");
  return tenths ? whole + "." + (fraction || "0").slice(0, 1) : whole;
}

function gapText(gap) {
  const sameDay = gap.start.slice(0, 10) === gap.end.slice(0, 10);
  const span = sameDay
    ? timeOfDay(gap.start, gap.seconds < 10) + "–" + timeOfDay(gap.end, gap.seconds < 10) + " UTC"
    : utcText(gap.start) + " – " + utcText(gap.end);
  return span + " · " + gap.length_text + " · " + gap.cause_text;
}

function gapList(delivery) {
  if (!delivery.gaps.length) return null;
  return el(
    "ul",
    { class: "gaps" },
    ...delivery.gaps.map((gap) =>
      el("li", { class: gap.missing ? "gap" : "gap gap-note", "data-cause": gap.cause || "" }, gapText(gap))
    )
  );
}

// ``lead`` comes before the summary ("stored: " in the job list, "holds " beside a clip).
function deliveryBlock(delivery, lead) {
  const block = el(
    "div",
    { class: "delivery " + (delivery.complete ? "delivery-complete" : "delivery-incomplete") },
    el("span", { class: "delivery-summary" }, (lead || "") + delivery.summary),
    delivery.frames !== null && delivery.frames !== undefined
      ? el("span", { class: "frames" }, " · " + delivery.frames + " frames")
      : null,
    delivery.source ? el("span", { class: "delivery-source", "data-source": delivery.source }, "from " + delivery.source) : null,
    gapList(delivery)
  );
  block.dataset.complete = String(delivery.complete);
  return block;
}

function progressCell(job) {
  // A stored job says how much of its window the clip holds: "stored: 12 min 40 s of 15 min;
  // 2 gaps" in amber with the gaps listed, or "stored" in green with "all 15 min".
  const delivery = job.state === "stored" ? job.delivery : null;
  const cell = el("td", {});
  if (delivery) {
    cell.append(deliveryBlock(delivery, delivery.complete ? "stored · " : "stored: "));
  } else {
    cell.append(el("span", { class: "state state-" + job.state }, job.state));
  }
  if (!job.ended) {
    cell.append(" ", el("progress", { max: 100, value: job.percent }), " " + job.percent + "%");
  }
  if (job.error) cell.append(el("div", { class: "error" }, job.error));
  return cell;
}

async function refreshJobs() {
  const jobs = await api("/api/jobs");
  document.getElementById("jobs-empty").hidden = jobs.length > 0;
  document.getElementById("jobs-body").replaceChildren(
    ...jobs.map((job) =>
      el(
        "tr",
        {
          "data-job-id": job.job_id,
          "data-state": job.state,
          "data-complete": job.delivery ? String(job.delivery.complete) : "",
        },
        el("td", {}, utcText(job.created_at)),
        el("td", {}, job.site_id + " / " + job.camera_id),
        el("td", {}, utcText(job.start), el("br"), utcText(job.end)),
        el("td", {}, job.reason),
        el("td", {}, job.requested_by),
        progressCell(job),
        el("td", {}, job.state === "stored" && job.clip_id ? playButton(job.clip_id) : "")
      )
    )
  );
  labelCells(document.getElementById("jobs-body"));
  const stored = jobs.filter((job) => job.state === "stored").map((job) => job.job_id).join(",");
  if (can("clips.read") && stored !== state.storedJobs) {
    state.storedJobs = stored;
    await refreshClips();
  }
}

// Evidence and the player.

function playButton(clipId) {
  const button = el("button", { type: "button", class: "play", "data-clip-id": clipId }, "Play");
  button.addEventListener("click", () => play(clipId));
  return button;
}

async function refreshClips() {
  const clips = await api("/api/clips");
  // The key includes each item's integrity and deletion, so a newly damaged item re-renders.
  const ids = clips
    .map((clip) => [clip.clip_id, clip.integrity, clip.deleted_at || ""].join(":"))
    .join(",");
  if (ids === state.clipIds) return; // unchanged: do not disturb the page
  state.clipIds = ids;
  state.clips = clips;
  document.getElementById("clips-empty").hidden = clips.length > 0;
  document.getElementById("clips-body").replaceChildren(
    ...clips.map((clip) =>
      el(
        "tr",
        { "data-clip-id": clip.clip_id },
        el("td", {}, utcText(clip.stored_at)),
        el("td", {}, clip.site_id + " / " + clip.camera_id),
        el(
          "td",
          {},
          utcText(clip.delivered_start),
          el("br"),
          utcText(clip.delivered_end),
          clip.delivery ? deliveryBlock(clip.delivery, "holds ") : null
        ),
        el("td", {}, bytesText(clip.bytes)),
        el("td", { class: "hash" }, clip.sha256, ...(unservable(clip) ? [el("br"), badge(clip)] : [])),
        el("td", {}, can("footage.view") && !unservable(clip) ? playButton(clip.clip_id) : "")
      )
    )
  );
  labelCells(document.getElementById("clips-body"));
}

// A damaged or deleted item is not served: say so where its Play button would be.
function unservable(clip) {
  return clip.integrity === "damaged" || Boolean(clip.deleted_at);
}

function badge(clip) {
  // Short, so it fits a phone's narrow column; the whole story is in its title and the player.
  if (clip.deleted_at) {
    const title = "Deleted " + utcText(clip.deleted_at) + " by " + clip.deleted_by;
    return el("span", { class: "badge badge-gone", title: title }, "Deleted");
  }
  const title = "Not served as evidence: " + (clip.integrity_problem || "integrity check failed");
  return el("span", { class: "badge badge-bad", title: title }, "Damaged");
}

function integrityText(clip) {
  if (clip.deleted_at) return "Deleted " + utcText(clip.deleted_at) + " by " + clip.deleted_by;
  if (clip.integrity === "damaged") {
    return "DAMAGED (checked " + utcText(clip.integrity_checked_at) + "): " + clip.integrity_problem;
  }
  if (clip.integrity === "verified") return "Matches its SHA-256 (checked " + utcText(clip.integrity_checked_at) + ")";
  return "Verified at ingest; not re-checked since";
}

async function play(clipId) {
  const clip = await api("/api/clips/" + encodeURIComponent(clipId));
  const player = document.getElementById("player");
  const video = document.getElementById("player-video");
  state.playing = clipId;
  video.src = clip.video_url;
  video.dataset.clipId = clipId;
  const facts = [
    ["Clip", clip.clip_id],
    ["SHA-256 (signed, verified)", clip.sha256],
    ["Delivered window", utcText(clip.delivered_start) + " → " + utcText(clip.delivered_end)],
    // What of the request the clip holds, and what it lacks.
    clip.delivery
      ? [
          "Requested window",
          el(
            "span",
            { id: "player-delivery" },
            utcText(clip.delivery.requested_start) + " → " + utcText(clip.delivery.requested_end),
            deliveryBlock(clip.delivery, "the clip holds ")
          ),
        ]
      : null,
    ["Camera", clip.site_id + " / " + clip.camera_id],
    ["Video", clip.codec + " " + clip.width + "×" + clip.height + ", " + bytesText(clip.bytes)],
    ["Signed by key", clip.key_id],
    ["Requested by", clip.requested_by],
    ["Integrity", integrityText(clip)],
  ];
  const list = document.getElementById("player-facts");
  list.replaceChildren(
    ...facts.filter(Boolean).flatMap(([term, value]) => [
      el("dt", {}, term),
      el(
        "dd",
        { class: term.startsWith("SHA") ? "hash" : term === "Integrity" && unservable(clip) ? "error" : "" },
        value
      ),
    ])
  );
  if (can("footage.download")) {
    list.append(
      el("dt", {}, "Download"),
      el(
        "dd",
        {},
        el("a", { href: clip.video_url + "?download=1" }, "clip"),
        " · ",
        el("a", { href: clip.manifest_url }, "manifest.json")
      )
    );
  }
  player.hidden = false;
  video.play().catch(() => {}); // autoplay may be refused; the controls are there
}

// Start.

async function poll() {
  try {
    if (can("jobs.read")) await refreshJobs();
    showNotice("");
  } catch (err) {
    showNotice("Cannot reach the hub: " + err.message);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

// Called by main.js with the session ({user, role, permissions, ...}) once it is known.
async function startWorkbench(session) {
  state.me = { username: session.user, role: session.role, permissions: session.permissions };
  document.getElementById("who").textContent = state.me.username + " · " + state.me.role;

  document.getElementById("job-site").addEventListener("change", fillCameraSelect);
  document.getElementById("job-camera").addEventListener("change", fillCameraSelect);
  document.getElementById("job-start").addEventListener("change", showWindowUtc);
  document.getElementById("job-end").addEventListener("change", showWindowUtc);
  document.getElementById("job-form").addEventListener("submit", submitJob);
  for (const button of document.querySelectorAll("[data-last]")) {
    button.addEventListener("click", () => setLast(Number(button.dataset.last)));
  }

  if (can("sites.read")) {
    await loadSites();
    setInterval(() => loadSites().catch(() => {}), 10 * POLL_MS);
  }
  if (can("sites.read")) await startTimeline(); // timeline.js
  if (can("jobs.create")) setLast(20);
  if (can("clips.read")) await refreshClips();
  // A link such as /#clip-<id> (printed by cctv-demo) opens that clip in the player.
  const linked = location.hash.match(/^#clip-([A-Za-z0-9_-]{1,64})$/);
  if (linked && can("footage.view")) {
    play(linked[1]).catch((err) => showNotice("Clip " + linked[1] + ": " + err.message));
  }
  poll();
}

window.startWorkbench = startWorkbench;
