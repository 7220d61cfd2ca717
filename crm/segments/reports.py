"""Aggregates of a run for the charts and the two classic tables (客户增减分析表, 客户区域分析表);
pandas receives aggregates only."""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd

from crm.db import fetch_one
from crm.segments.dates import months_before
from crm.segments.labels import (
    ACTIVE_STAGES,
    BEHAVIOURS,
    GROWTH_PERIODS,
    LABELS,
    MIGRATION_DIMENSIONS,
    NOT_FILED,
    UNKNOWN,
    _quote,
    label_sql,
)
from crm.segments.model import SegmentFilters, SegmentRun
from crm.segments.reasons import behaviour_labels
from crm.db import release_memory
from crm.segments.rules import _net_amount_sql
from crm.segments.runs import data_version, segment_run
from crm.settings import SegmentSettings, segment_settings

if TYPE_CHECKING:

    from crm.db import Archive


def _q(archive: "Archive", sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> pd.DataFrame:
    cur = archive.cursor()
    try:
        return cur.execute(sql, params if isinstance(params, dict) else list(params)).df()
    finally:
        cur.close()


# ------------------------------------------------------------------ aggregates for the charts
def overview(archive: "Archive", run: SegmentRun, filters: SegmentFilters = SegmentFilters()) -> pd.DataFrame:
    """Customers and revenue per label of every dimension, in one grouped scan of the run.

    Columns: dimension (a DIMENSIONS key, or "total"), label, customers, revenue (the value window's).
    Labels of stage/value/behaviour/rfm come in their rule order, all of them (zero when empty);
    industry and region by customers, most first.
    """
    where, params = filters.sql("sm")
    behaviour_cols = ", ".join(
        f"count(*) FILTER (behaviour & {1 << i} <> 0) AS b{i}_n, coalesce(sum(revenue) FILTER (behaviour & {1 << i} <> 0), 0) AS b{i}_r"
        for i in range(len(BEHAVIOURS)))
    sql = f"""
    SELECT grouping(stage, value, rfm, ind, reg) AS g, stage, value, rfm, ind, reg,
           count(*) AS n, coalesce(sum(revenue), 0) AS rev, {behaviour_cols}
    FROM (SELECT stage, value, rfm, industry AS ind, region AS reg, behaviour, revenue FROM segment_members sm
          WHERE sm.run_id = ? AND {where}) t
    GROUP BY GROUPING SETS ((stage), (value), (rfm), (ind), (reg), ())"""
    raw = _q(archive, sql, [run.run_id, *params])
    rows: list[dict[str, Any]] = []
    total = raw[raw["g"] == 0b11111]
    n_total = int(total["n"].iloc[0]) if len(total) else 0
    rev_total = float(total["rev"].iloc[0]) if len(total) else 0.0
    for dim, bit in (("stage", 0b01111), ("value", 0b10111), ("rfm", 0b11011)):
        part = raw[raw["g"] == bit]
        counts = {int(k): (int(n), float(r)) for k, n, r in zip(part[dim], part["n"], part["rev"]) if pd.notna(k)}
        for code, label in enumerate(LABELS[dim]):
            n, r = counts.get(code, (0, 0.0))
            rows.append({"dimension": dim, "label": label, "customers": n, "revenue": r})
    for i, label in enumerate(BEHAVIOURS):
        n = int(total[f"b{i}_n"].iloc[0]) if len(total) else 0
        r = float(total[f"b{i}_r"].iloc[0]) if len(total) else 0.0
        rows.append({"dimension": "behaviour", "label": label, "customers": n, "revenue": r})
    for dim, col, bit in (("industry", "ind", 0b11101), ("region", "reg", 0b11110)):
        part = raw[raw["g"] == bit].sort_values(["n", col], ascending=[False, True])
        rows.extend({"dimension": dim, "label": str(k), "customers": int(n), "revenue": float(r)}
                    for k, n, r in zip(part[col], part["n"], part["rev"]))
    rows.append({"dimension": "total", "label": "合计", "customers": n_total, "revenue": rev_total})
    return pd.DataFrame(rows, columns=["dimension", "label", "customers", "revenue"])


def rfm_grid(archive: "Archive", run: SegmentRun, filters: SegmentFilters = SegmentFilters()) -> pd.DataFrame:
    """The R × F grid: customers, revenue and the average M score per (r, f) cell."""
    where, params = filters.sql("sm")
    return _q(archive, f"""
        SELECT r, f, count(*) AS customers, coalesce(sum(monetary), 0)::DOUBLE AS monetary,
               avg(m)::DOUBLE AS m_avg
        FROM segment_members sm WHERE sm.run_id = ? AND r IS NOT NULL AND {where}
        GROUP BY r, f ORDER BY r, f""", [run.run_id, *params])


_TAG_LISTS = """(SELECT customer_id, string_agg(tag, '-' ORDER BY tag) AS tags
                FROM (SELECT DISTINCT customer_id, tag FROM customer_tags) GROUP BY customer_id)"""


def _tag_combo_sql(alias: str, tags: str) -> str:
    """The combined label 行业-价值-标签… of a member with its tags string."""
    return f"concat_ws('-', {alias}.industry, {label_sql('value', alias)}, {tags})"


def tag_combinations(archive: "Archive", run: SegmentRun, filters: SegmentFilters = SegmentFilters(),
                     top: int = 15) -> pd.DataFrame:
    """The most common combined labels 行业-价值-标签… (e.g. 制造业-高价值-紧急需求) among tagged customers."""
    where, params = filters.sql("sm")
    return _q(archive, f"""
        SELECT {_tag_combo_sql('sm', 'tg.tags')} AS combination, count(*) AS customers,
               round(coalesce(sum(sm.revenue), 0), 2)::DOUBLE AS revenue
        FROM segment_members sm JOIN {_TAG_LISTS} tg ON tg.customer_id = sm.customer_id
        WHERE sm.run_id = ? AND {where}
        GROUP BY combination ORDER BY customers DESC, combination LIMIT ?""", [run.run_id, *params, top])


def migration(archive: "Archive", before: SegmentRun, after: SegmentRun, dimension: str = "stage",
              filters: SegmentFilters = SegmentFilters(), target_dimension: str | None = None) -> pd.DataFrame:
    """Customers per (label at `before`, label at `after`): "of last quarter's 高价值, how many are now 流失风险".

    `dimension` labels the earlier date, `target_dimension` (default the same) the later one; both
    single-valued (需求阶段, 客户价值, RFM). A customer not yet on file at the earlier date shows as
    NOT_FILED, one without an RFM score as （未评分）. Filters apply to the customer's attributes at
    the later date. Columns: source, target, customers.
    """
    target_dimension = target_dimension or dimension
    for dim in (dimension, target_dimension):
        if dim not in MIGRATION_DIMENSIONS:
            raise ValueError(f"migration by {dim!r} is not supported")
    where, params = filters.sql("b")
    return _q(archive, f"""
        SELECT {_migration_source_sql(dimension, 'a')} AS source,
               coalesce({label_sql(target_dimension, 'b')}, '（未评分）') AS target, count(*) AS customers
        FROM segment_members b
        LEFT JOIN segment_members a ON a.customer_id = b.customer_id AND a.run_id = ?
        WHERE b.run_id = ? AND {where}
        GROUP BY ALL ORDER BY source, target""", [before.run_id, after.run_id, *params])


def _migration_source_sql(dimension: str, alias: str) -> str:
    return (f"CASE WHEN {alias}.customer_id IS NULL THEN {_quote(NOT_FILED)} "
            f"ELSE coalesce({label_sql(dimension, alias)}, '（未评分）') END")


def migration_order(dimension: str, *, source: bool) -> list[str]:
    """Row (source) or column (target) order of a transition matrix of `dimension`."""
    return [*([NOT_FILED] if source else []), *LABELS[dimension], "（未评分）"]


# ------------------------------------------------------------------ the two classic tables
GROWTH_COLUMNS = ["期间", "起始日", "截止日", "期初客户数", "本期新增", "本期回流", "本期流失", "期末客户数", "净增减",
                  "增减率", "老客户收入", "新客户收入", "收入合计"]


def growth_table(archive: "Archive", as_of: dt.date, months: int = 1, filters: SegmentFilters = SegmentFilters(),
                 *, version: str | None = None, settings: SegmentSettings | None = None) -> pd.DataFrame:
    """客户增减分析表: the period (D − months, D] against the period before it.

    Customers are the active ones (新成交客户 or 老客户: bought and not lapsed). 期末 = 期初 + 新增 +
    回流 − 流失, where 新增 is a first purchase in the period, 回流 a customer lapsed at the start
    and active again at the end, 流失 a customer active at the start (or new in the period) who is
    not active at the end. Revenue is that of the period, from customers whose first purchase was
    before it (老客户收入) or in it (新客户收入).

    Only the run as of D is needed: whether a customer was active at the two earlier period
    boundaries follows from their first purchase (the run's, as of D) and whether any record, or
    the profile's 最近互动日期, falls in the churn window before each boundary — one pass over
    the records of those windows instead of two more full runs.
    """
    if months not in GROWTH_PERIODS:
        raise ValueError(f"period of {months} months is not supported")
    settings = settings or segment_settings(archive)
    version = version or data_version(archive)
    start = months_before(as_of, months)
    prev_start = months_before(start, months)
    run = segment_run(archive, as_of, version=version, settings=settings)
    active = ", ".join(str(x) for x in ACTIVE_STAGES)
    money = _net_amount_sql("t")
    where, params = filters.sql("sm")
    named_where, named_params = filters.named_sql("sm")
    cuts = {"d0": prev_start, "c0": months_before(prev_start, settings.churn_risk_months),
            "d1": start, "c1": months_before(start, settings.churn_risk_months)}
    cur = archive.cursor()
    try:
        # revenue of both periods in one pass over their transactions; a customer's first purchase
        # (as of D, the same as of any earlier date it is before) says old or new
        revenue = fetch_one(cur, f"""
            SELECT coalesce(sum({money}) FILTER (t.date > ? AND sm.first_buy <= ?), 0),
                   coalesce(sum({money}) FILTER (t.date > ? AND sm.first_buy > ?), 0),
                   coalesce(sum({money}) FILTER (t.date <= ? AND sm.first_buy <= ?), 0),
                   coalesce(sum({money}) FILTER (t.date <= ? AND sm.first_buy > ?), 0)
            FROM transactions t JOIN segment_members sm ON sm.customer_id = t.customer_id AND sm.run_id = ?
            WHERE t.date > ? AND t.date <= ? AND t.amount IS NOT NULL AND {where}""",
            [start, start, start, start, start, prev_start, start, prev_start, run.run_id, prev_start, as_of,
             *params])
        # active at d_k: bought on or before d_k, and in touch within the churn window (c_k, d_k]
        counts = cur.execute(f"""
            WITH touched AS (
                SELECT customer_id, bool_or(date > $c0 AND date <= $d0) AS t0, bool_or(date > $c1 AND date <= $d1) AS t1
                FROM (SELECT customer_id, date FROM transactions WHERE date > $c0 AND date <= $d1
                      UNION ALL SELECT customer_id, date FROM interactions WHERE date > $c0 AND date <= $d1
                      UNION ALL SELECT customer_id, last_interaction FROM customers
                                WHERE last_interaction > $c0 AND last_interaction <= $d1)
                GROUP BY customer_id
            ),
            flags AS (
                SELECT sm.first_buy <= $d0 AND coalesce(t.t0, false) AS a0,
                       sm.first_buy <= $d1 AND coalesce(t.t1, false) AS a1,
                       sm.stage IN ({active}) AS a2,
                       sm.first_buy > $d0 AND sm.first_buy <= $d1 AS new1,
                       sm.first_buy > $d1 AS new2
                FROM segment_members sm LEFT JOIN touched t ON t.customer_id = sm.customer_id
                WHERE sm.run_id = $run AND {named_where}
            )
            SELECT count(*) FILTER (a1), count(*) FILTER (new2), count(*) FILTER (a2 AND NOT a1 AND NOT new2),
                   count(*) FILTER ((a1 OR new2) AND NOT a2), count(*) FILTER (a2),
                   count(*) FILTER (a0), count(*) FILTER (new1), count(*) FILTER (a1 AND NOT a0 AND NOT new1),
                   count(*) FILTER ((a0 OR new1) AND NOT a1), count(*) FILTER (a1)
            FROM flags""", {**cuts, "run": run.run_id, **named_params}).fetchall()[0]
    finally:
        cur.close()
    release_memory(archive)  # the passes read the transactions: nothing on the page reads them again
    rows = []
    rev = {"本期": (revenue[0], revenue[1]), "上期": (revenue[2], revenue[3])}
    for label, (d0, d1), figures in (("本期", (start, as_of), counts[:5]), ("上期", (prev_start, start), counts[5:])):
        start_n, new_n, back_n, lost_n, end_n = (int(x) for x in figures)
        rev_old, rev_new = (round(float(x), 2) for x in rev[label])  # to the fen: no float noise downstream
        net = end_n - start_n
        rows.append({
            "期间": label, "起始日": d0 + dt.timedelta(days=1), "截止日": d1,
            "期初客户数": start_n, "本期新增": new_n, "本期回流": back_n, "本期流失": lost_n,
            "期末客户数": end_n, "净增减": net, "增减率": (net / start_n) if start_n else None,
            "老客户收入": rev_old, "新客户收入": rev_new, "收入合计": round(rev_old + rev_new, 2),
        })
    cur_row, prev_row = rows
    change: dict[str, Any] = {"期间": "增减", "起始日": None, "截止日": None}
    for col in GROWTH_COLUMNS[3:]:
        if col == "增减率":
            change[col] = None
            continue
        change[col] = cur_row[col] - prev_row[col]
        if isinstance(change[col], float):
            change[col] = round(change[col], 2)
    rows.append(change)
    return pd.DataFrame(rows, columns=GROWTH_COLUMNS)


REGION_COLUMNS = ["地区", "客户数", "客户占比", "收入", "收入占比", "高价值客户数", "户均收入"]


def region_table(archive: "Archive", run: SegmentRun, filters: SegmentFilters = SegmentFilters()) -> pd.DataFrame:
    """客户区域分析表: per region, customers and their share, revenue (value window) and its share."""
    where, params = filters.sql("sm")
    frame = _q(archive, f"""
        SELECT {label_sql('region', 'sm')} AS region, count(*) AS customers, coalesce(sum(revenue), 0)::DOUBLE AS revenue,
               count(*) FILTER (value = 0) AS high
        FROM segment_members sm WHERE sm.run_id = ? AND {where}
        GROUP BY region ORDER BY revenue DESC, customers DESC, region""", [run.run_id, *params])
    frame["revenue"] = frame["revenue"].round(2)  # to the fen, as every amount the app shows or exports
    n, rev = int(frame["customers"].sum()), round(float(frame["revenue"].sum()), 2)
    out = pd.DataFrame({
        "地区": frame["region"],
        "客户数": frame["customers"].astype(int),
        "客户占比": frame["customers"] / n if n else 0.0,
        "收入": frame["revenue"],
        "收入占比": frame["revenue"] / rev if rev else 0.0,
        "高价值客户数": frame["high"].astype(int),
        "户均收入": (frame["revenue"] / frame["customers"].where(frame["customers"] > 0)).round(2),
    })
    total = pd.DataFrame([{"地区": "合计", "客户数": n, "客户占比": 1.0 if n else 0.0, "收入": rev,
                           "收入占比": 1.0 if rev else 0.0, "高价值客户数": int(frame["high"].sum()),
                           "户均收入": round(rev / n, 2) if n else None}])
    return pd.concat([out, total], ignore_index=True) if len(out) else total


def labels_frame(archive: "Archive", run: SegmentRun) -> pd.DataFrame:
    """customer_id, stage, value, behaviours (list), rfm as labels — for tests and small archives only."""
    frame = _q(archive, f"""
        SELECT customer_id, {label_sql('stage')} AS stage, {label_sql('value')} AS value, behaviour,
               {label_sql('rfm')} AS rfm, r, f, m
        FROM segment_members sm WHERE run_id = ? ORDER BY customer_id""", [run.run_id])
    frame.insert(3, "behaviours", [behaviour_labels(b) for b in frame.pop("behaviour")])
    return frame


def filter_options(archive: "Archive") -> dict[str, list[str]]:
    """Values the page's filters offer: owners, regions, industries, tags (UNKNOWN last when some are empty)."""
    cur = archive.cursor()
    try:
        out: dict[str, list[str]] = {}
        for key, column in (("owners", "owner"), ("regions", "region"), ("industries", "industry")):
            rows = cur.execute(f"""
                SELECT v, n FROM (SELECT nullif(trim({column}), '') AS v, count(*) AS n FROM customers GROUP BY v)
                ORDER BY v IS NULL, n DESC, v""").fetchall()
            out[key] = [v if v is not None else UNKNOWN for v, _ in rows]
        out["tags"] = [t for (t,) in cur.execute(
            "SELECT tag FROM customer_tags GROUP BY tag ORDER BY count(*) DESC, tag").fetchall()]
        return out
    finally:
        cur.close()


