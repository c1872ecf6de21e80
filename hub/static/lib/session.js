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
  let body;
  try {
    body = await api("/api/session");
  } catch (err) {
    if (err.status !== 404 && err.status !== 405) throw err;
    body = await api("/api/me"); // a hub without GET /api/session
  }
  session.user = body.user || body.username;
  session.role = body.role;
  session.permissions = body.permissions || {};
  session.landing = body.landing || LANDING[body.role] || "#requests";
  // The user's own details, where the hub keeps them (pre-fill the officer on a request).
  session.display_name = body.display_name || "";
  session.profile = { force: body.force || "", collar_number: body.collar_number || "", contact: body.email || "", rank: body.rank || "" };
  return session;
}

export function can(permission) {
  const scope = session.permissions[permission];
  return Boolean(scope) && scope !== "none";
}
