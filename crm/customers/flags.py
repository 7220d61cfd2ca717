"""The service flags lists show beside a customer, each defined once as SQL over the archive.

- 重点关注 (PRODUCT.md, service rules): an accepted complaint not yet resolved, or resolved within
  the complaint window with no logged contact since (not yet 回访). The 客户360 profile states the
  same rule for one customer with its reason (crm.customers.profile.attention_segment); a test
  holds the two equal.
- 高价值: the value label of the newest classification run on or before the day
  (crm.segments): lists read the run the 客户分类 page shows rather than classify again.
- 紧急: a follow-up marked 紧急 (the 24-hour rule, or a user).
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from crm.db import fetch_one
from crm.segments.dates import months_before
from crm.vocabulary import URGENT

if TYPE_CHECKING:
    import duckdb

HIGH_VALUE_CODE = 0  # crm.segments.labels.VALUES[0] == "高价值"


def focus_customers_sql(today: dt.date, complaint_months: int,
                        among: list[str] | None = None) -> tuple[str, list[object]]:
    """(SELECT of customer_id, params): the customers flagged 重点关注 as of `today` (only those
    `among` the given ids, when given: a page of a list asks for its own rows only)."""
    since = months_before(today, complaint_months)
    sql = f"""
        SELECT DISTINCT k.customer_id FROM complaints k JOIN customers fc ON fc.customer_id = k.customer_id
        WHERE k.accepted AND k.date <= ? {'AND k.customer_id IN (SELECT unnest(?))' if among is not None else ''}
          AND (k.resolved_on IS NULL OR k.resolved_on > ?
               OR (k.resolved_on > ? AND (fc.last_logged_interaction IS NULL OR fc.last_logged_interaction < k.resolved_on)))"""
    return sql, [today, *([among] if among is not None else []), today, since]


def newest_run_id(cur: "duckdb.DuckDBPyConnection", today: dt.date) -> int | None:
    """The classification run lists read for 高价值: the newest computed as of a day on or before today."""
    row = fetch_one(cur, "SELECT run_id FROM segment_runs WHERE as_of <= ? ORDER BY as_of DESC, computed_at DESC LIMIT 1",
                    [today])
    return int(row[0]) if row else None


def high_value_sql(run_id: int | None) -> tuple[str, list[object]]:
    """(SELECT of customer_id, params): the customers labelled 高价值 in the run (none without a run)."""
    if run_id is None:
        return "SELECT NULL::VARCHAR AS customer_id WHERE FALSE", []
    return "SELECT customer_id FROM segment_members WHERE run_id = ? AND value = ?", [run_id, HIGH_VALUE_CODE]


def urgent_sql(alias: str = "f") -> str:
    """A follow-up marked 紧急."""
    return f"coalesce({alias}.priority = '{URGENT}', FALSE)"
