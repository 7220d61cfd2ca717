"""crm.admin.destruction: a customer's archive destroyed from every table in one transaction, the
audit trail kept with its details destroyed, the 销毁记录 (who, when, why, counts, backups)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from conftest import one

from crm import clock
from crm.admin import backup, destruction
from crm.auth import audit
from crm.auth.personal import Actor
from crm.auth.policy import PermissionDenied
from crm.customers import activity
from crm.db import Archive
from crm.errors import UserError
from crm.seed import seed_demo
from crm.segments.runs import segment_run
from crm.vocabulary import ADMIN, MANAGER, SALES, VIEWER

ADMIN_ACTOR = Actor("admin", ADMIN)
DAY = dt.datetime(2026, 6, 1, 9, 0)


@pytest.fixture
def seeded(archive: Archive) -> tuple[Archive, str, str]:
    """A demo archive whose chosen customer has rows everywhere, bookkeeping and audit entries included."""
    with clock.pinned(DAY):
        seed_demo(archive, customers=60, seed=7, today=DAY.date())
        segment_run(archive, DAY.date())
    cur = archive.cursor()
    cid, phone = cur.execute("""
        SELECT customer_id, phone FROM customers c WHERE phone IS NOT NULL
          AND EXISTS (SELECT 1 FROM complaints k WHERE k.customer_id = c.customer_id)
          AND EXISTS (SELECT 1 FROM follow_ups f WHERE f.customer_id = c.customer_id)
        ORDER BY customer_id LIMIT 1""").fetchall()[0]
    (complaint,) = cur.execute("SELECT complaint_id FROM complaints WHERE customer_id = ? LIMIT 1", [cid]).fetchall()[0]
    (follow_up,) = cur.execute("SELECT id FROM follow_ups WHERE customer_id = ? LIMIT 1", [cid]).fetchall()[0]
    cur.execute("INSERT INTO complaint_events (complaint_id, occurred_at, user_name, to_stage, note) VALUES (?, ?, 'admin', '已受理', ?)",
                [complaint, DAY, f"回电 {phone}"])
    cur.execute("INSERT INTO batch_changes (batch_id, table_name, row_key, field, old_value, new_value) VALUES (1, 'customers', ?, 'phone', ?, '13000000000')", [cid, phone])
    cur.execute("INSERT INTO field_writes (table_name, row_key, field, via, user_name, written_at) VALUES ('follow_ups', ?, 'status', 'app', 'admin', ?)", [str(follow_up), DAY])
    cur.close()
    with archive.transaction() as tx:
        audit.record(tx, ADMIN_ACTOR, "edit", "customers", cid, {"phone": {"old": phone, "new": "13000000000"}})
        audit.record(tx, ADMIN_ACTOR, "complete_follow_up", "follow_ups", follow_up, {"content": f"打了 {phone}"})
        audit.record(tx, ADMIN_ACTOR, "export", "complaints", complaint, {"customer": cid, "form": "通知单"})
        audit.record(tx, ADMIN_ACTOR, "edit", "customers", cid + "9", {"note": f"另一位客户 {cid}9"})  # not this customer
    return archive, cid, phone


def text_columns(archive: Archive) -> list[tuple[str, str]]:
    cur = archive.cursor()
    try:
        return cur.execute("SELECT table_name, column_name FROM information_schema.columns WHERE data_type = 'VARCHAR' "
                           "AND table_schema = 'main'").fetchall()
    finally:
        cur.close()


def holding(archive: Archive, text: str) -> set[str]:
    """Every table.column whose text contains `text`."""
    cur = archive.cursor()
    try:
        return {f"{t}.{c}" for t, c in text_columns(archive)
                if cur.execute(f'SELECT count(*) FROM "{t}" WHERE contains("{c}", ?)', [text]).fetchall()[0][0]}
    finally:
        cur.close()


def test_the_plan_shows_what_will_go_and_destroying_removes_exactly_that(seeded) -> None:
    archive, cid, phone = seeded
    assert "customers.phone" in holding(archive, phone) and "segment_members.customer_id" in holding(archive, cid)
    plan = destruction.plan(archive, ADMIN_ACTOR, cid)
    assert plan.customer_id == cid and plan.name and plan.backups == []
    assert plan.removed["customers"] == 1 and plan.removed[destruction.AUDIT_REDACTED] == 3
    for table in ("complaints", "follow_ups", "complaint_events", "batch_changes", "field_writes", "segment_members"):
        assert plan.removed.get(table, 0) >= 1, table
    assert one(archive, "SELECT count(*) FROM customers WHERE customer_id = ?", [cid]) == (1,)  # a plan changes nothing

    with clock.pinned(DAY + dt.timedelta(days=1)):
        record = destruction.destroy(archive, ADMIN_ACTOR, cid, "  客户书面要求删除个人信息  ")
    assert record.removed == plan.removed
    assert (record.destroyed_by, record.reason, record.destroyed_at) == ("admin", "客户书面要求删除个人信息", DAY + dt.timedelta(days=1))
    assert holding(archive, phone) == set()
    assert holding(archive, cid) == {"destructions.customer_id", "audit_log.entity_id", "audit_log.detail"}
    # the trail stays: the entries, with the details destroyed; only another customer's detail names a longer id
    details = [d for (d,) in archive.cursor().execute("SELECT detail FROM audit_log WHERE contains(detail, ?)", [cid]).fetchall()]
    assert details == [json.dumps({"note": f"另一位客户 {cid}9"}, ensure_ascii=False)]
    trail = archive.cursor().execute("SELECT action, detail FROM audit_log WHERE entity_id = ? ORDER BY id", [cid]).fetchall()
    assert [a for a, _ in trail] == ["edit", "customer_delete"] and trail[0][1] == audit.REDACTED
    assert json.loads(trail[1][1])["destruction"] == record.id
    assert one(archive, "SELECT count(*) FROM audit_log WHERE detail = ?", [audit.REDACTED]) == (3,)
    assert audit.verify(archive).ok


def test_the_record_keeps_who_when_why_counts_and_the_backups_holding_it(seeded) -> None:
    archive, cid, _ = seeded
    made = backup.create_backup(archive, ADMIN_ACTOR)
    record = destruction.destroy(archive, ADMIN_ACTOR, cid, "保存期限已到")
    assert record.backups == [made.name]
    (listed,) = destruction.list_destructions(archive, ADMIN_ACTOR)
    assert listed == record
    stored = one(archive, "SELECT customer_id, destroyed_by, reason, removed, backups FROM destructions")
    assert stored[:3] == (cid, "admin", "保存期限已到")
    assert json.loads(stored[3]) == record.removed and all(isinstance(n, int) for n in json.loads(stored[3]).values())
    assert json.loads(stored[4]) == [made.name]
    entry = one(archive, "SELECT user_name, entity_id, detail FROM audit_log WHERE action = 'customer_delete'")
    assert entry[:2] == ("admin", cid) and json.loads(entry[2])["reason"] == "保存期限已到"


def test_other_customers_keep_everything(seeded) -> None:
    archive, cid, _ = seeded
    before = one(archive, "SELECT count(*), sum(hash(customer_id, name, phone, last_purchase)) FROM customers WHERE customer_id <> ?", [cid])
    interactions = one(archive, "SELECT count(*) FROM interactions WHERE customer_id <> ?", [cid])
    destruction.destroy(archive, ADMIN_ACTOR, cid, "测试")
    assert one(archive, "SELECT count(*), sum(hash(customer_id, name, phone, last_purchase)) FROM customers") == before
    assert one(archive, "SELECT count(*) FROM interactions") == interactions
    cur = archive.cursor()
    assert activity.is_current(cur)  # the activity summaries need no recomputing
    cur.close()
    assert one(archive, "SELECT detail FROM audit_log WHERE entity_id = ?", [cid + "9"])[0] != audit.REDACTED


def test_a_reason_and_an_existing_customer_are_required(seeded) -> None:
    archive, cid, _ = seeded
    with pytest.raises(UserError, match="请填写销毁原因") as missing:
        destruction.destroy(archive, ADMIN_ACTOR, cid, "   ")
    assert missing.value.field == "reason"
    with pytest.raises(UserError, match="不能超过 500 个字符"):
        destruction.destroy(archive, ADMIN_ACTOR, cid, "长" * 501)
    with pytest.raises(UserError, match="请填写要销毁档案的客户编号") as both:
        destruction.destroy(archive, ADMIN_ACTOR, "", "")
    assert set(both.value.errors) == {"customer_id", "reason"}
    with pytest.raises(UserError, match="没有客户编号为 NOPE 的客户档案"):
        destruction.destroy(archive, ADMIN_ACTOR, "NOPE", "测试")
    with pytest.raises(UserError, match="没有客户编号为 NOPE"):
        destruction.plan(archive, ADMIN_ACTOR, "NOPE")
    assert one(archive, "SELECT count(*) FROM destructions") == (0,)


@pytest.mark.parametrize("role", [VIEWER, SALES, MANAGER])
def test_only_admins_destroy(seeded, role: str) -> None:
    archive, cid, _ = seeded
    actor = Actor("someone", role)
    for call in (lambda: destruction.destroy(archive, actor, cid, "测试"), lambda: destruction.plan(archive, actor, cid),
                 lambda: destruction.list_destructions(archive, actor)):
        with pytest.raises(PermissionDenied, match="只有管理员可以销毁客户档案"):
            call()
    assert one(archive, "SELECT count(*) FROM customers WHERE customer_id = ?", [cid]) == (1,)
