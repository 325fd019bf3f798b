from __future__ import annotations

import datetime as dt

import pytest

from authz.freshness import is_late, next_update_due
from authz.model import UpdateCycle

CST = dt.timezone(dt.timedelta(hours=8))


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=CST)


@pytest.mark.parametrize(
    ("cycle", "newest", "now", "late"),
    [
        # the demo's tax-credit ratings, updated 2025-04-20: due by 2025-07-10
        (UpdateCycle.QUARTERLY, "2025-04-20 10:00", "2025-07-10 23:00", False),
        (UpdateCycle.QUARTERLY, "2025-04-20 10:00", "2025-07-11 00:01", True),
        (UpdateCycle.QUARTERLY, "2025-04-20 10:00", "2026-11-30 12:00", True),
        (UpdateCycle.QUARTERLY, "2025-11-02 10:00", "2026-01-10 20:00", False),  # across the year
        (UpdateCycle.QUARTERLY, "2025-11-02 10:00", "2026-01-11 08:00", True),
        (UpdateCycle.THREE_DAYS, "2026-11-27 09:00", "2026-11-30 08:59", False),
        (UpdateCycle.THREE_DAYS, "2026-11-27 09:00", "2026-11-30 09:01", True),
        (UpdateCycle.REALTIME, "2026-11-29 12:00", "2026-11-30 11:00", False),
        (UpdateCycle.REALTIME, "2026-11-28 12:00", "2026-11-30 11:00", True),
    ],
)
def test_update_cycles(cycle: UpdateCycle, newest: str, now: str, late: bool) -> None:
    assert is_late(cycle, at(newest), at(now)) is late


def test_quarterly_deadline_is_the_tenth_of_the_next_quarter() -> None:
    due = next_update_due(UpdateCycle.QUARTERLY, at("2025-04-20 10:00"))
    assert due.date() == dt.date(2025, 7, 10)
