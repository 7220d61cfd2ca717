"""Schema version 2."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    """Remembered column mappings (by header signature) and rule settings."""
    cur.execute(
        """
        CREATE TABLE header_mappings (
            signature VARCHAR PRIMARY KEY,
            template VARCHAR NOT NULL,
            mapping VARCHAR NOT NULL,
            created_by VARCHAR,
            created_at TIMESTAMP DEFAULT current_timestamp
        )"""
    )
    cur.execute("CREATE TABLE settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
