"""A deep link opened as the very first request of a fresh server gets the whole app around it."""
from __future__ import annotations

from .helpers import wait_for_app


def test_first_request_deep_link_opens_page_inside_app_navigation(streamlit_app_factory, tmp_path, page) -> None:
    app = streamlit_app_factory(tmp_path / "fresh.duckdb")  # a server no session has visited yet
    page.goto(f"{app.url}/import")
    wait_for_app(page)
    nav = page.get_by_test_id("stSidebarNav")
    assert nav.get_by_text("档案概况").count() == 1 and nav.get_by_text("数据导入").count() == 1
    assert page.get_by_text("当前用户").count() >= 1
    assert page.get_by_role("heading", name="数据导入").count() >= 1
    assert page.get_by_test_id("stException").count() == 0
