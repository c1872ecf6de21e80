// Sites and enrollment. Supervisors add a site (a one-time token, shown once, with the exact
// command for the site box and its expiry), see the tokens waiting for their box, and revoke a
// site (with a confirmation and a reason for the custody log). Engineers see the same list read
// only: every site's state, revoked ones included. Health only: no footage on this page.

import { api, post } from "../lib/api.js";
import { badge, busy, byId, el, errorLine, table } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { brief, duration } from "../lib/time.js";

const PILL = { online: "good", enrolled: "good", waiting: "wait", offline: "bad", revoked: "bad", expired: "plain", unknown: "plain" };
let wired = false;
let revoking = null;

function pill(state) {
  return badge(state, PILL[state] || "plain");
}

function when(iso) {
  return iso ? brief(iso) : "-";
}

export async function show() {
  const manage = can("sites.register");
  byId("enrollment-add").hidden = !manage;
  byId("enrollment-readonly").hidden = manage;
  if (!wired) {
    wired = true;
    byId("enrollment-form").addEventListener("submit", issue);
    byId("enrollment-copy").addEventListener("click", copyCommand);
    byId("enrollment-hide").addEventListener("click", hideToken);
    byId("revoke-cancel").addEventListener("click", () => byId("revoke-dialog").close());
    byId("revoke-form").addEventListener("submit", confirmRevoke);
  }
  await refresh();
}

export function leave() {
  hideToken(); // shown once: never again after the page is left
}

export async function refresh() {
  const manage = can("sites.register");
  const [sites, access] = await Promise.all([api("/api/sites"), manage ? enrollments() : Promise.resolve([])]);
  const accessOf = Object.fromEntries(access.map((a) => [a.site_id, a]));
  const columns = [
    ["Site", (s) => [el("strong", {}, s.name || s.site_id), el("br"), el("span", { class: "hint" }, s.site_id)]],
    ["State", (s) => pill(s.state)],
    manage ? ["Enrolled", (s) => enrolledText(accessOf[s.site_id])] : null,
    ["Last report", (s) => when(s.last_seen)],
    ["Agent", (s) => s.version || "-"],
    ["Cameras", (s) => String(s.cameras.length)],
  ];
  if (manage) columns.push(["", (s) => revokeButton(s.site_id, s.name, accessOf[s.site_id])]);
  byId("enrollment-sites").replaceChildren(sites.length ? table(columns.filter(Boolean), sites, (s) => ({ "data-site": s.site_id, "data-state": s.state })) : "");
  byId("enrollment-none").hidden = sites.length > 0;
  const registered = new Set(sites.map((s) => s.site_id));
  const pending = access.filter((a) => !registered.has(a.site_id) && (a.state === "waiting" || a.state === "expired"));
  byId("enrollment-pending-box").hidden = pending.length === 0;
  byId("enrollment-pending").replaceChildren(
    pending.length
      ? table(
          [
            ["Site", (a) => [el("strong", {}, a.name), el("br"), el("span", { class: "hint" }, a.site_id)]],
            ["State", (a) => pill(a.state)],
            ["Token expires", (a) => when(a.token_expires_at)],
            ["Issued by", (a) => a.created_by],
            ["", (a) => revokeButton(a.site_id, a.name, a)],
          ],
          pending,
          (a) => ({ "data-site": a.site_id, "data-state": a.state })
        )
      : ""
  );
}

// Every enrollment, or none on a hub where enrollment is not set up (the page says so).
async function enrollments() {
  try {
    const access = await api("/api/sites/enrollments");
    byId("enrollment-off").hidden = true;
    return access;
  } catch (err) {
    if (err.status !== 503) throw err;
    byId("enrollment-off").textContent = err.message;
    byId("enrollment-off").hidden = false;
    byId("enrollment-add").hidden = true;
    return [];
  }
}

function enrolledText(access) {
  if (!access) return "registered in the hub's settings";
  const parts = [access.enrolled_at ? when(access.enrolled_at) : "never"];
  if (access.revoked_at) parts.push(el("br"), el("span", { class: "hint" }, "revoked " + when(access.revoked_at)));
  return parts;
}

function revokeButton(siteId, name, access) {
  if (!access || access.state === "revoked") return "";
  const waiting = access.state !== "enrolled";
  const button = el("button", { type: "button", class: "danger", "data-action": "revoke" }, waiting ? "Cancel token" : "Revoke");
  button.addEventListener("click", () => openRevoke(siteId, name || siteId, waiting));
  return button;
}

function openRevoke(siteId, name, waiting) {
  revoking = siteId;
  byId("revoke-title").textContent = (waiting ? "Cancel the token of " : "Revoke ") + name + " (" + siteId + ")";
  byId("revoke-what").textContent = waiting
    ? "The token can no longer be used; the site can be added again with a new one."
    : "Its broker login is removed now: the box is disconnected at once and cannot reconnect, and the hub ignores anything more it says. Footage already stored stays. To bring the box back, add the site again and enroll it with a new token.";
  byId("revoke-confirm").textContent = waiting ? "Cancel the token" : "Revoke " + siteId;
  byId("revoke-reason").value = "";
  errorLine(byId("revoke-error"), "");
  byId("revoke-dialog").showModal();
  byId("revoke-reason").focus();
}

async function confirmRevoke(event) {
  event.preventDefault();
  const reason = byId("revoke-reason").value.trim();
  if (!reason) {
    errorLine(byId("revoke-error"), "Give a reason: it goes into the custody log.");
    return;
  }
  await busy(byId("revoke-confirm"), byId("revoke-error"), async () => {
    await post("/api/sites/" + encodeURIComponent(revoking) + "/revoke", { reason: reason });
    byId("revoke-dialog").close();
    await refresh();
  });
}

async function issue(event) {
  event.preventDefault();
  const form = byId("enrollment-form");
  const siteId = byId("enrollment-site").value.trim();
  const name = byId("enrollment-name").value.trim();
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(siteId) || !name) {
    errorLine(byId("enrollment-error"), "A site id (letters, digits, - and _) and a name, please.");
    return;
  }
  await busy(byId("enrollment-issue"), byId("enrollment-error"), async () => {
    const issued = await post("/api/sites/enrollments", { site_id: siteId, name: name });
    form.reset();
    showToken(issued);
    await refresh();
  });
}

function showToken(issued) {
  const seconds = (Date.parse(issued.expires_at) - Date.now()) / 1000;
  byId("enrollment-token-title").textContent = "Enrollment token for " + issued.name + " (" + issued.site_id + ")";
  byId("enrollment-token-expiry").textContent = brief(issued.expires_at) + (seconds > 0 ? " (in " + duration(seconds) + ")" : "");
  byId("enrollment-token-expiry").dateTime = issued.expires_at;
  byId("enrollment-command").textContent = issued.command;
  byId("enrollment-copied").hidden = true;
  byId("enrollment-token").hidden = false;
  byId("enrollment-copy").focus();
}

async function copyCommand() {
  const text = byId("enrollment-command").textContent;
  let said = "Copied.";
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const range = document.createRange(); // no clipboard (plain http): select it for Ctrl+C
    range.selectNodeContents(byId("enrollment-command"));
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    said = "Selected: press Ctrl+C to copy.";
  }
  byId("enrollment-copied").textContent = said;
  byId("enrollment-copied").hidden = false;
}

function hideToken() {
  byId("enrollment-command").textContent = "";
  byId("enrollment-token").hidden = true;
}
