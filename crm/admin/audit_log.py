"""Reading the audit log for the 系统管理 page: filters (user, action, period, customer), the rows
with the words users read (crm.auth.audit.ACTIONS, the table registry's names), the export through
the one xlsx writer, and the chain check. Admins only: the log holds every old and new value.
Reading it is not audited (an admin browsing would flood the log with entries about reading it);
exporting it and checking its chain are."""
from __future__ import annotations

import datetime as dt
import io
import re
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from crm import clock, tables, xlsx
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
    return pd.DataFrame([(i, at, user, audit.ACTIONS.get(action, action), entity_label(entity), eid, detail)
                         for i, at, user, action, entity, eid, detail in rows], columns=COLUMNS)


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
             "筛选：" + ("；".join(f"{k}={v}" for k, v in filters.items()) or "全部")]
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
