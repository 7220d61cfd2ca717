"""The classification rules as SQL: one run classifies every customer as of D (see the package's
docstring for the rules and their windows), then the archive-wide cuts, then one INSERT of every
customer's labels and the figures their reasons quote."""
from __future__ import annotations

import datetime as dt
import json
import math
import time
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from crm.customers import activity
from crm.db import fetch_one, release_memory, scalar
from crm.segments.dates import is_month_end, months_before
from crm.segments.labels import UNKNOWN, _quote
from crm.segments.model import SegmentRun
from crm.settings import SegmentSettings
from crm.vocabulary import COMPLAINT_KIND, PURCHASE_KINDS, RETURN_KIND

if TYPE_CHECKING:
    import duckdb

    from crm.db import Archive

# ------------------------------------------------------------------ the computation
def _windows(D: dt.date, s: SegmentSettings) -> dict[str, Any]:
    return {
        "d": D,
        "new_cut": months_before(D, s.new_customer_months),
        "churn_cut": months_before(D, s.churn_risk_months),
        "value_from": months_before(D, s.value_window_months),
        "r1": D - dt.timedelta(days=s.rising_window_days),
        "r2": D - dt.timedelta(days=2 * s.rising_window_days),
        "hf_from": D - dt.timedelta(days=s.high_frequency_days),
        "sleep_cut": months_before(D, s.sleeping_months),
        "c_from": months_before(D, s.complaint_months),
        "rfm_from": months_before(D, s.rfm_window_months),
        "p1": months_before(D, 1), "p3": months_before(D, 3), "p12": months_before(D, 12),
    }


def _net_amount_sql(alias: str = "") -> str:
    """A transaction's contribution to revenue: purchases and renewals add, returns subtract
    whatever sign they were entered with, other kinds count nothing (NULL)."""
    col = f"{alias}." if alias else ""
    buy = ", ".join(_quote(k) for k in PURCHASE_KINDS)
    return (f"CASE WHEN {col}kind IN ({buy}) THEN {col}amount "
            f"WHEN {col}kind = {_quote(RETURN_KIND)} THEN -abs({col}amount) END")


def facts_sql(D: dt.date, s: SegmentSettings, *, from_summary: bool = False) -> tuple[str, dict[str, Any]]:
    """(customer_id, owner, region, industry, first_contact, and every figure the rules use) for
    every customer that exists as of D.

    One aggregate per kind of record, each computing only what that kind feeds (transactions:
    purchases, revenue windows, last dates; interactions: the last one and the recent count;
    complaints, with the few 投诉 transactions: the last one in the window), joined to the
    customers. A single aggregate over the union of all records was a third slower: every row
    then paid for every figure. Revenue windows of equal length are summed once (12 months is
    usually the value window, the RFM window and the 近 12 个月 period alike).

    `from_summary`: take the first/last dates from the customers' activity summary (crm.customers.activity)
    and read only the purchases and returns inside the revenue windows and the interactions of
    the high-frequency window. Exact only when D is on or after every summary date (`_compute`
    checks); it halves the work, since most of a run's cost is reading every record ever made.
    """
    w = _windows(D, s)
    buy = ", ".join(_quote(k) for k in PURCHASE_KINDS)
    params: dict[str, Any] = {k: w[k] for k in ("d", "r1", "r2", "rfm_from", "hf_from", "c_from")}
    aliases: dict[dt.date, str] = {}
    for key in ("value_from", "rfm_from"):
        if w[key] not in aliases:
            aliases[w[key]] = f"rev_{len(aliases)}"
            params[f"{aliases[w[key]]}_from"] = w[key]
    columns = {"revenue": aliases[w["value_from"]], "monetary": aliases[w["rfm_from"]]}
    sums = ", ".join(f"sum(money) FILTER (date > ${alias}_from) AS {alias}" for alias in aliases.values())
    money = _net_amount_sql()
    windowed = f"""
               sum(money) FILTER (date > $r1) AS revenue_recent,
               sum(money) FILTER (date > $r2 AND date <= $r1) AS revenue_before,
               count(*) FILTER (buy AND date > $rfm_from) AS purchases,
               {sums}"""
    if from_summary:
        params["window_from"] = min(w["r2"], w["rfm_from"], *aliases)
        records = f"""
    tx AS (
        SELECT customer_id, {windowed}
        FROM (SELECT customer_id, date, kind IN ({buy}) AS buy, {money} AS money FROM transactions
              WHERE date > $window_from AND date <= $d AND kind IN ({buy}, {_quote(RETURN_KIND)}))
        GROUP BY customer_id
    ),
    ia AS (
        SELECT customer_id, count(*) AS interactions_recent FROM interactions
        WHERE date > $hf_from AND date <= $d GROUP BY customer_id
    ),"""
        dates = ("c.first_purchase AS first_buy, c.last_purchase AS last_buy, c.last_transaction AS last_tx, "
                 "c.last_logged_interaction AS last_int")
        has_record = "c.last_transaction IS NOT NULL OR c.last_logged_interaction IS NOT NULL"
    else:
        records = f"""
    tx AS (
        SELECT customer_id,
               min(date) FILTER (buy) AS first_buy,
               max(date) FILTER (buy) AS last_buy,
               max(date) AS last_tx, {windowed}
        FROM (SELECT customer_id, date, kind IN ({buy}) AS buy, {money} AS money FROM transactions WHERE date <= $d)
        GROUP BY customer_id
    ),
    ia AS (
        SELECT customer_id, max(date) AS last_int, count(*) FILTER (date > $hf_from) AS interactions_recent
        FROM interactions WHERE date <= $d GROUP BY customer_id
    ),"""
        dates = "tx.first_buy, tx.last_buy, tx.last_tx, ia.last_int"
        has_record = "tx.customer_id IS NOT NULL OR ia.customer_id IS NOT NULL"
    unknown = _quote(UNKNOWN)
    sql = f"""
    WITH {records}
    co AS (  -- every complaint on file as of D (it makes the customer exist), with the few 投诉 transactions
        SELECT customer_id, max(date) FILTER (date > $c_from) AS last_complaint FROM (
            SELECT customer_id, date FROM complaints WHERE date <= $d
            UNION ALL
            SELECT customer_id, date FROM transactions WHERE kind = {_quote(COMPLAINT_KIND)} AND date > $c_from AND date <= $d)
        GROUP BY customer_id
    ),
    joined AS (
        SELECT c.customer_id,
               {", ".join(f"coalesce(nullif(trim(c.{col}), ''), {unknown}) AS {col}" for col in ("owner", "region", "industry"))},
               c.first_contact, {dates}, co.last_complaint,
               coalesce(ia.interactions_recent, 0) AS interactions_recent,
               coalesce(tx.revenue_recent, 0) AS revenue_recent, coalesce(tx.revenue_before, 0) AS revenue_before,
               coalesce(tx.purchases, 0) AS purchases,
               {", ".join(f"coalesce(tx.{alias}, 0) AS {name}" for name, alias in columns.items())},
               CASE WHEN c.last_interaction <= $d THEN c.last_interaction END AS logged_on_profile,
               {has_record} OR co.customer_id IS NOT NULL
                   OR c.first_contact <= $d OR c.last_interaction <= $d
                   OR (c.first_contact IS NULL AND CAST(c.created_at AS DATE) <= $d) AS on_file
        FROM customers c
        LEFT JOIN tx ON tx.customer_id = c.customer_id
        LEFT JOIN ia ON ia.customer_id = c.customer_id
        LEFT JOIN co ON co.customer_id = c.customer_id
    )
    SELECT customer_id, owner, region, industry, first_contact, first_buy, last_buy, last_complaint, interactions_recent,
           revenue_recent, revenue_before, purchases, revenue, monetary,
           greatest(last_int, logged_on_profile) AS last_interaction,
           greatest(last_tx, last_int, logged_on_profile) AS last_contact
    FROM joined WHERE on_file"""
    return sql, params


def _scores_sql(prefix: str = "") -> str:
    """R, F and M scores (1–5) from the quintile cuts bound as $r_cuts, $f_cuts, $m_cuts."""
    def score(value: str, cuts: str) -> str:
        return ("(1 + " + " + ".join(f"({value} > {cuts}[{i}])::INTEGER" for i in range(1, 5)) + ")")
    return (f"CASE WHEN {prefix}first_buy IS NOT NULL AND $rfm THEN {score(prefix + 'last_buy', '$r_cuts')} END AS r, "
            f"CASE WHEN {prefix}first_buy IS NOT NULL AND $rfm THEN {score(prefix + 'purchases', '$f_cuts')} END AS f, "
            f"CASE WHEN {prefix}first_buy IS NOT NULL AND $rfm THEN {score(prefix + 'monetary', '$m_cuts')} END AS m")


MEMBER_COLUMNS = ("run_id", "customer_id", "owner", "region", "industry", "stage", "value", "behaviour", "rfm", "r", "f",
                  "m", "revenue", "revenue_recent", "revenue_before",
                  "purchases", "monetary", "interactions_recent", "first_contact", "first_buy", "last_buy",
                  "last_contact", "last_interaction", "last_complaint")

_INSERT_SQL = """
INSERT INTO segment_members ({columns})
SELECT $run_id, customer_id, owner, region, industry,
       CASE WHEN first_buy IS NULL THEN 0
            WHEN last_contact <= $churn_cut THEN 3
            WHEN first_buy >= $new_cut THEN 1
            ELSE 2 END,
       CASE WHEN revenue > 0 AND (revenue >= $floor OR revenue >= $hv_cut) THEN 0
            WHEN revenue_recent > 0 AND revenue_recent >= $factor * revenue_before THEN 1
            WHEN revenue > $median THEN 2
            ELSE 3 END,
       (CASE WHEN interactions_recent >= $hf_min THEN 1 ELSE 0 END)
       + (CASE WHEN last_contact <= $sleep_cut OR (last_contact IS NULL AND first_contact <= $sleep_cut)
               THEN 2 ELSE 0 END)
       + (CASE WHEN last_complaint IS NOT NULL THEN 4 ELSE 0 END),
       CASE WHEN r IS NOT NULL THEN 4 * (m <= $m_avg)::INTEGER + 2 * (r <= $r_avg)::INTEGER + (f <= $f_avg)::INTEGER END,
       r, f, m,
       revenue, revenue_recent, revenue_before, purchases, monetary,
       interactions_recent, first_contact, first_buy, last_buy, last_contact, last_interaction, last_complaint
FROM (SELECT *, {scores} FROM seg_facts)
""".replace("{columns}", ", ".join(MEMBER_COLUMNS))


def _cuts(values: Any) -> list[Any] | None:
    return list(values) if values is not None else None


def _compute(archive: "Archive", D: dt.date, s: SegmentSettings, version: str,
             timings: dict[str, float] | None = None) -> SegmentRun:
    started = time.perf_counter()
    activity.ensure_current(archive)  # normally a no-op: every write keeps the summary current
    cur = archive.cursor()
    try:
        newest = activity.newest_activity(cur)
    finally:
        cur.close()
    marks = {"start": started, "summary": time.perf_counter()}
    w = _windows(D, s)
    sql, params = facts_sql(D, s, from_summary=newest is None or newest <= D)
    with archive.cache_transaction() as tx:
        tx.execute("DROP TABLE IF EXISTS temp.seg_facts")
        tx.execute(f"CREATE TEMP TABLE seg_facts AS {sql}", params)
        marks["facts"] = time.perf_counter()
        # 高价值 by rank: in when fewer than top% of all customers earn strictly more, i.e. at least
        # the k-th largest revenue with k = ceil(n × top% / 100) (ties at the cut are all in). The
        # k-th largest is read as a discrete quantile in the same pass as the other cuts (a top-k
        # sort was a third of the cuts' time) and checked exactly in the second pass.
        n = int(scalar(tx, "SELECT count(*) FROM seg_facts"))
        k = math.ceil(Fraction(n) * Fraction(str(s.high_value_top_percent)) / 100) if n else 0
        q_k = (n - k + 0.5) / n if k >= 1 else 0.5  # ascending position n − k, half a place from either side
        buyers, median, r_cuts, f_cuts, m_cuts, hv_cut = fetch_one(tx, f"""
            SELECT count(first_buy), coalesce(median(revenue), 0),
                   quantile_disc(last_buy, {list(QUINTILES)}) FILTER (first_buy IS NOT NULL),
                   quantile_disc(purchases, {list(QUINTILES)}) FILTER (first_buy IS NOT NULL),
                   quantile_disc(monetary, {list(QUINTILES)}) FILTER (first_buy IS NOT NULL),
                   quantile_disc(revenue, ?)
            FROM seg_facts""", [q_k])
        rfm = buyers >= s.rfm_min_customers and buyers > 0
        named = {"rfm": rfm, "r_cuts": _cuts(r_cuts) or [D] * 4, "f_cuts": _cuts(f_cuts) or [0] * 4,
                 "m_cuts": _cuts(m_cuts) or [0.0] * 4}
        r_avg, f_avg, m_avg, above, at_least = tx.execute(
            f"SELECT avg(r), avg(f), avg(m), count(*) FILTER (revenue > $cut), count(*) FILTER (revenue >= $cut) "
            f"FROM (SELECT {_scores_sql()}, revenue FROM seg_facts)", {**named, "cut": hv_cut}).fetchall()[0]
        if k < 1:
            hv_cut = None
        elif not above < k <= at_least:  # not the k-th largest after all: sort for it
            hv_cut = scalar(tx, "SELECT min(revenue) FROM (SELECT revenue FROM seg_facts ORDER BY revenue DESC LIMIT ?)",
                            [k])
        r_avg, f_avg, m_avg = (float(a) if a is not None and rfm else 0.0 for a in (r_avg, f_avg, m_avg))
        run_id = int(scalar(tx, "SELECT nextval('segment_run_seq')"))
        marks["cuts"] = time.perf_counter()
        tx.execute(_INSERT_SQL.replace("{scores}", _scores_sql()), {
            **named, "run_id": run_id, "churn_cut": w["churn_cut"], "new_cut": w["new_cut"],
            "floor": float(s.high_value_floor), "hv_cut": float(hv_cut) if hv_cut is not None and hv_cut > 0 else None,
            "factor": float(s.rising_factor), "median": float(median), "hf_min": s.high_frequency_min,
            "sleep_cut": w["sleep_cut"], "r_avg": r_avg, "f_avg": f_avg, "m_avg": m_avg,
        })
        tx.execute("DROP TABLE temp.seg_facts")
        marks["store"] = time.perf_counter()
        stats = {
            "customers": int(n), "buyers": int(buyers), "median": float(median),
            "high_value_k": int(k), "high_value_cut": float(hv_cut) if hv_cut is not None else None,
            "rfm": bool(rfm), "r_cuts": [d.isoformat() for d in named["r_cuts"]] if rfm else None,
            "f_cuts": [int(x) for x in named["f_cuts"]] if rfm else None,
            "m_cuts": [float(x) for x in named["m_cuts"]] if rfm else None,
            "r_avg": r_avg if rfm else None, "f_avg": f_avg if rfm else None, "m_avg": m_avg if rfm else None,
        }
        seconds = time.perf_counter() - started
        tx.execute(
            "INSERT INTO segment_runs (run_id, as_of, month_end, data_version, settings_version, customers, stats, seconds)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, D, is_month_end(D), version, s.signature, n, json.dumps(stats, ensure_ascii=False), seconds])
        evict_stale_runs(tx, version, s.signature)
    if timings is not None:
        timings.update(summary=marks["summary"] - marks["start"], facts=marks["facts"] - marks["summary"], cuts=marks["cuts"] - marks["facts"],
                       store=marks["store"] - marks["cuts"], total=time.perf_counter() - started)
    release_memory(archive)
    return SegmentRun(run_id, D, is_month_end(D), int(n), stats, s, True, seconds)


def evict_stale_runs(tx: "duckdb.DuckDBPyConnection", version: str, signature: str) -> None:
    """Drop runs of older data or other thresholds, and all but the newest MAX_ADHOC_RUNS non-month-end runs."""
    stale = [r for (r,) in tx.execute(
        """SELECT run_id FROM segment_runs
           WHERE data_version <> ? OR settings_version <> ?
              OR (NOT month_end AND run_id NOT IN (
                    SELECT run_id FROM segment_runs WHERE NOT month_end AND data_version = ? AND settings_version = ?
                    ORDER BY computed_at DESC, run_id DESC LIMIT ?))""",
        [version, signature, version, signature, MAX_ADHOC_RUNS]).fetchall()]
    if stale:
        tx.execute("DELETE FROM segment_members WHERE list_contains(?, run_id)", [stale])
        tx.execute("DELETE FROM segment_runs WHERE list_contains(?, run_id)", [stale])


MAX_ADHOC_RUNS = 8  # runs for dates that are not month ends kept besides the month-end history


QUINTILES = (0.2, 0.4, 0.6, 0.8)
