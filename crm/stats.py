"""Archive-wide counts: what the CLI's `stats` prints and what the home page shows.

Every figure is one SQL aggregate run inside DuckDB; nothing here loads a table into pandas
(the recent-batches list is a LIMITed query, so its frame is a handful of rows at any size).
No Streamlit import: the same functions serve the CLI, the dashboard and the tests.
"""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from crm.vocabulary import BATCH_ACTIVE, FOLLOW_UP_OPEN

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

# import_batches.status of a batch that has not been undone.

ARCHIVE_STAT_KEYS = (
    "customers",
    "transactions",
    "interactions",
    "follow_ups_open",
    "customers_with_open_follow_up",
    "complaints",
    "surveys",
    "batches",
)

VITAL_SIGN_KEYS = (
    "customers",
    "follow_ups_open",
    "follow_ups_overdue",
    "follow_ups_due_today",
    "complaints_open",
    "complaints_late",
)

RECENT_BATCH_COLUMNS = (
    "batch_id",
    "file",
    "sheet",
    "template",
    "user_name",
    "started_at",
    "rows_read",
    "created",
    "updated",
    "rejected",
    "status",
)


def _as_dict(keys: tuple[str, ...], row: tuple | None) -> dict[str, int]:
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}


def archive_stats(cur: "duckdb.DuckDBPyConnection") -> dict[str, int]:
    """Row counts of the whole archive, in one query."""
    row = cur.execute(
        """
        SELECT
            (SELECT count(*) FROM customers),
            (SELECT count(*) FROM transactions),
            (SELECT count(*) FROM interactions),
            (SELECT count(*) FROM follow_ups WHERE status = $open),
            (SELECT count(DISTINCT customer_id) FROM follow_ups WHERE status = $open),
            (SELECT count(*) FROM complaints),
            (SELECT count(*) FROM surveys),
            (SELECT count(*) FROM import_batches WHERE status = $active)
        """,
        {"open": FOLLOW_UP_OPEN, "active": BATCH_ACTIVE},
    ).fetchone()
    return _as_dict(ARCHIVE_STAT_KEYS, row)


def vital_signs(cur: "duckdb.DuckDBPyConnection", today: date) -> dict[str, int]:
    """The home page's tiles as of `today`.

    - follow_ups_overdue: open (待跟进) with due before today; follow_ups_due_today: open, due today.
    - complaints_open: accepted and not yet resolved; complaints_late: open and past promised_by.
    """
    row = cur.execute(
        """
        WITH f AS (
            SELECT
                count(*)                             AS open,
                count(*) FILTER (WHERE due < $today) AS overdue,
                count(*) FILTER (WHERE due = $today) AS due_today
            FROM follow_ups
            WHERE status = $open
        ),
        c AS (
            SELECT
                count(*)                                     AS open,
                count(*) FILTER (WHERE promised_by < $today) AS late
            FROM complaints
            WHERE accepted AND resolved_on IS NULL
        )
        SELECT (SELECT count(*) FROM customers), f.open, f.overdue, f.due_today, c.open, c.late
        FROM f, c
        """,
        {"today": today, "open": FOLLOW_UP_OPEN},
    ).fetchone()
    return _as_dict(VITAL_SIGN_KEYS, row)


def recent_batches(cur: "duckdb.DuckDBPyConnection", limit: int = 5) -> "pd.DataFrame":
    """The last `limit` import batches (undone ones included, see `status`), newest first."""
    cols = ", ".join(RECENT_BATCH_COLUMNS)
    return cur.execute(
        f"""
        SELECT {cols}
        FROM import_batches
        ORDER BY started_at DESC, batch_id DESC
        LIMIT $limit
        """,
        {"limit": max(int(limit), 0)},
    ).df()
