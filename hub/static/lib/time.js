// Times for people: the wire speaks UTC ("...Z"); pages show and take UK local time (Europe/London),
// whatever zone the browser's machine is set to. The zone's name (GMT or BST) is always shown.

const ZONE = "Europe/London";
const PARTS = new Intl.DateTimeFormat("en-GB", {
  timeZone: ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});
const SHOWN = new Intl.DateTimeFormat("en-GB", {
  timeZone: ZONE,
  weekday: "short",
  day: "numeric",
  month: "short",
  year: "numeric",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
  timeZoneName: "short",
});
const CLOCK = new Intl.DateTimeFormat("en-GB", {
  timeZone: ZONE,
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});
const BRIEF = new Intl.DateTimeFormat("en-GB", {
  timeZone: ZONE,
  weekday: "short",
  day: "numeric",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
  hourCycle: "h23",
});
const DAY = new Intl.DateTimeFormat("en-GB", { timeZone: ZONE, day: "numeric", month: "short", year: "numeric" });

function fields(date) {
  const out = {};
  for (const part of PARTS.formatToParts(date)) out[part.type] = Number(part.value);
  return out;
}

// Minutes east of UTC that London is at ``date`` (0 or 60).
function londonOffsetMinutes(date) {
  const f = fields(date);
  const asUtc = Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second);
  return Math.round((asUtc - Math.floor(date.getTime() / 1000) * 1000) / 60000);
}

// "Sat 2 Mar 2024, 06:24 GMT"
export function shown(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return isNaN(date.getTime()) ? String(iso) : SHOWN.format(date);
}

// "Sat 2 Mar, 06:24" (UK time; for where the page already says so)
export function brief(iso) {
  return iso ? BRIEF.format(new Date(iso)).replace(",", "") : "";
}

// "06:24"
export function clock(iso) {
  return iso ? CLOCK.format(new Date(iso)) : "";
}

// "2 Mar 2024"
export function day(iso) {
  return iso ? DAY.format(new Date(iso)) : "";
}

// "Sat 2 Mar 2024, 06:00 GMT → 06:30", the second date only when it differs.
export function span(startIso, endIso) {
  if (!startIso || !endIso) return "";
  const sameDay = day(startIso) === day(endIso);
  return shown(startIso) + " → " + (sameDay ? clock(endIso) : shown(endIso));
}

// The value a <input type="datetime-local"> shows for ``iso``, in London time.
export function toInput(iso) {
  const f = fields(new Date(iso));
  const pad = (n) => String(n).padStart(2, "0");
  return f.year + "-" + pad(f.month) + "-" + pad(f.day) + "T" + pad(f.hour) + ":" + pad(f.minute);
}

// A datetime-local value, read as London wall time, as UTC ISO ("...Z"); null when empty or bad.
export function fromInput(value) {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(value || "");
  if (!match) return null;
  const [, y, mo, d, h, mi, s] = match.map(Number);
  const wall = Date.UTC(y, mo - 1, d, h, mi, s || 0);
  let guess = wall - londonOffsetMinutes(new Date(wall)) * 60000;
  guess = wall - londonOffsetMinutes(new Date(guess)) * 60000; // right across a clock change
  return new Date(guess).toISOString().replace(/\.000Z$/, "Z");
}

// "45 s", "20 min", "1 h 5 min", "3 days 2 h"
export function duration(seconds) {
  if (seconds === null || seconds === undefined || isNaN(seconds)) return "";
  const s = Math.round(Math.abs(seconds));
  if (s < 60) return s + " s";
  const minutes = Math.round(s / 60);
  if (minutes < 60) return minutes + " min";
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  if (h < 48) return m ? h + " h " + m + " min" : h + " h";
  const days = Math.floor(h / 24);
  return h % 24 ? days + " days " + (h % 24) + " h" : days + " days";
}

export function nowInput(minutesAgo) {
  return toInput(new Date(Date.now() - (minutesAgo || 0) * 60000).toISOString());
}
