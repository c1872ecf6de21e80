// "My requests" (police) or every request (operator, supervisor): newest first, open ones on top.

import { api, withQuery } from "../lib/api.js";
import { byId, el, table } from "../lib/dom.js";
import { can, session } from "../lib/session.js";
import { shown } from "../lib/time.js";
import { camerasText, policeReference, requestLink, statePill, urgencyPill, windowText } from "./request_bits.js";

const OPEN = new Set(["submitted", "approved", "partly_approved", "fulfilling", "ready", "released"]);

export async function show() {
  byId("requests-new").hidden = !can("requests.create");
  byId("requests-filter").onchange = () => refresh();
  await refresh();
}

export async function refresh() {
  const which = byId("requests-filter").value;
  const mine = session.role === "police" ? "1" : "";
  const body = await api(withQuery("/api/requests", { mine: mine, state: which === "open" || which === "all" ? "" : which }));
  let list = body.requests || [];
  if (which === "open") list = list.filter((r) => OPEN.has(r.state));
  byId("requests-empty").hidden = list.length > 0;
  byId("requests-list").replaceChildren(
    table(
      [
        ["Request", (r) => requestLink(r)],
        ["State", (r) => statePill(r)],
        ["Urgency", (r) => urgencyPill(r.urgency)],
        ["Crime ref. / offence", (r) => [policeReference(r), el("br"), el("span", { class: "hint" }, r.offence || "")]],
        ["Incident window", (r) => windowText(r)],
        ["Cameras", (r) => camerasText(r.cameras)],
        ["Received", (r) => shown(r.created_at)],
      ],
      list,
      (r) => ({ "data-request-id": r.id, "data-state": r.state })
    )
  );
}
