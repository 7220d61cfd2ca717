"""Schema version 7: what the follow-up queue keeps.

A follow-up keeps who completed it, the outcome and the interaction that recorded it (completed
follow-ups are never deleted, so completion can be reported), its priority (紧急 from the 24-hour
rule or a user) and a version number that every change raises (two sessions acting on one row:
the second is told, not silently overwritten). A customer released to the public pool (客户公海)
keeps when, why and from whom.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    for name, sql_type in (("completed_by", "VARCHAR"), ("outcome", "VARCHAR"), ("interaction_id", "BIGINT"),
                           ("priority", "VARCHAR"), ("version", "INTEGER DEFAULT 0")):
        cur.execute(f"ALTER TABLE follow_ups ADD COLUMN {name} {sql_type}")
    cur.execute("UPDATE follow_ups SET version = 0 WHERE version IS NULL")
    for name, sql_type in (("pool_since", "TIMESTAMP"), ("pool_reason", "VARCHAR"), ("pool_previous_owner", "VARCHAR")):
        cur.execute(f"ALTER TABLE customers ADD COLUMN {name} {sql_type}")
