"""The home page (档案概况) through Streamlit's AppTest: no browser, the real app.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from sample_data import KNOWN_BATCH_FILES, build_known_archive
from streamlit.testing.v1 import AppTest


@pytest.fixture
def run_app(app_test):
    """Run app.py on CRM_DB=<db>; returns the finished AppTest."""
    return lambda db: app_test(db)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_empty_archive_shows_hint(run_app, tmp_path):
    at = run_app(tmp_path / "empty.duckdb")
    assert not at.exception
    assert [t.value for t in at.title] == ["档案概况"]
    hints = [i.value for i in at.info]
    assert any("python -m crm seed" in h and "数据导入" in h for h in hints), hints
    assert metrics(at) == {
        "客户总数": "0",
        "待跟进": "0",
        "已逾期": "0",
        "今日到期": "0",
        "未结投诉": "0",
        "超期投诉": "0",
    }
    assert any("还没有导入记录" in c.value for c in at.caption)
    assert len(at.dataframe) == 0


def test_seeded_archive_shows_known_counts(run_app, tmp_path):
    db = tmp_path / "known.duckdb"
    expected = build_known_archive(db)
    at = run_app(db)
    assert not at.exception
    assert metrics(at) == {label: str(n) for label, n in expected.items()}
    assert len(at.info) == 0  # no empty-archive hint

    (table,) = at.dataframe
    frame = table.value
    assert list(frame.columns) == [
        "批次", "文件", "工作表", "模板", "导入人", "时间", "读取行数", "新建", "更新", "拒绝", "状态",
    ]
    assert list(frame["文件"]) == list(reversed(KNOWN_BATCH_FILES))  # newest first
    assert set(frame["状态"]) == {"有效"}


def test_each_run_follows_crm_db(run_app, tmp_path):
    """The cached archive is per path: switching CRM_DB switches archives."""
    db = tmp_path / "known.duckdb"
    build_known_archive(db)
    assert metrics(run_app(db))["客户总数"] == "6"
    assert metrics(run_app(tmp_path / "other.duckdb"))["客户总数"] == "0"


def test_the_menu_lists_exactly_the_pages_that_are_built():
    import app

    built = sorted(p.relative_to(app.ROOT).as_posix() for p in (app.ROOT / "pages").glob("*.py"))
    assert sorted(file for file, *_ in app.PAGES) == built
    assert all(Path(file).stem == url for file, _, _, url in app.PAGES)  # a deep link's path is the file's name
