"""Working days as a Chinese team counts them.

Chinese public holidays and the 调休 weekend days that are worked instead come from the maintained
`chinese-calendar` library; the archive's `work_calendar` table (admin-edited) overrides it for a
day, and covers the years the library does not know yet (there, without an entry, Monday to
Friday are working days).
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Mapping

import chinese_calendar

if TYPE_CHECKING:
    import duckdb


def library_workday(day: dt.date) -> bool:
    """The library's answer; outside the years it knows, Monday to Friday."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        return day.weekday() < 5


def is_workday(day: dt.date, overrides: Mapping[dt.date, bool] | None = None) -> bool:
    if overrides and day in overrides:
        return overrides[day]
    return library_workday(day)


def add_workdays(start: dt.date, days: int, overrides: Mapping[dt.date, bool] | None = None) -> dt.date:
    """The `days`-th working day after `start` (the day of receipt does not count)."""
    day, left = start, days
    while left > 0:
        day += dt.timedelta(days=1)
        if is_workday(day, overrides):
            left -= 1
    return day


def overrides(cur: "duckdb.DuckDBPyConnection") -> dict[dt.date, bool]:
    """The archive's own calendar entries."""
    return dict(cur.execute("SELECT day, workday FROM work_calendar").fetchall())

