"""客户查询 and the 客户360 profile through AppTest (the real app.py, switched to pages/customers.py)."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import write_xlsx
from streamlit.testing.v1 import AppTest

from crm.db import open_archive, scalar
from crm.imports.pipeline import import_path
from crm.seed import seed_demo


@pytest.fixture
def small_archive(tmp_path: Path) -> Path:
    db = tmp_path / "crm.duckdb"
    archive = open_archive(db)
    import_path(archive, write_xlsx(tmp_path / "p.xlsx", {"客户档案": [
        ["客户编号", "客户姓名", "联系电话", "电子邮箱", "公司", "标签"],
        ["C001", "张伟", "13812345678", "zw@example.com", "甲公司", "VIP"],
        ["C002", "李娜", "13912340000", None, "乙公司", None],
        ["C003", "王芳", "13712345679", None, "丙_公司", None],
    ]}), user="admin")
    archive.close()
    return db


@pytest.fixture
def open_page(app_test):
    return lambda db, query=None, user="admin": app_test(db, "pages/customers.py", user=user, query=query)


def table_ids(at: AppTest) -> list[str]:
    frame = at.dataframe[0].value
    return list(frame["客户编号"])


def test_empty_archive_renders_with_a_hint(tmp_path, open_page) -> None:
    at = open_page(tmp_path / "empty.duckdb")
    assert any("没有找到" in i.value for i in at.info)


def test_seeded_archive_lists_customers_page_by_page(tmp_path, open_page) -> None:
    db = tmp_path / "seeded.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=120, seed=3)
    archive.close()
    at = open_page(db)
    assert len(table_ids(at)) == 50
    assert any("共 120 位客户" in c.value for c in at.caption)
    at.button(key="cus_next").click().run()
    assert any("第 2 / 3 页" in c.value for c in at.caption)


def test_the_filters_fold_into_one_panel_that_says_what_is_set(small_archive, open_page) -> None:
    at = open_page(small_archive)
    [panel] = [e for e in at.expander if e.label.startswith("筛选")]
    assert panel.label == "筛选：全部客户" and panel.proto.expanded  # open on a wide screen
    assert {s.key for s in panel.selectbox} == {f"cus_f_{k}" for k in ("owner", "stage", "value", "region", "industry", "tag")}
    assert {s.key for s in at.selectbox} == {s.key for s in panel.selectbox}  # no filter outside the panel
    at.selectbox(key="cus_f_tag").set_value("VIP").run()
    [panel] = [e for e in at.expander if e.label.startswith("筛选")]
    assert panel.label == "筛选：标签 VIP" and table_ids(at) == ["C001"]


@pytest.mark.parametrize("query,expected", [("zw", ["C001"]), ("zhangwei", ["C001"]), ("5678", ["C001"]),
                                            ("乙公司", ["C002"]), ("丙_", ["C003"]), ("%", []), ("VIP", ["C001"])])
def test_search_box_finds_the_expected_customer(small_archive, open_page, query, expected) -> None:
    at = open_page(small_archive)
    at.text_input(key="cus_q").set_value(query).run()
    assert not at.exception
    if expected:
        assert table_ids(at) == expected
    else:
        assert not at.dataframe and any("没有找到" in i.value for i in at.info)


def test_deep_link_opens_the_profile(small_archive, open_page) -> None:
    at = open_page(small_archive, {"id": "C001"})
    assert at.title[0].value.startswith("张伟") and "C001" in at.title[0].value
    assert any("VIP" in c.value for c in at.caption)


def test_unknown_id_says_so(small_archive, open_page) -> None:
    at = open_page(small_archive, {"id": "C999"})
    assert any("找不到客户 C999" in e.value for e in at.error)


def test_profile_edit_persists_and_is_audited(small_archive, open_page) -> None:
    at = open_page(small_archive, {"id": "C002"})
    at.text_input(key="cus_edit_company").set_value("乙集团")
    at.button(key="FormSubmitter:cus_edit-保存修改").click().run()
    assert not at.exception, at.exception
    assert any("乙公司 → 乙集团" in s.value for s in at.success)
    archive = open_archive(small_archive)
    try:
        cur = archive.cursor()
        assert scalar(cur, "SELECT company FROM customers WHERE customer_id = 'C002'") == "乙集团"
        assert scalar(cur, "SELECT count(*) FROM audit_log WHERE action LIKE '%edit%' OR action LIKE '%update%'") >= 1
    finally:
        archive.close()


def test_a_save_against_a_newer_version_shows_both_values_and_keeps_the_input(small_archive, open_page) -> None:
    """Two people edit the same customer: the second save is refused with what they loaded and what
    the archive holds now; their input stays in the form, and saving again is then deliberate."""
    from crm.auth.personal import Actor
    from crm.customers.edits import update_customer

    at = open_page(small_archive, {"id": "C002"})
    at.text_input(key="cus_edit_company").set_value("乙集团")
    archive = open_archive(small_archive)  # the app's own connection (one per process): not closed here
    update_customer(archive, Actor("admin", "管理员"), "C002", {"company": "乙控股"})  # a colleague, meanwhile
    at.button(key="FormSubmitter:cus_edit-保存修改").click().run()
    assert not at.exception, at.exception
    assert any("未保存：1 个字段" in e.value for e in at.error)
    assert any("「乙公司」" in m.value and "「乙控股」" in m.value for m in at.markdown)
    assert at.text_input(key="cus_edit_company").value == "乙集团"
    assert scalar(archive.cursor(), "SELECT company FROM customers WHERE customer_id = 'C002'") == "乙控股"
    at.button(key="FormSubmitter:cus_edit-保存修改").click().run()
    assert any("乙控股 → 乙集团" in s.value for s in at.success)
    assert scalar(archive.cursor(), "SELECT company FROM customers WHERE customer_id = 'C002'") == "乙集团"


def test_invalid_phone_is_refused_beside_the_field_and_nothing_written(small_archive, open_page) -> None:
    at = open_page(small_archive, {"id": "C002"})
    at.text_input(key="cus_edit_phone").set_value("12345")
    at.button(key="FormSubmitter:cus_edit-保存修改").click().run()
    assert not at.exception
    assert any("联系电话" in e.value for e in at.error)
    assert any("手机号" in m.value or "号" in m.value for m in at.markdown if ":red[" in m.value)
    archive = open_archive(small_archive)
    try:
        assert scalar(archive.cursor(), "SELECT phone FROM customers WHERE customer_id = 'C002'") == "13912340000"
    finally:
        archive.close()


def test_add_interaction_shows_in_the_timeline(small_archive, open_page) -> None:
    at = open_page(small_archive, {"id": "C003"})
    at.text_area(key="cus_int_content").set_value("电话介绍新品")
    at.button(key="FormSubmitter:cus_interaction-保存联系记录").click().run()
    assert not at.exception, at.exception
    assert any("已保存" in s.value for s in at.success)
    assert any("电话介绍新品" in m.value for m in at.markdown)


def test_viewer_sees_masked_data_and_no_edit_forms(small_archive, open_page) -> None:
    archive = open_archive(small_archive)
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('看客', '只读')")
    archive.close()
    at = open_page(small_archive, user="看客")
    frame = at.dataframe[0].value
    assert "138****5678" in list(frame["电话"])
    at2 = open_page(small_archive, {"id": "C001"}, user="看客")
    assert any("没有修改" in i.value for i in at2.info)


def test_a_possible_duplicate_is_merged_from_the_profile_and_the_merge_undone(tmp_path, open_page) -> None:
    db = tmp_path / "crm.duckdb"
    archive = open_archive(db)
    import_path(archive, write_xlsx(tmp_path / "代理商.xlsx", {"客户": [
        ["公司名称", "手机"], ["甲建材公司", "13500000001"], ["乙装饰公司", "13500000001"]]}), user="admin")
    first = scalar(archive.cursor(), "SELECT customer_id FROM customers WHERE name = '甲建材公司'")
    second = scalar(archive.cursor(), "SELECT customer_id FROM customers WHERE name = '乙装饰公司'")
    archive.close()
    at = open_page(db, {"id": second})
    assert any("可能重复" in w.value and first in w.value for w in at.warning), [w.value for w in at.warning] + [str(at.exception)]
    assert at.text_input(key="cus_merge_other").value == first
    at.button(key="FormSubmitter:cus_merge-合并").click().run()
    assert not at.exception, at.exception
    assert any(f"已把 {first} 合并到 {second}" in s.value for s in at.success)
    archive = open_archive(db)  # the app's own connection (one per process): not closed here
    assert scalar(archive.cursor(), "SELECT count(*) FROM customers") == 1
    merge_id = scalar(archive.cursor(), "SELECT merge_id FROM customer_merges")
    at.button(key=f"cus_unmerge_{merge_id}").click().run()
    assert any("已撤销合并" in s.value for s in at.success), [e.value for e in at.error]
    assert scalar(archive.cursor(), "SELECT count(*) FROM customers") == 2


def test_the_edit_form_fits_the_data(small_archive, open_page) -> None:
    """Drop-downs from the vocabulary, a date picker, a number and tags that accept a new one."""
    import datetime as dt

    at = open_page(small_archive, {"id": "C002"})
    priority = at.selectbox(key="cus_edit_priority")
    assert priority.options == ["（未填写）", "高", "中", "低"]
    assert at.selectbox(key="cus_edit_gender").options[1:] == ["男", "女", "未知"]
    assert "20-99人" in at.selectbox(key="cus_edit_company_size").options
    priority.set_value("高")
    at.date_input(key="cus_edit_birth_date").set_value(dt.date(1988, 5, 6))
    at.number_input(key="cus_edit_credit_limit").set_value(50000.0)
    at.multiselect(key="cus_edit_tags").set_value(["VIP", "制造业-高价值"])
    at.button(key="FormSubmitter:cus_edit-保存修改").click().run()
    assert not at.exception, at.exception
    assert any("已保存" in s.value for s in at.success), [e.value for e in at.error]
    archive = open_archive(small_archive)
    assert archive.cursor().execute("SELECT priority, birth_date, CAST(credit_limit AS DOUBLE) FROM customers "
                                    "WHERE customer_id = 'C002'").fetchone() == ("高", dt.date(1988, 5, 6), 50000.0)
    tags = {t for (t,) in archive.cursor().execute("SELECT tag FROM customer_tags WHERE customer_id = 'C002'").fetchall()}
    assert {"VIP"} <= tags and tags & {"制造业-高价值", "制造业", "高价值"}
