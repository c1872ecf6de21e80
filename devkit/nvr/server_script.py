# mypy: ignore-errors
"""The test NVR's RTSP side: GStreamer's ONVIF RTSP server replaying recordings with the ONVIF
RTP header extension. Run with the system Python that has PyGObject; ``devkit.nvr.TestNvr``
starts it.

Mounts, for every recording under ``--root`` (see ``store.py``):

- ``/replay/<token>``: ONVIF replay (``RTSPOnvifMediaFactory`` with replay support, unless
  ``--no-replay-support``, in which case ``Require: onvif-replay`` is answered 551). ``Range:
  clock=A-B`` arrives as a seek in ns since 1900; the feeder maps it onto the recording's files,
  starts on the keyframe at or before A and ends before B. Buffer times are ns since 1900 and
  ``rtponviftimestamp`` (ntp-offset 0) writes them into the 0xABAC extension, with the E bit on
  the last frame before a hole, the D bit on the first after it, and the T bit at the end.
  ``Frames: intra`` sends keyframes only. ``Rate-Control: no`` sends as fast as the client reads.
- ``/Streaming/tracks/<channel>01?starttime=YYYYMMDDTHHMMSSZ&endtime=...`` (Hikvision style) and
  ``/cam/playback?channel=N&starttime=YYYY_MM_DD_HH_MM_SS&endtime=...`` (Dahua style): the window
  from the URL, plain RTP (no ONVIF extension), times from 0 at the first frame sent.

``pay0`` is built in code (a factory subclass overriding ``do_create_element``): the same
elements in a ``set_launch`` string crash gst-rtsp-server 1.22.0.

Prints ``READY rtsp://127.0.0.1:<port>`` once listening; exits on SIGTERM/SIGINT or end of stdin.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

from store import NTP_UNIX_OFFSET_NS, Recording, load_recordings

CAPS = {
    "h264": "video/x-h264,stream-format=byte-stream,alignment=au",
    "h265": "video/x-h265,stream-format=byte-stream,alignment=au",
}
PAYLOADERS = {"h264": "rtph264pay", "h265": "rtph265pay"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, required=True, help="folder of recordings")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--no-replay-support", action="store_true")
    parser.add_argument("--user", default="")
    parser.add_argument("--password", default="")
    parser.add_argument("--auth", choices=("digest", "basic"), default="digest")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    return parser.parse_args(argv)


def vendor_time(text: str) -> int:
    """ns since 1970 from 20260110T100000Z (Hikvision) or 2026_01_10_10_00_00 (Dahua), UTC."""
    text = text.strip()
    for pattern in ("%Y%m%dT%H%M%SZ", "%Y_%m_%d_%H_%M_%S"):
        try:
            moment = datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
        return round(moment.timestamp() * 1e9)
    raise ValueError(f"not a time: {text}")


class Feeder:
    """Pushes a recording's access units into an appsrc, following seeks (see module doc)."""

    def __init__(self, Gst, recording: Recording, appsrc, window, onvif: bool) -> None:
        self.Gst = Gst
        self.recording = recording
        self.appsrc = appsrc
        self.onvif = onvif
        self.window = window  # (start, end) ns since 1970
        self.keyframes_only = False
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)
        self.generation = 0
        self.started = False
        self.awaiting_flush = False
        self.stopping = False
        self.caps = Gst.Caps.from_string(CAPS[recording.codec])
        appsrc.connect("need-data", self._need_data)
        appsrc.connect("seek-data", self._seek_data)
        pad = appsrc.get_static_pad("src")
        pad.add_probe(Gst.PadProbeType.EVENT_UPSTREAM, self._upstream_event)
        if onvif:
            pad.add_probe(Gst.PadProbeType.BUFFER, self._mark_hole)
        self.thread = threading.Thread(target=self._run, name="nvr-feeder", daemon=True)
        self.thread.start()

    # -- signals and probes (streaming threads) ------------------------------------------

    def _need_data(self, _src, _length) -> None:
        with self.lock:
            if not self.started or self.awaiting_flush:
                self.started = True
                self.awaiting_flush = False
                self.changed.notify_all()

    def _upstream_event(self, _pad, info):
        """Note a seek's range; ``_seek_data`` applies it. Never takes the lock: the feeder may
        hold it while blocked in a push that only this seek's flush releases."""
        event = info.get_event()
        if event is not None and event.type == self.Gst.EventType.SEEK:
            _rate, _fmt, flags, _st, start, _et, stop = event.parse_seek()
            keyframes_only = bool(flags & self.Gst.SeekFlags.TRICKMODE_KEY_UNITS)
            if self.onvif:
                begin = start - NTP_UNIX_OFFSET_NS if start >= 0 else self.recording.start_ns
                end = (
                    stop - NTP_UNIX_OFFSET_NS
                    if stop not in (-1, self.Gst.CLOCK_TIME_NONE) and stop > 0
                    else self.recording.end_ns
                )
                self.pending = (begin, end, keyframes_only)
            else:
                offset = max(start, 0)
                self.pending = (self.window[0] + offset, self.window[1], keyframes_only)
        return self.Gst.PadProbeReturn.OK

    def _mark_hole(self, pad, info):
        """Before the first frame after a hole, tell rtponviftimestamp (in the streaming thread,
        so in order) that the stretch ended: E on the frame before, D on this one."""
        buffer = info.get_buffer()
        if buffer is not None and buffer.has_flags(self.Gst.BufferFlags.DISCONT):
            structure = self.Gst.Structure.new_from_string(
                "GstOnvifTimestamp, ntp-offset=(guint64)0, discont=(boolean)true"
            )
            pad.get_peer().send_event(
                self.Gst.Event.new_custom(self.Gst.EventType.CUSTOM_DOWNSTREAM, structure)
            )
        return self.Gst.PadProbeReturn.OK

    def _seek_data(self, _src, _offset) -> bool:
        with self.lock:
            pending = getattr(self, "pending", None)
            if pending is not None:
                self.window, self.keyframes_only = pending[:2], pending[2]
            self.generation += 1
            # appsrc flushes its queue after this returns: feed the new range only once it asks
            # for data again (need-data), or the flush throws the range's first frames away.
            self.awaiting_flush = True
            self.changed.notify_all()
        return True

    # -- the feeding thread ---------------------------------------------------------------

    def stop(self) -> None:
        with self.lock:
            self.stopping = True
            self.changed.notify_all()

    def _run(self) -> None:
        Gst = self.Gst
        with self.lock:
            self.changed.wait_for(lambda: self.started or self.stopping)
        done = [-1]  # the generation fed last
        while True:
            with self.lock:
                self.changed.wait_for(
                    lambda: (
                        self.stopping
                        or (self.generation != done[0] and self.started and not self.awaiting_flush)
                    )
                )
                if self.stopping:
                    return
                generation, (start, end) = self.generation, self.window
                keyframes_only = self.keyframes_only
            units = self.recording.units_between(start, end)
            if keyframes_only:
                units = [(span, unit) for span, unit in units if unit.key]
            base = units[0][1].time_ns if units else start
            segment = Gst.Segment()
            segment.init(Gst.Format.TIME)
            first_pts = self._pts(base, base)
            segment.start = segment.time = segment.position = first_pts
            previous_span = None
            interrupted = False
            for span, unit in units:
                buffer = Gst.Buffer.new_wrapped(self.recording.read(span, unit))
                buffer.pts = buffer.dts = self._pts(unit.time_ns, base)
                buffer.duration = span.frame_ns
                if not unit.key:
                    buffer.set_flags(Gst.BufferFlags.DELTA_UNIT)
                if previous_span is not None and span is not previous_span:
                    buffer.set_flags(Gst.BufferFlags.DISCONT)  # see _mark_hole
                previous_span = span
                with self.lock:
                    if self.generation != generation or self.stopping or self.awaiting_flush:
                        interrupted = True
                        break
                    result = self.appsrc.push_sample(
                        Gst.Sample.new(buffer, self.caps, segment, None)
                    )
                if result != Gst.FlowReturn.OK:
                    interrupted = True
                    break
            if not interrupted:
                self.appsrc.end_of_stream()
            done[0] = generation

    def _pts(self, time_ns: int, base_ns: int) -> int:
        return time_ns + NTP_UNIX_OFFSET_NS if self.onvif else time_ns - base_ns


def make_factory_class(Gst, GstRtspServer):
    class ReplayFactory(GstRtspServer.RTSPOnvifMediaFactory):
        """One recording (or a vendor path that names one by channel and window)."""

        def __init__(self, recordings, mode: str) -> None:
            super().__init__()
            self.recordings = recordings
            self.mode = mode  # "onvif", "hikvision", "dahua"
            self.feeders = []

        def _choose(self, url):
            query = parse_qs(url.query or "")
            path = url.abspath
            if self.mode == "onvif":
                token = path.rsplit("/", 1)[-1]
                recording = self.recordings[token]
                return recording, (recording.start_ns, recording.end_ns)
            if self.mode == "hikvision":
                track = path.rstrip("/").rsplit("/", 1)[-1]
                channel = int(track[:-2])
            else:
                channel = int(query["channel"][0])
            recording = next(r for r in self.recordings.values() if r.channel == channel)
            start = vendor_time(query["starttime"][0])
            end = vendor_time(query["endtime"][0]) if "endtime" in query else recording.end_ns
            return recording, (start, end)

        def do_create_element(self, url):
            try:
                recording, window = self._choose(url)
            except (KeyError, ValueError, StopIteration, IndexError) as exc:
                print(f"no recording for {url.abspath}?{url.query}: {exc!r}", file=sys.stderr)
                return None
            onvif = self.mode == "onvif"
            bin_ = Gst.Bin.new(None)
            appsrc = Gst.ElementFactory.make("appsrc", "src")
            appsrc.set_property("format", Gst.Format.TIME)
            appsrc.set_property("stream-type", 1)  # seekable
            appsrc.set_property("block", True)
            appsrc.set_property("max-bytes", 4 * 1024 * 1024)
            appsrc.set_property("handle-segment-change", True)
            appsrc.set_property("caps", Gst.Caps.from_string(CAPS[recording.codec]))
            pay_bin = Gst.Bin.new("pay0")
            pay = Gst.ElementFactory.make(PAYLOADERS[recording.codec], None)
            pay.set_property("pt", 96)
            elements = [pay]
            if onvif:
                stamp = Gst.ElementFactory.make("rtponviftimestamp", None)
                stamp.set_property("ntp-offset", 0)
                stamp.set_property("set-e-bit", True)
                stamp.set_property("set-t-bit", True)
                stamp.set_property("drop-out-of-segment", False)
                elements.append(stamp)
            for element in elements:
                pay_bin.add(element)
            for left, right in itertools.pairwise(elements):
                left.link(right)
            pay_bin.add_pad(Gst.GhostPad.new("sink", elements[0].get_static_pad("sink")))
            pay_bin.add_pad(Gst.GhostPad.new("src", elements[-1].get_static_pad("src")))
            bin_.add(appsrc)
            bin_.add(pay_bin)
            appsrc.link(pay_bin)
            self.feeders.append(Feeder(Gst, recording, appsrc, window, onvif))
            return bin_

    return ReplayFactory


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtsp", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        gi.require_version("GstApp", "1.0")
        from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: F401
    except (ImportError, ValueError) as exc:
        print(f"FAILED GStreamer RTSP server bindings are missing: {exc}", flush=True)
        return 3
    Gst.init(None)
    if Gst.ElementFactory.find("rtponviftimestamp") is None:
        print("FAILED rtponviftimestamp (gstreamer1.0-plugins-bad) is not installed", flush=True)
        return 3
    recordings = load_recordings(args.root)
    factory_class = make_factory_class(Gst, GstRtspServer)
    server = GstRtspServer.RTSPOnvifServer.new()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    role = None
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "user")
        if args.auth == "digest":
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
            auth.add_digest(args.user, args.password, token)
        else:
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        role = Gst.Structure.new_from_string(
            "user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
        )
    mounts = server.get_mount_points()
    factories = []

    def add(path: str, mode: str) -> None:
        factory = factory_class(recordings, mode)
        factory.set_media_gtype(GstRtspServer.RTSPOnvifMedia.__gtype__)
        factory.set_replay_support(not args.no_replay_support)
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
        factory.set_shared(False)
        if role is not None:
            factory.add_role_from_structure(role)
        mounts.add_factory(path, factory)
        factories.append(factory)

    for recording in recordings.values():
        add(f"/replay/{recording.token}", "onvif")
        add(f"/Streaming/tracks/{recording.channel}01", "hikvision")
    add("/cam/playback", "dahua")
    if server.attach(None) == 0:
        print(f"FAILED cannot listen on 127.0.0.1:{args.port}", flush=True)
        return 4

    loop = GLib.MainLoop()

    def quit_loop(*_args: object) -> bool:
        loop.quit()
        return False

    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, quit_loop)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, quit_loop)
    if args.exit_on_stdin_eof:

        def on_stdin(_channel, _condition) -> bool:
            data = sys.stdin.buffer.read1(4096)
            if not data:
                loop.quit()
                return False
            return True

        GLib.io_add_watch(
            GLib.IOChannel.unix_new(sys.stdin.fileno()),
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            on_stdin,
        )
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}", flush=True)
    loop.run()
    for factory in factories:
        for feeder in factory.feeders:
            feeder.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
