"""The role table: who may do what, and "own" meaning only what the user requested."""

from __future__ import annotations

import pytest

from hub.domain.acl import TABLE, Permission, Role, Scope, may, may_access, permissions, scope

FOOTAGE = (Permission.CLIPS_READ, Permission.FOOTAGE_VIEW, Permission.FOOTAGE_DOWNLOAD)


def test_every_role_has_a_scope_for_every_permission() -> None:
    assert set(TABLE) == set(Role)
    for role in Role:
        assert set(TABLE[role]) == set(Permission), role


def test_supervisors_may_do_everything_on_every_item() -> None:
    for permission in Permission:
        assert scope(Role.SUPERVISOR, permission) is Scope.ALL
        assert may_access(Role.SUPERVISOR, permission, user="sup", owner="someone-else")


def test_police_see_only_what_they_requested() -> None:
    for permission in (
        Permission.JOBS_READ,
        Permission.REQUESTS_CREATE,
        Permission.REQUESTS_READ,
        *FOOTAGE,
    ):
        assert scope(Role.POLICE, permission) is Scope.OWN
        assert may_access(Role.POLICE, permission, user="pc-1", owner="pc-1")
        assert not may_access(Role.POLICE, permission, user="pc-1", owner="pc-2")
        assert not may_access(Role.POLICE, permission, user="pc-1", owner=None)
    assert not may(Role.POLICE, Permission.AUDIT_READ)
    assert not may(Role.POLICE, Permission.SITES_REGISTER)
    # Police file footage requests; the data controller's approval makes the clip jobs.
    assert not may(Role.POLICE, Permission.JOBS_CREATE)
    for permission in (Permission.REQUESTS_DECIDE, Permission.REQUESTS_RELEASE):
        assert not may(Role.POLICE, permission)


def test_operators_dispatch_and_watch_jobs_and_play_clips() -> None:
    for permission in (Permission.JOBS_CREATE, Permission.JOBS_READ, Permission.FOOTAGE_VIEW):
        assert may_access(Role.OPERATOR, permission, user="op", owner="pc-1")
    assert not may(Role.OPERATOR, Permission.AUDIT_READ)
    assert not may(Role.OPERATOR, Permission.SITES_REGISTER)


def test_engineers_see_site_health_and_never_footage() -> None:
    assert scope(Role.ENGINEER, Permission.SITES_READ) is Scope.ALL
    for permission in (
        *FOOTAGE,
        Permission.JOBS_READ,
        Permission.JOBS_CREATE,
        Permission.REQUESTS_READ,
        Permission.REQUESTS_CREATE,
    ):
        assert not may(Role.ENGINEER, permission)
        assert not may_access(Role.ENGINEER, permission, user="eng", owner="eng")


def test_auditors_read_the_custody_log_only() -> None:
    allowed = [permission for permission in Permission if may(Role.AUDITOR, permission)]
    assert allowed == [Permission.AUDIT_READ, Permission.DASHBOARD_READ]


@pytest.mark.parametrize("role", list(Role))
def test_permissions_lists_every_permission_for_the_ui(role: Role) -> None:
    listed = permissions(role)
    assert set(listed) == {p.value for p in Permission}
    assert set(listed.values()) <= {"all", "own", "none"}


def test_police_operators_and_supervisors_watch_live_and_others_do_not() -> None:
    for role in (Role.POLICE, Role.OPERATOR, Role.SUPERVISOR):
        assert scope(role, Permission.LIVE_VIEW) is Scope.ALL
    for role in (Role.ENGINEER, Role.AUDITOR):
        assert not may(role, Permission.LIVE_VIEW)
