# mypy: ignore-errors
"""Make one test NVR recording: the test camera's picture with the recording's own clock burnt in.

Run with the system Python that has PyGObject (``/usr/bin/python3``); ``devkit.nvr.recordings``
runs it. Each span is encoded faster than real time (a non-live test source), with
``timeoverlay`` showing the span's start plus the frame's time as a date, so a frame's wall-clock
time can be read off the picture, and stored with ``devkit.nvr.store`` (Annex B access units and
their times; parameter sets in band before every keyframe, as cameras send them).

Prints ``DONE <folder>`` and exits 0, or ``FAILED <reason>`` and exits 3.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from store import SpanWriter, write_meta

ENCODERS = {
    # zerolatency: no B-frames, so decode order is presentation order, as in most cameras.
    "h264": (
        "x264enc tune=zerolatency speed-preset=ultrafast sliced-threads=false bitrate={bitrate}"
        " key-int-max={gop} ! h264parse config-interval=-1"
        " ! video/x-h264,stream-format=byte-stream,alignment=au"
    ),
    "h265": (
        "x265enc tune=zerolatency speed-preset=ultrafast bitrate={bitrate} key-int-max={gop}"
        " ! h265parse config-interval=-1 ! video/x-h265,stream-format=byte-stream,alignment=au"
    ),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="the recording's folder")
    parser.add_argument("--token", required=True)
    parser.add_argument("--source-id", required=True)
    parser.add_argument("--channel", type=int, required=True)
    parser.add_argument("--name", default="")
    parser.add_argument("--codec", choices=sorted(ENCODERS), default="h264")
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=360)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--gop-seconds", type=float, default=1.0)
    parser.add_argument("--bitrate", type=int, default=1000, help="kbit/s")
    parser.add_argument(
        "--span", action="append", required=True, help="START_ISO_UTC,SECONDS (repeatable)"
    )
    return parser.parse_args(argv)


def record_span(Gst, GLib, args, number: int, start: datetime, seconds: float) -> int:
    frames = max(1, round(seconds * args.fps))
    gop = max(1, round(args.fps * args.gop_seconds))
    description = (
        f"videotestsrc is-live=false num-buffers={frames} pattern=smpte"
        f" ! video/x-raw,width={args.width},height={args.height},framerate={args.fps}/1"
        " ! timeoverlay name=clock show-times-as-dates=true"
        ' datetime-format="%Y-%m-%d %H:%M:%S" shaded-background=true font-desc="Sans 24"'
        " ! videoconvert ! video/x-raw,format=I420"
        f" ! {ENCODERS[args.codec].format(bitrate=args.bitrate, gop=gop)}"
        " ! appsink name=sink sync=false max-buffers=64"
    )
    pipeline = Gst.parse_launch(description)
    whole = int(start.timestamp())
    epoch = GLib.DateTime.new_from_unix_utc(whole).add(round((start.timestamp() - whole) * 1e6))
    pipeline.get_by_name("clock").set_property("datetime-epoch", epoch)
    sink = pipeline.get_by_name("sink")
    writer = SpanWriter(args.out, number)
    start_ns = round(start.timestamp() * 1e9)
    first_pts = None  # encoders shift timestamps (GstVideoEncoder starts at 1000 h)
    pipeline.set_state(Gst.State.PLAYING)
    try:
        while True:
            sample = sink.emit("pull-sample")
            if sample is None:
                break
            buffer = sample.get_buffer()
            data = buffer.extract_dup(0, buffer.get_size())
            key = not buffer.has_flags(Gst.BufferFlags.DELTA_UNIT)
            if first_pts is None:
                first_pts = buffer.pts
            writer.add(data, start_ns + buffer.pts - first_pts, key)
        bus = pipeline.get_bus()
        error = bus.pop_filtered(Gst.MessageType.ERROR)
        if error is not None:
            raise RuntimeError(error.parse_error()[0].message)
    finally:
        pipeline.set_state(Gst.State.NULL)
        writer.close()
    return writer.units


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        import gi

        gi.require_version("Gst", "1.0")
        from gi.repository import GLib, Gst
    except (ImportError, ValueError) as exc:
        print(f"FAILED GStreamer bindings are missing: {exc}", flush=True)
        return 3
    Gst.init(None)
    args.out.mkdir(parents=True, exist_ok=True)
    spans = []
    for text in args.span:
        when, _, seconds = text.partition(",")
        spans.append((datetime.fromisoformat(when.replace("Z", "+00:00")), float(seconds)))
    try:
        for number, (start, seconds) in enumerate(spans):
            record_span(Gst, GLib, args, number, start, seconds)
    except Exception as exc:
        print(f"FAILED {exc}", flush=True)
        return 3
    write_meta(
        args.out,
        {
            "token": args.token,
            "source_id": args.source_id,
            "channel": args.channel,
            "name": args.name,
            "codec": args.codec,
            "width": args.width,
            "height": args.height,
            "fps": args.fps,
            "spans": len(spans),
        },
    )
    print(f"DONE {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
