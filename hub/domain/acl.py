"""Who may do what: one table from (role, permission) to a scope. Pure; no I/O.

``OWN`` means "only items this user requested" (a job's ``requested_by``, and the clips that
answer those jobs) and, for police, the footage requests they filed or are named on and the
evidence items of those requests once released to them. Police file footage requests; they no
longer dispatch clip jobs themselves (the data controller's approval does). Anything not in
the table is refused. The roles follow DESIGN.md: police see what they asked for, operators
dispatch and watch jobs and fulfil requests, supervisors (the data controller) see and decide
everything, engineers see site health and never footage, auditors read the custody log, the
disclosure log and the partners' dashboard. Police, operators and supervisors may watch cameras
live (``LIVE_VIEW``); engineers and auditors may not. Only supervisors place and lift legal
holds, reassign and delete evidence items, and manage users.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final


class Role(StrEnum):
    POLICE = "police"
    OPERATOR = "operator"
    SUPERVISOR = "supervisor"
    ENGINEER = "engineer"
    AUDITOR = "auditor"


class Permission(StrEnum):
    SITES_READ = "sites.read"  # sites, cameras and their health
    SITES_REGISTER = "sites.register"  # register a site and its public key
    JOBS_CREATE = "jobs.create"
    JOBS_READ = "jobs.read"
    CLIPS_READ = "clips.read"  # evidence item metadata: manifest, signature, custody rows
    FOOTAGE_VIEW = "footage.view"  # play the video in the browser
    FOOTAGE_DOWNLOAD = "footage.download"  # download the clip or its manifest
    AUDIT_READ = "audit.read"  # the whole custody log and its verification
    LIVE_VIEW = "live.view"  # watch a camera live (every watch is in the custody log)
    EVIDENCE_MANAGE = "evidence.manage"  # legal holds, reassigning and deleting evidence items
    REQUESTS_CREATE = "requests.create"  # file a footage request (police: their own)
    REQUESTS_READ = "requests.read"  # footage requests (police: theirs and naming them)
    REQUESTS_DECIDE = "requests.decide"  # the data controller's decision
    REQUESTS_FULFIL = "requests.fulfil"  # re-run or extend a request's clip job
    REQUESTS_RELEASE = "requests.release"  # release to the requester (disclosure log entry)
    USERS_MANAGE = "users.manage"  # add, disable, reset users
    DASHBOARD_READ = "dashboard.read"  # the partners' dashboard and the disclosure log


class Scope(StrEnum):
    NONE = "none"
    OWN = "own"
    ALL = "all"


_N, _O, _A = Scope.NONE, Scope.OWN, Scope.ALL

# fmt: off
TABLE: Final[dict[Role, dict[Permission, Scope]]] = {
    # sites.read register jobs.create jobs.read clips.read view download audit live manage |
    # requests: create read decide fulfil release | users.manage dashboard.read
    Role.POLICE:     dict(zip(Permission, (_A, _N, _N, _O, _O, _O, _O, _N, _A, _N,
                                           _O, _O, _N, _N, _N, _N, _N), strict=True)),
    Role.OPERATOR:   dict(zip(Permission, (_A, _N, _A, _A, _A, _A, _N, _N, _A, _N,
                                           _A, _A, _N, _A, _N, _N, _N), strict=True)),
    Role.SUPERVISOR: dict(zip(Permission, (_A, _A, _A, _A, _A, _A, _A, _A, _A, _A,
                                           _A, _A, _A, _A, _A, _A, _A), strict=True)),
    Role.ENGINEER:   dict(zip(Permission, (_A, _N, _N, _N, _N, _N, _N, _N, _N, _N,
                                           _N, _N, _N, _N, _N, _N, _N), strict=True)),
    Role.AUDITOR:    dict(zip(Permission, (_N, _N, _N, _N, _N, _N, _N, _A, _N, _N,
                                           _N, _N, _N, _N, _N, _N, _A), strict=True)),
}
# fmt: on


def scope(role: Role, permission: Permission) -> Scope:
    """How far ``role`` may use ``permission``; ``NONE`` for anything the table does not grant."""
    return TABLE.get(role, {}).get(permission, Scope.NONE)


def may(role: Role, permission: Permission) -> bool:
    """Whether ``role`` may use ``permission`` at all (on at least its own items)."""
    return scope(role, permission) is not Scope.NONE


def may_access(role: Role, permission: Permission, *, user: str, owner: str | None) -> bool:
    """Whether ``user`` with ``role`` may use ``permission`` on an item requested by ``owner``."""
    granted = scope(role, permission)
    if granted is Scope.ALL:
        return True
    if granted is Scope.OWN:
        return owner is not None and owner == user
    return False


def permissions(role: Role) -> dict[str, str]:
    """Every permission and its scope for ``role``, for the UI to show and hide controls."""
    return {permission.value: scope(role, permission).value for permission in Permission}
