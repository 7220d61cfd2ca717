"""客户分类: every classification rule of PRODUCT.md, computed in DuckDB as of a reference date D.

One *run* classifies every customer of the archive as of D in a few set-based statements
(`_compute`): one aggregate per kind of record (transactions, interactions, complaints, all
dated on or before D) joined to the customers — or, when D is on or after every customer's
activity summary (crm.activity: today, this month's end), only the records inside the rules'
windows joined to that summary —, then the archive-wide figures the rules rank against (the
高价值 cut, the median, the RFM quintile cuts), then one INSERT of every customer's labels
and the figures their reasons quote into `segment_members`. Runs are cached in the archive
(`segment_runs`), keyed by D, a version of the data and the thresholds in force
(crm.settings), so a changed threshold or an import gives a new run and nothing stale is ever
shown. Month-end runs are the segment history: computed on demand for any past month from the
dated records, kept, and compared by `migration`. Charts, tables and drill-downs aggregate a
run in DuckDB; pandas only receives aggregates and the page of customers being shown. The app
computes the runs its page opens with ahead of time (`warm_in_background`), and the search
filters and the 客户360 profile read the day's run rather than applying the rules again.

Rules (window conventions shared with crm.profile: "in the last N" is (D − N, D]; "nothing
for N" means the last one is on or before D − N; months are calendar months, clamped to the
month's end):
- 需求阶段, exactly one: 潜在客户 no purchase (购买/续约) on or before D · 流失风险客户 bought, but
  the last interaction or transaction (or the profile's 最近互动日期) is on or before D − 6 months
  · 新成交客户 first purchase on or after D − 3 months · 老客户 otherwise.
- 客户价值, exactly one, first that applies: 高价值 revenue (purchases and renewals net of returns)
  in the last 12 months > 0 and ≥ 50,000 元 or in the top 10% of the customers (fewer than 10%
  earn strictly more, so ties at the cut are all in) · 潜力客户 revenue in the last 90 days > 0
  and ≥ 1.5 × the 90 days before · 中价值 above the median of all customers (no revenue counts
  as 0) · 低价值.
- 行为特征, any of: 高频互动 ≥ 3 interactions in the last 30 days · 沉睡客户 last interaction (or
  the profile's 最近互动日期; with none, the first-contact date) on or before D − 3 months ·
  投诉客户 a complaint (投诉登记 or a 投诉 transaction) in the last 12 months.
- 行业, 地区 from the profile.
- RFM over the customers who bought on or before D: R the last purchase date, F purchases and
  M revenue in the last 12 months, each scored 1–5 by quintile (score = 1 + the number of the
  four quintile cuts the value is above, so equal values score alike); R/F/M is 高 when its
  score is above the average score of those customers; the eight segments follow. With fewer
  than 5 buyers no RFM is given.
- A customer exists as of D when something about them is dated on or before D (first contact,
  a record, the profile's 最近互动日期), or, with no first-contact date, when they were filed.
"""
from __future__ import annotations

import calendar
import datetime as dt
import json
import math
import threading
import time
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import pandas as pd

from crm import activity, clock, config
from crm.db import fetch_one, scalar
from crm.settings import COMPLAINT_KIND, PURCHASE_KINDS, RETURN_KIND, SegmentSettings, segment_settings

if TYPE_CHECKING:
    import duckdb

    from crm.access import PersonalData
    from crm.db import Archive

# ------------------------------------------------------------------ labels (stored as codes)

STAGES = ("潜在客户", "新成交客户", "老客户", "流失风险客户")
VALUES = ("高价值", "潜力客户", "中价值", "低价值")
BEHAVIOURS = ("高频互动", "沉睡客户", "投诉客户")  # bits 1, 2, 4 of segment_members.behaviour
RFM_SEGMENTS = ("重要价值", "重要发展", "重要保持", "重要挽留", "一般价值", "一般发展", "一般保持", "一般挽留")
ACTIVE_STAGES = (1, 2)  # 新成交客户, 老客户: a customer who buys and has not lapsed
UNKNOWN = "未填写"  # an empty industry/region/owner
NOT_FILED = "（当时尚未建档）"

DIMENSIONS: dict[str, str] = {
    "stage": "需求阶段", "value": "客户价值", "behaviour": "行为特征", "industry": "行业", "region": "地区",
    "rfm": "RFM 分群",
}
LABELS: dict[str, tuple[str, ...]] = {"stage": STAGES, "value": VALUES, "behaviour": BEHAVIOURS, "rfm": RFM_SEGMENTS}
MIGRATION_DIMENSIONS = ("stage", "value", "rfm")

MAX_ADHOC_RUNS = 8  # runs for dates that are not month ends kept besides the month-end history
TRIM_MEMORY_TO = "64MB"  # see release_memory
BUSY_WORKING_MEMORY = 16 * 1024 * 1024  # more working memory than this: another query is running
QUINTILES = (0.2, 0.4, 0.6, 0.8)
GROWTH_PERIODS = {1: "近 1 个月", 3: "近 3 个月", 12: "近 12 个月"}


# ------------------------------------------------------------------ dates
def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (31 March − 1 month → 28/29 February), as DuckDB does."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def month_end(day: dt.date) -> dt.date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def is_month_end(day: dt.date) -> bool:
    return day == month_end(day)


def last_month_end(day: dt.date) -> dt.date:
    """The latest month end on or before `day`."""
    return day if is_month_end(day) else day.replace(day=1) - dt.timedelta(days=1)


def quarter_end_before(day: dt.date) -> dt.date:
    """The last quarter end strictly before the quarter `day` is in (the end of last quarter)."""
    first_month = 3 * ((day.month - 1) // 3) + 1
    return day.replace(month=first_month, day=1) - dt.timedelta(days=1)


def month_ends(upto: dt.date, count: int = 24) -> list[dt.date]:
    """The `count` latest month ends on or before `upto`, newest first."""
    out, day = [], last_month_end(upto)
    for _ in range(count):
        out.append(day)
        day = day.replace(day=1) - dt.timedelta(days=1)
    return out


# ------------------------------------------------------------------ a run
@dataclass(frozen=True)
class SegmentRun:
    """The classification of every customer as of `as_of`, stored as `segment_members` rows of `run_id`."""
    run_id: int
    as_of: dt.date
    month_end: bool
    customers: int
    stats: dict[str, Any]
    settings: SegmentSettings
    computed: bool = False  # computed by this call (False: taken from the cache)
    seconds: float | None = None

    @property
    def rfm_scored(self) -> bool:
        return bool(self.stats.get("rfm"))


@dataclass(frozen=True)
class SegmentFilters:
    """The page's filters: each None means all. UNKNOWN selects customers with the field empty."""
    owner: str | None = None
    region: str | None = None
    industry: str | None = None
    tag: str | None = None

    def sql(self, alias: str = "sm") -> tuple[str, list[Any]]:
        """(condition, params) on a segment_members alias; "TRUE" with no filter."""
        parts: list[str] = []
        params: list[Any] = []
        for column in ("owner", "region", "industry"):
            value = getattr(self, column)
            if value is not None:
                parts.append(f"{alias}.{column} = ?")  # stored with empty values as UNKNOWN
                params.append(value)
        if self.tag is not None:
            parts.append(f"{alias}.customer_id IN (SELECT customer_id FROM customer_tags WHERE tag = ?)")
            params.append(self.tag)
        return (" AND ".join(parts) or "TRUE"), params

    def named_sql(self, alias: str = "sm", prefix: str = "filter") -> tuple[str, dict[str, Any]]:
        """The same condition with named parameters ($filter0, …), for queries that bind by name."""
        condition, values = self.sql(alias)
        names = [f"{prefix}{i}" for i in range(len(values))]
        for name in names:
            condition = condition.replace("?", f"${name}", 1)
        return condition, dict(zip(names, values))

    def lines(self) -> list[str]:
        """The filters in words, for an export's header."""
        return [f"负责人：{self.owner or '全部'}", f"地区：{self.region or '全部'}",
                f"行业：{self.industry or '全部'}", f"标签：{self.tag or '全部'}"]

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.owner, self.region, self.industry, self.tag))


_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(archive: "Archive") -> threading.Lock:
    key = str(archive.path)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def data_version(archive_or_cur: "Archive | duckdb.DuckDBPyConnection") -> str:
    """A fingerprint of the data the rules read, cheap enough to take on every page run.

    Row counts of the tables the rules read (DuckDB answers a bare count(*) from its metadata),
    the import batches with their undo marks (an import may update rows in place) and the
    customers' last update (every edit sets it): any change the app makes to what the rules read
    moves one of them, without reading the large tables' columns (which would also fill memory
    with their blocks). Follow-ups, exports and other audit-only actions leave it alone, so they
    do not throw the cached runs away. A change made behind the app's back (hand-written SQL) is
    not seen: clear_cache() forgets the runs.
    """
    sql = f"""
    SELECT concat_ws('|',
        (SELECT count(*) FROM customers), (SELECT count(*) FROM transactions), (SELECT count(*) FROM interactions),
        (SELECT count(*) FROM complaints), (SELECT count(*) FROM customer_tags),
        {activity.BATCHES_SIGNATURE_SQL},
        (SELECT max(updated_at) FROM customers))"""
    own = hasattr(archive_or_cur, "transaction")
    cur = archive_or_cur.cursor() if own else archive_or_cur  # type: ignore[union-attr]
    try:
        return str(scalar(cur, sql))
    finally:
        if own:
            cur.close()


def _run_from_row(row: Sequence[Any], settings: SegmentSettings, computed: bool = False) -> SegmentRun:
    run_id, as_of, month_end_flag, customers, stats, seconds = row
    return SegmentRun(int(run_id), as_of, bool(month_end_flag), int(customers), json.loads(stats), settings,
                      computed, seconds)


def _cached_row(archive: "Archive", as_of: dt.date, version: str, settings: SegmentSettings) -> tuple | None:
    cur = archive.cursor()
    try:
        return fetch_one(cur, "SELECT run_id, as_of, month_end, customers, stats, seconds FROM segment_runs "
                              "WHERE as_of = ? AND data_version = ? AND settings_version = ?",
                         [as_of, version, settings.signature])
    finally:
        cur.close()


def segment_run(archive: "Archive", as_of: dt.date, *, version: str | None = None,
                settings: SegmentSettings | None = None) -> SegmentRun:
    """The classification as of `as_of`, from the cache when the data and thresholds are unchanged.

    `version` (data_version) and `settings` may be passed by a caller asking for several dates
    at once, so they are read once.
    """
    settings = settings or segment_settings(archive)
    version = version or data_version(archive)
    row = _cached_row(archive, as_of, version, settings)
    if row:
        return _run_from_row(row, settings)
    with _lock_for(archive):
        row = _cached_row(archive, as_of, version, settings)  # another session may have computed it meanwhile
        if row:
            return _run_from_row(row, settings)
        return _compute(archive, as_of, settings, version)


def cached_run(archive: "Archive", as_of: dt.date, settings: SegmentSettings | None = None) -> SegmentRun | None:
    """The run as of `as_of` if it is already computed for the current data and thresholds, else
    None — for readers that must stay quick (the profile) and do without it otherwise."""
    settings = settings or segment_settings(archive)
    row = _cached_row(archive, as_of, data_version(archive), settings)
    return _run_from_row(row, settings) if row else None


def compute_run(archive: "Archive", as_of: dt.date, *, timings: dict[str, float] | None = None) -> SegmentRun:
    """Classify every customer as of `as_of` now, replacing a cached run of the same key (benchmarks, repairs).

    `timings`, when given, receives the seconds of each step: facts (the aggregate over the dated
    records), cuts (the archive-wide figures), store (writing the members).
    """
    settings = segment_settings(archive)
    version = data_version(archive)
    with _lock_for(archive):
        with archive.transaction() as tx:
            old = [r for (r,) in tx.execute(
                "SELECT run_id FROM segment_runs WHERE as_of = ? AND data_version = ? AND settings_version = ?",
                [as_of, version, settings.signature]).fetchall()]
            if old:
                tx.execute("DELETE FROM segment_members WHERE list_contains(?, run_id)", [old])
                tx.execute("DELETE FROM segment_runs WHERE list_contains(?, run_id)", [old])
        return _compute(archive, as_of, settings, version, timings)


def snapshot(archive: "Archive", day: dt.date, **kwargs: Any) -> SegmentRun:
    """The month-end run of the month `day` is in (the segment history)."""
    return segment_run(archive, month_end(day), **kwargs)


# ------------------------------------------------------------------ computing ahead of the page
WARM_SWITCH = "CRM_WARM_SEGMENTS"  # "0" turns background warming off (the test suite does, to stay deterministic)
_warmers: dict[str, threading.Thread] = {}
_warm_again: dict[str, bool] = {}  # archive → go round again (True: today only)


def page_dates(today: dt.date) -> list[dt.date]:
    """The runs the 客户分类 page opens with: today (every chart and both classic tables) and the
    end of last quarter (客户迁移's default start)."""
    return list(dict.fromkeys([today, quarter_end_before(today)]))


def warm(archive: "Archive", today: dt.date | None = None, *, today_only: bool = False) -> list[SegmentRun]:
    """Compute (or find cached) the runs of page_dates — or only today's — so that a manager's
    first visit after an import, an edit or a restart reads them instead of waiting for them."""
    settings = segment_settings(archive)
    version = data_version(archive)
    dates = page_dates(today or clock.today())
    return [segment_run(archive, d, version=version, settings=settings) for d in dates[:1 if today_only else None]]


def warm_in_background(archive: "Archive", today: dt.date | None = None, *,
                       today_only: bool = False) -> threading.Thread | None:
    """Run `warm` in a daemon thread (unless WARM_SWITCH is "0"); returns the thread, None when off.

    `today_only` after a single edit: it changes every run, but only today's is worth computing
    at once (a million-customer archive spends a couple of seconds on each run). One warmer per
    archive: asked again while it works (another import meanwhile), it goes round once more when
    done, so the runs of the newest data are the ones left computed. A run being computed holds
    the archive's run lock and a page asking for another date waits for it; the dates come in
    page order (today first) to make that wait rare. A failure only means the page computes the
    run itself later, so it is not raised.
    """
    if not config.warm_segments():
        return None
    key = str(archive.path)
    with _locks_guard:
        running = _warmers.get(key)
        if running is not None:
            _warm_again[key] = _warm_again.get(key, True) and today_only
            return running

        def work() -> None:
            only_today = today_only
            while True:
                try:
                    warm(archive, today, today_only=only_today)
                except Exception:  # noqa: BLE001 - see the docstring
                    pass
                with _locks_guard:
                    if key not in _warm_again:
                        del _warmers[key]
                        return
                    only_today = _warm_again.pop(key)

        thread = threading.Thread(target=work, name=f"segments-warm:{key}", daemon=True)
        _warmers[key] = thread
        thread.start()
    return thread


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


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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

    `from_summary`: take the first/last dates from the customers' activity summary (crm.activity)
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
       + (CASE WHEN last_interaction <= $sleep_cut OR (last_interaction IS NULL AND first_contact <= $sleep_cut)
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
    with archive.transaction() as tx:
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
        _evict(tx, version, s.signature)
    if timings is not None:
        timings.update(summary=marks["summary"] - marks["start"], facts=marks["facts"] - marks["summary"], cuts=marks["cuts"] - marks["facts"],
                       store=marks["store"] - marks["cuts"], total=time.perf_counter() - started)
    release_memory(archive)
    return SegmentRun(run_id, D, is_month_end(D), int(n), stats, s, True, seconds)


def release_memory(archive: "Archive") -> None:
    """Hand back what computing a run (or the growth table's revenue pass) pulled into memory.

    Such a pass reads every transaction once; DuckDB keeps the table blocks it read cached (up to
    its memory limit) and its allocator keeps freed pages, although the page only reads the runs
    afterwards. Lowering the memory limit for an instant evicts the cached blocks (it is set back
    at once; if DuckDB cannot free enough it refuses and nothing changes), and background
    allocator threads return freed pages to the system; at a million customers this keeps the
    app's resident memory near what it is at ten thousand. Both act on the whole database
    instance, so the trim is skipped while another query holds working memory (hash tables, sorts,
    windows, results being collected): a concurrent query is not squeezed.
    """
    cur = archive.cursor()
    try:
        cur.execute("SET allocator_background_threads = true")
        working = scalar(cur, "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
                              "WHERE tag IN ('HASH_TABLE', 'ORDER_BY', 'WINDOW', 'COLUMN_DATA', 'OVERFLOW_STRINGS')")
        if int(working or 0) > BUSY_WORKING_MEMORY:  # this query itself holds a couple of MB
            return
        limit = scalar(cur, "SELECT current_setting('memory_limit')")
        try:
            cur.execute(f"SET memory_limit = '{TRIM_MEMORY_TO}'")
        finally:
            cur.execute(f"SET memory_limit = '{limit}'")
    except Exception:  # noqa: BLE001 - memory housekeeping must never fail a page
        pass
    finally:
        cur.close()


def _evict(tx: "duckdb.DuckDBPyConnection", version: str, signature: str) -> None:
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


def clear_cache(archive: "Archive") -> int:
    """Forget every cached run (they are recomputed on demand); returns how many there were."""
    with _lock_for(archive), archive.transaction() as tx:
        n = int(scalar(tx, "SELECT count(*) FROM segment_runs"))
        tx.execute("DELETE FROM segment_members")
        tx.execute("DELETE FROM segment_runs")
    return n


# ------------------------------------------------------------------ SQL label expressions
def label_sql(dimension: str, alias: str = "sm") -> str:
    """SQL giving the Chinese label of a single-valued dimension of a segment_members alias."""
    if dimension in ("stage", "value", "rfm"):
        labels = ", ".join(_quote(x) for x in LABELS[dimension])
        return f"[{labels}][{alias}.{dimension} + 1]"
    if dimension in ("industry", "region", "owner"):
        return f"{alias}.{dimension}"  # stored normalised: an empty value is UNKNOWN
    raise ValueError(f"unknown dimension {dimension!r}")


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
               coalesce(sum(sm.revenue), 0)::DOUBLE AS revenue
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
        rev_old, rev_new = (float(x) for x in rev[label])
        net = end_n - start_n
        rows.append({
            "期间": label, "起始日": d0 + dt.timedelta(days=1), "截止日": d1,
            "期初客户数": start_n, "本期新增": new_n, "本期回流": back_n, "本期流失": lost_n,
            "期末客户数": end_n, "净增减": net, "增减率": (net / start_n) if start_n else None,
            "老客户收入": rev_old, "新客户收入": rev_new, "收入合计": rev_old + rev_new,
        })
    cur_row, prev_row = rows
    change: dict[str, Any] = {"期间": "增减", "起始日": None, "截止日": None}
    for col in GROWTH_COLUMNS[3:]:
        if col == "增减率":
            change[col] = None
            continue
        change[col] = cur_row[col] - prev_row[col]
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
    n, rev = int(frame["customers"].sum()), float(frame["revenue"].sum())
    out = pd.DataFrame({
        "地区": frame["region"],
        "客户数": frame["customers"].astype(int),
        "客户占比": frame["customers"] / n if n else 0.0,
        "收入": frame["revenue"],
        "收入占比": frame["revenue"] / rev if rev else 0.0,
        "高价值客户数": frame["high"].astype(int),
        "户均收入": frame["revenue"] / frame["customers"].where(frame["customers"] > 0),
    })
    total = pd.DataFrame([{"地区": "合计", "客户数": n, "客户占比": 1.0 if n else 0.0, "收入": rev,
                           "收入占比": 1.0 if rev else 0.0, "高价值客户数": int(frame["high"].sum()),
                           "户均收入": rev / n if n else None}])
    return pd.concat([out, total], ignore_index=True) if len(out) else total


# ------------------------------------------------------------------ drill-down
@dataclass(frozen=True)
class Drill:
    """The customers behind one bar or cell: `kind` is a dimension, "rfm_cell", "combination" or "migration"."""
    kind: str
    labels: tuple[Any, ...]
    title: str
    other_run: int | None = None  # migration: the earlier run

    def sql(self, alias: str = "sm") -> tuple[str, list[Any]]:
        k, a = self.kind, alias
        if k in ("stage", "value", "rfm"):
            codes = [LABELS[k].index(x) for x in self.labels if x in LABELS[k]]
            return f"list_contains(?, {a}.{k})", [codes]
        if k == "behaviour":
            bits = sum(1 << BEHAVIOURS.index(x) for x in self.labels if x in BEHAVIOURS)
            return f"({a}.behaviour & ?) <> 0", [bits]
        if k in ("industry", "region", "owner"):
            return f"list_contains(?, {label_sql(k, a)})", [list(self.labels)]
        if k == "rfm_cell":
            cells = [f"{int(r)}-{int(f)}" for r, f in self.labels]
            return f"list_contains(?, {a}.r || '-' || {a}.f)", [cells]
        if k == "combination":
            return (f"{a}.customer_id IN (SELECT x.customer_id FROM segment_members x JOIN {_TAG_LISTS} tg "
                    f"ON tg.customer_id = x.customer_id WHERE x.run_id = {a}.run_id "
                    f"AND list_contains(?, {_tag_combo_sql('x', 'tg.tags')}))"), [list(self.labels)]
        if k.startswith("migration:"):
            _, source_dim, target_dim = k.split(":")
            parts, params = [], []
            for source, target in self.labels:
                parts.append(f"(coalesce({label_sql(target_dim, a)}, '（未评分）') = ? AND {a}.customer_id IN ("
                             f"SELECT b.customer_id FROM segment_members b LEFT JOIN segment_members p "
                             f"ON p.customer_id = b.customer_id AND p.run_id = ? "
                             f"WHERE b.run_id = {a}.run_id AND {_migration_source_sql(source_dim, 'p')} = ?))")
                params += [target, self.other_run, source]
            return "(" + " OR ".join(parts or ["FALSE"]) + ")", params
        raise ValueError(f"unknown drill-down {k!r}")


@dataclass
class Segment:
    dimension: str
    label: str
    reason: str


DRILL_COLUMNS = ["客户编号", "姓名", "分类原因", "需求阶段", "客户价值", "行为特征", "RFM", "近12个月收入", "负责人", "地区",
                 "行业", "标签", "公司"]


def _yuan(x: float | Decimal | None) -> str:
    value = float(x or 0)
    text = f"{value:,.2f}"
    return "¥" + (text[:-3] if text.endswith(".00") else text)


def _days(D: dt.date, day: dt.date) -> int:
    return (D - day).days


def explain(member: dict[str, Any], run: SegmentRun, rank: int | None = None) -> list[Segment]:
    """Every segment the member row is in, each with its reason in words and the figures behind it.

    `rank` is 1 + the number of customers with strictly more revenue (for 高价值 by rank).
    """
    s, D, st = run.settings, run.as_of, run.stats
    out: list[Segment] = []
    stage = STAGES[member["stage"]]
    fb, lb, lc = member.get("first_buy"), member.get("last_buy"), member.get("last_contact")
    if stage == "潜在客户":
        since = f"，建档 {member['first_contact']}" if member.get("first_contact") else ""
        text = f"截至 {D} 尚无购买记录{since}"
    elif stage == "流失风险客户":
        text = (f"最近互动或交易 {lc}，已 {_days(D, lc)} 天无往来（≥ {s.churn_risk_months} 个月）；最近购买 {lb}")
    elif stage == "新成交客户":
        text = f"首次购买 {fb}，距 {D} {_days(D, fb)} 天（{s.new_customer_months} 个月内）"
    else:
        text = f"首次购买 {fb}，已超过 {s.new_customer_months} 个月；最近购买 {lb}"
    out.append(Segment("需求阶段", stage, text))

    value = VALUES[member["value"]]
    rev, months = float(member["revenue"] or 0), s.value_window_months
    if value == "高价值":
        parts = [f"近 {months} 个月消费 {_yuan(rev)}"]
        if rank is not None and run.customers:
            share = rank / run.customers * 100
            pct = (f"{share:.1f}" if share >= 1 else f"{share:.2f}").rstrip("0").rstrip(".")
            parts.append(f"第 {rank:,}/{run.customers:,} 名，位列前 {pct}%")
        if rev >= s.high_value_floor:
            parts.append(f"不低于 {_yuan(s.high_value_floor)}")
        else:
            parts.append(f"在前 {s.high_value_top_percent:g}% 之内")
        text = "，".join(parts)
    elif value == "潜力客户":
        days = s.rising_window_days
        text = (f"近 {days} 天消费 {_yuan(member['revenue_recent'])}，此前 {days} 天 {_yuan(member['revenue_before'])}"
                f"（≥ {s.rising_factor:g} 倍）")
    elif value == "中价值":
        text = f"近 {months} 个月消费 {_yuan(rev)}，高于全体客户中位数 {_yuan(st.get('median'))}"
    else:
        text = f"近 {months} 个月消费 {_yuan(rev)}，不高于全体客户中位数 {_yuan(st.get('median'))}"
    out.append(Segment("客户价值", value, text))

    bits = int(member["behaviour"])
    if bits & 1:
        out.append(Segment("行为特征", "高频互动", f"近 {s.high_frequency_days} 天互动 {member['interactions_recent']} 次"
                                                 f"（≥ {s.high_frequency_min} 次）"))
    if bits & 2:
        li = member.get("last_interaction")
        if li is not None:
            text = f"最近互动 {li}，已 {_days(D, li)} 天无互动（≥ {s.sleeping_months} 个月）"
        else:
            fc = member.get("first_contact")
            text = f"没有互动记录，建档 {fc}，已 {_days(D, fc)} 天（≥ {s.sleeping_months} 个月）"
        out.append(Segment("行为特征", "沉睡客户", text))
    if bits & 4:
        lc2 = member["last_complaint"]
        out.append(Segment("行为特征", "投诉客户", f"最近投诉 {lc2}，{_days(D, lc2)} 天前（{s.complaint_months} 个月内）"))

    if member.get("rfm") is not None and not pd.isna(member.get("rfm")):
        r, f, m = int(member["r"]), int(member["f"]), int(member["m"])
        hi = lambda x, avg, yes, no: yes if x > avg else no  # noqa: E731
        text = (f"R {r} 分（最近购买 {lb}，{_days(D, lb)} 天前）· F {f} 分（近 {s.rfm_window_months} 个月购买 "
                f"{member['purchases']} 次）· M {m} 分（{_yuan(member['monetary'])}）；"
                f"与平均分（R {st['r_avg']:.2f}、F {st['f_avg']:.2f}、M {st['m_avg']:.2f}）相比："
                f"{hi(r, st['r_avg'], '近', '远')}、{hi(f, st['f_avg'], '频次高', '频次低')}、{hi(m, st['m_avg'], '金额高', '金额低')}")
        out.append(Segment("RFM 分群", RFM_SEGMENTS[int(member["rfm"])], text))
    elif member.get("first_buy") is not None and not run.rfm_scored:
        out.append(Segment("RFM 分群", "未评分", f"截至 {D} 有购买记录的客户仅 {st.get('buyers', 0)} 位，"
                                                 f"少于 {s.rfm_min_customers} 位，不做五分位打分"))
    return out


def behaviour_labels(bits: int) -> list[str]:
    return [label for i, label in enumerate(BEHAVIOURS) if int(bits) & (1 << i)]


_MEMBER_COLS = ("customer_id", "owner", "region", "industry", "stage", "value", "behaviour", "rfm", "r", "f", "m",
                "revenue", "revenue_recent", "revenue_before", "purchases", "monetary", "interactions_recent",
                "first_contact", "first_buy", "last_buy", "last_contact", "last_interaction", "last_complaint")


def drill_count(archive: "Archive", run: SegmentRun, filters: SegmentFilters, drill: Drill) -> int:
    where, params = filters.sql("sm")
    cond, cparams = drill.sql("sm")
    cur = archive.cursor()
    try:
        return int(scalar(cur, f"SELECT count(*) FROM segment_members sm WHERE sm.run_id = ? AND {where} AND {cond}",
                          [run.run_id, *params, *cparams]))
    finally:
        cur.close()


def _members(cur: "duckdb.DuckDBPyConnection", run: SegmentRun, filters: SegmentFilters, drill: Drill | None,
             limit: int | None, offset: int = 0) -> "duckdb.DuckDBPyConnection":
    where, params = filters.sql("sm")
    cond, cparams = drill.sql("sm") if drill else ("TRUE", [])
    sql = (f"SELECT {', '.join('sm.' + c for c in _MEMBER_COLS)} FROM segment_members sm "
           f"WHERE sm.run_id = ? AND {where} AND {cond} ORDER BY sm.revenue DESC, sm.customer_id")
    args = [run.run_id, *params, *cparams]
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        args += [limit, offset]
    return cur.execute(sql, args)


def _ranks(cur: "duckdb.DuckDBPyConnection", run: SegmentRun, ids: list[str]) -> dict[str, int]:
    """1 + the number of customers of the run earning strictly more, for 高价值 customers among `ids`.

    Everyone earning more than a 高价值 customer is 高价值 too, so ranking that group alone gives
    the rank in the whole archive.
    """
    if not ids:
        return {}
    marks = ", ".join("?" * len(ids))
    return dict(cur.execute(f"""
        SELECT customer_id, rnk FROM (
            SELECT customer_id, rank() OVER (ORDER BY revenue DESC) AS rnk
            FROM segment_members WHERE run_id = ? AND value = 0)
        WHERE customer_id IN ({marks})""", [run.run_id, *ids]).fetchall())


def _display_row(m: dict[str, Any], run: SegmentRun, rank: int | None, focus: str | None,
                 name: Any, company: Any, tags: Sequence[str] | None) -> dict[str, Any]:
    segs = explain(m, run, rank)
    shown = [s for s in segs if s.dimension == focus] if focus else []
    if len(shown) == 1:
        reason = shown[0].reason  # its label is in the list's own column
    else:
        reason = "；".join(f"{s.label}：{s.reason}" for s in (shown or segs[:2]))
    return {
        "客户编号": m["customer_id"], "姓名": name, "公司": company,
        "负责人": m["owner"], "地区": m["region"], "行业": m["industry"], "标签": "、".join(tags or []),
        "需求阶段": STAGES[m["stage"]], "客户价值": VALUES[m["value"]],
        "行为特征": "、".join(behaviour_labels(m["behaviour"])),
        "RFM": RFM_SEGMENTS[int(m["rfm"])] if m["rfm"] is not None and not pd.isna(m["rfm"]) else None,
        "近12个月收入": float(m["revenue"]), "分类原因": reason,
    }


def _drill_rows(reader: "PersonalData", run: SegmentRun, members: list[dict[str, Any]],
                cur: "duckdb.DuckDBPyConnection", focus: str | None) -> list[dict[str, Any]]:
    """A page of members → display rows: personal fields through PersonalData (masked for the actor), labels, reasons."""
    if not members:
        return []
    ids = [m["customer_id"] for m in members]
    # an IN list of the page's ids lets DuckDB look them up in the key indexes instead of scanning
    marks = ", ".join("?" * len(ids))
    people = {r[0]: r for r in reader.query("customers", ["customer_id", "name", "company"],
                                            where=f"t.customer_id IN ({marks})", params=ids, cur=cur)}
    tags = dict(cur.execute("SELECT customer_id, list_sort(list_distinct(list(tag))) FROM customer_tags "
                            f"WHERE customer_id IN ({marks}) GROUP BY customer_id", ids).fetchall())
    ranks = _ranks(cur, run, [m["customer_id"] for m in members if m["value"] == 0])
    out = []
    for m in members:
        person = people.get(m["customer_id"], (m["customer_id"], None, None))
        out.append(_display_row(m, run, ranks.get(m["customer_id"]), focus, person[1], person[2],
                                tags.get(m["customer_id"])))
    return out


_FOCUS = {"stage": "需求阶段", "value": "客户价值", "behaviour": "行为特征", "rfm": "RFM 分群", "rfm_cell": "RFM 分群",
          "combination": "客户价值"}  # which reason a drill-down list shows


def drill_page(reader: "PersonalData", run: SegmentRun, filters: SegmentFilters, drill: Drill | None,
               page: int = 0, page_size: int = 50) -> pd.DataFrame:
    """One page of the customers behind a bar (highest revenue first), masked for the reader, with reasons."""
    cur = reader.archive.cursor()
    try:
        res = _members(cur, run, filters, drill, page_size, page * page_size)
        members = [dict(zip(_MEMBER_COLS, r)) for r in res.fetchall()]
        focus = _FOCUS.get(drill.kind.split(":")[0] if drill else "", None)
        if drill and drill.kind.startswith("migration:"):
            focus = DIMENSIONS[drill.kind.split(":")[2]]
        rows = _drill_rows(reader, run, members, cur, focus)
    finally:
        cur.close()
    return pd.DataFrame(rows, columns=DRILL_COLUMNS)


def drill_chunks(reader: "PersonalData", run: SegmentRun, filters: SegmentFilters, drill: Drill | None,
                 chunk: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
    """Every customer behind a drill-down, in chunks of display rows (for an export), masked for the reader.

    One streamed query joins the members to their names (through PersonalData's select list and
    masking), tags and revenue ranks, so a list of any length costs one pass, not a lookup per chunk.
    """
    where, params = filters.sql("sm")
    cond, cparams = drill.sql("sm") if drill else ("TRUE", [])
    select, source = reader.select_sql("customers", ["name", "company"], alias="c")
    columns = [*_MEMBER_COLS, "tags", "rnk", "name", "company"]
    sql = f"""
        SELECT {', '.join('sm.' + c for c in _MEMBER_COLS)}, tg.tags, rk.rnk, {select}
        FROM segment_members sm
        LEFT JOIN {source} ON c.customer_id = sm.customer_id
        LEFT JOIN (SELECT customer_id, list_sort(list_distinct(list(tag))) AS tags FROM customer_tags
                   GROUP BY customer_id) tg ON tg.customer_id = sm.customer_id
        LEFT JOIN (SELECT customer_id, rank() OVER (ORDER BY revenue DESC) AS rnk FROM segment_members
                   WHERE run_id = ? AND value = 0) rk ON rk.customer_id = sm.customer_id
        WHERE sm.run_id = ? AND {where} AND {cond}
        ORDER BY sm.revenue DESC, sm.customer_id"""
    focus = _FOCUS.get(drill.kind.split(":")[0] if drill else "", None)
    if drill and drill.kind.startswith("migration:"):
        focus = DIMENSIONS[drill.kind.split(":")[2]]
    cur = reader.archive.cursor()
    try:
        res = cur.execute(sql, [run.run_id, run.run_id, *params, *cparams])
        while True:
            batch = res.fetchmany(chunk)
            if not batch:
                return
            out = []
            for row in reader.mask_rows("customers", columns, batch):
                m = dict(zip(columns, row))
                rank = int(m["rnk"]) if m["rnk"] is not None else None
                shown = _display_row(m, run, rank, focus, m["name"], m["company"], m["tags"])
                out.append(tuple(shown[c] for c in DRILL_COLUMNS))
            yield out
    finally:
        cur.close()


def customer_segments(archive: "Archive", run: SegmentRun, customer_id: str, *, ranked: bool = True) -> list[Segment]:
    """The segments of one customer in a run, with reasons.

    `ranked=False` leaves out the ranking query, for readers that must stay quick (the profile): a
    高价值 by rank then says "在前 10% 之内" without the place.
    """
    cur = archive.cursor()
    try:
        row = fetch_one(cur, f"SELECT {', '.join(_MEMBER_COLS)} FROM segment_members WHERE run_id = ? AND customer_id = ?",
                        [run.run_id, customer_id])
        if row is None:
            return []
        member = dict(zip(_MEMBER_COLS, row))
        rank = _ranks(cur, run, [customer_id]).get(customer_id) if ranked and member["value"] == 0 else None
    finally:
        cur.close()
    segs = explain(member, run, rank)
    segs.append(Segment("行业", member["industry"] or UNKNOWN, f"客户档案中的行业：{member['industry'] or UNKNOWN}"))
    segs.append(Segment("地区", member["region"] or UNKNOWN, f"客户档案中的地区：{member['region'] or UNKNOWN}"))
    return segs


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


__all__ = [
    "BEHAVIOURS", "DIMENSIONS", "Drill", "GROWTH_PERIODS", "RFM_SEGMENTS", "STAGES", "Segment", "SegmentFilters",
    "SegmentRun", "UNKNOWN", "VALUES", "clear_cache", "compute_run", "customer_segments", "data_version", "drill_chunks",
    "drill_count", "drill_page", "explain", "facts_sql", "filter_options", "growth_table", "labels_frame",
    "last_month_end", "migration", "month_end", "month_ends", "months_before", "overview", "quarter_end_before",
    "region_table", "rfm_grid", "segment_run", "snapshot", "tag_combinations",
]
