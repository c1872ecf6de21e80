"""Camera passwords kept out of agent.toml: read from a file per camera or a systemd credential.

A camera's ``[cameras.onvif]`` names ``password_file = "/etc/cctv/cameras/cam-1.password"`` (the
password on its first line; the file must not be readable by other users) or
``password_credential = "cam-1"``, which the agent's unit provides with ``LoadCredential=`` and
systemd places in ``$CREDENTIALS_DIRECTORY/cam-1`` for this service only. ``load_config`` reads
them once at start into the config it passes on; the password is never logged.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge_agent.config import AgentConfig

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"


class CameraPasswordError(Exception):
    """One or more cameras' passwords cannot be read; ``problems`` has one line per camera."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


def read_password_file(path: Path, what: str) -> str:
    """The first line of ``path``; CameraPasswordError when it is unreadable, empty, or
    readable by other users (a password others can read is refused, not used)."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IROTH | stat.S_IWOTH):
            raise CameraPasswordError(
                [
                    f"{what}: password file {path} is readable by every user of the machine"
                    f" (mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
                ]
            )
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CameraPasswordError([f"{what}: cannot read password file {path}: {reason}"]) from exc
    lines = text.splitlines()
    password = lines[0].strip() if lines else ""
    if not password:
        raise CameraPasswordError([f"{what}: password file {path} is empty"])
    return password


def credential_path(name: str, environ: Mapping[str, str], what: str) -> Path:
    folder = environ.get(CREDENTIALS_DIRECTORY)
    if not folder:
        raise CameraPasswordError(
            [
                f"{what}: password_credential {name!r} needs $CREDENTIALS_DIRECTORY: run the"
                f" agent from its unit with LoadCredential={name}:/path/to/secret, or by hand"
                " with CREDENTIALS_DIRECTORY set to the folder of those files (or use"
                " password_file)"
            ]
        )
    return Path(folder) / name


def with_camera_passwords(config: AgentConfig, environ: Mapping[str, str]) -> AgentConfig:
    """``config`` with each ONVIF camera's password filled in from its file or credential."""
    cameras = []
    problems: list[str] = []
    for camera in config.cameras:
        onvif = camera.onvif
        if onvif is None or (onvif.password_file is None and onvif.password_credential is None):
            cameras.append(camera)
            continue
        what = f"cameras.{camera.id}.onvif"
        try:
            if onvif.password_file is not None:
                path = onvif.password_file
            else:
                assert onvif.password_credential is not None
                path = credential_path(onvif.password_credential, environ, what)
            password = read_password_file(path, what)
        except CameraPasswordError as exc:
            problems += exc.problems
            cameras.append(camera)
            continue
        cameras.append(
            camera.model_copy(update={"onvif": onvif.model_copy(update={"password": password})})
        )
    if problems:
        raise CameraPasswordError(problems)
    return config.model_copy(update={"cameras": cameras})
