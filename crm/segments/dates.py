"""Calendar arithmetic the rules' windows use: months are calendar months, clamped to the month's end
(31 March − 1 month → 28/29 February), as DuckDB does."""
from __future__ import annotations

import calendar
import datetime as dt


# ------------------------------------------------------------------ dates
def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (31 March − 1 month → 28/29 February), as DuckDB does."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def is_month_end(day: dt.date) -> bool:
    return day == month_end(day)


def last_month_end(day: dt.date) -> dt.date:
    """The latest month end on or before `day`."""
    return day if is_month_end(day) else day.replace(day=1) - dt.timedelta(days=1)


def quarter_end_before(day: dt.date) -> dt.date:
    """The last quarter end strictly before the quarter `day` is in (the end of last quarter)."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    return day.replace(month=first_month, day=1) - dt.timedelta(days=1)


def month_ends(upto: dt.date, count: int = 24) -> list[dt.date]:
    """The `count` latest month ends on or before `upto`, newest first."""
    out, day = [], last_month_end(upto)
    for _ in range(count):
        out.append(day)
        day = day.replace(day=1) - dt.timedelta(days=1)
    return out


