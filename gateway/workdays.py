from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import chinese_calendar  # type: ignore[import-untyped]

__all__ = [
    "OBJECTION_CHECK_WORKING_DAYS",
    "OUT_OF_CATALOG_SUPPLY_WORKING_DAYS",
    "Deadline",
    "add_working_days",
    "is_working_day",
    "working_days_between",
]

OBJECTION_CHECK_WORKING_DAYS = 3
OUT_OF_CATALOG_SUPPLY_WORKING_DAYS = 5

_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True)
class Deadline:
    due: date
    # True when the official State Council arrangement for some day counted is
    # not in the installed calendar data, so Monday-Friday was assumed.
    estimated: bool

    def to_dict(self) -> dict[str, object]:
        return {"due": self.due.isoformat(), "estimated": self.estimated}


def _as_date(day: date) -> date:
    if isinstance(day, datetime):
        return day.date()
    if not isinstance(day, date):
        raise TypeError(f"expected a date, got {type(day).__name__}")
    return day


def is_working_day(day: date) -> tuple[bool, bool]:
    """Return (working, estimated) for one calendar day."""
    day = _as_date(day)
    try:
        return bool(chinese_calendar.is_workday(day)), False
    except NotImplementedError:
        return day.weekday() < 5, True


def add_working_days(start: date, n: int) -> Deadline:
    """The n-th working day after ``start``; the filing day itself never counts."""
    start = _as_date(start)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive number of working days, got {n!r}")
    day = start
    counted = 0
    estimated = False
    while counted < n:
        day += _ONE_DAY
        working, guessed = is_working_day(day)
        # A skipped day in an uncovered year may really be a make-up working
        # day, so it makes the deadline an estimate just like a counted one.
        estimated = estimated or guessed
        if working:
            counted += 1
    return Deadline(due=day, estimated=estimated)


def working_days_between(start: date, end: date) -> int:
    """Working days in the interval (start, end]; 0 when end is not after start."""
    start, end = _as_date(start), _as_date(end)
    count = 0
    day = start + _ONE_DAY
    while day <= end:
        if is_working_day(day)[0]:
            count += 1
        day += _ONE_DAY
    return count
