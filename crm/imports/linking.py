"""Which archived customer a row means: by id, else name plus phone/email, else a unique name.

Lookups are set-based: the sheet's references are staged as one Arrow table and joined against
`customers` in DuckDB, so linking 100,000 rows against a million customers is a few joins.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa


@dataclass
class Ref:
    customer_id: str | None
    name: str | None
    phone: str | None
    email: str | None


@dataclass
class Link:
    customer_id: str | None
    how: str  # 'id' | 'phone' | 'email' | 'name' | ''
    error: str | None = None
    warning: str | None = None


def _stage(cur: duckdb.DuckDBPyConnection, refs: list[Ref]) -> None:
    table = pa.table({
        "idx": pa.array(range(len(refs)), pa.int64()),
        "cid": pa.array([r.customer_id for r in refs], pa.string()),
        "name": pa.array([r.name for r in refs], pa.string()),
        "phone": pa.array([r.phone for r in refs], pa.string()),
        "email": pa.array([r.email for r in refs], pa.string()),
    })
    cur.register("link_refs", table)


def lookup_keys(cur: duckdb.DuckDBPyConnection, refs: list[Ref]) -> tuple[
        dict[str, str], dict[str, list[tuple[str, str]]], dict[str, list[tuple[str, str]]], dict[str, list[str]]]:
    """Archive matches for the staged references: ids found, phone → [(id, name)], email → [(id, name)],
    name → [ids] (up to 3 per name, enough to tell unique from ambiguous)."""
    _stage(cur, refs)
    try:
        ids = dict(cur.execute(
            "SELECT DISTINCT c.customer_id, c.customer_id FROM customers c "
            "JOIN link_refs r ON c.customer_id = r.cid").fetchall())
        by_phone: dict[str, list[tuple[str, str]]] = {}
        for phone, cid, name in cur.execute(
                "SELECT DISTINCT c.phone, c.customer_id, c.name FROM customers c "
                "JOIN (SELECT DISTINCT phone FROM link_refs WHERE phone IS NOT NULL) r ON c.phone = r.phone "
                "ORDER BY c.customer_id").fetchall():
            by_phone.setdefault(phone, []).append((cid, name))
        by_email: dict[str, list[tuple[str, str]]] = {}
        for email, cid, name in cur.execute(
                "SELECT DISTINCT c.email, c.customer_id, c.name FROM customers c "
                "JOIN (SELECT DISTINCT email FROM link_refs WHERE email IS NOT NULL) r ON c.email = r.email "
                "ORDER BY c.customer_id").fetchall():
            by_email.setdefault(email, []).append((cid, name))
        by_name: dict[str, list[str]] = {}
        for name, cids in cur.execute(
                "SELECT c.name, list(c.customer_id ORDER BY c.customer_id)[1:3] FROM customers c "
                "JOIN (SELECT DISTINCT name FROM link_refs WHERE name IS NOT NULL) r ON c.name = r.name "
                "GROUP BY c.name").fetchall():
            by_name[name] = list(cids)
    finally:
        cur.unregister("link_refs")
    return ids, by_phone, by_email, by_name


def existing_ids(cur: duckdb.DuckDBPyConnection, ids: list[str]) -> set[str]:
    """Which of these customer ids are in the archive (one join, however many ids)."""
    if not ids:
        return set()
    cur.register("link_ids", pa.table({"cid": pa.array(ids, pa.string())}))
    try:
        rows = cur.execute("SELECT DISTINCT c.customer_id FROM customers c "
                           "JOIN (SELECT DISTINCT cid FROM link_ids) i ON c.customer_id = i.cid").fetchall()
    finally:
        cur.unregister("link_ids")
    return {r[0] for r in rows}


def _pick(candidates: list[tuple[str, str]], name: str | None) -> tuple[str, str | None]:
    """One customer out of those sharing a phone/email: the one with the same name if any."""
    for cid, cname in candidates:
        if name and cname == name:
            return cid, None
    cid, cname = candidates[0]
    if name and cname != name:
        return cid, f"联系方式对应的档案客户名为「{cname}」（{cid}），与本行「{name}」不同，已按联系方式关联"
    return cid, None


def link_refs(cur: duckdb.DuckDBPyConnection, refs: list[Ref]) -> list[Link]:
    """Resolve each reference against the archive as it stands in this transaction."""
    ids, by_phone, by_email, by_name = lookup_keys(cur, refs)
    out: list[Link] = []
    for r in refs:
        if r.customer_id and r.customer_id in ids:
            out.append(Link(r.customer_id, "id"))
            continue
        missing_id = f"客户编号 {r.customer_id} 不在档案中" if r.customer_id else None
        link: Link | None = None
        if r.phone and r.phone in by_phone:
            cid, warning = _pick(by_phone[r.phone], r.name)
            link = Link(cid, "phone", warning=warning)
        elif r.email and r.email in by_email:
            cid, warning = _pick(by_email[r.email], r.name)
            link = Link(cid, "email", warning=warning)
        elif r.name and r.name in by_name:
            cids = by_name[r.name]
            if len(cids) == 1:
                link = Link(cids[0], "name")
            else:
                link = Link(None, "", error=f"档案中有多位名为「{r.name}」的客户，请填写客户编号或联系方式以区分")
        if link is None:
            what = f"「{r.name}」" if r.name else ""
            link = Link(None, "", error=missing_id or f"档案中找不到客户{what}（可先导入客户档案，或填写客户编号/联系方式）")
        elif missing_id and link.customer_id:
            link.warning = f"{missing_id}，已按{_HOW[link.how]}关联到 {link.customer_id}"
        out.append(link)
    return out


_HOW = {"phone": "电话", "email": "邮箱", "name": "客户名称", "id": "客户编号"}


def customer_rows(cur: duckdb.DuckDBPyConnection, customer_ids: list[str], columns: list[str]) -> dict[str, dict[str, Any]]:
    """Current values of `columns` for the given customers (columns come from crm.schema, never users)."""
    if not customer_ids:
        return {}
    cur.register("link_ids", pa.table({"cid": pa.array(sorted(set(customer_ids)), pa.string())}))
    try:
        cols = ", ".join(f"c.{c}" for c in columns)
        rows = cur.execute(f"SELECT c.customer_id, {cols} FROM customers c JOIN link_ids i ON c.customer_id = i.cid").fetchall()
    finally:
        cur.unregister("link_ids")
    return {row[0]: dict(zip(columns, row[1:])) for row in rows}


def next_customer_ids(cur: duckdb.DuckDBPyConnection, day: str, count: int) -> list[str]:
    """`count` fresh ids C+yyyymmdd+sequence (3 digits, more past 999) for the day given as yyyymmdd."""
    prefix = f"C{day}"
    row = cur.execute(
        "SELECT max(try_cast(substr(customer_id, ?) AS BIGINT)) FROM customers "
        "WHERE starts_with(customer_id, ?) AND regexp_full_match(substr(customer_id, ?), '[0-9]+')",
        [len(prefix) + 1, prefix, len(prefix) + 1]).fetchall()[0]
    start = (row[0] or 0) + 1
    return [f"{prefix}{n:03d}" for n in range(start, start + count)]
