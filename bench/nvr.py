"""Retrieval from an NVR: how many times faster than real time ONVIF replay with Rate-Control: no
fetches footage, against an ffmpeg RTSP capture of the same span from the same NVR in the same
run (which plays in real time).

    .venv/bin/python bench/nvr.py            # 10 min of 1080p25 (encoding it takes a few min)
    .venv/bin/python bench/nvr.py --minutes 1 --width 640 --height 360   # a quick look

It records the span on the test NVR (devkit.nvr, faster than real time), then times
``retrieve_from_nvr`` (replay, depacketize, remux to MP4, sign) and ``ffmpeg -rtsp_transport tcp
-i <the NVR's Hikvision-style URL of the span> -c copy`` and prints both as multiples of real
time. Target: at least 20x real time on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common.uris import with_credentials
from devkit.nvr import RecordingSpec, TestNvr, make_recordings
from edge_agent.config_nvr import NvrChannelConfig, NvrConfig
from edge_agent.nvr.retrieve import retrieve_from_nvr, vendor_uri

TARGET = 20.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--bitrate", type=int, default=4000, help="kbit/s")
    parser.add_argument("--skip-ffmpeg", action="store_true")
    args = parser.parse_args()
    seconds = args.minutes * 60
    start = datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
    end = start + timedelta(seconds=seconds)
    with tempfile.TemporaryDirectory(prefix="bench-nvr-") as folder:
        root = Path(folder) / "nvr"
        began = time.monotonic()
        make_recordings(
            root,
            [
                RecordingSpec(
                    "REC1",
                    1,
                    ((start, seconds),),
                    width=args.width,
                    height=args.height,
                    fps=args.fps,
                    bitrate_kbps=args.bitrate,
                )
            ],
        )
        size = sum(p.stat().st_size for p in root.rglob("*.es"))
        print(
            f"recorded {args.minutes:g} min of {args.width}x{args.height}p{args.fps}"
            f" ({size / 1e6:.0f} MB) in {time.monotonic() - began:.0f} s"
        )
        with TestNvr(root) as nvr:
            password = Path(folder) / "password"
            password.write_text(nvr.password)
            password.chmod(0o600)
            config = NvrConfig(
                id="nvr",
                host=nvr.host,
                port=nvr.onvif_port,
                rtsp_port=nvr.rtsp_port or 554,
                user=nvr.user,
                password_file=password,
                channels=[NvrChannelConfig(camera="cam-1", channel=1)],
            )
            began = time.monotonic()
            clip = asyncio.run(
                retrieve_from_nvr(
                    config,
                    "cam-1",
                    start,
                    end,
                    Path(folder) / "clip",
                    Ed25519PrivateKey.generate(),
                    "bench",
                )
            )
            ours = time.monotonic() - began
            print(
                f"ONVIF replay, Rate-Control: no: {clip.manifest.frames} frames in {ours:.1f} s"
                f" = {seconds / ours:.1f}x real time (target >= {TARGET:g}x)"
            )
            if args.skip_ffmpeg:
                return 0 if seconds / ours >= TARGET else 1
            uri = vendor_uri(config.model_copy(update={"protocol": "hikvision"}), 1, start, end)
            uri = with_credentials(uri, nvr.user, nvr.password)
            began = time.monotonic()
            subprocess.run(
                [
                    "ffmpeg",
                    "-loglevel",
                    "error",
                    "-rtsp_transport",
                    "tcp",
                    "-i",
                    uri,
                    "-c",
                    "copy",
                    "-y",
                    str(Path(folder) / "ffmpeg.mp4"),
                ],
                check=True,
                timeout=seconds * 3 + 120,
            )
            theirs = time.monotonic() - began
            print(
                f"ffmpeg RTSP capture of the same span: {theirs:.1f} s = {seconds / theirs:.2f}x"
                f" real time; replay is {theirs / ours:.1f}x faster"
            )
    return 0 if seconds / ours >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
