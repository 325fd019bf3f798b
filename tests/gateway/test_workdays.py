from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.workdays import (
    OBJECTION_CHECK_WORKING_DAYS,
    OUT_OF_CATALOG_SUPPLY_WORKING_DAYS,
    Deadline,
    add_working_days,
    is_working_day,
    working_days_between,
)

# chinesecalendar 1.11 ships State Council arrangements for 2004..2026 inclusive.
FIRST_COVERED_YEAR = 2004
LAST_COVERED_YEAR = 2026


def test_covered_years_of_installed_calendar() -> None:
    assert is_working_day(date(2004, 1, 1)) == (False, False)  # New Year's Day
    assert is_working_day(date(2026, 12, 31)) == (True, False)
    # Outside the data: plain Monday-Friday, flagged as an estimate.
    assert is_working_day(date(2003, 12, 31)) == (True, True)  # Wednesday
    assert is_working_day(date(2027, 1, 1)) == (True, True)  # Friday
    assert is_working_day(date(2027, 1, 2)) == (False, True)  # Saturday


def test_official_2026_arrangement_days() -> None:
    # Mid-Autumn 09-25..27 and National Day 10-01..07; make-up days 09-20 (Sun), 10-10 (Sat).
    assert is_working_day(date(2026, 9, 25)) == (False, False)
    assert is_working_day(date(2026, 10, 1)) == (False, False)
    assert is_working_day(date(2026, 10, 7)) == (False, False)
    assert is_working_day(date(2026, 9, 20)) == (True, False)
    assert is_working_day(date(2026, 10, 10)) == (True, False)
    assert is_working_day(date(2026, 5, 9)) == (True, False)
    assert is_working_day(datetime(2026, 5, 9, 23, 59)) == (True, False)


def test_ordinary_week() -> None:
    monday = date(2026, 3, 9)
    assert add_working_days(monday, OBJECTION_CHECK_WORKING_DAYS) == Deadline(date(2026, 3, 12), False)
    assert add_working_days(monday, OUT_OF_CATALOG_SUPPLY_WORKING_DAYS) == Deadline(date(2026, 3, 16), False)
    assert add_working_days(date(2026, 3, 13), 1).due == date(2026, 3, 16)  # Friday -> Monday


def test_filing_day_itself_never_counts() -> None:
    assert add_working_days(date(2026, 3, 14), 1).due == date(2026, 3, 16)  # filed on Saturday
    assert add_working_days(date(2026, 3, 11), 1).due == date(2026, 3, 12)  # filed on Wednesday


def test_friday_before_national_day_2026() -> None:
    # The last Friday before 10-01 is 09-25, itself the Mid-Autumn holiday.
    friday = date(2026, 9, 25)
    assert add_working_days(friday, 3) == Deadline(date(2026, 9, 30), False)
    # 09-28, 09-29, 09-30, then the 10-01..07 holiday, then 10-08, 10-09.
    assert add_working_days(friday, 5) == Deadline(date(2026, 10, 9), False)


def test_last_working_day_before_national_day_counts_make_up_saturday() -> None:
    wednesday = date(2026, 9, 30)
    # 10-08 Thu, 10-09 Fri, 10-10 make-up Saturday.
    assert add_working_days(wednesday, 3) == Deadline(date(2026, 10, 10), False)
    # ... then 10-12 Mon, 10-13 Tue.
    assert add_working_days(wednesday, 5) == Deadline(date(2026, 10, 13), False)


def test_make_up_saturday_before_labour_day_week() -> None:
    # 05-08 Fri, 05-09 make-up Saturday, 05-11 Mon (a plain Mon-Fri rule would give 05-12).
    assert add_working_days(date(2026, 5, 7), 3) == Deadline(date(2026, 5, 11), False)


def test_make_up_days_around_spring_festival_and_sunday_make_up() -> None:
    assert add_working_days(date(2026, 2, 13), 1).due == date(2026, 2, 14)
    # 02-14 Sat, holiday 02-15..23, 02-24, 02-25.
    assert add_working_days(date(2026, 2, 13), 3).due == date(2026, 2, 25)
    # 09-20 is a make-up Sunday: 09-20, 09-21, 09-22.
    assert add_working_days(date(2026, 9, 18), 3).due == date(2026, 9, 22)


def test_deadline_crossing_into_uncovered_2027_is_estimated() -> None:
    filed = date(2026, 12, 30)
    assert add_working_days(filed, 1) == Deadline(date(2026, 12, 31), False)
    # 12-31 Thu (official), 2027-01-01 Fri (Mon-Fri fallback counts it), 2027-01-04 Mon.
    assert add_working_days(filed, 3) == Deadline(date(2027, 1, 4), True)
    assert add_working_days(filed, 5) == Deadline(date(2027, 1, 6), True)


def test_skipped_uncovered_day_makes_estimate() -> None:
    # 2003-12-31 Wed is counted under the Mon-Fri fallback before reaching 2004 data.
    assert add_working_days(date(2003, 12, 30), 1) == Deadline(date(2003, 12, 31), True)
    assert add_working_days(date(2003, 12, 30), 2).estimated is True


def test_deadline_to_dict() -> None:
    assert Deadline(date(2027, 1, 4), True).to_dict() == {"due": "2027-01-04", "estimated": True}


@pytest.mark.parametrize("n", [0, -1, True])
def test_non_positive_counts_are_refused(n: int) -> None:
    with pytest.raises(ValueError):
        add_working_days(date(2026, 3, 9), n)


def test_working_days_between() -> None:
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 13)) == 5
    assert working_days_between(date(2026, 9, 25), date(2026, 9, 30)) == 3
    assert working_days_between(date(2026, 9, 30), date(2026, 10, 7)) == 0
    assert working_days_between(date(2026, 12, 30), date(2027, 1, 4)) == 3
    assert working_days_between(date(2026, 3, 12), date(2026, 3, 9)) == 0
    assert working_days_between(date(2026, 3, 9), date(2026, 3, 9)) == 0


starts = st.dates(min_value=date(2003, 6, 1), max_value=date(2027, 6, 30))
counts = st.integers(min_value=1, max_value=25)


@settings(database=None, deadline=None, max_examples=300)
@given(start=starts, n=counts)
def test_deadline_properties(start: date, n: int) -> None:
    deadline = add_working_days(start, n)
    following = add_working_days(start, n + 1)

    assert deadline.due > start
    assert is_working_day(deadline.due)[0]
    assert following.due > deadline.due
    assert working_days_between(start, deadline.due) == n
    assert working_days_between(start, deadline.due - timedelta(days=1)) == n - 1
    # Coverage is one contiguous block, so the scan (start, due] leaves it iff
    # either end of that interval lies outside it.
    first_scanned = start + timedelta(days=1)
    outside = first_scanned.year < FIRST_COVERED_YEAR or deadline.due.year > LAST_COVERED_YEAR
    assert deadline.estimated is outside
