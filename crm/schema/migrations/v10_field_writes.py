"""Schema version 10: who last set each field, so that a re-import never undoes work done in the app.

`field_writes` is append-only: one row per field a writer set (an import batch, a profile edit, a
follow-up or complaint action, the pool), with the writer's source (an import's normalised file and
sheet; NULL for the app). The last row for a field whose batch is still active is "who set it
last" — the conflict rule of crm.imports.conflicts reads it. Import batches keep their source and
the problems workbook they produced, so it can be downloaded again from the history.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    cur.execute("""
        CREATE TABLE field_writes (
            id BIGINT DEFAULT nextval('row_id_seq'),
            table_name VARCHAR NOT NULL,
            row_key VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            source VARCHAR,
            batch_id BIGINT,
            via VARCHAR NOT NULL,
            user_name VARCHAR NOT NULL,
            written_at TIMESTAMP NOT NULL
        )""")
    cur.execute("ALTER TABLE import_batches ADD COLUMN source VARCHAR")
    cur.execute("CREATE TABLE batch_problems (batch_id BIGINT PRIMARY KEY, file_name VARCHAR NOT NULL, workbook BLOB NOT NULL)")
