// Users (supervisor): who may log in, with which role; add, disable, set a new password.
// A password is sent once and never shown again.

import { api, post } from "../lib/api.js";
import { busy, byId, el, table } from "../lib/dom.js";
import { session } from "../lib/session.js";

let wired = false;

export async function show() {
  if (!wired) {
    wired = true;
    byId("user-form").addEventListener("submit", add);
    byId("user-role").addEventListener("change", policeFields);
  }
  policeFields();
  await refresh();
}

function policeFields() {
  byId("user-police").hidden = byId("user-role").value !== "police";
}

async function refresh() {
  const body = await api("/api/users");
  const users = Array.isArray(body) ? body : body.users || [];
  byId("users-list").replaceChildren(
    table(
      [
        ["User", (u) => [el("strong", {}, u.username), el("br"), el("span", { class: "hint" }, u.display_name || "")]],
        ["Role", (u) => u.role],
        ["E-mail", (u) => u.email || ""],
        ["Force / collar", (u) => [u.force, u.collar_number].filter(Boolean).join(" ")],
        ["State", (u) => (u.disabled ? el("span", { class: "pill pill-plain" }, "disabled") : el("span", { class: "pill pill-good" }, "active"))],
        ["", (u) => actions(u)],
      ],
      users,
      (u) => ({ "data-username": u.username })
    )
  );
}

function actions(user) {
  if (user.username === session.user) return "";
  // Users from the hub's settings file are changed there (the file wins at every start).
  if (user.source === "config") return el("span", { class: "hint" }, "set in the hub's settings file");
  const error = el("p", { class: "error", role: "alert", hidden: true });
  if (user.disabled) {
    const enable = el("button", { type: "button", "data-action": "enable" }, "Enable");
    enable.addEventListener("click", () =>
      busy(enable, error, async () => {
        await post("/api/users/" + encodeURIComponent(user.username) + "/enable");
        await refresh();
      })
    );
    return el("div", { class: "actions" }, enable, error);
  }
  const disable = el("button", { type: "button", "data-action": "disable" }, "Disable");
  disable.addEventListener("click", () =>
    busy(disable, error, async () => {
      await post("/api/users/" + encodeURIComponent(user.username) + "/disable");
      await refresh();
    })
  );
  const password = el("input", { type: "password", autocomplete: "new-password", "aria-label": "New password for " + user.username, minLength: 12 });
  const set = el("button", { type: "submit" }, "Set");
  const form = el("form", { class: "inline-form", hidden: true }, password, set);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(set, error, async () => {
      await post("/api/users/" + encodeURIComponent(user.username) + "/reset-password", { password: password.value });
      password.value = "";
      form.hidden = true;
      error.textContent = "Password changed.";
      error.className = "ok";
      error.hidden = false;
    });
  });
  const reset = el("button", { type: "button", "data-action": "reset" }, "New password…");
  reset.addEventListener("click", () => {
    form.hidden = !form.hidden;
    if (!form.hidden) password.focus();
  });
  return el("div", { class: "actions" }, disable, reset, form, error);
}

async function add(event) {
  event.preventDefault();
  const f = byId("user-form").elements;
  const body = {
    username: f.username.value.trim(),
    role: f.role.value,
    display_name: f.display_name.value.trim(),
    email: f.email.value.trim(),
    password: f.password.value,
  };
  if (body.role === "police") {
    body.force = f.force.value.trim();
    body.collar_number = f.collar_number.value.trim();
  }
  await busy(byId("user-add"), byId("user-error"), async () => {
    await post("/api/users", body);
    byId("user-form").reset();
    policeFields();
    await refresh();
  });
}
