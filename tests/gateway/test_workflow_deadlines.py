"""Deadlines and state machines of the workflows (R-19b, R-22), on real calendar dates."""

from __future__ import annotations

import datetime as dt
from datetime import date

import pytest

from gateway.workdays import Deadline
from resolvers.workflows import TRANSITIONS, AccessRequest, Objection, check_deadline, is_overdue, next_actions, next_status, supply_deadline

AT = dt.datetime(2026, 9, 30, 9, 0, tzinfo=dt.UTC)


def objection(status: str, due: date | None, outcome: str | None = None) -> Objection:
    return Objection(
        id=1, item="P03", provider="gz-mzj", subject="440106199001011235", field="Person.maritalStatus", claimed_value="divorced",
        reason="r", filed_by="gz-zfcxjsj", duty="zj.housing-security", status=status, outcome=outcome,
        step_started_on=date(2026, 9, 30) if due else None, due=due, due_estimated=False if due else None, filed_at=AT, closed_at=None,
    )


def request(status: str, due: date | None, supplied_on: date | None = None) -> AccessRequest:
    return AccessRequest(
        id=2, item="P06", provider="gz-rsj", duty="sw.collection", requester="gz-swj", justification="j", status=status,
        decision_reference="ref" if due else None, decided_on=None, supply_due=due, supply_due_estimated=False if due else None,
        supplied_on=supplied_on, supplied_late=(supplied_on > due) if supplied_on and due else None, requested_at=AT,
    )


@pytest.mark.parametrize(
    ("started", "expected"),
    [
        # 10-08 Thu, 10-09 Fri, then 10-10, the make-up Saturday after National Day 2026
        (date(2026, 9, 30), Deadline(date(2026, 10, 10), False)),
        # filed on the Mid-Autumn holiday: 09-28, 09-29, 09-30
        (date(2026, 9, 25), Deadline(date(2026, 9, 30), False)),
        # 12-31 is official; 2027 is not in the calendar yet: Monday-Friday assumed
        (date(2026, 12, 30), Deadline(date(2027, 1, 4), True)),
        # an ordinary Friday: Monday to Wednesday
        (date(2026, 3, 13), Deadline(date(2026, 3, 18), False)),
    ],
)
def test_objection_step_deadline(started: date, expected: Deadline) -> None:
    assert check_deadline(started) == expected


@pytest.mark.parametrize(
    ("decided", "expected"),
    [
        # across National Day 2026: 09-29, 09-30, 10-08, 10-09 and the make-up Saturday 10-10
        (date(2026, 9, 28), Deadline(date(2026, 10, 10), False)),
        # across Labour Day 2026 (05-01..05): 05-06, 05-07, 05-08, the make-up Saturday 05-09, 05-11
        (date(2026, 4, 30), Deadline(date(2026, 5, 11), False)),
        # across the Spring Festival 2026 (02-15..23): the make-up Saturday 02-14, then 02-24..27
        (date(2026, 2, 13), Deadline(date(2026, 2, 27), False)),
        (date(2026, 12, 30), Deadline(date(2027, 1, 6), True)),
    ],
)
def test_supply_deadline(decided: date, expected: Deadline) -> None:
    assert supply_deadline(decided) == expected


@pytest.mark.parametrize(
    ("due", "today", "overdue"),
    [
        (date(2026, 10, 10), date(2026, 10, 10), False),  # the due day itself is in time
        (date(2026, 10, 10), date(2026, 10, 11), True),
        (date(2026, 10, 10), date(2026, 10, 9), False),
        (None, date(2026, 10, 11), False),  # no open step
    ],
)
def test_is_overdue(due: date | None, today: date, overdue: bool) -> None:
    assert is_overdue(due, today) is overdue


def test_objection_open_step_and_visibility() -> None:
    filed = objection("filed", date(2026, 10, 10))
    assert filed.awaiting == "operator" and filed.overdue(date(2026, 10, 12)) and not filed.overdue(date(2026, 10, 10))
    assert filed.concerns("gz-zfcxjsj") and not filed.concerns("gz-mzj")  # the provider sees it once forwarded
    forwarded = objection("forwarded", date(2026, 10, 13))
    assert forwarded.awaiting == "gz-mzj" and forwarded.concerns("gz-mzj") and not forwarded.concerns("gz-rsj")
    closed = objection("closed", None, "record_corrected")
    assert closed.awaiting is None and not closed.overdue(date(2030, 1, 1)) and closed.concerns("gz-mzj")
    assert not objection("closed", None, "confirmed").concerns("gz-mzj")


def test_supply_lateness_counts_working_days() -> None:
    due = date(2026, 9, 30)
    waiting = request("awaiting_supply", due)
    assert not waiting.overdue(due) and waiting.overdue(date(2026, 10, 8))
    assert waiting.working_days_late(date(2026, 10, 7)) == 0  # National Day week: no working day lost yet
    assert waiting.working_days_late(date(2026, 10, 10)) == 3  # 10-08, 10-09, make-up 10-10
    supplied = request("supplied", due, supplied_on=date(2026, 10, 9))
    assert supplied.supplied_late is True and not supplied.overdue(date(2026, 12, 1))
    assert supplied.working_days_late(date(2026, 12, 1)) == 2  # counted until it was supplied
    assert request("granted", None).working_days_late(date(2026, 12, 1)) == 0


@pytest.mark.parametrize(
    ("workflow", "status", "action", "expected"),
    [
        ("objection", "filed", "confirmed", "closed"),
        ("objection", "filed", "corrected_technical", "closed"),
        ("objection", "filed", "forwarded", "forwarded"),
        ("objection", "forwarded", "record_corrected", "closed"),
        ("objection", "forwarded", "value_correct", "closed"),
        # the provider answers only what the operator forwarded; the operator reviews once
        ("objection", "filed", "value_correct", None),
        ("objection", "forwarded", "confirmed", None),
        ("objection", "closed", "forwarded", None),
        ("access_request", "awaiting_decision", "approved", "awaiting_supply"),
        ("access_request", "awaiting_decision", "rejected", "rejected"),
        ("access_request", "awaiting_supply", "supplied", "supplied"),
        # nothing to decide once granted in scope (R-19a); nothing to supply before approval
        ("access_request", "granted", "approved", None),
        ("access_request", "awaiting_decision", "supplied", None),
        ("access_request", "rejected", "supplied", None),
        ("complaint", "filed", "answered", "answered"),
        ("complaint", "answered", "answered", None),  # a written answer is kept as given
    ],
)
def test_transitions(workflow: str, status: str, action: str, expected: str | None) -> None:
    assert next_status(workflow, status, action) == expected


def test_final_states_have_no_next_step() -> None:
    finals = {("objection", "closed"), ("access_request", "granted"), ("access_request", "supplied"), ("access_request", "rejected"), ("complaint", "answered")}
    for workflow, status in finals:
        assert next_actions(workflow, status) == []
    assert {(w, target) for (w, _, _), target in TRANSITIONS.items()} - {(w, s) for (w, s, _) in TRANSITIONS} <= finals
