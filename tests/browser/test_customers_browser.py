"""客户查询 in a real browser: search by pinyin initials, open the profile, log a contact, reload."""
from __future__ import annotations

from pathlib import Path

from conftest import write_xlsx
from playwright.sync_api import Page, expect

from crm.db import open_archive
from crm.imports.pipeline import import_path

from .helpers import assert_no_exception, goto, screenshot, wait_for_app


def _archive(path: Path, workdir: Path) -> Path:
    archive = open_archive(path)
    import_path(archive, write_xlsx(workdir / "p.xlsx", {"客户档案": [
        ["客户编号", "客户姓名", "联系电话", "电子邮箱", "公司", "行业", "地区", "产品需求"],
        ["C20240501001", "张伟", "13812345678", "zw@example.com", "深圳甲科技有限公司", "制造业", "广东", "ERP"],
        ["C20240501002", "李娜", "13912340000", None, "杭州乙贸易有限公司", "零售", "浙江", None],
        ["C20240501003", "周强", "13712345679", None, "丙公司", "教育", "北京", None],
    ]}), user="admin")
    archive.close()
    return path


def test_search_by_initials_open_profile_log_contact_and_reload(streamlit_app_factory, tmp_path_factory,
                                                                page: Page) -> None:
    workdir = tmp_path_factory.mktemp("customers-browser")
    app = streamlit_app_factory(_archive(workdir / "crm.duckdb", workdir))
    goto(page, app.url, "/customers")
    assert_no_exception(page)
    expect(page.locator("h1")).to_have_text("客户查询")

    box = page.get_by_label("搜索：姓名、拼音或首字母", exact=False)
    box.fill("zw")
    box.press("Enter")
    wait_for_app(page)
    expect(page.get_by_text("共 1 位客户", exact=False)).to_be_visible()
    screenshot(page, "customers-search")

    # select the only result row: the grid is a canvas, click its row-marker column
    grid = page.locator('[data-testid="stDataFrame"]')
    box_ = grid.bounding_box()
    assert box_ is not None
    page.mouse.click(box_["x"] + 18, box_["y"] + 35 + 17)
    wait_for_app(page)
    expect(page.locator("h1")).to_contain_text("张伟")
    expect(page).to_have_url(f"{app.url}/customers?id=C20240501001")
    assert_no_exception(page)

    page.get_by_role("tab", name="编辑").click()
    page.get_by_label("沟通内容").fill("电话回访：客户对新版 ERP 感兴趣")
    page.get_by_role("button", name="保存联系记录").click()
    wait_for_app(page)
    expect(page.get_by_text("联系记录已保存", exact=False)).to_be_visible()

    page.reload()
    wait_for_app(page)
    expect(page.locator("h1")).to_contain_text("张伟")
    page.get_by_role("tab", name="联系记录").click()
    expect(page.get_by_text("电话回访：客户对新版 ERP 感兴趣")).to_be_visible()
    assert_no_exception(page)
    screenshot(page, "customers-profile")


def test_two_tabs_edit_the_same_customer_and_the_second_save_shows_the_conflict(streamlit_app_factory, tmp_path_factory,
                                                                                  page: Page) -> None:
    workdir = tmp_path_factory.mktemp("customers-two-tabs")
    app = streamlit_app_factory(_archive(workdir / "crm.duckdb", workdir))
    other = page.context.new_page()
    for tab in (page, other):
        goto(tab, app.url, "/customers?id=C20240501002")
        tab.get_by_role("tab", name="编辑").click()
    page.get_by_label("公司", exact=True).fill("杭州乙集团")
    page.get_by_role("button", name="保存修改").click()
    wait_for_app(page)
    expect(page.get_by_text("已保存", exact=False)).to_be_visible()

    other.get_by_label("公司", exact=True).fill("杭州乙控股")
    other.get_by_role("button", name="保存修改").click()
    wait_for_app(other)
    expect(other.get_by_text("未保存：1 个字段", exact=False)).to_be_visible()
    other.get_by_role("tab", name="编辑").click()
    expect(other.get_by_text("现在是「杭州乙集团」", exact=False)).to_be_visible()
    expect(other.get_by_label("公司", exact=True)).to_have_value("杭州乙控股")  # the input is kept
    assert_no_exception(other)
    screenshot(other, "customers-edit-conflict")
