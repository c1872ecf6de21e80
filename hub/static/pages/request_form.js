// Filing a footage request: the officer's details (remembered on this browser), the case, the
// incident window in UK local time, and cameras picked from a list with what each one holds and a
// snapshot, or every camera of a place (a site: the cameras carry no finer location) at once.
// Whether each camera still holds the window is asked of the hub as the form is typed.

import { api, post } from "../lib/api.js";
import { busy, byId, el, errorLine } from "../lib/dom.js";
import { can, session } from "../lib/session.js";
import { brief, duration, fromInput, shown, toInput } from "../lib/time.js";

const DEFAULT_MINUTES = 30;
const OFFICER_FIELDS = ["force", "officer_name", "rank", "collar_number", "contact"];
const form = { sites: [], picked: new Set(), coverage: {}, timer: null, wired: false, place: "" };

function key(siteId, cameraId) {
  return siteId + "/" + cameraId;
}

function officerStore() {
  return "cctv.officer." + session.user;
}

function field(name) {
  return byId("rq-form").elements[name];
}

export async function show(arg) {
  const onBehalf = session.role !== "police";
  byId("rq-behalf-row").hidden = !onBehalf;
  field("on_behalf_of").required = onBehalf;
  if (!form.wired) wire();
  restoreOfficer();
  if (!field("window_start").value) {
    field("window_start").value = toInput(new Date(Date.now() - 3600000).toISOString());
    field("window_end").value = toInput(new Date(Date.now() - 1800000).toISOString());
    field("window_end").dataset.auto = "true";
  }
  form.sites = await api("/api/sites");
  renderPlaces();
  renderPicker();
  showWindow();
  schedulePreview();
  if (arg) byId("rq-form").elements.crime_reference.focus();
}

function wire() {
  form.wired = true;
  const rq = byId("rq-form");
  rq.addEventListener("submit", submit);
  // A start typed with no sensible end gets the usual half hour after it (one field, not two).
  field("window_start").addEventListener("change", () => {
    const start = fromInput(field("window_start").value);
    const end = fromInput(field("window_end").value);
    if (start && (!end || end <= start || field("window_end").dataset.auto === "true")) {
      field("window_end").value = toInput(new Date(new Date(start).getTime() + DEFAULT_MINUTES * 60000).toISOString());
      field("window_end").dataset.auto = "true";
    }
  });
  field("window_end").addEventListener("input", () => (field("window_end").dataset.auto = "false"));
  for (const name of ["window_start", "window_end"]) {
    field(name).addEventListener("change", () => {
      showWindow();
      schedulePreview();
    });
  }
  byId("rq-camera-filter").addEventListener("input", renderPicker);
  byId("rq-place").addEventListener("change", pickPlace);
  byId("rq-officer-edit").addEventListener("click", () => {
    byId("rq-officer").hidden = false;
    byId("rq-officer-summary").hidden = true;
    field("force").focus();
  });
}

function restoreOfficer() {
  let saved = {};
  try {
    saved = JSON.parse(localStorage.getItem(officerStore()) || "{}");
  } catch {
    saved = {};
  }
  const profile = Object.assign({}, session.profile || {}, { officer_name: session.display_name || "" });
  for (const name of OFFICER_FIELDS) {
    if (!field(name).value) field(name).value = saved[name] || profile[name] || "";
  }
  const complete = ["force", "officer_name", "rank", "collar_number", "contact"].every((name) => field(name).value.trim()) &&
    session.role === "police";
  byId("rq-officer").hidden = complete;
  byId("rq-officer-summary").hidden = !complete;
  byId("rq-officer-text").textContent = complete
    ? (field("rank").value ? field("rank").value + " " : "") + field("officer_name").value + " " + field("collar_number").value + ", " +
      field("force").value + " (" + field("contact").value + ")"
    : "";
}

function showWindow() {
  const start = fromInput(field("window_start").value);
  const end = fromInput(field("window_end").value);
  const text = byId("rq-window-text");
  if (!start || !end) text.textContent = "";
  else if (end <= start) text.textContent = "The end must be after the start.";
  else text.textContent = duration((new Date(end) - new Date(start)) / 1000) + ": " + shown(start) + " to " + shown(end);
}

function cameraCard(site, camera) {
  const id = key(site.site_id, camera.camera_id);
  const box = el("input", {
    type: "checkbox",
    name: "camera",
    value: id,
    checked: form.picked.has(id),
    onchange: (event) => {
      if (event.target.checked) form.picked.add(id);
      else form.picked.delete(id);
      form.place = "";
      card.classList.toggle("picked", event.target.checked);
      byId("rq-picked").textContent = pickedText();
      schedulePreview();
    },
  });
  const thumb = can("live.view")
    ? el("img", {
        class: "thumb",
        alt: "",
        loading: "lazy",
        width: 112,
        height: 63,
        src: "/api/sites/" + encodeURIComponent(site.site_id) + "/cameras/" + encodeURIComponent(camera.camera_id) + "/snapshot",
      })
    : el("span", { class: "thumb thumb-none" });
  if (thumb.tagName === "IMG") {
    thumb.addEventListener("error", () => thumb.replaceWith(el("span", { class: "thumb thumb-none" }, "no picture")));
  }
  const recent = camera.buffer_end && Date.now() - new Date(camera.buffer_end).getTime() < 10 * 60000;
  const nvrSpans = (camera.nvr || []).flatMap((channel) => channel.spans.map((span) => [channel, span]));
  const nvrText = nvrSpans.length
    ? "NVR " + (nvrSpans[0][0].nvr_name || nvrSpans[0][0].nvr_id) + " holds from " + brief(nvrSpans[0][1].start)
    : "";
  const held = camera.state === "nvr_only"
    ? "recorded by an NVR only" + (nvrText ? ": " + nvrText : ": no recording found yet")
    : camera.buffer_start
    ? "footage from " + brief(camera.buffer_start) + (recent ? " to now" : " to " + brief(camera.buffer_end)) +
      (nvrText ? " · " + nvrText : "")
    : "has not said what footage it holds";
  const warning = form.coverage[id];
  const card = el(
    "label",
    { class: "camera-card" + (form.picked.has(id) ? " picked" : ""), "data-camera": id },
    box,
    thumb,
    el(
      "span",
      { class: "camera-text" },
      el("strong", {}, camera.camera_name || camera.camera_id),
      el("span", { class: "hint" }, (site.name || site.site_id) + (site.state === "online" ? "" : " · site " + site.state)),
      el("span", { class: "hint" }, held),
      warning ? el("span", { class: "warn", "data-warning": id }, warning) : null
    )
  );
  return card;
}

// The places a request can name: each site with cameras, as "High Street (4 cameras)".
function renderPlaces() {
  const places = form.sites.filter((site) => site.cameras.length);
  byId("rq-place").replaceChildren(
    el("option", { value: "" }, places.length ? "Choose a place…" : "No place has cameras"),
    ...places.map((site) => el("option", { value: site.site_id },
      (site.name || site.site_id) + " (" + site.cameras.length + (site.cameras.length === 1 ? " camera)" : " cameras)")))
  );
}

// Ticks every camera of the chosen place at once; their coverage is checked as for one camera.
function pickPlace(event) {
  const site = form.sites.find((s) => s.site_id === event.target.value);
  event.target.value = "";
  if (!site) return;
  for (const camera of site.cameras) form.picked.add(key(site.site_id, camera.camera_id));
  form.place = "Every camera of " + (site.name || site.site_id) + " is ticked.";
  renderPicker();
  schedulePreview();
}

function renderPicker() {
  const filter = byId("rq-camera-filter").value.trim().toLowerCase();
  const cards = [];
  for (const site of form.sites) {
    for (const camera of site.cameras) {
      const text = [site.site_id, site.name, camera.camera_id, camera.camera_name].join(" ").toLowerCase();
      if (filter && !text.includes(filter) && !form.picked.has(key(site.site_id, camera.camera_id))) continue;
      cards.push(cameraCard(site, camera));
    }
  }
  byId("rq-cameras").replaceChildren(...(cards.length ? cards : [el("p", { class: "hint" }, "No camera matches.")]));
  byId("rq-picked").textContent = pickedText();
}

function pickedText() {
  const n = form.picked.size;
  const text = n === 0 ? "No camera chosen yet." : n === 1 ? "1 camera chosen." : n + " cameras chosen.";
  return form.place ? text + " " + form.place : text;
}

function pickedCameras() {
  return Array.from(form.picked).map((id) => {
    const [site_id, ...rest] = id.split("/");
    return { site_id: site_id, camera_id: rest.join("/") };
  });
}

function schedulePreview() {
  clearTimeout(form.timer);
  form.timer = setTimeout(() => preview().catch(() => {}), 250);
}

// "cam-3 holds footage from 06:24 only: 20 min of the window are gone", per camera, as typed.
async function preview() {
  const start = fromInput(field("window_start").value);
  const end = fromInput(field("window_end").value);
  const list = byId("rq-coverage");
  if (!start || !end || end <= start || form.picked.size === 0) {
    form.coverage = {};
    list.replaceChildren();
    byId("rq-bars").replaceChildren();
    renderPicker();
    return;
  }
  const result = await post("/api/requests/preview-coverage", {
    window_start: start,
    window_end: end,
    cameras: pickedCameras(),
  });
  form.coverage = {};
  for (const camera of result.cameras || []) {
    if (camera.warning) form.coverage[key(camera.site_id, camera.camera_id)] = camera.warning;
  }
  byId("rq-bars").replaceChildren(...(result.cameras || []).map((camera) => coverageBar(camera, start, end)));
  list.replaceChildren(
    ...(result.cameras || [])
      .filter((camera) => camera.warning)
      .map((camera) => el("li", { "data-camera": key(camera.site_id, camera.camera_id) }, camera.warning))
  );
  renderPicker();
}

// One camera's bar over the window: the site buffer's spans and each NVR's (marked "NVR"), both
// retrievable; what neither holds is left empty.
function coverageBar(camera, start, end) {
  const from = new Date(start).getTime();
  const span = new Date(end).getTime() - from;
  const bar = el("div", { class: "covbar", role: "img" });
  const words = [];
  for (const part of camera.spans || []) {
    const a = Math.max(0, (new Date(part.start).getTime() - from) / span);
    const b = Math.min(1, (new Date(part.end).getTime() - from) / span);
    if (b <= a) continue;
    const nvr = part.source !== "buffer";
    const piece = el("span", {
      class: "covpart " + (nvr ? "covpart-nvr" : "covpart-buffer"),
      "data-source": part.source,
      title: (nvr ? part.source : "site buffer") + ": " + brief(part.start) + " to " + brief(part.end),
    }, nvr ? "NVR" : "");
    piece.style.left = (a * 100).toFixed(2) + "%";
    piece.style.width = ((b - a) * 100).toFixed(2) + "%";
    bar.append(piece);
    words.push((nvr ? part.source : "site buffer") + " " + Math.round((b - a) * 100) + "%");
  }
  bar.setAttribute("aria-label", (camera.camera_name || camera.camera_id) + ": " + (words.join(", ") || "nothing of the window"));
  return el("div", { class: "covrow", "data-camera": key(camera.site_id, camera.camera_id) },
    el("span", { class: "covname" }, camera.camera_name || camera.camera_id), bar,
    el("span", { class: "hint covkey" }, words.length ? words.join(" · ") : "nothing of the window held"));
}

function body() {
  const f = byId("rq-form").elements;
  const out = {};
  for (const name of OFFICER_FIELDS.concat(["crime_reference", "offence", "lawful_basis", "notes"])) {
    out[name] = f[name].value.trim();
  }
  out.urgency = f.urgency.value || "routine";
  out.window_start = fromInput(f.window_start.value);
  out.window_end = fromInput(f.window_end.value);
  out.cameras = pickedCameras();
  out.ripa = f.ripa.checked;
  out.colleagues = f.colleagues.value.split(/[\s,;]+/).filter(Boolean);
  if (session.role !== "police") out.on_behalf_of = f.on_behalf_of.value.trim();
  return out;
}

function problems(request) {
  const missing = [];
  if (session.role !== "police" && !request.on_behalf_of) missing.push("the police user it is for");
  for (const [name, words] of [
    ["force", "the force"], ["officer_name", "the officer's name"], ["rank", "the rank"], ["collar_number", "the collar number"],
    ["contact", "a contact e-mail"], ["crime_reference", "a crime reference or incident log number"],
    ["offence", "the offence or reason"],
  ]) {
    if (!request[name]) missing.push(words);
  }
  if (!request.window_start || !request.window_end) missing.push("the incident window");
  if (!request.cameras.length) missing.push("at least one camera");
  return missing.length ? "Still needed: " + missing.join(", ") + "." : "";
}

async function submit(event) {
  event.preventDefault();
  const request = body();
  const error = byId("rq-error");
  const missing = problems(request);
  if (missing) {
    errorLine(error, missing);
    if (!request.contact || !request.force || !request.rank) {
      byId("rq-officer").hidden = false;
      byId("rq-officer-summary").hidden = true;
    }
    return;
  }
  await busy(byId("rq-submit"), error, async () => {
    const made = await post("/api/requests", request);
    const officer = {};
    for (const name of OFFICER_FIELDS) officer[name] = request[name];
    if (session.role === "police") localStorage.setItem(officerStore(), JSON.stringify(officer));
    for (const name of ["crime_reference", "offence", "notes", "colleagues"]) field(name).value = "";
    field("ripa").checked = false;
    form.picked.clear();
    form.place = "";
    form.coverage = {};
    byId("rq-coverage").replaceChildren();
    byId("rq-bars").replaceChildren();
    location.hash = "#request/" + encodeURIComponent(made.id);
  });
}
