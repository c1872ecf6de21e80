"""The agent config's ``[[nvrs]]`` sections: NVRs it retrieves from and their channels."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from edge_agent.config_section import CameraId, ConfigSection
from edge_agent.secret_files import SecretFileError, read_secret_file


class NvrChannelConfig(ConfigSection):
    """One NVR channel and the site camera it records."""

    camera: CameraId = Field(
        description="The site's camera id (a camera in [[cameras]], or one only the NVR records)"
    )
    channel: int = Field(ge=1, le=1024, description="The NVR's channel number (1 = first)")
    name: str = Field(default="", max_length=200, description="Human name of the camera")
    recording_token: str | None = Field(
        default=None,
        max_length=200,
        description="ONVIF recording token of this channel, when the NVR's own differ from the"
        " default matching (see docs/nvr.md); `cctv-agent nvr-search` lists them",
    )
    source_id: str | None = Field(
        default=None, max_length=500, description="ONVIF recording Source.SourceId to match"
    )


class NvrConfig(ConfigSection):
    """An NVR the agent can retrieve recordings from (ONVIF Profile G, or a vendor URL)."""

    id: CameraId = Field(description="NVR id: letters, digits, _ and -, at most 64")
    name: str = Field(default="", max_length=200)
    host: str = Field(min_length=1, max_length=253, description="NVR host name or IP address")
    port: int = Field(default=80, ge=1, le=65535, description="ONVIF (HTTP) port")
    rtsp_port: int = Field(
        default=554, ge=1, le=65535, description="RTSP port, for the vendor URL templates"
    )
    user: str = Field(default="", max_length=128, description="User name on the NVR")
    password_file: Path | None = Field(
        default=None,
        description="File holding the NVR password on its first line (mode 0600; never logged)",
    )
    protocol: Literal["onvif", "hikvision", "dahua"] = Field(
        default="onvif",
        description="onvif: Profile G search and replay; hikvision or dahua: the vendor's"
        " playback URL (no search, frame times from the request; marked in the manifest)",
    )
    rate_control: bool = Field(
        default=False,
        description="Ask the NVR for real-time pacing; false retrieves as fast as it sends",
    )
    search_interval_seconds: float = Field(
        default=300.0,
        ge=1.0,
        le=86400.0,
        description="How often the agent searches the NVR's recordings for its status (also at"
        " start); the hub shows the spans found as retrievable",
    )
    search_timeout_seconds: float = Field(
        default=60.0, ge=1.0, le=600.0, description="Give up on one search after this long"
    )
    channels: list[NvrChannelConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_channels(self) -> NvrConfig:
        cameras = [channel.camera for channel in self.channels]
        if len(set(cameras)) != len(cameras):
            raise ValueError("a camera is mapped to two channels of the same NVR")
        return self

    def password(self) -> str:
        """The password from ``password_file`` ("" without one); NvrPasswordError when the file
        is unreadable, empty or readable by other users (``edge_agent.secret_files``)."""
        if self.password_file is None:
            return ""
        try:
            return read_secret_file(self.password_file, f"nvrs.{self.id}")
        except SecretFileError as exc:
            raise NvrPasswordError(str(exc)) from exc


class NvrPasswordError(Exception):
    """An NVR's password file cannot be used (unreadable, empty, or open to other users)."""
