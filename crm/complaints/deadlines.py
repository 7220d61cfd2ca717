"""Two clocks per complaint, each kept / breached / open, and breached for good once seen.

- 承诺办理期限 (promised_by): the date promised to the customer, from the sheet or the form.
- 政策期限 (policy_deadline): by urgency in working days from the day of receipt (特急 1, 急 3,
  一般 7; settings), counted on the Chinese working calendar (crm.complaints.calendar).

A complaint resolved on its deadline day kept it. One still open after its deadline is 未结已超期
(open and already late) — and breached: the day it was first seen late is stored
(`*_breached_on`), so moving the promised date later, or resolving it afterwards, never turns a
breach back into kept (the failure Odoo's users asked for and Frappe's "Paused" hid).
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Mapping

from crm.complaints import calendar
from crm.settings import ComplaintSettings

if TYPE_CHECKING:
    import duckdb

KEPT, BREACHED, OPEN_LATE, OPEN, NONE = "按期", "超期", "未结已超期", "处理中", "无期限"
CLOCK_STATES: tuple[str, ...] = (KEPT, BREACHED, OPEN_LATE, OPEN, NONE)


def policy_deadline(received: dt.date, urgency: str | None, settings: ComplaintSettings,
                    overrides: Mapping[dt.date, bool] | None = None) -> dt.date:
    return calendar.add_workdays(received, settings.policy_days(urgency), overrides)


def clock_state(deadline: dt.date | None, resolved_on: dt.date | None, today: dt.date,
                breached_on: dt.date | None = None) -> str:
    """The state of one clock as of `today`."""
    if deadline is None:
        return NONE
    if resolved_on is not None and resolved_on <= today:
        return BREACHED if breached_on is not None or resolved_on > deadline else KEPT
    if breached_on is not None or today > deadline:
        return OPEN_LATE
    return OPEN


def clock_state_sql(deadline: str, resolved: str, breached: str) -> str:
    """`clock_state` in SQL over column expressions, with the named parameter $today."""
    return (f"CASE WHEN {deadline} IS NULL THEN '{NONE}' "
            f"WHEN {resolved} IS NOT NULL AND {resolved} <= $today THEN "
            f"CASE WHEN {breached} IS NOT NULL OR {resolved} > {deadline} THEN '{BREACHED}' ELSE '{KEPT}' END "
            f"WHEN {breached} IS NOT NULL OR $today > {deadline} THEN '{OPEN_LATE}' ELSE '{OPEN}' END")


def mark_breaches(cur: "duckdb.DuckDBPyConnection", today: dt.date) -> int:
    """Store, for each clock found breached as of `today` (open past its deadline, or resolved after
    it), the day it broke (the day after the deadline); run in every complaint write and when the
    page opens. Returns how many were marked."""
    marked = 0
    for deadline, breached in (("promised_by", "promise_breached_on"), ("policy_deadline", "policy_breached_on")):
        rows = cur.execute(f"""
            UPDATE complaints SET {breached} = {deadline} + 1
            WHERE {breached} IS NULL AND {deadline} IS NOT NULL AND accepted
              AND ((resolved_on IS NULL OR resolved_on > ?) AND ? > {deadline}
                   OR resolved_on IS NOT NULL AND resolved_on <= ? AND resolved_on > {deadline})
            RETURNING 1""", [today, today, today]).fetchall()
        marked += len(rows)
    return marked
