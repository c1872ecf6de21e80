// Talking to the hub: JSON over fetch with the session cookie; errors carry the hub's own words.

export async function api(path, options) {
  const opts = Object.assign({ headers: {} }, options || {});
  opts.headers["X-Requested-With"] = "cctv-ui";
  if (opts.body !== undefined && typeof opts.body !== "string") {
    opts.body = JSON.stringify(opts.body);
  }
  if (opts.body !== undefined) opts.headers["Content-Type"] = "application/json";
  const response = await fetch(path, opts);
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("not logged in");
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const error = new Error(describeError(body, response.status));
    error.status = response.status;
    throw error;
  }
  return body;
}

export function describeError(body, status) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail
      .map((item) => {
        const where = (item.loc || []).filter((part) => part !== "body").join(".");
        return (where ? where + ": " : "") + String(item.msg).replace(/^Value error, /, "");
      })
      .join("; ");
  }
  if (status === 403) return "Your role may not do that.";
  return "The hub refused (HTTP " + status + ").";
}

// "/api/custody?user=x&from=..." without the empty ones.
export function withQuery(path, params) {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null && value !== "") query.set(key, value);
  }
  const text = query.toString();
  return text ? path + "?" + text : path;
}

export function post(path, body) {
  return api(path, { method: "POST", body: body || {} });
}

// A file from the hub (an export package): its bytes and the name the hub gives it, or an Error
// carrying the hub's own words when it refuses (the JSON error is never saved as the file).
export async function fetchFile(path) {
  const response = await fetch(path, { headers: { "X-Requested-With": "cctv-ui" } });
  if (response.status === 401) {
    window.location.assign("/login");
    throw new Error("not logged in");
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    const error = new Error(describeError(body, response.status));
    error.status = response.status;
    throw error;
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const named = /filename="?([^";]+)"?/.exec(disposition);
  return { blob: await response.blob(), filename: named ? named[1] : "" };
}
