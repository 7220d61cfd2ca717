"""What the complaints say, computed in DuckDB over one filtered set; pandas gets aggregates only.

Every figure comes with the condition that selects the complaints behind it (`Drill`), so a
chart's bar opens exactly the complaints it counts (`drill_page`), each masked for the reader.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from crm import clock
from crm.auth.personal import PersonalData
from crm.complaints import deadlines, stages
from crm.customers import flags
from crm.db import Archive
from crm.settings import ComplaintSettings

UNKNOWN = "未填写"
DIMENSIONS: dict[str, str] = {"kind": "投诉类型", "department": "责任部门", "resolution": "处理方式", "urgency": "紧急程度",
                              "root_cause": "投诉原因", "handler": "承办人", "stage": "处理阶段", "via": "投诉方式"}
RESOLVE_BANDS: tuple[tuple[str, int, int | None], ...] = (("当天", 0, 0), ("1–3 天", 1, 3), ("4–7 天", 4, 7),
                                                          ("8–14 天", 8, 14), ("15–30 天", 15, 30), ("30 天以上", 31, None))
VALUE_LABELS = ("高价值", "潜力客户", "中价值", "低价值")


@dataclass(frozen=True)
class ComplaintFilters:
    """The page's filters; None means all. `start`/`end` bound the 受理日期 (inclusive)."""
    start: dt.date | None = None
    end: dt.date | None = None
    kind: str | None = None
    department: str | None = None
    urgency: str | None = None
    handler: str | None = None
    owner: str | None = None
    value: str | None = None  # a value segment of the newest classification run

    def text(self) -> str:
        """The filters as an export's header line says them: 「受理日期 2025-12-01 至 2026-12-01；投诉类型 商品」."""
        parts = []
        if self.start or self.end:
            parts.append(f"受理日期 {self.start or '不限'} 至 {self.end or '不限'}")
        for label, value in (("投诉类型", self.kind), ("责任部门", self.department), ("紧急程度", self.urgency),
                             ("承办人", self.handler), ("客户负责人", self.owner), ("客户价值", self.value)):
            if value:
                parts.append(f"{label} {value}")
        return "；".join(parts) or "全部"

    def sql(self, cur: Any, today: dt.date) -> tuple[str, dict[str, Any]]:
        parts, params = ["TRUE"], {}
        if self.start:
            parts.append("k.date >= $f_start")
            params["f_start"] = self.start
        if self.end:
            parts.append("k.date <= $f_end")
            params["f_end"] = self.end
        for name in ("kind", "department", "urgency", "handler"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"coalesce(k.{name}, '{UNKNOWN}') = $f_{name}")
                params[f"f_{name}"] = value
        if self.owner is not None:
            parts.append(f"coalesce(c.owner, '{UNKNOWN}') = $f_owner")
            params["f_owner"] = self.owner
        if self.value is not None:
            run = flags.newest_run_id(cur, today)
            parts.append("k.customer_id IN (SELECT customer_id FROM segment_members WHERE run_id = $f_run AND value = $f_value)")
            params.update(f_run=run if run is not None else -1, f_value=VALUE_LABELS.index(self.value))
        return " AND ".join(parts), params


@dataclass(frozen=True)
class Drill:
    """The complaints behind one figure: an extra condition on the filtered set, and a title."""
    title: str
    condition: str = "TRUE"
    params: dict[str, Any] = field(default_factory=dict)


def _base(filters: ComplaintFilters, cur: Any, today: dt.date, people: bool = False) -> tuple[str, dict[str, Any]]:
    """The filtered complaints with both clocks' states; joined to the customers only when a filter
    or the result needs them (`people`: names and owners for a list)."""
    where, params = filters.sql(cur, today)
    promise = deadlines.clock_state_sql("k.promised_by", "k.resolved_on", "k.promise_breached_on")
    policy = deadlines.clock_state_sql("k.policy_deadline", "k.resolved_on", "k.policy_breached_on")
    join = people or filters.owner is not None
    sql = f"""
        SELECT k.*, {'c.owner' if join else 'NULL'} AS customer_owner, {'c.name' if join else 'NULL'} AS customer_name,
               {promise} AS promise_state, {policy} AS policy_state,
               CASE WHEN k.resolved_on IS NOT NULL AND k.resolved_on <= $today THEN date_diff('day', k.date, k.resolved_on) END
                   AS days_to_resolve
        FROM complaints k {'LEFT JOIN customers c ON c.customer_id = k.customer_id' if join else ''}
        WHERE {where} AND k.date <= $today"""
    return sql, {**params, "today": today}


def _frame(archive: Archive, filters: ComplaintFilters, today: dt.date | None, body: str,
           extra: dict[str, Any] | None = None, people: bool = False) -> pd.DataFrame:
    today = today or clock.today()
    cur = archive.cursor()
    try:
        base, params = _base(filters, cur, today, people)
        return cur.execute(f"WITH f AS ({base}) {body}", {**params, **(extra or {})}).df()
    finally:
        cur.close()


def overview(archive: Archive, filters: ComplaintFilters = ComplaintFilters(), today: dt.date | None = None) -> dict[str, Any]:
    """The tiles: complaints, open, open and late on either clock, kept share of the resolved with a
    deadline, loss, mean satisfaction after handling."""
    frame = _frame(archive, filters, today, f"""
        SELECT count(*) AS total,
               count(*) FILTER (WHERE stage IN ({_in(stages.OPEN_STAGES)})) AS open,
               count(*) FILTER (WHERE promise_state = '{deadlines.OPEN_LATE}' OR policy_state = '{deadlines.OPEN_LATE}') AS late,
               count(*) FILTER (WHERE policy_state = '{deadlines.KEPT}') AS kept,
               count(*) FILTER (WHERE policy_state IN ('{deadlines.KEPT}', '{deadlines.BREACHED}')) AS resolved_with_deadline,
               coalesce(sum(loss), 0) AS loss, avg(satisfaction) AS satisfaction,
               count(*) FILTER (WHERE NOT accepted) AS refused
        FROM f""")
    row = frame.iloc[0].to_dict()
    n = int(row["resolved_with_deadline"] or 0)
    row["kept_share"] = (int(row["kept"]) / n) if n else None
    return row


def _in(values: Any) -> str:
    return ", ".join(f"'{v}'" for v in sorted(values))


def counts_by(archive: Archive, dimension: str, filters: ComplaintFilters = ComplaintFilters(),
              today: dt.date | None = None) -> pd.DataFrame:
    """Complaints and loss per value of a dimension (投诉类型, 责任部门, 处理方式, …), largest first."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"没有「{dimension}」这一维度")
    return _frame(archive, filters, today, f"""
        SELECT coalesce(CAST({dimension} AS VARCHAR), '{UNKNOWN}') AS label, count(*) AS complaints,
               coalesce(sum(loss), 0) AS loss
        FROM f GROUP BY 1 ORDER BY complaints DESC, label""")


def monthly_trend(archive: Archive, filters: ComplaintFilters = ComplaintFilters(), today: dt.date | None = None) -> pd.DataFrame:
    return _frame(archive, filters, today, """
        SELECT strftime(date_trunc('month', date), '%Y-%m') AS month, count(*) AS complaints,
               count(*) FILTER (WHERE resolved_on IS NOT NULL) AS resolved, coalesce(sum(loss), 0) AS loss
        FROM f GROUP BY 1 ORDER BY 1""")


def pareto(archive: Archive, by: str = "count", filters: ComplaintFilters = ComplaintFilters(),
           today: dt.date | None = None) -> pd.DataFrame:
    """Root causes by count (or by loss), largest first, with each one's share and the cumulative
    share; `vital` marks the causes up to and including the one that crosses 80 %."""
    measure = "count(*)" if by == "count" else "coalesce(sum(loss), 0)"
    frame = _frame(archive, filters, today, f"""
        SELECT coalesce(root_cause, '{UNKNOWN}') AS cause, {measure} AS value FROM f GROUP BY 1
        ORDER BY value DESC, cause""")
    total = float(frame["value"].sum()) if len(frame) else 0.0
    frame["share"] = frame["value"].astype(float) / total if total else 0.0
    frame["cumulative"] = frame["share"].cumsum()
    frame["vital"] = (frame["cumulative"] - frame["share"]) < 0.8
    return frame


def deadline_table(archive: Archive, filters: ComplaintFilters = ComplaintFilters(), today: dt.date | None = None) -> pd.DataFrame:
    """Per clock (承诺期限 / 政策期限): how many accepted complaints are in each state (one pass)."""
    frame = _frame(archive, filters, today, """
        SELECT promise_state, policy_state, count(*) AS n FROM f WHERE accepted GROUP BY ALL""")
    rows = []
    for clock_name, column in (("承诺办理期限", "promise_state"), ("政策期限", "policy_state")):
        counts = frame.groupby(column)["n"].sum() if len(frame) else pd.Series(dtype=int)
        rows.append({"期限": clock_name, **{state: int(counts.get(state, 0)) for state in deadlines.CLOCK_STATES}})
    return pd.DataFrame(rows, columns=["期限", *deadlines.CLOCK_STATES])


def resolution_day_bands(archive: Archive, filters: ComplaintFilters = ComplaintFilters(), today: dt.date | None = None) -> pd.DataFrame:
    """How long resolved complaints took, in bands of days."""
    cases = " ".join(f"WHEN days_to_resolve >= {lo}" + (f" AND days_to_resolve <= {hi}" if hi is not None else "")
                     + f" THEN '{label}'" for label, lo, hi in RESOLVE_BANDS)
    frame = _frame(archive, filters, today, f"""
        SELECT CASE {cases} END AS band, count(*) AS complaints FROM f WHERE days_to_resolve IS NOT NULL GROUP BY 1""")
    counts = dict(zip(frame["band"], frame["complaints"]))
    return pd.DataFrame({"band": [b for b, _, _ in RESOLVE_BANDS], "complaints": [int(counts.get(b, 0)) for b, _, _ in RESOLVE_BANDS]})


def breach_rate_by(archive: Archive, dimension: str, filters: ComplaintFilters = ComplaintFilters(),
                   today: dt.date | None = None) -> pd.DataFrame:
    """Per department (or handler): complaints with a policy deadline, breached (resolved late or
    open and late), and the rate."""
    frame = _frame(archive, filters, today, f"""
        SELECT coalesce({dimension}, '{UNKNOWN}') AS label, count(*) AS with_deadline,
               count(*) FILTER (WHERE policy_state IN ('{deadlines.BREACHED}', '{deadlines.OPEN_LATE}')) AS breached
        FROM f WHERE accepted AND policy_deadline IS NOT NULL GROUP BY 1 ORDER BY breached DESC, label""")
    frame["rate"] = frame["breached"] / frame["with_deadline"].where(frame["with_deadline"] > 0)
    return frame


def losses(archive: Archive, filters: ComplaintFilters = ComplaintFilters(), today: dt.date | None = None) -> pd.DataFrame:
    """客户投诉统计表: loss per department and handling method (退货 / 换货 / 折扣 / 维修 / …), with totals."""
    frame = _frame(archive, filters, today, f"""
        SELECT coalesce(department, '{UNKNOWN}') AS department, coalesce(resolution, '{UNKNOWN}') AS resolution,
               coalesce(sum(loss), 0) AS loss FROM f GROUP BY ALL""")
    if frame.empty:
        return pd.DataFrame(columns=["责任部门", "合计"])
    table = frame.pivot_table(index="department", columns="resolution", values="loss", aggfunc="sum", fill_value=0)
    table["合计"] = table.sum(axis=1)
    table.loc["合计"] = table.sum(axis=0)
    return table.reset_index().rename(columns={"department": "责任部门"})


def repeat_complainers(reader: PersonalData, settings: ComplaintSettings, filters: ComplaintFilters = ComplaintFilters(),
                       today: dt.date | None = None, limit: int = 100) -> pd.DataFrame:
    """Customers with at least `repeat_min` complaints in the rolling `repeat_window_days` to today,
    most first, names masked for the reader."""
    today = today or clock.today()
    frame = _frame(reader.archive, filters, today, """
        SELECT customer_id, any_value(customer_name) AS name, any_value(customer_owner) AS owner, count(*) AS complaints,
               max(date) AS last_date
        FROM f WHERE date > $since GROUP BY customer_id HAVING count(*) >= $min
        ORDER BY complaints DESC, last_date DESC, customer_id LIMIT $limit""",
        {"since": today - dt.timedelta(days=settings.repeat_window_days), "min": settings.repeat_min, "limit": limit},
        people=True)
    masked = list(reader.mask_rows("customers", ["name"], [(r.name, r.owner) for r in frame.itertuples()]))
    frame["name"] = [m[0] for m in masked]
    return frame.drop(columns=["owner"])


def rate_per_segment(archive: Archive, filters: ComplaintFilters = ComplaintFilters(), today: dt.date | None = None) -> pd.DataFrame:
    """Per value segment of the newest classification: customers, complainers in the filtered set, rate."""
    today = today or clock.today()
    cur = archive.cursor()
    try:
        run = flags.newest_run_id(cur, today)
        if run is None:
            return pd.DataFrame(columns=["segment", "customers", "complainers", "rate"])
        base, params = _base(filters, cur, today)
        frame = cur.execute(f"""
            WITH f AS ({base})
            SELECT sm.value AS code, count(*) AS customers,
                   count(*) FILTER (WHERE sm.customer_id IN (SELECT customer_id FROM f)) AS complainers
            FROM segment_members sm WHERE sm.run_id = $run GROUP BY 1 ORDER BY 1""", {**params, "run": run}).df()
    finally:
        cur.close()
    frame.insert(0, "segment", [VALUE_LABELS[int(c)] for c in frame.pop("code")])
    frame["rate"] = frame["complainers"] / frame["customers"].where(frame["customers"] > 0)
    return frame


DRILL_COLUMNS = ["受理编号", "受理日期", "客户", "投诉类型", "紧急程度", "处理阶段", "责任部门", "投诉原因", "承诺期限", "承诺状态",
                 "政策期限", "政策状态", "损失金额", "承办人"]


def drill_page(reader: PersonalData, filters: ComplaintFilters, drill: Drill, today: dt.date | None = None,
               limit: int = 200) -> tuple[pd.DataFrame, int]:
    """The complaints behind a figure (newest first), masked, and how many there are."""
    today = today or clock.today()
    cur = reader.archive.cursor()
    try:
        base, params = _base(filters, cur, today, people=True)
        params = {**params, **drill.params}
        total = int(cur.execute(f"WITH f AS ({base}) SELECT count(*) FROM f WHERE {drill.condition}", params).fetchall()[0][0])
        rows = cur.execute(f"""WITH f AS ({base})
            SELECT complaint_id, date, customer_name, kind, urgency, stage, department, root_cause, promised_by,
                   promise_state, policy_deadline, policy_state, loss, handler, customer_owner
            FROM f WHERE {drill.condition} ORDER BY date DESC, complaint_id DESC LIMIT $limit""",
                           {**params, "limit": limit}).fetchall()
    finally:
        cur.close()
    masked = reader.mask_rows("customers", ["name"], [(r[2], r[-1]) for r in rows])
    data = [[r[0], r[1], name, *r[3:14]] for r, (name,) in zip(rows, masked)]
    return pd.DataFrame(data, columns=DRILL_COLUMNS), total


def drill_for(dimension: str, label: str) -> Drill:
    """The drill-down of one bar of `counts_by(dimension)`."""
    return Drill(f"{DIMENSIONS[dimension]}：{label}", f"coalesce(CAST({dimension} AS VARCHAR), '{UNKNOWN}') = $drill",
                 {"drill": label})


def drill_state(clock_name: str, state: str) -> Drill:
    column = "promise_state" if clock_name == "承诺办理期限" else "policy_state"
    return Drill(f"{clock_name}：{state}", f"accepted AND {column} = $drill", {"drill": state})

