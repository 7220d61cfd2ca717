"""Stage (需求阶段) and value (客户价值) of every customer as of a date, as SQL.

The segments page (a later issue) builds on these; the search filters need them now. Each
function returns a query and its parameters producing (customer_id, label, reason) for every
customer, so a caller joins it only when it needs it and the database does all the work. The
thresholds are module settings, read at call time, so an admin setting (or a test) can change
them without touching the SQL. Only rows dated on or before D count: a date in the past gives
the labels as they were then.
"""
from __future__ import annotations

from datetime import date

from crm.settings import SPECS as _SPECS

# ---------------------------------------------------------------- settings (PRODUCT.md defaults)
# The default values are defined once, in crm.settings (where an admin can change them for the
# segments engine); these module settings start from them.
_DEFAULTS = {spec.name: spec.default for spec in _SPECS}
PURCHASE_KINDS: tuple[str, ...] = ("购买", "续约")  # a purchase, for stage and revenue
RETURN_KIND = "退货"  # subtracts from revenue, whatever the sign it was entered with
NEW_CUSTOMER_MONTHS = int(_DEFAULTS["new_customer_months"])  # first purchase at most this long before D → 新成交客户
CHURN_RISK_MONTHS = int(_DEFAULTS["churn_risk_months"])  # no interaction/transaction this long → 流失风险客户
VALUE_WINDOW_MONTHS = int(_DEFAULTS["value_window_months"])  # revenue window for 高价值 and the median
HIGH_VALUE_TOP_PERCENT = _DEFAULTS["high_value_top_percent"]  # top share of customers by revenue → 高价值
HIGH_VALUE_FLOOR = _DEFAULTS["high_value_floor"]  # 元; at least this much revenue → 高价值 regardless of rank
RISING_WINDOW_DAYS = int(_DEFAULTS["rising_window_days"])  # 潜力客户 compares the last window with the one before
RISING_FACTOR = _DEFAULTS["rising_factor"]

STAGES = ("潜在客户", "新成交客户", "老客户", "流失风险客户")
VALUES = ("高价值", "中价值", "低价值", "潜力客户")


def stage_sql(as_of: date) -> tuple[str, list[object]]:
    """(customer_id, label, reason) by purchase history and last contact, as of `as_of`.

    Boundaries: a first purchase exactly NEW_CUSTOMER_MONTHS before D is still new; a last
    contact exactly CHURN_RISK_MONTHS before D is already a churn risk. Contact is any
    interaction, any transaction (also enquiries and complaints), or the profile's 最近互动日期.
    Churn risk outranks new/old: it is the one that needs action.
    """
    sql = """
    WITH p AS (
        SELECT CAST(? AS DATE) AS d, CAST(? AS VARCHAR[]) AS buy_kinds,
               CAST(? AS INTEGER) AS new_months, CAST(? AS INTEGER) AS churn_months
    ),
    tx AS (
        SELECT t.customer_id,
               min(t.date) FILTER (WHERE list_contains(p.buy_kinds, t.kind)) AS first_buy,
               max(t.date) AS last_tx
        FROM transactions t, p
        WHERE t.date <= p.d
        GROUP BY t.customer_id
    ),
    ix AS (
        SELECT i.customer_id, max(i.date) AS last_int
        FROM interactions i, p
        WHERE i.date <= p.d
        GROUP BY i.customer_id
    ),
    facts AS (
        SELECT c.customer_id, tx.first_buy, p.d, p.new_months, p.churn_months,
               greatest(tx.last_tx, ix.last_int,
                        CASE WHEN c.last_interaction <= p.d THEN c.last_interaction END) AS last_contact
        FROM customers c CROSS JOIN p
        LEFT JOIN tx ON tx.customer_id = c.customer_id
        LEFT JOIN ix ON ix.customer_id = c.customer_id
    )
    SELECT customer_id,
           CASE WHEN first_buy IS NULL THEN '潜在客户'
                WHEN last_contact <= d - to_months(churn_months) THEN '流失风险客户'
                WHEN first_buy >= d - to_months(new_months) THEN '新成交客户'
                ELSE '老客户' END AS label,
           CASE WHEN first_buy IS NULL THEN '截至 ' || strftime(d, '%Y-%m-%d') || ' 尚无购买记录'
                WHEN last_contact <= d - to_months(churn_months)
                    THEN '曾购买，但最近一次互动或交易在 ' || strftime(last_contact, '%Y-%m-%d')
                         || '，已 ' || churn_months || ' 个月以上没有往来'
                WHEN first_buy >= d - to_months(new_months)
                    THEN '首次购买于 ' || strftime(first_buy, '%Y-%m-%d') || '，在 ' || new_months || ' 个月内'
                ELSE '首次购买于 ' || strftime(first_buy, '%Y-%m-%d') || '，已超过 ' || new_months || ' 个月'
           END AS reason
    FROM facts"""
    return sql, [as_of, list(PURCHASE_KINDS), NEW_CUSTOMER_MONTHS, CHURN_RISK_MONTHS]


def value_sql(as_of: date) -> tuple[str, list[object]]:
    """(customer_id, label, reason) by revenue, as of `as_of`; first rule that applies wins.

    高价值: 12-month revenue > 0 and either ≥ HIGH_VALUE_FLOOR or in the top
    HIGH_VALUE_TOP_PERCENT of all customers, where "in the top 10%" means fewer than 10% of
    customers earn strictly more — so customers tied at the boundary are all in.
    潜力客户: revenue in the last 90 days > 0 and ≥ RISING_FACTOR × the 90 days before.
    中价值: 12-month revenue above the median of all customers (prospects count as 0); else 低价值.
    Revenue is purchases and renewals net of returns.
    """
    sql = """
    WITH p AS (
        SELECT CAST(? AS DATE) AS d, CAST(? AS VARCHAR[]) AS buy_kinds, CAST(? AS VARCHAR) AS return_kind,
               CAST(? AS INTEGER) AS window_months, CAST(? AS INTEGER) AS top_percent,
               CAST(? AS DECIMAL(18,2)) AS floor_amount, CAST(? AS INTEGER) AS rising_days,
               CAST(? AS DOUBLE) AS rising_factor
    ),
    money AS (
        SELECT t.customer_id, t.date,
               CASE WHEN list_contains(p.buy_kinds, t.kind) THEN t.amount
                    WHEN t.kind = p.return_kind THEN -abs(t.amount) END AS amount
        FROM transactions t, p
        WHERE t.date <= p.d AND t.amount IS NOT NULL
          AND t.date > least(p.d - to_months(p.window_months), p.d - 2 * p.rising_days)
    ),
    rev AS (
        SELECT m.customer_id,
               sum(m.amount) FILTER (WHERE m.date > p.d - to_months(p.window_months)) AS rev12,
               sum(m.amount) FILTER (WHERE m.date > p.d - p.rising_days) AS recent,
               sum(m.amount) FILTER (WHERE m.date <= p.d - p.rising_days
                                       AND m.date > p.d - 2 * p.rising_days) AS before
        FROM money m, p
        WHERE m.amount IS NOT NULL
        GROUP BY m.customer_id
    ),
    base AS (
        SELECT c.customer_id, coalesce(rev.rev12, 0) AS rev12,
               coalesce(rev.recent, 0) AS recent, coalesce(rev.before, 0) AS before
        FROM customers c LEFT JOIN rev ON rev.customer_id = c.customer_id
    ),
    whole AS (SELECT count(*) AS n, median(rev12) AS med FROM base),
    ranked AS (
        SELECT b.*, rank() OVER (ORDER BY b.rev12 DESC) AS rnk FROM base b
    )
    SELECT r.customer_id,
           CASE WHEN r.rev12 > 0 AND (r.rev12 >= p.floor_amount OR (r.rnk - 1) * 100 < w.n * p.top_percent)
                    THEN '高价值'
                WHEN r.recent > 0 AND r.recent >= p.rising_factor * r.before THEN '潜力客户'
                WHEN r.rev12 > w.med THEN '中价值'
                ELSE '低价值' END AS label,
           CASE WHEN r.rev12 > 0 AND r.rev12 >= p.floor_amount
                    THEN '近 ' || p.window_months || ' 个月收入 ' || r.rev12 || ' 元，不低于 ' || p.floor_amount || ' 元'
                WHEN r.rev12 > 0 AND (r.rnk - 1) * 100 < w.n * p.top_percent
                    THEN '近 ' || p.window_months || ' 个月收入 ' || r.rev12 || ' 元，排名第 ' || r.rnk || '/' || w.n
                         || '，在前 ' || p.top_percent || '%'
                WHEN r.recent > 0 AND r.recent >= p.rising_factor * r.before
                    THEN '近 ' || p.rising_days || ' 天收入 ' || r.recent || ' 元，此前 ' || p.rising_days || ' 天 '
                         || r.before || ' 元（≥ ' || p.rising_factor || ' 倍）'
                WHEN r.rev12 > w.med
                    THEN '近 ' || p.window_months || ' 个月收入 ' || r.rev12 || ' 元，高于中位数 ' || w.med || ' 元'
                ELSE '近 ' || p.window_months || ' 个月收入 ' || r.rev12 || ' 元，不高于中位数 ' || w.med || ' 元'
           END AS reason
    FROM ranked r CROSS JOIN whole w CROSS JOIN p"""
    return sql, [as_of, list(PURCHASE_KINDS), RETURN_KIND, VALUE_WINDOW_MONTHS, HIGH_VALUE_TOP_PERCENT,
                 HIGH_VALUE_FLOOR, RISING_WINDOW_DAYS, RISING_FACTOR]
