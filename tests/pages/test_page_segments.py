"""The 客户分类 page through Streamlit's AppTest (the real app.py, switched to pages/segments.py)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from crm import clock
from crm import segments as S
from crm.db import open_archive
from crm.seed import seed_demo

D = dt.date(2026, 11, 22)


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("segments") / "seeded.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=1200, seed=3, today=D)
    archive.close()
    return db


@pytest.fixture
def page(tmp_path, app_test):
    """open(db, user=None, **session) → AppTest on the segments page as of D with CRM_DB=db."""

    def open_page(db: Path | None = None, user: str | None = None, **session) -> AppTest:
        return app_test(db or tmp_path / "crm.duckdb", "pages/segments.py", user=user,
                        session={"seg_as_of": D, **session}, timeout=120)

    return open_page


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def charts(at: AppTest) -> list[str]:
    return [e.key for e in at.get("plotly_chart")]


def test_renders_on_an_empty_archive(page) -> None:
    at = page()
    assert [t.value for t in at.title] == ["客户分类"]
    assert any("还没有客户" in i.value for i in at.info)
    assert not charts(at)


def test_renders_on_a_seeded_archive(page, seeded_db) -> None:
    at = page(seeded_db)
    got = metrics(at)
    assert got["客户数"] == "1,200"
    archive = open_archive(seeded_db)
    run = S.segment_run(archive, D)
    ov = S.overview(archive, run)
    count = {(d, lab): n for d, lab, n in zip(ov.dimension, ov.label, ov.customers)}
    assert got["高价值"] == f"{count[('value', '高价值')]:,}"
    assert got["流失风险客户"] == f"{count[('stage', '流失风险客户')]:,}"
    assert {"seg_chart_stage", "seg_chart_value", "seg_chart_behaviour", "seg_chart_industry",
            "seg_chart_region"} <= set(charts(at))
    assert [t.label for t in at.tabs] == ["分类分布", "RFM 分群", "标签组合", "客户迁移", "分析报表"]
    assert any("点击上方任一图表" in c.value for c in at.caption)


def test_a_filter_changes_the_figures(page, seeded_db) -> None:
    at = page(seeded_db)
    before = metrics(at)
    at.selectbox(key="seg_f_region").set_value("广东").run()
    assert not at.exception, at.exception
    after = metrics(at)
    archive = open_archive(seeded_db)
    cur = archive.cursor()
    try:
        n = cur.execute("SELECT count(*) FROM customers WHERE region = '广东'").fetchall()[0][0]
    finally:
        cur.close()
    assert after["客户数"] == f"{n:,}" and after["客户数"] != before["客户数"]
    assert after["高价值"] != before["高价值"]
    at.selectbox(key="seg_f_tag").set_value("VIP").run()
    assert int(metrics(at)["客户数"].replace(",", "")) < n
    # an earlier date gives the figures as they were then
    at.selectbox(key="seg_f_region").set_value("全部").run()
    at.selectbox(key="seg_f_tag").set_value("全部").run()
    at.date_input(key="seg_as_of").set_value(dt.date(2026, 5, 31)).run()
    assert not at.exception, at.exception
    assert int(metrics(at)["客户数"].replace(",", "")) < 1200


@pytest.mark.parametrize("tab, keys", [
    ("RFM 分群", {"seg_chart_rfm", "seg_chart_rfm_grid"}),
    ("标签组合", {"seg_chart_combination"}),
    ("客户迁移", {"seg_chart_migration_value_stage"}),
])
def test_every_tab_renders_its_charts(page, seeded_db, tab, keys) -> None:
    at = page(seeded_db, seg_tab=tab)
    assert keys <= set(charts(at)), charts(at)
    if tab == "客户迁移":
        text = " ".join(m.value for m in at.markdown)
        assert "2026-09-30 的 **高价值** 客户" in text and "流失风险客户" in text


def test_the_classic_tables(page, seeded_db) -> None:
    at = page(seeded_db, seg_tab="分析报表")
    frames = [d.value for d in at.dataframe]
    growth = next(f for f in frames if "期初客户数" in f.columns)
    region = next(f for f in frames if "客户占比" in f.columns)
    assert list(growth["期间"]) == ["本期", "上期", "增减"]
    row = growth.iloc[0]
    assert row["期末客户数"] == row["期初客户数"] + row["本期新增"] + row["本期回流"] - row["本期流失"]
    assert region.iloc[-1]["地区"] == "合计" and region.iloc[-1]["客户数"] == 1200
    labels = [b.label for b in at.get("download_button")]
    assert "导出客户增减分析表（.xlsx）" in labels and "导出客户区域分析表（.xlsx）" in labels


def test_a_drill_down_lists_the_customers_behind_a_bar(page, seeded_db) -> None:
    drill = {"kind": "value", "labels": ["高价值"], "title": "客户价值：高价值", "source": "seg_chart_value", "before": None}
    at = page(seeded_db, seg_drill=drill)
    expected = metrics(at)["高价值"]
    assert any(f"共 **{expected}** 位客户" in m.value for m in at.markdown)
    (listing,) = [d.value for d in at.dataframe if "分类原因" in d.value.columns]
    assert set(listing["客户价值"]) == {"高价值"} and len(listing) == min(50, int(expected.replace(",", "")))
    assert listing["档案"].iloc[0] == f"/customers?id={listing['客户编号'].iloc[0]}"
    assert all("近 12 个月消费" in r for r in listing["分类原因"])
    assert any(b.label.startswith("导出全部") for b in at.get("download_button"))
    at.button(key="seg_drill_next").click().run()
    assert not at.exception
    assert any("第 2 /" in c.value for c in at.caption)
    at.button(key="seg_drill_clear").click().run()
    assert not [d for d in at.dataframe if "分类原因" in d.value.columns]


def test_a_viewer_sees_masked_names_in_the_list(page, seeded_db) -> None:
    drill = {"kind": "stage", "labels": ["老客户"], "title": "需求阶段：老客户", "source": "seg_chart_stage", "before": None}
    at = page(seeded_db, user="访客", seg_drill=drill)
    (listing,) = [d.value for d in at.dataframe if "分类原因" in d.value.columns]
    assert all("*" in name for name in listing["姓名"])
    assert any("已按权限脱敏" in m.value for m in at.markdown)


def test_an_admin_changes_a_threshold_and_the_figures_follow(page, seeded_db, tmp_path) -> None:
    import shutil
    db = tmp_path / "copy.duckdb"
    shutil.copy(seeded_db, db)
    at = page(db)
    before = metrics(at)["新成交客户"]
    at.number_input(key="seg_set_new_customer_months").set_value(6)
    next(b for b in at.button if b.label == "保存阈值").click().run()
    assert not at.exception, at.exception
    assert any("新成交客户期限 3 → 6" in s.value for s in at.success)
    assert int(metrics(at)["新成交客户"].replace(",", "")) > int(before.replace(",", ""))


def test_opening_the_app_computes_the_pages_runs_in_the_background(tmp_path: Path, monkeypatch, app_test) -> None:
    """With the warmer on (as in production), the first page run of the app starts computing today's
    runs; a manager who comes a moment later finds them cached."""
    db = tmp_path / "warm.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=150, seed=5, today=clock.today())
    archive.close()
    monkeypatch.setenv(S.WARM_SWITCH, "1")
    app_test(db, timeout=120)
    from crm import db as crm_db
    opened = crm_db.open_archive(db)  # the app's own (one archive per path and process)
    assert S.wait_for_warmer(opened)
    assert all(S.cached_run(opened, d) is not None for d in S.page_dates(clock.today()))
