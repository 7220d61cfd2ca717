"""Data-quality gaps: key fields a customer's archive lacks, each with why it matters.

One rule table serves the 客户360 profile (`data_gaps`, one customer) and the lists (`gap_sql`,
a condition over the customers table: the follow-up queue's 资料待补全 neglect list).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Gap:
    field: str  # customer column(s), e.g. "phone,email"
    label: str  # in Chinese, as the page shows it
    why: str
    follow_up: bool  # a key field: its absence marks the customer 待跟进 for the owner


# A gap is reported when every field it names (comma-separated) is blank; follow_up marks the
# gaps that make the customer 待跟进.
GAP_RULES: tuple[Gap, ...] = (
    Gap("phone,email,wechat,qq", "联系方式（电话/邮箱/微信/QQ）", "无法联系客户，也无法按电话或邮箱识别重复档案", True),
    Gap("product_need", "产品需求", "核心需求不明，需负责人跟进确认", True),
    Gap("owner", "负责人", "没有负责人，跟进任务无人认领", False),
    Gap("region", "地区", "无法参与地区统计与分配", False),
    Gap("industry", "行业", "无法参与行业分类与分析", False),
    Gap("first_contact", "首次接触日期", "无法判断客户建档时长与生命周期", False),
    Gap("source", "客户来源", "无法评估获客渠道效果", False),
)


def data_gaps(customer: dict[str, Any]) -> list[Gap]:
    """Missing fields the archive needs, each with why it matters. Masking keeps blanks blank."""
    def blank(name: str) -> bool:
        value = customer.get(name)
        return value is None or (isinstance(value, str) and not value.strip())

    return [gap for gap in GAP_RULES if all(blank(name) for name in gap.field.split(","))]


def _blank_sql(alias: str, column: str) -> str:
    return f"({alias}.{column} IS NULL OR trim(CAST({alias}.{column} AS VARCHAR)) = '')"


def gap_sql(alias: str = "c") -> tuple[str, str]:
    """(condition, label expression) for the 待跟进 gaps over a customers alias: the condition holds
    when a key field is missing, the label lists the missing fields as the profile names them."""
    rules = [g for g in GAP_RULES if g.follow_up]
    conds = ["(" + " AND ".join(_blank_sql(alias, f) for f in g.field.split(",")) + ")" for g in rules]
    label = "concat_ws('、', " + ", ".join(f"CASE WHEN {c} THEN '{g.label}' END" for c, g in zip(conds, rules)) + ")"
    return "(" + " OR ".join(conds) + ")", label
