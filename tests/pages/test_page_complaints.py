"""投诉分析 and 满意度 through AppTest: register through the form, move a complaint through every
stage, and each view on an empty and a seeded archive."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from crm import clock
from crm.db import fetch_one, open_archive
from crm.seed import seed_demo

PAGE = "pages/complaints.py"
TODAY = dt.date(2026, 11, 20)


@pytest.fixture(autouse=True)
def pinned() -> object:
    with clock.pinned(dt.datetime(2026, 11, 20, 10, 0)):
        yield


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("complaints") / "seeded.duckdb"
    with clock.pinned(dt.datetime(2026, 11, 20, 10, 0)):
        archive = open_archive(db)
        seed_demo(archive, customers=400, seed=12, today=TODAY)
        archive.close()
    return db


def one(db: Path, sql: str, params: list | None = None) -> tuple:
    cur = open_archive(db).cursor()
    try:
        return fetch_one(cur, sql, params or [])
    finally:
        cur.close()


@pytest.mark.parametrize("view", ["投诉处理", "登记投诉", "投诉分析", "满意度"])
def test_each_view_on_an_empty_archive(tmp_path: Path, app_test, view: str) -> None:
    at = app_test(tmp_path / "empty.duckdb", PAGE, session={"cp_view": view})
    assert [t.value for t in at.title] == ["投诉分析"]
    if view != "登记投诉":
        assert at.info, view


@pytest.mark.parametrize("view", ["投诉处理", "投诉分析", "满意度"])
def test_each_view_on_a_seeded_archive(seeded: Path, app_test, view: str) -> None:
    at = app_test(seeded, PAGE, user="周涛", session={"cp_view": view})
    assert at.dataframe, view
    if view == "投诉分析":
        labels = {m.label: m.value for m in at.metric}
        assert int(labels["投诉"]) > 0 and labels["政策期限按期率"].endswith("%")
        assert len(at.get("plotly_chart")) == 3
    if view == "满意度":
        assert any("满意占比" in c.value for c in at.caption)


def test_register_through_the_form_and_move_through_every_stage(seeded: Path, app_test, tmp_path: Path) -> None:
    db = tmp_path / "work.duckdb"
    shutil.copy(seeded, db)
    at = app_test(db, PAGE, user="admin", session={"cp_view": "登记投诉"})
    at.text_input(key="cp_new_name").set_value("吴敏")
    at.text_input(key="cp_new_phone").set_value("13912345678")
    at.selectbox(key="cp_kind").set_value("服务")
    at.selectbox(key="cp_urgency").set_value("急")
    at.text_area(key="cp_reason").set_value("安装人员迟到两小时")
    next(b for b in at.button if b.label == "登记投诉").click().run()
    assert not at.exception, at.exception
    success = [s.value for s in at.success]
    assert any("已登记投诉 TS20261120" in s for s in success), [e.value for e in at.error]
    cid = one(db, "SELECT complaint_id FROM complaints WHERE reason = '安装人员迟到两小时'")[0]
    assert at.session_state["cp_view"] == "投诉处理" and at.selectbox(key="cp_pick").value == cid
    steps = [("已受理", {}), ("调查中", {}),
             ("已处理", {"cp_resolution": "道歉", "cp_root_cause": "服务态度", "cp_outcome": "上门致歉并赠送延保"}),
             ("已回访", {}), ("已关闭", {})]
    for stage, inputs in steps:
        at.selectbox(key="cp_to").set_value(stage).run()
        for key, value in inputs.items():
            widget = at.text_area(key=key) if key == "cp_outcome" else at.selectbox(key=key)
            widget.set_value(value)
        next(b for b in at.button if b.label == f"转到「{stage}」").click().run()
        assert not at.exception, at.exception
        assert any(f"已转到「{stage}」" in s.value for s in at.success), (stage, [e.value for e in at.error])
    row = one(db, "SELECT stage, resolution, root_cause, resolved_on, satisfaction FROM complaints WHERE complaint_id = ?", [cid])
    assert row == ("已关闭", "道歉", "服务态度", TODAY, 4)
    assert one(db, "SELECT count(*) FROM complaint_events WHERE complaint_id = ?", [cid]) == (6,)


def test_a_refused_move_is_a_message(seeded: Path, app_test, tmp_path: Path) -> None:
    db = tmp_path / "refuse.duckdb"
    shutil.copy(seeded, db)
    open_cid = one(db, "SELECT complaint_id FROM complaints WHERE stage = '已受理' ORDER BY date DESC LIMIT 1")[0]
    archive = open_archive(db)
    with archive.transaction() as tx:  # nothing about its handling written yet
        tx.execute("UPDATE complaints SET outcome = NULL WHERE complaint_id = ?", [open_cid])
    archive.close()
    at = app_test(db, PAGE, user="admin", session={"cp_view": "投诉处理"}, query={"id": open_cid})
    assert at.selectbox(key="cp_pick").value == open_cid
    at.selectbox(key="cp_to").set_value("调查中").run()
    next(b for b in at.button if b.label == "转到「调查中」").click().run()
    at.selectbox(key="cp_to").set_value("已处理").run()
    next(b for b in at.button if b.label == "转到「已处理」").click().run()  # no outcome typed
    assert not at.exception, at.exception
    assert any("需要填写：处理结果" in e.value for e in at.error), ([e.value for e in at.error], [s.value for s in at.success])
    assert one(db, "SELECT stage FROM complaints WHERE complaint_id = ?", [open_cid]) == ("调查中",)
