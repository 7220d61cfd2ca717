"""Schema version 14: merging two archives of one customer, undoably.

A merge keeps one customer and folds the other in: the other's records move over, blank fields are
filled from it, the other's row is removed. `customer_merges` keeps what undo needs — the removed
row as it was (JSON), the fields filled, the ids of the records moved per table — and who merged,
when and why; an undone merge keeps its row with the time and user of the undo.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    cur.execute("CREATE SEQUENCE merge_id_seq START 1")
    cur.execute("""
        CREATE TABLE customer_merges (
            merge_id BIGINT PRIMARY KEY DEFAULT nextval('merge_id_seq'),
            kept_id VARCHAR NOT NULL,
            merged_id VARCHAR NOT NULL,
            merged_row VARCHAR NOT NULL,
            filled VARCHAR NOT NULL,
            moved VARCHAR NOT NULL,
            tags VARCHAR NOT NULL,
            reason VARCHAR,
            merged_by VARCHAR NOT NULL,
            merged_at TIMESTAMP NOT NULL,
            undone_by VARCHAR,
            undone_at TIMESTAMP
        )""")
