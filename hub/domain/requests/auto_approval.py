"""Named rules that approve a routine request without waiting for a person, written as data.

A rule matches when every condition it sets holds, e.g. "the officer's collar number is on the
force's list, the window is at most 2 h, the urgency is routine". The first matching rule, in the
order written, approves; its name is kept with the decision ("auto-approved by rule
'routine-short'"). A request flagged RIPA is never approved by a rule: a person decides those.

In the hub's TOML (the settings layer reads the file and passes the list here)::

    [[requests.auto_approval]]
    name = "routine-short"
    forces = ["Cleveland Police"]
    collar_numbers = ["4521", "1187"]   # leave out for any officer of those forces
    max_window_minutes = 120
    urgencies = ["routine"]             # default: routine only
    max_cameras = 4                     # default 4
    sites = ["town-centre"]             # leave out for any site
    lawful_bases = ["dpa2018-part3-s35"]  # leave out for any
    needs_crime_reference = true        # default false: an incident log number is enough
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from hub.domain.requests import wording
from hub.domain.requests.decision import ControllerDecision, DecisionKind
from hub.domain.requests.request import FootageRequest, LawfulBasis, Urgency

RULE_NAME_RE: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
AUTO_DECIDER: Final = "hub"  # decided_by for a rule's decision; the rule's name says which
MAX_RULE_WINDOW: Final = timedelta(hours=24)
_KEYS: Final = frozenset(
    {
        "name",
        "forces",
        "collar_numbers",
        "max_window_minutes",
        "urgencies",
        "max_cameras",
        "sites",
        "lawful_bases",
        "needs_crime_reference",
    }
)


_E = TypeVar("_E", Urgency, LawfulBasis)


class RuleConfigError(ValueError):
    """An auto-approval rule that cannot be read; the message names the rule and the key."""


def normal_force(name: str) -> str:
    return " ".join(name.split()).casefold()


def normal_collar(number: str) -> str:
    return "".join(number.split()).upper()


@dataclass(frozen=True)
class ApprovalRule:
    name: str
    forces: frozenset[str]  # normalised with normal_force
    max_window: timedelta
    collar_numbers: frozenset[str] = frozenset()  # normalised; empty: any officer of the forces
    urgencies: frozenset[Urgency] = frozenset({Urgency.ROUTINE})
    max_cameras: int = 4
    sites: frozenset[str] = frozenset()  # empty: any site
    lawful_bases: frozenset[LawfulBasis] = frozenset()  # empty: any
    needs_crime_reference: bool = False

    def failures(self, request: FootageRequest) -> tuple[str, ...]:
        """Each condition ``request`` does not meet, in words; empty when the rule matches."""
        found = []
        if request.ripa:
            found.append("the request is flagged RIPA: a person decides it")
        if normal_force(request.officer.force) not in self.forces:
            found.append(f"force {request.officer.force!r} is not on the rule's list")
        if self.collar_numbers and normal_collar(request.officer.collar_number) not in (
            self.collar_numbers
        ):
            found.append(f"collar number {request.officer.collar_number!r} is not on the list")
        if request.window.length > self.max_window:
            found.append(
                f"the window is {wording.duration(request.window.length)}, over "
                f"{wording.duration(self.max_window)}"
            )
        if request.urgency not in self.urgencies:
            found.append(f"urgency {request.urgency.label} is not covered")
        if len(request.cameras) > self.max_cameras:
            found.append(f"{len(request.cameras)} cameras, over {self.max_cameras}")
        outside = sorted(
            {c.site_id for c in request.cameras if self.sites and c.site_id not in self.sites}
        )
        if outside:
            found.append(f"site {', '.join(outside)} is not covered")
        if self.lawful_bases and request.lawful_basis not in self.lawful_bases:
            found.append(f"lawful basis {request.lawful_basis.value} is not covered")
        if self.needs_crime_reference and not request.crime_reference:
            found.append("there is no crime reference")
        return tuple(found)


@dataclass(frozen=True)
class RuleVerdict:
    rule: str
    failures: tuple[str, ...]

    @property
    def matched(self) -> bool:
        return not self.failures


def verdicts(request: FootageRequest, rules: Iterable[ApprovalRule]) -> tuple[RuleVerdict, ...]:
    """Every rule's verdict on ``request``, in order: why each did or did not approve it."""
    return tuple(RuleVerdict(rule.name, rule.failures(request)) for rule in rules)


def auto_decision(
    request: FootageRequest, rules: Sequence[ApprovalRule], now: datetime
) -> ControllerDecision | None:
    """The approval the first matching rule gives, or None: a person decides."""
    for rule in rules:
        if not rule.failures(request):
            return ControllerDecision(
                DecisionKind.APPROVE,
                decided_by=AUTO_DECIDER,
                decided_at=now,
                reason=f"auto-approved by rule {rule.name!r}",
                rule=rule.name,
            )
    return None


def _strings(where: str, key: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RuleConfigError(f"{where}: {key} must be a list of strings")
    return [item.strip() for item in value if item.strip()]


def _positive_int(where: str, key: str, value: object, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise RuleConfigError(f"{where}: {key} must be a whole number from 1 to {maximum}")
    return value


def _enum_set(where: str, key: str, value: object, kind: type[_E]) -> frozenset[_E]:
    names = _strings(where, key, value)
    allowed = [member.value for member in kind]
    unknown = [name for name in names if name not in allowed]
    if unknown:
        raise RuleConfigError(f"{where}: {key} {unknown[0]!r} is not one of: {', '.join(allowed)}")
    return frozenset(kind(name) for name in names)


def rule_from_data(data: Mapping[str, object], position: int) -> ApprovalRule:
    """One rule from its TOML table; ``position`` (from 1) names it until its name is read."""
    where = f"auto-approval rule {position}"
    name = data.get("name")
    if not isinstance(name, str) or RULE_NAME_RE.fullmatch(name) is None:
        raise RuleConfigError(f"{where}: name must be lower-case letters, digits, _ and -")
    where = f"auto-approval rule {name!r}"
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise RuleConfigError(f"{where}: unknown key {unknown[0]!r}")
    forces = _strings(where, "forces", data.get("forces"))
    if not forces:
        raise RuleConfigError(f"{where}: forces must name at least one force")
    if "max_window_minutes" not in data:
        raise RuleConfigError(f"{where}: max_window_minutes is required")
    minutes = _positive_int(
        where,
        "max_window_minutes",
        data["max_window_minutes"],
        int(MAX_RULE_WINDOW / timedelta(minutes=1)),
    )
    needs = data.get("needs_crime_reference", False)
    if not isinstance(needs, bool):
        raise RuleConfigError(f"{where}: needs_crime_reference must be true or false")
    return ApprovalRule(
        name=name,
        forces=frozenset(normal_force(force) for force in forces),
        max_window=timedelta(minutes=minutes),
        collar_numbers=frozenset(
            normal_collar(n)
            for n in _strings(where, "collar_numbers", data.get("collar_numbers", []))
        ),
        urgencies=_enum_set(where, "urgencies", data.get("urgencies", ["routine"]), Urgency),
        max_cameras=_positive_int(where, "max_cameras", data.get("max_cameras", 4), 64),
        sites=frozenset(_strings(where, "sites", data.get("sites", []))),
        lawful_bases=_enum_set(where, "lawful_bases", data.get("lawful_bases", []), LawfulBasis),
        needs_crime_reference=needs,
    )


def rules_from_data(items: object) -> tuple[ApprovalRule, ...]:
    """The rules from the TOML array of tables (``[[requests.auto_approval]]``), names unique."""
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise RuleConfigError("auto-approval rules must be an array of tables")
    rules = tuple(rule_from_data(item, position) for position, item in enumerate(items, 1))
    names = [rule.name for rule in rules]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise RuleConfigError(f"auto-approval rule {repeated[0]!r} is written twice")
    return rules
