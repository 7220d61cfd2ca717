"""A deep link opened as the very first request of a fresh server gets the whole app around it."""
from __future__ import annotations

from playwright.sync_api import expect

from .helpers import wait_for_app


def test_first_request_deep_link_opens_page_inside_app_navigation(streamlit_app_factory, tmp_path, page) -> None:
    app = streamlit_app_factory(tmp_path / "fresh.duckdb")  # a server no session has visited yet
    page.goto(f"{app.url}/import")
    wait_for_app(page)
    # The page reruns itself once to leave Streamlit's folder mode: retrying assertions ride that out.
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("档案概况")).to_have_count(1, timeout=20_000)
    expect(nav.get_by_text("数据导入")).to_have_count(1, timeout=20_000)
    expect(page.get_by_text("当前用户").first).to_be_visible(timeout=20_000)
    expect(page.get_by_role("heading", name="数据导入").first).to_be_visible(timeout=20_000)
    expect(page.get_by_test_id("stException")).to_have_count(0)
