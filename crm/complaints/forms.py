"""The seed's paper forms for one complaint, filled from the record: 投诉处理通知单 (to the
department that must act) and 投诉处理报告表 (the handling, for the customer file or a signature).
Personal data follows the reader's masking, like every download."""
from __future__ import annotations

from crm import clock, xlsx
from crm.auth import audit
from crm.auth.personal import PersonalData
from crm.complaints import deadlines
from crm.complaints.handling import load_complaint, stage_history
from crm.db import fetch_one
from crm.errors import UserError


def _record(reader: PersonalData, complaint_id: str) -> tuple[dict, dict]:
    cur = reader.archive.cursor()
    try:
        complaint = load_complaint(cur, complaint_id)
        if complaint is None:
            raise UserError(None, f"投诉 {complaint_id} 不存在")
        row = fetch_one(cur, "SELECT name, phone, owner FROM customers WHERE customer_id = ?", [complaint.customer_id])
        history = stage_history(cur, complaint_id)
    finally:
        cur.close()
    ((name, phone),) = reader.mask_rows("customers", ["name", "phone"], [row or (None, None, None)])
    values = reader.mask_record("complaints", complaint.values, row[2] if row else None)  # contact, reasons, outcome
    return values, {"name": name, "phone": phone, "history": history, "stage": complaint.stage}


def _log(reader: PersonalData, complaint_id: str, form: str) -> None:
    with reader.archive.transaction() as tx:
        audit.record(tx, reader.actor, "export", "complaints", complaint_id, {"form": form})


def notice_workbook(reader: PersonalData, complaint_id: str) -> bytes:
    """投诉处理通知单: what the department must handle and by when."""
    v, who = _record(reader, complaint_id)
    data = xlsx.form_workbook("投诉处理通知单", [
        ("受理编号", v["complaint_id"], "受理日期", v["date"]),
        ("客户", who["name"], "联系方式", v.get("contact") or who["phone"]),
        ("投诉类型", v.get("kind"), "紧急程度", v.get("urgency")),
        ("责任部门", v.get("department"), "承办人", v.get("handler")),
        ("所购商品", v.get("product"), "订单编号", v.get("order_ref")),
        ("投诉事由", v.get("reason")),
        ("客户要求", v.get("request")),
        ("承诺办理期限", v.get("promised_by"), "政策期限", v.get("policy_deadline")),
    ], footer=[f"通知日期：{clock.today():%Y-%m-%d}", "通知人签字：________________", "责任部门签收：________________"])
    _log(reader, complaint_id, "投诉处理通知单")
    return data


def report_workbook(reader: PersonalData, complaint_id: str) -> bytes:
    """投诉处理报告表: the handling and its result, with both clocks and the time in each stage."""
    v, who = _record(reader, complaint_id)
    today = clock.today()
    promise = deadlines.clock_state(v.get("promised_by"), v.get("resolved_on"), today, v.get("promise_breached_on"))
    policy = deadlines.clock_state(v.get("policy_deadline"), v.get("resolved_on"), today, v.get("policy_breached_on"))
    stages_text = "；".join(f"{s} {at:%m-%d %H:%M}（{hours} 小时）" for s, at, hours in who["history"]) or "—"
    data = xlsx.form_workbook("投诉处理报告表", [
        ("受理编号", v["complaint_id"], "受理日期", v["date"]),
        ("客户", who["name"], "联系方式", v.get("contact") or who["phone"]),
        ("投诉类型", v.get("kind"), "处理阶段", who["stage"]),
        ("投诉事由", v.get("reason")),
        ("投诉原因", v.get("root_cause"), "责任部门", v.get("department")),
        ("处理方式", v.get("resolution"), "损失金额", v.get("loss")),
        ("处理结果", v.get("outcome")),
        ("实际处理日期", v.get("resolved_on"), "客户满意度", v.get("satisfaction")),
        ("承诺期限", f"{v.get('promised_by') or '—'}（{promise}）", "政策期限", f"{v.get('policy_deadline') or '—'}（{policy}）"),
        ("处理经过", stages_text),
    ], footer=[f"报告日期：{today:%Y-%m-%d}", "承办人签字：________________", "主管审核：________________"])
    _log(reader, complaint_id, "投诉处理报告表")
    return data
