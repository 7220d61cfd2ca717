"""crm.followups.rules: buckets at the clock's edges, priority order, the next date, on-time rate."""
from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm import clock
from crm.db import Archive
from crm.followups import rules

day = dt.date.fromisoformat
UTC = dt.UTC


@pytest.mark.parametrize("moment, due, expected", [
    # 23:59 and 00:01 Beijing time, given as UTC moments: the day is the configured zone's
    (dt.datetime(2026, 12, 31, 15, 59, tzinfo=UTC), "2026-12-31", rules.TODAY),   # 23:59 on 12-31
    (dt.datetime(2026, 12, 31, 16, 1, tzinfo=UTC), "2026-12-31", rules.OVERDUE),  # 00:01 on 01-01
    (dt.datetime(2026, 12, 31, 16, 1, tzinfo=UTC), "2027-01-01", rules.TODAY),
    (dt.datetime(2026, 11, 30, 15, 59, tzinfo=UTC), "2026-12-01", rules.THIS_WEEK),  # Mon 11-30, 23:59
    (dt.datetime(2026, 12, 6, 15, 59, tzinfo=UTC), "2026-12-07", rules.LATER),  # Sunday 23:59: Monday is next week
    (dt.datetime(2026, 12, 6, 16, 1, tzinfo=UTC), "2026-12-07", rules.TODAY),
    (dt.datetime(2028, 2, 28, 16, 1, tzinfo=UTC), "2028-02-28", rules.OVERDUE),  # 00:01 on 02-29
])
def test_buckets_follow_the_configured_timezone(moment: dt.datetime, due: str, expected: str) -> None:
    with clock.pinned(moment):
        assert rules.bucket(day(due), clock.today()) == expected


def test_week_ends_on_sunday() -> None:
    assert rules.week_end(day("2026-11-30")) == day("2026-12-06")  # Monday
    assert rules.week_end(day("2026-12-06")) == day("2026-12-06")  # Sunday
    assert rules.week_end(day("2026-12-31")) == day("2027-01-03")  # across the year


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # read-only
@given(today=st.dates(dt.date(2020, 1, 1), dt.date(2035, 12, 31)), offset=st.integers(-400, 400))
def test_the_sql_bucket_equals_the_rule(archive: Archive, today: dt.date, offset: int) -> None:
    due = today + dt.timedelta(days=offset)
    cur = archive.cursor()
    try:
        got = cur.execute(f"SELECT {rules.bucket_sql('f')} FROM (SELECT $due::DATE AS due) f",
                          {"due": due, "today": today, "week_end": rules.week_end(today)}).fetchall()[0][0]
    finally:
        cur.close()
    assert got == rules.bucket(due, today)


def test_priority_order() -> None:
    today = day("2026-12-01")
    items = [rules.QueueItem(False, False, day("2026-11-20"), 1),   # 11 days overdue
             rules.QueueItem(True, False, day("2026-12-03"), 2),    # high value, not yet due
             rules.QueueItem(False, True, day("2026-11-30"), 3),    # urgent, a day overdue
             rules.QueueItem(False, False, day("2026-11-25"), 4),   # 6 days overdue
             rules.QueueItem(False, False, day("2026-12-01"), 5),
             rules.QueueItem(False, False, day("2026-11-25"), 0)]   # same as 4, older task first
    ordered = [i.id for i in sorted(items, key=lambda i: rules.priority_key(i, today))]
    assert ordered == [3, 2, 1, 0, 4, 5]


def test_age_bands_and_days_overdue() -> None:
    assert [rules.age_band(d) for d in (0, 1, 3, 4, 7, 8, 30, 31, 400)] == [
        None, "1–3 天", "1–3 天", "4–7 天", "4–7 天", "8–30 天", "8–30 天", "30 天以上", "30 天以上"]
    assert rules.days_overdue(day("2026-12-31"), day("2027-01-02")) == 2
    assert rules.days_overdue(day("2027-01-02"), day("2026-12-31")) == 0


def test_next_due_by_goal_and_the_setting() -> None:
    done = day("2026-12-28")
    assert rules.next_due(done, "解决问题", 7) == day("2026-12-31")
    assert rules.next_due(done, "增加订单", 7) == day("2027-01-11")
    assert rules.next_due(done, None, 10) == day("2027-01-07")


def test_on_time_rate() -> None:
    d = day("2026-12-01")
    assert rules.on_time(d, d) and not rules.on_time(d, d + dt.timedelta(days=1)) and not rules.on_time(d, None)
    assert rules.on_time_rate([(d, d), (d, None), (d, d - dt.timedelta(days=3)), (d, d + dt.timedelta(days=1))]) == 0.5
    assert rules.on_time_rate([]) is None
