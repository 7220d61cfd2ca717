"""The segments' vocabulary: the labels of each dimension (stored in runs as codes) and the SQL
that turns a stored code back into its label."""
from __future__ import annotations

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

GROWTH_PERIODS = {1: "近 1 个月", 3: "近 3 个月", 12: "近 12 个月"}

# ------------------------------------------------------------------ SQL label expressions
def label_sql(dimension: str, alias: str = "sm") -> str:
    """SQL giving the Chinese label of a single-valued dimension of a segment_members alias."""
    if dimension in ("stage", "value", "rfm"):
        labels = ", ".join(_quote(x) for x in LABELS[dimension])
        return f"[{labels}][{alias}.{dimension} + 1]"
    if dimension in ("industry", "region", "owner"):
        return f"{alias}.{dimension}"  # stored normalised: an empty value is UNKNOWN
    raise ValueError(f"unknown dimension {dimension!r}")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
