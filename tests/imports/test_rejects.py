"""The rejected-rows workbook: original header and values, a 问题 column, red cells with comments,
formula-safe text, and a fixed copy that imports again."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest
from conftest import write_xlsx

from crm.db import Archive, scalar
from crm.imports.pipeline import import_path, import_workbook, remember_mapping
from crm.imports.reader import read_workbook
from crm.imports.recognise import Recognition, recognise_sheet
from crm.imports.rejects import ERROR_FILL, PROBLEM_COLUMN, has_rejections, rejected_rows_workbook
from crm.imports.templates import TEMPLATES

TODAY = dt.date(2026, 11, 22)
RED = ERROR_FILL.fgColor.rgb
FORMULA_TEXT = '=HYPERLINK("http://x")'


def count(archive: Archive, sql: str) -> int:
    cur = archive.cursor()
    try:
        return int(scalar(cur, sql))
    finally:
        cur.close()


def messy_profiles(tmp_path: Path) -> Path:
    path = write_xlsx(tmp_path / "客户档案.xlsx", {"客户档案": [
        ["客户档案登记表"],  # a title row above the header
        [],
        ["客户编号", "客户姓名＊", "联系电话", "电子邮箱", "公司", "出生日期", "备注"],
        ["C001", "张伟", 13812345678, "zw@example.com", "甲公司", dt.date(1990, 1, 2), None],
        ["C002", "李娜", "1381234", None, "乙公司", None, None],  # bad phone
        ["C003", "赵六", "+86 139 1234 5678", "bad-mail", "丙公司", "1990-02-30", "-"],  # bad email and date
        ["C004", "王芳", 13712345678, None, "丁公司", "1990-13-45", "@备注"],  # bad date
        ["C005", None, 13612345678, None, "戊公司", None, None],  # no name
        ["合计", None, None, None, None, None, None],
    ]})
    book = openpyxl.load_workbook(path)
    cell = book["客户档案"]["G5"]
    cell.value = FORMULA_TEXT
    cell.data_type = "s"  # text that looks like a formula, as some systems export it
    book.save(path)
    return path


@pytest.fixture
def imported(archive: Archive, tmp_path: Path):
    path = messy_profiles(tmp_path)
    wb = read_workbook(path)
    report = import_workbook(archive, wb, "tester", today=TODAY)
    return archive, wb, report


def test_sheet_has_header_rejected_rows_and_problem_column(imported, tmp_path: Path) -> None:
    _, wb, report = imported
    assert has_rejections(report)
    # only the row without a name is refused; the others landed with the bad value left out, and
    # come back in the same workbook to be fixed
    assert report.batches[0].rejected_rows == [8] and report.batches[0].fix_rows == [5, 6, 7]
    out = rejected_rows_workbook(wb, report, tmp_path / "rejects.xlsx")
    assert out == tmp_path / "rejects.xlsx"
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["客户档案"]
    ws = book["客户档案"]
    header = [c.value for c in ws[1]]
    assert header == ["客户编号", "客户姓名＊", "联系电话", "电子邮箱", "公司", "出生日期", "备注", PROBLEM_COLUMN]
    assert ws.max_row == 5  # header + four rows to fix: no title, no 合计, no row without a problem
    assert [ws.cell(r, 1).value for r in (2, 3, 4, 5)] == ["C002", "C003", "C004", "C005"]
    problems = {ws.cell(r, 1).value: ws.cell(r, 8).value for r in (2, 3, 4, 5)}
    assert "「联系电话」" in problems["C002"] and "1381234" in problems["C002"]
    # every problem of the row, not just the first
    assert "「电子邮箱」" in problems["C003"] and "「出生日期」" in problems["C003"]
    assert "「出生日期」" in problems["C004"]
    assert "「客户姓名＊」" in problems["C005"] and "必填" in problems["C005"]


def test_offending_cells_are_red_with_the_reason_as_comment(imported, tmp_path: Path) -> None:
    _, wb, report = imported
    ws = openpyxl.load_workbook(io.BytesIO(rejected_rows_workbook(wb, report)))["客户档案"]
    phone = ws.cell(2, 3)
    assert phone.value == "1381234"
    assert phone.fill.fgColor.rgb == RED
    assert phone.comment is not None and phone.comment.text.strip()
    reason = next(p.message for p in report.batches[0].problems if p.row == 5 and p.column == "联系电话")
    assert reason in phone.comment.text
    assert ws.cell(3, 4).fill.fgColor.rgb == RED  # bad email
    assert ws.cell(3, 6).fill.fgColor.rgb == RED  # 30 February
    assert ws.cell(5, 2).fill.fgColor.rgb == RED  # empty required name
    assert ws.cell(5, 2).comment is not None
    assert ws.cell(4, 6).fill.fgColor.rgb == RED  # bad date
    # cells without a problem stay plain
    assert ws.cell(2, 1).fill.fgColor.rgb != RED and ws.cell(2, 1).comment is None
    assert ws.cell(2, 5).fill.fgColor.rgb != RED


def test_values_as_received_and_formulas_stay_text(imported, tmp_path: Path) -> None:
    _, wb, report = imported
    path = rejected_rows_workbook(wb, report, tmp_path / "r.xlsx")
    ws = openpyxl.load_workbook(path)["客户档案"]
    note = ws.cell(2, 7)
    assert note.value == '=HYPERLINK("http://x")'
    assert note.data_type == "s" and note.quotePrefix  # shown and kept as text, never run
    assert ws.cell(4, 7).data_type == "s" and ws.cell(4, 7).quotePrefix
    assert ws.cell(3, 3).value == "+86 139 1234 5678" and ws.cell(3, 3).quotePrefix
    assert ws.cell(4, 3).value == 13712345678  # a number stays a number
    # nothing in the file is a formula
    for row in ws.iter_rows():
        for cell in row:
            assert cell.data_type != "f", cell.coordinate
    raw = openpyxl.load_workbook(path, data_only=False)["客户档案"]
    assert all(c.data_type != "f" for row in raw.iter_rows() for c in row)


def test_fixed_file_imports_and_problem_column_is_ignored(imported, tmp_path: Path) -> None:
    archive, wb, report = imported
    assert count(archive, "SELECT count(*) FROM customers") == 4
    path = rejected_rows_workbook(wb, report, tmp_path / "fix.xlsx")
    book = openpyxl.load_workbook(path)
    ws = book["客户档案"]
    ws.cell(2, 3).value = "13812345679"  # C002 phone
    ws.cell(3, 4).value = "zl@example.com"  # C003
    ws.cell(3, 6).value = "1990-02-28"
    ws.cell(4, 6).value = "1990-12-30"  # C004
    ws.cell(5, 2).value = "孙七"  # C005
    book.save(path)

    again = import_path(archive, path, user="tester", today=TODAY)
    (batch,) = again.batches
    assert batch.template == "T1" and batch.rejected_rows == [] and batch.fix_rows == []
    assert (batch.created, batch.updated) == (1, 3)  # C005 is new; the others get what was left out
    assert not again.skipped_sheets
    assert count(archive, "SELECT count(*) FROM customers") == 5
    cur = archive.cursor()
    try:
        rows = dict(cur.execute("SELECT customer_id, note FROM customers").fetchall())
        phones = dict(cur.execute("SELECT customer_id, phone FROM customers").fetchall())
    finally:
        cur.close()
    assert rows["C002"] == '=HYPERLINK("http://x")'  # the value as received, not "'=…"
    assert phones["C003"] == "13912345678"  # +86 prefix read as before


def test_unfixed_file_reports_the_same_problems(imported, tmp_path: Path) -> None:
    archive, wb, report = imported
    path = rejected_rows_workbook(wb, report, tmp_path / "same.xlsx")
    again = import_path(archive, path, user="tester", today=TODAY, dry_run=True)
    first = {(p.column, p.message) for p in report.batches[0].problems if p.severity == "error"}
    second = {(p.column, p.message) for p in again.batches[0].problems if p.severity == "error"}
    assert first == second
    assert len(again.batches[0].rejected_rows) == 1


def test_several_sheets_and_a_mapped_sheet(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "two.xlsx", {
        "档案": [["客户姓名", "联系电话"], ["张三", "13800000001"], ["李四", "12"]],
        "我的表": [["甲", "乙", "丙"], ["王五", "bad", "2024-01-01"], ["赵六", "13800000003", "x"]],
        "空表": [],
    })
    wb = read_workbook(path)
    unknown = recognise_sheet(wb.sheets[1])
    assert not isinstance(unknown, Recognition)
    mapping = Recognition(TEMPLATES["T1"], unknown.header_row, {0: "name", 1: "phone", 2: "first_contact"},
                          unknown.headers, via_mapping=True)
    report = import_workbook(archive, wb, "tester", today=TODAY, overrides={"我的表": mapping})
    assert {b.sheet: (len(b.rejected_rows), len(b.fix_rows)) for b in report.batches} == {"档案": (0, 1), "我的表": (0, 2)}
    book = openpyxl.load_workbook(io.BytesIO(rejected_rows_workbook(wb, report)))
    assert book.sheetnames == ["档案", "我的表"]
    mine = book["我的表"]
    assert [c.value for c in mine[1]] == ["甲", "乙", "丙", PROBLEM_COLUMN]
    assert mine.cell(2, 2).fill.fgColor.rgb == RED
    assert mine.cell(3, 3).fill.fgColor.rgb == RED

    # A remembered mapping also covers the rejected-rows file (its headers plus 问题).
    remember_mapping(archive, ["甲", "乙", "丙", PROBLEM_COLUMN], "T1", {"甲": "name", "乙": "phone", "丙": "first_contact"},
                     "tester")
    fixed = tmp_path / "fixed.xlsx"
    mine.cell(2, 2).value = "13800000002"
    mine.cell(3, 3).value = "2024-02-02"
    book["档案"].cell(2, 2).value = "13800000004"
    book.save(fixed)
    again = import_path(archive, fixed, user="tester", today=TODAY)
    assert {b.sheet: (b.created, b.updated, len(b.rejected_rows)) for b in again.batches} == {
        "档案": (0, 1, 0), "我的表": (0, 2, 0)}  # the same customers, now with what was missing


def test_no_rejections_gives_a_note_sheet(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "ok.xlsx", {"客户": [["客户姓名", "联系电话"], ["张三", "13800000001"]]})
    wb = read_workbook(path)
    report = import_workbook(archive, wb, "tester", today=TODAY)
    assert not has_rejections(report)
    book = openpyxl.load_workbook(io.BytesIO(rejected_rows_workbook(wb, report)))
    assert book.sheetnames == ["无拒绝行"]


def test_csv_rows_come_back_as_text_cells(archive: Archive, tmp_path: Path) -> None:
    path = tmp_path / "list.csv"
    path.write_text("客户姓名,联系电话,备注\n张三,13800000001,ok\n李四,123,+1 see\n", encoding="utf-8")
    wb = read_workbook(path)
    report = import_workbook(archive, wb, "tester", today=TODAY)
    ws = openpyxl.load_workbook(io.BytesIO(rejected_rows_workbook(wb, report)))["list"]
    assert [c.value for c in ws[2]] == ["李四", "123", "+1 see", ws.cell(2, 4).value]
    assert "「联系电话」" in ws.cell(2, 4).value
