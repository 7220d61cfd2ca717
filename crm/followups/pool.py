"""客户公海, the public pool Chinese sales teams use (纷享销客, 销售易, 悟空CRM).

A customer whose owner has not contacted it for `pool_release_days` days (setting; 0, the default,
turns the pool off) is released: it loses its owner, keeps who had it, when and why. Staff claim
pool customers, at most `pool_claim_limit` a day each. A claim is atomic: of two people claiming
one customer at the same moment, one gets it and the other is told. Releases and claims are
audited and shown on the customer's profile (`pool_history`).
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import duckdb

from crm import clock, db, provenance
from crm.auth import audit, policy
from crm.auth.personal import Actor, PersonalData
from crm.db import Archive, fetch_one, scalar
from crm.errors import UserError
from crm.settings import follow_up_settings
from crm.vocabulary import FOLLOW_UP_OPEN

SYSTEM = "system"
TAKEN_MESSAGE = "该客户刚被其他人领取，已不在公海中"


@dataclass(frozen=True)
class PoolCustomer:
    customer_id: str
    name: str | None
    previous_owner: str | None
    since: dt.datetime
    reason: str | None


def release_due(archive: Archive, today: dt.date | None = None) -> int:
    """Release every customer whose owner has not contacted it for the configured days (none when
    the setting is 0); returns how many were released. Customers with an open follow-up stay."""
    today = today or clock.today()
    with archive.transaction() as cur:
        days = follow_up_settings(cur).pool_release_days
        if days <= 0:
            return 0
        db.mark_changed(cur, db.EDIT)
        last = "coalesce(greatest(last_logged_interaction, last_interaction), first_contact, CAST(created_at AS DATE))"
        rows = cur.execute(f"""
            UPDATE customers SET pool_since = ?, pool_previous_owner = owner, owner = NULL,
                   pool_reason = '负责人' || owner || '自 ' || strftime({last}, '%Y-%m-%d') || ' 起已超过 ' || ? || ' 天未联系'
            WHERE owner IS NOT NULL AND pool_since IS NULL AND {last} <= ?
              AND customer_id NOT IN (SELECT customer_id FROM follow_ups WHERE status = ?)
            RETURNING customer_id, pool_previous_owner, pool_reason""",
            [clock.now(), days, today - dt.timedelta(days=days), FOLLOW_UP_OPEN]).fetchall()
        provenance.record_writes(cur, "customers", [(cid, "owner") for cid, _, _ in rows], via="pool_release", user=SYSTEM)
        audit.record_many(cur, SYSTEM, "pool_release", "customers",
                          [(cid, {"owner": {"old": owner, "new": None}, "reason": reason}) for cid, owner, reason in rows])
    return len(rows)


def pool_customers(reader: PersonalData, limit: int = 50, offset: int = 0) -> tuple[list[PoolCustomer], int]:
    """A page of the pool, longest-waiting first, names masked for the reader (a pool customer has
    no owner: only leads and up see it in full until someone claims it)."""
    cur = reader.archive.cursor()
    try:
        total = int(scalar(cur, "SELECT count(*) FROM customers WHERE pool_since IS NOT NULL") or 0)
        rows = cur.execute("""SELECT customer_id, name, pool_previous_owner, pool_since, pool_reason, owner
                              FROM customers WHERE pool_since IS NOT NULL ORDER BY pool_since, customer_id
                              LIMIT ? OFFSET ?""", [limit, offset]).fetchall()
    finally:
        cur.close()
    masked = reader.mask_rows("customers", ["name"], [(r[1], r[5]) for r in rows])
    return [PoolCustomer(r[0], name, r[2], r[3], r[4]) for r, (name,) in zip(rows, masked)], total


def claims_today(cur: duckdb.DuckDBPyConnection, username: str, today: dt.date) -> int:
    return int(scalar(cur, "SELECT count(*) FROM audit_log WHERE action = 'pool_claim' AND user_name = ? "
                           "AND CAST(occurred_at AS DATE) = ?", [username, today]) or 0)


def claim(archive: Archive, actor: Actor, customer_id: str) -> None:
    """Take a pool customer as its owner, atomically; refused past the day's limit or when taken."""
    policy.require(actor, "pool.claim")
    today = clock.today()
    try:
        with archive.transaction() as cur:
            db.mark_changed(cur, db.EDIT)
            limit = follow_up_settings(cur).pool_claim_limit
            if claims_today(cur, actor.username, today) >= limit:
                raise UserError(None, f"今天已领取 {limit} 位公海客户，已达每日上限")
            taken = cur.execute("UPDATE customers SET owner = ?, pool_since = NULL, pool_reason = NULL "
                                "WHERE customer_id = ? AND pool_since IS NOT NULL RETURNING pool_previous_owner",
                                [actor.username, customer_id]).fetchall()
            if not taken:
                raise UserError(None, TAKEN_MESSAGE)
            provenance.record_writes(cur, "customers", [(customer_id, "owner")], via="pool_claim", user=actor.username)
            audit.record(cur, actor, "pool_claim", "customers", customer_id,
                         {"owner": {"old": None, "new": actor.username}, "previous_owner": taken[0][0]})
    except duckdb.TransactionException as exc:  # claimed by someone else at the same moment
        raise UserError(None, TAKEN_MESSAGE) from exc


def pool_status(archive: Archive, customer_id: str) -> dict[str, Any] | None:
    """Whether the customer is in the pool now (since, reason, previous owner), else None."""
    cur = archive.cursor()
    try:
        row = fetch_one(cur, "SELECT pool_since, pool_reason, pool_previous_owner FROM customers "
                             "WHERE customer_id = ? AND pool_since IS NOT NULL", [customer_id])
    finally:
        cur.close()
    return {"since": row[0], "reason": row[1], "previous_owner": row[2]} if row else None


def pool_history(archive: Archive, customer_id: str) -> list[tuple[dt.datetime, str, str, str]]:
    """(when, who, 释放/领取, detail) of the customer's releases and claims, newest first."""
    cur = archive.cursor()
    try:
        rows = cur.execute("""SELECT occurred_at, user_name, action, detail FROM audit_log
                              WHERE entity = 'customers' AND entity_id = ? AND action IN ('pool_release', 'pool_claim')
                              ORDER BY occurred_at DESC, id DESC""", [customer_id]).fetchall()
    finally:
        cur.close()
    out = []
    for when, who, action, detail in rows:
        info = json.loads(detail) if detail else {}
        text = (info.get("reason") or "") if action == "pool_release" else \
            f"{who} 领取" + (f"（原负责人 {info['previous_owner']}）" if info.get("previous_owner") else "")
        out.append((when, who, audit.ACTIONS[action], text))
    return out
