"""投诉分析 in a real browser: register a complaint, see it in the open list and the month's count,
resolve it, see the deadline status change, download its 处理报告表 and open it."""
from __future__ import annotations

import io
from pathlib import Path

import openpyxl
from playwright.sync_api import Page, expect

from crm.db import open_archive

from .helpers import assert_no_exception, goto, metric, screenshot, wait_for_app


def _archive(path: Path) -> Path:
    archive = open_archive(path)
    with archive.transaction() as tx:
        tx.execute("INSERT INTO customers (customer_id, name, phone, owner) VALUES ('C20240501001', '张伟', '13812345678', 'admin')")
    archive.close()
    return path


def _view(page: Page, name: str) -> None:
    page.locator('[data-testid="stButtonGroup"]').first.get_by_role("radio", name=name, exact=True).click()
    wait_for_app(page)


def test_register_resolve_and_download_the_report(streamlit_app_factory, tmp_path_factory, page: Page) -> None:
    workdir = tmp_path_factory.mktemp("complaints-browser")
    app = streamlit_app_factory(_archive(workdir / "crm.duckdb"))
    goto(page, app.url, "/complaints")
    assert_no_exception(page)
    expect(page.locator("h1")).to_have_text("投诉分析")
    _view(page, "登记投诉")
    page.get_by_label("新客户姓名").fill("吴敏")
    page.get_by_label("新客户电话").fill("13912345678")
    page.get_by_label("投诉事由").fill("安装人员迟到两小时")
    page.get_by_role("button", name="登记投诉").click()
    wait_for_app(page)
    expect(page.get_by_text("已登记投诉 TS", exact=False)).to_be_visible()
    expect(page.get_by_text("已登记", exact=False).first).to_be_visible()
    screenshot(page, "complaints-registered")

    _view(page, "投诉分析")
    expect(metric(page, "投诉")).to_contain_text("1")
    expect(metric(page, "未结")).to_contain_text("1")
    _view(page, "投诉处理")
    expect(metric(page, "政策期限")).to_contain_text("处理中")
    # the next stage is offered first: 已登记 → 已受理 → 调查中 → 已处理
    for stage in ("已受理", "调查中"):
        page.get_by_role("button", name=f"转到「{stage}」").click()
        wait_for_app(page)
        expect(page.get_by_text(f"已转到「{stage}」", exact=False)).to_be_visible()
    page.get_by_label("处理结果").fill("上门致歉并赠送延保")
    page.get_by_role("button", name="转到「已处理」").click()
    wait_for_app(page)
    expect(page.get_by_text("已转到「已处理」", exact=False)).to_be_visible()
    expect(metric(page, "政策期限")).to_contain_text("按期")
    assert_no_exception(page)
    screenshot(page, "complaints-handled")

    with page.expect_download() as info:
        page.get_by_role("button", name="下载投诉处理报告表").click()
    data = Path(info.value.path()).read_bytes()
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    values = {c.value for row in ws.iter_rows() for c in row if c.value is not None}
    assert ws["A1"].value == "投诉处理报告表" and "上门致歉并赠送延保" in values and "吴敏" in values
