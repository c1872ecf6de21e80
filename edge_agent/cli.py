"""``cctv-agent``: run the site agent, check its config, or cut a clip offline to a folder.

Exit codes: 0 done, 1 failed while working (the message says why), 2 refused (bad input: config
errors, bad window, unknown camera, footage not in the buffer, output folder not empty).
"""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import datetime, timedelta
from pathlib import Path

from cctv_common.clock import NoTimeZone, parse_iso
from cctv_common.evidence.signing import KeyFileError, load_or_create_private_key, public_key_pem
from cctv_common.umask import private_umask
from edge_agent.config import AgentConfig, ConfigError, load_config

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


def cmd_validate_config(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        for line in exc.errors:
            print(f"{exc.source}: {line}", file=sys.stderr)
        return EXIT_REFUSED
    enabled = sum(1 for camera in config.cameras if camera.enabled)
    print(f"OK: site {config.site_id}, {len(config.cameras)} camera(s), {enabled} enabled")
    if config.uplink.hub_public_key_file is None:
        print(
            f"{args.config}: warning: uplink.hub_public_key_file is not set, so no job or ack"
            " from the hub will be trusted (see `cctv-hub public-key`)",
            file=sys.stderr,
        )
    return 0


def cmd_cut(args: argparse.Namespace) -> int:
    from edge_agent.camera_facts import facts_from_config
    from edge_agent.cut_plan import CutRefused
    from edge_agent.cutter import CutFailed
    from edge_agent.evidence_clip import OutputExists, make_evidence_clip, plan_for
    from edge_agent.segment_index import SegmentIndex

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
    parser = argparse.ArgumentParser(prog="cctv-agent", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
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

    key = sub.add_parser("public-key", help="print the agent's public key (creates the key pair)")
    key.add_argument("--config", type=Path, required=True, help="agent.toml")
    key.set_defaults(handler=cmd_public_key)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
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
