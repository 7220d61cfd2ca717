"""跟进队列 through AppTest: each role once, on an empty and a seeded archive; 完成 writes the
interaction; a lead reassigns; a sales user cannot."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from crm import clock
from crm.db import fetch_one, open_archive
from crm.seed import seed_demo

PAGE = "pages/follow-ups.py"
TODAY = dt.date(2026, 12, 1)


@pytest.fixture(autouse=True)
def pinned() -> object:
    with clock.pinned(dt.datetime(2026, 12, 1, 10, 0)):
        yield


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("followups") / "seeded.duckdb"
    archive = open_archive(db)
    seed_demo(archive, customers=400, seed=11, today=TODAY)
    archive.close()
    return db


def one(db: Path, sql: str, params: list | None = None) -> tuple:
    archive = open_archive(db)
    cur = archive.cursor()
    try:
        return fetch_one(cur, sql, params or [])
    finally:
        cur.close()


def views(at) -> list[str]:
    return list(next(b for b in at.button_group if b.key == "fu_view").options)


def labels(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_an_empty_archive(tmp_path: Path, app_test) -> None:
    at = app_test(tmp_path / "empty.duckdb", PAGE)
    assert [t.value for t in at.title] == ["跟进队列"]
    assert labels(at)["逾期"] == "0"
    assert any("没有待跟进的任务" in i.value for i in at.info)
    assert views(at) == ["待办队列", "久未联系", "客户公海", "主管视图"]  # nobody registered: admin


def test_a_sales_user_sees_their_own_queue_and_cannot_reassign(seeded: Path, app_test) -> None:
    at = app_test(seeded, PAGE, user="王磊")
    assert any("王磊 的跟进队列" in c.value for c in at.caption)
    assert "主管视图" not in views(at)
    owners = set(at.dataframe[0].value["负责人"])
    assert owners == {"王磊"}
    assert not [f for f in at.get("form") if getattr(f, "key", None) == "fu_bulk_assign"]
    assert any("转派跟进任务需要主管" in c.value for c in at.caption)


def test_completing_from_the_queue_writes_the_interaction_and_plans_the_next(seeded: Path, app_test, tmp_path) -> None:
    import shutil

    db = tmp_path / "work.duckdb"
    shutil.copy(seeded, db)
    at = app_test(db, PAGE, user="王磊")
    fid = at.selectbox(key="fu_pick").value
    at.text_area(key="fu_done_content").set_value("电话确认了交货时间")
    at.text_input(key="fu_done_result").set_value("客户满意")
    at.date_input(key="fu_done_next").set_value(TODAY + dt.timedelta(days=5))
    next(b for b in at.button if b.label == "完成并安排下次").click().run()
    assert not at.exception, at.exception
    assert any("已完成" in s.value and "2026-12-06" in s.value for s in at.success)
    status, by, interaction = one(db, "SELECT status, completed_by, interaction_id FROM follow_ups WHERE id = ?", [fid])
    assert (status, by) == ("已完成", "王磊") and interaction is not None
    assert one(db, "SELECT content, result FROM interactions WHERE id = ?", [interaction]) == ("电话确认了交货时间", "客户满意")
    assert one(db, "SELECT count(*) FROM follow_ups WHERE origin = 'next' AND due = ? AND owner = '王磊'",
               [TODAY + dt.timedelta(days=5)]) == (1,)
    assert fid not in at.selectbox(key="fu_pick").options


def test_a_lead_reassigns_rows_and_sees_the_team(seeded: Path, app_test, tmp_path) -> None:
    import shutil

    db = tmp_path / "lead.duckdb"
    shutil.copy(seeded, db)
    at = app_test(db, PAGE, user="孙丽")
    assert "主管视图" in views(at)
    team_view = app_test(db, PAGE, user="孙丽", session={"fu_view": "主管视图"})
    owner_table = next(df.value for df in team_view.dataframe if "按期完成率" in df.value.columns)
    assert {"王磊", "李娜"} <= set(owner_table["负责人"])
    at = app_test(db, PAGE, user="孙丽")
    picked = at.selectbox(key="fu_pick").options[:2]
    ids = [int(at.selectbox(key="fu_pick").value)]
    at.multiselect(key="fu_many").set_value(ids).run()
    at.selectbox(key="fu_assign_to").set_value("陈静")
    at.text_input(key="fu_assign_reason").set_value("王磊休假")
    next(b for b in at.button if b.label == "转派").click().run()
    assert not at.exception, at.exception
    assert any("转派给 陈静" in s.value for s in at.success), [e.value for e in at.error]
    assert one(db, "SELECT owner FROM follow_ups WHERE id = ?", [ids[0]]) == ("陈静",)
    assert picked


def test_a_manager_opens_an_owners_queue_from_the_team_table(seeded: Path, app_test) -> None:
    at = app_test(seeded, PAGE, user="周涛", session={"fu_view": "主管视图"})
    at.selectbox(key="fu_lead_pick").set_value("李娜")
    next(b for b in at.button if b.label == "打开队列").click().run()
    assert not at.exception
    assert at.selectbox(key="fu_owner").value == "李娜"
    assert set(at.dataframe[0].value["负责人"]) == {"李娜"}


def test_the_home_tile_opens_the_overdue_bucket(seeded: Path, app_test) -> None:
    at = app_test(seeded, PAGE, user="周涛", query={"bucket": "逾期"})
    frame = at.dataframe[0].value
    assert set(frame["分组"]) == {"逾期"}


def test_an_admin_turns_the_pool_on_and_customers_are_released(seeded: Path, app_test, tmp_path) -> None:
    import shutil

    db = tmp_path / "pool.duckdb"
    shutil.copy(seeded, db)
    at = app_test(db, PAGE, user="admin", session={"fu_view": "主管视图"})
    at.number_input(key="fu_set_pool_release_days").set_value(60)
    next(b for b in at.button if b.label == "保存设置").click().run()
    assert not at.exception, at.exception
    assert any("公海释放期限 0 → 60" in s.value for s in at.success)
    released = one(db, "SELECT count(*) FROM customers WHERE pool_since IS NOT NULL")[0]
    assert released > 0
    assert any(f"{released} 位客户" in i.value for i in at.info)
    assert released == one(db, "SELECT count(*) FROM audit_log WHERE action = 'pool_release'")[0]
    pool_view = app_test(db, PAGE, user="admin", session={"fu_view": "客户公海"})
    pool_table = next(df.value for df in pool_view.dataframe if "原负责人" in df.value.columns)
    assert len(pool_table) == min(released, 50)


def test_a_sales_user_cannot_change_the_settings(seeded: Path, app_test) -> None:
    at = app_test(seeded, PAGE, user="孙丽", session={"fu_view": "主管视图"})
    assert any("只有管理员可以修改这些设置" in c.value for c in at.caption)
    assert not [n for n in at.number_input if n.key == "fu_set_pool_release_days"]
