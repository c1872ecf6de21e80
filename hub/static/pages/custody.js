// The custody log: search by item, user, action and time (UK local), export what was found as
// CSV, and verify the hash chain.

import { api, withQuery } from "../lib/api.js";
import { byId, el, labelCells } from "../lib/dom.js";
import { fromInput, shown } from "../lib/time.js";

let wired = false;

function query() {
  // namedItem: "item" is also a method of a form's elements collection.
  const value = (name) => byId("custody-form").elements.namedItem(name).value.trim();
  return {
    item: value("item"),
    user: value("user"),
    action: value("action"),
    from: fromInput(value("from")) || "",
    to: fromInput(value("to")) || "",
  };
}

export async function show() {
  if (!wired) {
    wired = true;
    byId("custody-form").addEventListener("submit", (event) => {
      event.preventDefault();
      search().catch((err) => showError(err));
    });
    byId("audit-verify").addEventListener("click", () => verify().catch((err) => showError(err)));
  }
  await search();
}

function showError(err) {
  byId("custody-error").textContent = err.message;
  byId("custody-error").hidden = false;
}

// The page's first search can answer after a search the user started: only the latest is shown.
let searches = 0;

async function search() {
  byId("custody-error").hidden = true;
  const params = query();
  const mine = ++searches;
  const rows = (await api(withQuery("/api/custody", params))).rows || [];
  if (mine !== searches) return;
  byId("custody-csv").href = withQuery("/api/custody.csv", params);
  byId("custody-count").textContent = rows.length + (rows.length === 1 ? " row" : " rows");
  const body = byId("audit-body");
  body.replaceChildren(
    ...rows.map((row) =>
      el(
        "tr",
        { "data-seq": row.seq },
        el("td", {}, row.seq),
        el("td", {}, shown(row.at)),
        el("td", {}, row.actor),
        el("td", {}, row.action),
        el("td", { class: "subject" }, row.subject)
      )
    )
  );
  labelCells(body);
}

async function verify() {
  const result = await api("/api/audit/verify");
  byId("audit-result").textContent = result.ok
    ? "The chain is intact, anchored by the hub's signed checkpoints, and every item agrees."
    : [
        result.first_bad_seq === null ? "" : "The chain breaks at row " + result.first_bad_seq + ".",
        ...(result.problems || []),
      ].filter(Boolean).join(" ");
}
