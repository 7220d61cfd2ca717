"""系统管理 in a real browser: an admin logs in, opens 备份恢复 and restores a backup behind the
confirmation; the archive is the backup's again (the home page counts its customers)."""
from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from crm.admin import backup
from crm.auth.personal import Actor
from crm.db import open_archive
from crm.seed import seed_demo
from crm.vocabulary import ADMIN

from .helpers import assert_no_exception, goto, metric, screenshot, wait_for_app


def _archive(path: Path) -> tuple[Path, str]:
    """A demo archive with a backup of 80 customers, then 10 of them deleted after it."""
    archive = open_archive(path)
    seed_demo(archive, customers=80, seed=9)
    made = backup.create_backup(archive, Actor("admin", ADMIN))
    cur = archive.cursor()
    cur.execute("DELETE FROM customers WHERE customer_id IN (SELECT customer_id FROM customers ORDER BY customer_id LIMIT 10)")
    cur.close()
    archive.close()
    return path, made.name


def test_an_admin_restores_a_backup(streamlit_app_factory, tmp_path_factory, page: Page) -> None:
    db, name = _archive(tmp_path_factory.mktemp("admin-browser") / "crm.duckdb")
    app = streamlit_app_factory(db)
    goto(page, app.url, "/")
    expect(metric(page, "客户总数")).to_contain_text("70")

    goto(page, app.url, "/admin")
    expect(page.locator("h1")).to_have_text("系统管理")
    page.locator('[data-testid="stButtonGroup"]').first.get_by_role("radio", name="备份恢复", exact=True).click()
    wait_for_app(page)
    expect(page.get_by_text(name).first).to_be_attached()  # listed (and picked: the only one)
    restore = page.get_by_role("button", name="恢复", exact=True)
    expect(restore).to_be_disabled()
    page.get_by_text("我确认用所选备份覆盖当前档案").click()
    wait_for_app(page)
    expect(restore).to_be_enabled()
    restore.click()
    wait_for_app(page)
    expect(page.get_by_text(f"已从备份 {name} 恢复档案", exact=False)).to_be_visible()
    assert_no_exception(page)
    screenshot(page, "admin-restored")

    page.get_by_role("link", name="档案概况").click()
    wait_for_app(page)
    expect(metric(page, "客户总数")).to_contain_text("80")
