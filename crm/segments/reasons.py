"""Why a customer is in each segment: the reason texts and the figures they quote."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from crm.db import fetch_one
from crm.segments.labels import BEHAVIOURS, RFM_SEGMENTS, STAGES, UNKNOWN, VALUES
from crm.segments.model import SegmentRun

if TYPE_CHECKING:
    import duckdb

    from crm.db import Archive


@dataclass
class Segment:
    dimension: str
    label: str
    reason: str


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
        lc = member.get("last_contact")
        if lc is not None:
            text = f"最近互动或交易 {lc}，已 {_days(D, lc)} 天既无互动也无交易（≥ {s.sleeping_months} 个月）"
        else:
            fc = member.get("first_contact")
            text = f"没有互动或交易记录，建档 {fc}，已 {_days(D, fc)} 天（≥ {s.sleeping_months} 个月）"
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
