"""Merging two archives of one customer — and taking a merge back.

An import keeps rows apart that share a phone but clearly differ in name (甲建材 / 乙装饰, served by
one contact person) and flags them 可能重复; a person decides. `merge_customers` keeps one
customer and folds the other in, in one transaction: the other's records (the table registry's
customer tables) move over, the kept customer's blank fields are filled from the other's, tags are
joined, the other's row is removed. `customer_merges` keeps what `undo_merge` needs to put things
back exactly: the removed row as it was, the fields filled, the ids moved per table. A field filled
by the merge and changed since keeps its newer value on undo (as an import's undo does).
`keep_apart` clears the flag when the two are really different customers. All of it is audited and
obeys the profile's policy (leads and up any customer, sales their own).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from crm import clock, db, provenance, tables
from crm.auth import audit, policy
from crm.auth.personal import Actor
from crm.db import Archive, fetch_one
from crm.errors import UserError
from crm.imports.batches import same_value
from crm.schema import CUSTOMER_COLUMNS

_MOVED_TABLES = tuple(t for t in tables.customer_children() if t != "customer_tags")
_FILLABLE = tuple(c for c in CUSTOMER_COLUMNS if c not in ("customer_id", "name_pinyin", "name_initials",
                                                           "duplicate_note"))


@dataclass(frozen=True)
class MergeResult:
    merge_id: int
    kept_id: str
    merged_id: str
    filled: tuple[str, ...]  # fields of the kept customer filled from the merged one
    moved: dict[str, int]  # table → records moved


def _json(value: Any) -> Any:
    if isinstance(value, (dt.date, dt.datetime)):
        return {"__date__": value.isoformat(), "time": isinstance(value, dt.datetime)}
    if isinstance(value, Decimal):
        return float(value)
    return value


def _unjson(value: Any) -> Any:
    if isinstance(value, dict) and "__date__" in value:
        text = value["__date__"]
        return dt.datetime.fromisoformat(text) if value.get("time") else dt.date.fromisoformat(text)
    return value


def _row(cur: Any, customer_id: str) -> dict[str, Any]:
    cols = [r[0] for r in cur.execute("SELECT column_name FROM information_schema.columns WHERE table_name = "
                                      "'customers' ORDER BY ordinal_position").fetchall()]
    row = fetch_one(cur, f"SELECT {', '.join(cols)} FROM customers WHERE customer_id = ?", [customer_id])
    if row is None:
        raise UserError(None, f"客户 {customer_id} 不存在（可能已被合并或删除），请刷新后重试")
    return dict(zip(cols, row))


def merge_customers(archive: Archive, actor: Actor, kept_id: str, merged_id: str, reason: str | None = None) -> MergeResult:
    """Fold `merged_id` into `kept_id` (see the module docstring); refused for the same id twice,
    for a user who may not change both customers, and for a customer that no longer exists."""
    if kept_id == merged_id:
        raise UserError(None, "不能把客户合并到自己")
    with archive.transaction() as cur:
        db.mark_changed(cur, db.RECORDS)
        kept, merged = _row(cur, kept_id), _row(cur, merged_id)
        for row in (kept, merged):
            policy.require_touch_customer(actor, row.get("owner"), row["customer_id"])
        filled = [c for c in _FILLABLE if kept.get(c) in (None, "") and merged.get(c) not in (None, "")]
        if filled:
            cur.execute(f"UPDATE customers SET {', '.join(f'{c} = ?' for c in filled)}, duplicate_note = NULL, "
                        "updated_at = ? WHERE customer_id = ?", [*(merged[c] for c in filled), clock.now(), kept_id])
        else:
            cur.execute("UPDATE customers SET duplicate_note = NULL WHERE customer_id = ?", [kept_id])
        moved: dict[str, list[Any]] = {}
        for table in _MOVED_TABLES:
            key = tables.TABLES[table].key
            ids = [r[0] for r in cur.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ? RETURNING {key}",
                                             [kept_id, merged_id]).fetchall()]
            if ids:
                moved[table] = ids
        have = {t for (t,) in cur.execute("SELECT tag FROM customer_tags WHERE customer_id = ?", [kept_id]).fetchall()}
        theirs = [t for (t,) in cur.execute("SELECT DISTINCT tag FROM customer_tags WHERE customer_id = ?",
                                            [merged_id]).fetchall()]
        added = [t for t in theirs if t not in have]
        cur.execute("DELETE FROM customer_tags WHERE customer_id = ?", [merged_id])
        if added:
            cur.executemany("INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)", [(kept_id, t) for t in added])
        cur.execute("DELETE FROM customers WHERE customer_id = ?", [merged_id])
        merge_id = int(cur.execute(
            "INSERT INTO customer_merges (kept_id, merged_id, merged_row, filled, moved, tags, reason, merged_by, merged_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING merge_id",
            [kept_id, merged_id, json.dumps({k: _json(v) for k, v in merged.items()}, ensure_ascii=False),
             json.dumps(filled), json.dumps(moved), json.dumps({"theirs": theirs, "added": added}, ensure_ascii=False),
             reason, actor.username, clock.now()]).fetchall()[0][0])
        provenance.record_writes(cur, "customers", [(kept_id, c) for c in filled], via="merge_customers",
                                 user=actor.username)
        _refresh(cur, [kept_id])
        audit.record(cur, actor, "merge_customers", "customers", kept_id,
                     {"merged": merged_id, "merge_id": merge_id, "filled": filled,
                      "moved": {t: len(v) for t, v in moved.items()}, "reason": reason})
    return MergeResult(merge_id, kept_id, merged_id, tuple(filled), {t: len(v) for t, v in moved.items()})


def undo_merge(archive: Archive, actor: Actor, merge_id: int) -> list[str]:
    """Put a merge back: the merged customer's row as it was, its records and tags back to it, the
    filled fields emptied again unless changed since (those are returned, kept with their value)."""
    with archive.transaction() as cur:
        db.mark_changed(cur, db.RECORDS)
        row = fetch_one(cur, "SELECT kept_id, merged_id, merged_row, filled, moved, tags, undone_at FROM customer_merges "
                             "WHERE merge_id = ?", [merge_id])
        if row is None:
            raise UserError(None, f"合并记录 {merge_id} 不存在")
        kept_id, merged_id, merged_row, filled_json, moved_json, tags_json, undone = row
        if undone is not None:
            raise UserError(None, f"合并记录 {merge_id} 已经撤销过了")
        kept = _row(cur, kept_id)
        policy.require_touch_customer(actor, kept.get("owner"), kept_id)
        if fetch_one(cur, "SELECT 1 FROM customers WHERE customer_id = ?", [merged_id]):
            raise UserError(None, f"客户编号 {merged_id} 已被另一位客户使用，无法撤销合并")
        merged = {k: _unjson(v) for k, v in json.loads(merged_row).items()}
        cols = list(merged)
        cur.execute(f"INSERT INTO customers ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})",
                    [merged[c] for c in cols])
        filled = json.loads(filled_json)
        kept_newer = [c for c in filled if not same_value(kept.get(c), merged.get(c))]
        back = [c for c in filled if c not in kept_newer]
        if back:
            cur.execute(f"UPDATE customers SET {', '.join(f'{c} = NULL' for c in back)} WHERE customer_id = ?", [kept_id])
        for table, ids in json.loads(moved_json).items():
            key = tables.TABLES[table].key
            cur.execute(f"UPDATE {table} SET customer_id = ? WHERE customer_id = ? AND {key} IN (SELECT unnest(?))",
                        [merged_id, kept_id, ids])
        tags = json.loads(tags_json)
        if tags["added"]:
            cur.execute("DELETE FROM customer_tags WHERE customer_id = ? AND tag IN (SELECT unnest(?))",
                        [kept_id, tags["added"]])
        if tags["theirs"]:
            cur.executemany("INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)",
                            [(merged_id, t) for t in tags["theirs"]])
        cur.execute("UPDATE customer_merges SET undone_by = ?, undone_at = ? WHERE merge_id = ?",
                    [actor.username, clock.now(), merge_id])
        _refresh(cur, [kept_id, merged_id])
        audit.record(cur, actor, "unmerge_customers", "customers", kept_id,
                     {"merged": merged_id, "merge_id": merge_id, "kept_newer": kept_newer})
    return kept_newer


def keep_apart(archive: Archive, actor: Actor, customer_id: str) -> None:
    """The flagged customers are different customers: the 可能重复 note goes, audited."""
    with archive.transaction() as cur:
        row = _row(cur, customer_id)
        policy.require_touch_customer(actor, row.get("owner"), customer_id)
        cur.execute("UPDATE customers SET duplicate_note = NULL WHERE customer_id = ?", [customer_id])
        audit.record(cur, actor, "keep_apart", "customers", customer_id, {"note": row.get("duplicate_note")})


def other_customer_in(note: str | None) -> str | None:
    """The customer a 可能重复 note names (「与 C20261201002「甲公司」电话相同…」), to offer for the merge."""
    import re

    m = re.search(r"与 (\S+?)「", note or "")
    return m.group(1) if m and not m.group(1).startswith("第") else None


def merges_of(archive: Archive, customer_id: str) -> list[dict[str, Any]]:
    """The merges into this customer, newest first (for the profile's 撤销合并)."""
    cur = archive.cursor()
    try:
        rows = cur.execute("SELECT merge_id, merged_id, merged_by, merged_at, reason, undone_at FROM customer_merges "
                           "WHERE kept_id = ? ORDER BY merge_id DESC", [customer_id]).fetchall()
    finally:
        cur.close()
    return [dict(zip(("merge_id", "merged_id", "merged_by", "merged_at", "reason", "undone_at"), r)) for r in rows]


def _refresh(cur: Any, customer_ids: list[str]) -> None:
    from crm.customers import activity
    from crm.customers.search import refresh_search_text

    refresh_search_text(cur, customer_ids)
    was_current = activity.is_current(cur)
    activity.recompute(cur, customer_ids)  # their records moved: their summaries are computed again
    if was_current:
        activity.mark_current(cur)
