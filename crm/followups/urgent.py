"""The 24-hour rule (PRODUCT.md, service rules): a 高价值 customer with an urgent event — a
complaint, an interaction marked 紧急 — gets a follow-up due within `urgent_hours` (setting,
default 24) of the event, unless one is already open for that customer and due by then.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from crm import clock
from crm.auth import audit
from crm.customers import flags
from crm.db import fetch_one
from crm.settings import follow_up_settings
from crm.vocabulary import FOLLOW_UP_OPEN, URGENT

if TYPE_CHECKING:
    import duckdb

    from crm.auth.personal import Actor


def urgent_due(event_at: dt.datetime, hours: int) -> dt.date:
    """The day a follow-up must be due by: the day `hours` after the event (a day-precision task
    is due on that day at the latest)."""
    return (event_at + dt.timedelta(hours=hours)).date()


def is_high_value(cur: "duckdb.DuckDBPyConnection", customer_id: str, today: dt.date) -> bool:
    sql, params = flags.high_value_sql(flags.newest_run_id(cur, today))
    return fetch_one(cur, f"SELECT 1 FROM ({sql}) hv WHERE hv.customer_id = ?", [*params, customer_id]) is not None


def ensure_urgent_follow_up(cur: "duckdb.DuckDBPyConnection", actor: "Actor | str", customer_id: str, reason: str,
                            event_at: dt.datetime | None = None) -> int | None:
    """In the caller's transaction: the id of the follow-up the rule created, or None when the
    customer is not 高价值 or an open follow-up already falls due in time."""
    event_at = event_at or clock.now()
    today = event_at.date()
    if not is_high_value(cur, customer_id, today):
        return None
    hours = follow_up_settings(cur).urgent_hours
    due = urgent_due(event_at, hours)
    if fetch_one(cur, "SELECT 1 FROM follow_ups WHERE customer_id = ? AND status = ? AND due <= ?",
                 [customer_id, FOLLOW_UP_OPEN, due]) is not None:
        return None
    owner = fetch_one(cur, "SELECT owner FROM customers WHERE customer_id = ?", [customer_id])
    new_id = int(fetch_one(cur, """
        INSERT INTO follow_ups (customer_id, due, content, owner, status, origin, priority, created_at)
        VALUES (?, ?, ?, ?, ?, 'urgent', ?, ?) RETURNING id""",
        [customer_id, due, f"{hours} 小时内跟进：{reason}", owner[0] if owner else None, FOLLOW_UP_OPEN, URGENT,
         clock.now()])[0])
    audit.record(cur, actor, "urgent_follow_up", "follow_ups", new_id,
                 {"customer_id": customer_id, "due": due, "reason": reason, "hours": hours})
    return new_id
