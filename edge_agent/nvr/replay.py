"""One replay session: DESCRIBE, SETUP, PLAY over TCP, access units spooled to disk as they come.

For ONVIF replay (Profile G) the PLAY carries ``Require: onvif-replay``, ``Range: clock=A-B``,
``Rate-Control: no`` (as fast as the NVR sends; ``rate_control=True`` asks for real time) and
``Frames:`` when asked; every access unit's time is the NTP time of its ONVIF replay extension
(the recording's wall clock, from the NVR), never its arrival. For a vendor URL that carries the
window itself (Hikvision, Dahua) there is no extension: times are the window's start plus the
RTP clock, and the result says so.

The access units go to a spool file (Annex B) and an in-memory index as they arrive, so memory
stays small for hours of footage; ``mux.py`` then writes the MP4 from the spool. The session
ends at the T flag (ONVIF), an RTCP BYE, the end of the connection, or the first access unit at
or after the window's end.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Literal

from edge_agent.nvr.depacketize import (
    Codec,
    DepacketizeError,
    Depacketizer,
    LostUnit,
    parameter_sets_from_sdp,
)
from edge_agent.nvr.rtp import RtpError, is_rtcp, parse_rtp, rtcp_has_bye
from edge_agent.nvr.rtsp import RtspConnection
from edge_agent.nvr.rtsp_messages import RtspError, RtspUrl
from edge_agent.nvr.sdp import SdpError, VideoTrack, parse_sdp

log = logging.getLogger(__name__)

TimeSource = Literal["onvif-rtp-extension", "request-start-plus-rtp-clock"]
KEEPALIVE_SECONDS = 20.0
# A replay never takes longer than the window in real time plus this (an NVR that paces at
# real time anyway, or one that dribbles), and never brings more than MAX_BYTES_PER_SECOND of
# footage per second of window (100 Mbit/s, over any camera's bit rate) plus MAX_BYTES_MARGIN:
# an NVR whose frame times stop advancing cannot fill the disk.
DEADLINE_MARGIN_SECONDS = 120.0
MAX_BYTES_PER_SECOND = 12_500_000
MAX_BYTES_MARGIN = 64 * 1024 * 1024


class ReplayFailed(Exception):
    """The replay could not be done; the message says why in one line."""


@dataclass(frozen=True)
class ReplayRequest:
    uri: str  # RTSP URI (credentials in it are used and never logged)
    start: datetime
    end: datetime
    user: str = ""
    password: str = field(default="", repr=False)
    onvif: bool = True
    rate_control: bool = False
    frames: str | None = None  # "intra", "intra/<ms>" or "predicted"
    timeout: float = 30.0  # one RTSP exchange (NVRs can take seconds to prepare playback)
    idle_seconds: float = 30.0  # silence during the replay


@dataclass(frozen=True)
class SpooledUnit:
    offset: int
    size: int
    time_ns: int  # UTC ns since 1970
    keyframe: bool
    rtp_timestamp: int
    end_of_section: bool = False  # E flag
    discontinuity: bool = False  # D flag


@dataclass
class ReplayResult:
    codec: Codec
    track: VideoTrack
    spool: Path
    units: list[SpooledUnit]
    lost: list[LostUnit]
    lost_packets: int
    time_source: TimeSource
    terminal: bool  # the NVR said the range ended (T flag or RTCP BYE)
    server: str
    seconds: float  # wall-clock time the transfer took
    size: int  # bytes of access units
    parameter_sets: list[bytes]
    missing_times: int = 0  # ONVIF access units without a replay extension


def _clock(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%f")[:-3] + "Z"


def clock_range(start: datetime, end: datetime) -> str:
    """The Range header of an ONVIF replay: clock=20260110T100000.000Z-20260110T100100.000Z."""
    return f"clock={_clock(start)}-{_clock(end)}"


class _Timing:
    """Each access unit's UTC time: the replay extension, or the window start + RTP clock."""

    def __init__(self, onvif: bool, start: datetime, clock_rate: int) -> None:
        self.onvif = onvif
        self.start_ns = round(start.timestamp() * 1e9)
        self.clock_rate = clock_rate
        self._first_rtp: int | None = None
        self._unwrapped = 0
        self._last_rtp = 0
        self.missing = 0
        self._last_ns: int | None = None

    def time_of(self, rtp_timestamp: int, extension_ns: int | None) -> int:
        if self.onvif and extension_ns is not None:
            self._last_ns = extension_ns
            self._note_rtp(rtp_timestamp)
            return extension_ns
        if self.onvif:
            self.missing += 1
        ticks = self._note_rtp(rtp_timestamp)
        if self.onvif and self._last_ns is not None:
            return self._last_ns
        return self.start_ns + ticks * 1_000_000_000 // self.clock_rate

    def _note_rtp(self, rtp_timestamp: int) -> int:
        if self._first_rtp is None:
            self._first_rtp = self._last_rtp = rtp_timestamp
            return 0
        delta = (rtp_timestamp - self._last_rtp) & 0xFFFFFFFF
        if delta >= 0x80000000:
            delta -= 0x100000000
        self._unwrapped += delta
        self._last_rtp = rtp_timestamp
        return self._unwrapped


async def replay(request: ReplayRequest, spool: Path) -> ReplayResult:
    """Run one replay session into ``spool`` (created; the caller deletes it)."""
    try:
        url = RtspUrl.parse(request.uri, request.user, request.password)
        connection = await RtspConnection.open(url, request.timeout)
    except RtspError as exc:
        raise ReplayFailed(str(exc)) from exc
    try:
        with spool.open("wb") as sink:
            return await _session(connection, url, request, spool, sink)
    except RtspError as exc:
        raise ReplayFailed(str(exc)) from exc
    finally:
        await connection.close()


async def _session(
    connection: RtspConnection,
    url: RtspUrl,
    request: ReplayRequest,
    spool: Path,
    sink: BinaryIO,
) -> ReplayResult:
    onvif_headers = {"Require": "onvif-replay"} if request.onvif else {}
    described = await connection.request(
        "DESCRIBE", url.url, {"Accept": "application/sdp", **onvif_headers}
    )
    base = described.header("content-base") or described.header("content-location") or url.url
    try:
        track = parse_sdp(described.body.decode("utf-8", "replace"), base)
    except SdpError as exc:
        raise ReplayFailed(f"NVR at {url.where}: {exc}") from exc
    await connection.request(
        "SETUP",
        track.control,
        {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1", **onvif_headers},
    )
    play_headers = dict(onvif_headers)
    if request.onvif:
        play_headers["Range"] = clock_range(request.start, request.end)
        play_headers["Rate-Control"] = "yes" if request.rate_control else "no"
        if request.frames:
            play_headers["Frames"] = request.frames
    played = await connection.request("PLAY", base, play_headers)
    server = described.header("server") or played.header("server")
    started = time.monotonic()
    try:
        depacketizer = Depacketizer(track.codec, parameter_sets_from_sdp(track.codec, track.fmtp))
    except DepacketizeError as exc:
        raise ReplayFailed(f"NVR at {url.where}: {exc}") from exc
    timing = _Timing(request.onvif, request.start, track.clock_rate)
    end_ns = round(request.end.timestamp() * 1e9)
    units: list[SpooledUnit] = []
    offset = 0
    terminal = False
    window = (request.end - request.start).total_seconds()
    deadline = started + window * 1.5 + DEADLINE_MARGIN_SECONDS
    max_bytes = int(window * MAX_BYTES_PER_SECOND) + MAX_BYTES_MARGIN
    next_keepalive = time.monotonic() + KEEPALIVE_SECONDS
    try:
        async for frames in connection.frames(request.idle_seconds):
            finished = False
            for channel, data in frames:
                if channel != track.channel:
                    if channel == track.channel + 1 and is_rtcp(data) and rtcp_has_bye(data):
                        terminal = finished = True
                    continue
                try:
                    packet = parse_rtp(data)
                except RtpError as exc:
                    log.warning("NVR at %s: %s; packet skipped", url.where, exc)
                    continue
                if packet.payload_type != track.payload_type:
                    continue
                for unit in depacketizer.push(packet):
                    extension = unit.replay
                    time_ns = timing.time_of(
                        unit.rtp_timestamp, extension.unix_ns if extension else None
                    )
                    if time_ns >= end_ns and units:
                        finished = True
                        break
                    data_bytes = unit.annex_b()
                    sink.write(data_bytes)
                    units.append(
                        SpooledUnit(
                            offset,
                            len(data_bytes),
                            time_ns,
                            unit.keyframe,
                            unit.rtp_timestamp,
                            bool(extension and extension.end_of_section),
                            bool(extension and extension.discontinuity),
                        )
                    )
                    offset += len(data_bytes)
                    if extension is not None and extension.terminal:
                        terminal = finished = True
                if finished:
                    break
            if finished:
                break
            if offset > max_bytes:
                raise ReplayFailed(
                    f"NVR at {url.where} sent over {max_bytes} bytes for a {window:g} s window"
                    " (its frame times do not advance?); stopped"
                )
            if time.monotonic() > deadline:
                raise ReplayFailed(
                    f"NVR at {url.where} took over {deadline - started:.0f} s to replay a"
                    f" {window:g} s window; stopped"
                )
            if time.monotonic() >= next_keepalive:
                connection.send_keepalive(base)
                next_keepalive = time.monotonic() + KEEPALIVE_SECONDS
            await asyncio.sleep(0)  # let other tasks run between batches
    except DepacketizeError as exc:
        raise ReplayFailed(f"NVR at {url.where}: {exc}") from exc
    if not terminal:
        for unit in depacketizer.flush():
            extension = unit.replay
            time_ns = timing.time_of(unit.rtp_timestamp, extension.unix_ns if extension else None)
            if time_ns < end_ns:
                data_bytes = unit.annex_b()
                sink.write(data_bytes)
                units.append(
                    SpooledUnit(
                        offset,
                        len(data_bytes),
                        time_ns,
                        unit.keyframe,
                        unit.rtp_timestamp,
                        False,
                        False,
                    )
                )
                offset += len(data_bytes)
    try:
        await asyncio.wait_for(connection.request("TEARDOWN", base), 2.0)
    except (RtspError, TimeoutError):
        log.debug("NVR at %s: TEARDOWN not answered", url.where)
    seconds = time.monotonic() - started
    log.info(
        "NVR at %s: replayed %d access units (%d bytes) in %.1f s%s",
        url.where,
        len(units),
        offset,
        seconds,
        f", {depacketizer.lost_packets} packets lost" if depacketizer.lost_packets else "",
    )
    return ReplayResult(
        codec=track.codec,
        track=track,
        spool=spool,
        units=units,
        lost=list(depacketizer.lost),
        lost_packets=depacketizer.lost_packets,
        time_source="onvif-rtp-extension" if request.onvif else "request-start-plus-rtp-clock",
        terminal=terminal,
        server=server,
        seconds=seconds,
        size=offset,
        parameter_sets=depacketizer.parameter_sets,
        missing_times=timing.missing,
    )
