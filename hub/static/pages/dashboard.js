// The partners' performance dashboard: requests per month and per district, turnaround
// (request -> approval -> release, median and 90th percentile), outcomes, declined with reasons,
// RIPA. Charts by the vendored Chart.js (loaded when this page first opens); every chart has its
// figures as a table too, for screen readers and for copying.

import { api, withQuery } from "../lib/api.js";
import { byId, el, table } from "../lib/dom.js";
import { fromInput } from "../lib/time.js";

const COLOURS = { blue: "#0b5cad", green: "#1b7f3b", red: "#a4161a", amber: "#b36b00", grey: "#5b6570", teal: "#00707a" };
const charts = [];
let wired = false;
let loading = null;

function loadChartJs() {
  if (window.Chart) return Promise.resolve();
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/vendor/chart.umd.min.js";
      script.onload = resolve;
      script.onerror = () => reject(new Error("the chart library did not load"));
      document.head.append(script);
    });
  }
  return loading;
}

function range() {
  const f = byId("dash-form").elements;
  return { from: f.from.value ? fromInput(f.from.value + "T00:00") : "", to: f.to.value ? fromInput(f.to.value + "T23:59") : "" };
}

export async function show() {
  if (!wired) {
    wired = true;
    byId("dash-form").addEventListener("submit", (event) => {
      event.preventDefault();
      draw().catch((err) => (byId("dash-error").textContent = err.message));
    });
  }
  await draw();
}

export function leave() {
  while (charts.length) charts.pop().destroy();
}

function figures(caption, columns, rows) {
  return el("details", { class: "figures" }, el("summary", {}, "Figures: " + caption), table(columns, rows));
}

function chart(slot, config, caption, columns, rows) {
  const canvas = el("canvas", { role: "img", "aria-label": caption });
  byId(slot).replaceChildren(el("div", { class: "chart-box" }, canvas), figures(caption, columns, rows));
  config.options = Object.assign(
    { animation: false, responsive: true, maintainAspectRatio: false, plugins: { legend: { position: "bottom" } } },
    config.options || {}
  );
  charts.push(new window.Chart(canvas, config));
}

async function draw() {
  const params = range();
  const [data] = await Promise.all([api(withQuery("/api/dashboard", params)), loadChartJs()]);
  leave();
  byId("dash-csv").href = withQuery("/api/dashboard.csv", params);
  const months = data.per_month || [];
  const districts = data.per_district || [];
  const turnaround = data.turnaround || {};
  const outcomes = Object.entries(data.outcomes || {});
  const declined = byReason(data.declined || []);
  const total = data.total ?? months.reduce((n, m) => n + m.requests, 0);
  const released = months.reduce((n, m) => n + m.released, 0);
  const median = (turnaround.to_release || {}).median_h;
  byId("dash-tiles").replaceChildren(
    tile("Requests", total),
    tile("Released", released),
    tile("Median to release", median === undefined || median === null ? "–" : median.toFixed(1) + " h"),
    tile("Under RIPA", data.ripa || 0)
  );
  chart("dash-months", {
    type: "bar",
    data: {
      labels: months.map((m) => m.month),
      datasets: [
        { label: "Requests", data: months.map((m) => m.requests), backgroundColor: COLOURS.blue },
        { label: "Released", data: months.map((m) => m.released), backgroundColor: COLOURS.green },
        { label: "Declined", data: months.map((m) => m.declined), backgroundColor: COLOURS.red },
      ],
    },
    options: whole("y"),
  }, "requests per month", [["Month", (m) => m.month], ["Requests", (m) => m.requests], ["Released", (m) => m.released], ["Declined", (m) => m.declined]], months);
  chart("dash-districts", {
    type: "bar",
    data: { labels: districts.map((d) => d.district), datasets: [{ label: "Requests", data: districts.map((d) => d.requests), backgroundColor: COLOURS.teal }] },
    options: Object.assign(whole("x"), { indexAxis: "y", plugins: { legend: { display: false } } }),
  }, "requests per district or partner", [["District / partner", (d) => d.district], ["Requests", (d) => d.requests]], districts);
  const steps = [["Request to approval", turnaround.to_approval || {}], ["Request to release", turnaround.to_release || {}]];
  chart("dash-turnaround", {
    type: "bar",
    data: {
      labels: steps.map(([name]) => name),
      datasets: [
        { label: "Median (h)", data: steps.map(([, s]) => s.median_h), backgroundColor: COLOURS.blue },
        { label: "90th percentile (h)", data: steps.map(([, s]) => s.p90_h), backgroundColor: COLOURS.amber },
      ],
    },
    options: { indexAxis: "y" },
  }, "turnaround in hours", [["Step", ([name]) => name], ["Median (h)", ([, s]) => s.median_h], ["90th percentile (h)", ([, s]) => s.p90_h]], steps);
  chart("dash-outcomes", {
    type: "bar",
    data: { labels: outcomes.map(([k]) => k.replace(/_/g, " ")), datasets: [{ label: "Requests", data: outcomes.map(([, v]) => v), backgroundColor: COLOURS.green }] },
    options: Object.assign(whole("y"), { plugins: { legend: { display: false } } }),
  }, "what the footage led to", [["Outcome", ([k]) => k.replace(/_/g, " ")], ["Requests", ([, v]) => v]], outcomes);
  chart("dash-declined", {
    type: "bar",
    data: { labels: declined.map((d) => d.reason), datasets: [{ label: "Declined", data: declined.map((d) => d.count), backgroundColor: COLOURS.red }] },
    options: Object.assign(whole("x"), { indexAxis: "y", plugins: { legend: { display: false } } }),
  }, "declined, by reason", [["Reason", (d) => d.reason], ["Requests", (d) => d.count]], declined);
}

// Counts are whole numbers: no "0.5 requests" on the value axis.
function whole(axis) {
  return { scales: { [axis]: { beginAtZero: true, ticks: { precision: 0 } } } };
}

// The hub lists each decline with its reason; the chart counts them by reason, most first.
function byReason(declines) {
  const counts = new Map();
  for (const d of declines) counts.set(d.reason, (counts.get(d.reason) || 0) + (d.count || 1));
  return Array.from(counts, ([reason, count]) => ({ reason: reason, count: count })).sort((a, b) => b.count - a.count);
}

function tile(label, value) {
  return el("div", { class: "tile" }, el("span", { class: "tile-value" }, String(value)), el("span", { class: "tile-label" }, label));
}
