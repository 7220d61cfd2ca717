"""Import batches: recording what a batch changed, listing batches, and undoing one completely.

Rows a batch created carry its batch_id; fields it changed on existing records are written to
`batch_changes` with their old value. Undo deletes the one and restores the other, so a bad
import can be taken back even when it updated customers (which most CRMs cannot do).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import duckdb
import pyarrow as pa

from crm import clock, db, tables
from crm.auth import audit
from crm.customers import activity
from crm.db import Archive

# Tables whose rows a batch may update in place (key, column types), and the tables holding rows
# batches create, children before parents (undo deletes in this order): from the table registry.
UPDATABLE: dict[str, tuple[str, dict[str, str]]] = tables.updatable()
CREATED_TABLES = tables.created_by_batches()


def to_text(value: Any) -> str | None:
    """How a value is kept in batch_changes (and cast back on undo)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.2f}" if not value.is_integer() else str(int(value)) if abs(value) < 1e15 else repr(value)
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def same_value(old: Any, new: Any) -> bool:
    """Equality across the types DuckDB returns and the pipeline produces (Decimal vs float, etc.)."""
    if old is None or new is None:
        return old is None and new is None
    if isinstance(old, (Decimal, float, int)) and isinstance(new, (Decimal, float, int)) \
            and not isinstance(old, bool) and not isinstance(new, bool):
        return abs(float(old) - float(new)) < 0.005
    if isinstance(old, dt.datetime) and isinstance(new, dt.date) and not isinstance(new, dt.datetime):
        return old.date() == new
    return old == new


@dataclass
class Change:
    key: str
    field: str
    old: Any
    new: Any


_ARROW = {"DATE": pa.date32(), "BOOLEAN": pa.bool_(), "TINYINT": pa.int8(), "TIMESTAMP": pa.timestamp("us"),
          "DECIMAL(18,2)": pa.float64(), "VARCHAR": pa.string(), "BIGINT": pa.int64()}


def apply_changes(cur: duckdb.DuckDBPyConnection, batch_id: int | None, table: str, changes: list[Change]) -> None:
    """Write field changes to existing rows, one set-based UPDATE per field, and remember old values."""
    if not changes:
        return
    key_col, types = UPDATABLE[table]
    by_field: dict[str, list[Change]] = {}
    for ch in changes:
        if ch.field not in types:
            raise ValueError(f"{table}.{ch.field} cannot be updated")
        by_field.setdefault(ch.field, []).append(ch)
    key_type = pa.int64() if key_col == "id" else pa.string()
    for name, items in by_field.items():
        sql_type = types[name]
        staged = pa.table({
            "k": pa.array([int(c.key) if key_col == "id" else c.key for c in items], key_type),
            "v": pa.array([c.new for c in items], _ARROW.get(sql_type, pa.string())),
        })
        cur.register("chg", staged)
        try:
            extra = ", updated_at = ?" if table == "customers" else ""
            cur.execute(f"UPDATE {table} SET {name} = CAST(chg.v AS {sql_type}){extra} FROM chg WHERE {table}.{key_col} = chg.k",
                        [clock.now()] if extra else [])
        finally:
            cur.unregister("chg")
    if batch_id is not None:
        record = pa.table({
            "batch_id": pa.array([batch_id] * len(changes), pa.int64()),
            "table_name": pa.array([table] * len(changes), pa.string()),
            "row_key": pa.array([str(c.key) for c in changes], pa.string()),
            "field": pa.array([c.field for c in changes], pa.string()),
            "old_value": pa.array([to_text(c.old) for c in changes], pa.string()),
            "new_value": pa.array([to_text(c.new) for c in changes], pa.string()),
        })
        cur.register("chg_rec", record)
        try:
            cur.execute("INSERT INTO batch_changes SELECT * FROM chg_rec")
            # provenance (crm.provenance): these fields were last set by this batch's sheet
            cur.execute("INSERT INTO field_writes (table_name, row_key, field, source, batch_id, via, user_name, written_at) "
                        "SELECT c.table_name, c.row_key, c.field, b.source, b.batch_id, 'import', b.user_name, b.started_at "
                        "FROM chg_rec c JOIN import_batches b ON b.batch_id = c.batch_id")
        finally:
            cur.unregister("chg_rec")


class UndoError(Exception):
    """The batch cannot be undone; the message says why, in Chinese."""


@dataclass
class UndoResult:
    batch_id: int
    deleted: dict[str, int]
    restored: int
    kept: list[str]  # fields not restored because a later change overwrote them
    kept_customers: dict[str, str] = field(default_factory=dict)  # created by the batch, kept: id → why


def undo_batch(archive: Archive, batch_id: int, user: str) -> UndoResult:
    """Revert a batch in one transaction: delete what it created, restore what it updated.

    A field changed again after the batch keeps its newer value (and is listed in `kept`); a value
    the batch overwrote that came from a batch undone since goes back to what was there before
    both. A customer the batch created is kept, and says why, when later work touched it (an edit,
    another batch's change, a contact logged in the app); records a later batch made for it block
    the undo with a clear message (undo that batch first).
    """
    with archive.transaction() as cur:
        db.mark_changed(cur, db.RECORDS)
        row = cur.execute("SELECT status, file, sheet FROM import_batches WHERE batch_id = ?", [batch_id]).fetchall()
        row = row[0] if row else None
        if row is None:
            raise UndoError(f"批次 {batch_id} 不存在")
        if row[0] == "undone":
            raise UndoError(f"批次 {batch_id} 已经撤销过了")
        dependants = cur.execute(
            """SELECT DISTINCT t.batch_id FROM (
                   SELECT customer_id, batch_id FROM transactions UNION ALL
                   SELECT customer_id, batch_id FROM interactions UNION ALL
                   SELECT customer_id, batch_id FROM follow_ups UNION ALL
                   SELECT customer_id, batch_id FROM complaints UNION ALL
                   SELECT customer_id, batch_id FROM surveys) t
               JOIN customers c ON c.customer_id = t.customer_id
               WHERE c.batch_id = ? AND t.batch_id IS DISTINCT FROM ? AND t.batch_id IS NOT NULL""",
            [batch_id, batch_id]).fetchall()
        if dependants:
            names = "、".join(f"批次 {b}" for (b,) in dependants[:5])
            raise UndoError(f"批次 {batch_id} 新建的客户已被后续数据引用（{names}），请先撤销那些批次")
        kept_customers = _touched_since(cur, batch_id)
        if kept_customers:  # no longer the batch's: the deletes below leave them and their tags alone
            cur.execute("UPDATE customers SET batch_id = NULL WHERE customer_id IN (SELECT unnest(?))", [list(kept_customers)])
            cur.execute("UPDATE customer_tags SET batch_id = NULL WHERE batch_id = ? AND customer_id IN (SELECT unnest(?))",
                        [batch_id, list(kept_customers)])
        restored, kept = 0, []
        groups = cur.execute("SELECT DISTINCT table_name, field FROM batch_changes WHERE batch_id = ? ORDER BY 1, 2",
                             [batch_id]).fetchall()
        for table, name in groups:  # one comparison and one UPDATE per field, however many rows
            key_col, types = UPDATABLE[table]
            sql_type = types[name]
            key = "CAST(c.row_key AS BIGINT)" if key_col == "id" else "c.row_key"
            # per row: the value before the batch's first change, and what its last change wrote
            source = ("(SELECT row_key, arg_min(old_value, rowid) AS old_value, arg_max(new_value, rowid) AS new_value "
                      "FROM batch_changes WHERE batch_id = ? AND table_name = ? AND field = ? GROUP BY row_key) c")
            still = f"CAST({table}.{name} AS VARCHAR) IS NOT DISTINCT FROM CAST(CAST(c.new_value AS {sql_type}) AS VARCHAR)"
            args = [batch_id, table, name]
            kept += [f"{table}:{k}.{name}" for (k,) in cur.execute(
                f"SELECT c.row_key FROM {source} JOIN {table} ON {table}.{key_col} = {key} WHERE NOT ({still}) "
                "ORDER BY c.row_key", args).fetchall()]
            before_undone = _before_undone_batches(cur, batch_id, table, name)
            restored += int(cur.execute(
                f"UPDATE {table} SET {name} = CAST(c.old_value AS {sql_type}) FROM {source} "
                f"WHERE {table}.{key_col} = {key} AND {still}", args).fetchall()[0][0])
            restored_keys = {k for (k,) in cur.execute("SELECT DISTINCT row_key FROM batch_changes WHERE batch_id = ? "
                                                        "AND table_name = ? AND field = ?", args).fetchall()}
            restored_keys -= {k[len(table) + 1:-len(name) - 1] for k in kept
                              if k.startswith(f"{table}:") and k.endswith(f".{name}")}
            fixes = [[v, int(k) if key_col == "id" else k] for k, v in before_undone.items() if k in restored_keys]
            if fixes:
                cur.executemany(f"UPDATE {table} SET {name} = CAST(? AS {sql_type}) WHERE {key_col} = ?", fixes)
        changes = cur.execute("SELECT DISTINCT row_key FROM batch_changes WHERE batch_id = ? AND table_name = 'customers'",
                              [batch_id]).fetchall()
        # Customers whose search text must follow: fields restored, tags removed.
        touched = {key for (key,) in changes}
        touched |= {r[0] for r in cur.execute(
            "SELECT DISTINCT customer_id FROM customer_tags WHERE batch_id = ?", [batch_id]).fetchall()}
        was_current = activity.is_current(cur)
        active = [r[0] for r in cur.execute(
            "SELECT customer_id FROM transactions WHERE batch_id = $b UNION "
            "SELECT customer_id FROM interactions WHERE batch_id = $b", {"b": batch_id}).fetchall()]
        deleted: dict[str, int] = {}
        cur.execute("DELETE FROM customer_tags WHERE customer_id IN (SELECT customer_id FROM customers WHERE batch_id = ?)",
                    [batch_id])
        cur.execute("DELETE FROM field_writes WHERE batch_id = ?", [batch_id])
        for table in CREATED_TABLES:
            n = cur.execute(f"DELETE FROM {table} WHERE batch_id = ?", [batch_id]).fetchall()[0][0]
            if n:
                deleted[table] = int(n)
        if touched:
            from crm.customers.search import refresh_search_text

            refresh_search_text(cur, sorted(touched))
        cur.execute("UPDATE import_batches SET status = 'undone', undone_at = ?, undone_by = ? "
                    "WHERE batch_id = ?", [clock.now(), user, batch_id])
        activity.recompute(cur, active)  # their records are gone: their summaries are computed again
        if was_current:
            activity.mark_current(cur)
        audit.record(cur, user, "undo", "batch", batch_id, {"deleted": deleted, "restored": restored, "kept": kept,
                                                            "kept_customers": kept_customers})
    return UndoResult(batch_id, deleted, restored, kept, kept_customers)


def _touched_since(cur: duckdb.DuckDBPyConnection, batch_id: int) -> dict[str, str]:
    """Customers the batch created that later work touched (id → why, in words): an edit or action
    in the app, another active batch's change, a contact logged in the app. Undo keeps them."""
    rows = cur.execute(
        """SELECT x.customer_id, min(x.why) FROM (
               SELECT w.row_key AS customer_id, '导入后在系统中被修改过（' || w.user_name || '）' AS why
               FROM field_writes w WHERE w.table_name = 'customers' AND w.batch_id IS NULL
               UNION ALL
               SELECT bc.row_key, '导入后被批次 ' || bc.batch_id || ' 修改过' FROM batch_changes bc
               JOIN import_batches b ON b.batch_id = bc.batch_id
               WHERE bc.table_name = 'customers' AND bc.batch_id <> $b AND b.status = 'active'
               UNION ALL
               SELECT customer_id, '导入后在系统中记录过联系' FROM interactions WHERE batch_id IS NULL
               UNION ALL
               SELECT customer_id, '导入后在系统中安排过跟进' FROM follow_ups WHERE batch_id IS NULL
               UNION ALL
               SELECT customer_id, '导入后在系统中登记过投诉' FROM complaints WHERE batch_id IS NULL) x
           JOIN customers c ON c.customer_id = x.customer_id
           WHERE c.batch_id = $b GROUP BY 1 ORDER BY 1""", {"b": batch_id}).fetchall()
    return {cid: why for cid, why in rows}


def _before_undone_batches(cur: duckdb.DuckDBPyConnection, batch_id: int, table: str, name: str) -> dict[str, str | None]:
    """Rows whose value before this batch was written by batches undone since: row key → the value
    before those (walking back while the previous change is an undone batch's and wrote exactly
    the value this batch found). Undoing an older batch first keeps its superseded value; undoing
    the newer one then must not bring that value back."""
    out: dict[str, str | None] = {}
    current_key, value, walking = None, None, False
    for key, start, status, old, new in cur.execute(
            """SELECT c.row_key, c.old_value, b.status, p.old_value, p.new_value
               FROM (SELECT row_key, arg_min(old_value, rowid) AS old_value FROM batch_changes
                     WHERE batch_id = ? AND table_name = ? AND field = ? GROUP BY row_key) c
               JOIN batch_changes p ON p.table_name = ? AND p.field = ? AND p.row_key = c.row_key AND p.batch_id < ?
               JOIN import_batches b ON b.batch_id = p.batch_id
               ORDER BY c.row_key, p.batch_id DESC, p.rowid DESC""",
            [batch_id, table, name, table, name, batch_id]).fetchall():
        if key != current_key:
            current_key, value, walking = key, start, True
        if not walking:
            continue
        if status == "undone" and new == value:
            value = old
            out[key] = value
        else:
            walking = False
    return out


def list_batches(archive: Archive, limit: int = 200) -> list[dict[str, Any]]:
    cur = archive.cursor()
    try:
        cols = ["batch_id", "file", "sheet", "template", "user_name", "started_at", "rows_read", "created",
                "updated", "rejected", "status"]
        rows = cur.execute(f"SELECT {', '.join(cols)} FROM import_batches ORDER BY batch_id DESC LIMIT ?", [limit]).fetchall()
        return [dict(zip(cols, r)) for r in rows]
    finally:
        cur.close()
