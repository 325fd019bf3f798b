"""Update deadlines per R-17: licenses and documents in real time, business information within
3 days, a filed exception at least quarterly within the first 10 days of the quarter."""

from __future__ import annotations

import datetime as dt

from authz.model import UpdateCycle

__all__ = ["REALTIME_TOLERANCE", "next_update_due", "is_late"]

# "real time" cannot be measured from the store alone; a day without any update is reported
REALTIME_TOLERANCE = dt.timedelta(days=1)


def _next_quarter_start(day: dt.date) -> dt.date:
    first_month = (day.month - 1) // 3 * 3 + 1
    if first_month == 10:
        return dt.date(day.year + 1, 1, 1)
    return dt.date(day.year, first_month + 3, 1)


def next_update_due(cycle: UpdateCycle, newest: dt.datetime) -> dt.datetime:
    """The latest moment by which the provider must have updated again."""
    if cycle is UpdateCycle.REALTIME:
        return newest + REALTIME_TOLERANCE
    if cycle is UpdateCycle.THREE_DAYS:
        return newest + dt.timedelta(days=3)
    quarter = _next_quarter_start(newest.date())
    return dt.datetime.combine(quarter.replace(day=10), dt.time.max, tzinfo=newest.tzinfo)


def is_late(cycle: UpdateCycle, newest: dt.datetime, now: dt.datetime) -> bool:
    return now > next_update_due(cycle, newest)
