"""Adding ONVIF cameras to an agent config: a pure edit of the TOML text, checked before it is used.

Camera passwords never go into the file: each new camera names a password file of its own
(``password_file``) or a systemd credential (``password_credential``), as ``PasswordStore``
says; the CLI writes those files. Ids come from the names wanted for the cameras (slugged,
unique), or are numbered with the id prefix.

The new cameras are appended to the file's text as ``[[cameras]]`` tables rendered by tomli_w, so
that the field engineer's comments and layout stay as they were. The result must parse to exactly
the old document plus the new cameras (anything else, e.g. a file whose cameras are an inline
array, falls back to a full rewrite with tomli_w, which loses comments, and says so), and must
pass ``edge_agent.config.parse_config``; otherwise the edit is refused and nothing is written.

Nothing here reads or writes files: ``plan_additions`` and ``edit_config`` take and return text
and dataclasses; the CLI does the I/O.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import tomli_w

from cctv_common.wire.ids import is_valid_id
from edge_agent.config import AgentConfig, ConfigError, parse_config
from provisioning.camera_names import unique_id


class ConfigEditRefused(Exception):
    """The edit cannot be made; ``problems`` holds one line per reason. Nothing was written."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


@dataclass(frozen=True)
class NewCamera:
    """An ONVIF device to add (the password never appears in repr)."""

    host: str
    port: int
    user: str
    password: str
    profile: str = "main"
    live_profile: str | None = None
    name: str = ""
    wanted_id: str = ""  # the id its name makes ("" for a numbered id)

    def __repr__(self) -> str:
        return (
            f"NewCamera(host={self.host!r}, port={self.port}, user={self.user!r}, "
            f"profile={self.profile!r}, name={self.name!r})"
        )

    @property
    def address(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True)
class PasswordStore:
    """Where new cameras' passwords go: ``file``, one file per camera in ``folder`` named in
    ``password_file``; or ``credential``, a systemd credential named ``ID.password`` whose
    source file is in ``folder`` (``LoadCredential=ID.password:FOLDER/ID.password``)."""

    kind: Literal["file", "credential"]
    folder: Path

    def path_for(self, camera_id: str) -> Path:
        return self.folder / self.credential_for(camera_id)

    @staticmethod
    def credential_for(camera_id: str) -> str:
        return f"{camera_id}.password"

    def reference(self, camera_id: str) -> dict[str, str]:
        if self.kind == "credential":
            return {"password_credential": self.credential_for(camera_id)}
        return {"password_file": str(self.path_for(camera_id))}


@dataclass(frozen=True)
class Addition:
    camera_id: str
    camera: NewCamera


@dataclass(frozen=True)
class Skipped:
    camera: NewCamera
    existing_id: str


@dataclass(frozen=True)
class ConfigEdit:
    text: str  # the whole new config file
    config: AgentConfig  # what it validates to
    added: tuple[Addition, ...]
    skipped: tuple[Skipped, ...]
    rewritten: bool  # True when comments could not be kept (full rewrite with tomli_w)


def _key(host: str, port: int) -> tuple[str, int]:
    return host.strip().lower().strip("[]"), port


def existing_devices(data: Mapping[str, Any]) -> dict[tuple[str, int], str]:
    """(host, port) -> camera id of the ONVIF cameras already in a config document."""
    found: dict[tuple[str, int], str] = {}
    cameras = data.get("cameras")
    for camera in cameras if isinstance(cameras, list) else []:
        onvif = camera.get("onvif") if isinstance(camera, Mapping) else None
        if isinstance(onvif, Mapping) and isinstance(onvif.get("host"), str):
            port = onvif.get("port", 80)
            if isinstance(port, int):
                found[_key(onvif["host"], port)] = str(camera.get("id", "?"))
    return found


def _existing_ids(data: Mapping[str, Any]) -> set[str]:
    cameras = data.get("cameras")
    return {
        str(camera["id"])
        for camera in (cameras if isinstance(cameras, list) else [])
        if isinstance(camera, Mapping) and "id" in camera
    }


def new_ids(existing: set[str], prefix: str, count: int) -> list[str]:
    """`count` ids `prefix1`, `prefix2`, ... after the highest number already used with the
    prefix, none of them taken."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)")
    numbers = [int(m.group(1)) for i in existing if (m := pattern.fullmatch(i))]
    n = max(numbers, default=0)
    ids: list[str] = []
    while len(ids) < count:
        n += 1
        candidate = f"{prefix}{n}"
        if candidate not in existing:
            ids.append(candidate)
    return ids


def plan_additions(
    data: Mapping[str, Any],
    cameras: Sequence[NewCamera],
    *,
    id_prefix: str = "cam-",
    skip_existing: bool = False,
) -> tuple[list[Addition], list[Skipped]]:
    """Ids for the new cameras; devices already in the config (same host and port) or given twice
    are refused, or skipped with `skip_existing`."""
    if not is_valid_id(f"{id_prefix}1"):
        raise ConfigEditRefused(
            [f"--id-prefix {id_prefix!r} does not make valid camera ids (letters, digits, _ and -)"]
        )
    known = existing_devices(data)
    problems: list[str] = []
    skipped: list[Skipped] = []
    fresh: list[NewCamera] = []
    seen: dict[tuple[str, int], NewCamera] = {}
    for camera in cameras:
        key = _key(camera.host, camera.port)
        if key in known:
            if skip_existing:
                skipped.append(Skipped(camera, known[key]))
            else:
                problems.append(
                    f"device at {camera.address} is already camera {known[key]} in the config"
                )
        elif key in seen:
            problems.append(f"device at {camera.address} is given twice")
        else:
            seen[key] = camera
            fresh.append(camera)
    if problems:
        raise ConfigEditRefused(problems)
    taken = _existing_ids(data)
    named: dict[int, str] = {}
    for n, camera in enumerate(fresh):
        if camera.wanted_id:
            named[n] = unique_id(camera.wanted_id, taken)
            taken.add(named[n])
    numbered = iter(new_ids(taken, id_prefix, len(fresh) - len(named)))
    ids = [named[n] if n in named else next(numbered) for n in range(len(fresh))]
    return [Addition(i, c) for i, c in zip(ids, fresh, strict=True)], skipped


def camera_table(addition: Addition, passwords: PasswordStore) -> dict[str, Any]:
    """A ``[[cameras]]`` entry as TOML data, in the shape edge_agent.config reads; the password
    is referenced, never written."""
    camera = addition.camera
    onvif: dict[str, Any] = {"host": camera.host, "port": camera.port}
    if camera.user:
        onvif["user"] = camera.user
    if camera.password:
        onvif.update(passwords.reference(addition.camera_id))
    onvif["profile"] = camera.profile
    if camera.live_profile:
        onvif["live_profile"] = camera.live_profile
    table: dict[str, Any] = {"id": addition.camera_id}
    if camera.name:
        table["name"] = camera.name[:200]
    table["onvif"] = onvif
    return table


def edit_config(
    text: str,
    cameras: Sequence[NewCamera],
    passwords: PasswordStore,
    *,
    source: str = "<config>",
    id_prefix: str = "cam-",
    skip_existing: bool = False,
) -> ConfigEdit:
    """The config text with `cameras` added; ConfigEditRefused when that cannot be done."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigEditRefused([f"{source}: not valid TOML: {exc}"]) from exc
    additions, skipped = plan_additions(
        data, cameras, id_prefix=id_prefix, skip_existing=skip_existing
    )
    tables = [camera_table(a, passwords) for a in additions]
    expected = copy.deepcopy(data)
    current = expected.get("cameras")
    if current is not None and not isinstance(current, list):
        raise ConfigEditRefused([f"{source}: 'cameras' is not a list of tables"])
    expected["cameras"] = [*(current or []), *tables]

    rewritten = False
    new_text = text
    if tables:
        appended = text.rstrip("\n") + "\n\n" + tomli_w.dumps({"cameras": tables})
        try:
            appended_ok = tomllib.loads(appended) == expected
        except tomllib.TOMLDecodeError:
            appended_ok = False
        if appended_ok:
            new_text = appended
        else:
            new_text, rewritten = tomli_w.dumps(expected), True
    try:
        config = parse_config(new_text, source)
    except ConfigError as exc:
        raise ConfigEditRefused(
            [f"the result would not be a valid agent config: {line}" for line in exc.errors]
        ) from exc
    return ConfigEdit(new_text, config, tuple(additions), tuple(skipped), rewritten)
