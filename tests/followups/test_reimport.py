"""A re-imported 跟进计划 sheet never moves a follow-up's status backwards (issue 16's first case)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

from conftest import one, write_xlsx

from crm import clock
from crm.auth.personal import Actor
from crm.db import Archive
from crm.followups import actions
from crm.imports.batches import undo_batch
from crm.imports.pipeline import import_path

HEAD = ["客户编号", "客户名称", "联系方式", "跟进时间", "跟进方式", "跟进内容", "状态"]



def test_a_completed_follow_up_survives_a_reimport(archive: Archive, tmp_path: Path) -> None:
    with clock.pinned(dt.datetime(2026, 12, 1, 10, 0)):
        with archive.transaction() as tx:
            tx.execute("INSERT INTO customers (customer_id, name, phone, owner) VALUES ('C1', '张伟', '13800000001', '王磊')")
        sheet = write_xlsx(tmp_path / "plan.xlsx", {"跟进计划": [HEAD, ["C1", "张伟", None, "2026-12-05", "电话", "回访", "待跟进"]]})
        import_path(archive, sheet, user="王磊", today=dt.date(2026, 12, 1))
        (fid,) = one(archive, "SELECT id FROM follow_ups")
        actions.complete_follow_up(archive, Actor("王磊", "销售"), fid, channel="电话", content="已回访")
        report = import_path(archive, sheet, user="王磊", today=dt.date(2026, 12, 1))
    batch = report.batches[0]
    assert (batch.updated, batch.created) == (0, 0)
    assert one(archive, "SELECT status, completed_by FROM follow_ups WHERE id = ?", [fid]) == ("已完成", "王磊")
    assert any("不会被表格改回「待跟进」" in p.message for p in batch.problems)


def test_a_sheet_may_complete_an_open_one_and_undo_reopens_it(archive: Archive, tmp_path: Path) -> None:
    with archive.transaction() as tx:
        tx.execute("INSERT INTO customers (customer_id, name, phone) VALUES ('C1', '张伟', '13800000001')")
    first = write_xlsx(tmp_path / "a.xlsx", {"跟进计划": [HEAD, ["C1", "张伟", None, "2026-12-05", "电话", "回访", "待跟进"]]})
    done = write_xlsx(tmp_path / "b.xlsx", {"跟进计划": [HEAD, ["C1", "张伟", None, "2026-12-05", "电话", "回访", "已完成"]]})
    import_path(archive, first, user="tester")
    report = import_path(archive, done, user="tester")
    assert one(archive, "SELECT status, completed_by FROM follow_ups") == ("已完成", "tester")
    undo_batch(archive, report.batches[0].batch_id, "tester")
    assert one(archive, "SELECT status, completed_by, done_at FROM follow_ups") == ("待跟进", None, None)
