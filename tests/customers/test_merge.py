"""Merging two archives of one customer, and taking the merge back (issue 18's 可能重复)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import one, write_xlsx

from crm.auth.personal import Actor
from crm.auth.policy import PermissionDenied
from crm.customers import merge
from crm.customers.edits import add_interaction, update_customer
from crm.db import Archive
from crm.errors import UserError
from crm.imports.pipeline import import_path

LEAD, SALES = Actor("孙丽", "主管"), Actor("王磊", "销售")


@pytest.fixture
def flagged(archive: Archive, tmp_path: Path) -> tuple[str, str]:
    """Two companies sharing one phone, imported apart and flagged; the second has a transaction and a tag."""
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('孙丽', '主管'), ('王磊', '销售'), ('李娜', '销售')")
    import_path(archive, write_xlsx(tmp_path / "代理商.xlsx", {"客户": [
        ["公司名称", "联系人", "手机", "行业", "标签", "负责人"],
        ["甲建材公司", "老张", "13500000001", None, "VIP", "李娜"],
        ["乙装饰公司", "老张", "13500000001", "装修", "老客户", "李娜"]]}), user="cli", today=dt.date(2026, 12, 1))
    (a,) = one(archive, "SELECT customer_id FROM customers WHERE name = '甲建材公司'")
    (b,) = one(archive, "SELECT customer_id, duplicate_note FROM customers WHERE name = '乙装饰公司'")[:1]
    import_path(archive, write_xlsx(tmp_path / "交易.xlsx", {"交易": [
        ["客户编号", "客户名称", "交易类型", "购买时间", "金额"], [b, "乙装饰公司", "购买", "2026-11-01", 500]]}),
        user="cli", today=dt.date(2026, 12, 1))
    return a, b


def test_the_note_names_the_other_customer_by_id(archive: Archive, flagged: tuple[str, str]) -> None:
    a, b = flagged
    (note,) = one(archive, "SELECT duplicate_note FROM customers WHERE customer_id = ?", [b])
    assert merge.other_customer_in(note) == a and "可能重复" in note


def test_merge_moves_records_fills_blanks_joins_tags_and_undo_puts_it_all_back(archive: Archive,
                                                                                 flagged: tuple[str, str]) -> None:
    a, b = flagged
    done = merge.merge_customers(archive, LEAD, a, b, "同一家公司")
    assert done.moved == {"transactions": 1} and "industry" in done.filled
    assert one(archive, "SELECT count(*) FROM customers WHERE customer_id = ?", [b]) == (0,)
    assert one(archive, "SELECT industry, duplicate_note FROM customers WHERE customer_id = ?", [a]) == ("装修", None)
    assert one(archive, "SELECT customer_id FROM transactions") == (a,)
    assert sorted(t for (t,) in archive.cursor().execute("SELECT tag FROM customer_tags WHERE customer_id = ?",
                                                         [a]).fetchall()) == ["VIP", "老客户"]
    assert one(archive, "SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == ("merge_customers",)

    assert merge.undo_merge(archive, LEAD, done.merge_id) == []
    assert one(archive, "SELECT name, industry FROM customers WHERE customer_id = ?", [b]) == ("乙装饰公司", "装修")
    assert one(archive, "SELECT industry FROM customers WHERE customer_id = ?", [a]) == (None,)
    assert one(archive, "SELECT customer_id FROM transactions") == (b,)
    assert one(archive, "SELECT count(*) FROM customer_tags WHERE customer_id = ?", [a]) == (1,)
    with pytest.raises(UserError, match="已经撤销过了"):
        merge.undo_merge(archive, LEAD, done.merge_id)


def test_undo_keeps_a_filled_field_changed_since(archive: Archive, flagged: tuple[str, str]) -> None:
    a, b = flagged
    done = merge.merge_customers(archive, LEAD, a, b)
    update_customer(archive, LEAD, a, {"industry": "建材"})
    add_interaction(archive, LEAD, a, dt.date(2026, 12, 1), "电话", "合并后回访")
    assert merge.undo_merge(archive, LEAD, done.merge_id) == ["industry"]
    assert one(archive, "SELECT industry FROM customers WHERE customer_id = ?", [a]) == ("建材",)
    assert one(archive, "SELECT customer_id FROM interactions") == (a,)  # made after the merge: stays


def test_merge_obeys_the_profiles_policy(archive: Archive, flagged: tuple[str, str]) -> None:
    a, b = flagged
    with pytest.raises(PermissionDenied, match="负责人是李娜"):
        merge.merge_customers(archive, SALES, a, b)
    with pytest.raises(UserError, match="不能把客户合并到自己"):
        merge.merge_customers(archive, LEAD, a, a)
    with pytest.raises(UserError, match="不存在"):
        merge.merge_customers(archive, LEAD, a, "C404")


def test_keep_apart_clears_the_flag(archive: Archive, flagged: tuple[str, str]) -> None:
    _, b = flagged
    merge.keep_apart(archive, LEAD, b)
    assert one(archive, "SELECT duplicate_note FROM customers WHERE customer_id = ?", [b]) == (None,)
    assert one(archive, "SELECT action FROM audit_log ORDER BY id DESC LIMIT 1") == ("keep_apart",)
