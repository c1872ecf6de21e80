// "Footage from elsewhere" on a request's page: the supervisor's upload links (make one, whose
// address is shown once to copy or send; withdraw one) and the files that came in through them,
// each marked "not from a site agent" with its uploader's statement, SHA-256 and a viewer.

import { api, post } from "../lib/api.js";
import { busy, el, table } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { shown } from "../lib/time.js";

function bytes(n) {
  if (!n) return "0 kB";
  if (n >= 1024 ** 3) return (n / 1024 ** 3).toFixed(1) + " GB";
  if (n >= 1024 ** 2) return (n / 1024 ** 2).toFixed(1) + " MB";
  return Math.max(1, Math.round(n / 1024)) + " kB";
}

const LINK_STATE = { active: "pill-good", expired: "pill-plain", revoked: "pill-bad" };

function field(label, input) {
  return el("label", {}, label, input);
}

function newLinkForm(request, container) {
  const inputs = {
    recipient_name: el("input", { required: true, maxLength: 300, "data-field": "recipient_name" }),
    recipient_organisation: el("input", { maxLength: 300, "data-field": "recipient_organisation" }),
    recipient_email: el("input", { type: "email", maxLength: 300, "data-field": "recipient_email" }),
    purpose: el("input", { required: true, maxLength: 300, "data-field": "purpose", placeholder: "e.g. footage of the assault outside 12 High St, 2 Mar 21:00-21:30" }),
    valid_days: el("input", { type: "number", min: 1, max: 30, value: 7, "data-field": "valid_days" }),
    max_gb: el("input", { type: "number", min: 0.1, step: 0.1, value: 2, "data-field": "max_gb" }),
    max_files: el("input", { type: "number", min: 1, max: 200, value: 20, "data-field": "max_files" }),
  };
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const submit = el("button", { type: "submit", class: "primary" }, "Make the link");
  const form = el("form", { class: "inline-form", hidden: true, "data-form": "upload-link" },
    el("div", { class: "row" },
      field("For (name)", inputs.recipient_name),
      field("Organisation", inputs.recipient_organisation),
      field("E-mail", inputs.recipient_email)),
    el("div", { class: "row" }, el("label", { class: "grow" }, "What footage, and why", inputs.purpose)),
    el("div", { class: "row" },
      field("Valid (days)", inputs.valid_days),
      field("Size limit (GB)", inputs.max_gb),
      field("Files at most", inputs.max_files)),
    submit, error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(submit, error, async () => {
      const made = await post("/api/requests/" + encodeURIComponent(request.id) + "/upload-links", {
        recipient_name: inputs.recipient_name.value,
        recipient_organisation: inputs.recipient_organisation.value,
        recipient_email: inputs.recipient_email.value,
        purpose: inputs.purpose.value,
        valid_days: Number(inputs.valid_days.value),
        max_bytes: Math.round(Number(inputs.max_gb.value) * 1024 ** 3),
        max_files: Number(inputs.max_files.value),
      });
      await renderOutside(request, container, made);
    });
  });
  const open = el("button", { type: "button", "data-action": "new-upload-link", "aria-expanded": "false" }, "New upload link…");
  open.addEventListener("click", () => {
    form.hidden = !form.hidden;
    open.setAttribute("aria-expanded", String(!form.hidden));
    if (!form.hidden) inputs.recipient_name.focus();
  });
  return [open, form];
}

function madeLink(made) {
  const url = el("input", { readOnly: true, value: made.url, class: "hash", "data-field": "upload-url" });
  const copy = el("button", { type: "button" }, "Copy");
  copy.addEventListener("click", () => {
    url.select();
    navigator.clipboard?.writeText(made.url).then(() => (copy.textContent = "Copied"), () => {});
  });
  return el("div", { class: "notice", "data-made-link": made.id },
    el("strong", {}, "Upload link for " + made.recipient_name + " (shown once: copy it now)"),
    el("div", { class: "row" }, el("label", { class: "grow" }, "Address to send", url), copy),
    el("div", { class: "hint" }, "Valid until " + shown(made.expires_at) + "; " + made.max_files + " files, " + bytes(made.max_bytes) + " in all."));
}

function linkTable(request, links, container) {
  return table(
    [
      ["For", (l) => [l.recipient_name, l.recipient_organisation ? el("div", { class: "hint" }, l.recipient_organisation) : null]],
      ["Purpose", (l) => l.purpose],
      ["Until", (l) => [el("span", { class: "pill " + (LINK_STATE[l.state] || "pill-plain") }, l.state), " ", shown(l.expires_at)]],
      ["Files", (l) => l.files_stored + " received · " + bytes(l.bytes_reserved) + " of " + bytes(l.max_bytes)],
      ["", (l) => {
        if (l.state !== "active") return null;
        const withdraw = el("button", { type: "button", "data-action": "revoke-link" }, "Withdraw");
        withdraw.addEventListener("click", () => busy(withdraw, null, async () => {
          await post("/api/requests/" + encodeURIComponent(request.id) + "/upload-links/" + l.id + "/revoke");
          await renderOutside(request, container);
        }));
        return withdraw;
      }],
    ],
    links,
    (l) => ({ "data-link-id": l.id })
  );
}

function statementText(st) {
  return [
    st.name + (st.organisation ? ", " + st.organisation : ""),
    "Footage: " + st.footage_from,
    "Obtained: " + st.obtained,
    st.contact ? "Contact: " + st.contact : null,
  ].filter(Boolean).map((line) => el("div", {}, line));
}

function viewer(item, holder) {
  const view = el("button", { type: "button", class: "play", "data-action": "view-outside" }, "View");
  view.addEventListener("click", () => {
    const media = item.kind === "video"
      ? el("video", { controls: true, preload: "metadata", playsInline: true, src: item.content_url, class: "outside-media" })
      : el("img", { src: item.content_url, alt: item.filename, class: "outside-media" });
    holder.replaceChildren(media);
  });
  return view;
}

function itemTable(items) {
  return table(
    [
      ["File", (i) => [el("div", {}, i.filename), el("span", { class: "pill pill-wait" }, i.source), i.exhibit_reference ? el("div", { class: "exhibit-ref outside-ref" }, "exhibit " + i.exhibit_reference) : null, el("div", { class: "hint" }, i.media_type + " · " + bytes(i.size))]],
      ["Uploader's statement", (i) => statementText(i.statement)],
      ["Received", (i) => [shown(i.uploaded_at), el("div", { class: "hash", title: "SHA-256" }, i.sha256)]],
      ["", (i) => {
        const holder = el("div", { class: "outside-view" });
        return [can("footage.view") ? viewer(i, holder) : null, holder];
      }],
    ],
    items,
    (i) => ({ "data-outside-id": i.id })
  );
}

export async function renderOutside(request, container, made) {
  const supervisor = can("requests.decide");
  let items = [];
  try {
    items = (await api("/api/requests/" + encodeURIComponent(request.id) + "/outside-items")).items;
  } catch (err) {
    if (err.status !== 404) throw err;
  }
  const links = supervisor ? (await api("/api/requests/" + encodeURIComponent(request.id) + "/upload-links")).links : [];
  if (!supervisor && !items.length) {
    container.replaceChildren();
    return;
  }
  container.replaceChildren(el("div", {},
    el("h3", {}, "Footage from elsewhere"),
    el("p", { class: "hint" }, "Video and pictures sent through an upload link by a council department, a business or a member of the public: not from a site agent, each with its uploader's statement."),
    made ? madeLink(made) : null,
    supervisor && links.length ? linkTable(request, links, container) : null,
    supervisor ? el("div", { class: "actions" }, newLinkForm(request, container)) : null,
    items.length ? itemTable(items) : el("p", { class: "hint", "data-outside-empty": "" }, "No files received yet.")
  ));
}
