"""The archive's tables and the migrations that build them.

Migrations are an ordered list applied on open, each in its own transaction, and recorded in
`meta.schema_version`; a file made by an older version of the app upgrades in place. Never edit
a released migration: append a new one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from crm.schema.columns import CUSTOMER_COLUMNS, CUSTOMER_EDITABLE
from crm.schema.migrations import (
    v1_core,
    v2_mappings_settings,
    v3_search_text,
    v4_segment_runs,
    v5_activity_summary,
    v6_segment_members_uncompressed,
    v7_follow_up_queue,
    v8_complaint_handling,
    v9_accounts,
    v10_field_writes,
    v11_admin,
    v12_real_sheets,
    v13_sso,
    v14_customer_merges,
)

if TYPE_CHECKING:
    import duckdb

    from crm.db import Archive

MIGRATIONS: list[Callable[["duckdb.DuckDBPyConnection"], None]] = [
    v1_core.apply, v2_mappings_settings.apply, v3_search_text.apply, v4_segment_runs.apply, v5_activity_summary.apply,
    v6_segment_members_uncompressed.apply, v7_follow_up_queue.apply,
    v8_complaint_handling.apply,
    v9_accounts.apply,
    v10_field_writes.apply,
    v11_admin.apply,
    v12_real_sheets.apply,
    v13_sso.apply,
    v14_customer_merges.apply,
]
CURRENT_VERSION = len(MIGRATIONS)

def schema_version(cur: "duckdb.DuckDBPyConnection") -> int:
    exists = cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    row = cur.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    row = row[0] if row else None
    return int(row[0]) if row else 0


def migrate(archive: "Archive") -> int:
    """Bring the file up to CURRENT_VERSION; returns the version it was at before."""
    cur = archive.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    before = schema_version(cur)
    cur.close()
    if before > CURRENT_VERSION:
        raise RuntimeError(
            f"数据库版本 {before} 比本程序支持的版本 {CURRENT_VERSION} 新，请升级程序后再打开。"
        )
    for version in range(before + 1, CURRENT_VERSION + 1):
        with archive.transaction() as tx:
            MIGRATIONS[version - 1](tx)
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", [str(version)]
            )
    return before


__all__ = ["CURRENT_VERSION", "CUSTOMER_COLUMNS", "CUSTOMER_EDITABLE", "MIGRATIONS", "migrate", "schema_version"]
