"""客户分类: every classification rule of PRODUCT.md, computed in DuckDB as of a reference date D.

One *run* classifies every customer of the archive as of D in a few set-based statements
(`_compute`): one aggregate per kind of record (transactions, interactions, complaints, all
dated on or before D) joined to the customers — or, when D is on or after every customer's
activity summary (crm.customers.activity: today, this month's end), only the records inside the rules'
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

Rules (window conventions shared with crm.customers.profile: "in the last N" is (D − N, D]; "nothing
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
- 行为特征, any of: 高频互动 ≥ 3 interactions in the last 30 days · 沉睡客户 last interaction and last transaction (or
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

from crm.segments.dates import is_month_end, last_month_end, month_end, month_ends, months_before, quarter_end_before
from crm.segments.drill import DRILL_COLUMNS, Drill, drill_chunks, drill_count, drill_page
from crm.segments.labels import (
                                 ACTIVE_STAGES,
                                 BEHAVIOURS,
                                 DIMENSIONS,
                                 GROWTH_PERIODS,
                                 LABELS,
                                 MIGRATION_DIMENSIONS,
                                 NOT_FILED,
                                 RFM_SEGMENTS,
                                 STAGES,
                                 UNKNOWN,
                                 VALUES,
                                 label_sql,
)
from crm.segments.model import SegmentFilters, SegmentRun
from crm.segments.reasons import Segment, behaviour_labels, customer_segments, explain
from crm.segments.reports import (
                                 filter_options,
                                 growth_table,
                                 labels_frame,
                                 migration,
                                 migration_order,
                                 overview,
                                 region_table,
                                 rfm_grid,
                                 tag_combinations,
)
from crm.segments.rules import MAX_ADHOC_RUNS, evict_stale_runs, facts_sql
from crm.segments.runs import cached_run, clear_cache, compute_run, data_version, segment_run, snapshot
from crm.segments.warm import WARM_SWITCH, follow_writes, page_dates, wait_for_warmer, warm, warm_in_background

__all__ = [
    "ACTIVE_STAGES", "BEHAVIOURS", "DIMENSIONS", "DRILL_COLUMNS", "Drill", "GROWTH_PERIODS", "LABELS", "MAX_ADHOC_RUNS",
    "MIGRATION_DIMENSIONS", "NOT_FILED", "RFM_SEGMENTS", "STAGES", "Segment", "SegmentFilters", "SegmentRun", "UNKNOWN",
    "VALUES", "WARM_SWITCH", "behaviour_labels", "cached_run", "clear_cache", "compute_run", "customer_segments",
    "data_version", "drill_chunks", "follow_writes", "evict_stale_runs", "wait_for_warmer", "drill_count", "drill_page", "explain", "facts_sql", "filter_options", "growth_table",
    "is_month_end", "label_sql", "labels_frame", "last_month_end", "migration", "migration_order", "month_end",
    "month_ends", "months_before", "overview", "page_dates", "quarter_end_before", "region_table",
    "rfm_grid", "segment_run", "snapshot", "tag_combinations", "warm", "warm_in_background",
]
