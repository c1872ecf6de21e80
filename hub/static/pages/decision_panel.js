// The data controller's decision on one request: approve (one click), approve part (some cameras,
// a narrower window, a reason) or decline (a reason). The hub keeps the reason with the request.

import { post } from "../lib/api.js";
import { busy, el } from "../lib/dom.js";
import { fromInput, toInput } from "../lib/time.js";
import { cameraName } from "./request_bits.js";

let counter = 0;

export function decisionPanel(request, onDone) {
  const n = ++counter;
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const url = "/api/requests/" + encodeURIComponent(request.id) + "/decision";
  const decide = (button, body) =>
    busy(button, error, async () => {
      const updated = await post(url, body);
      await onDone(updated);
    });

  const approve = el("button", { type: "button", class: "primary", "data-action": "approve" }, "Approve");
  approve.addEventListener("click", () => decide(approve, { outcome: "approve" }));

  // Approve part: which cameras, which window, and why not all.
  const boxes = (request.cameras || []).map((camera) =>
    el("label", { class: "check" },
      el("input", { type: "checkbox", checked: true, "data-site": camera.site_id, "data-camera": camera.camera_id }),
      " " + cameraName(camera))
  );
  const start = el("input", { type: "datetime-local", value: toInput(request.window_start) });
  const end = el("input", { type: "datetime-local", value: toInput(request.window_end) });
  const partReason = el("input", { type: "text", maxLength: 500, id: "part-reason-" + n });
  const partSend = el("button", { type: "submit", class: "primary" }, "Approve these");
  const part = el(
    "form",
    { class: "decision-form", hidden: true, "data-form": "part" },
    el("fieldset", {}, el("legend", {}, "Cameras to approve"), boxes),
    el("div", { class: "row" },
      el("label", {}, "From (UK time)", start),
      el("label", {}, "To (UK time)", end)),
    el("div", { class: "row" }, el("label", { class: "grow" }, "Why not all of it (kept with the request)", partReason), partSend)
  );
  part.addEventListener("submit", (event) => {
    event.preventDefault();
    const cameras = boxes
      .map((label) => label.querySelector("input"))
      .filter((box) => box.checked)
      .map((box) => ({ site_id: box.dataset.site, camera_id: box.dataset.camera }));
    if (!partReason.value.trim()) {
      error.textContent = "Say why only part is approved.";
      error.hidden = false;
      return;
    }
    decide(partSend, {
      outcome: "approve_part",
      reason: partReason.value.trim(),
      cameras: cameras,
      window_start: fromInput(start.value),
      window_end: fromInput(end.value),
    });
  });

  const declineReason = el("textarea", { rows: 2, maxLength: 1000, id: "decline-reason-" + n });
  const declineSend = el("button", { type: "submit", class: "danger" }, "Decline");
  const decline = el(
    "form",
    { class: "decision-form", hidden: true, "data-form": "decline" },
    el("label", {}, "Why it is declined (the requester is told)", declineReason),
    declineSend
  );
  decline.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!declineReason.value.trim()) {
      error.textContent = "Say why the request is declined.";
      error.hidden = false;
      return;
    }
    decide(declineSend, { outcome: "decline", reason: declineReason.value.trim() });
  });

  const toggle = (form, other, label, action) => {
    const button = el("button", { type: "button", "aria-expanded": "false", "data-action": action }, label);
    button.addEventListener("click", () => {
      form.hidden = !form.hidden;
      other.hidden = true;
      button.setAttribute("aria-expanded", String(!form.hidden));
      if (!form.hidden) form.querySelector("input[type=text], textarea").focus();
    });
    return button;
  };
  return el(
    "div",
    { class: "decision", "data-request-id": request.id },
    el("div", { class: "actions" }, approve, toggle(part, decline, "Approve part…", "part"), toggle(decline, part, "Decline…", "decline")),
    part,
    decline,
    error
  );
}
