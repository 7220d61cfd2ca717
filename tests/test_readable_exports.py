"""Readable exports (issue 14): every workbook the pages hand out, opened with openpyxl as a user's
Excel would: a frozen header on every table, money with two decimals and thousands separators (万
where the page shows 万) and no float noise, dates as dates, columns as wide as their CJK text, no
TRUE/FALSE, and the migration matrix with its row and column totals.

The files are the ones the download buttons serve (captured from Streamlit's media file manager
while AppTest runs the real pages on a demo archive), plus each table export of the command line.
"""
from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path
from typing import Any, Iterator

import openpyxl
import pandas as pd
import pytest
from downloads import Downloads

from crm import clock, xlsx
from crm.db import open_archive
from crm.seed import seed_demo

TODAY = dt.date(2026, 12, 1)
NOW = dt.datetime(2026, 12, 1, 10, 0)
MONEY_FORMATS = {xlsx.MONEY_FORMAT, xlsx.WAN_FORMAT}
DATE_HEADER = re.compile(r"日期|时间|起始日|截止日|期限$")


@pytest.fixture(autouse=True)
def pinned() -> Iterator[None]:
    with clock.pinned(NOW):
        yield


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A demo archive with a complaint handled to the end (a loss, a resolution date), and its id."""
    from crm.auth.personal import actor_for
    from crm.complaints import handling, stages

    db = tmp_path_factory.mktemp("exports") / "crm.duckdb"
    with clock.pinned(NOW):
        archive = open_archive(db)
        seed_demo(archive, customers=150, seed=5, today=TODAY)
        admin = actor_for(archive, "admin")
        cur = archive.cursor()
        cid = cur.execute("SELECT min(customer_id) FROM customers").fetchall()[0][0]
        cur.close()
        complaint = handling.register_complaint(archive, admin, {
            "date": TODAY - dt.timedelta(days=3), "kind": "商品", "urgency": "一般", "via": "电话", "reason": "包装破损",
            "request": "换货"}, customer_id=cid)
        for to, given in ((stages.ACCEPTED, {}), (stages.INVESTIGATING, {}),
                          (stages.HANDLED, {"resolution": "换货", "root_cause": "包装破损", "loss": 1234.5, "outcome": "已换货",
                                            "resolved_on": TODAY})):
            record = handling.load_complaint(archive.cursor(), complaint)
            handling.move_complaint(archive, admin, complaint, to, given, expected_version=record.version)
        archive.close()
    return db, complaint


@pytest.fixture(scope="module")
def workbooks(demo: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """label → bytes of every table file the pages offer an admin (and each command-line table export)."""
    db, complaint = demo
    monkeypatch = pytest.MonkeyPatch()
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from crm.db import close_all
    from crm.export import EXPORTABLE_TABLES, export_table
    from crm.seed import DEMO_PASSWORDS

    out: dict[str, bytes] = {}
    with clock.pinned(NOW):
        monkeypatch.setenv("CRM_DB", str(db))
        downloads = Downloads(monkeypatch)
        st.cache_resource.clear()
        st.cache_data.clear()
        at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
        at.run()
        at.text_input(key="auth_username").set_value("admin")
        at.text_input(key="auth_password").set_value(DEMO_PASSWORDS["管理员"])
        next(b for b in at.button if b.label == "登录").click().run()

        def visit(path: str, **session: Any) -> None:
            for key, value in session.items():
                at.session_state[key] = value
            at.switch_page(path).run()
            assert not at.exception, at.exception
            out.update(dict(downloads.files(at)))

        for tab in ("标签组合", "客户迁移", "分析报表"):
            visit("pages/segments.py", seg_tab=tab, seg_as_of=TODAY)
        visit("pages/segments.py", seg_drill={"kind": "value", "labels": ["高价值"], "title": "高价值",
                                              "source": "seg_chart_value", "before": None}, seg_drill_page=0)
        visit("pages/complaints.py", cp_view="投诉分析", cp_pareto="损失金额")
        visit("pages/complaints.py", cp_view="投诉处理", cp_scope="全部", cp_pick=complaint)
        visit("pages/follow-ups.py", fu_view="主管视图")
        visit("pages/admin.py", adm_view="操作日志")
        st.cache_resource.clear()
        close_all()
        folder = tmp_path_factory.mktemp("table_exports")
        archive = open_archive(db)
        for table in EXPORTABLE_TABLES:
            path = folder / f"{table}.xlsx"
            export_table(archive, table, path, user="admin")
            out[f"导出数据表 {table}"] = path.read_bytes()
        archive.close()
    monkeypatch.undo()
    return out


EXPECTED = ["导出标签组合（.xlsx）", "导出迁移矩阵（.xlsx）", "导出客户增减分析表（.xlsx）", "导出客户区域分析表（.xlsx）",
            "导出分析表（Excel）", "导出逾期清单和负责人统计（Excel）", "导出操作日志（Excel）", "下载投诉处理通知单",
            "下载投诉处理报告表"]
FORMS = ("下载投诉处理通知单", "下载投诉处理报告表")


def _header_row(ws: Any) -> int:
    """The table's header: the row above the frozen pane (each table sheet has one)."""
    assert ws.freeze_panes, f"{ws.title}: no frozen header"
    return int(re.sub(r"\D", "", ws.freeze_panes)) - 1


def _tables(workbooks: dict[str, bytes]) -> Iterator[tuple[str, Any, list[str], list[tuple[Any, ...]]]]:
    for label, data in workbooks.items():
        if label in FORMS or not label.startswith(("导出", "下载")):
            continue
        book = openpyxl.load_workbook(io.BytesIO(data))
        for ws in book.worksheets:
            row = _header_row(ws)
            headers = [c.value for c in ws[row]]
            body = list(ws.iter_rows(min_row=row + 1))
            yield f"{label} ▸ {ws.title}", ws, headers, body


def test_the_crawl_got_every_file(workbooks: dict[str, bytes]) -> None:
    assert all(any(label.startswith(e.split("（")[0]) for label in workbooks) for e in EXPECTED), sorted(workbooks)
    assert any(label.startswith("导出全部") for label in workbooks), sorted(workbooks)  # the drill-down list
    assert sum(label.startswith("导出数据表") for label in workbooks) >= 6


def test_every_table_has_a_frozen_bold_header(workbooks: dict[str, bytes]) -> None:
    seen = 0
    for where, ws, headers, _body in _tables(workbooks):
        row = _header_row(ws)
        assert all(h not in (None, "") for h in headers), (where, headers)
        assert all(c.font.bold for c in ws[row]), where
        seen += 1
    assert seen >= 15


def test_money_has_two_decimals_separators_and_no_float_noise(workbooks: dict[str, bytes]) -> None:
    money_columns = 0
    for where, _ws, headers, body in _tables(workbooks):
        for i, header in enumerate(headers):
            if not xlsx.is_money_header(header):
                continue
            money_columns += 1
            for row in body:
                cell = row[i]
                if isinstance(cell.value, (int, float)) and not isinstance(cell.value, bool):
                    assert cell.number_format in MONEY_FORMATS, (where, header, cell.number_format)
                    assert round(cell.value, 2) == cell.value, (where, header, cell.value)  # to the fen
    assert money_columns >= 10


def test_the_growth_table_adds_up_to_the_fen(workbooks: dict[str, bytes]) -> None:
    book = openpyxl.load_workbook(io.BytesIO(workbooks["导出客户增减分析表（.xlsx）"]))
    ws = book.active
    row = _header_row(ws)
    headers = [c.value for c in ws[row]]
    rows = [dict(zip(headers, (c.value for c in r))) for r in ws.iter_rows(min_row=row + 1)]
    assert [r["期间"] for r in rows] == ["本期", "上期", "增减"]
    for r in rows:
        assert r["收入合计（元）"] == round(r["老客户收入（元）"] + r["新客户收入（元）"], 2)
        assert all(len(f"{r[h]:.10f}".rstrip("0").split(".")[1]) <= 2 for h in headers if "收入" in h)
    assert ws.cell(row + 1, headers.index("增减率") + 1).number_format == xlsx.PERCENT_FORMAT
    assert ws.cell(row + 1, headers.index("起始日") + 1).is_date


def test_the_tag_combinations_show_revenue_in_wan_as_the_chart_does(workbooks: dict[str, bytes]) -> None:
    ws = openpyxl.load_workbook(io.BytesIO(workbooks["导出标签组合（.xlsx）"])).active
    row = _header_row(ws)
    headers = [c.value for c in ws[row]]
    col = headers.index("收入") + 1
    assert ws.cell(row + 1, col).number_format == xlsx.WAN_FORMAT
    assert isinstance(ws.cell(row + 1, col).value, float)  # the amount in yuan; the format shows 万


def test_the_migration_matrix_has_row_and_column_totals(workbooks: dict[str, bytes]) -> None:
    ws = openpyxl.load_workbook(io.BytesIO(workbooks["导出迁移矩阵（.xlsx）"])).active
    row = _header_row(ws)
    headers = [c.value for c in ws[row]]
    assert headers[-1] == "合计"
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=row + 1)]
    assert rows[-1][0] == "合计"
    for r in rows:
        assert r[-1] == sum(r[1:-1]), r  # each row adds up
    for j in range(1, len(headers)):
        assert rows[-1][j] == sum(r[j] for r in rows[:-1]), headers[j]  # and each column
    assert rows[-1][-1] > 0


def test_migration_matrix_orders_and_totals() -> None:
    from crm.segments.export import migration_matrix

    frame = pd.DataFrame({"source": ["高价值", "高价值", "低价值"], "target": ["老客户", "流失风险客户", "老客户"],
                          "customers": [5, 2, 3]})
    matrix = migration_matrix(frame, ["高价值", "中价值", "低价值"], ["老客户", "流失风险客户"], "上季度 客户价值")
    assert list(matrix.columns) == ["上季度 客户价值", "老客户", "流失风险客户", "合计"]
    assert matrix.values.tolist() == [["高价值", 5, 2, 7], ["低价值", 3, 0, 3], ["合计", 8, 2, 10]]


def test_dates_are_dates(workbooks: dict[str, bytes]) -> None:
    dated = 0
    for where, _ws, headers, body in _tables(workbooks):
        for i, header in enumerate(headers):
            if not DATE_HEADER.search(str(header)):
                continue
            for row in body:
                value = row[i].value
                if value in (None, ""):
                    continue
                if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}([ T].*)?", value):
                    continue  # a period (「11-01 ~ 11-30」) or a word, not a date written as text
                assert row[i].is_date, (where, header, value)
                dated += 1
    assert dated > 50


def test_columns_are_as_wide_as_their_chinese_text(workbooks: dict[str, bytes]) -> None:
    from openpyxl.utils import get_column_letter

    for where, ws, headers, body in _tables(workbooks):
        for i, header in enumerate(headers):
            width = ws.column_dimensions[get_column_letter(i + 1)].width
            cells = [xlsx.shown_text(r[i].value, r[i].number_format) for r in body[:500] if r[i].value is not None]
            widest = max([xlsx.display_width(str(header)) if xlsx.display_width(str(header)) <= 24 else 24,
                          *(xlsx.display_width(t) for t in cells)])
            assert width >= min(widest, 48), (where, header, width, widest)


def test_no_true_or_false_and_no_column_named_in_english(workbooks: dict[str, bytes]) -> None:
    for where, _ws, headers, body in _tables(workbooks):
        assert not [h for h in headers if re.search(r"[A-Za-z]{2,}", re.sub(r"RFM|QQ|ID", "", str(h)))], (where, headers)
        assert not [c.value for r in body for c in r if isinstance(c.value, bool)], where


def test_the_complaint_forms_write_dates_as_dates_and_the_loss_as_money(workbooks: dict[str, bytes]) -> None:
    ws = openpyxl.load_workbook(io.BytesIO(workbooks["下载投诉处理报告表"])).active
    cells = {str(ws.cell(r, c).value): ws.cell(r, c + 1) for r in range(2, ws.max_row + 1) for c in (1, 3)
             if ws.cell(r, c).value}
    assert cells["受理日期"].is_date and cells["实际处理日期"].is_date
    assert cells["损失金额"].value == 1234.5 and cells["损失金额"].number_format == xlsx.MONEY_FORMAT


def test_the_writer_rounds_money_to_the_fen_and_sizes_by_what_is_shown(tmp_path: Path) -> None:
    """The one writer's rules on their own: a money header formats and rounds, an explicit format
    wins, a wide amount widens its column, a boolean reads 是/否."""
    frame = pd.DataFrame({"客户": ["深圳市某某科技有限公司"], "收入合计": [6674744.010000001], "占比": [0.256],
                          "达标": [True], "日期": [dt.date(2026, 11, 30)]})
    path = xlsx.write_xlsx([("表", frame)], tmp_path / "t.xlsx", formats={"占比": xlsx.PERCENT_FORMAT})
    ws = openpyxl.load_workbook(path).active
    assert ws.freeze_panes == "A2"
    money, share, flag, day = ws["B2"], ws["C2"], ws["D2"], ws["E2"]
    assert money.value == 6674744.01 and money.number_format == xlsx.MONEY_FORMAT
    assert share.number_format == xlsx.PERCENT_FORMAT and flag.value == "是"
    assert day.is_date and day.number_format == xlsx.DATE_FORMAT
    assert ws.column_dimensions["A"].width >= xlsx.display_width("深圳市某某科技有限公司")
    assert ws.column_dimensions["B"].width >= len("6,674,744.01")
