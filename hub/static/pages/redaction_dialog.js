// The redaction dialog (supervisors): pick a moment of an evidence item, draw boxes on its frame
// by dragging (fixed for a time, or following the object), faces on or off, preview the frame as
// the copy will show it, then make the redacted copy and watch it being made. The master is only
// read. Boxes are drawn on the frame as shown (scaled to the screen) and sent in the source's
// pixels; the hub checks them and makes the copy (POST /api/clips/{id}/derived, "redact").

import { api, describeError, post } from "../lib/api.js";
import { busy, el, errorLine } from "../lib/dom.js";
import { shown } from "../lib/time.js";

const MIN_BOX = 8; // source pixels: a smaller drag is a click, not a box
const POLL_MS = 1000;

const state = {
  clip: null, // the clip's detail
  duration: 0,
  t: 0,
  boxes: [], // {x, y, w, h, follow, from_s, to_s, at_s} in source pixels and seconds
  natural: { width: 0, height: 0 },
  drag: null,
  poll: null,
  frameAsked: 0,
};

let nodes = null;

function seconds(value) {
  return (Math.round(value * 100) / 100).toFixed(2) + " s";
}

// A JPEG from the hub as a data: URL (the page's policy allows data: images, not blob:).
async function jpegUrl(path, options) {
  const opts = Object.assign({ headers: { "X-Requested-With": "cctv-ui" } }, options || {});
  if (opts.body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(opts.body);
  }
  const response = await fetch(path, opts);
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw new Error(describeError(body, response.status));
  }
  const blob = await response.blob();
  return await new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(new Error("the picture could not be read"));
    reader.readAsDataURL(blob);
  });
}

function build() {
  const n = {};
  n.title = el("h2", { id: "redact-title" }, "Redacted copy");
  n.source = el("p", { class: "hint", id: "redact-source" });
  n.slider = el("input", { type: "range", id: "redact-time", min: 0, max: 0, step: 0.04, value: 0, "aria-label": "Time in the clip" });
  n.time = el("output", { id: "redact-time-shown", for: "redact-time" }, "0.00 s");
  n.back = el("button", { type: "button", "aria-label": "One frame back", title: "One frame back" }, "◀");
  n.forward = el("button", { type: "button", "aria-label": "One frame on", title: "One frame on" }, "▶");
  n.image = el("img", { id: "redact-frame", alt: "The frame at the chosen time", draggable: false });
  n.layer = el("div", { class: "redact-layer", id: "redact-layer" });
  n.stage = el("div", { class: "redact-stage", id: "redact-stage" }, n.image, n.layer);
  n.showing = el("p", { class: "hint", id: "redact-showing", "aria-live": "polite" });
  n.mode = el(
    "select",
    { id: "redact-mode" },
    el("option", { value: "fixed" }, "stay fixed from now to the end"),
    el("option", { value: "follow" }, "follow the object from now")
  );
  n.list = el("ol", { class: "redact-boxes", id: "redact-boxes" });
  n.faces = el("input", { type: "checkbox", id: "redact-faces", checked: true });
  n.preview = el("button", { type: "button", id: "redact-preview" }, "Preview");
  n.frameButton = el("button", { type: "button", id: "redact-show-frame" }, "Show the frame");
  n.reason = el("textarea", { id: "redact-reason", rows: 2, maxLength: 500, required: true });
  n.error = el("p", { class: "error", role: "alert", id: "redact-error", hidden: true });
  n.make = el("button", { type: "submit", class: "primary", id: "redact-make" }, "Make redacted copy");
  n.close = el("button", { type: "button", id: "redact-close" }, "Close");
  n.progress = el("progress", { id: "redact-progress", max: 100 });
  n.progressText = el("span", { id: "redact-progress-text" });
  n.working = el("div", { class: "redact-working", id: "redact-working", hidden: true }, n.progress, " ", n.progressText);
  n.result = el("div", { class: "redact-result", id: "redact-result", hidden: true });
  n.earlier = el("div", { class: "redact-earlier", id: "redact-earlier", hidden: true });
  n.form = el(
    "form",
    { id: "redact-form", method: "dialog", noValidate: true },
    n.title,
    n.source,
    el("div", { class: "redact-time" }, n.back, n.slider, n.forward, n.time),
    n.stage,
    n.showing,
    el("label", { class: "inline" }, "Boxes I draw ", n.mode),
    el("p", { class: "hint" }, "Drag on the picture to cover something; each box is listed below."),
    n.list,
    el("label", { class: "check" }, n.faces, " Blur every face the detector finds (check the copy: it misses faces in profile and very small ones)"),
    el("div", { class: "actions" }, n.preview, n.frameButton),
    el("label", {}, "Reason (who or what is obscured, and why: kept with the copy and in the custody log)", n.reason),
    n.error,
    n.working,
    n.result,
    el("div", { class: "actions" }, n.make, n.close),
    n.earlier
  );
  n.dialog = el("dialog", { id: "redact-dialog", class: "wide", "aria-labelledby": "redact-title" }, n.form);
  document.body.append(n.dialog);
  wire(n);
  return n;
}

function wire(n) {
  n.slider.addEventListener("input", () => {
    n.time.textContent = seconds(Number(n.slider.value));
  });
  n.slider.addEventListener("change", () => showFrame(Number(n.slider.value)));
  const step = (by) => () => showFrame(Math.min(state.duration, Math.max(0, state.t + by)));
  n.back.addEventListener("click", step(-0.04));
  n.forward.addEventListener("click", step(0.04));
  n.preview.addEventListener("click", () => busy(n.preview, n.error, preview));
  n.frameButton.addEventListener("click", () => busy(n.frameButton, n.error, () => showFrame(state.t)));
  n.close.addEventListener("click", () => n.dialog.close());
  n.dialog.addEventListener("close", stopPolling);
  n.form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(n.make, n.error, makeCopy);
  });
  n.stage.addEventListener("pointerdown", startDrag);
  n.stage.addEventListener("pointermove", moveDrag);
  n.stage.addEventListener("pointerup", endDrag);
  n.stage.addEventListener("pointercancel", () => {
    state.drag = null;
    drawBoxes();
  });
  window.addEventListener("resize", drawBoxes);
}

// Where a pointer event falls, in the source's pixels (the frame is shown scaled).
function sourcePoint(event) {
  const rect = nodes.image.getBoundingClientRect();
  const scale = state.natural.width / rect.width;
  const x = Math.round((event.clientX - rect.left) * scale);
  const y = Math.round((event.clientY - rect.top) * (state.natural.height / rect.height));
  return {
    x: Math.min(state.natural.width, Math.max(0, x)),
    y: Math.min(state.natural.height, Math.max(0, y)),
  };
}

function startDrag(event) {
  if (!state.natural.width || event.button > 0) return;
  event.preventDefault();
  nodes.stage.setPointerCapture(event.pointerId);
  const at = sourcePoint(event);
  state.drag = { x0: at.x, y0: at.y, x1: at.x, y1: at.y };
  drawBoxes();
}

function moveDrag(event) {
  if (!state.drag) return;
  const at = sourcePoint(event);
  state.drag.x1 = at.x;
  state.drag.y1 = at.y;
  drawBoxes();
}

function endDrag(event) {
  if (!state.drag) return;
  moveDrag(event);
  const d = state.drag;
  state.drag = null;
  const box = { x: Math.min(d.x0, d.x1), y: Math.min(d.y0, d.y1), w: Math.abs(d.x1 - d.x0), h: Math.abs(d.y1 - d.y0) };
  if (box.w >= MIN_BOX && box.h >= MIN_BOX) {
    const t = Math.round(state.t * 100) / 100;
    if (nodes.mode.value === "follow") Object.assign(box, { follow: true, at_s: t, from_s: null, to_s: null });
    else Object.assign(box, { follow: false, from_s: t, to_s: null, at_s: null });
    state.boxes.push(box);
    listBoxes();
  }
  drawBoxes();
}

// The boxes over the frame, placed in percent of the picture so they scale with it.
function drawBoxes() {
  if (!nodes) return;
  const { width, height } = state.natural;
  const shown = state.boxes.map((box, i) => ({ box: box, label: String(i + 1) }));
  if (state.drag) {
    const d = state.drag;
    shown.push({ box: { x: Math.min(d.x0, d.x1), y: Math.min(d.y0, d.y1), w: Math.abs(d.x1 - d.x0), h: Math.abs(d.y1 - d.y0) }, label: "" });
  }
  nodes.layer.replaceChildren(
    ...shown.map(({ box, label }) => {
      const node = el("div", { class: box.follow ? "redact-box follow" : "redact-box" }, label);
      if (width && height) {
        node.style.left = (100 * box.x) / width + "%";
        node.style.top = (100 * box.y) / height + "%";
        node.style.width = (100 * box.w) / width + "%";
        node.style.height = (100 * box.h) / height + "%";
      }
      return node;
    })
  );
}

function timeInput(box, field, label) {
  const input = el("input", {
    type: "number", min: 0, max: state.duration.toFixed(2), step: 0.04, value: box[field] === null ? "" : box[field],
    placeholder: field === "to_s" ? "end" : "start", "aria-label": label, class: "time-input",
  });
  input.addEventListener("change", () => {
    box[field] = input.value === "" ? null : Number(input.value);
  });
  return input;
}

function listBoxes() {
  nodes.list.replaceChildren(
    ...state.boxes.map((box, i) => {
      const remove = el("button", { type: "button", class: "link", "aria-label": "Delete box " + (i + 1) }, "Delete");
      remove.addEventListener("click", () => {
        state.boxes.splice(i, 1);
        listBoxes();
        drawBoxes();
      });
      const what = box.follow
        ? el("span", {}, "follows the object from " + seconds(box.at_s))
        : el("span", {}, "fixed from ", timeInput(box, "from_s", "Box " + (i + 1) + " from (s)"), " to ", timeInput(box, "to_s", "Box " + (i + 1) + " to (s), empty for the end"), " s");
      return el("li", { "data-box": i + 1 }, el("span", { class: "box-size" }, box.w + "×" + box.h + " at " + box.x + "," + box.y), " ", what, " ", remove);
    })
  );
}

function boxesForHub() {
  return state.boxes.map((b) => ({ x: b.x, y: b.y, w: b.w, h: b.h, follow: b.follow, from_s: b.from_s, to_s: b.to_s, at_s: b.at_s }));
}

async function showFrame(t) {
  state.t = t;
  nodes.slider.value = String(t);
  nodes.time.textContent = seconds(t);
  const asked = ++state.frameAsked;
  const url = await jpegUrl("/api/clips/" + encodeURIComponent(state.clip.clip_id) + "/frame?t=" + t.toFixed(3));
  if (asked !== state.frameAsked) return; // a later frame was asked for meanwhile
  await setPicture(url);
  nodes.stage.dataset.showing = "frame";
  nodes.showing.textContent = "The master's frame at " + seconds(t) + " (unchanged). Boxes are drawn over it.";
}

async function preview() {
  const asked = ++state.frameAsked;
  const url = await jpegUrl("/api/clips/" + encodeURIComponent(state.clip.clip_id) + "/redaction-preview", {
    method: "POST",
    body: { t: state.t, faces: nodes.faces.checked, boxes: boxesForHub() },
  });
  if (asked !== state.frameAsked) return;
  await setPicture(url);
  nodes.stage.dataset.showing = "preview";
  nodes.showing.textContent = "Preview at " + seconds(state.t) + ": what the redacted copy will show on this frame.";
}

function setPicture(url) {
  return new Promise((resolve) => {
    nodes.image.onload = () => {
      state.natural = { width: nodes.image.naturalWidth, height: nodes.image.naturalHeight };
      // As wide as fits the dialog, and no taller than leaves the controls in sight.
      nodes.stage.style.maxWidth = "calc((100vh - 22rem) * " + (state.natural.width / state.natural.height).toFixed(4) + ")";
      drawBoxes();
      resolve();
    };
    nodes.image.onerror = () => resolve();
    nodes.image.src = url;
  });
}

function stopPolling() {
  if (state.poll) clearTimeout(state.poll);
  state.poll = null;
}

async function makeCopy() {
  const reason = nodes.reason.value.trim();
  if (!reason) {
    errorLine(nodes.error, "Say who or what is obscured, and why: the reason is kept with the copy.");
    nodes.reason.focus();
    return;
  }
  if (!nodes.faces.checked && !state.boxes.length) {
    errorLine(nodes.error, "Nothing to redact: draw a box or tick the faces.");
    return;
  }
  const ordered = await post("/api/clips/" + encodeURIComponent(state.clip.clip_id) + "/derived", {
    operation: "redact",
    reason: reason,
    faces: nodes.faces.checked,
    boxes: boxesForHub(),
  });
  nodes.make.hidden = true;
  nodes.result.hidden = true;
  nodes.working.hidden = false;
  showProgress({ state: ordered.state, progress: 0 });
  await follow(ordered.derived_id);
}

function showProgress(item) {
  nodes.progress.value = item.progress || 0;
  nodes.progressText.textContent = "Making the redacted copy: " + (item.progress === null || item.progress === undefined ? "starting" : item.progress + "%");
}

async function follow(derivedId) {
  stopPolling();
  let item;
  try {
    item = await api("/api/derived/" + encodeURIComponent(derivedId));
  } catch (err) {
    errorLine(nodes.error, err.message);
    state.poll = setTimeout(() => follow(derivedId), POLL_MS * 3);
    return;
  }
  if (item.state === "working") {
    showProgress(item);
    state.poll = setTimeout(() => follow(derivedId), POLL_MS);
    return;
  }
  nodes.working.hidden = true;
  nodes.make.hidden = false;
  if (item.state === "failed") {
    errorLine(nodes.error, "The redacted copy could not be made: " + (item.error || "no reason given"));
    return;
  }
  showResult(item);
  await listEarlier();
}

function showResult(item) {
  const video = el("video", { controls: true, preload: "metadata", id: "redact-video", src: item.video_url });
  nodes.result.replaceChildren(
    el("h3", {}, "Redacted copy ready"),
    video,
    el(
      "dl",
      { class: "facts-grid" },
      el("dt", {}, "Derived item"), el("dd", {}, item.derived_id),
      el("dt", {}, "SHA-256"), el("dd", { class: "hash", id: "redact-sha256" }, item.sha256),
      el("dt", {}, "Master"), el("dd", { class: "hash", id: "redact-source-sha256" }, "derived from " + item.source_sha256),
      el("dt", {}, "Reason"), el("dd", {}, item.reason || ""),
      el("dt", {}, "Download"), el("dd", {}, el("a", { href: item.video_url + "?download=1" }, "the redacted copy (MP4)"))
    ),
    el("p", { class: "hint" }, "The master is unchanged and stays the exhibit; this copy's manifest names its SHA-256.")
  );
  nodes.result.hidden = false;
  nodes.result.scrollIntoView({ block: "start" });
}

// The redacted copies already made of this item (any supervisor's), newest first.
async function listEarlier() {
  const copies = (await api("/api/clips/" + encodeURIComponent(state.clip.clip_id) + "/derived"))
    .filter((c) => c.operation === "redact")
    .reverse();
  nodes.earlier.hidden = !copies.length;
  nodes.earlier.replaceChildren(
    el("h3", {}, "Redacted copies of this item"),
    el(
      "ul",
      {},
      copies.map((c) =>
        el(
          "li",
          { "data-derived-id": c.derived_id },
          el("span", { class: c.state === "ready" ? "state state-stored" : c.state === "failed" ? "state state-failed" : "state" }, c.state),
          " by " + c.created_by + ", " + shown(c.created_at) + ": " + (c.reason || ""),
          c.state === "ready" ? [" · ", el("a", { href: c.video_url, target: "_blank", rel: "noopener" }, "play"), el("div", { class: "hash", title: "SHA-256" }, c.sha256)] : null,
          c.state === "failed" && c.error ? el("div", { class: "why" }, c.error) : null
        )
      )
    )
  );
}

// Open the dialog on an evidence item (``item`` from the request's items: clip_id, sha256).
export async function openRedaction(item) {
  if (!nodes) nodes = build();
  stopPolling();
  const clip = await api("/api/clips/" + encodeURIComponent(item.clip_id));
  state.clip = clip;
  state.duration = Math.max(0, (Date.parse(clip.delivered_end) - Date.parse(clip.delivered_start)) / 1000);
  state.boxes = [];
  state.natural = { width: clip.width, height: clip.height };
  nodes.title.textContent = "Redacted copy of " + (item.exhibit_reference || item.exhibit_ref || clip.clip_id);
  nodes.source.textContent = "Master " + clip.clip_id + " (" + clip.camera_id + "), SHA-256 " + clip.sha256 + ". It is only read: the copy is a new item.";
  nodes.slider.max = String(Math.max(0, state.duration - 0.04).toFixed(2));
  nodes.reason.value = "";
  nodes.faces.checked = true;
  nodes.make.hidden = false;
  nodes.working.hidden = true;
  nodes.result.hidden = true;
  nodes.error.hidden = true;
  listBoxes();
  drawBoxes();
  nodes.earlier.hidden = true;
  nodes.dialog.showModal();
  await busy(null, nodes.error, () => Promise.all([showFrame(0), listEarlier()]));
}
