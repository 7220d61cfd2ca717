"""Excel and the app side by side (issue 16): a re-import never undoes work done in the app."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import one, write_xlsx

from crm import provenance
from crm.auth.personal import Actor
from crm.complaints import handling
from crm.customers.edits import update_customer
from crm.db import Archive
from crm.imports.batches import undo_batch
from crm.imports.pipeline import import_path
from crm.provenance import KEEP, TAKE, ConflictChoices, source_of

TODAY = dt.date(2026, 12, 1)
HEAD = ["客户编号", "客户姓名", "联系电话", "电子邮箱", "公司", "职务", "负责人"]
ROWS = [["C1", "张伟明", "13800000001", "zw@example.com", "深圳甲公司", "经理", "王磊"],
        ["C2", "李小红", "13800000002", "lxh@example.com", "杭州乙公司", "专员", "李娜"]]
LEAD = Actor("孙丽", "主管")


def sheet(tmp_path: Path, rows: list[list], name: str = "客户档案.xlsx") -> Path:
    return write_xlsx(tmp_path / name, {"客户档案": [HEAD, *rows]})


def imp(archive: Archive, path: Path, user: str = "孙丽", **kw):
    return import_path(archive, path, user=user, today=TODAY, **kw).batches[0]


@pytest.fixture
def team_sheet(archive: Archive, tmp_path: Path) -> Path:
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('王磊', '销售'), ('李娜', '销售'), ('孙丽', '主管')")
    path = sheet(tmp_path, ROWS)
    imp(archive, path)
    return path


def test_a_sheet_is_the_same_source_whatever_copy_of_it_is_uploaded() -> None:
    assert source_of("客户档案.xlsx", "客户档案") == source_of("客户档案 (1).xlsx", "客户档案")
    assert source_of("客户档案.xlsx", "客户档案") == source_of("客户档案-副本.XLSX", "客户档案")
    assert source_of("客户档案.xlsx", "客户档案") != source_of("客户档案.xlsx", "交易记录")
    assert source_of("客户档案.xlsx", "客户档案") != source_of("同事的表.csv", None)


def test_reimport_after_an_app_edit_keeps_the_app_value_and_lists_the_conflict(archive: Archive, team_sheet: Path) -> None:
    update_customer(archive, LEAD, "C1", {"title": "总经理"})
    batch = imp(archive, team_sheet)
    assert one(archive, "SELECT title FROM customers WHERE customer_id = 'C1'") == ("总经理",)
    assert batch.updated == 0 and batch.changes == []
    (conflict,) = batch.conflicts
    assert (conflict["customer_id"], conflict["customer_name"], conflict["field"]) == ("C1", "张伟明", "title")
    assert (conflict["archive"], conflict["sheet"], conflict["choice"]) == ("总经理", "经理", KEEP)
    assert conflict["changed_by"] == "孙丽" and "修改客户资料" in conflict["changed_how"]


def test_taking_the_sheets_value_lands_and_undo_restores_the_apps(archive: Archive, team_sheet: Path) -> None:
    update_customer(archive, LEAD, "C1", {"title": "总经理"})
    batch = imp(archive, team_sheet, conflicts=ConflictChoices(TAKE))
    assert one(archive, "SELECT title FROM customers WHERE customer_id = 'C1'") == ("经理",)
    assert batch.conflicts[0]["choice"] == TAKE
    undo_batch(archive, batch.batch_id, "孙丽")
    assert one(archive, "SELECT title FROM customers WHERE customer_id = 'C1'") == ("总经理",)


def test_choices_per_customer_and_per_field_override_the_sheet_default(archive: Archive, team_sheet: Path) -> None:
    update_customer(archive, LEAD, "C1", {"title": "总经理", "company": "深圳甲集团"})
    update_customer(archive, LEAD, "C2", {"title": "主管"})
    imp(archive, team_sheet, conflicts=ConflictChoices(KEEP, customers={"C2": TAKE}, fields={("C1", "company"): TAKE}))
    assert one(archive, "SELECT title, company FROM customers WHERE customer_id = 'C1'") == ("总经理", "深圳甲公司")
    assert one(archive, "SELECT title FROM customers WHERE customer_id = 'C2'") == ("专员",)
    with pytest.raises(ValueError, match="未知的冲突处理方式"):
        ConflictChoices("overwrite")


def test_the_sheets_own_later_changes_still_update(archive: Archive, team_sheet: Path, tmp_path: Path) -> None:
    changed = [["C1", "张伟明", "13800000001", "zw@example.com", "深圳甲公司", "副总经理", "王磊"], ROWS[1]]
    batch = imp(archive, sheet(tmp_path, changed, "客户档案 (1).xlsx"))
    assert batch.conflicts == [] and batch.updated == 1
    assert one(archive, "SELECT title FROM customers WHERE customer_id = 'C1'") == ("副总经理",)


def test_a_later_import_of_another_sheet_is_a_conflict_for_the_first(archive: Archive, team_sheet: Path,
                                                                      tmp_path: Path) -> None:
    colleague = write_xlsx(tmp_path / "同事.xlsx", {"Sheet1": [HEAD, ["C1", "张伟明", None, None, "甲公司", None, None]]})
    assert imp(archive, colleague).conflicts == []  # that sheet never set it: a plain update, as before
    assert one(archive, "SELECT company FROM customers WHERE customer_id = 'C1'") == ("甲公司",)
    batch = imp(archive, team_sheet)
    assert [(c["field"], c["archive"], c["sheet"]) for c in batch.conflicts] == [("company", "甲公司", "深圳甲公司")]
    assert one(archive, "SELECT company FROM customers WHERE customer_id = 'C1'") == ("甲公司",)


def test_filling_an_empty_field_is_never_a_conflict(archive: Archive, team_sheet: Path, tmp_path: Path) -> None:
    update_customer(archive, LEAD, "C1", {"title": None})
    batch = imp(archive, team_sheet)
    assert batch.conflicts == []
    assert one(archive, "SELECT title FROM customers WHERE customer_id = 'C1'") == ("经理",)


def test_a_colleagues_sheet_cannot_take_a_customer_over(archive: Archive, team_sheet: Path, tmp_path: Path) -> None:
    """A sales user's sheet: their own customers yes, a colleague's no (refused per row, owner unchanged)."""
    mine_and_theirs = [["C1", "张伟明", "13900000009", None, None, None, None],
                       ["C2", "李小红", None, None, None, None, "王磊"]]
    batch = imp(archive, sheet(tmp_path, mine_and_theirs, "王磊的表.xlsx"), user="王磊")
    assert one(archive, "SELECT phone FROM customers WHERE customer_id = 'C1'") == ("13900000009",)
    assert one(archive, "SELECT owner FROM customers WHERE customer_id = 'C2'") == ("李娜",)
    assert batch.rejected_rows == [3]
    assert any("负责人是李娜" in p.message and p.row == 3 for p in batch.problems)


def test_a_sales_users_own_new_customers_are_theirs(archive: Archive, team_sheet: Path, tmp_path: Path) -> None:
    rows = [[None, "新客户", "13900000001", None, None, None, None],
            [None, "别人的客户", "13900000002", None, None, None, "李娜"]]
    batch = imp(archive, sheet(tmp_path, rows, "新客户.xlsx"), user="王磊")
    assert one(archive, "SELECT owner FROM customers WHERE name = '新客户'") == ("王磊",)
    assert one(archive, "SELECT count(*) FROM customers WHERE name = '别人的客户'") == (0,)
    assert batch.rejected_rows == [3]


def test_records_for_a_colleagues_customer_are_refused(archive: Archive, team_sheet: Path, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "交易.xlsx", {"交易记录": [["客户编号", "客户名称", "交易日期", "交易类型", "金额"],
                                                          ["C1", "张伟明", "2026-11-20", "购买", 100],
                                                          ["C2", "李小红", "2026-11-20", "购买", 200]]})
    batch = imp(archive, path, user="王磊")
    assert batch.created == 1 and batch.rejected_rows == [3]
    assert one(archive, "SELECT count(*) FROM transactions WHERE customer_id = 'C2'") == (0,)


def test_a_viewer_cannot_import(archive: Archive, team_sheet: Path) -> None:
    from crm.auth.policy import PermissionDenied

    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('看客', '只读')")
    with pytest.raises(PermissionDenied, match="只读用户不能导入数据"):
        import_path(archive, team_sheet, user="看客", today=TODAY)


def test_a_masked_export_reimported_never_writes_the_masks(archive: Archive, team_sheet: Path, tmp_path: Path) -> None:
    masked = [["C1", "张*明", "138****0001", "z***@example.com", "深圳甲公司", "经理", "王磊"],
              ["C2", "李*红", "138****9999", "l***@other.com", "杭州乙公司", "专员", "李娜"]]
    batch = imp(archive, sheet(tmp_path, masked, "导出.xlsx"))
    assert one(archive, "SELECT name, phone, email FROM customers WHERE customer_id = 'C1'") == (
        "张伟明", "13800000001", "zw@example.com")
    assert one(archive, "SELECT name, phone, email FROM customers WHERE customer_id = 'C2'") == (
        "李小红", "13800000002", "lxh@example.com")
    assert batch.rejected_rows == [] and batch.updated == 0
    # a mask of the archive's value is silent; one that is not (C2's phone, e-mail) is reported
    notes = [(p.row, p.column) for p in batch.problems if "脱敏" in p.message]
    assert notes == [(3, "联系电话"), (3, "电子邮箱")]


def test_a_closed_complaint_stays_closed_through_a_reimport(archive: Archive, team_sheet: Path, tmp_path: Path) -> None:
    head = ["受理编号", "受理日期", "客户姓名", "联系方式", "投诉类型", "投诉事由", "处理结果", "实际处理期限"]
    path = write_xlsx(tmp_path / "投诉.xlsx", {"投诉登记": [head, ["TS1", "2026-11-20", "张伟明", "13800000001", "产品质量",
                                                                  "屏幕坏了", None, None]]})
    imp(archive, path)
    for to, fields in (("调查中", {}),
                       ("已处理", {"resolution": "换货", "outcome": "已换新机", "root_cause": "产品质量"}),
                       ("已回访", {"satisfaction": 5}), ("已关闭", {})):
        handling.move_complaint(archive, LEAD, "TS1", to, fields)
    reopened = write_xlsx(tmp_path / "投诉.xlsx", {"投诉登记": [head, ["TS1", "2026-11-20", "张伟明", "13800000001",
                                                                      "产品质量", "屏幕坏了", "处理中", None]]})
    batch = imp(archive, reopened, conflicts=ConflictChoices(TAKE))
    assert one(archive, "SELECT stage, outcome FROM complaints WHERE complaint_id = 'TS1'") == ("已关闭", "已换新机")
    assert batch.updated == 0
    assert any("已是「已关闭」" in p.message for p in batch.problems)


def test_every_writer_records_provenance(archive: Archive, team_sheet: Path) -> None:
    update_customer(archive, LEAD, "C1", {"title": "总经理"})
    cur = archive.cursor()
    try:
        histories = provenance.field_histories(cur, "customers", ["C1", "C2"], ["title"],
                                               source_of("客户档案.xlsx", "客户档案"))
    finally:
        cur.close()
    assert histories[("C1", "title")].last.source is None and histories[("C1", "title")].set_by_source
    assert histories[("C2", "title")].last.via == provenance.IMPORT


def test_undoing_an_older_batch_then_the_newer_restores_the_value_before_both(archive: Archive, team_sheet: Path,
                                                                               tmp_path: Path) -> None:
    older = imp(archive, write_xlsx(tmp_path / "a.xlsx", {"S": [HEAD, ["C1", "张伟明", None, None, "二号公司", None, None]]}))
    newer = imp(archive, write_xlsx(tmp_path / "b.xlsx", {"S": [HEAD, ["C1", "张伟明", None, None, "三号公司", None, None]]}))
    assert undo_batch(archive, older.batch_id, "孙丽").kept == ["customers:C1.company"]  # superseded: kept
    undo_batch(archive, newer.batch_id, "孙丽")
    assert one(archive, "SELECT company FROM customers WHERE customer_id = 'C1'") == ("深圳甲公司",)


def test_undoing_the_batch_that_created_a_customer_keeps_one_changed_since(archive: Archive, tmp_path: Path) -> None:
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('孙丽', '主管')")
    created = imp(archive, sheet(tmp_path, [[None, "周杰", "13500002222", None, None, None, None],
                                           [None, "吴昊", "13500003333", None, None, None, None]], "新建.xlsx"))
    (cid,) = one(archive, "SELECT customer_id FROM customers WHERE name = '周杰'")
    update_customer(archive, LEAD, cid, {"title": "采购经理"})
    result = undo_batch(archive, created.batch_id, "孙丽")
    assert list(result.kept_customers) == [cid] and "修改" in result.kept_customers[cid]
    assert one(archive, "SELECT name, title FROM customers WHERE customer_id = ?", [cid]) == ("周杰", "采购经理")
    assert one(archive, "SELECT count(*) FROM customers WHERE name = '吴昊'") == (0,)
    from crm.imports.preview import undo_message

    assert "保留了本批次新建、之后又被使用的客户" in undo_message(result)


def test_undo_through_the_cli_keeps_the_value_before_both(archive: Archive, team_sheet: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    db = archive.path
    archive.close()
    for name, company in (("a.xlsx", "二号公司"), ("b.xlsx", "三号公司")):
        write_xlsx(tmp_path / name, {"S": [HEAD, ["C1", "张伟明", None, None, company, None, None]]})
    def run(command: str, *a: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "crm", command, "--db", str(db), *a], capture_output=True,
                              text=True, check=True)

    run("import", str(tmp_path / "a.xlsx"))
    run("import", str(tmp_path / "b.xlsx"))
    batches = run("batches", "--json").stdout
    import json

    ids = sorted(b["batch_id"] for b in json.loads(batches))[-2:]
    run("undo", str(ids[0]))
    run("undo", str(ids[1]))
    from crm.db import open_archive

    again = open_archive(db)
    try:
        assert one(again, "SELECT company FROM customers WHERE customer_id = 'C1'") == ("深圳甲公司",)
    finally:
        again.close()


def test_the_cli_keeps_masks_out_and_a_changed_created_customer_in(archive: Archive, team_sheet: Path,
                                                                   tmp_path: Path) -> None:
    """The other two undo/mask cases as a scheduled job meets them: `python -m crm import` / `undo`."""
    import json
    import subprocess
    import sys

    from crm.db import open_archive

    db = archive.path
    update_customer(archive, LEAD, "C1", {"title": "总经理"})
    archive.close()

    def run(command: str, *a: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "crm", command, "--db", str(db), *a], capture_output=True,
                              text=True, check=True)

    masked = sheet(tmp_path, [["C1", "张*明", "138****0001", "z***@example.com", "深圳甲公司", "经理", "王磊"]], "导出.xlsx")
    report = json.loads(run("import", str(masked), "--json").stdout)
    assert report["batches"][0]["conflicts"][0]["field"] == "title"  # kept: the app's 总经理
    new = sheet(tmp_path, [[None, "周杰", "13500002222", None, None, None, None]], "新建.xlsx")
    created = json.loads(run("import", str(new), "--json").stdout)["batches"][0]["batch_id"]
    again = open_archive(db)
    try:
        (cid,) = one(again, "SELECT customer_id FROM customers WHERE name = '周杰'")
        update_customer(again, LEAD, cid, {"company": "新公司"})
    finally:
        again.close()
    assert "保留了本批次新建" in run("undo", str(created)).stdout
    again = open_archive(db)
    try:
        assert one(again, "SELECT name, phone, email, title FROM customers WHERE customer_id = 'C1'") == (
            "张伟明", "13800000001", "zw@example.com", "总经理")
        assert one(again, "SELECT company FROM customers WHERE customer_id = ?", [cid]) == ("新公司",)
    finally:
        again.close()
