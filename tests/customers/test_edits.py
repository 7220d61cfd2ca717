"""Writes from the profile: validation like import, all-or-nothing, audited old → new,
permissions by role and owner, and a clear message on a concurrent write."""
from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest

from crm import clock
from crm.auth.personal import Actor
from crm.customers.edits import (
    CONFLICT_MESSAGE,
    STALE_EDIT,
    EditError,
    FieldChange,
    add_interaction,
    can_edit,
    update_customer,
)
from crm.db import Archive, fetch_one, scalar
from crm.followups.actions import complete_follow_up, plan_follow_up, reassign_follow_up, reschedule_follow_up
from crm.vocabulary import ADMIN, LEAD, MANAGER, SALES, VIEWER

TODAY = clock.today()
ADMIN_ACTOR = Actor("admin", ADMIN)
OWNER = Actor("王磊", SALES)
OTHER_SALES = Actor("李娜", SALES)
VIEWER_ACTOR = Actor("看客", VIEWER)


@pytest.fixture(autouse=True)
def _the_day_stays_today() -> Any:
    """TODAY is read when the module is collected; a suite that runs past midnight would
    otherwise validate against the next day (CI failed so at 00:09 Beijing time)."""
    with clock.pinned(TODAY):
        yield


@pytest.fixture
def arc(archive: Archive) -> Archive:
    with archive.transaction() as cur:
        cur.execute("INSERT INTO users (username, role) VALUES ('王磊', '销售'), ('李娜', '销售'), ('周涛', '经理'), "
                    "('看客', '只读'), ('admin', '管理员')")
        cur.execute("INSERT INTO customers (customer_id, name, name_pinyin, name_initials, phone, email, owner, "
                    "region, gender, last_interaction) VALUES "
                    "('C1', '张小明', 'zhangxiaoming', 'zxm', '13812345678', 'zxm@x.com', '王磊', '广东', '男', ?), "
                    "('C2', '李四', 'lisi', 'ls', '13912345678', NULL, '李娜', NULL, NULL, NULL)",
                    [TODAY - timedelta(days=10)])
        cur.execute("INSERT INTO customer_tags (customer_id, tag) VALUES ('C1', 'VIP'), ('C1', '老客户')")
    return archive


def one(archive: Archive, sql: str, params: list[Any] | None = None) -> Any:
    cur = archive.cursor()
    try:
        return fetch_one(cur, sql, params or [])
    finally:
        cur.close()


def audit(archive: Archive) -> list[tuple[str, str, str, str, dict]]:
    cur = archive.cursor()
    try:
        rows = cur.execute("SELECT user_name, action, entity, entity_id, detail FROM audit_log ORDER BY id").fetchall()
    finally:
        cur.close()
    return [(u, a, e, i, json.loads(d)) for u, a, e, i, d in rows]


def tags(archive: Archive, cid: str) -> list[str]:
    cur = archive.cursor()
    try:
        return [t for (t,) in cur.execute("SELECT tag FROM customer_tags WHERE customer_id = ? ORDER BY tag", [cid]).fetchall()]
    finally:
        cur.close()


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize("changes,field,start", [
    ({"phone": "12345"}, "phone", "联系电话："),
    ({"phone": "19912345"}, "phone", "联系电话："),
    ({"email": "not-an-email"}, "email", "电子邮箱：不是有效的邮箱地址"),
    ({"birth_date": "2024-13-45"}, "birth_date", "出生日期："),
    ({"first_contact": "昨天"}, "first_contact", "首次接触日期：不是可识别的日期"),
    ({"gender": "火星人"}, "gender", "性别：不是可识别的值"),
    ({"credit_limit": "很多"}, "credit_limit", "信用额度："),
    ({"credit_limit": -5}, "credit_limit", "信用额度：不能为负数"),
    ({"name": "  "}, "name", "客户姓名：不能为空"),
    ({"customer_id": "C9"}, "customer_id", "客户编号：不能修改"),
    ({"name_pinyin": "x"}, "name_pinyin", "name_pinyin：不能修改"),
])
def test_invalid_value_writes_nothing(arc: Archive, changes: dict, field: str, start: str) -> None:
    before = one(arc, "SELECT * FROM customers WHERE customer_id = 'C1'")
    with pytest.raises(EditError) as err:
        update_customer(arc, ADMIN_ACTOR, "C1", {"note": "不该写入", **changes})
    assert err.value.field == field
    assert err.value.message.startswith(start), err.value.message
    assert one(arc, "SELECT * FROM customers WHERE customer_id = 'C1'") == before
    assert audit(arc) == []


def test_every_invalid_field_is_reported(arc: Archive) -> None:
    with pytest.raises(EditError) as err:
        update_customer(arc, ADMIN_ACTOR, "C1", {"phone": "123", "birth_date": "2024-02-30", "note": "ok"})
    assert set(err.value.errors) == {"phone", "birth_date"}
    assert err.value.errors["birth_date"] == "出生日期：不存在的日期（2024-02-30）"


def test_phone_and_email_cannot_both_be_cleared(arc: Archive) -> None:
    with pytest.raises(EditError) as err:
        update_customer(arc, ADMIN_ACTOR, "C2", {"phone": ""})  # C2 has no email
    assert err.value.message == "联系电话/电子邮箱：至少需要填写一项"
    assert one(arc, "SELECT phone FROM customers WHERE customer_id = 'C2'") == ("13912345678",)


# ------------------------------------------------------------------ a successful edit
def test_edit_persists_cleaned_values_and_audits_old_to_new(arc: Archive) -> None:
    changes = update_customer(arc, OWNER, "C1", {
        "phone": "+86 139-0000-1111", "email": "New@Example.COM", "birth_date": "1990年5月1日",
        "credit_limit": "¥1,200", "price_sensitivity": "较高", "gender": "男", "note": "  "})
    assert changes == [
        FieldChange("phone", "联系电话", "13812345678", "13900001111"),
        FieldChange("email", "电子邮箱", "zxm@x.com", "new@example.com"),
        FieldChange("birth_date", "出生日期", None, date(1990, 5, 1)),
        FieldChange("credit_limit", "信用额度", None, 1200.0),
        FieldChange("price_sensitivity", "价格敏感度", None, "高"),
    ]  # gender unchanged, blank note stays blank: not changes
    row = one(arc, "SELECT phone, email, birth_date, credit_limit, price_sensitivity FROM customers WHERE customer_id = 'C1'")
    assert row[:3] == ("13900001111", "new@example.com", date(1990, 5, 1)) and float(row[3]) == 1200.0
    [(user, action, entity, entity_id, detail)] = audit(arc)
    assert (user, action, entity, entity_id) == ("王磊", "edit", "customers", "C1")
    assert detail["changes"]["phone"] == {"old": "13812345678", "new": "13900001111"}
    assert detail["changes"]["birth_date"] == {"old": None, "new": "1990-05-01"}
    assert detail["changes"]["credit_limit"] == {"old": None, "new": "1200"}


def test_name_change_updates_search_keys_and_tags_are_replaced(arc: Archive) -> None:
    update_customer(arc, ADMIN_ACTOR, "C1", {"name": "王小红", "tags": "VIP、紧急需求/制造业"})
    assert one(arc, "SELECT name, name_pinyin, name_initials FROM customers WHERE customer_id = 'C1'") == (
        "王小红", "wangxiaohong", "wxh")
    assert tags(arc, "C1") == ["VIP", "制造业", "紧急需求"]
    detail = audit(arc)[0][4]["changes"]
    assert detail["tags"] == {"old": ["VIP", "老客户"], "new": ["VIP", "紧急需求", "制造业"]}
    cols = {r[0] for r in arc.cursor().execute("DESCRIBE customers").fetchall()}
    if "search_text" in cols:  # crm.customers.search keeps its stored column in step
        text = one(arc, "SELECT search_text FROM customers WHERE customer_id = 'C1'")[0]
        assert "wangxiaohong" in text and "紧急需求" in text
    update_customer(arc, ADMIN_ACTOR, "C1", {"tags": []})
    assert tags(arc, "C1") == []


def test_nothing_changed_writes_nothing(arc: Archive) -> None:
    assert update_customer(arc, ADMIN_ACTOR, "C1", {"phone": "138 1234 5678", "tags": ["老客户", "VIP"]}) == []
    assert audit(arc) == []


def test_address_fills_an_empty_region(arc: Archive) -> None:
    update_customer(arc, ADMIN_ACTOR, "C2", {"address": "浙江省杭州市西湖区文三路1号"})
    assert one(arc, "SELECT region FROM customers WHERE customer_id = 'C2'") == ("浙江",)


def test_stale_form_is_refused(arc: Archive) -> None:
    update_customer(arc, ADMIN_ACTOR, "C1", {"phone": "13900001111"})
    with pytest.raises(EditError) as err:
        update_customer(arc, OWNER, "C1", {"phone": "13700001111"}, expected={"phone": "13812345678"})
    assert err.value.message == STALE_EDIT.format(n=1)
    note = err.value.errors["phone"]
    assert "「13812345678」" in note and "「13900001111」" in note and "修改客户资料" in note
    assert one(arc, "SELECT phone FROM customers WHERE customer_id = 'C1'") == ("13900001111",)


def test_two_threads_saving_the_same_field_one_wins_the_other_is_told(arc: Archive) -> None:
    """No lost update: both sessions loaded the same version; exactly one save lands, the other gets
    the conflict (by the version check, or DuckDB's write-write conflict), never a traceback."""
    import threading

    barrier, outcomes = threading.Barrier(2), []

    def save(value: str) -> None:
        barrier.wait()
        try:
            update_customer(arc, ADMIN_ACTOR, "C1", {"title": value}, expected={"title": None})
            outcomes.append(("saved", value))
        except EditError as exc:
            outcomes.append(("refused", exc.message))

    threads = [threading.Thread(target=save, args=(v,)) for v in ("经理", "总监")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    saved = [v for kind, v in outcomes if kind == "saved"]
    assert len(saved) == 1 and len(outcomes) == 2
    assert one(arc, "SELECT title FROM customers WHERE customer_id = 'C1'") == (saved[0],)


# ------------------------------------------------------------------ permissions
def test_permissions(arc: Archive) -> None:
    with pytest.raises(EditError, match="只读"):
        update_customer(arc, VIEWER_ACTOR, "C1", {"note": "x"})
    with pytest.raises(EditError, match="销售只能修改自己负责的客户"):
        update_customer(arc, OTHER_SALES, "C1", {"note": "x"})
    with pytest.raises(EditError) as err:
        update_customer(arc, OWNER, "C1", {"owner": "李娜"})
    assert err.value.field == "owner"
    with pytest.raises(EditError, match="系统中没有用户"):
        update_customer(arc, Actor("周涛", MANAGER), "C1", {"owner": "不存在的人"})
    assert audit(arc) == []
    update_customer(arc, Actor("周涛", MANAGER), "C1", {"owner": "李娜"})
    update_customer(arc, OTHER_SALES, "C1", {"note": "现在是我的客户"})
    assert one(arc, "SELECT owner, note FROM customers WHERE customer_id = 'C1'") == ("李娜", "现在是我的客户")
    assert can_edit(OWNER, "王磊") and not can_edit(OWNER, None) and not can_edit(VIEWER_ACTOR, "看客")
    assert can_edit(Actor("主管", LEAD), None)


def test_unknown_customer(arc: Archive) -> None:
    with pytest.raises(EditError, match="不存在"):
        update_customer(arc, ADMIN_ACTOR, "NOPE", {"note": "x"})


# ------------------------------------------------------------------ concurrency
def test_concurrent_edit_of_the_same_row_is_a_clear_message(arc: Archive) -> None:
    other = arc.cursor()  # another browser session, mid-transaction on the same customer
    other.execute("BEGIN TRANSACTION")
    other.execute("UPDATE customers SET note = '另一个会话' WHERE customer_id = 'C1'")
    try:
        with pytest.raises(EditError) as err:
            update_customer(arc, ADMIN_ACTOR, "C1", {"note": "本会话", "tags": "新标签"})
        assert err.value.message == CONFLICT_MESSAGE
    finally:
        other.execute("COMMIT")
        other.close()
    assert one(arc, "SELECT note FROM customers WHERE customer_id = 'C1'") == ("另一个会话",)
    assert tags(arc, "C1") == ["VIP", "老客户"]  # nothing of the refused edit was written
    assert audit(arc) == []
    update_customer(arc, ADMIN_ACTOR, "C1", {"note": "本会话"})  # and a retry succeeds
    assert one(arc, "SELECT note FROM customers WHERE customer_id = 'C1'") == ("本会话",)


def test_write_committed_by_another_session_meanwhile_is_a_clear_message(arc: Archive, monkeypatch) -> None:
    """Another session commits between this edit's read and its write: DuckDB refuses the later update."""
    from crm.customers import edits

    real_load = edits.load_for_edit

    def load_then_other_session_commits(cur: Any, customer_id: str) -> Any:
        found = real_load(cur, customer_id)
        with arc.transaction() as theirs:
            theirs.execute("UPDATE customers SET note = '先提交' WHERE customer_id = ?", [customer_id])
        return found

    monkeypatch.setattr(edits, "load_for_edit", load_then_other_session_commits)
    with pytest.raises(EditError) as err:
        update_customer(arc, ADMIN_ACTOR, "C1", {"note": "后提交", "tags": "新标签"})
    assert err.value.message == CONFLICT_MESSAGE
    monkeypatch.undo()
    assert one(arc, "SELECT note FROM customers WHERE customer_id = 'C1'") == ("先提交",)
    assert tags(arc, "C1") == ["VIP", "老客户"]
    assert audit(arc) == []


def test_two_interactions_logged_concurrently(arc: Archive) -> None:
    other = arc.cursor()
    other.execute("BEGIN TRANSACTION")
    other.execute("UPDATE customers SET last_interaction = ? WHERE customer_id = 'C1'", [TODAY])
    try:
        with pytest.raises(EditError, match="刷新后重试"):
            add_interaction(arc, OWNER, "C1", TODAY, "电话", "回访")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert scalar(arc.cursor(), "SELECT count(*) FROM interactions") == 0


# ------------------------------------------------------------------ interactions and follow-ups
def test_interaction_closes_a_follow_up_and_plans_the_next(arc: Archive) -> None:
    with arc.transaction() as cur:
        fid = cur.execute("INSERT INTO follow_ups (customer_id, due, status, owner) VALUES "
                          "('C1', ?, '待跟进', '王磊') RETURNING id", [TODAY - timedelta(days=1)]).fetchall()[0][0]
    nxt = TODAY + timedelta(days=7)
    iid = add_interaction(arc, OWNER, "C1", TODAY.isoformat(), "电话回访", "回访使用情况", result="满意",
                          next_plan="发送报价", close_follow_up_id=fid, next_follow_up=nxt)
    row = one(arc, "SELECT customer_id, date, channel, content, result, next_plan, created_by FROM interactions WHERE id = ?", [iid])
    assert row == ("C1", TODAY, "电话", "回访使用情况", "满意", "发送报价", "王磊")
    status, done_at = one(arc, "SELECT status, done_at FROM follow_ups WHERE id = ?", [fid])
    assert status == "已完成" and done_at is not None
    planned = one(arc, "SELECT due, status, origin, owner, content FROM follow_ups WHERE id <> ?", [fid])
    assert planned == (nxt, "待跟进", "manual", "王磊", "发送报价")
    assert one(arc, "SELECT last_interaction FROM customers WHERE customer_id = 'C1'") == (TODAY,)
    [(user, action, entity, entity_id, detail)] = audit(arc)
    assert (user, action, entity, entity_id) == ("王磊", "add_interaction", "interactions", str(iid))
    assert detail["closed_follow_up"] == fid and detail["planned_follow_up"] != fid
    assert detail["last_interaction"] == {"old": (TODAY - timedelta(days=10)).isoformat(), "new": TODAY.isoformat()}


def test_older_interaction_keeps_the_later_last_interaction(arc: Archive) -> None:
    add_interaction(arc, OWNER, "C1", TODAY - timedelta(days=30), "微信", None)
    assert one(arc, "SELECT last_interaction FROM customers WHERE customer_id = 'C1'") == (TODAY - timedelta(days=10),)


def test_plan_text_with_a_date_plans_the_follow_up(arc: Archive) -> None:
    due = TODAY + timedelta(days=3)
    add_interaction(arc, OWNER, "C1", TODAY, "邮件", "发资料", next_plan=f"{due.isoformat()} 电话回访")
    assert one(arc, "SELECT due, content FROM follow_ups") == (due, f"{due.isoformat()} 电话回访")


@pytest.mark.parametrize("kwargs,field", [
    ({"date": None}, "date"),
    ({"date": "2024/02/30"}, "date"),
    ({"date": TODAY + timedelta(days=1)}, "date"),
    ({"channel": " "}, "channel"),
    ({"next_follow_up": "下周"}, "next_follow_up"),
    ({"next_follow_up": TODAY - timedelta(days=1)}, "next_follow_up"),
])
def test_invalid_interaction_writes_nothing(arc: Archive, kwargs: dict, field: str) -> None:
    args = {"date": TODAY, "channel": "电话", "content": "x", **kwargs}
    with pytest.raises(EditError) as err:
        add_interaction(arc, OWNER, "C1", **args)
    assert err.value.field == field
    assert scalar(arc.cursor(), "SELECT count(*) FROM interactions") == 0
    assert audit(arc) == []


def test_closing_someone_elses_follow_up_rolls_back_the_interaction(arc: Archive) -> None:
    with arc.transaction() as cur:
        fid = cur.execute("INSERT INTO follow_ups (customer_id, due, status) VALUES ('C2', ?, '待跟进') RETURNING id",
                          [TODAY]).fetchall()[0][0]
    with pytest.raises(EditError) as err:
        add_interaction(arc, OWNER, "C1", TODAY, "电话", "x", close_follow_up_id=fid)
    assert err.value.field == "close_follow_up_id"
    assert scalar(arc.cursor(), "SELECT count(*) FROM interactions") == 0
    assert one(arc, "SELECT status FROM follow_ups WHERE id = ?", [fid]) == ("待跟进",)
    assert one(arc, "SELECT last_interaction FROM customers WHERE customer_id = 'C1'") == (TODAY - timedelta(days=10),)


def test_interaction_permissions(arc: Archive) -> None:
    with pytest.raises(EditError):
        add_interaction(arc, VIEWER_ACTOR, "C1", TODAY, "电话", "x")
    with pytest.raises(EditError):
        add_interaction(arc, OTHER_SALES, "C1", TODAY, "电话", "x")
    assert scalar(arc.cursor(), "SELECT count(*) FROM interactions") == 0


def test_follow_up_lifecycle(arc: Archive) -> None:
    due = TODAY + timedelta(days=2)
    fid = plan_follow_up(arc, OWNER, "C1", due, channel="电话", content="回访", goal="增加订单")
    assert one(arc, "SELECT customer_id, due, channel, goal, owner, status, origin FROM follow_ups WHERE id = ?", [fid]) == (
        "C1", due, "电话", "增加订单", "王磊", "待跟进", "manual")
    later = TODAY + timedelta(days=9)
    reschedule_follow_up(arc, OWNER, fid, later.isoformat())
    with pytest.raises(EditError):
        reassign_follow_up(arc, OWNER, fid, "李娜")  # leads and up only
    reassign_follow_up(arc, Actor("主管", LEAD), fid, "周涛")
    complete_follow_up(arc, Actor("周涛", MANAGER), fid)
    assert one(arc, "SELECT due, owner, status FROM follow_ups WHERE id = ?", [fid]) == (later, "周涛", "已完成")
    with pytest.raises(EditError, match="已完成"):
        complete_follow_up(arc, ADMIN_ACTOR, fid)
    actions = [(a, d) for _, a, _, _, d in audit(arc)]
    assert [a for a, _ in actions] == ["plan_follow_up", "reschedule_follow_up", "reassign_follow_up", "complete_follow_up"]
    assert actions[1][1]["due"] == {"old": due.isoformat(), "new": later.isoformat()}
    assert actions[2][1]["owner"] == {"old": "王磊", "new": "周涛"}
    assert actions[3][1]["status"] == {"old": "待跟进", "new": "已完成"}


def test_follow_up_validation_and_permissions(arc: Archive) -> None:
    with pytest.raises(EditError) as err:
        plan_follow_up(arc, OWNER, "C1", TODAY - timedelta(days=1))
    assert err.value.message == "跟进时间：不能早于今天"
    with pytest.raises(EditError) as err:
        plan_follow_up(arc, OWNER, "C1", "不是日期")
    assert err.value.field == "due"
    with pytest.raises(EditError) as err:
        plan_follow_up(arc, OWNER, "C1", TODAY, owner="李娜")
    assert err.value.message == "负责人：销售只能为自己安排跟进"
    with pytest.raises(EditError):
        plan_follow_up(arc, OTHER_SALES, "C1", TODAY)
    with pytest.raises(EditError):
        plan_follow_up(arc, VIEWER_ACTOR, "C1", TODAY)
    fid = plan_follow_up(arc, ADMIN_ACTOR, "C2", TODAY)
    assert one(arc, "SELECT owner FROM follow_ups WHERE id = ?", [fid]) == ("李娜",)  # the customer's owner
    with pytest.raises(EditError):
        complete_follow_up(arc, OWNER, fid)  # not his follow-up nor his customer
    assert [a for _, a, _, _, _ in audit(arc)] == ["plan_follow_up"]
