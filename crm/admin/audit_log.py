"""Reading the audit log for the 系统管理 page: filters (user, action, period, customer), the rows
with the words users read (crm.auth.audit.ACTIONS, the table registry's names, each detail as a
Chinese sentence by `detail_text`), the export through the one xlsx writer, and the chain check. Admins only: the log holds every old and new value.
Reading it is not audited (an admin browsing would flood the log with entries about reading it);
exporting it and checking its chain are."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from crm import clock, tables, vocabulary, xlsx
from crm.auth import audit, policy

if TYPE_CHECKING:
    from crm.auth.personal import Actor
    from crm.db import Archive

PAGE_ROWS = 500
EXCEL_ROWS = 1_000_000  # below Excel's 1,048,576 rows a sheet
COLUMNS = ["编号", "时间", "用户", "操作", "对象", "对象编号", "详情"]
ENTITY_LABELS = {"batch": "导入批次", "archive": "档案", "settings": "设置", "users": "用户", "segments": "客户分类",
                 "header_mappings": "列对应", "inbox": "收件箱文件"}


@dataclass(frozen=True)
class AuditFilter:
    """What the page filters by; None (or empty) means any."""
    user: str | None = None
    action: str | None = None  # a key of audit.ACTIONS
    start: dt.date | None = None
    end: dt.date | None = None  # inclusive
    customer_id: str | None = None


def entity_label(entity: str | None) -> str | None:
    if entity is None:
        return None
    known = tables.TABLES.get(entity)
    return known.label if known else ENTITY_LABELS.get(entity, entity)


# The words for the keys details are written with (crm.auth.audit.record's callers); a key that is a
# column of the entry's table reads as that column (crm.tables.column_label), one that names a
# table (counts per table) as the table.
DETAIL_LABELS = {
    "old": "原值", "new": "新值", "reason": "原因", "rows": "行数", "changes": "修改", "file": "文件", "sheet": "工作表",
    "template": "模板", "rows_read": "读取行数", "created": "新建", "updated": "更新", "rejected": "拒绝", "conflicts": "冲突",
    "deleted": "删除", "restored": "恢复原值", "kept": "保留（其后已修改）", "kept_customers": "保留的客户",
    "mapping": "列对应", "seed": "随机种子", "today": "日期", "counts": "数量", "size": "大小（字节）", "tables": "数据表",
    "safety_backup": "恢复前备份", "reapplied_destructions": "再次销毁的客户", "destruction": "销毁记录编号",
    "removed": "删除内容", "backups": "仍含该客户的备份", "filters": "筛选", "ok": "校验通过", "checked": "已校验条数",
    "head": "链头哈希", "role": "角色", "email": "邮箱", "via": "方式", "merged": "并入的客户", "merge_id": "合并编号",
    "filled": "补全的字段", "moved": "移入的记录", "kept_newer": "保留较新的值", "reset": "恢复默认值",
    "previous_owner": "原负责人", "due": "计划日期", "hours": "时限（小时）", "form": "表单", "as_of": "截至日期",
    "sheets": "工作表", "header": "表头说明", "drill": "明细", "path": "文件路径", "columns": "列数",
    "closed_follow_up": "完成的跟进", "planned_follow_up": "安排的跟进", "urgent": "紧急", "urgent_follow_up": "24 小时跟进",
    "last_interaction": "最近互动日期", "interaction_id": "互动记录编号", "sha256": "文件校验值", "batches": "批次",
    "user": "用户", "action": "操作", "start": "开始日期", "end": "结束日期", "stage": "阶段", "status": "状态",
    "origin": "来源", "owner": "负责人", "note": "备注", "customer_id": "客户编号", "customers": "客户",
    "users": "用户", "_constants": "整表固定值",
}
_ENTITY_TABLES = {"batch": "import_batches", "header_mappings": "import_batches", "inbox": "import_batches"}
_EMPTY = "（空）"


def _key_label(key: str, table: str | None) -> str:
    if table is not None and key not in DETAIL_LABELS:
        word = tables.column_label(table, key)
        if word != key:
            return word
    if key in DETAIL_LABELS:
        return DETAIL_LABELS[key]
    if key in tables.TABLES:
        return tables.TABLES[key].label
    word = tables.column_label("customers", key)
    return word if word != key else key


def _value_text(value: Any, key: str | None, table: str | None) -> str:
    if value is None or value == "":
        return _EMPTY
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict):
        if set(value) <= {"old", "new"} and value:
            return f"{_value_text(value.get('old'), key, table)} → {_value_text(value.get('new'), key, table)}"
        inner_table = table if key in ("changes", None) else None
        return "（" + _pairs(value, inner_table, mapping=key == "mapping") + "）"
    if isinstance(value, list):
        return "、".join(_value_text(v, key, table) for v in value) or _EMPTY
    if isinstance(value, str):
        if key == "origin":
            return vocabulary.FOLLOW_UP_ORIGINS.get(value, value)
        if key == "action":
            return audit.ACTIONS.get(value, value)
        if key in ("user", "owner", "previous_owner"):
            return vocabulary.user_label(value) or value
    return str(value)


def _pairs(detail: dict[str, Any], table: str | None, mapping: bool = False) -> str:
    parts = []
    for key, value in detail.items():
        if mapping and isinstance(value, str):  # {header as written: field}
            parts.append(f"{key} → {tables.column_label(table or 'customers', value)}")
            continue
        parts.append(f"{_key_label(str(key), table)}：{_value_text(value, str(key), table)}")
    return "；".join(parts)


def detail_text(entity: str | None, detail: str | None) -> str | None:
    """An entry's detail as the audit viewer and its export show it: the JSON its writer recorded
    (`{"changes": {"note": {"old": …, "new": …}}}`) as 「修改：（备注：… → …）」, with every key in
    the users' words (field names as the templates name them, tables by their names) and no
    null/true/false; a detail that is text already (a refusal's reason, 已随客户档案销毁) as it is."""
    if detail is None:
        return None
    try:
        value = json.loads(detail)
    except ValueError:
        return detail
    table = entity if entity in tables.TABLES else _ENTITY_TABLES.get(entity or "")
    if isinstance(value, dict):
        return _pairs(value, table, mapping=False)
    if isinstance(value, str):
        return value
    return _value_text(value, None, table)


def entity_id_text(entity: str | None, entity_id: str | None) -> str | None:
    """What an entry is about: a setting by its name (跟进规则的「公海释放期限」), anything else by its id."""
    if entity == "settings" and entity_id:
        from crm.settings import AREAS

        for area in AREAS.values():
            for spec in area.specs:
                if spec.key == entity_id:
                    return f"{area.label}：{spec.label}"
    return entity_id


def about_customer(customer_id: str) -> tuple[str, list[Any]]:
    """SQL (with parameters) for the entries about a customer: on the customer, on one of their rows
    (a follow-up, a complaint …, by the table registry), or naming their id in the detail as a
    whole word (C1 does not match C10)."""
    clauses, params = ["(entity = 'customers' AND entity_id = ?)"], [customer_id]
    for name in tables.customer_children():
        key = tables.TABLES[name].key
        if key != "customer_id":
            clauses.append(f"(entity = ? AND entity_id IN (SELECT CAST(\"{key}\" AS VARCHAR) FROM \"{name}\" WHERE customer_id = ?))")
            params += [name, customer_id]
    clauses.append("regexp_matches(coalesce(detail, ''), ?)")
    params.append(f"(^|[^0-9A-Za-z]){re.escape(customer_id)}([^0-9A-Za-z]|$)")
    return "(" + " OR ".join(clauses) + ")", params


def _where(f: AuditFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if f.user:
        clauses.append("user_name = ?")
        params.append(f.user)
    if f.action:
        clauses.append("action = ?")
        params.append(f.action)
    if f.start:
        clauses.append("occurred_at >= ?")
        params.append(dt.datetime.combine(f.start, dt.time()))
    if f.end:
        clauses.append("occurred_at < ?")
        params.append(dt.datetime.combine(f.end + dt.timedelta(days=1), dt.time()))
    if f.customer_id and f.customer_id.strip():
        sql, more = about_customer(f.customer_id.strip())
        clauses.append(sql)
        params += more
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _frame(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    return pd.DataFrame([(i, at, vocabulary.user_label(user), audit.ACTIONS.get(action, action), entity_label(entity),
                          entity_id_text(entity, eid), detail_text(entity, detail))
                         for i, at, user, action, entity, eid, detail in rows], columns=COLUMNS)


FILTER_LABELS = {"user": "用户", "action": "操作", "start": "开始日期", "end": "结束日期", "customer_id": "客户编号"}


def filter_text(f: AuditFilter) -> str:
    """The filters as a line above an export: 「用户：admin；操作：导出」, or 全部."""
    shown = {"user": vocabulary.user_label(f.user), "action": audit.ACTIONS.get(f.action or "", f.action),
             "start": f.start, "end": f.end, "customer_id": f.customer_id}
    return "；".join(f"{FILTER_LABELS[k]}：{v}" for k, v in shown.items() if v) or "全部"


def entries(archive: "Archive", actor: "Actor", f: AuditFilter, limit: int = PAGE_ROWS) -> tuple[pd.DataFrame, int]:
    """The newest `limit` entries matching the filter, as the page shows them, and how many match."""
    policy.require(actor, "audit.view")
    where, params = _where(f)
    cur = archive.cursor()
    try:
        total = int(cur.execute(f"SELECT count(*) FROM audit_log{where}", params).fetchall()[0][0])
        rows = cur.execute(f"SELECT id, occurred_at, user_name, action, entity, entity_id, detail FROM audit_log{where} "
                           "ORDER BY id DESC LIMIT ?", [*params, limit]).fetchall()
    finally:
        cur.close()
    return _frame(rows), total


def users(archive: "Archive") -> list[str]:
    """Every name the log has an entry by (for the filter), accounts and system users alike."""
    cur = archive.cursor()
    try:
        return [u for (u,) in cur.execute("SELECT DISTINCT user_name FROM audit_log ORDER BY user_name").fetchall()]
    finally:
        cur.close()


def export(archive: "Archive", actor: "Actor", f: AuditFilter) -> bytes:
    """Every matching entry, oldest first, as .xlsx through the formula-safe writer; audited with the
    row count and the filters."""
    from crm.errors import UserError

    policy.require(actor, "audit.export")
    where, params = _where(f)
    cur = archive.cursor()
    try:
        total = int(cur.execute(f"SELECT count(*) FROM audit_log{where}", params).fetchall()[0][0])
        if total > EXCEL_ROWS:
            raise UserError(None, f"符合条件的操作日志有 {total} 条，超过一个工作表的上限 {EXCEL_ROWS} 条，请缩小时间范围")
        rows = cur.execute(f"SELECT id, occurred_at, user_name, action, entity, entity_id, detail FROM audit_log{where} "
                           "ORDER BY id", params).fetchall()
    finally:
        cur.close()
    filters = {k: v for k, v in asdict(f).items() if v}
    lines = [f"导出时间：{clock.now():%Y-%m-%d %H:%M:%S}", f"导出人：{actor.username}",
             "筛选：" + filter_text(f)]
    buffer = io.BytesIO()
    xlsx.write_xlsx([("操作日志", _frame(rows))], buffer, header_lines=lines)
    with archive.transaction() as tx:
        audit.record(tx, actor, "export", "audit_log", None, {"rows": len(rows), "filters": filters})
    return buffer.getvalue()


def verify(archive: "Archive", actor: "Actor") -> audit.ChainReport:
    """Check the chain (crm.auth.audit.verify) for an admin, and note that it was checked and what it found."""
    policy.require(actor, "audit.view")
    report = audit.verify(archive)
    with archive.transaction() as tx:
        audit.record(tx, actor, "audit_verify", "audit_log", report.broken_id,
                     {"ok": report.ok, "checked": report.checked, "head": report.head, "reason": report.reason})
    return report
