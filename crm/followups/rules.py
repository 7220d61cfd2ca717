"""The follow-up queue's rules, each a named function of the reference day (never the machine's).

"Today" is the day in the configured timezone (crm.clock): a follow-up due on 12-31 is 今天 from
00:00 to 23:59 Beijing time on 12-31, whatever the server's zone. Each rule that lists rely on
also comes as SQL built from the same constants, and the tests hold the two equal.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

OVERDUE, TODAY, THIS_WEEK, LATER = "逾期", "今天", "本周", "以后"
BUCKETS: tuple[str, ...] = (OVERDUE, TODAY, THIS_WEEK, LATER)

# Overdue ages a team lead reads (days overdue, inclusive bounds; the last is open-ended).
AGE_BANDS: tuple[tuple[str, int, int | None], ...] = (("1–3 天", 1, 3), ("4–7 天", 4, 7), ("8–30 天", 8, 30),
                                                      ("30 天以上", 31, None))

# Days after completion that "完成并安排下次" proposes, by the follow-up's goal (T5 跟进目标);
# a goal not listed uses the follow-ups setting next_follow_up_days.
NEXT_DAYS_BY_GOAL: dict[str, int] = {"解决问题": 3, "达成合作": 7, "增加订单": 14, "客户关怀": 30, "回款": 7}


def week_end(today: dt.date) -> dt.date:
    """The Sunday that ends today's (ISO, Monday-first) week."""
    return today + dt.timedelta(days=6 - today.weekday())


def bucket(due: dt.date, today: dt.date) -> str:
    """逾期 before today, 今天, 本周 (tomorrow to Sunday), 以后."""
    if due < today:
        return OVERDUE
    if due == today:
        return TODAY
    if due <= week_end(today):
        return THIS_WEEK
    return LATER


def bucket_sql(alias: str = "f") -> str:
    """`bucket` in SQL, with named parameters $today and $week_end."""
    return (f"CASE WHEN {alias}.due < $today THEN '{OVERDUE}' WHEN {alias}.due = $today THEN '{TODAY}' "
            f"WHEN {alias}.due <= $week_end THEN '{THIS_WEEK}' ELSE '{LATER}' END")


def days_overdue(due: dt.date, today: dt.date) -> int:
    """Whole days past due (0 when not overdue)."""
    return max((today - due).days, 0)


def age_band(days: int) -> str | None:
    """The overdue age band of a follow-up `days` overdue (None when not overdue)."""
    for label, low, high in AGE_BANDS:
        if days >= low and (high is None or days <= high):
            return label
    return None


@dataclass(frozen=True)
class QueueItem:
    """What the priority order looks at."""
    high_value: bool
    urgent: bool
    due: dt.date
    id: int = 0


def priority_key(item: QueueItem, today: dt.date) -> tuple:
    """高价值 and 紧急 first, then the longest overdue, then the earliest due, then the oldest task."""
    return (not (item.high_value or item.urgent), -days_overdue(item.due, today), item.due, item.id)


PRIORITY_ORDER_SQL = "(high_value OR urgent) DESC, days_overdue DESC, due ASC, id ASC"


def import_may_move(old: str, new: str) -> bool:
    """Whether a sheet may change a follow-up's status: only forwards, from 待跟进 to 已完成 or
    已取消. A completed or cancelled follow-up stays so whatever a re-imported sheet says (the
    work done in the app is not undone by the team's own spreadsheet)."""
    from crm.vocabulary import FOLLOW_UP_OPEN

    return old == FOLLOW_UP_OPEN and new != FOLLOW_UP_OPEN


def next_due(completed_on: dt.date, goal: str | None, default_days: int) -> dt.date:
    """The next follow-up's date for "完成并安排下次": completion day + the goal's interval."""
    return completed_on + dt.timedelta(days=NEXT_DAYS_BY_GOAL.get(goal or "", default_days))


def on_time(due: dt.date, completed_on: dt.date | None) -> bool:
    """Completed on or before its due day."""
    return completed_on is not None and completed_on <= due


def on_time_rate(items: list[tuple[dt.date, dt.date | None]]) -> float | None:
    """Completed by the due date ÷ due in the period (None when nothing was due)."""
    if not items:
        return None
    return sum(on_time(due, done) for due, done in items) / len(items)
