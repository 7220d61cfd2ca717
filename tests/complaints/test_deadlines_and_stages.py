"""Working-day deadlines across 国庆节 and 调休, the two clocks at their boundary, breaches that stay,
and the stage moves that are refused."""
from __future__ import annotations

import datetime as dt

import pytest

from crm.complaints import calendar, deadlines, stages
from crm.settings import ComplaintSettings

day = dt.date.fromisoformat


def test_working_days_across_national_day_and_a_make_up_saturday() -> None:
    # 2025: 10-01..10-08 off; Sunday 09-28 and Saturday 10-11 are worked (调休)
    assert calendar.is_workday(day("2025-09-28")) and calendar.is_workday(day("2025-10-11"))
    assert not calendar.is_workday(day("2025-10-01")) and not calendar.is_workday(day("2025-10-08"))
    settings = ComplaintSettings()
    assert deadlines.policy_deadline(day("2025-09-27"), "特急", settings) == day("2025-09-28")  # the 调休 Sunday
    # received Monday 09-29: 09-30 is the 1st working day, then the holiday, 10-09 the 2nd, 10-10 the 3rd
    assert deadlines.policy_deadline(day("2025-09-29"), "急", settings) == day("2025-10-10")
    # received 09-30: 10-09, 10-10, Saturday 10-11 (调休), 10-13, 10-14, 10-15, 10-16 → the 7th is 10-16
    assert deadlines.policy_deadline(day("2025-09-30"), "一般", settings) == day("2025-10-16")


def test_a_year_the_library_does_not_know_uses_weekdays_and_the_archives_own_days() -> None:
    assert calendar.library_workday(day("2031-03-03")) and not calendar.library_workday(day("2031-03-01"))
    overrides = {day("2031-03-03"): False, day("2031-03-01"): True}  # a company holiday, a worked Saturday
    assert calendar.add_workdays(day("2031-02-28"), 1, overrides) == day("2031-03-01")
    assert calendar.add_workdays(day("2031-02-28"), 2, overrides) == day("2031-03-04")


@pytest.mark.parametrize("resolved, today, breached_on, expected", [
    ("2026-03-10", "2026-03-20", None, deadlines.KEPT),         # resolved on the deadline day: kept
    ("2026-03-11", "2026-03-20", None, deadlines.BREACHED),
    (None, "2026-03-10", None, deadlines.OPEN),                  # the last day: still in time
    (None, "2026-03-11", None, deadlines.OPEN_LATE),
    ("2026-03-09", "2026-03-20", "2026-03-11", deadlines.BREACHED),  # breached once: stays breached
    ("2026-03-12", "2026-03-11", None, deadlines.OPEN_LATE),    # a resolution after today is not known yet
])
def test_clock_states(resolved: str | None, today: str, breached_on: str | None, expected: str) -> None:
    got = deadlines.clock_state(day("2026-03-10"), day(resolved) if resolved else None, day(today),
                                day(breached_on) if breached_on else None)
    assert got == expected
    assert deadlines.clock_state(None, None, day(today)) == deadlines.NONE


def test_the_sql_clock_equals_the_rule(archive) -> None:
    cases = [(day("2026-03-10"), r, t, b) for r in (None, day("2026-03-09"), day("2026-03-10"), day("2026-03-11"))
             for t in (day("2026-03-09"), day("2026-03-10"), day("2026-03-12")) for b in (None, day("2026-03-11"))]
    cur = archive.cursor()
    try:
        for deadline, resolved, today, breached in cases:
            sql = deadlines.clock_state_sql("$dl", "$res", "$br")
            got = cur.execute(f"SELECT {sql}", {"dl": deadline, "res": resolved, "br": breached, "today": today}).fetchall()[0][0]
            assert got == deadlines.clock_state(deadline, resolved, today, breached), (deadline, resolved, today, breached)
    finally:
        cur.close()


def test_moves() -> None:
    assert stages.check_move(stages.REGISTERED, stages.ACCEPTED, {}) == []
    assert stages.check_move(stages.REGISTERED, stages.HANDLED, {}) == [
        "不能从「已登记」直接转到「已处理」（可转到：已受理、不予受理）"]
    assert stages.check_move(stages.REGISTERED, stages.REFUSED, {}) == ["转到「不予受理」需要填写：不予受理原因"]
    assert stages.check_move(stages.INVESTIGATING, stages.HANDLED, {"resolution": "换货"}) == [
        "转到「已处理」需要填写：处理结果、投诉原因"]
    assert stages.check_move(stages.CLOSED, stages.INVESTIGATING, {"note": None}) == ["转到「调查中」需要填写：重新处理的原因"]
    assert stages.next_stages(stages.HANDLED) == [stages.REVISITED, stages.INVESTIGATING]
