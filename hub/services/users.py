"""User administration (``cctv-hub users`` and /api/users, supervisor): add, list, disable,
enable, reset a password. Each change is a custody row (subject ``user:NAME``); a password is
never written to the log or echoed. Users from the settings file are managed there: the file wins
at every start, so changing them here is refused with that reason."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Final

from cctv_common.clock import utc_now
from hub.domain.acl import Role
from hub.domain.records import UserRecord
from hub.domain.requests import text
from hub.services.custody import CustodyAction
from hub.services.passwords import hash_password
from hub.storage.ports import HubStorage, UnitOfWork

log = logging.getLogger(__name__)

USERNAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}")
MIN_PASSWORD: Final = 12
MAX_PASSWORD: Final = 1024


class UserChangeRefused(Exception):
    """A user change that cannot be made; ``status`` is the HTTP status, the message says why."""

    def __init__(self, message: str, status: int = 422) -> None:
        self.message = message
        self.status = status
        super().__init__(message)


def password_problem(password: str) -> str | None:
    if len(password) < MIN_PASSWORD:
        return f"the password must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"the password must be at most {MAX_PASSWORD} characters"
    return None


def _profile_problems(user: UserRecord) -> list[str]:
    problems = []
    if not USERNAME_RE.fullmatch(user.username):
        problems.append("the user name must be letters, digits, _ . @ and -, at most 64")
    for name, value in (
        ("the display name", user.display_name),
        ("the force", user.force),
        ("the collar number", user.collar_number),
    ):
        if problem := text.one_line(name, value, max_length=120, required=False):
            problems.append(problem)
    if user.email and (problem := text.email_problem("the e-mail address", user.email)):
        problems.append(problem)
    return problems


class UserAdmin:
    def __init__(
        self,
        storage: HubStorage,
        *,
        now: Callable[[], datetime] = utc_now,
        password_cost: int = 2**15,
    ) -> None:
        self._storage = storage
        self._now = now
        self._cost = password_cost

    async def all(self) -> list[UserRecord]:
        return await self._storage.aread(lambda uow: uow.users.all())

    async def get(self, username: str) -> UserRecord | None:
        return await self._storage.aread(lambda uow: uow.users.get(username))

    def _hash(self, password: str) -> str:
        if problem := password_problem(password):
            raise UserChangeRefused(problem)
        return hash_password(password, n=self._cost)

    def add_in(
        self,
        uow: UnitOfWork,
        *,
        username: str,
        role: Role,
        password_hash: str,
        display_name: str = "",
        email: str = "",
        force: str = "",
        collar_number: str = "",
        actor: str,
    ) -> UserRecord:
        now = self._now()
        user = UserRecord(
            username=username.strip(),
            role=role,
            password_hash=password_hash,
            source="db",
            disabled=False,
            display_name=display_name.strip(),
            email=email.strip(),
            force=force.strip(),
            collar_number=collar_number.strip(),
        )
        problems = _profile_problems(user)
        if problems:
            raise UserChangeRefused("; ".join(problems))
        if uow.users.get(user.username) is not None:
            raise UserChangeRefused(f"there is already a user {user.username!r}", 409)
        uow.users.add(user, now)
        uow.custody.append(
            actor,
            CustodyAction.USER_ADDED,
            f"user:{user.username}",
            {"role": role.value, "display_name": user.display_name, "force": user.force},
            at=now,
        )
        return user

    async def add(self, *, password: str, actor: str, **profile: str) -> UserRecord:
        password_hash = self._hash(password)
        role = Role(profile.pop("role"))
        return await self._storage.awrite(
            lambda uow: self.add_in(
                uow, role=role, password_hash=password_hash, actor=actor, **profile
            )
        )

    def _change_in(
        self, uow: UnitOfWork, username: str, what: str, actor: str
    ) -> tuple[UserRecord, datetime]:
        user = uow.users.get(username)
        if user is None:
            raise UserChangeRefused(f"there is no user {username!r}", 404)
        if user.source == "config":
            raise UserChangeRefused(
                f"user {username!r} comes from the settings file: change it there", 409
            )
        now = self._now()
        uow.custody.append(
            actor, CustodyAction.USER_CHANGED, f"user:{username}", {"what": what}, at=now
        )
        return user, now

    async def set_disabled(self, username: str, disabled: bool, actor: str) -> UserRecord:
        def work(uow: UnitOfWork) -> UserRecord:
            _, now = self._change_in(uow, username, "disabled" if disabled else "enabled", actor)
            uow.users.set_disabled(username, disabled, now)
            changed = uow.users.get(username)
            assert changed is not None
            return changed

        user = await self._storage.awrite(work)
        log.info("user %s %s by %s", username, "disabled" if disabled else "enabled", actor)
        return user

    async def reset_password(self, username: str, password: str, actor: str) -> UserRecord:
        password_hash = self._hash(password)

        def work(uow: UnitOfWork) -> UserRecord:
            _, now = self._change_in(uow, username, "password reset", actor)
            uow.users.set_password(username, password_hash, now)
            changed = uow.users.get(username)
            assert changed is not None
            return changed

        user = await self._storage.awrite(work)
        log.info("user %s: password reset by %s", username, actor)
        return user
