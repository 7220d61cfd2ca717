"""Schema version 11: the audit log as a hash chain, and the 销毁记录 of destroyed customer archives.

Every audit row gets `prev_hash` and `row_hash` (crm.auth.audit.row_hash) and, once its detail has
been destroyed with a customer's archive, `detail_sha` (the digest the chain covers). The rows
already in the log are chained here, in id order, so `python -m crm audit verify` holds from the
first row on. `destructions` keeps who destroyed which customer's archive, when, why, the row
counts removed per table (never the data) and the backups that still held it then.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    from crm.auth.audit import chain_rows

    for name in ("prev_hash", "row_hash", "detail_sha"):
        cur.execute(f"ALTER TABLE audit_log ADD COLUMN {name} VARCHAR")
    cur.execute("UPDATE audit_log SET id = nextval('row_id_seq') WHERE id IS NULL")  # a hand-written row without one
    rows = cur.execute("SELECT id, occurred_at, user_name, action, entity, entity_id, detail FROM audit_log ORDER BY id").fetchall()
    if rows:
        links = pd.DataFrame(chain_rows(rows), columns=["id", "prev_hash", "row_hash"])
        cur.register("audit_links", links)
        cur.execute("UPDATE audit_log SET prev_hash = l.prev_hash, row_hash = l.row_hash FROM audit_links l "
                    "WHERE audit_log.id = l.id")
        cur.unregister("audit_links")
    cur.execute("""
        CREATE TABLE destructions (
            id BIGINT PRIMARY KEY DEFAULT nextval('row_id_seq'),
            customer_id VARCHAR NOT NULL,
            destroyed_at TIMESTAMP NOT NULL,
            destroyed_by VARCHAR NOT NULL,
            reason VARCHAR NOT NULL,
            removed VARCHAR NOT NULL,
            backups VARCHAR NOT NULL
        )""")
