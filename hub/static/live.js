// Live view: each tile asks the hub for a WebRTC session with one camera and plays it.
//
// Signalling (same origin, the user's session cookie):
//   POST   {apiBase}/api/live/{site}/{camera}/offer               {sdp} -> {session_id, sdp}
//   DELETE {apiBase}/api/live/{site}/{camera}/sessions/{session_id}
// Errors come back as JSON {detail}, shown as they are (site offline, camera unknown, H.265 ...).
//
// ICE is gathered before the offer is sent (vanilla ICE), so one request/response connects.
// A tile reconnects with backoff when the offer fails for a reason that may pass (site offline,
// timeout, server error), when the connection fails or stays disconnected, and when the picture
// stops moving; it gives up at once on errors that retrying cannot fix (unknown camera, H.265).
"use strict";

(function () {
  const RETRY_FIRST_MS = 1000;
  const RETRY_MAX_MS = 30000;
  const ICE_GATHERING_MS = 3000; // send what we have after this; host candidates come at once
  const OFFER_TIMEOUT_MS = 35000; // the hub waits for the site; give it time to say why not
  const CONNECT_TIMEOUT_MS = 20000; // answer received but no media path after this: retry
  const DISCONNECTED_GRACE_MS = 4000; // "disconnected" often heals by itself
  const STALL_MS = 10000; // connected but the picture has not moved for this long: retry
  const WATCH_EVERY_MS = 2000;

  function readConfig() {
    const defaults = { apiBase: "", iceServers: [] };
    const element = document.getElementById("live-config");
    if (!element) return defaults;
    try {
      return Object.assign(defaults, JSON.parse(element.textContent || "{}"));
    } catch (err) {
      console.warn("live view: bad #live-config JSON", err);
      return defaults;
    }
  }

  const config = readConfig();

  class ApiError extends Error {
    constructor(message, retry) {
      super(message);
      this.name = "ApiError";
      this.retry = retry;
    }
  }

  // FastAPI sends {detail: "text"} for HTTP errors and {detail: [{msg, loc}]} for bad requests.
  function detailText(body, status) {
    const detail = body && body.detail;
    if (typeof detail === "string" && detail) return detail;
    if (Array.isArray(detail) && detail.length) {
      return detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
    }
    return `The hub answered ${status}.`;
  }

  // Worth asking again later: the site may come back, a viewer may leave, a timeout may pass.
  function retryable(status) {
    return status >= 500 || status === 408 || status === 409 || status === 429;
  }

  function livePath(site, camera) {
    return `${config.apiBase}/api/live/${encodeURIComponent(site)}/${encodeURIComponent(camera)}`;
  }

  function waitForIceGathering(pc, limitMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        pc.removeEventListener("icegatheringstatechange", check);
        resolve();
      };
      const check = () => {
        if (pc.iceGatheringState === "complete") done();
      };
      const timer = setTimeout(done, limitMs);
      pc.addEventListener("icegatheringstatechange", check);
    });
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  class LiveTile {
    constructor(site, camera, parent) {
      this.site = site;
      this.camera = camera;
      this.pc = null;
      this.sessionId = null;
      this.generation = 0; // bumped by every (re)connect and stop; stale callbacks check it
      this.attempt = 0;
      this.stopped = true;
      this.timers = {};
      this.lastTime = -1;
      this.lastMoved = 0;

      this.root = element("section", "tile");
      this.root.dataset.site = site;
      this.root.dataset.camera = camera;
      this.video = element("video");
      this.video.muted = true;
      this.video.autoplay = true;
      this.video.playsInline = true;
      this.video.setAttribute("playsinline", "");
      this.video.setAttribute("aria-label", `Live picture of ${camera} at ${site}`);
      this.video.addEventListener("dblclick", () => this.toggleFullscreen());
      const label = element("div", "label");
      label.append(element("span", "name", `${site} / ${camera}`));
      this.stateBadge = element("span", "state", "idle");
      this.button = element("button", "", "Stop");
      this.button.type = "button";
      this.button.addEventListener("click", () => (this.stopped ? this.start() : this.stop()));
      label.append(this.stateBadge, this.button);
      this.message = element("div", "message");
      this.message.setAttribute("role", "status");
      this.root.append(this.video, label, this.message);
      parent.append(this.root);
    }

    start() {
      this.stopped = false;
      this.attempt = 0;
      this.button.textContent = "Stop";
      this.timers.watch = setInterval(() => this.watch(), WATCH_EVERY_MS);
      this.connect();
    }

    stop(keepalive = false) {
      this.stopped = true;
      this.generation += 1;
      this.clearTimers();
      this.teardown(keepalive);
      this.video.srcObject = null;
      this.button.textContent = "Start";
      this.setState("stopped", "stopped", "");
    }

    setState(state, badge, message) {
      this.root.dataset.state = state;
      this.stateBadge.textContent = badge;
      this.message.textContent = message;
    }

    clearTimers() {
      for (const name of Object.keys(this.timers)) {
        clearTimeout(this.timers[name]);
        clearInterval(this.timers[name]);
      }
      this.timers = {};
    }

    async connect() {
      const generation = ++this.generation;
      const stale = () => generation !== this.generation;
      clearTimeout(this.timers.retry);
      clearTimeout(this.timers.connect);
      this.teardown(false);
      this.setState("connecting", "connecting", "Asking the site for the camera...");

      const pc = new RTCPeerConnection({ iceServers: config.iceServers || [] });
      this.pc = pc;
      pc.addTransceiver("video", { direction: "recvonly" });
      pc.addEventListener("track", (event) => {
        if (stale()) return;
        this.video.srcObject = event.streams[0] || new MediaStream([event.track]);
        this.video.play().catch(() => {}); // muted autoplay is allowed; ignore a race with stop
      });
      pc.addEventListener("connectionstatechange", () => {
        if (!stale()) this.onConnectionState(pc.connectionState);
      });

      try {
        await pc.setLocalDescription(await pc.createOffer());
        await waitForIceGathering(pc, ICE_GATHERING_MS);
        if (stale()) return;
        const answer = await this.postOffer(pc.localDescription.sdp);
        if (stale()) {
          this.deleteSession(answer.session_id, false);
          return;
        }
        this.sessionId = answer.session_id;
        await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
        if (pc.connectionState !== "connected") {
          this.setState("connecting", "connecting", "Connecting to the camera...");
        }
        this.timers.connect = setTimeout(() => {
          if (!stale() && pc.connectionState !== "connected") {
            this.retry("The site answered but no connection could be made.");
          }
        }, CONNECT_TIMEOUT_MS);
      } catch (err) {
        if (stale()) return;
        if (err instanceof ApiError && !err.retry) {
          this.fail(err.message);
        } else {
          this.retry(err && err.message ? err.message : String(err));
        }
      }
    }

    async postOffer(sdp) {
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), OFFER_TIMEOUT_MS);
      let response;
      try {
        response = await fetch(`${livePath(this.site, this.camera)}/offer`, {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          credentials: "same-origin",
          body: JSON.stringify({ sdp }),
          signal: controller.signal,
        });
      } catch (err) {
        const why = err.name === "AbortError" ? "The hub did not answer in time." : "The hub cannot be reached.";
        throw new ApiError(why, true);
      } finally {
        clearTimeout(timer);
      }
      let body = null;
      try {
        body = await response.json();
      } catch (err) {
        body = null;
      }
      if (!response.ok) {
        throw new ApiError(detailText(body, response.status), retryable(response.status));
      }
      if (!body || typeof body.sdp !== "string" || typeof body.session_id !== "string") {
        throw new ApiError("The hub's answer has no session_id and sdp.", true);
      }
      return body;
    }

    onConnectionState(state) {
      clearTimeout(this.timers.disconnected);
      if (state === "connected") {
        clearTimeout(this.timers.connect);
        this.attempt = 0;
        this.lastMoved = performance.now();
        this.setState("live", "live", "");
      } else if (state === "disconnected") {
        this.setState("connecting", "interrupted", "Connection interrupted...");
        this.timers.disconnected = setTimeout(() => {
          if (this.pc && this.pc.connectionState === "disconnected") this.retry("Connection lost.");
        }, DISCONNECTED_GRACE_MS);
      } else if (state === "failed") {
        this.retry("Connection failed.");
      } else if (state === "closed" && !this.stopped) {
        this.retry("Connection closed.");
      }
    }

    // Connected but the picture froze (the camera stopped, the site closed the session): retry.
    watch() {
      if (this.stopped || this.root.dataset.state !== "live") return;
      const now = performance.now();
      if (this.video.currentTime !== this.lastTime) {
        this.lastTime = this.video.currentTime;
        this.lastMoved = now;
      } else if (now - this.lastMoved > STALL_MS) {
        this.retry("The picture stopped.");
      }
    }

    retry(reason) {
      if (this.stopped) return;
      this.generation += 1; // callbacks of the failed attempt are now stale
      clearTimeout(this.timers.connect);
      clearTimeout(this.timers.disconnected);
      this.teardown(false);
      const base = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.attempt);
      const delay = Math.round(base * (0.8 + Math.random() * 0.4));
      this.attempt += 1;
      this.setState("retrying", "reconnecting", `${reason} Trying again in ${Math.ceil(delay / 1000)} s.`);
      clearTimeout(this.timers.retry);
      this.timers.retry = setTimeout(() => {
        if (!this.stopped) this.connect();
      }, delay);
    }

    fail(reason) {
      this.generation += 1;
      this.teardown(false);
      this.setState("error", "unavailable", reason);
      this.button.textContent = "Retry";
      this.stopped = true;
      clearInterval(this.timers.watch);
    }

    teardown(keepalive) {
      const pc = this.pc;
      this.pc = null;
      if (pc) pc.close();
      const sessionId = this.sessionId;
      this.sessionId = null;
      if (sessionId) this.deleteSession(sessionId, keepalive);
    }

    deleteSession(sessionId, keepalive) {
      const url = `${livePath(this.site, this.camera)}/sessions/${encodeURIComponent(sessionId)}`;
      fetch(url, { method: "DELETE", credentials: "same-origin", keepalive }).catch(() => {});
    }

    toggleFullscreen() {
      if (document.fullscreenElement) {
        document.exitFullscreen().catch(() => {});
      } else {
        this.root.requestFullscreen().catch(() => {});
      }
    }
  }

  // live.html?site=S&camera=C, or live.html?cam=S/C&cam=S2/C2 for a grid.
  function camerasFromQuery(search) {
    const params = new URLSearchParams(search);
    const cameras = [];
    if (params.get("site") && params.get("camera")) {
      cameras.push([params.get("site"), params.get("camera")]);
    }
    for (const value of params.getAll("cam")) {
      const slash = value.indexOf("/");
      if (slash > 0 && slash < value.length - 1) {
        cameras.push([value.slice(0, slash), value.slice(slash + 1)]);
      }
    }
    return cameras;
  }

  function main() {
    const grid = document.getElementById("grid");
    const cameras = camerasFromQuery(window.location.search);
    if (!cameras.length) {
      const error = document.getElementById("page-error");
      error.textContent =
        "No camera chosen. Open live.html?site=SITE&camera=CAMERA, or repeat cam=SITE/CAMERA for a grid.";
      error.hidden = false;
      return;
    }
    if (typeof RTCPeerConnection === "undefined") {
      const error = document.getElementById("page-error");
      error.textContent = "This browser cannot play live video (no WebRTC).";
      error.hidden = false;
      return;
    }
    grid.classList.toggle("single", cameras.length === 1);
    const tiles = cameras.map(([site, camera]) => new LiveTile(site, camera, grid));
    tiles.forEach((tile) => tile.start());
    // Leaving the page ends every session at the site (keepalive lets the DELETE outlive the page).
    window.addEventListener("pagehide", () => tiles.forEach((tile) => tile.stop(true)));
    window.cctvLive = { tiles };
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", main);
  } else {
    main();
  }
})();
