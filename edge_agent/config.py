"""The agent's one config tree: a TOML file validated once at start and passed explicitly.

Every field is described and bounded; unknown keys are refused (``extra="forbid"``) so a typo in a
field engineer's file is an error with its path, not a silently ignored setting.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from cctv_common.loopback import plain_mqtt_refusal
from cctv_common.uplink_cap import CapWindow, InvalidCap
from cctv_common.wire.ids import ID_PATTERN
from edge_agent.camera_secrets import CameraPasswordError, with_camera_passwords
from edge_agent.config_nvr import NvrChannelConfig, NvrConfig
from edge_agent.config_section import CameraId
from edge_agent.config_section import ConfigSection as _ConfigSection

log = logging.getLogger(__name__)


class OnvifCameraConfig(_ConfigSection):
    """An ONVIF device whose stream URI the agent resolves at start and on every reconnect."""

    host: str = Field(min_length=1, max_length=253, description="Device host name or IP address")
    port: int = Field(default=80, ge=1, le=65535, description="Device HTTP port")
    user: str = Field(default="", max_length=128, description="ONVIF user name")
    password: str = Field(
        default="",
        max_length=256,
        repr=False,
        description="ONVIF password in plain text (never logged); prefer password_file or"
        " password_credential",
    )
    password_file: Path | None = Field(
        default=None,
        description="File holding the ONVIF password on its first line (not world-readable)",
    )
    password_credential: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_.@-]{1,255}$",
        description="systemd credential holding the password ($CREDENTIALS_DIRECTORY/NAME,"
        " from LoadCredential= in the agent's unit)",
    )
    profile: str = Field(
        default="main",
        min_length=1,
        max_length=64,
        description='Media profile: "main" (highest resolution), "sub" (lowest) or a profile token',
    )
    live_profile: str | None = Field(
        default=None,
        max_length=64,
        description='Live view profile, e.g. "sub" for the H.264 sub stream of an H.265 camera',
    )

    @model_validator(mode="after")
    def _one_password(self) -> OnvifCameraConfig:
        given = [self.password_file is not None, self.password_credential is not None]
        if sum(given) > 1 or (any(given) and self.password):
            raise ValueError("give at most one of password, password_file, password_credential")
        return self


class CameraConfig(_ConfigSection):
    """One camera: a plain RTSP URL or an ONVIF device, never both."""

    id: CameraId
    name: str = Field(default="", max_length=200, description="Human name, e.g. 'High St north'")
    rtsp_url: str | None = Field(
        default=None,
        pattern=r"^rtsps?://",
        max_length=2000,
        description="RTSP URL of the stream to record (credentials allowed; never logged)",
    )
    live_rtsp_url: str | None = Field(
        default=None,
        pattern=r"^rtsps?://",
        max_length=2000,
        description="Optional H.264 stream for live view when the main stream is H.265",
    )
    onvif: OnvifCameraConfig | None = Field(default=None, description="ONVIF device settings")
    enabled: bool = Field(default=True, description="Record this camera")

    @model_validator(mode="after")
    def _one_source(self) -> CameraConfig:
        if (self.rtsp_url is None) == (self.onvif is None):
            raise ValueError("give exactly one of rtsp_url or [cameras.onvif]")
        return self


# A recorder retries a dropped camera at least this often, whatever the config says: footage a
# camera sends while nobody reads it is lost for good, and a TCP connect costs nothing.
MAX_RECONNECT_SECONDS = 2.0


class RecorderConfig(_ConfigSection):
    segment_seconds: float = Field(
        default=10.0, ge=2.0, le=60.0, description="Target segment length; cut on the next keyframe"
    )
    reconnect_initial_seconds: float = Field(
        default=0.5,
        ge=0.1,
        le=MAX_RECONNECT_SECONDS,
        description="First wait before reconnecting a dropped camera",
    )
    reconnect_max_seconds: float = Field(
        default=1.0,
        ge=0.1,
        le=600.0,
        description=(
            "Longest wait between reconnect attempts, which go on for as long as the camera is"
            " down; at most 2 s (a larger value from an older config counts as 2 s)"
        ),
    )
    stall_timeout_seconds: float = Field(
        default=10.0,
        ge=1.0,
        le=120.0,
        description="A camera that sends nothing for this long is treated as dropped",
    )
    gap_tolerance_seconds: float = Field(
        default=1.0,
        ge=0.05,
        le=10.0,
        description="Time without frames longer than this is recorded as a gap",
    )
    hang_timeout_seconds: float | None = Field(
        default=None,
        ge=3.0,
        le=600.0,
        description=(
            "A camera's recorder process that reports nothing (no packets, no error) for this"
            " long is hung: it is killed and started again. At least twice"
            " stall_timeout_seconds plus 2 s (an open may take a stall timeout for the RTSP"
            " handshake and another for the probe); by default the larger of 30 s and that"
        ),
    )

    @field_validator("reconnect_max_seconds", mode="after")
    @classmethod
    def _quick_reconnects(cls, value: float) -> float:
        if value > MAX_RECONNECT_SECONDS:
            log.warning(
                "recorder.reconnect_max_seconds = %g is over %g s; the recorder retries every"
                " %g s at most (a camera's footage is lost while nobody reads it)",
                value,
                MAX_RECONNECT_SECONDS,
                MAX_RECONNECT_SECONDS,
            )
            return MAX_RECONNECT_SECONDS
        return value

    @model_validator(mode="after")
    def _hang_after_stall(self) -> RecorderConfig:
        if self.reconnect_max_seconds < self.reconnect_initial_seconds:
            raise ValueError("reconnect_max_seconds is less than reconnect_initial_seconds")
        least = 2 * self.stall_timeout_seconds + 2
        if self.hang_timeout_seconds is not None and self.hang_timeout_seconds < least:
            raise ValueError(
                f"hang_timeout_seconds must be at least {least:g} (2 x stall_timeout_seconds"
                " + 2): a recorder waiting for a slow camera is not hung"
            )
        return self

    @property
    def hang_timeout(self) -> float:
        """Seconds of silence after which a recorder process counts as hung."""
        if self.hang_timeout_seconds is not None:
            return self.hang_timeout_seconds
        return max(30.0, 2 * self.stall_timeout_seconds + 2)


class RetentionConfig(_ConfigSection):
    max_days: float = Field(default=31.0, gt=0, le=3650, description="Oldest footage kept, in days")
    max_disk_bytes: int = Field(
        default=500 * 1024**3,
        ge=10 * 1024**2,
        description="Most bytes of segments kept on disk, over all cameras",
    )
    min_free_bytes: int = Field(
        default=1024**3,
        ge=0,
        description="Delete the oldest unpinned segments while the disk has less free than this",
    )
    check_interval_seconds: float = Field(
        default=30.0, ge=1.0, le=3600.0, description="How often retention runs"
    )


class UplinkCapConfig(_ConfigSection):
    """A window of lower bandwidth for evidence uploads, in the site's local time."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    days: str = Field(default="daily", description='"mon-fri", "sat,sun", "daily"...')
    start: str = Field(alias="from", description="Local time HH:MM the window starts")
    end: str = Field(alias="to", description="Local time HH:MM it ends (before from: next day)")
    mbps: float = Field(gt=0, le=100_000, description="Upload cap in Mbit/s during the window")

    @model_validator(mode="after")
    def _readable(self) -> UplinkCapConfig:
        try:
            CapWindow.parse(self.days, self.start, self.end, self.mbps)
        except InvalidCap as exc:
            raise ValueError(str(exc)) from exc
        return self

    def window(self) -> CapWindow:
        return CapWindow.parse(self.days, self.start, self.end, self.mbps)


class UplinkConfig(_ConfigSection):
    host: str = Field(default="127.0.0.1", min_length=1, max_length=253, description="MQTT broker")
    port: int = Field(default=8883, ge=1, le=65535, description="MQTT broker port")
    username: str | None = Field(default=None, max_length=128, description="Defaults to site_id")
    password: str = Field(
        default="", max_length=256, repr=False, description="Broker password (never logged)"
    )
    tls: bool = Field(default=True, description="Use TLS to the broker")
    ca_file: Path | None = Field(default=None, description="CA bundle that signed the broker cert")
    keepalive_seconds: int = Field(default=30, ge=5, le=600, description="MQTT keepalive")
    chunk_bytes: int = Field(
        default=1024 * 1024,
        ge=64 * 1024,
        le=8 * 1024 * 1024,
        description="Upload chunk size; with adaptive_chunks the largest chunk and the first size",
    )
    adaptive_chunks: bool = Field(
        default=True,
        description="Size each clip's chunks and the in-flight window to the measured link"
        " (docs/shaped-link.md); off: chunk_bytes and a fixed window",
    )
    congestion_control: Literal["bbr", "system"] = Field(
        default="bbr",
        description='TCP congestion control of the MQTT socket: "bbr" where the kernel has it'
        ' (far better on lossy links), "system" for the kernel\'s default',
    )
    max_mbps: float | None = Field(
        default=None, gt=0, le=100_000, description="Cap on evidence uploads, Mbit/s, at all times"
    )
    cap: list[UplinkCapConfig] = Field(
        default_factory=list, description="Lower caps at given local hours ([[uplink.cap]])"
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone of the site for the cap windows (default: the box's local time)",
    )
    status_interval_seconds: float = Field(
        default=15.0, ge=1.0, le=600.0, description="How often the status heartbeat is published"
    )
    hub_public_key_file: Path | None = Field(
        default=None,
        description="The hub's Ed25519 public key (PEM, printed by `cctv-hub public-key`): jobs,"
        " holds and acks are acted on only when signed by it; without it none are",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"timezone {value!r} is not an IANA zone this box knows") from exc
        return value

    @model_validator(mode="after")
    def _tls_off_loopback(self) -> UplinkConfig:
        refusal = plain_mqtt_refusal(self.host, self.tls)
        if refusal is not None:
            raise ValueError(refusal)
        return self


class HealthConfig(_ConfigSection):
    """The site checks the agent repeats (as ``cctv-provision check``) and its /metrics."""

    interval_seconds: float = Field(
        default=300.0, ge=10.0, le=86400.0, description="How often the site checks run"
    )
    metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="Serve Prometheus metrics on http://metrics_host:metrics_port/metrics;"
        " none by default",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        min_length=1,
        max_length=253,
        description="Address the metrics listener binds (loopback: a scraper on the box)",
    )


class IceServerConfig(_ConfigSection):
    urls: list[str] = Field(min_length=1, description="stun: or turn: URLs")
    username: str | None = Field(default=None, description="TURN user name")
    credential: str | None = Field(default=None, description="TURN password (never logged)")


class LiveConfig(_ConfigSection):
    ice_servers: list[IceServerConfig] = Field(
        default_factory=list, description="STUN/TURN servers for live view (none on a LAN)"
    )
    max_viewers_per_camera: int = Field(default=8, ge=1, le=64, description="Viewer limit")


class AgentConfig(_ConfigSection):
    site_id: Annotated[str, Field(pattern=ID_PATTERN, description="This site's id")]
    data_dir: Path = Field(description="Where segments, the index, the outbox and the key live")
    key_file: Path | None = Field(
        default=None, description="Ed25519 private key (PEM); default data_dir/agent_key.pem"
    )
    max_clock_offset_seconds: float = Field(
        default=2.0, gt=0, le=3600, description="Warn when a camera clock is off by more than this"
    )
    cameras: list[CameraConfig] = Field(default_factory=list, description="Cameras on this site")
    recorder: RecorderConfig = Field(default_factory=RecorderConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    uplink: UplinkConfig = Field(default_factory=UplinkConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    nvrs: list[NvrConfig] = Field(
        default_factory=list, description="NVRs whose recordings the agent can retrieve"
    )

    @model_validator(mode="after")
    def _unique_cameras(self) -> AgentConfig:
        seen: set[str] = set()
        for camera in self.cameras:
            if camera.id in seen:
                raise ValueError(f"camera id {camera.id!r} is given twice")
            seen.add(camera.id)
        nvr_ids = [nvr.id for nvr in self.nvrs]
        if len(set(nvr_ids)) != len(nvr_ids):
            raise ValueError("an NVR id is given twice")
        return self

    def nvr_channels(self, camera_id: str) -> list[tuple[NvrConfig, NvrChannelConfig]]:
        """Every NVR channel that records a camera."""
        return [
            (nvr, channel)
            for nvr in self.nvrs
            for channel in nvr.channels
            if channel.camera == camera_id
        ]

    @property
    def resolved_key_file(self) -> Path:
        return self.key_file if self.key_file is not None else self.data_dir / "agent_key.pem"

    @property
    def segments_dir(self) -> Path:
        return self.data_dir / "segments"

    @property
    def index_path(self) -> Path:
        return self.data_dir / "index.db"

    def camera(self, camera_id: str) -> CameraConfig:
        for camera in self.cameras:
            if camera.id == camera_id:
                return camera
        raise KeyError(camera_id)


class ConfigError(Exception):
    """The config file cannot be used; ``errors`` holds one ``path: message`` line per problem."""

    def __init__(self, source: str, errors: list[str]) -> None:
        self.source = source
        self.errors = errors
        super().__init__(f"{source}: " + "; ".join(errors))


def format_validation_error(error: ValidationError) -> list[str]:
    lines = []
    for item in error.errors():
        path = ".".join(str(part) for part in item["loc"]) or "(top level)"
        lines.append(f"{path}: {item['msg']}")
    return lines


def parse_config(text: str, source: str = "<config>") -> AgentConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, [f"not valid TOML: {exc}"]) from exc
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, format_validation_error(exc)) from exc


def load_config(path: Path, *, environ: Mapping[str, str] | None = None) -> AgentConfig:
    """The config at ``path`` with each camera's password read from its file or systemd
    credential (``environ`` gives $CREDENTIALS_DIRECTORY; the process's own by default)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read: {exc.strerror or exc}"]) from exc
    config = parse_config(text, str(path))
    try:
        return with_camera_passwords(config, os.environ if environ is None else environ)
    except CameraPasswordError as exc:
        raise ConfigError(str(path), exc.problems) from exc
