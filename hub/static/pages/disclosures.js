// The disclosure log (ICO guidance): each release with its number, date, recipient and their
// organisation, purpose, lawful basis, and every item with its SHA-256. Exported as CSV.

import { api } from "../lib/api.js";
import { byId, el, table } from "../lib/dom.js";
import { can } from "../lib/session.js";
import { shown } from "../lib/time.js";
import { basisLabel } from "./request_bits.js";

export async function show() {
  const body = await api("/api/disclosures");
  const entries = body.entries || [];
  byId("disclosures-empty").hidden = entries.length > 0;
  byId("disclosures-list").replaceChildren(
    entries.length
      ? table(
          [
            ["No.", (e) => e.number],
            ["Released", (e) => shown(e.released_at)],
            ["Request", (e) => (can("requests.read") ? el("a", { href: "#request/" + encodeURIComponent(e.request_id) }, e.request_id) : e.request_id)],
            ["Recipient", (e) => [e.recipient, el("br"), el("span", { class: "hint" }, e.organisation)]],
            ["Purpose", (e) => [e.purpose, el("br"), el("span", { class: "hint" }, basisLabel(e.lawful_basis))]],
            ["Items (SHA-256)", (e) => (e.items || []).map((i) => el("div", { class: "hash" }, i.clip_id + ": " + i.sha256))],
          ],
          entries,
          (e) => ({ "data-number": e.number })
        )
      : ""
  );
}
