"""crm.admin.audit_log: the log filtered by user, action, period and customer, shown with the words
users read, exported through the one xlsx writer (audited), and its chain checked (audited)."""
from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
import pytest
from conftest import one

from crm import clock
from crm.admin import audit_log
from crm.admin.audit_log import AuditFilter
from crm.auth import audit
from crm.auth.personal import Actor
from crm.db import Archive
from crm.vocabulary import ADMIN

ADMIN_ACTOR = Actor("admin", ADMIN)


@pytest.fixture
def logged(archive: Archive) -> Archive:
    cur = archive.cursor()
    cur.execute("INSERT INTO customers (customer_id, name) VALUES ('C1', '甲'), ('C10', '乙')")
    cur.execute("INSERT INTO follow_ups (id, customer_id, due) VALUES (900, 'C1', '2026-03-01')")
    cur.close()
    entries = [
        (dt.datetime(2026, 3, 1, 9), "王磊", "edit", "customers", "C1", {"phone": {"old": "1", "new": "2"}}),
        (dt.datetime(2026, 3, 2, 9), "王磊", "complete_follow_up", "follow_ups", 900, {"outcome": "好"}),
        (dt.datetime(2026, 3, 3, 9), "李娜", "edit", "customers", "C10", "=HYPERLINK(\"http://x\")"),
        (dt.datetime(2026, 3, 4, 9), "李娜", "export", "complaints", None, {"customer": "C1"}),
        (dt.datetime(2026, 3, 5, 9), "admin", "login", "users", "admin", None),
    ]
    for at, user, action, entity, eid, detail in entries:
        with clock.pinned(at), archive.transaction() as tx:
            audit.record(tx, user, action, entity, eid, detail)
    return archive


def ids(frame) -> list[int]:
    return sorted(int(i) for i in frame["编号"])


def test_filters_by_user_action_period_and_customer(logged: Archive) -> None:
    every, total = audit_log.entries(logged, ADMIN_ACTOR, AuditFilter())
    assert total == 5 and list(every.columns) == audit_log.COLUMNS
    assert list(every["时间"])[0] == dt.datetime(2026, 3, 5, 9)  # newest first
    assert set(every["操作"]) == {"修改客户资料", "完成跟进", "导出", "登录"}
    assert set(every["对象"]) == {"客户档案", "跟进计划", "投诉登记", "用户"}
    by_user, n = audit_log.entries(logged, ADMIN_ACTOR, AuditFilter(user="王磊"))
    assert n == 2 and set(by_user["用户"]) == {"王磊"}
    assert audit_log.entries(logged, ADMIN_ACTOR, AuditFilter(action="edit"))[1] == 2
    period, n = audit_log.entries(logged, ADMIN_ACTOR, AuditFilter(start=dt.date(2026, 3, 2), end=dt.date(2026, 3, 3)))
    assert n == 2 and set(period["操作"]) == {"完成跟进", "修改客户资料"}
    customer, n = audit_log.entries(logged, ADMIN_ACTOR, AuditFilter(customer_id=" C1 "))
    assert n == 3 and set(customer["操作"]) == {"修改客户资料", "完成跟进", "导出"}  # C10's entry is not C1's
    assert "C10" not in set(customer["对象编号"])
    assert audit_log.entries(logged, ADMIN_ACTOR, AuditFilter(user="王磊", customer_id="C10"))[1] == 0
    assert audit_log.users(logged) == sorted(["admin", "李娜", "王磊"])


def test_the_export_is_formula_safe_and_audited(logged: Archive) -> None:
    data = audit_log.export(logged, ADMIN_ACTOR, AuditFilter(user="李娜"))
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    values = [c for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert "筛选：用户：李娜" in values and "对象编号" in values
    assert "'=HYPERLINK(\"http://x\")" in values  # neutralised, not a formula
    entry = one(logged, "SELECT user_name, entity, detail FROM audit_log WHERE action = 'export' AND entity = 'audit_log'")
    assert entry[:2] == ("admin", "audit_log") and json.loads(entry[2]) == {"rows": 2, "filters": {"user": "李娜"}}


def test_checking_the_chain_is_noted_with_what_it_found(logged: Archive) -> None:
    report = audit_log.verify(logged, ADMIN_ACTOR)
    assert report.ok and report.checked == 5
    entry = json.loads(one(logged, "SELECT detail FROM audit_log WHERE action = 'audit_verify'")[0])
    assert entry["ok"] is True and entry["checked"] == 5
    cur = logged.cursor()
    cur.execute("UPDATE audit_log SET user_name = '别人' WHERE action = 'login'")
    cur.close()
    broken = audit_log.verify(logged, ADMIN_ACTOR)
    assert not broken.ok and broken.reason == "记录内容被改动"
    assert one(logged, "SELECT entity_id FROM audit_log WHERE action = 'audit_verify' ORDER BY id DESC LIMIT 1") == (str(broken.broken_id),)
