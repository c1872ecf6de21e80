// The hub's pages: one per hash (#requests, #request/R-2026-0001, #decisions, ...), a menu of the
// pages the user's role may open, and each role landing on its own page. Pages are modules in
// pages/; the older sections (jobs, evidence, timeline, sites) are driven by app.js.

import { byId, el, showNotice } from "./lib/dom.js";
import { can, loadSession, session } from "./lib/session.js";
import * as custody from "./pages/custody.js";
import * as dashboard from "./pages/dashboard.js";
import * as decisions from "./pages/decisions.js";
import * as disclosures from "./pages/disclosures.js";
import * as enrollment from "./pages/enrollment.js";
import * as fleet from "./pages/fleet.js";
import * as fulfil from "./pages/fulfil.js";
import * as newRequest from "./pages/request_form.js";
import * as requestPage from "./pages/request_status.js";
import * as requests from "./pages/requests.js";
import * as users from "./pages/users.js";

const REFRESH_MS = 3000;

// [hash, menu label (null: not in the menu), may open, module or null for app.js sections only]
function pages() {
  const police = session.role === "police";
  return [
    ["requests", police ? "My requests" : "Requests", can("requests.read"), requests],
    ["new", "New request", can("requests.create"), newRequest],
    ["decisions", "Awaiting decision", can("requests.decide"), decisions],
    ["fulfil", "To fulfil", can("requests.fulfil") || can("jobs.create"), fulfil],
    ["request", null, can("requests.read"), requestPage],
    ["evidence", police || can("requests.fulfil") ? null : "Evidence", can("clips.read"), null],
    ["fleet", can("live.view") ? null : "Fleet health", can("sites.read"), fleet],
    ["sites", can("live.view") ? "Sites & live" : "Site health", can("sites.read"), null],
    ["enrollment", "Enrollment", can("sites.register") || session.role === "engineer", enrollment],
    ["disclosures", "Disclosure log", can("requests.release") || can("audit.read"), disclosures],
    ["dashboard", "Dashboard", can("dashboard.read"), dashboard],
    ["custody", "Custody log", can("audit.read"), custody],
    ["users", "Users", can("users.manage"), users],
  ];
}

const router = { page: null, timer: null, module: null };

function parseHash() {
  const hash = location.hash.replace(/^#/, "");
  if (/^clip-[A-Za-z0-9_-]{1,64}$/.test(hash)) return ["evidence", hash.slice(5)];
  const [page, ...rest] = hash.split("/");
  return [page, rest.map(decodeURIComponent).join("/")];
}

function buildMenu() {
  const nav = byId("nav");
  const list = el("ul", {});
  for (const [hash, label, allowed] of pages()) {
    if (!label || !allowed) continue;
    list.append(el("li", {}, el("a", { href: "#" + hash, "data-page": hash }, label)));
  }
  nav.replaceChildren(list);
}

// A section of app.js belongs to the pages in its data-pages and needs every permission in data-perm.
function showSections(page) {
  for (const section of document.querySelectorAll("main > section[data-pages]")) {
    const inPage = section.dataset.pages.split(" ").includes(page);
    const perms = (section.dataset.perm || "").split(" ").filter(Boolean);
    section.hidden = !inPage || !perms.every(can);
  }
}

// The role's own page, or the first page it may open (a hub without the request pages).
function landing() {
  const open = pages().filter(([, label, allowed]) => label && allowed);
  const own = open.find(([hash]) => "#" + hash === session.landing);
  return own || !open.length ? session.landing : "#" + open[0][0];
}

async function route() {
  let [page, arg] = parseHash();
  const known = pages().find(([hash]) => hash === page);
  if (!known || !known[2]) {
    if (page && known) showNotice("Your role cannot open that page; here is yours.");
    const target = landing();
    if (target.slice(1) === page || !pages().some(([hash, , ok]) => ok && "#" + hash === target)) {
      showNotice("Your role has no page here.");
      return;
    }
    location.replace(target);
    return;
  }
  clearInterval(router.timer);
  delete document.body.dataset.shown;
  if (router.module && router.module.leave) router.module.leave();
  router.page = page;
  router.module = known[3];
  showSections(page);
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.page === page) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.body.dataset.page = page;
  if (router.module) {
    try {
      await router.module.show(arg);
      if (router.module.refresh) {
        router.timer = setInterval(() => router.module.refresh(arg).catch(() => {}), REFRESH_MS);
      }
    } catch (err) {
      showNotice(err.message);
    }
  }
  const heading = document.querySelector("main > section:not([hidden]) h2");
  if (heading) document.title = heading.textContent + " · CCTV evidence hub";
  // The page's first fetches are done (tests wait for this instead of a fixed time).
  document.body.dataset.shown = page;
}

async function start() {
  await loadSession();
  buildMenu();
  await window.startWorkbench(session); // app.js: jobs, evidence, timeline, sites
  window.addEventListener("hashchange", () => route());
  if (!location.hash) history.replaceState(null, "", landing());
  await route();
  document.body.dataset.ready = "true";
}

start().catch((err) => showNotice("The page could not start: " + err.message));
