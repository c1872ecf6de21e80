"""Camera passwords kept out of agent.toml: read from a file per camera or a systemd credential.

A camera's ``[cameras.onvif]`` names ``password_file = "/etc/cctv/cameras/cam-1.password"`` (the
password on its first line; the file must not be readable by other users:
``edge_agent.secret_files``, the rule NVR password files follow too) or
``password_credential = "cam-1"``, which the agent's unit provides with ``LoadCredential=`` and
systemd places in ``$CREDENTIALS_DIRECTORY/cam-1`` for this service only. ``load_config`` reads
them once at start into the config it passes on; the password is never logged.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from edge_agent.secret_files import SecretFileError, read_secret_file

if TYPE_CHECKING:
    from edge_agent.config import AgentConfig

CREDENTIALS_DIRECTORY = "CREDENTIALS_DIRECTORY"


class CameraPasswordError(Exception):
    """One or more cameras' passwords cannot be read; ``problems`` has one line per camera."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


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
            password = read_secret_file(path, what)
        except SecretFileError as exc:
            problems.append(str(exc))
            cameras.append(camera)
            continue
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
