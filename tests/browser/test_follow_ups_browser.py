"""跟进队列 in a real browser: complete a follow-up with 完成并安排下次, reload: it is gone from the
open list, the next one is there, and both are on the customer's profile."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from playwright.sync_api import Page, expect

from crm import clock
from crm.db import open_archive

from .helpers import assert_no_exception, goto, metric, screenshot, wait_for_app


def _archive(path: Path) -> Path:
    archive = open_archive(path)
    today = clock.today()
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('admin', '管理员'), ('王磊', '销售')")
        tx.execute("INSERT INTO customers (customer_id, name, phone, owner, first_contact, product_need) VALUES "
                   "('C20240501001', '张伟', '13812345678', '王磊', DATE '2024-05-01', 'ERP'), "
                   "('C20240501002', '李娜', '13912340000', '王磊', DATE '2024-05-01', 'CRM')")
        tx.execute("INSERT INTO follow_ups (customer_id, due, channel, content, goal, owner) VALUES "
                   "('C20240501001', ?, '电话', '确认报价', '达成合作', '王磊'), "
                   "('C20240501002', ?, '微信', '发送资料', '增加订单', '王磊')",
                   [today - dt.timedelta(days=2), today + dt.timedelta(days=10)])
    archive.close()
    return path


def test_complete_and_schedule_next_then_reload(streamlit_app_factory, tmp_path_factory, page: Page) -> None:
    workdir = tmp_path_factory.mktemp("followups-browser")
    app = streamlit_app_factory(_archive(workdir / "crm.duckdb"))
    goto(page, app.url, "/follow-ups?bucket=逾期")
    assert_no_exception(page)
    expect(page.locator("h1")).to_have_text("跟进队列")
    grid = page.locator('[data-testid="stDataFrame"]').first
    expect(grid).to_be_visible()
    screenshot(page, "follow-ups-overdue")

    page.get_by_label("沟通内容").fill("已电话确认报价，客户下周签约")
    page.get_by_label("结果", exact=True).fill("同意签约")
    page.get_by_role("button", name="完成并安排下次").click()
    wait_for_app(page)
    expect(page.get_by_text("已完成，并记录了这次联系", exact=False)).to_be_visible()
    assert_no_exception(page)

    page.reload()
    wait_for_app(page)
    # gone from the open list (no overdue one left), the next one is there (still two open in all)
    expect(page.get_by_text("逾期（0）", exact=False)).to_be_visible()
    expect(page.get_by_text("全部（2）", exact=False)).to_be_visible()
    screenshot(page, "follow-ups-after")

    goto(page, app.url, "/customers?id=C20240501001")
    expect(page.locator("h1")).to_contain_text("张伟")
    expect(metric(page, "待跟进")).to_contain_text("1")  # the next one is open
    page.get_by_role("tab", name="跟进计划").click()
    expect(page.get_by_text("过往跟进")).to_be_visible()  # the completed one is kept
    page.get_by_role("tab", name="联系记录").click()
    expect(page.get_by_text("已电话确认报价，客户下周签约")).to_be_visible()
    assert_no_exception(page)
    screenshot(page, "follow-ups-profile")
