"""The 24-hour rule, neglect, the public pool and the team lead's table, on the known team."""
from __future__ import annotations

import datetime as dt
import io
import threading

import openpyxl
import pytest
from conftest import one
from followup_team import LEAD, MANAGER, SALES_LI, SALES_WANG, TODAY, VIEWER, d

from crm.auth.personal import Actor, PersonalData
from crm.auth.policy import PermissionDenied
from crm.customers.edits import add_interaction
from crm.db import Archive
from crm.errors import UserError
from crm.followups import neglect, pool, reports, urgent
from crm.settings import set_follow_up_setting

ADMIN = Actor("admin", "管理员")



# ------------------------------------------------------------------ the 24-hour rule
def test_an_urgent_contact_with_a_high_value_customer_plans_a_follow_up_within_24_hours(team: Archive) -> None:
    with team.transaction() as tx:  # C1's open follow-up is due in 3 days: not soon enough
        tx.execute("UPDATE follow_ups SET due = ? WHERE id = 2", [d(3)])
    add_interaction(team, SALES_WANG, "C1", TODAY, "电话", "客户设备停机，要求立即处理", urgent=True)
    row = one(team, "SELECT due, priority, origin, owner FROM follow_ups WHERE customer_id = 'C1' AND origin = 'urgent'")
    assert row == (d(1), "紧急", "urgent", "王磊")  # 10:00 + 24 h = tomorrow
    add_interaction(team, SALES_WANG, "C1", TODAY, "电话", "再次催促", urgent=True)  # one is open in time: no second
    assert one(team, "SELECT count(*) FROM follow_ups WHERE customer_id = 'C1' AND origin = 'urgent'") == (1,)


def test_the_rule_applies_to_high_value_customers_only(team: Archive) -> None:
    add_interaction(team, SALES_WANG, "C2", TODAY, "电话", "紧急", urgent=True)
    assert one(team, "SELECT count(*) FROM follow_ups WHERE origin = 'urgent'") == (0,)


def test_the_due_day_of_the_rule() -> None:
    assert urgent.urgent_due(dt.datetime(2026, 12, 31, 23, 30), 24) == dt.date(2027, 1, 1)
    assert urgent.urgent_due(dt.datetime(2028, 2, 28, 1, 0), 48) == dt.date(2028, 3, 1)


# ------------------------------------------------------------------ neglect
def test_neglect_lists_customers_without_an_open_follow_up(team: Archive) -> None:
    found, counts = neglect.neglected(PersonalData(team, MANAGER), today=TODAY)
    by_id = {n.customer_id: n for n in found}
    # C6: never contacted, on file since 2024 → neglected; C4 has open F5; the others have follow-ups too
    assert set(by_id) == {"C6"} and by_id["C6"].reason == "neglect" and "从未联系" in by_id["C6"].detail
    assert counts == {"neglect": 1, "gap": 0, "reactivation": 0}
    with team.transaction() as tx:  # C5's open follow-up done; last contact 3 days ago: fine
        tx.execute("UPDATE follow_ups SET status = '已完成' WHERE customer_id = 'C5'")
        tx.execute("UPDATE customers SET product_need = NULL WHERE customer_id = 'C5'")
    found, counts = neglect.neglected(PersonalData(team, MANAGER), today=TODAY)
    assert {n.customer_id: n.reason for n in found} == {"C6": "neglect", "C5": "gap"}
    assert next(n for n in found if n.customer_id == "C5").detail == "缺少产品需求"


def test_neglect_thresholds_depend_on_value(team: Archive) -> None:
    with team.transaction() as tx:
        tx.execute("UPDATE follow_ups SET status = '已完成' WHERE customer_id IN ('C1', 'C2')")
        tx.execute("UPDATE customers SET last_interaction = ? WHERE customer_id IN ('C1', 'C2')", [d(-45)])
    found, _ = neglect.neglected(PersonalData(team, SALES_WANG), today=TODAY)
    assert [n.customer_id for n in found] == ["C1"]  # 高价值: 45 ≥ 30 days; C2: 45 < 90
    assert "高价值客户 30 天" in found[0].detail
    assert neglect.neglected(PersonalData(team, SALES_WANG), owner="李娜", today=TODAY)[0][0].customer_id == "C1"


# ------------------------------------------------------------------ the public pool
def test_the_pool_is_off_by_default(team: Archive) -> None:
    assert pool.release_due(team, TODAY) == 0


def test_release_and_claim(team: Archive) -> None:
    set_follow_up_setting(team, ADMIN, "pool_release_days", 60)
    with team.transaction() as tx:  # C4's owner has not contacted it for 200 days; free it of its follow-up
        tx.execute("UPDATE follow_ups SET status = '已取消' WHERE customer_id = 'C4'")
    assert pool.release_due(team, TODAY) == 2  # C4 (200 days) and C6 (never, on file since 2024)
    assert one(team, "SELECT owner, pool_previous_owner FROM customers WHERE customer_id = 'C4'") == (None, "李娜")
    status = pool.pool_status(team, "C4")
    assert status and "超过 60 天未联系" in status["reason"]
    waiting, total = pool.pool_customers(PersonalData(team, SALES_WANG))
    assert total == 2 and {p.name for p in waiting} == {"赵*", "孙*"}  # masked: nobody owns them
    pool.claim(team, SALES_WANG, "C4")
    assert one(team, "SELECT owner, pool_since FROM customers WHERE customer_id = 'C4'") == ("王磊", None)
    with pytest.raises(UserError, match="刚被其他人领取"):
        pool.claim(team, SALES_LI, "C4")
    history = pool.pool_history(team, "C4")
    assert [h[2] for h in history] == ["领取公海客户", "释放到公海"] and "王磊 领取（原负责人 李娜）" == history[0][3]
    with pytest.raises(PermissionDenied):
        pool.claim(team, VIEWER, "C6")


def test_the_claim_limit(team: Archive) -> None:
    set_follow_up_setting(team, ADMIN, "pool_release_days", 1)
    set_follow_up_setting(team, ADMIN, "pool_claim_limit", 1)
    with team.transaction() as tx:
        tx.execute("UPDATE follow_ups SET status = '已取消' WHERE customer_id = 'C4'")
    pool.release_due(team, TODAY)
    pool.claim(team, SALES_WANG, "C4")
    with pytest.raises(UserError, match="已达每日上限"):
        pool.claim(team, SALES_WANG, "C6")


def test_two_claims_of_one_customer_at_the_same_moment(team: Archive) -> None:
    set_follow_up_setting(team, ADMIN, "pool_release_days", 60)
    with team.transaction() as tx:
        tx.execute("UPDATE follow_ups SET status = '已取消' WHERE customer_id = 'C4'")
    pool.release_due(team, TODAY)
    start = threading.Barrier(2)
    outcome: dict[str, object] = {}

    def take(actor: Actor) -> None:
        start.wait()
        try:
            pool.claim(team, actor, "C4")
            outcome[actor.username] = "ok"
        except UserError as exc:
            outcome[actor.username] = exc.message

    threads = [threading.Thread(target=take, args=(a,)) for a in (SALES_WANG, SALES_LI)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcome.values(), key=str) == sorted(["ok", pool.TAKEN_MESSAGE], key=str), outcome
    winner = next(k for k, v in outcome.items() if v == "ok")
    assert one(team, "SELECT owner FROM customers WHERE customer_id = 'C4'") == (winner,)
    assert one(team, "SELECT count(*) FROM audit_log WHERE action = 'pool_claim'") == (1,)


# ------------------------------------------------------------------ the team lead's table
def test_the_per_owner_table(team: Archive) -> None:
    cur = team.cursor()
    try:
        table = reports.owner_table(cur, TODAY)
    finally:
        cur.close()
    rows = {r["负责人"]: r for r in table.to_dict("records")}
    li = rows["李娜"]
    assert (li["待跟进"], li["已逾期"], li["1–3 天"], li["30 天以上"], li["最久逾期（天）"]) == (2, 2, 1, 1, 40)
    # due in the last 30 days before today: F5? no (40 days ago); F6 (1 day), F7 (10, on time), F8 (20, late)
    assert (li["近30天到期"], li["按期完成"]) == (3, 1) and li["按期完成率"] == pytest.approx(1 / 3)
    wang = rows["王磊"]
    assert (wang["待跟进"], wang["已逾期"], wang["4–7 天"], wang["近30天到期"]) == (4, 1, 1, 1)
    assert wang["久未联系客户"] == 0 and li["久未联系客户"] == 1  # C6


def test_weekly_trend_and_the_export(team: Archive) -> None:
    cur = team.cursor()
    try:
        trend = reports.weekly_on_time(cur, TODAY)
    finally:
        cur.close()
    # due before today within the 12 weeks: F1, F5, F6, F7, F8; done by the due day: F7 only
    assert int(trend["到期"].sum()) == 5 and int(trend["按期完成"].sum()) == 1
    data = reports.export_workbook(PersonalData(team, LEAD), today=TODAY)
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["逾期跟进", "负责人统计"]
    values = [c for row in wb["逾期跟进"].iter_rows(values_only=True) for c in row if c is not None]
    assert "李小红" in values and "赵四" in values
    assert one(team, "SELECT count(*) FROM audit_log WHERE action = 'export' AND entity = 'follow_ups'") == (1,)
    with pytest.raises(PermissionDenied):
        reports.export_workbook(PersonalData(team, SALES_WANG), today=TODAY)
