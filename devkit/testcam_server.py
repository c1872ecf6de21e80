# mypy: ignore-errors
"""A test camera: GStreamer's RTSP server serving a live test picture with a running clock.

Run with the system Python that has PyGObject (``/usr/bin/python3``), never imported by the agent:
this file uses only ``gi`` and the standard library. ``devkit.testcam.TestCamera`` starts and
stops it for the tests and for ``cctv-demo``.

The stream is what a real IP camera sends: H.264 (or H.265) over RTP, a keyframe every
``--gop-seconds``, the parameter sets (SPS/PPS, and VPS for H.265) in band before every keyframe,
TCP interleaved transport only. One encoder is shared by every client, like a camera. Like the
shared mounts of real servers, a client that joins makes the server restart the timestamps it sends
to every client (FFmpeg sees them step back by the time since the last join) and send a keyframe;
the recorder's tests rely on that (``tests/integration/test_recording_faults.py`` checks it).

Once listening it prints one line ``READY rtsp://127.0.0.1:<port>/<mount>`` on stdout; it exits
with status 0 on SIGTERM or SIGINT, and on end of stdin with ``--exit-on-stdin-eof`` (so a test
run that dies does not leave cameras behind).
"""

from __future__ import annotations

import argparse
import signal
import sys

ENCODERS = {
    # x264/x265 keyframe interval is in frames; zerolatency means no B-frames and no lookahead.
    "h264": (
        # One slice per frame: with sliced threads the payloader repeats SPS/PPS before each
        # IDR slice and FFmpeg's parser then splits one keyframe into two packets.
        "x264enc tune=zerolatency speed-preset=ultrafast sliced-threads=false"
        " bitrate={bitrate} key-int-max={gop}"
        " ! rtph264pay name=pay0 pt=96 config-interval=-1"
    ),
    "h265": (
        "x265enc tune=zerolatency speed-preset=ultrafast bitrate={bitrate} key-int-max={gop}"
        " ! rtph265pay name=pay0 pt=96 config-interval=-1"
    ),
}
ENCODER_ELEMENTS = {"h264": "x264enc", "h265": "x265enc"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    parser.add_argument("--mount", default="cam", help="path of the stream, e.g. cam")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--gop-seconds", type=float, default=1.0, help="keyframe interval")
    parser.add_argument("--bitrate", type=int, default=1000, help="kbit/s")
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="h264")
    parser.add_argument("--exit-on-stdin-eof", action="store_true")
    return parser.parse_args(argv)


def pipeline_description(args: argparse.Namespace) -> str:
    gop = max(1, round(args.fps * args.gop_seconds))
    source = (
        "videotestsrc is-live=true pattern=smpte"
        f" ! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1"
        ' ! clockoverlay time-format="%Y-%m-%d %H:%M:%S" shaded-background=true'
        " ! videoconvert ! video/x-raw,format=I420"
    )
    encoder = ENCODERS[args.codec].format(bitrate=args.bitrate, gop=gop)
    return f"( {source} ! {encoder} )"


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        import gi

        gi.require_version("Gst", "1.0")
        gi.require_version("GstRtsp", "1.0")
        gi.require_version("GstRtspServer", "1.0")
        from gi.repository import GLib, Gst, GstRtsp, GstRtspServer
    except (ImportError, ValueError) as exc:
        print(f"FAILED GStreamer RTSP server bindings are missing: {exc}", flush=True)
        return 3

    Gst.init(None)
    element = ENCODER_ELEMENTS[args.codec]
    if Gst.ElementFactory.find(element) is None:
        print(f"FAILED GStreamer element {element} is not installed", flush=True)
        return 3

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(pipeline_description(args))
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    server.get_mount_points().add_factory("/" + args.mount.strip("/"), factory)
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
        GLib.io_add_watch(
            GLib.IOChannel.unix_new(sys.stdin.fileno()),
            GLib.PRIORITY_DEFAULT,
            GLib.IOCondition.IN | GLib.IOCondition.HUP | GLib.IOCondition.ERR,
            _stdin_watch(loop),
        )

    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}/{args.mount.strip('/')}", flush=True)
    loop.run()
    return 0


def _stdin_watch(loop):
    def on_stdin(channel, _condition):
        # Anything read is ignored; end of file means the parent is gone.
        data = sys.stdin.buffer.read1(4096) if hasattr(sys.stdin.buffer, "read1") else b""
        if not data:
            loop.quit()
            return False
        return True

    return on_stdin


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
