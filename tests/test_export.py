"""Exports: no formula from the data survives, headers read as the templates do, every export is logged."""
from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal

import numpy as np
import openpyxl
import pandas as pd
import pytest
from python_calamine import CalamineWorkbook

import crm.export as export_mod
from crm import xlsx as xlsx_mod
from crm.export import export_table
from crm.xlsx import neutralise_formula, write_xlsx

EVIL = '=cmd|"/c calc"!A1'


@pytest.mark.parametrize(
    "value",
    [
        '=HYPERLINK("http://x.example/?q="&A1,"点我")',
        "+1",
        "-1+2",
        "@SUM(A1:A2)",
        "  =x",
        "\t=1+1",
        "\r=1+1",
        "\u3000=1",
        "＝SUM(A1)",
        "＋86 138",
        "－5",
        "＠cmd",
        "=",
        EVIL,
    ],
)
def test_formula_triggers_are_neutralised(value):
    out = neutralise_formula(value)
    assert out == "'" + value


@pytest.mark.parametrize("value", ["张伟", "a=b", "13812345678", "C20240501001", "", " 北京", "2024-05-10", "x-1"])
def test_plain_text_untouched(value):
    assert neutralise_formula(value) == value


@pytest.mark.parametrize(
    "value", [-1, -2.5, 0, 3, Decimal("-12.50"), None, True, dt.date(2024, 5, 10), np.int64(-4), np.float64(-1.5)]
)
def test_non_strings_unchanged(value):
    out = neutralise_formula(value)
    assert out is value


def test_tab_prefixed_text_is_neutralised():
    # a leading tab or CR can hide a trigger from naive checks; such text is prefixed too
    assert neutralise_formula("\tabc") == "'\tabc"


def _rows(ws):
    return [tuple(r) for r in ws.iter_rows(values_only=True)]


def test_write_xlsx_sheets_header_lines_and_types(tmp_path):
    customers = pd.DataFrame(
        {
            "姓名": ["张伟", "李娜", EVIL],
            "金额": [1200.5, -30.0, None],
            "日期": pd.to_datetime(["2024-05-10", "2024-06-01", None]),
            "时间": pd.to_datetime(["2024-05-10 08:30:00", "2024-06-01 00:00:00", "2024-06-02 12:00:00"]),
            "备注": ["-1+2", "@SUM(A1)", "普通备注"],
        }
    )
    other = pd.DataFrame({"a": [1, 2], "b": ["+x", "y"]})
    path = write_xlsx(
        [("客户", customers), ("其他/统计", other)],
        tmp_path / "out" / "report.xlsx",
        header_lines=["导出时间: 2024-06-01 10:00", "筛选条件: 地区=北京"],
    )
    assert path.exists()
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["客户", "其他_统计"]
    ws = wb["客户"]
    rows = _rows(ws)
    assert rows[0][0] == "导出时间: 2024-06-01 10:00"
    assert rows[1][0] == "筛选条件: 地区=北京"
    assert all(v is None for v in rows[2])
    assert rows[3] == ("姓名", "金额", "日期", "时间", "备注")
    assert ws.freeze_panes == "A5"
    assert ws["A4"].font.bold

    assert ws["A7"].value == "'" + EVIL and ws["A7"].data_type == "s"
    assert ws["E5"].value == "'-1+2" and ws["E6"].value == "'@SUM(A1)" and ws["E7"].value == "普通备注"
    assert ws["B6"].value == -30 and ws["B6"].data_type == "n"  # negative numbers stay numbers
    assert ws["B7"].value is None
    assert ws["C5"].is_date and ws["C5"].number_format == "yyyy-mm-dd"
    assert ws["C5"].value.date() == dt.date(2024, 5, 10)
    assert ws["D5"].is_date and "hh:mm" in ws["D5"].number_format
    assert ws.column_dimensions["A"].width >= 8
    # no formula anywhere in the workbook
    for sheet in wb:
        for row in sheet.iter_rows():
            assert all(c.data_type != "f" for c in row)

    ws2 = wb["其他_统计"]
    assert ws2["B5"].value == "'+x" and ws2["A5"].value == 1


def test_write_xlsx_without_header_lines(tmp_path):
    path = write_xlsx([("表", pd.DataFrame({"x": ["=1"]}))], tmp_path / "a.xlsx")
    ws = openpyxl.load_workbook(path)["表"]
    assert _rows(ws) == [("x",), ("'=1",)]
    assert ws.freeze_panes == "A2"


def test_write_xlsx_large_frame_streams(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx_mod, "CHUNK_ROWS", 7)
    frame = pd.DataFrame({"n": range(50), "s": [f"={i}" for i in range(50)]})
    path = write_xlsx([("数据", frame)], tmp_path / "big.xlsx")
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("数据").to_python()
    assert len(rows) == 51 and rows[50] == [49, "'=49"]


@pytest.fixture
def book(archive):
    """The conftest archive with three customers whose notes and fields carry formulas."""
    arc = archive
    with arc.transaction() as tx:
        tx.execute(
            """INSERT INTO customers (customer_id, name, phone, email, birth_date, credit_limit, note,
                                      name_pinyin, name_initials, last_interaction)
               VALUES ('C20240501001', '张伟', '13812345678', 'zw@example.com', DATE '1990-03-04', 50000,
                       ?, 'zhangwei', 'zw', DATE '2024-05-20'),
                      ('C20240501002', '李娜', '010-12345678', NULL, NULL, NULL, '老客户', 'lina', 'ln', NULL),
                      ('C20240501003', '王芳', NULL, 'wf@example.com', NULL, NULL, '-1+2', 'wangfang', 'wf', NULL)""",
            [EVIL],
        )
        tx.execute(
            """INSERT INTO transactions (customer_id, kind, date, amount, rating, note)
               VALUES ('C20240501001', '购买', DATE '2024-05-10', 1234.50, 5, '@SUM(A1)'),
                      ('C20240501002', '退货', DATE '2024-05-12', -99.00, NULL, NULL)"""
        )
        tx.execute(
            """INSERT INTO complaints (complaint_id, customer_id, date, kind, reason, accepted)
               VALUES ('TS001', 'C20240501001', DATE '2024-05-11', '服务', '+态度差', FALSE)"""
        )
        tx.execute("INSERT INTO users (username, role) VALUES ('alice', '经理'), ('bob', '主管'), "
                   "('carol', '经理'), ('dan', '经理'), ('eve', '经理'), ('viewer1', '只读')")
    return arc


def test_export_customers(book, tmp_path):
    path = tmp_path / "exports" / "customers.xlsx"
    n = export_table(book, "customers", path, user="alice")
    assert n == 3
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["客户档案"]
    ws = wb.active
    rows = _rows(ws)
    header_idx = next(i for i, r in enumerate(rows) if r[0] == "客户编号")
    header = rows[header_idx]
    assert ws.freeze_panes == f"A{header_idx + 2}"
    assert ws.cell(row=header_idx + 1, column=1).font.bold
    assert any("导出人: alice" in str(r[0]) for r in rows[:header_idx])
    for expected in ("客户编号", "客户姓名", "联系电话", "电子邮箱", "出生日期", "信用额度", "备注", "最后一次互动"):
        assert expected in header
    derived = {"name_pinyin", "name_initials", "search_text", "first_purchase", "last_purchase", "last_transaction",
               "last_logged_interaction"}
    assert not derived & set(header)  # recomputed by the app: not data a user keeps
    assert "创建时间" in header and "created_at" not in header  # a column no template names: the vocabulary's word
    assert all(re.fullmatch(r"[^A-Za-z]*(QQ)?[^A-Za-z]*", str(h)) for h in header), header  # no column by its name

    data = [dict(zip(header, r)) for r in rows[header_idx + 1 :]]
    assert [d["客户编号"] for d in data] == ["C20240501001", "C20240501002", "C20240501003"]
    assert data[0]["备注"] == "'" + EVIL
    assert data[2]["备注"] == "'-1+2"
    assert data[1]["备注"] == "老客户"
    assert data[0]["联系电话"] == "13812345678"
    assert data[0]["信用额度"] == 50000
    col = header.index("出生日期") + 1
    cell = ws.cell(row=header_idx + 2, column=col)
    assert cell.is_date and cell.number_format == "yyyy-mm-dd" and cell.value.date() == dt.date(1990, 3, 4)
    for row in ws.iter_rows():
        assert all(c.data_type != "f" for c in row)

    # calamine (what the importer reads with) sees the neutralised text, not a formula
    crows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("客户档案").to_python()
    assert crows[header_idx][0] == "客户编号"
    assert "'" + EVIL in crows[header_idx + 1]

    cur = book.cursor()
    audit = cur.execute("SELECT user_name, action, entity, detail FROM audit_log").fetchall()
    cur.close()
    assert len(audit) == 1
    user_name, action, entity, detail = audit[0]
    assert (user_name, action, entity) == ("alice", "export", "customers")
    detail = json.loads(detail)
    assert detail["rows"] == 3 and detail["path"].endswith("customers.xlsx")
    assert not list(path.parent.glob(".export-*"))  # no temp file left behind


def test_export_transactions_and_complaints(book, tmp_path):
    assert export_table(book, "transactions", tmp_path / "t.xlsx", user="bob") == 2
    ws = openpyxl.load_workbook(tmp_path / "t.xlsx").active
    rows = _rows(ws)
    i = next(i for i, r in enumerate(rows) if "交易类型" in r)
    header = rows[i]
    for expected in ("客户编号", "交易类型", "购买时间", "金额(元)", "评价等级", "备注", "联系方式"):
        assert expected in header
    assert "编号" in header and "导入批次" in header and "id" not in header and "batch_id" not in header
    data = [dict(zip(header, r)) for r in rows[i + 1 :]]
    assert data[0]["备注"] == "'@SUM(A1)"
    assert data[1]["金额(元)"] == -99  # a negative amount is a number, not neutralised text

    assert export_table(book, "complaints", tmp_path / "c.xlsx", user="bob") == 1
    rows = _rows(openpyxl.load_workbook(tmp_path / "c.xlsx").active)
    i = next(i for i, r in enumerate(rows) if "受理编号" in r)
    record = dict(zip(rows[i], rows[i + 1]))
    assert record["投诉事由"] == "'+态度差"
    assert record["投诉受理"] == "不予受理"  # the word the importer reads back, not FALSE

    cur = book.cursor()
    entities = [r[0] for r in cur.execute("SELECT entity FROM audit_log WHERE action = 'export' ORDER BY id").fetchall()]
    cur.close()
    assert entities == ["transactions", "complaints"]


def test_export_empty_table(book, tmp_path):
    assert export_table(book, "surveys", tmp_path / "s.xlsx", user="carol") == 0
    rows = _rows(openpyxl.load_workbook(tmp_path / "s.xlsx").active)
    assert "调查日期" in rows[-1] and "服务质量" in rows[-1]


def test_export_rejects_other_tables(book, tmp_path):
    for table in ("users", "meta", "customers; DROP TABLE customers", "settings"):
        with pytest.raises(ValueError, match="不能导出"):
            export_table(book, table, tmp_path / "x.xlsx", user="eve")
    assert not (tmp_path / "x.xlsx").exists()
    cur = book.cursor()
    assert cur.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0
    cur.close()


def test_export_in_chunks(book, tmp_path, monkeypatch):
    monkeypatch.setattr(export_mod, "CHUNK_ROWS", 2)
    with book.transaction() as tx:
        tx.execute(
            "INSERT INTO interactions (customer_id, date, channel, content) "
            "SELECT 'C20240501001', DATE '2024-01-01' + i::INTEGER, '电话', '=' || i FROM range(5) t(i)"
        )
    assert export_table(book, "interactions", tmp_path / "i.xlsx", user="dan") == 5
    rows = _rows(openpyxl.load_workbook(tmp_path / "i.xlsx").active)
    i = next(i for i, r in enumerate(rows) if "互动类型" in r)
    data = [dict(zip(rows[i], r)) for r in rows[i + 1 :]]
    assert [d["最近互动"] for d in data] == ["'=0", "'=1", "'=2", "'=3", "'=4"]
    assert all(d["互动类型"] == "电话" for d in data)


def test_failed_audit_leaves_no_file(book, tmp_path, monkeypatch):
    """The file and its audit row go together: no log entry, no export."""
    path = tmp_path / "fail.xlsx"

    class Boom(RuntimeError):
        pass

    real_replace = export_mod.os.replace

    def boom(*args, **kwargs):
        raise Boom()

    monkeypatch.setattr(export_mod.os, "replace", boom)
    with pytest.raises(Boom):
        export_table(book, "customers", path, user="alice")
    monkeypatch.setattr(export_mod.os, "replace", real_replace)
    assert not path.exists()
    assert not list(tmp_path.glob(".export-*"))
    cur = book.cursor()
    assert cur.execute("SELECT count(*) FROM audit_log").fetchone()[0] == 0
    cur.close()


def test_export_masks_personal_data_for_a_viewer_and_logs_it(book, tmp_path):
    path = tmp_path / "masked.xlsx"
    assert export_table(book, "customers", path, user="viewer1") == 3
    cells = [c for row in _rows(openpyxl.load_workbook(path).active) for c in row]
    assert "138****5678" in cells and "13812345678" not in cells
    assert any(isinstance(c, str) and c.endswith("*") or (isinstance(c, str) and "*" in c and len(c) <= 4) for c in cells)
    cur = book.cursor()
    assert cur.execute("SELECT user_name FROM audit_log WHERE action = 'export'").fetchall() == [("viewer1",)]


def test_the_audit_log_is_exported_by_admins_only(book, tmp_path):
    from crm.auth.policy import PermissionDenied

    with book.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('root', '管理员')")
    with pytest.raises(PermissionDenied, match="只有管理员可以导出操作日志"):
        export_table(book, "audit_log", tmp_path / "log.xlsx", user="viewer1")
    with pytest.raises(PermissionDenied):
        export_table(book, "audit_log", tmp_path / "log.xlsx", user="alice")  # a manager
    assert export_table(book, "audit_log", tmp_path / "log.xlsx", user="root") >= 0
    assert not (tmp_path / "log-viewer.xlsx").exists()
