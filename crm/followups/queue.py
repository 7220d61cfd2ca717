"""A user's open follow-ups: in buckets (逾期 / 今天 / 本周 / 以后), in priority order, paged in
DuckDB, with the customer's name and phone masked for the reader (crm.auth.personal).

Whose queue: sales see the follow-ups they own; leads and up pick an owner, the unassigned ones
(（未分配）, to give out) or everyone's (policy "follow_ups.see_all").
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from crm import clock
from crm.auth import policy
from crm.auth.personal import PersonalData
from crm.customers import flags
from crm.followups import rules
from crm.settings import segment_settings
from crm.vocabulary import FOLLOW_UP_OPEN

ALL = None  # owner filter: everyone's queue
UNASSIGNED = "（未分配）"


@dataclass(frozen=True)
class QueueRow:
    id: int
    customer_id: str
    name: str | None
    phone: str | None
    due: dt.date
    bucket: str
    days_overdue: int
    channel: str | None
    content: str | None
    goal: str | None
    owner: str | None
    origin: str | None
    version: int
    high_value: bool
    urgent: bool
    focus: bool

    @property
    def flags(self) -> str:
        marks = [label for on, label in ((self.high_value, "高价值"), (self.urgent, "紧急"), (self.focus, "重点关注")) if on]
        return "、".join(marks)


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    total: int
    counts: dict[str, int]  # per bucket, for the whole queue (not just this page)
    run_as_of: dt.date | None  # the classification the 高价值 flag comes from


def _owner_condition(reader: PersonalData, owner: str | None) -> tuple[str, list[Any]]:
    """Whose follow-ups, as a condition on follow_ups alone. A follow-up without an owner is in the
    （未分配） queue, which leads and up see and assign; a sales user's queue is what they own."""
    actor = reader.actor
    if not policy.allowed(actor, "follow_ups.see_all"):
        return "f.owner = ?", [actor.username]
    if owner is ALL:
        return "TRUE", []
    if owner == UNASSIGNED:
        return "f.owner IS NULL", []
    return "f.owner = ?", [owner]


def queue(reader: PersonalData, *, owner: str | None = ALL, bucket: str | None = None, today: dt.date | None = None,
          limit: int = 50, offset: int = 0) -> QueuePage:
    """One page of the reader's queue (or `owner`'s, for leads and up), in priority order, with the
    count of every bucket. Three queries: the counts (one pass over follow_ups), the page (the
    open follow-ups in scope with their 高价值 flag, ordered, cut to the page), and the page's
    customers (names, phones, owners for masking, the 重点关注 flag) for those rows only."""
    today = today or clock.today()
    if bucket is not None and bucket not in rules.BUCKETS:
        raise ValueError(f"没有「{bucket}」这一分组")
    cur = reader.archive.cursor()
    try:
        run_id = flags.newest_run_id(cur, today)
        run_as_of = None
        if run_id is not None:
            run_as_of = cur.execute("SELECT as_of FROM segment_runs WHERE run_id = ?", [run_id]).fetchall()[0][0]
        hv_sql, hv_params = flags.high_value_sql(run_id)
        who, who_params = _owner_condition(reader, owner)
        # Named parameters throughout: positional lists would have to follow the text's order.
        params: dict[str, Any] = {"today": today, "week_end": rules.week_end(today), "open": FOLLOW_UP_OPEN}
        hv_sql, who = _named(hv_sql, hv_params, "hv", params), _named(who, who_params, "who", params)
        count_sql = f"""SELECT {rules.bucket_sql('f')} AS bucket, count(*) FROM follow_ups f
                        WHERE f.status = $open AND {who} GROUP BY 1"""
        counts = dict(cur.execute(count_sql, _used(count_sql, params)).fetchall())
        where = f"AND {rules.bucket_sql('f')} = $bucket" if bucket else ""
        if bucket:
            params["bucket"] = bucket
        params.update(limit=limit, offset=offset)
        page_sql = f"""
            SELECT * FROM (
                SELECT f.id, f.customer_id, f.due, {rules.bucket_sql('f')} AS bucket,
                       greatest(date_diff('day', f.due, $today), 0) AS days_overdue,
                       f.channel, f.content, f.goal, f.owner, f.origin, coalesce(f.version, 0) AS version,
                       f.customer_id IN ({hv_sql}) AS high_value, {flags.urgent_sql('f')} AS urgent
                FROM follow_ups f WHERE f.status = $open AND {who} {where}) q
            ORDER BY {rules.PRIORITY_ORDER_SQL} LIMIT $limit OFFSET $offset"""
        rows = cur.execute(page_sql, _used(page_sql, params)).fetchall()
        columns = [d[0] for d in cur.description]
        records = [dict(zip(columns, r)) for r in rows]
        people: dict[str, tuple[Any, ...]] = {}
        ids = sorted({r["customer_id"] for r in records})
        if ids:
            focus_sql, focus_params = flags.focus_customers_sql(today, segment_settings(cur).complaint_months, ids)
            people = {r[0]: r[1:] for r in cur.execute(
                f"""SELECT c.customer_id, c.name, c.phone, c.owner, c.customer_id IN ({focus_sql}) AS focus
                    FROM customers c WHERE c.customer_id IN (SELECT unnest(?))""", [*focus_params, ids]).fetchall()}
    finally:
        cur.close()
    empty = (None, None, None, False)
    masked = reader.mask_rows("customers", ["name", "phone"],
                              [people.get(r["customer_id"], empty)[:3] for r in records])
    # 跟进内容 is free text: a phone typed into it is masked like the customer's own
    contents = reader.mask_rows("follow_ups", ["content"],
                                [(r["content"], people.get(r["customer_id"], empty)[2]) for r in records])
    out = []
    for r, (name, phone), (content,) in zip(records, masked, contents):
        focus = bool(people.get(r["customer_id"], empty)[3])
        out.append(QueueRow(int(r["id"]), r["customer_id"], name, phone, r["due"], r["bucket"], int(r["days_overdue"]),
                            r["channel"], content, r["goal"], r["owner"], r["origin"], int(r["version"]),
                            bool(r["high_value"]), bool(r["urgent"]), focus))
    total = counts.get(bucket, 0) if bucket else sum(counts.values())
    return QueuePage(out, total, {b: int(counts.get(b, 0)) for b in rules.BUCKETS}, run_as_of)


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The named parameters `sql` refers to (DuckDB refuses unused ones)."""
    return {k: v for k, v in params.items() if re.search(rf"\${k}\b", sql)}


def _named(sql: str, values: list[Any], prefix: str, params: dict[str, Any]) -> str:
    """Turn `?` placeholders of a fragment into named ones ($prefix0 …) added to `params`."""
    for i, value in enumerate(values):
        name = f"{prefix}{i}"
        sql = sql.replace("?", f"${name}", 1)
        params[name] = value
    return sql


def queue_owners(reader: PersonalData) -> list[str]:
    """Owners a lead can pick: everyone holding an open follow-up, then every active user."""
    cur = reader.archive.cursor()
    try:
        rows = cur.execute("""
            SELECT owner FROM (
                SELECT owner, count(*) AS n FROM follow_ups WHERE status = ? AND owner IS NOT NULL GROUP BY owner
                UNION ALL SELECT username, 0 FROM users WHERE active)
            GROUP BY owner ORDER BY max(n) DESC, owner""", [FOLLOW_UP_OPEN]).fetchall()
    finally:
        cur.close()
    return [o for (o,) in rows]
