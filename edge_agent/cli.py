"""``cctv-agent``: run the site agent, check its config, or cut a clip offline to a folder.

Exit codes: 0 done, 1 failed while working (the message says why), 2 refused (bad input: config
errors, bad window, unknown camera, footage not in the buffer, output folder not empty).
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
import tomllib
from datetime import datetime, timedelta
from pathlib import Path

from cctv_common.cli_options import add_common_options, setup_logging
from cctv_common.clock import NoTimeZone, parse_iso
from cctv_common.evidence.signing import KeyFileError, load_or_create_private_key, public_key_pem
from cctv_common.umask import private_umask
from edge_agent.config import AgentConfig, ConfigError, load_config
from edge_agent.config_nvr import NvrConfig, NvrPasswordError

EXIT_FAILED = 1
EXIT_REFUSED = 2

log = logging.getLogger("edge_agent")


class Refused(Exception):
    """Bad input: reported on one line, exit code 2, nothing written."""


def parse_utc(text: str, name: str) -> datetime:
    try:
        return parse_iso(text)
    except NoTimeZone:
        raise Refused(f"--{name} {text!r} has no time zone; add Z for UTC") from None
    except ValueError:
        raise Refused(
            f"--{name} {text!r} is not an ISO-8601 time such as 2026-11-23T10:00:00Z"
        ) from None


def _load(path: Path) -> AgentConfig:
    try:
        return load_config(path)
    except ConfigError as exc:
        raise Refused(
            f"{exc.source}: {len(exc.errors)} error(s): " + "; ".join(exc.errors)
        ) from exc


def _has_uplink(path: Path) -> bool:
    try:
        return "uplink" in tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False


def cmd_validate_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"{exc.source}: {line}", file=sys.stderr)
        return EXIT_REFUSED
    if not _has_uplink(args.config):
        print(
            f"{args.config}: uplink: missing: without [uplink] the agent records but never"
            " reaches the hub (see deploy/agent.example.toml, or `cctv-provision enroll`)",
            file=sys.stderr,
        )
        return EXIT_REFUSED
    enabled = sum(1 for camera in config.cameras if camera.enabled)
    print(f"OK: site {config.site_id}, {len(config.cameras)} camera(s), {enabled} enabled")
    for nvr in config.nvrs:
        try:
            nvr.password()
        except NvrPasswordError as exc:
            print(f"{args.config}: warning: {exc}", file=sys.stderr)
    if config.uplink.hub_public_key_file is None:
        print(
            f"{args.config}: warning: uplink.hub_public_key_file is not set, so no job or ack"
            " from the hub will be trusted (see `cctv-hub public-key`)",
            file=sys.stderr,
        )
    return 0


def cmd_cut(args: argparse.Namespace) -> int:
    from edge_agent.cameras.camera_facts import facts_from_config
    from edge_agent.clips.cut_errors import CutFailed
    from edge_agent.clips.cut_plan import CutRefused
    from edge_agent.clips.evidence_clip import OutputExists, make_evidence_clip, plan_for
    from edge_agent.store.segment_index import SegmentIndex

    config = _load(args.config)
    start = parse_utc(args.start, "start")
    end = parse_utc(args.end, "end")
    try:
        camera = config.camera(args.camera)
    except KeyError:
        known = ", ".join(c.id for c in config.cameras) or "none"
        raise Refused(f"unknown camera {args.camera!r}; this site has: {known}") from None
    if not config.index_path.exists():
        raise Refused(f"no recordings yet: {config.index_path} does not exist")
    index = SegmentIndex(config.index_path)
    try:
        try:
            plan = plan_for(
                index,
                camera.id,
                start,
                end,
                timedelta(seconds=config.recorder.gap_tolerance_seconds),
            )
        except CutRefused as exc:
            raise Refused(str(exc)) from exc
        key = load_or_create_private_key(config.resolved_key_file)
        try:
            clip = make_evidence_clip(
                index=index,
                segments_dir=config.segments_dir,
                site_id=config.site_id,
                camera=facts_from_config(camera, index),
                plan=plan,
                out_dir=args.out,
                key=key,
            )
        except OutputExists as exc:
            raise Refused(str(exc)) from exc
        except CutFailed as exc:
            print(f"cctv-agent cut: failed: {exc}", file=sys.stderr)
            return EXIT_FAILED
        (args.out / "agent_public_key.pem").write_text(public_key_pem(key), encoding="ascii")
    finally:
        index.close()
    manifest = clip.manifest
    print(f"clip:      {clip.clip_path}")
    print(f"manifest:  {clip.directory / 'manifest.json'} (signed: manifest.sig)")
    print(
        f"delivered: {manifest.delivered.start.isoformat()} to {manifest.delivered.end.isoformat()}"
    )
    print(f"sha256:    {manifest.sha256}")
    for gap in manifest.gaps:
        print(f"gap:       {gap.start.isoformat()} to {gap.end.isoformat()} ({gap.reason})")
    print(
        f"verify:    cctv-verify {clip.directory} --public-key {args.out / 'agent_public_key.pem'}"
    )
    return 0


def _nvr_for(config: AgentConfig, nvr_id: str | None, camera: str | None) -> list[NvrConfig]:
    if not config.nvrs:
        raise Refused("no [[nvrs]] in the config")
    nvrs = [n for n in config.nvrs if nvr_id in (None, n.id)]
    if camera is not None:
        nvrs = [n for n in nvrs if any(c.camera == camera for c in n.channels)]
    if not nvrs:
        which = f"NVR {nvr_id!r}" if nvr_id else "no NVR"
        raise Refused(f"{which} records camera {camera!r}" if camera else f"unknown {which}")
    return nvrs


def cmd_nvr_search(args: argparse.Namespace) -> int:
    import asyncio

    from edge_agent.nvr.retrieve import NvrRetrievalFailed, search_nvr

    config = _load(args.config)
    start = parse_utc(args.start, "start") if args.start else None
    end = parse_utc(args.end, "end") if args.end else None
    failed = False
    for nvr in _nvr_for(config, args.nvr, args.camera):
        try:
            found = asyncio.run(search_nvr(nvr))
        except (NvrRetrievalFailed, NvrPasswordError) as exc:
            print(f"cctv-agent nvr-search: NVR {nvr.id}: {exc}", file=sys.stderr)
            failed = True
            continue
        print(f"NVR {nvr.id} ({nvr.host}:{nvr.port}): {len(found)} recording(s)")
        for item in found:
            if args.camera and item.camera != args.camera:
                continue
            recording = item.recording
            mapped = f"camera {item.camera} (channel {item.channel})" if item.camera else "unmapped"
            print(f"  {recording.token}  source {recording.source_id or '-'}  -> {mapped}")
            for track in recording.video_tracks or recording.tracks:
                span_start, span_end = (
                    track.data_from or recording.earliest,
                    track.data_to or (recording.latest),
                )
                if span_start is None or span_end is None:
                    print(f"    track {track.token}: times not given by the NVR")
                    continue
                if (start and span_end <= start) or (end and span_start >= end):
                    continue
                print(
                    f"    track {track.token}: {span_start.isoformat()} to {span_end.isoformat()}"
                )
    return EXIT_FAILED if failed else 0


def cmd_nvr_cut(args: argparse.Namespace) -> int:
    import asyncio

    from edge_agent.clips.cut_plan import CutRefused
    from edge_agent.clips.evidence_clip import OutputExists
    from edge_agent.nvr.retrieve import NoSuchRecording, NvrRetrievalFailed, retrieve_from_nvr

    config = _load(args.config)
    start = parse_utc(args.start, "start")
    end = parse_utc(args.end, "end")
    if args.frames is not None and not re.fullmatch(r"intra(/\d{1,7})?|predicted", args.frames):
        raise Refused(f"--frames {args.frames!r} is not intra, intra/<ms> or predicted")
    nvr = _nvr_for(config, args.nvr, args.camera)[0]
    key = load_or_create_private_key(config.resolved_key_file)
    try:
        clip = asyncio.run(
            retrieve_from_nvr(
                nvr, args.camera, start, end, args.out, key, config.site_id, frames=args.frames
            )
        )
    except (OutputExists, CutRefused, NoSuchRecording, NvrPasswordError) as exc:
        raise Refused(str(exc)) from exc
    except NvrRetrievalFailed as exc:
        print(f"cctv-agent nvr-cut: failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    (args.out / "agent_public_key.pem").write_text(public_key_pem(key), encoding="ascii")
    manifest = clip.manifest
    assert manifest.nvr is not None
    print(f"clip:      {clip.clip_path} (from NVR {nvr.id}, {manifest.nvr.method})")
    print(f"manifest:  {clip.directory / 'manifest.json'} (signed: manifest.sig)")
    print(
        f"delivered: {manifest.delivered.start.isoformat()} to {manifest.delivered.end.isoformat()}"
        f" ({manifest.frames} frames, times from {manifest.nvr.time_source})"
    )
    print(f"sha256:    {manifest.sha256}")
    for gap in manifest.gaps:
        print(f"gap:       {gap.start.isoformat()} to {gap.end.isoformat()} ({gap.reason})")
    print(
        f"verify:    cctv-verify {clip.directory} --public-key {args.out / 'agent_public_key.pem'}"
    )
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from edge_agent.agent import HubKeyError, run_agent

    private_umask()  # segments, clips, databases and keys: for the agent's user only
    config = _load(args.config)
    try:
        return run_agent(config)
    except HubKeyError as exc:
        raise Refused(str(exc)) from exc


def cmd_public_key(args: argparse.Namespace) -> int:
    config = _load(args.config)
    key = load_or_create_private_key(config.resolved_key_file)
    print(public_key_pem(key), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cctv-agent", description=__doc__.splitlines()[0].replace("``", "")
    )
    add_common_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="record every camera and serve the hub (the service)")
    run.add_argument("--config", type=Path, required=True, help="agent.toml")
    run.set_defaults(handler=cmd_run)

    validate = sub.add_parser("validate-config", help="check agent.toml; print each error")
    validate.add_argument("config", type=Path, help="agent.toml")
    validate.set_defaults(handler=cmd_validate_config)

    cut = sub.add_parser("cut", help="cut a signed clip to a folder (offline export)")
    cut.add_argument("--config", type=Path, required=True, help="agent.toml")
    cut.add_argument("--camera", required=True, help="camera id")
    cut.add_argument("--start", required=True, help="UTC start, e.g. 2026-11-23T10:00:00Z")
    cut.add_argument("--end", required=True, help="UTC end, at most 24 h after the start")
    cut.add_argument("--out", type=Path, required=True, help="empty or new output folder")
    cut.set_defaults(handler=cmd_cut)

    search = sub.add_parser("nvr-search", help="list the recordings of the configured NVRs")
    search.add_argument("--config", type=Path, required=True, help="agent.toml")
    search.add_argument("--nvr", help="only this NVR id")
    search.add_argument("--camera", help="only the recordings of this camera")
    search.add_argument("--start", help="only spans that end after this UTC time")
    search.add_argument("--end", help="only spans that start before this UTC time")
    search.set_defaults(handler=cmd_nvr_search)

    nvr_cut = sub.add_parser("nvr-cut", help="retrieve a signed clip from an NVR to a folder")
    nvr_cut.add_argument("--config", type=Path, required=True, help="agent.toml")
    nvr_cut.add_argument("--camera", required=True, help="camera id (mapped in [[nvrs.channels]])")
    nvr_cut.add_argument("--nvr", help="NVR id, if more than one records the camera")
    nvr_cut.add_argument("--start", required=True, help="UTC start, e.g. 2026-11-23T10:00:00Z")
    nvr_cut.add_argument("--end", required=True, help="UTC end, at most 24 h after the start")
    nvr_cut.add_argument("--out", type=Path, required=True, help="empty or new output folder")
    nvr_cut.add_argument(
        "--frames", help='ONVIF "Frames:" header, e.g. intra (keyframes only) or intra/1000'
    )
    nvr_cut.set_defaults(handler=cmd_nvr_cut)

    key = sub.add_parser("public-key", help="print the agent's public key (creates the key pair)")
    key.add_argument("--config", type=Path, required=True, help="agent.toml")
    key.set_defaults(handler=cmd_public_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args, "info")
    try:
        return int(args.handler(args))
    except Refused as exc:
        print(f"cctv-agent {args.command}: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyFileError as exc:
        print(f"cctv-agent {args.command}: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
