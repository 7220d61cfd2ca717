"""The one door to personal data: roles, masking, and scoping by owner."""
from __future__ import annotations

import pytest

from crm.auth.personal import Actor, PersonalData, actor_for, mask_address, mask_contact, mask_email, mask_name, mask_phone
from crm.db import Archive
from crm.vocabulary import ADMIN, MANAGER, SALES, VIEWER


@pytest.mark.parametrize("fn,value,expected", [
    (mask_name, "张三", "张*"), (mask_name, "张小明", "张*明"), (mask_name, "欧阳娜娜", "欧阳**"), (mask_name, "司马懿", "司马*"), (mask_name, None, None),
    (mask_phone, "13812345678", "138****5678"), (mask_phone, "010-12345678", "010-****5678"),
    (mask_email, "li.ming@x.com", "l***@x.com"), (mask_email, "", ""),
    (mask_address, "广东省深圳市南山区科技园1号", "广东省深圳市****"),
    (mask_contact, "13812345678 / a@b.cn", "138****5678 / a***@b.cn"),
])
def test_masks(fn, value, expected) -> None:
    assert fn(value) == expected


@pytest.fixture
def people(archive: Archive) -> Archive:
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('王磊', '销售'), ('周涛', '经理'), ('看客', '只读')")
        tx.execute("INSERT INTO customers (customer_id, name, phone, email, owner) VALUES "
                   "('C1', '张小明', '13812345678', 'zxm@x.com', '王磊'), ('C2', '李四', '13912345678', NULL, '孙丽')")
        tx.execute("INSERT INTO transactions (customer_id, kind, date, amount, contact) VALUES "
                   "('C2', '购买', DATE '2026-01-01', 1, '13912345678')")
    return archive


def test_roles_resolve_from_users_table(people: Archive) -> None:
    assert actor_for(people, "王磊") == Actor("王磊", SALES)
    assert actor_for(people, "周涛").role == MANAGER
    assert actor_for(people, "cli").role == ADMIN
    assert actor_for(people, "陌生人").role == VIEWER


def test_sales_see_own_customers_in_full_and_others_masked(people: Archive) -> None:
    reader = PersonalData(people, actor_for(people, "王磊"))
    rows = dict((r[0], r[1:]) for r in reader.query("customers", ["customer_id", "name", "phone", "email"], order="t.customer_id"))
    assert rows["C1"] == ("张小明", "13812345678", "zxm@x.com")
    assert rows["C2"] == ("李*", "139****5678", None)
    # child tables are masked by the customer's owner too
    assert reader.query("transactions", ["customer_id", "contact"]) == [("C2", "139****5678")]


def test_viewer_sees_everything_masked_and_manager_nothing_masked(people: Archive) -> None:
    viewer = PersonalData(people, actor_for(people, "看客"))
    assert [r[1] for r in viewer.query("customers", ["customer_id", "phone"], order="t.customer_id")] == [
        "138****5678", "139****5678"]
    manager = PersonalData(people, actor_for(people, "周涛"))
    assert [r[1] for r in manager.query("customers", ["customer_id", "phone"], order="t.customer_id")] == [
        "13812345678", "13912345678"]


def test_reveal_is_audited(people: Archive) -> None:
    PersonalData(people, actor_for(people, "看客")).log_reveal("C1", "phone")
    cur = people.cursor()
    assert cur.execute("SELECT user_name, action, entity_id, detail FROM audit_log").fetchall() == [
        ("看客", "reveal", "C1", "phone")]


def test_fresh_archive_without_users_bootstraps_as_admin(archive: Archive) -> None:
    assert actor_for(archive, "anyone").role == ADMIN


def test_phones_and_emails_typed_into_free_text_are_masked_for_a_viewer(tmp_path) -> None:
    from crm.customers.edits import add_interaction
    from crm.customers.profile import load_profile
    from crm.db import open_archive

    archive = open_archive(tmp_path / "free.duckdb")
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('王磊', '销售'), ('看客', '只读')")
        tx.execute("INSERT INTO customers (customer_id, name, phone, owner, note) VALUES "
                   "('C1', '张伟明', '13812345678', '王磊', '备用号码 13900001111，邮箱 zwm@example.com')")
    add_interaction(archive, Actor("王磊", "销售"), "C1", "2026-11-01", "电话", "客户说改打 13700002222 或发 a.b@x.cn")
    viewer = load_profile(PersonalData(archive, Actor("看客", "只读")), "C1")
    text = " ".join([viewer.customer.get("note") or "", *(i.content or "" for i in viewer.interactions)])
    for secret in ("13900001111", "zwm@example.com", "13700002222", "a.b@x.cn"):
        assert secret not in text
    assert "139****1111" in text and "z***@example.com" in text and "137****2222" in text
    owner = load_profile(PersonalData(archive, Actor("王磊", "销售")), "C1")
    assert "13700002222" in owner.interactions[0].content  # the owner sees what was typed
    archive.close()


@pytest.mark.parametrize("text,expected", [
    ("客户留了手机 136 0126 2280", "客户留了手机 136******2280"),
    ("改打 138-1234-5678", "改打 138-*****5678"),
    ("回电 +86 13812345678", "回电 +86********5678"),
    ("座机 0755-12345678", "座机 0755-****5678"),
    ("2026-11-30 联系过 13812345678", "2026-11-30 联系过 138****5678"),
    ("2026-11-30 13812345678", "2026-11-30 138****5678"),
    ("2026-12-01 10:00 上门", "2026-12-01 10:00 上门"),  # a date and a time are not phones
    ("订单 DD202611301234，金额 12000.50 元，¥1234567", "订单 DD202611301234，金额 12000.50 元，¥1234567"),
    ("共 3 件，第 12 批", "共 3 件，第 12 批"),
])
def test_phones_in_free_text_are_masked_however_they_are_written(text: str, expected: str) -> None:
    assert mask_contact(text) == expected


def test_a_company_customers_company_is_its_name_and_masked_an_employer_is_not(archive: Archive) -> None:
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('看客', '只读')")
        tx.execute("INSERT INTO customers (customer_id, name, company, owner) VALUES "
                   "('C1', '苏州通达电子科技股份有限公司', '苏州通达电子科技股份有限公司', '王磊'), "
                   "('C2', '张伟', '甲公司', '王磊'), ('C3', '通达电子', '苏州通达电子科技股份有限公司', '王磊')")
    viewer = PersonalData(archive, actor_for(archive, "看客"))
    rows = viewer.query("customers", ["customer_id", "name", "company"], order="t.customer_id")
    assert rows == [("C1", "苏************司", "苏************司"), ("C2", "张*", "甲公司"),
                    ("C3", "通**子", "苏************司")]
    # read without the name, a 公司 cannot be told apart from a name: masked
    assert viewer.query("customers", ["company"], where="t.customer_id = 'C2'") == [("甲*司",)]


def test_a_record_read_whole_is_masked_by_its_customers_owner(people: Archive) -> None:
    sales = PersonalData(people, actor_for(people, "王磊"))
    record = {"complaint_id": "TS1", "customer_id": "C2", "reason": "请回电 13912345678", "kind": "商品"}
    assert sales.mask_record("complaints", record) == {**record, "reason": "请回电 139****5678"}
    assert sales.mask_record("complaints", dict(record, customer_id="C1")) == dict(record, customer_id="C1")
    assert sales.mask_record("complaints", record, owner="王磊") == record
