"""Log-in in a real browser: a visitor sees only the log-in page on every url; a viewer who logs in
on a deep link lands on it and sees masked data only; refresh keeps nobody logged in by accident."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from crm.db import open_archive
from crm.seed import seed_demo

from .helpers import assert_no_exception, log_in, screenshot, wait_for_app


def _demo(path: Path) -> tuple[Path, str, str]:
    archive = open_archive(path)
    seed_demo(archive, customers=120, seed=5)
    cur = archive.cursor()
    cid, phone = cur.execute("SELECT customer_id, phone FROM customers WHERE phone IS NOT NULL ORDER BY customer_id LIMIT 1"
                             ).fetchall()[0]
    cur.close()
    archive.close()
    return path, cid, phone


def test_every_url_shows_the_log_in_page_and_a_viewer_sees_masked_data(streamlit_app_factory, tmp_path_factory,
                                                                     page: Page) -> None:
    db, cid, phone = _demo(tmp_path_factory.mktemp("login-browser") / "crm.duckdb")
    app = streamlit_app_factory(db)
    for path in ("/", "/customers", "/import", "/follow-ups", "/complaints", "/segments", "/admin"):
        page.goto(app.url + path)
        wait_for_app(page)
        expect(page.locator("h1")).to_have_text("登录客户档案")
        expect(page.get_by_text(phone)).to_have_count(0)
    screenshot(page, "login")

    page.goto(f"{app.url}/customers?id={cid}")
    wait_for_app(page)
    log_in(page, "访客")
    assert_no_exception(page)
    expect(page).to_have_url(f"{app.url}/customers?id={cid}")
    expect(page.locator("h1")).to_contain_text("*")  # the customer's name, masked
    expect(page.get_by_text(phone)).to_have_count(0)
    expect(page.get_by_text(phone[:3] + "****" + phone[-4:]).first).to_be_attached()  # in the grid, masked
    nav = page.locator('[data-testid="stSidebarNav"]')
    expect(nav.get_by_text("数据导入")).to_have_count(0)
    expect(nav.get_by_text("客户查询")).to_have_count(1)
    expect(nav.get_by_text("系统管理")).to_have_count(0)
    screenshot(page, "login-viewer-profile")
