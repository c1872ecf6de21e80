"""Any text in any field of a request: either a request with clean one-line fields, or a
RequestRefused whose message is short and printable; never another exception."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from hub.domain.requests.request import CameraRef
from hub.domain.requests.validation import RequestRefused, check_request
from hub.notifications.messages import MailFacts, MailRefused, NotificationStep, compose
from tests.support.request_kit import CAM1, CATALOGUE, NOW, draft

TEXT = st.text(max_size=200)
TIMES = st.one_of(
    st.none(),
    st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1)),
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
    ),
)


def clean(value: str) -> bool:
    return not any(unicodedata.category(c) in ("Cc", "Cf") for c in value)


@settings(max_examples=300, deadline=None)
@given(
    force=TEXT,
    name=TEXT,
    collar=TEXT,
    contact=TEXT,
    crime=TEXT,
    offence=TEXT,
    basis=TEXT,
    urgency=st.sampled_from(["routine", "priority", "threat_to_life", "x"]),
    start=TIMES,
    end=TIMES,
    camera=st.text(max_size=70),
    colleague=TEXT,
)
def test_any_input_is_a_clean_request_or_a_clear_refusal(
    force: str,
    name: str,
    collar: str,
    contact: str,
    crime: str,
    offence: str,
    basis: str,
    urgency: str,
    start: datetime | None,
    end: datetime | None,
    camera: str,
    colleague: str,
) -> None:
    request = draft(
        force=force,
        officer_name=name,
        collar_number=collar,
        contact=contact,
        crime_reference=crime,
        offence=offence,
        lawful_basis=basis,
        urgency=urgency,
        start=start,
        end=end,
        cameras=(CAM1, CameraRef("town-centre", camera)),
        colleagues=(colleague,),
    )
    try:
        made = check_request(
            request, catalogue=CATALOGUE, requested_by="dc-smith", filed_by="dc-smith", now=NOW
        )
    except RequestRefused as refused:
        assert refused.problems
        for problem in refused.problems:
            assert len(problem) < 400
            assert "\r" not in problem and "\n" not in problem
        return
    officer = made.officer
    for value in (officer.force, officer.name, officer.collar_number, made.offence):
        assert value and clean(value)
    assert made.window.start < made.window.end <= NOW + timedelta(minutes=2)


@settings(max_examples=200, deadline=None)
@given(reference=TEXT, police=TEXT, name=TEXT, reason=TEXT, detail=TEXT)
def test_any_mail_facts_give_a_one_line_subject(
    reference: str, police: str, name: str, reason: str, detail: str
) -> None:
    facts = MailFacts(reference, police, name, "https://h.example/requests/R-1", reason, detail)
    try:
        mail = compose(NotificationStep.DECLINED, facts, ("a@b.uk",))
    except MailRefused:
        return
    assert clean(mail.subject)
    assert all(clean(line) for line in mail.body.splitlines())
