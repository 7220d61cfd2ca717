"""Schema version 5."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    """Each customer's activity summary (crm.customers.activity) and a small key/value table for the
    archive's own bookkeeping (the summary's stamp). The columns start empty and unstamped:
    crm.customers.activity.ensure_current fills them on first use, so this step stays quick on a big file.
    """
    for name, sql_type in (("first_purchase", "DATE"), ("last_purchase", "DATE"), ("last_transaction", "DATE"),
                           ("last_logged_interaction", "DATE")):
        cur.execute(f"ALTER TABLE customers ADD COLUMN {name} {sql_type}")
    cur.execute("CREATE TABLE archive_state (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
