"""客户分类 in a real browser: click a bar, see the customers behind it, open one's profile."""
from __future__ import annotations

from playwright.sync_api import Page, expect

from crm import clock
from crm import segments as S
from crm.auth.personal import Actor, PersonalData
from crm.db import open_archive
from crm.seed import seed_demo

from .helpers import assert_no_exception, goto, screenshot, wait_for_app


def _click_mark(page: Page, chart_key: str, index: int) -> None:
    """Click the index-th bar of the chart's first trace (Plotly's drag layer covers the bars, so click by position)."""
    bar = page.locator(f".st-key-{chart_key} g.trace.bars").first.locator("g.point path").nth(index)
    bar.scroll_into_view_if_needed()
    box = bar.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.wait_for_timeout(200)
    page.mouse.click(x, y)
    wait_for_app(page, settle_ms=500)


def test_click_a_bar_lists_its_customers_and_a_row_opens_the_profile(streamlit_app_factory, tmp_path_factory,
                                                                      page: Page) -> None:
    today = clock.today()  # the page opens as of today
    db = tmp_path_factory.mktemp("segments-browser") / "crm.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=3000, seed=42, today=today)
    run = S.segment_run(archive, today)
    overview = S.overview(archive, run)
    lapsing = int(overview.loc[(overview.dimension == "stage") & (overview.label == "流失风险客户"), "customers"].iloc[0])
    drill = S.Drill("stage", ("流失风险客户",), "")
    first = S.drill_page(PersonalData(archive, Actor("admin", "管理员")), run, S.SegmentFilters(), drill, 0, 1)
    top_id = str(first["客户编号"].iloc[0])
    archive.close()

    app = streamlit_app_factory(db)
    page.set_viewport_size({"width": 1440, "height": 2400})
    goto(page, app.url, "/segments")
    assert_no_exception(page)
    expect(page.locator("h1")).to_have_text("客户分类")
    expect(page.get_by_text("点击上方任一图表中的柱形或方格", exact=False)).to_be_visible()

    # bars are drawn bottom-up in reverse label order: 流失风险客户 is the first bar of the customers panel
    _click_mark(page, "seg_chart_stage", S.STAGES[::-1].index("流失风险客户"))
    expect(page.get_by_text("需求阶段：流失风险客户", exact=False).first).to_be_visible()
    expect(page.get_by_text(f"共 {lapsing:,} 位客户", exact=False)).to_be_visible()
    grid = page.locator('[data-testid="stDataFrame"]').last
    expect(grid.get_by_text(top_id, exact=True)).to_have_count(1)
    expect(grid.get_by_text("流失风险客户", exact=False).first).to_be_attached()
    assert_no_exception(page)
    screenshot(page, "segments")

    # a row of the list opens the customer's profile
    box = grid.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 18, box["y"] + 35 + 17)
    wait_for_app(page)
    expect(page).to_have_url(f"{app.url}/customers?id={top_id}")
    assert_no_exception(page)


def test_click_a_migration_cell_lists_who_moved(streamlit_app_factory, tmp_path_factory, page: Page) -> None:
    today = clock.today()
    db = tmp_path_factory.mktemp("segments-migration") / "crm.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=1500, seed=9, today=today)
    run = S.segment_run(archive, today)
    before = S.segment_run(archive, S.quarter_end_before(today))
    frame = S.migration(archive, before, run, "value", target_dimension="stage")
    archive.close()

    app = streamlit_app_factory(db)
    page.set_viewport_size({"width": 1440, "height": 1600})
    goto(page, app.url, "/segments")
    page.get_by_role("tab", name="客户迁移").click()
    wait_for_app(page)
    assert_no_exception(page)
    cell = page.locator(".st-key-seg_chart_migration_value_stage g.trace.scatter g.points path").first
    cell.scroll_into_view_if_needed()
    box = cell.bounding_box()
    assert box is not None
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(200)
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    wait_for_app(page, settle_ms=500)
    # the first point is the first (source, target) pair of the migration frame
    source, target, n = frame[frame.customers > 0].iloc[0][["source", "target", "customers"]]
    expect(page.get_by_text(f"「{source}」→ 现需求阶段「{target}」", exact=False).first).to_be_visible()
    expect(page.get_by_text(f"共 {int(n):,} 位客户", exact=False)).to_be_visible()
    assert_no_exception(page)
    screenshot(page, "segments-migration")
