"""Retrieving evidence from an NVR: search its recordings, replay a window into a signed clip.

``search_nvr(nvr)`` lists the NVR's recordings and the site camera each one records (by the
config's channel map). ``retrieve_from_nvr(...)`` replays one camera's window and writes the
same three files as a ring-buffer clip (``clip.mp4``, ``manifest.json``, ``manifest.sig``),
returning the same ``EvidenceClip``; the manifest's ``nvr`` part names the NVR, the recording
and track, where the frame times come from, and every gap. Upload, verification and custody
treat it like any other clip.

Matching a recording to a configured channel: its token equals the channel's
``recording_token``; else its Source.SourceId equals ``source_id``; else the last number in its
SourceId (``VideoSource_3``, ``.../Channels/3``) or token is the channel number.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cctv_common import __version__
from cctv_common.clock import utc_now
from cctv_common.evidence.manifest import CameraIdentity, Manifest, NvrReplay, Software, Window
from cctv_common.evidence.signing import key_id
from cctv_common.evidence.verify import CLIP_NAME, MANIFEST_NAME, SIGNATURE_NAME
from cctv_common.uris import redact_uri
from cctv_onvif import AsyncOnvifClient, OnvifError, OnvifTarget, RecordingInfo
from edge_agent.clips.cut_plan import check_window
from edge_agent.clips.evidence_clip import (
    SOFTWARE_NAME,
    EvidenceClip,
    OutputExists,
    seal_evidence_files,
)
from edge_agent.config_nvr import NvrChannelConfig, NvrConfig
from edge_agent.nvr.gaps import replay_gaps
from edge_agent.nvr.mux import MuxFailed, MuxResult, mux_access_units
from edge_agent.nvr.replay import ReplayFailed, ReplayRequest, ReplayResult, replay

log = logging.getLogger(__name__)

GAP_TOLERANCE = timedelta(seconds=1)
METHODS: dict[str, Literal["onvif-replay", "hikvision-playback", "dahua-playback"]] = {
    "onvif": "onvif-replay",
    "hikvision": "hikvision-playback",
    "dahua": "dahua-playback",
}


class NvrRetrievalFailed(Exception):
    """The clip could not be retrieved; the message says why. Nothing is left behind."""


class NoSuchRecording(NvrRetrievalFailed):
    """No recording of the NVR matches the camera's channel."""


@dataclass(frozen=True)
class ChannelRecording:
    """A recording of the NVR and the site camera it is mapped to (None if unmapped)."""

    recording: RecordingInfo
    camera: str | None
    channel: int | None


def _last_number(text: str) -> int | None:
    numbers = re.findall(r"\d+", text)
    return int(numbers[-1]) if numbers else None


def match_recording(
    channel: NvrChannelConfig, recordings: Sequence[RecordingInfo]
) -> RecordingInfo | None:
    """The recording of a configured channel (module docstring). Pure."""
    if channel.recording_token:
        return next((r for r in recordings if r.token == channel.recording_token), None)
    if channel.source_id:
        return next((r for r in recordings if r.source_id == channel.source_id), None)
    for recording in recordings:
        if _last_number(recording.source_id) == channel.channel:
            return recording
    return next((r for r in recordings if _last_number(r.token) == channel.channel), None)


def map_recordings(nvr: NvrConfig, recordings: Sequence[RecordingInfo]) -> list[ChannelRecording]:
    mapped: dict[str, tuple[str, int]] = {}
    for channel in nvr.channels:
        found = match_recording(channel, recordings)
        if found is not None:
            mapped[found.token] = (channel.camera, channel.channel)
    return [ChannelRecording(r, *mapped.get(r.token, (None, None))) for r in recordings]


def vendor_uri(nvr: NvrConfig, channel: int, start: datetime, end: datetime) -> str:
    """The vendor playback URL of a window (whole seconds, UTC, widened to cover it). Pure."""
    first = start.astimezone(UTC).replace(microsecond=0)
    last = end.astimezone(UTC)
    if last.microsecond:
        last = last.replace(microsecond=0) + timedelta(seconds=1)
    host = f"[{nvr.host}]" if ":" in nvr.host else nvr.host
    base = f"rtsp://{host}:{nvr.rtsp_port}"
    if nvr.protocol == "hikvision":
        fmt = "%Y%m%dT%H%M%SZ"
        return (
            f"{base}/Streaming/tracks/{channel}01?starttime={first.strftime(fmt)}"
            f"&endtime={last.strftime(fmt)}"
        )
    if nvr.protocol == "dahua":
        fmt = "%Y_%m_%d_%H_%M_%S"
        return (
            f"{base}/cam/playback?channel={channel}&starttime={first.strftime(fmt)}"
            f"&endtime={last.strftime(fmt)}"
        )
    raise ValueError(f"NVR {nvr.id} uses ONVIF replay, not a vendor URL")


def _client(nvr: NvrConfig) -> AsyncOnvifClient:
    return AsyncOnvifClient(OnvifTarget(nvr.id, nvr.host, nvr.port, nvr.user, nvr.password()))


async def search_nvr(nvr: NvrConfig) -> list[ChannelRecording]:
    """The NVR's recordings (FindRecordings) mapped to the site's cameras."""
    if nvr.protocol != "onvif":
        raise NvrRetrievalFailed(
            f"NVR {nvr.id} is configured for {nvr.protocol} playback URLs, which have no search"
        )
    client = _client(nvr)
    try:
        recordings = await client.find_recordings()
    except OnvifError as exc:
        raise NvrRetrievalFailed(str(exc)) from exc
    finally:
        await client.aclose()
    return map_recordings(nvr, recordings)


async def retrieve_from_nvr(
    nvr: NvrConfig,
    camera: str,
    start: datetime,
    end: datetime,
    out_dir: Path,
    key: Ed25519PrivateKey,
    site_id: str,
    *,
    clip_id: str | None = None,
    job_id: str | None = None,
    frames: str | None = None,
) -> EvidenceClip:
    """Replay ``camera``'s [start, end) from ``nvr`` into a signed clip in ``out_dir``."""
    check_window(start, end)
    channel = next((c for c in nvr.channels if c.camera == camera), None)
    if channel is None:
        raise NoSuchRecording(f"NVR {nvr.id} has no channel mapped to camera {camera}")
    targets = [out_dir / name for name in (CLIP_NAME, MANIFEST_NAME, SIGNATURE_NAME)]
    existing = [path.name for path in targets if path.exists()]
    if existing:
        raise OutputExists(f"{out_dir} already holds {', '.join(existing)}; choose an empty folder")
    clip_id = clip_id or uuid.uuid4().hex
    password = nvr.password()
    identity: dict[str, str] = {}
    offset = None
    recording = None
    if nvr.protocol == "onvif":
        client = _client(nvr)
        try:
            info = await client.get_device_information()
            identity = {
                "manufacturer": info.manufacturer,
                "model": info.model,
                "serial": info.serial,
                "firmware": info.firmware,
            }
            offset = client.clock.offset_seconds if client.clock else None
            recording = match_recording(channel, await client.find_recordings())
            if recording is None:
                raise NoSuchRecording(
                    f"NVR {nvr.id} has no recording for channel {channel.channel} (camera"
                    f" {camera}); `cctv-agent nvr-search` lists its recordings"
                )
            uri = await client.get_replay_uri(recording.token)
        except OnvifError as exc:
            raise NvrRetrievalFailed(str(exc)) from exc
        finally:
            await client.aclose()
        request = ReplayRequest(
            uri,
            start,
            end,
            nvr.user,
            password,
            onvif=True,
            rate_control=nvr.rate_control,
            frames=frames,
        )
    else:
        uri = vendor_uri(nvr, channel.channel, start, end)
        # The URL names whole seconds: its start is where the NVR's frame times begin.
        url_start = start.astimezone(UTC).replace(microsecond=0)
        request = ReplayRequest(uri, url_start, end, nvr.user, password, onvif=False)
    created_dir = not await asyncio.to_thread(out_dir.exists)
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)
    spool = out_dir / f".nvr-spool-{clip_id}.es"
    parts = [path.with_name(path.name + ".part") for path in targets]
    try:
        result = await replay(request, spool)
        muxed, manifest, manifest_bytes, signature = await asyncio.to_thread(
            _write_clip,
            result,
            parts,
            targets,
            out_dir,
            key,
            _Facts(
                nvr,
                channel,
                camera,
                start,
                end,
                uri,
                recording,
                identity,
                offset,
                clip_id,
                job_id,
                site_id,
                request.rate_control,
            ),
        )
        gaps = manifest.gaps
    except (ReplayFailed, MuxFailed) as exc:
        _clean(parts, out_dir, created_dir, spool)
        raise NvrRetrievalFailed(f"camera {camera} from NVR {nvr.id}: {exc}") from exc
    except BaseException:
        _clean(parts, out_dir, created_dir, spool)
        raise
    spool.unlink(missing_ok=True)
    log.info(
        "site %s camera %s: clip %s retrieved from NVR %s in %.1f s (%d frames, %d gaps)",
        site_id,
        camera,
        clip_id,
        nvr.id,
        result.seconds,
        muxed.frames,
        len(gaps),
    )
    return EvidenceClip(out_dir, targets[0], manifest, manifest_bytes, signature)


@dataclass(frozen=True)
class _Facts:
    nvr: NvrConfig
    channel: NvrChannelConfig
    camera: str
    start: datetime
    end: datetime
    uri: str
    recording: RecordingInfo | None
    identity: dict[str, str]
    offset: float | None
    clip_id: str
    job_id: str | None
    site_id: str
    rate_control: bool


def _write_clip(
    result: ReplayResult,
    parts: list[Path],
    targets: list[Path],
    out_dir: Path,
    key: Ed25519PrivateKey,
    facts: _Facts,
) -> tuple[MuxResult, Manifest, bytes, str]:
    """Blocking: mux the spool, make and sign the manifest, write the three files."""
    nvr, channel, recording, uri = facts.nvr, facts.channel, facts.recording, facts.uri
    muxed = mux_access_units(result.spool, result.units, result.codec, parts[0])
    track = recording.video_tracks[0] if recording and recording.video_tracks else None
    recorded = None
    if recording is not None and recording.earliest and recording.latest:
        recorded = (recording.earliest, recording.latest)
    frame_ns = round(1e9 / muxed.fps) if muxed.fps else 40_000_000
    gaps = replay_gaps(
        (facts.start, facts.end),
        result.units,
        result.lost,
        recorded,
        frame_ns,
        round(GAP_TOLERANCE.total_seconds() * 1e9),
    )
    first = datetime.fromtimestamp(muxed.first_ns / 1e9, UTC)
    delivered_end = datetime.fromtimestamp(muxed.end_ns / 1e9, UTC)
    sections = 1 + sum(
        1
        for a, b in zip(result.units, result.units[1:], strict=False)
        if a.end_of_section or b.discontinuity
    )
    manifest = Manifest(
        clip_id=facts.clip_id,
        job_id=facts.job_id,
        site_id=facts.site_id,
        camera=CameraIdentity(
            id=facts.camera, name=channel.name, stream_uri=redact_uri(uri), **facts.identity
        ),
        requested=Window(start=facts.start, end=facts.end),
        delivered=Window(start=first, end=delivered_end),
        gaps=tuple(gaps),
        clock_offset_seconds=facts.offset,
        codec=muxed.codec,
        width=muxed.width,
        height=muxed.height,
        fps=muxed.fps,
        frames=muxed.frames,
        bytes=muxed.bytes,
        sha256=muxed.sha256,
        nvr=NvrReplay(
            method=METHODS[nvr.protocol],
            nvr_id=nvr.id,
            address=f"{nvr.host}:{nvr.port}",
            recording_token=recording.token if recording else "",
            track_token=track.token if track else "",
            source_id=recording.source_id if recording else "",
            channel=channel.channel,
            replay_uri=redact_uri(uri),
            time_source=result.time_source,
            first_frame=first,
            last_frame=datetime.fromtimestamp(result.units[-1].time_ns / 1e9, UTC),
            sections=sections,
            lost_packets=result.lost_packets,
            rate_control=facts.rate_control,
            clock_offset_seconds=facts.offset,
            server=result.server[:200],
            **facts.identity,
        ),
        software=Software(name=SOFTWARE_NAME, version=__version__),
        created_at=utc_now(),
        key_id=key_id(key),
    )
    manifest_bytes, signature = seal_evidence_files(manifest, key, parts, targets)
    return muxed, manifest, manifest_bytes, signature


def _clean(parts: list[Path], out_dir: Path, created_dir: bool, spool: Path) -> None:
    spool.unlink(missing_ok=True)
    for path in parts:
        path.unlink(missing_ok=True)
    if created_dir and out_dir.exists() and not any(out_dir.iterdir()):
        out_dir.rmdir()
