"""The team lead's view: per owner, what is open and overdue and for how long, how much was done
on time, who is neglected; the weekly on-time trend; the exports.

Everything is one pass over follow_ups in DuckDB (plus one over customers for neglect); pandas
receives one row per owner or per week.
"""
from __future__ import annotations

import datetime as dt
import io
from typing import TYPE_CHECKING

import pandas as pd

from crm import clock, xlsx
from crm.auth import audit, policy
from crm.auth.personal import PersonalData
from crm.followups import neglect, rules
from crm.followups.queue import ALL, UNASSIGNED, queue
from crm.vocabulary import FOLLOW_UP_CANCELLED, FOLLOW_UP_DONE, FOLLOW_UP_OPEN

if TYPE_CHECKING:
    import duckdb

ON_TIME_WINDOW_DAYS = 30

OWNER_COLUMNS = ["负责人", "待跟进", "已逾期", *[label for label, _, _ in rules.AGE_BANDS], "最久逾期（天）",
                 f"近{ON_TIME_WINDOW_DAYS}天到期", "按期完成", "按期完成率", "久未联系客户"]


def owner_table(cur: "duckdb.DuckDBPyConnection", today: dt.date | None = None) -> pd.DataFrame:
    """One row per owner: open, overdue, overdue by age band, the oldest overdue, follow-ups due in
    the last 30 days (before today) and how many were done by their due day, and neglected customers."""
    today = today or clock.today()
    bands = ", ".join(
        f"count(*) FILTER (WHERE status = $open AND date_diff('day', due, $today) >= {low}"
        + (f" AND date_diff('day', due, $today) <= {high}" if high is not None else "") + f") AS band{i}"
        for i, (_, low, high) in enumerate(rules.AGE_BANDS))
    rows = cur.execute(f"""
        SELECT coalesce(owner, $unassigned) AS owner,
               count(*) FILTER (WHERE status = $open) AS open,
               count(*) FILTER (WHERE status = $open AND due < $today) AS overdue, {bands},
               max(date_diff('day', due, $today)) FILTER (WHERE status = $open AND due < $today) AS oldest,
               count(*) FILTER (WHERE due >= $window AND due < $today AND status <> $cancelled) AS due_window,
               count(*) FILTER (WHERE due >= $window AND due < $today AND status = $done
                                AND CAST(done_at AS DATE) <= due) AS on_time
        FROM follow_ups GROUP BY 1 HAVING open > 0 OR due_window > 0 ORDER BY overdue DESC, open DESC, owner""",
        {"open": FOLLOW_UP_OPEN, "done": FOLLOW_UP_DONE, "cancelled": FOLLOW_UP_CANCELLED, "today": today,
         "window": today - dt.timedelta(days=ON_TIME_WINDOW_DAYS), "unassigned": UNASSIGNED}).fetchall()
    neglected = neglect.neglected_per_owner(cur, today)
    out = []
    for r in rows:
        owner, open_, overdue, *band_counts, oldest, due_window, on_time = r
        out.append([owner, open_, overdue, *band_counts, oldest, due_window, on_time,
                    (on_time / due_window) if due_window else None,
                    int(neglected.get(None if owner == UNASSIGNED else owner, 0))])
    return pd.DataFrame(out, columns=OWNER_COLUMNS)


def weekly_on_time(cur: "duckdb.DuckDBPyConnection", today: dt.date | None = None, weeks: int = 12,
                   owner: str | None = None) -> pd.DataFrame:
    """Per ISO week (Monday) of the last `weeks` weeks: follow-ups due that week (before today),
    those done by their due day, and the rate."""
    today = today or clock.today()
    start = rules.week_end(today) - dt.timedelta(days=7 * weeks - 1)
    where, params = "", {}
    if owner is not None:
        where, params = "AND coalesce(owner, $unassigned) = $owner", {"owner": owner, "unassigned": UNASSIGNED}
    rows = cur.execute(f"""
        SELECT date_trunc('week', due) AS week, count(*) AS due_count,
               count(*) FILTER (WHERE status = $done AND CAST(done_at AS DATE) <= due) AS on_time
        FROM follow_ups WHERE due >= $start AND due < $today AND status <> $cancelled {where}
        GROUP BY 1 ORDER BY 1""",
        {"start": start, "today": today, "done": FOLLOW_UP_DONE, "cancelled": FOLLOW_UP_CANCELLED, **params}).fetchall()
    frame = pd.DataFrame(rows, columns=["周", "到期", "按期完成"])
    frame["按期完成率"] = [(t / n) if n else None for n, t in zip(frame["到期"], frame["按期完成"])]
    frame["周"] = pd.to_datetime(frame["周"]).dt.date
    return frame


def _queue_frame(reader: PersonalData, owner: str | None, bucket: str | None, today: dt.date) -> pd.DataFrame:
    page = queue(reader, owner=owner, bucket=bucket, today=today, limit=100_000)
    return pd.DataFrame([{"客户编号": r.customer_id, "客户": r.name, "电话": r.phone, "计划日期": r.due,
                          "分组": r.bucket, "逾期天数": r.days_overdue, "跟进方式": r.channel, "跟进内容": r.content,
                          "负责人": r.owner, "标记": r.flags} for r in page.rows],
                        columns=["客户编号", "客户", "电话", "计划日期", "分组", "逾期天数", "跟进方式", "跟进内容", "负责人", "标记"])


def export_workbook(reader: PersonalData, *, owner: str | None = ALL, today: dt.date | None = None) -> bytes:
    """The overdue list (masked for the reader) and the per-owner table as one .xlsx, audited."""
    policy.require(reader.actor, "follow_ups.export")
    today = today or clock.today()
    overdue = _queue_frame(reader, owner, rules.OVERDUE, today)
    cur = reader.archive.cursor()
    try:
        owners = owner_table(cur, today)
    finally:
        cur.close()
    zone = clock.timezone().key
    lines = [f"截至 {today}（{'北京时间' if zone == 'Asia/Shanghai' else zone}）", f"负责人：{owner or '全部'}",
             f"导出人：{reader.actor.username}"]
    buffer = io.BytesIO()
    xlsx.write_xlsx([("逾期跟进", overdue), ("负责人统计", owners)], buffer, header_lines=lines,
                    formats={"按期完成率": xlsx.PERCENT_FORMAT})
    with reader.archive.transaction() as tx:
        audit.record(tx, reader.actor, "export", "follow_ups", "跟进队列",
                     {"rows": {"逾期跟进": len(overdue), "负责人统计": len(owners)}, "owner": owner, "as_of": today})
    return buffer.getvalue()
