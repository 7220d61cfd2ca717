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
# How a log, a history or a filter names them: their names are code, not someone a user knows.
SYSTEM_USER_LABELS: dict[str, str] = {"cli": "命令行", "seed": "演示数据", "bench": "性能测试", "system": "系统自动"}

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


# ------------------------------------------------------------------ column names
# The words for archive columns that no import template names (the templates' headers name the
# rest: crm.tables.column_label looks there first). Per table, then for any table ("*").
COLUMN_LABELS: dict[str, dict[str, str]] = {
    "*": {"id": "编号", "customer_id": "客户编号", "batch_id": "导入批次", "source_row": "原表行号",
          "created_at": "创建时间", "updated_at": "修改时间", "version": "版本", "extra": "其他信息"},
    "customers": {"pool_since": "进入公海时间", "pool_reason": "进入公海原因", "pool_previous_owner": "公海前负责人",
                  "duplicate_note": "可能重复", "other_contacts": "其他联系方式", "contact_person": "联系人",
                  "wechat": "微信", "qq": "QQ", "city": "城市"},
    "follow_ups": {"origin": "来源", "done_at": "完成时间", "completed_by": "完成人", "outcome": "结果",
                   "interaction_id": "互动记录编号", "priority": "优先级", "survey_id": "满意度调查编号"},
    "interactions": {"created_by": "记录人"},
    "customer_tags": {"tag": "标签"},
    "destructions": {"destroyed_at": "销毁时间", "destroyed_by": "操作人", "reason": "原因", "removed": "删除内容",
                     "backups": "仍含该客户的备份"},
    "complaints": {"stage": "处理阶段", "root_cause": "投诉原因", "policy_deadline": "政策期限",
                   "promise_breached_on": "超出承诺期限日期", "policy_breached_on": "超出政策期限日期",
                   "registered_at": "登记时间", "registered_by": "登记人"},
    "import_batches": {"batch_id": "批次", "file": "文件", "sheet": "工作表", "template": "模板", "user_name": "导入人",
                       "started_at": "导入时间", "rows_read": "读取行数", "created": "新建", "updated": "更新",
                       "rejected": "拒绝", "status": "状态", "undone_at": "撤销时间", "undone_by": "撤销人",
                       "source": "来源"},
    "audit_log": {"occurred_at": "时间", "user_name": "用户", "action": "操作", "entity": "对象", "entity_id": "对象编号",
                  "detail": "详情", "prev_hash": "上一条哈希", "row_hash": "本条哈希", "detail_sha": "详情摘要"},
}


def user_label(name: str | None) -> str | None:
    """A user name as people read it: the system's own accounts by what they are (命令行, 系统自动)."""
    if name is None:
        return None
    return SYSTEM_USER_LABELS.get(name, name)


def label(value: str | None, labels: dict[str, str]) -> str | None:
    """The word a user reads for a stored value (the value itself when it has no label)."""
    if value is None:
        return None
    return labels.get(value, value)
