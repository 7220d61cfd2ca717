"""Satisfaction from the T7 surveys, in DuckDB.

CSAT is reported the customary way: the top-2-box share (满意 + 非常满意, scores 4–5) beside the
mean and the bottom-2-box share, always with n; shares are hidden (None) below `min_n` answers.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from crm import clock
from crm.auth import audit
from crm.auth.personal import PersonalData
from crm.customers import flags
from crm.db import Archive
from crm.imports.templates import SCORE_FIELDS, T7
from crm.settings import ComplaintSettings, complaint_settings
from crm.vocabulary import FOLLOW_UP_OPEN

LABELS: dict[str, str] = {f.name: f.header for f in T7.fields if f.name in SCORE_FIELDS}
VALUE_LABELS = ("高价值", "潜力客户", "中价值", "低价值")


def top2(scores: list[int]) -> float | None:
    """Share of 4s and 5s (None for no answers)."""
    return sum(s >= 4 for s in scores) / len(scores) if scores else None


def shown_share(share: float | None, n: int, min_n: int) -> float | None:
    """A share is shown only with at least `min_n` answers."""
    return share if n >= min_n else None


def _where(start: dt.date | None, end: dt.date | None) -> tuple[str, dict[str, Any]]:
    parts, params = ["TRUE"], {}
    if start:
        parts.append("s.date >= $start")
        params["start"] = start
    if end:
        parts.append("s.date <= $end")
        params["end"] = end
    return " AND ".join(parts), params


def dimension_stats(archive: Archive, settings: ComplaintSettings, start: dt.date | None = None,
                    end: dt.date | None = None) -> pd.DataFrame:
    """Per dimension: n, mean, top-2-box and bottom-2-box shares (None below min_n)."""
    where, params = _where(start, end)
    aggregates = ", ".join(f"count({d}), avg({d}), count(*) FILTER (WHERE {d} >= 4), count(*) FILTER (WHERE {d} <= 2)"
                           for d in SCORE_FIELDS)
    cur = archive.cursor()
    try:
        (row,) = cur.execute(f"SELECT {aggregates} FROM surveys s WHERE {where}", params).fetchall()  # one pass
    finally:
        cur.close()
    frame = pd.DataFrame([{"dimension": LABELS[d], "n": row[4 * i], "mean": row[4 * i + 1], "top2": row[4 * i + 2],
                           "bottom2": row[4 * i + 3]} for i, d in enumerate(SCORE_FIELDS)])
    n = frame["n"].astype(int)
    frame["top2_share"] = [shown_share(t / k if k else None, k, settings.min_n) for t, k in zip(frame["top2"], n)]
    frame["bottom2_share"] = [shown_share(b / k if k else None, k, settings.min_n) for b, k in zip(frame["bottom2"], n)]
    return frame.drop(columns=["top2", "bottom2"])


def _overall(alias: str = "s") -> str:
    cols = ", ".join(f"{alias}.{d}" for d in SCORE_FIELDS)
    return f"list_avg([{cols}])"  # list_avg skips NULLs: the dimensions answered


def monthly(archive: Archive, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """Per month: responses and each dimension's mean."""
    where, params = _where(start, end)
    means = ", ".join(f"avg({d}) AS \"{LABELS[d]}\"" for d in SCORE_FIELDS)
    cur = archive.cursor()
    try:
        return cur.execute(f"""SELECT strftime(date_trunc('month', date), '%Y-%m') AS month, count(*) AS n, {means}
                               FROM surveys s WHERE {where} GROUP BY 1 ORDER BY 1""", params).df()
    finally:
        cur.close()


def by_group(archive: Archive, group: str, settings: ComplaintSettings, today: dt.date | None = None,
             start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """Per owner, region or value segment: responses, mean of all dimensions, top-2-box share."""
    today = today or clock.today()
    where, params = _where(start, end)
    cur = archive.cursor()
    try:
        if group == "segment":
            run = flags.newest_run_id(cur, today)
            key = "sm.value"
            join = "JOIN segment_members sm ON sm.customer_id = s.customer_id AND sm.run_id = $run"
            params["run"] = run if run is not None else -1
        else:
            key = f"coalesce(c.{group}, '未填写')"
            join = ""
        frame = cur.execute(f"""
            SELECT {key} AS grp, count(*) AS n, avg({_overall()}) AS mean,
                   count(*) FILTER (WHERE {_overall()} >= 4) AS top2
            FROM surveys s LEFT JOIN customers c ON c.customer_id = s.customer_id {join}
            WHERE {where} GROUP BY 1 ORDER BY n DESC""", params).df()
    finally:
        cur.close()
    if group == "segment":
        frame["grp"] = [VALUE_LABELS[int(v)] for v in frame["grp"]]
    frame["top2_share"] = [shown_share(t / k if k else None, int(k), settings.min_n) for t, k in zip(frame["top2"], frame["n"])]
    return frame.drop(columns=["top2"])


def lowest_customers(reader: PersonalData, limit: int = 20) -> pd.DataFrame:
    """Customers whose latest survey scores lowest (mean of its dimensions), with that survey."""
    cur = reader.archive.cursor()
    try:
        rows = cur.execute(f"""
            WITH latest AS (SELECT s.*, {_overall()} AS overall,
                                   row_number() OVER (PARTITION BY customer_id ORDER BY date DESC, id DESC) AS k
                            FROM surveys s)
            SELECT l.customer_id, c.name, l.date, round(l.overall, 2), l.comment, c.owner
            FROM latest l LEFT JOIN customers c ON c.customer_id = l.customer_id
            WHERE l.k = 1 AND l.overall IS NOT NULL ORDER BY l.overall, l.date DESC LIMIT ?""", [limit]).fetchall()
    finally:
        cur.close()
    masked = reader.mask_rows("customers", ["name"], [(r[1], r[5]) for r in rows])
    comments = reader.mask_rows("surveys", ["comment"], [(r[4], r[5]) for r in rows])  # free text
    return pd.DataFrame([[r[0], name, r[2], r[3], comment] for r, (name,), (comment,) in zip(rows, masked, comments)],
                        columns=["客户编号", "客户", "调查日期", "平均分", "意见建议"])


RECENT_DAYS = 30  # older responses are history: no follow-up is planned for them


def plan_low_score_follow_ups(cur: Any, today: dt.date | None = None, batch_id: int | None = None) -> int:
    """A follow-up for the owner of every response of the last RECENT_DAYS days with any dimension
    ≤ the low score, once per response (follow_ups.survey_id), due the next day; in the caller's
    transaction (an import's batch owns them, so its undo removes them). Returns how many."""
    today = today or clock.today()
    low = complaint_settings(cur).low_score
    cond = " OR ".join(f"s.{d} <= $low" for d in SCORE_FIELDS)
    rows = cur.execute(f"""
        INSERT INTO follow_ups (customer_id, due, content, owner, status, origin, survey_id, created_at, batch_id)
        SELECT s.customer_id, $due, '满意度调查（' || strftime(s.date, '%Y-%m-%d') || '）有维度不高于 ' || $low || ' 分，请回访了解原因',
               c.owner, $open, 'survey', s.id, $now, $batch
        FROM surveys s LEFT JOIN customers c ON c.customer_id = s.customer_id
        WHERE ({cond}) AND s.date <= $today AND s.date > $since
          AND s.id NOT IN (SELECT survey_id FROM follow_ups WHERE survey_id IS NOT NULL)
        RETURNING survey_id, customer_id, owner""",
        {"low": low, "today": today, "since": today - dt.timedelta(days=RECENT_DAYS), "due": today + dt.timedelta(days=1),
         "open": FOLLOW_UP_OPEN, "now": clock.now(), "batch": batch_id}).fetchall()
    audit.record_many(cur, "system", "survey_follow_up", "surveys",
                      [(sid, {"customer_id": cid, "owner": owner}) for sid, cid, owner in rows])
    return len(rows)
