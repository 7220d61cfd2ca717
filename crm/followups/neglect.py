"""Neglect, visible even when nobody created a task: customers that need contact and have no open
follow-up (and are not in the public pool).

Three reasons, each from the data, based on logged contacts (interactions, the T4 最近互动日期),
never on record edits:
- 久未联系: no contact for `neglect_days_high_value` days (高价值) or `neglect_days_other` days
  (everyone else); a customer never contacted counts from its first-contact date, else from when
  it was filed;
- 资料待补全: a key field is missing (crm.customers.gaps, the profile's 待跟进 rule);
- 沉睡客户: the classification's 沉睡 label — offered for a reactivation follow-up.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from crm import clock
from crm.auth import policy
from crm.auth.personal import PersonalData
from crm.customers import flags, gaps
from crm.settings import follow_up_settings
from crm.vocabulary import FOLLOW_UP_OPEN

SLEEPING_BIT = 2  # crm.segments.labels.BEHAVIOURS: 沉睡客户 is bit 2
REASONS = {"neglect": "久未联系", "gap": "资料待补全", "reactivation": "沉睡唤醒"}


@dataclass(frozen=True)
class NeglectedCustomer:
    customer_id: str
    name: str | None
    phone: str | None
    owner: str | None
    last_contact: dt.date | None
    days_since: int | None
    reason: str  # a key of REASONS
    detail: str


def neglect_sql(today: dt.date, run_id: int | None, settings: Any) -> tuple[str, dict[str, Any]]:
    """A SELECT of (customer_id, owner, last_contact, days_since, reason, detail) — one row per
    neglected customer with its first reason (久未联系, then 资料待补全, then 沉睡)."""
    gap_cond, gap_label = gaps.gap_sql("c")
    hv_run = "AND FALSE" if run_id is None else ""
    sql = f"""
        SELECT c.customer_id, c.owner, c.name, c.phone,
               greatest(c.last_logged_interaction, c.last_interaction) AS last_contact,
               date_diff('day', coalesce(greatest(c.last_logged_interaction, c.last_interaction), c.first_contact,
                                         CAST(c.created_at AS DATE)), $today) AS days_since,
               sm.value = 0 AS high_value, coalesce((sm.behaviour & {SLEEPING_BIT}) <> 0, FALSE) AS sleeping,
               {gap_cond} AS has_gap, {gap_label} AS gap_label
        FROM customers c
        LEFT JOIN (SELECT customer_id, value, behaviour FROM segment_members WHERE run_id = $run {hv_run}) sm
               ON sm.customer_id = c.customer_id
        WHERE c.pool_since IS NULL
          AND NOT EXISTS (SELECT 1 FROM follow_ups f WHERE f.customer_id = c.customer_id AND f.status = $open)"""
    outer = f"""
        SELECT customer_id, owner, name, phone, last_contact, days_since,
               CASE WHEN days_since >= CASE WHEN high_value THEN $hv_days ELSE $other_days END THEN 'neglect'
                    WHEN has_gap THEN 'gap' WHEN sleeping THEN 'reactivation' END AS reason,
               CASE WHEN days_since >= CASE WHEN high_value THEN $hv_days ELSE $other_days END
                         THEN (CASE WHEN last_contact IS NULL THEN '从未联系，已建档 ' ELSE '已 ' END) || days_since
                              || ' 天未联系（' || CASE WHEN high_value THEN '高价值客户 ' || $hv_days
                                                       ELSE '联系间隔 ' || $other_days END || ' 天）'
                    WHEN has_gap THEN '缺少' || gap_label
                    WHEN sleeping THEN '沉睡客户，可安排唤醒跟进' END AS detail
        FROM ({sql}) n
        WHERE days_since >= CASE WHEN high_value THEN $hv_days ELSE $other_days END OR has_gap OR sleeping"""
    return outer, {"today": today, "run": run_id if run_id is not None else -1, "open": FOLLOW_UP_OPEN,
                   "hv_days": settings.neglect_days_high_value, "other_days": settings.neglect_days_other}


def _scope(reader: PersonalData, owner: str | None) -> tuple[str, dict[str, Any]]:
    if not policy.allowed(reader.actor, "follow_ups.see_all"):
        return "owner = $me", {"me": reader.actor.username}
    if owner is None:
        return "TRUE", {}
    return "owner = $me", {"me": owner}


def neglected(reader: PersonalData, *, owner: str | None = None, reason: str | None = None,
              today: dt.date | None = None, limit: int = 50, offset: int = 0) -> tuple[list[NeglectedCustomer], dict[str, int]]:
    """One page of neglected customers in the reader's scope (longest without contact first), and
    the count per reason."""
    today = today or clock.today()
    cur = reader.archive.cursor()
    try:
        sql, params = neglect_sql(today, flags.newest_run_id(cur, today), follow_up_settings(cur))
        scope, scope_params = _scope(reader, owner)
        params.update(scope_params)
        counts = dict(cur.execute(f"SELECT reason, count(*) FROM ({sql}) x WHERE {scope} GROUP BY reason",
                                  params).fetchall())
        where = f"{scope}" + (" AND reason = $reason" if reason else "")
        if reason:
            params["reason"] = reason
        rows = cur.execute(f"""SELECT customer_id, name, phone, owner, last_contact, days_since, reason, detail
                               FROM ({sql}) x WHERE {where}
                               ORDER BY days_since DESC NULLS LAST, customer_id LIMIT $limit OFFSET $offset""",
                           {**params, "limit": limit, "offset": offset}).fetchall()
    finally:
        cur.close()
    masked = reader.mask_rows("customers", ["name", "phone"], [(r[1], r[2], r[3]) for r in rows])
    out = [NeglectedCustomer(r[0], name, phone, r[3], r[4], r[5], r[6], r[7]) for r, (name, phone) in zip(rows, masked)]
    return out, {k: int(counts.get(k, 0)) for k in REASONS}


def neglected_per_owner(cur: Any, today: dt.date) -> dict[str | None, int]:
    """owner → how many of their customers are neglected (for the team lead's table)."""
    sql, params = neglect_sql(today, flags.newest_run_id(cur, today), follow_up_settings(cur))
    return dict(cur.execute(f"SELECT owner, count(*) FROM ({sql}) x GROUP BY owner", params).fetchall())
