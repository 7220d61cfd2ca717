"""The archive's one clock: what "today" and "now" are, in the team's timezone.

Rules never ask the machine for the date themselves: they take `today` as a parameter, and when
a caller has none it comes from here. Everything that stamps a row (created_at, done_at, an audit
entry) takes `now()` from here too, so a test that pins the clock pins every date the code sees,
and a suite run under a shifted system clock (`faketime -f '+400d'`) sees one consistent day.

The day is the day in `CRM_TIMEZONE` (default Asia/Shanghai): a follow-up due "today" at 00:30
Beijing time is due today, whatever timezone the server runs in. Times are naive local times in
that zone, which is how DuckDB stores them (TIMESTAMP) and how users read them.

Pinning: `with pinned(date(2026, 2, 28)): …` in tests, or `CRM_NOW=2026-02-28T09:00` in the
environment of a process (a served app under a browser test). A pinned date without a time is
09:00 of that day.
"""
from __future__ import annotations

import datetime as dt
import threading
from contextlib import contextmanager
from typing import Iterator
from zoneinfo import ZoneInfo

from crm import config

_pin = threading.local()
_global_pin: list[dt.datetime] = []


def timezone() -> ZoneInfo:
    """The configured timezone (CRM_TIMEZONE, default Asia/Shanghai)."""
    return ZoneInfo(config.timezone_name())


def _parse(value: str | dt.date | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(timezone()).replace(tzinfo=None)
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time(9, 0))
    text = value.strip()
    if len(text) == 10:
        return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(9, 0))
    return _parse(dt.datetime.fromisoformat(text))


def now() -> dt.datetime:
    """The current local time (naive, in the configured timezone), or the pinned one."""
    pinned_here = getattr(_pin, "value", None)
    if pinned_here is not None:
        return pinned_here
    if _global_pin:
        return _global_pin[-1]
    env = config.pinned_now()
    if env:
        return _parse(env)
    return dt.datetime.now(timezone()).replace(tzinfo=None, microsecond=0)


def today() -> dt.date:
    """Today's date in the configured timezone (the default reference date of every rule)."""
    return now().date()


def local_date(moment: dt.datetime) -> dt.date:
    """The day a moment falls on in the configured timezone (an aware moment is converted first)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone())
    return moment.date()


@contextmanager
def pinned(moment: str | dt.date | dt.datetime, *, all_threads: bool = True) -> Iterator[dt.datetime]:
    """Make `now()` return `moment` (a date means 09:00 that day) until the block ends.

    `all_threads` (the default) pins it for every thread — the AppTest script thread too —
    otherwise only for the calling thread.
    """
    value = _parse(moment)
    if all_threads:
        _global_pin.append(value)
        try:
            yield value
        finally:
            _global_pin.pop()
    else:
        before = getattr(_pin, "value", None)
        _pin.value = value
        try:
            yield value
        finally:
            _pin.value = before
