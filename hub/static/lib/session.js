// Who is logged in, what their role may do, and which page is theirs.

import { api } from "./api.js";

const LANDING = {
  police: "#requests",
  supervisor: "#decisions",
  operator: "#fulfil",
  engineer: "#sites",
  auditor: "#custody",
};

export const session = { user: "", role: "", permissions: {}, landing: "#requests" };

export async function loadSession() {
  const body = await api("/api/session");
  session.user = body.user || body.username;
  session.role = body.role;
  session.permissions = body.permissions || {};
  session.landing = body.landing || LANDING[body.role] || "#requests";
  // The user's own details, where the hub keeps them (pre-fill the officer on a request). The hub
  // keeps no rank: it is typed once and remembered on this browser.
  session.display_name = body.display_name || "";
  session.profile = { force: body.force || "", collar_number: body.collar_number || "", contact: body.email || "" };
  return session;
}

export function can(permission) {
  const scope = session.permissions[permission];
  return Boolean(scope) && scope !== "none";
}
