"""Auto-approval rules: written as TOML data, evaluated purely, the rule's name kept."""

from __future__ import annotations

import tomllib
from datetime import timedelta

import pytest

from hub.domain.requests.auto_approval import (
    AUTO_DECIDER,
    RuleConfigError,
    auto_decision,
    rules_from_data,
    verdicts,
)
from hub.domain.requests.decision import DecisionKind, decide
from hub.domain.requests.request import CameraRef
from hub.domain.requests.states import RequestState
from tests.support.request_kit import CAM1, CAM2, CAM3, NOW, footage_request

TOML = """
[[requests.auto_approval]]
name = "routine-short"
forces = ["Cleveland  police"]
collar_numbers = ["4521", "ab 118"]
max_window_minutes = 120

[[requests.auto_approval]]
name = "threat-to-life"
forces = ["Cleveland Police", "Durham Constabulary"]
max_window_minutes = 60
urgencies = ["threat_to_life"]
max_cameras = 2
sites = ["town-centre"]
lawful_bases = ["dpa2018-part3-s35"]
needs_crime_reference = true
"""
RULES = rules_from_data(tomllib.loads(TOML)["requests"]["auto_approval"])


def test_rules_read_from_toml() -> None:
    short, urgent = RULES
    assert short.name == "routine-short"
    assert short.forces == {"cleveland police"}
    assert short.collar_numbers == {"4521", "AB118"}
    assert short.max_window == timedelta(hours=2)
    assert urgent.max_cameras == 2 and urgent.needs_crime_reference


def test_a_routine_short_request_from_a_listed_officer_is_approved_by_name() -> None:
    request = footage_request()
    found = auto_decision(request, RULES, NOW)
    assert found is not None
    assert found.kind is DecisionKind.APPROVE
    assert (found.rule, found.decided_by) == ("routine-short", AUTO_DECIDER)
    assert found.reason == "auto-approved by rule 'routine-short'"
    outcome = decide("R-1", request, RequestState.SUBMITTED, found)
    assert outcome.state is RequestState.APPROVED
    assert len(outcome.clip_jobs) == 2


def test_collar_numbers_compare_without_spaces_or_case() -> None:
    assert auto_decision(footage_request(collar_number="Ab 118"), RULES, NOW) is not None


def test_verdicts_say_why_each_rule_did_not_match() -> None:
    request = footage_request(
        collar_number="9999",
        start=NOW - timedelta(hours=5),
        end=NOW - timedelta(hours=2),
        cameras=(CAM1, CAM2, CAM3),
        urgency="priority",
    )
    assert auto_decision(request, RULES, NOW) is None
    short, urgent = verdicts(request, RULES)
    assert short.failures == (
        "collar number '9999' is not on the list",
        "the window is 3 h, over 2 h",
        "urgency priority is not covered",
    )
    assert urgent.failures == (
        "the window is 3 h, over 1 h",
        "urgency priority is not covered",
        "3 cameras, over 2",
    )
    assert not short.matched


def test_ripa_requests_are_never_auto_approved() -> None:
    request = footage_request(ripa=True)
    assert auto_decision(request, RULES, NOW) is None
    assert verdicts(request, RULES)[0].failures == (
        "the request is flagged RIPA: a person decides it",
    )


def test_other_force_site_basis_and_missing_crime_reference() -> None:
    request = footage_request(
        force="Durham Constabulary",
        urgency="threat_to_life",
        cameras=(CameraRef("town-centre", "cam-1"),),
        crime_reference="",
        incident_log="0412 of 02/03/2024",
        lawful_basis="dpa2018-sch2-para2",
    )
    short, urgent = verdicts(request, RULES)
    assert "force 'Durham Constabulary' is not on the rule's list" in short.failures
    assert urgent.failures == (
        "lawful basis dpa2018-sch2-para2 is not covered",
        "there is no crime reference",
    )


def test_no_rules_means_a_person_decides() -> None:
    assert auto_decision(footage_request(), (), NOW) is None


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"forces": ["x"], "max_window_minutes": 5}, "rule 1: name must be"),
        ({"name": "Bad Name", "forces": ["x"], "max_window_minutes": 5}, "name must be"),
        ({"name": "r", "forces": [], "max_window_minutes": 5}, "forces must name at least one"),
        ({"name": "r", "forces": "x", "max_window_minutes": 5}, "forces must be a list"),
        ({"name": "r", "forces": ["x"]}, "max_window_minutes is required"),
        ({"name": "r", "forces": ["x"], "max_window_minutes": 0}, "from 1 to 1440"),
        ({"name": "r", "forces": ["x"], "max_window_minutes": True}, "from 1 to 1440"),
        ({"name": "r", "forces": ["x"], "max_window_minutes": 99999}, "from 1 to 1440"),
        ({"name": "r", "forces": ["x"], "max_window_minutes": 5, "urgencies": ["now"]}, "'now'"),
        ({"name": "r", "forces": ["x"], "max_window_minutes": 5, "colour": 1}, "unknown key"),
        (
            {"name": "r", "forces": ["x"], "max_window_minutes": 5, "needs_crime_reference": 1},
            "true or false",
        ),
    ],
)
def test_bad_rules_are_refused_with_the_rule_and_key_named(
    table: dict[str, object], message: str
) -> None:
    with pytest.raises(RuleConfigError, match=message):
        rules_from_data([table])


def test_rules_must_be_a_list_of_tables_with_unique_names() -> None:
    with pytest.raises(RuleConfigError, match="array of tables"):
        rules_from_data({"name": "r"})
    twice = {"name": "r", "forces": ["x"], "max_window_minutes": 5}
    with pytest.raises(RuleConfigError, match="'r' is written twice"):
        rules_from_data([twice, twice])
