"""Destroying a customer's archive (客户档案销毁), and the 销毁记录 that remains.

One step, one transaction: every row that belongs to the customer is deleted and the details of the
audit entries about them are destroyed, or nothing is. A soft delete first (hidden, purged later)
was the alternative; it would need every reader of the archive — search, the queue, segments,
reports, exports — to leave hidden customers out, and one that forgot would show them. The page
shows what will be removed before the admin confirms, which is what a soft delete's grace period
would give.

What is removed comes from the table registry (crm.tables: the tables whose rows are a customer's)
and from the archive's own columns, so a table added later is not forgotten: any other table with a
`customer_id` column (the cached segment members), tables keyed by a removed row's key (a
complaint's events), and the per-field bookkeeping keyed by table and row (`batch_changes`,
`field_writes`). Audit entries stay — who did what, when, to which customer id is the trail — but
their details (old and new values) are replaced by crm.auth.audit.REDACTED, keeping the hash chain
whole. The 销毁记录 keeps who, when, why, the row counts per table (never the data) and the
backups that still held the customer then: a backup is a copy this cannot reach into, and a
restore destroys the customer again (crm.admin.backup). Deleted rows are gone from every query at
once; DuckDB reuses their space on its next checkpoint (tried right after, if no other write is open).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import duckdb

from crm import clock, db, tables
from crm.auth import audit, policy
from crm.customers import activity
from crm.errors import UserError

if TYPE_CHECKING:
    from crm.auth.personal import Actor
    from crm.db import Archive

MAX_REASON = 500
AUDIT_REDACTED = "audit_log"  # the key under which `removed` counts the audit details destroyed
_COLUMNS = "id, customer_id, destroyed_at, destroyed_by, reason, removed, backups"


@dataclass(frozen=True)
class DestructionPlan:
    """What destroying a customer's archive removes, before it is done (the page's preview)."""
    customer_id: str
    name: str | None
    removed: dict[str, int]  # table → rows; AUDIT_REDACTED → audit details destroyed
    backups: list[str]


@dataclass(frozen=True)
class Destruction:
    """One 销毁记录."""
    id: int
    customer_id: str
    destroyed_at: dt.datetime
    destroyed_by: str
    reason: str
    removed: dict[str, int]
    backups: list[str]


def table_label(table: str) -> str:
    """The Chinese name of a table in `removed` (the registry's, else the table's own)."""
    if table == AUDIT_REDACTED:
        return "操作日志（详情已抹去）"
    known = tables.TABLES.get(table)
    return {"segment_members": "客户分类结果", "complaint_events": "投诉处理过程", "batch_changes": "导入修改记录",
            "field_writes": "字段写入记录"}.get(table, known.label if known else table)


# ------------------------------------------------------------------ what belongs to a customer
def _table_columns(cur: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    rows = cur.execute("SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'main' "
                       "AND table_catalog = current_database()").fetchall()
    out: dict[str, set[str]] = {}
    for table, column in rows:
        out.setdefault(table, set()).add(column)
    return out


def _targets(cur: duckdb.DuckDBPyConnection, customer_id: str) -> list[tuple[str, str, list[Any]]]:
    """(table, WHERE clause, parameters) of every row to delete, the customers row last; the keys of
    the customer's rows are read first, so the order of deletion does not matter."""
    columns = _table_columns(cur)
    children = [t for t in tables.customer_children() if t in columns]
    keys: dict[str, list[str]] = {"customers": [customer_id]}
    for table in children:
        key = tables.TABLES[table].key
        if key != "customer_id":
            keys[table] = [str(k) for (k,) in cur.execute(
                f'SELECT DISTINCT CAST("{key}" AS VARCHAR) FROM "{table}" WHERE customer_id = ?', [customer_id]).fetchall()]
    out: list[tuple[str, str, list[Any]]] = [(t, "customer_id = ?", [customer_id]) for t in children]
    registered = {*children, "customers", "destructions"}
    for table, cols in sorted(columns.items()):
        if table in registered:
            continue
        if "customer_id" in cols:  # a table the registry does not list (a cache): by the customer's id
            out.append((table, "customer_id = ?", [customer_id]))
            continue
        for child in children:  # keyed by a removed row's own key (a complaint's events by complaint_id)
            key = tables.TABLES[child].key
            if key not in ("id", "customer_id") and key in cols:
                out.append((table, f'CAST("{key}" AS VARCHAR) IN (SELECT unnest(?))', [keys[child]]))
        if {"table_name", "row_key"} <= cols:  # per-field bookkeeping of rows by table and key
            out += [(table, "table_name = ? AND row_key IN (SELECT unnest(?))", [t, ks]) for t, ks in keys.items() if ks]
    out.append(("customers", "customer_id = ?", [customer_id]))
    return out


def _audit_rows(cur: duckdb.DuckDBPyConnection, customer_id: str) -> list[tuple[int, str]]:
    """(id, detail) of the audit entries about the customer or their rows whose detail is not yet destroyed."""
    from crm.admin.audit_log import about_customer

    about, params = about_customer(customer_id)
    sql = ("SELECT id, detail FROM audit_log WHERE detail IS NOT NULL AND detail_sha IS NULL "
           f"AND action <> 'customer_delete' AND {about} ORDER BY id")
    return [(int(i), d) for i, d in cur.execute(sql, params).fetchall()]


def _counts(cur: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for table, where, params in _targets(cur, customer_id):
        n = int(db.scalar(cur, f'SELECT count(*) FROM "{table}" WHERE {where}', params) or 0)
        if n:
            counts[table] = counts.get(table, 0) + n
    redacted = len(_audit_rows(cur, customer_id))
    if redacted:
        counts[AUDIT_REDACTED] = redacted
    return counts


def purge(cur: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, int]:
    """Inside the caller's transaction: delete every row of the customer and destroy the details of
    the audit entries about them; returns the counts per table. Nothing is checked or audited here."""
    redact = _audit_rows(cur, customer_id)  # before the rows they name are gone
    counts: dict[str, int] = {}
    for table, where, params in _targets(cur, customer_id):
        n = int(cur.execute(f'DELETE FROM "{table}" WHERE {where}', params).fetchall()[0][0])
        if n:
            counts[table] = counts.get(table, 0) + n
    if redact:
        cur.executemany("UPDATE audit_log SET detail = ?, detail_sha = ? WHERE id = ?",
                        [[audit.REDACTED, audit.detail_digest(detail), row_id] for row_id, detail in redact])
        counts[AUDIT_REDACTED] = len(redact)
    return counts


# ------------------------------------------------------------------ the page's two steps
def _clean(customer_id: str | None, reason: str | None, need_reason: bool) -> tuple[str, str]:
    cid, why = (customer_id or "").strip(), (reason or "").strip()
    errors = {}
    if not cid:
        errors["customer_id"] = "请填写要销毁档案的客户编号"
    if need_reason and not why:
        errors["reason"] = "请填写销毁原因（例如客户要求删除个人信息、保存期限已到）"
    elif len(why) > MAX_REASON:
        errors["reason"] = f"销毁原因不能超过 {MAX_REASON} 个字符"
    if errors:
        field = next(iter(errors))
        raise UserError(field, errors[field], errors)
    return cid, why


def plan(archive: "Archive", actor: "Actor", customer_id: str) -> DestructionPlan:
    """What destroying the customer's archive would remove, and the backups that hold it (admins only)."""
    policy.require(actor, "customers.delete")
    cid, _ = _clean(customer_id, None, False)
    from crm.admin.backup import backups_holding

    cur = archive.cursor()
    try:
        row = db.fetch_one(cur, "SELECT name FROM customers WHERE customer_id = ?", [cid])
        if row is None:
            raise UserError("customer_id", f"没有客户编号为 {cid} 的客户档案")
        counts = _counts(cur, cid)
    finally:
        cur.close()
    return DestructionPlan(cid, row[0], counts, backups_holding(archive, cid))


def destroy(archive: "Archive", actor: "Actor", customer_id: str, reason: str) -> Destruction:
    """Destroy a customer's archive in one transaction and keep its 销毁记录; admins only, with a
    reason; audited."""
    policy.require(actor, "customers.delete")
    cid, why = _clean(customer_id, reason, True)
    from crm.admin.backup import backups_holding

    backups = backups_holding(archive, cid)
    now = clock.now()
    with archive.transaction() as tx:
        if not db.fetch_one(tx, "SELECT 1 FROM customers WHERE customer_id = ?", [cid]):
            raise UserError("customer_id", f"没有客户编号为 {cid} 的客户档案")
        with activity.kept_current(tx):  # the other customers' activity summaries are untouched
            removed = purge(tx, cid)
        (did,) = tx.execute("INSERT INTO destructions (customer_id, destroyed_at, destroyed_by, reason, removed, backups) "
                            "VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
                            [cid, now, actor.username, why, json.dumps(removed, ensure_ascii=False),
                             json.dumps(backups, ensure_ascii=False)]).fetchall()[0]
        audit.record(tx, actor, "customer_delete", "customers", cid,
                     {"destruction": int(did), "reason": why, "removed": removed, "backups": backups})
        db.mark_changed(tx, db.RECORDS)
    cur = archive.cursor()
    try:
        cur.execute("CHECKPOINT")  # best effort: refused while another session's write is open
    except duckdb.Error:
        pass
    finally:
        cur.close()
    return Destruction(int(did), cid, now, actor.username, why, removed, backups)


def _record(row: tuple[Any, ...]) -> Destruction:
    did, cid, at, by, why, removed, backups = row
    return Destruction(int(did), cid, at, by, why, json.loads(removed), json.loads(backups))


def list_destructions(archive: "Archive", actor: "Actor") -> list[Destruction]:
    """Every 销毁记录, newest first (admins only)."""
    policy.require(actor, "customers.delete")
    cur = archive.cursor()
    try:
        return [_record(r) for r in cur.execute(f"SELECT {_COLUMNS} FROM destructions ORDER BY destroyed_at DESC, id DESC").fetchall()]
    finally:
        cur.close()


# ------------------------------------------------------------------ across a restore
def destructions_since(cur: duckdb.DuckDBPyConnection, backup_alias: str) -> list[tuple[Any, ...]]:
    """The archive's 销毁记录 that an attached backup does not have: made after it was taken."""
    return cur.execute(f"SELECT {_COLUMNS} FROM destructions WHERE id NOT IN (SELECT id FROM {backup_alias}.main.destructions) "
                       "ORDER BY id").fetchall()


def reapply(cur: duckdb.DuckDBPyConnection, row: tuple[Any, ...]) -> str:
    """In a restore's transaction: destroy again what a 销毁记录 made after the backup destroyed, and
    keep the record; returns the customer id."""
    customer_id = row[1]
    with activity.kept_current(cur):
        purge(cur, customer_id)
    cur.execute(f"INSERT INTO destructions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", list(row))
    return customer_id
