// The camera timeline: one camera's motion and tamper events over the last hour(s), from
// GET /api/sites/{site}/cameras/{camera}/events, over a band showing the footage the site holds.
// A click on an event (its mark, or its line in the list) fills in the request form with the
// footage around it: a few seconds before to a minute after, set in the page.
// Uses app.js's helpers (el, api, can, state, utcText, localInputValue, fillCameraSelect, ...).
"use strict";

const TIMELINE_POLL_MS = 5000;
const MAX_LISTED_EVENTS = 100;
const timeline = { span: 3600, start: null, end: null, events: [], chosen: null };

function tlSite() {
  return document.getElementById("tl-site").value;
}

function tlCamera() {
  return document.getElementById("tl-camera").value;
}

function fillTimelineSelects() {
  const siteSelect = document.getElementById("tl-site");
  const chosenSite = siteSelect.value || (document.getElementById("job-site") || {}).value;
  siteSelect.replaceChildren(
    ...state.sites.map((site) => el("option", { value: site.site_id }, site.name || site.site_id))
  );
  if (chosenSite && state.sites.some((site) => site.site_id === chosenSite)) siteSelect.value = chosenSite;
  const site = state.sites.find((s) => s.site_id === siteSelect.value);
  const cameraSelect = document.getElementById("tl-camera");
  const chosenCamera = cameraSelect.value || (document.getElementById("job-camera") || {}).value;
  const cameras = site ? site.cameras : [];
  cameraSelect.replaceChildren(
    ...cameras.map((camera) => el("option", { value: camera.camera_id }, camera.camera_id))
  );
  if (chosenCamera && cameras.some((camera) => camera.camera_id === chosenCamera)) {
    cameraSelect.value = chosenCamera;
  }
}

function percentOf(moment) {
  const span = timeline.end - timeline.start;
  return Math.min(100, Math.max(0, ((moment - timeline.start) / span) * 100));
}

function eventWords(event) {
  const rule = event.data["source.Rule"] || event.data["source.RuleName"] || "";
  return event.kind + (event.active ? " started" : " ended") + (rule ? " · " + rule : "");
}

function timeText(iso) {
  return iso.replace(/^.*T/, "").replace(/\.\d+/, "").replace("Z", "") + " UTC";
}

async function refreshTimeline() {
  const site = tlSite();
  const camera = tlCamera();
  timeline.end = new Date();
  timeline.start = new Date(timeline.end.getTime() - timeline.span * 1000);
  if (!site || !camera) {
    timeline.events = [];
  } else {
    const query =
      "?start=" + encodeURIComponent(timeline.start.toISOString()) +
      "&end=" + encodeURIComponent(timeline.end.toISOString());
    const answer = await api(
      "/api/sites/" + encodeURIComponent(site) + "/cameras/" + encodeURIComponent(camera) + "/events" + query
    );
    timeline.events = answer.events;
  }
  renderTimeline();
}

function renderTimeline() {
  const site = state.sites.find((s) => s.site_id === tlSite());
  const camera = site ? site.cameras.find((c) => c.camera_id === tlCamera()) : null;
  const footage = document.getElementById("tl-footage");
  if (camera && camera.buffer_start && camera.buffer_end) {
    const left = percentOf(new Date(camera.buffer_start));
    footage.style.left = left + "%";
    footage.style.width = Math.max(0, percentOf(new Date(camera.buffer_end)) - left) + "%";
    footage.style.minWidth = "2px"; // a few minutes of footage on a 24 h bar must still show
    footage.hidden = false;
  } else {
    footage.hidden = true;
  }
  document.getElementById("tl-marks").replaceChildren(
    ...timeline.events.map((event) => {
      const mark = el("button", {
        type: "button",
        class: "event-mark event-" + event.kind + (event.active ? " event-on" : " event-off") +
          (event.event_id === timeline.chosen ? " chosen" : ""),
        "data-event-id": event.event_id,
        title: timeText(event.at) + " · " + eventWords(event),
      });
      mark.setAttribute("aria-label", timeText(event.at) + " " + eventWords(event));
      // Centred on its time, but never cut off at either end of the bar.
      mark.style.left = "clamp(0px, calc(" + percentOf(new Date(event.at)) + "% - 4px), calc(100% - 8px))";
      mark.addEventListener("click", () => useEvent(event));
      return mark;
    })
  );
  const listed = timeline.events.slice(-MAX_LISTED_EVENTS).reverse();
  document.getElementById("tl-events").replaceChildren(
    ...listed.map((event) => {
      const button = el(
        "button",
        { type: "button", class: "link tl-event", "data-event-id": event.event_id },
        el("span", { class: "legend legend-" + event.kind }, timeText(event.at)),
        " " + eventWords(event)
      );
      button.addEventListener("click", () => useEvent(event));
      return el("li", { class: event.event_id === timeline.chosen ? "chosen" : "" }, button);
    })
  );
  document.getElementById("tl-empty").hidden = timeline.events.length > 0;
  document.getElementById("tl-from").textContent = utcText(timeline.start.toISOString());
  document.getElementById("tl-to").textContent = utcText(timeline.end.toISOString());
}

function secondsFrom(id, fallback) {
  const value = Number(document.getElementById(id).value);
  return Number.isFinite(value) && value >= 0 ? Math.min(value, 3600) : fallback;
}

// Fill in the request form with the footage around an event (never past now).
function useEvent(event) {
  timeline.chosen = event.event_id;
  renderTimeline();
  if (!can("jobs.create")) return;
  const at = new Date(event.at).getTime();
  const start = new Date(at - secondsFrom("tl-before", 30) * 1000);
  const end = new Date(Math.min(at + secondsFrom("tl-after", 60) * 1000, Date.now()));
  const siteSelect = document.getElementById("job-site");
  siteSelect.value = tlSite();
  fillCameraSelect();
  document.getElementById("job-camera").value = tlCamera();
  fillCameraSelect();
  document.getElementById("job-start").value = localInputValue(start);
  document.getElementById("job-end").value = localInputValue(end);
  showWindowUtc();
  const reason = document.getElementById("job-reason");
  reason.placeholder = "e.g. crime reference (footage around the " + event.kind + " at " + timeText(event.at) + ")";
  document.getElementById("request-section").scrollIntoView({ block: "start" });
  reason.focus({ preventScroll: true });
}

async function startTimeline() {
  document.getElementById("tl-prefill-controls").hidden = !can("jobs.create");
  fillTimelineSelects();
  const refresh = () => refreshTimeline().catch((err) => showNotice("Timeline: " + err.message));
  document.getElementById("tl-site").addEventListener("change", () => {
    fillTimelineSelects();
    refresh();
  });
  document.getElementById("tl-camera").addEventListener("change", refresh);
  const spans = document.querySelectorAll("[data-span]");
  const showSpan = () => {
    for (const button of spans) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.span) === timeline.span));
    }
  };
  for (const button of spans) {
    button.addEventListener("click", () => {
      timeline.span = Number(button.dataset.span);
      showSpan();
      refresh();
    });
  }
  showSpan();
  // The timeline follows the camera chosen in the request form.
  document.getElementById("job-camera").addEventListener("change", () => {
    document.getElementById("tl-site").value = document.getElementById("job-site").value;
    fillTimelineSelects();
    document.getElementById("tl-camera").value = document.getElementById("job-camera").value;
    refresh();
  });
  await refreshTimeline();
  setInterval(refresh, TIMELINE_POLL_MS);
}
