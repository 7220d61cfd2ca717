"""The archive's one vocabulary: statuses, kinds and roles as stored, with the words users read.

Stored values are the Chinese words of the templates (a follow-up is stored '待跟进', as the T5
sheet says it), so most labels equal their values; a few internal values (a batch's 'active')
have a label here. Every module that tests a status or names a role takes it from here, never
from a literal, so renaming one is one edit.
"""
from __future__ import annotations

# ------------------------------------------------------------------ roles
ADMIN, MANAGER, LEAD, SALES, VIEWER = "管理员", "经理", "主管", "销售", "只读"
ROLES: tuple[str, ...] = (ADMIN, MANAGER, LEAD, SALES, VIEWER)
ROLE_LABELS: dict[str, str] = {ADMIN: "管理员", MANAGER: "经理", LEAD: "团队主管", SALES: "销售 / 客服", VIEWER: "只读"}
# Accounts the system acts as (the command line, the demo seed, benchmarks, scheduled work).
SYSTEM_USERS: dict[str, str] = {"cli": ADMIN, "seed": ADMIN, "bench": ADMIN, "system": ADMIN}

# ------------------------------------------------------------------ follow-ups (T5 状态)
FOLLOW_UP_OPEN, FOLLOW_UP_DONE, FOLLOW_UP_CANCELLED = "待跟进", "已完成", "已取消"
FOLLOW_UP_STATUSES: tuple[str, ...] = (FOLLOW_UP_OPEN, FOLLOW_UP_DONE, FOLLOW_UP_CANCELLED)
# Where a follow-up came from (follow_ups.origin); T2–T5 are import templates.
FOLLOW_UP_ORIGINS: dict[str, str] = {
    "manual": "手工安排", "next": "完成后安排", "T2": "交易记录导入", "T3": "互动记录导入", "T4": "跟踪表导入",
    "T5": "跟进计划导入", "urgent": "24 小时规则", "neglect": "久未联系", "reactivation": "沉睡唤醒",
    "gap": "资料待补全", "survey": "满意度偏低", "pool": "公海领取", "seed": "演示数据",
}

# ------------------------------------------------------------------ transactions (T2 交易类型)
PURCHASE_KINDS: tuple[str, ...] = ("购买", "续约")  # count as purchases (stage, revenue, RFM)
RETURN_KIND = "退货"  # subtracts from revenue
COMPLAINT_KIND = "投诉"  # a complaint entered as a transaction (投诉客户)

# ------------------------------------------------------------------ import batches
BATCH_ACTIVE, BATCH_UNDONE = "active", "undone"
BATCH_STATUS_LABELS: dict[str, str] = {BATCH_ACTIVE: "有效", BATCH_UNDONE: "已撤销"}

# ------------------------------------------------------------------ service flags
FOCUS_FLAG = "重点关注"  # a customer with a complaint not yet 已回访 (PRODUCT.md, service rules)
GAP_FLAG = "待跟进"  # a customer whose key fields are missing
URGENT = "紧急"
HIGH_VALUE = "高价值"


def label(value: str | None, labels: dict[str, str]) -> str | None:
    """The word a user reads for a stored value (the value itself when it has no label)."""
    if value is None:
        return None
    return labels.get(value, value)
