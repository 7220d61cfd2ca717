"""档案概况 in a real browser: the tiles show the archive's known figures."""
from __future__ import annotations

from playwright.sync_api import expect
from sample_data import KNOWN_BATCH_FILES, build_known_archive

from .helpers import assert_no_exception, goto, metric_values, screenshot


def test_home_shows_vital_signs(streamlit_app_factory, tmp_path_factory, page):
    db = tmp_path_factory.mktemp("home") / "crm.duckdb"
    expected = build_known_archive(db)
    app = streamlit_app_factory(db)

    goto(page, app.url)
    assert_no_exception(page)
    expect(page.locator("h1")).to_have_text("档案概况")
    assert metric_values(page) == {label: str(n) for label, n in expected.items()}
    expect(page.get_by_text("python -m crm seed")).to_have_count(0)
    expect(page.get_by_role("heading", name="最近导入")).to_be_visible()
    expect(page.locator('[data-testid="stDataFrame"]')).to_be_visible()
    # the navigation shows the page title; the browser tab the app's
    expect(page).to_have_title("客户档案")
    screenshot(page, "home")


def test_home_on_empty_archive_points_to_import_and_seed(streamlit_app, page):
    goto(page, streamlit_app.url)
    assert_no_exception(page)
    hint = page.locator('[data-testid="stAlert"]')
    expect(hint).to_contain_text("数据导入")
    expect(hint).to_contain_text("python -m crm seed")
    assert metric_values(page)["客户总数"] == "0"
    screenshot(page, "home-empty")


def test_known_files_listed(streamlit_app_factory, tmp_path_factory, page):
    """The recent-imports grid is a canvas; its cells are mirrored in an accessible table."""
    db = tmp_path_factory.mktemp("home-files") / "crm.duckdb"
    build_known_archive(db)
    goto(page, streamlit_app_factory(db).url)
    grid = page.locator('[data-testid="stDataFrame"]')
    for name in KNOWN_BATCH_FILES:
        expect(grid.get_by_text(name)).to_have_count(1)
