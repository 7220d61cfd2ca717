"""Register a complaint and move it through its stages, each change timestamped, attributed,
audited and recorded as an event; refused moves say what is missing.

Fields are validated by the T6 import's own cleaners (crm.imports.templates / cleaning), so a
value typed into the form is judged exactly like one in a spreadsheet. A complaint's customer is
an archived customer (picked by search) or a new one made from a name and a phone, as a T6 row
would make it. Registering a 高价值 customer's complaint applies the 24-hour rule.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Mapping

import duckdb

from crm import clock, db, provenance
from crm.auth import audit, policy
from crm.auth.personal import Actor
from crm.complaints import calendar, deadlines, stages
from crm.customers.search_keys import name_initials, name_pinyin
from crm.db import Archive, fetch_one, scalar
from crm.errors import CONFLICT_MESSAGE, UserError
from crm.imports import linking
from crm.imports.cleaning import CellError, Warned, cleaner_for, is_blank
from crm.imports.templates import T6
from crm.settings import complaint_settings

_FIELDS = {f.name: f for f in T6.fields}
EDITABLE = ("date", "contact", "address", "kind", "via", "reason", "request", "urgency", "promised_by", "department",
            "resolution", "loss", "order_ref", "product", "outcome", "satisfaction", "handler", "reject_reason",
            "root_cause", "resolved_on")
LABELS = {**{name: f.header for name, f in _FIELDS.items()}, "root_cause": "投诉原因"}


@dataclass(frozen=True)
class Complaint:
    complaint_id: str
    customer_id: str
    stage: str
    version: int
    values: dict[str, Any]


def root_causes(cur: duckdb.DuckDBPyConnection) -> list[str]:
    """The editable list of root causes, in its order."""
    return [c for (c,) in cur.execute("SELECT cause FROM complaint_causes ORDER BY position, cause").fetchall()]


def clean_fields(raw: Mapping[str, Any], cur: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """Clean values of the given complaint fields (blank → None); UserError lists every bad one."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {}
    causes = None
    for name, value in raw.items():
        if name not in EDITABLE:
            errors[name] = f"{LABELS.get(name, name)}：不能修改"
            continue
        if is_blank(value):
            out[name] = None
            continue
        if isinstance(value, str):
            value = value.strip()
        if name == "root_cause":
            causes = causes if causes is not None else root_causes(cur)
            if value not in causes:
                errors[name] = f"投诉原因：「{value}」不在原因列表中（可选：{'、'.join(causes)}）"
            else:
                out[name] = value
            continue
        try:
            clean = cleaner_for(_FIELDS[name])(value)
        except CellError as exc:
            errors[name] = f"{LABELS[name]}：{exc}"
            continue
        if isinstance(clean, Warned):
            errors[name] = f"{LABELS[name]}：{clean.message}"
            continue
        if name == "contact":  # (phone, email) → the text the complaint keeps
            clean = " ".join(x for x in clean if x) or None
        out[name] = clean
    if "loss" in out and out["loss"] is not None and out["loss"] < 0:
        errors["loss"] = "损失金额：不能为负数"
    if errors:
        first = next(iter(errors))
        raise UserError(first, errors[first], errors)
    return out


def _next_id(cur: duckdb.DuckDBPyConnection, day: dt.date) -> str:
    """TS + yyyymmdd + a 3-digit sequence per day, as T6 imports generate them."""
    prefix = f"TS{day:%Y%m%d}"
    n = scalar(cur, "SELECT max(try_cast(substr(complaint_id, 11) AS BIGINT)) FROM complaints "
                    "WHERE starts_with(complaint_id, ?)", [prefix]) or 0
    return f"{prefix}{int(n) + 1:03d}"


def _new_customer(cur: duckdb.DuckDBPyConnection, name: str, phone: str | None, today: dt.date, now: dt.datetime) -> str:
    from crm.customers.search import refresh_search_text

    (cid,) = linking.next_customer_ids(cur, f"{today:%Y%m%d}", 1)
    cur.execute("INSERT INTO customers (customer_id, name, phone, name_pinyin, name_initials, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [cid, name, phone, name_pinyin(name), name_initials(name), now, now])
    refresh_search_text(cur, [cid])
    return cid


def register_complaint(archive: Archive, actor: Actor, fields: Mapping[str, Any], *, customer_id: str | None = None,
                       new_customer: tuple[str, str | None] | None = None) -> str:
    """Register a complaint (stage 已登记) for an archived customer or a new one (name, phone);
    returns its 受理编号. Required: 受理日期, 投诉类型, 投诉事由; 紧急程度 defaults to 一般."""
    policy.require(actor, "customers.edit_own")
    fields = {k: v for k, v in fields.items() if k != "complaint_id"}
    errors: dict[str, str] = {}
    for name in ("date", "kind", "reason"):
        if is_blank(fields.get(name)):
            errors[name] = f"{LABELS[name]}：必填"
    if customer_id is None and (new_customer is None or is_blank(new_customer[0])):
        errors["customer"] = "客户：请选择档案中的客户，或填写新客户的姓名"
    if errors:
        first = next(iter(errors))
        raise UserError(first, errors[first], errors)
    now, today = clock.now(), clock.today()
    try:
        with archive.transaction() as cur:
            db.mark_changed(cur, db.EDIT)
            clean = clean_fields(fields, cur)
            if clean.get("date") and clean["date"] > today:
                raise UserError("date", "受理日期：不能晚于今天")
            phone = None
            if customer_id is None:
                name, raw_phone = new_customer  # type: ignore[misc]
                if not is_blank(raw_phone):
                    try:
                        phone = cleaner_for(_FIELDS["contact"])(raw_phone)
                    except CellError as exc:
                        raise UserError("contact", f"联系方式：{exc}") from exc
                    phone = phone[0] if isinstance(phone, tuple) else None
                customer_id = _new_customer(cur, str(name).strip(), phone, today, now)
            owner = fetch_one(cur, "SELECT owner FROM customers WHERE customer_id = ?", [customer_id])
            if owner is None:
                raise UserError("customer", f"客户 {customer_id} 不存在，请刷新后重试")
            if owner[0]:
                policy.require_touch_customer(actor, owner[0], customer_id)
            clean.setdefault("urgency", "一般")
            clean["urgency"] = clean["urgency"] or "一般"
            settings = complaint_settings(cur)
            clean["policy_deadline"] = deadlines.policy_deadline(clean["date"], clean["urgency"], settings,
                                                                 calendar.overrides(cur))
            cid = _next_id(cur, clean["date"])
            columns = {"complaint_id": cid, "customer_id": customer_id, "accepted": True, "stage": stages.REGISTERED,
                       "registered_at": now, "registered_by": actor.username, "version": 0, **clean}
            cur.execute(f"INSERT INTO complaints ({', '.join(columns)}) VALUES ({', '.join('?' for _ in columns)})",
                        list(columns.values()))
            _event(cur, cid, actor, None, stages.REGISTERED, None, now)
            audit.record(cur, actor, "register_complaint", "complaints", cid,
                         {"customer_id": customer_id, **{k: v for k, v in clean.items()}})
            from crm.followups.urgent import ensure_urgent_follow_up

            ensure_urgent_follow_up(cur, actor, customer_id, f"投诉 {cid}：{clean.get('reason') or ''}"[:80], now)
    except duckdb.TransactionException as exc:
        raise UserError(None, CONFLICT_MESSAGE) from exc
    return cid


def adopt_complaints(cur: duckdb.DuckDBPyConnection, user: str, now: dt.datetime, today: dt.date,
                     ids: list[str] | None = None) -> list[tuple[str, str, dt.date, bool, dt.date | None, str | None]]:
    """Give complaints without a stage (the given ids, else all such) their stage
    (from what the record carries: refused, revisited, handled or accepted) and policy deadline, set-based, in the caller's transaction; returns
    (id, customer, date, accepted, resolved_on, reason) of each, for rules that follow."""
    import pyarrow as pa

    settings, days_off = complaint_settings(cur), calendar.overrides(cur)
    where = "complaint_id IN (SELECT unnest(?))" if ids is not None else "stage IS NULL"
    args = [ids] if ids is not None else []
    pairs = cur.execute(f"SELECT DISTINCT date, coalesce(urgency, '一般') FROM complaints WHERE {where}", args).fetchall()
    if not pairs:
        return []
    table = pa.table({"d": pa.array([p[0] for p in pairs], pa.date32()), "u": pa.array([p[1] for p in pairs]),
                      "deadline": pa.array([deadlines.policy_deadline(d, u, settings, days_off) for d, u in pairs],
                                           pa.date32())})
    cur.register("policy_days", table)
    try:
        cur.execute(f"""
            UPDATE complaints SET
                stage = CASE WHEN NOT accepted THEN '{stages.REFUSED}'
                             WHEN resolved_on IS NOT NULL AND satisfaction IS NOT NULL THEN '{stages.REVISITED}'
                             WHEN resolved_on IS NOT NULL THEN '{stages.HANDLED}' ELSE '{stages.ACCEPTED}' END,
                policy_deadline = policy_days.deadline, registered_at = coalesce(registered_at, ?),
                registered_by = coalesce(registered_by, ?), version = coalesce(version, 0)
            FROM policy_days
            WHERE complaints.date = policy_days.d AND coalesce(complaints.urgency, '一般') = policy_days.u
              AND complaints.{where}""", [now, user, *args])
    finally:
        cur.unregister("policy_days")
    deadlines.mark_breaches(cur, today)
    return cur.execute(f"SELECT complaint_id, customer_id, date, accepted, resolved_on, reason FROM complaints WHERE {where}",
                       args).fetchall() if ids is not None else []


def _event(cur: duckdb.DuckDBPyConnection, complaint_id: str, actor: Actor, frm: str | None, to: str,
           note: str | None, now: dt.datetime) -> None:
    cur.execute("INSERT INTO complaint_events (complaint_id, occurred_at, user_name, from_stage, to_stage, note) "
                "VALUES (?, ?, ?, ?, ?, ?)", [complaint_id, now, actor.username, frm, to, note])


def load_complaint(cur: duckdb.DuckDBPyConnection, complaint_id: str) -> Complaint | None:
    cols = ["complaint_id", "customer_id", "stage", "version", *EDITABLE, "accepted", "policy_deadline",
            "promise_breached_on", "policy_breached_on", "registered_at", "registered_by"]
    row = fetch_one(cur, f"SELECT {', '.join(cols)} FROM complaints WHERE complaint_id = ?", [complaint_id])
    if row is None:
        return None
    values = dict(zip(cols, row))
    return Complaint(values["complaint_id"], values["customer_id"], values["stage"] or stages.ACCEPTED,
                     int(values["version"] or 0), values)


def move_complaint(archive: Archive, actor: Actor, complaint_id: str, to: str, fields: Mapping[str, Any] | None = None,
                   *, note: str | None = None, expected_version: int | None = None) -> Complaint:
    """Move a complaint to another stage, with the fields that move needs (refused, with what is
    missing, when it skips a step); the resolution date is set on 已处理 and cleared on reopening."""
    policy.require(actor, "customers.edit_own")
    fields = dict(fields or {})
    now, today = clock.now(), clock.today()
    try:
        with archive.transaction() as cur:
            db.mark_changed(cur, db.EDIT)
            current = load_complaint(cur, complaint_id)
            if current is None:
                raise UserError(None, f"投诉 {complaint_id} 不存在，请刷新后重试")
            owner = fetch_one(cur, "SELECT owner FROM customers WHERE customer_id = ?", [current.customer_id])
            if owner and owner[0]:
                policy.require_touch_customer(actor, owner[0], current.customer_id)
            if expected_version is not None and current.version != expected_version:
                raise UserError(None, f"投诉 {complaint_id} 刚被其他人修改（现在是「{current.stage}」），请刷新后重试")
            clean = clean_fields(fields, cur)
            merged = {**current.values, **{k: v for k, v in clean.items() if v is not None}, "note": note}
            problems = stages.check_move(current.stage, to, merged)
            if problems:
                raise UserError(None, problems[0])
            if to == stages.HANDLED:
                clean.setdefault("resolved_on", None)
                clean["resolved_on"] = clean["resolved_on"] or today
            if to == stages.INVESTIGATING and current.stage in stages.DONE_STAGES | {stages.REFUSED}:
                clean["resolved_on"] = None  # reopened: the resolution clock runs again (a breach stays)
            if to == stages.REFUSED:
                clean["accepted"] = False
            if current.stage == stages.REFUSED and to == stages.INVESTIGATING:
                clean["accepted"] = True
            sets = {**clean, "stage": to}
            cur.execute(f"UPDATE complaints SET {', '.join(f'{k} = ?' for k in sets)}, version = coalesce(version, 0) + 1 "
                        "WHERE complaint_id = ? AND coalesce(version, 0) = ?", [*sets.values(), complaint_id, current.version])
            provenance.record_writes(cur, "complaints", [(complaint_id, k) for k in sets], via="move_complaint",
                                     user=actor.username)
            deadlines.mark_breaches(cur, today)
            _event(cur, complaint_id, actor, current.stage, to, note, now)
            audit.record(cur, actor, "move_complaint", "complaints", complaint_id,
                         {"stage": {"old": current.stage, "new": to}, "note": note,
                          "changes": {k: {"old": current.values.get(k), "new": v} for k, v in clean.items()}})
            moved = load_complaint(cur, complaint_id)
    except duckdb.TransactionException as exc:
        raise UserError(None, CONFLICT_MESSAGE) from exc
    return moved  # type: ignore[return-value]


def stage_history(cur: duckdb.DuckDBPyConnection, complaint_id: str, now: dt.datetime | None = None
                    ) -> list[tuple[str, dt.datetime, float]]:
    """(stage, entered at, hours spent) for each stage the complaint went through, in order."""
    now = now or clock.now()
    rows = cur.execute("SELECT to_stage, occurred_at FROM complaint_events WHERE complaint_id = ? ORDER BY occurred_at, id",
                       [complaint_id]).fetchall()
    out = []
    for i, (stage, at) in enumerate(rows):
        end = rows[i + 1][1] if i + 1 < len(rows) else now
        out.append((stage, at, round((end - at).total_seconds() / 3600, 1)))
    return out
