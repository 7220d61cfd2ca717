"""Hostile input never takes the dashboard down (issue 17): a corpus of files made by the tests
(tests/hostile_files.py) through the reader, the command line and the import page. Each refusal is
one Chinese line naming the file and the limit; the archive is unchanged; nothing crashes the
process that asked."""
from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import hostile_files as H
import pytest
import python_calamine as pc

from crm.db import Archive, open_archive
from crm.imports.pipeline import import_path, import_workbook
from crm.imports.reader import FileReadError, read_everything, read_workbook
from crm.imports.safety import ReadLimits
from crm.stats import archive_stats

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u4e00-\u9fff]")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
REFUSED_IDS = [name for name, _make, _expect in H.REFUSED]


def stats(archive: Archive) -> dict[str, int]:
    cur = archive.cursor()
    try:
        return archive_stats(cur)
    finally:
        cur.close()


def one_chinese_line(message: str, file_name: str) -> None:
    assert "\n" not in message.strip() and "Traceback" not in message, message
    assert file_name in message and CJK.search(message), message


@pytest.fixture
def filled(archive: Archive) -> Archive:
    """An archive holding one imported customer, so "unchanged" means something."""
    import_workbook(archive, read_workbook(H.profiles([["C900", "原有客户", "13900000900", "原公司"]]), "原有.xlsx"), "tester")
    return archive


# ------------------------------------------------------------------ the reader and the pipeline
@pytest.mark.parametrize("name,make,expect", H.REFUSED, ids=REFUSED_IDS)
def test_each_hostile_file_is_refused_with_one_line(filled: Archive, name: str, make: Callable[[], bytes],
                                                    expect: str) -> None:
    before = stats(filled)
    started = time.monotonic()
    with pytest.raises(FileReadError) as info:
        import_path(filled, name, user="tester", data=make(), file_name=name)
    one_chinese_line(str(info.value), name)
    assert expect in str(info.value)
    assert time.monotonic() - started < 15
    assert stats(filled) == before


def test_the_declared_range_bomb_names_the_far_cell_and_how_little_is_there() -> None:
    with pytest.raises(FileReadError) as info:
        read_workbook(H.declared_range_bomb(), file_name="炸弹.xlsx")
    message = str(info.value)
    assert "A1:XFD1048576" in message and "实际只有 1 个单元格" in message and "CRM_IMPORT_MAX_ROWS" in message


def test_what_the_checks_miss_ends_only_the_child(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the extent limits lifted, calamine really asks for the 512 GB range: the child's
    address-space limit ends it, this process gets one line and carries on."""
    monkeypatch.setenv("CRM_IMPORT_MAX_ROWS", "2000000")
    monkeypatch.setenv("CRM_IMPORT_MAX_CELLS", "100000000000000")
    monkeypatch.setenv("CRM_IMPORT_MEMORY_MB", "512")
    with pytest.raises(FileReadError) as info:
        read_workbook(H.declared_range_bomb(second_cell=True), file_name="漏网.xlsx")
    one_chinese_line(str(info.value), "漏网.xlsx")
    assert "内存上限 512 MB" in str(info.value) and "CRM_IMPORT_MEMORY_MB" in str(info.value)
    assert read_workbook(H.profiles([["C1", "张三", "13800000001", "甲"]]), file_name="正常.xlsx").sheets  # still reads


def test_a_read_past_the_time_limit_is_stopped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_IMPORT_TIMEOUT_S", "0.05")
    rows = [[f"C{i}", f"客户{i}", f"138{i:08d}", "公司"] for i in range(60_000)]
    with pytest.raises(FileReadError) as info:
        read_workbook(H.profiles(rows), file_name="慢.xlsx")
    assert "时间上限 0.05 秒" in str(info.value) and "CRM_IMPORT_TIMEOUT_S" in str(info.value)


def test_the_child_reads_exactly_what_calamine_reads_in_process() -> None:
    """Rows streamed back from the child equal to_python(skip_empty_area=False): leading empty rows
    and columns, ragged rows, every value type."""
    import datetime as dt

    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws["C3"], ws["E3"], ws["D5"], ws["F7"] = "甲", 1.5, dt.datetime(2024, 5, 6, 7, 8), True
    ws2 = wb.create_sheet("第二")
    ws2.append(["a", None, 3])
    buf = io.BytesIO()
    wb.save(buf)
    data = buf.getvalue()
    direct = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    expected = [direct.get_sheet_by_name(n).to_python(skip_empty_area=False) for n in direct.sheet_names]
    assert [s.rows for s in read_workbook(data, file_name="x.xlsx").sheets] == expected


def test_the_checks_are_environment_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_IMPORT_MAX_COLUMNS", "3")
    with pytest.raises(FileReadError, match="超过列数上限 3 列"):
        read_workbook(H.profiles([["C1", "张三", "13800000001", "甲"]]), file_name="四列.xlsx")
    monkeypatch.setenv("CRM_IMPORT_MAX_COLUMNS", "x")
    with pytest.raises(FileReadError, match="CRM_IMPORT_MAX_COLUMNS"):
        read_workbook(H.profiles([]), file_name="配置.xlsx")
    assert ReadLimits.from_config is not None


# ------------------------------------------------------------------ hidden parts, NUL, long cells, UTF-16
def test_hidden_sheets_and_rows_are_left_out_and_reported(archive: Archive) -> None:
    book = read_workbook(H.hidden_parts(), file_name="隐藏.xlsx")
    assert [s.name for s in book.sheets] == ["客户档案"] and [s.name for s in book.left_out] == ["旧档案", "内部"]
    rows = book.sheets[0].rows
    assert rows[2] == [] and rows[3][1] == "另一显示客户"  # row 3 emptied, row 4 keeps its number
    messages = [n.message for n in book.notices]
    assert any("第 3 行是隐藏行" in m and "未导入" in m for m in messages)
    assert any("「内部」是深度隐藏" in m for m in messages)
    report = import_workbook(archive, book, "tester")
    assert [b.created for b in report.batches] == [2]
    assert stats(archive)["customers"] == 2


def test_hidden_parts_are_imported_when_asked(archive: Archive) -> None:
    book = read_workbook(H.hidden_parts(), file_name="隐藏.xlsx", include_hidden=True)
    assert [s.name for s in book.sheets] == ["客户档案", "旧档案", "内部"] and not book.left_out
    assert all("已按要求一并导入" in n.message for n in book.notices) and len(book.notices) == 3
    import_workbook(archive, book, "tester")
    assert stats(archive)["customers"] == 5


def test_a_file_whose_data_is_all_hidden_says_so() -> None:
    from crm.imports.reader import hidden_only_message

    only = H.xlsx([("空", H.sheet_xml(""), None), ("藏", H.sheet_xml(H.rows_xml([H.T1_HEAD, ["C1", "甲", "1", "x"]])),
                                                                     "hidden")])
    message = hidden_only_message(read_workbook(only, file_name="全藏.xlsx"))
    assert message and "全藏.xlsx" in message and "「藏」" in message and "--hidden" in message
    assert hidden_only_message(read_workbook(only, file_name="全藏.xlsx", include_hidden=True)) is None


def test_nul_characters_are_removed_and_reported(archive: Archive) -> None:
    book = read_workbook(H.nul_cells(), file_name="nul.xlsx")
    assert book.sheets[0].rows[1][1] == "张三" and book.sheets[0].rows[1][3] == "甲公司"
    (notice,) = book.notices
    assert "2 个单元格含空字符" in notice.message and "B2、D2" in notice.message
    text = "客户编号,客户姓名,联系电话\nC1,王\x00五,13800000001\n"
    csv_book = read_workbook(text.encode("utf-8"), file_name="nul.csv")
    assert csv_book.sheets[0].rows[1][1] == "王五" and "B2" in csv_book.notices[0].message
    import_workbook(archive, csv_book, "tester")
    cur = archive.cursor()
    assert cur.execute("SELECT name FROM customers").fetchall() == [("王五",)]
    cur.close()


def test_a_100k_character_cell_is_reported_with_its_real_length(archive: Archive,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    book = read_workbook(H.huge_cell(100_000), file_name="长.xlsx")
    assert len(book.sheets[0].rows[1][3]) == 100_000  # nothing cut at 32,767
    b = import_workbook(archive, book, "tester").batches[0]
    assert b.rejected_rows == [2] and any("100000 字" in p.message for p in b.problems)
    monkeypatch.setenv("CRM_IMPORT_MAX_CELL_CHARS", "50000")
    with pytest.raises(FileReadError) as info:
        read_workbook(H.huge_cell(100_000), file_name="长.xlsx")
    assert "单元格 D2 有 100,000 字" in str(info.value) and "上限 50,000 字" in str(info.value)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_csv_without_bom_is_read(archive: Archive, encoding: str) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n").writerows([["客户编号", "客户姓名", "联系电话"], ["C1", "欧阳娜娜", "13812345678"]])
    data = buf.getvalue().encode(encoding)
    assert not data.startswith((b"\xff\xfe", b"\xfe\xff"))
    book = read_workbook(data, file_name="unicode.csv")
    assert book.sheets[0].rows[1] == ["C1", "欧阳娜娜", "13812345678"]
    report = import_workbook(archive, book, "tester")
    assert not report.skipped_sheets and report.batches[0].created == 1


def test_the_whole_read_keeps_hidden_parts_for_the_page() -> None:
    full = read_everything(H.hidden_parts(), file_name="隐藏.xlsx")
    assert full.has_hidden and [s.state for s in full.sheets] == ["visible", "hidden", "veryHidden"]
    assert full.sheets[0].hidden_rows == (3,)


# ------------------------------------------------------------------ the command line
def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crm", *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})})


@pytest.fixture
def cli_archive(tmp_path: Path) -> Path:
    db = tmp_path / "cli.duckdb"
    arc = open_archive(db)
    import_workbook(arc, read_workbook(H.profiles([["C900", "原有客户", "13900000900", "原公司"]]), "原有.xlsx"), "tester")
    arc.close()
    return db


@pytest.mark.parametrize("name,make,expect", H.REFUSED, ids=REFUSED_IDS)
def test_each_hostile_file_through_the_cli(tmp_path: Path, cli_archive: Path, name: str, make: Callable[[], bytes],
                                           expect: str) -> None:
    path = tmp_path / name
    path.write_bytes(make())
    before = cli("stats", "--json", "--db", str(cli_archive)).stdout
    out = cli("import", str(path), "--db", str(cli_archive))
    assert out.returncode == 1, out.stderr
    one_chinese_line(out.stderr, name)
    assert expect in out.stderr and out.stderr.endswith("\n") and out.stderr.count("\n") == 1
    assert cli("stats", "--json", "--db", str(cli_archive)).stdout == before


def test_cli_hidden_flag_and_the_notices(tmp_path: Path) -> None:
    path = tmp_path / "隐藏.xlsx"
    path.write_bytes(H.hidden_parts())
    db = tmp_path / "h.duckdb"
    plain = cli("import", str(path), "--db", str(db), "--create", "--json", "--dry-run")
    assert plain.returncode == 0, plain.stderr
    data = json.loads(plain.stdout)
    assert [b["created"] for b in data["batches"]] == [2]
    assert {s["sheet"]: s["reason"] for s in data["skipped_sheets"]}["旧档案"].startswith("隐藏的工作表，未导入")
    assert [n["kind"] for n in data["notices"]] == ["hidden_rows"]
    text = cli("import", str(path), "--db", str(db), "--dry-run").stdout
    assert "跳过 隐藏.xlsx / 内部：深度隐藏" in text and "第 3 行是隐藏行" in text
    hidden = json.loads(cli("import", str(path), "--db", str(db), "--hidden", "--json").stdout)
    assert sorted(b["created"] for b in hidden["batches"]) == [1, 1, 3] and not hidden["skipped_sheets"]
    assert len(hidden["notices"]) == 3


def test_cli_wide_sheet_imports(tmp_path: Path) -> None:
    path = tmp_path / "宽表.xlsx"
    path.write_bytes(H.wide_sheet())
    out = cli("import", str(path), "--db", str(tmp_path / "w.duckdb"), "--create")
    assert out.returncode == 0, out.stderr
    assert "新建 3" in out.stdout


# ------------------------------------------------------------------ the import page
@pytest.fixture
def import_page(tmp_path: Path, app_test: Any) -> Callable[[], Any]:
    db = tmp_path / "page.duckdb"
    arc = open_archive(db)
    import_workbook(arc, read_workbook(H.profiles([["C900", "原有客户", "13900000900", "原公司"]]), "原有.xlsx"), "tester")
    arc.close()
    return lambda: app_test(db, "pages/import.py")


def upload(at: Any, name: str, data: bytes) -> Any:
    at.file_uploader(key="imp_upload_0").set_value([(name, data, XLSX)]).run()
    assert not at.exception, at.exception
    return at


def shown(markdown: str) -> str:
    """An element's Markdown source as it reads on the page: backslash escapes resolved."""
    return re.sub(r"\\(.)", r"\1", markdown)


def archive_counts(at: Any) -> dict[str, int]:
    from crm.db import resolve_db_path

    return stats(open_archive(resolve_db_path()))


@pytest.mark.parametrize("name,make,expect", H.REFUSED, ids=REFUSED_IDS)
def test_each_hostile_file_through_the_page(import_page: Callable[[], Any], name: str, make: Callable[[], bytes],
                                            expect: str) -> None:
    at = import_page()
    before = archive_counts(at)
    upload(at, name, make())
    errors = [shown(e.value) for e in at.error]  # as the user reads them (the Markdown escapes resolved)
    assert any(expect in e and name in e for e in errors), errors
    assert not any(b.key == "imp_confirm" for b in at.button)
    assert archive_counts(at) == before
    at.run()  # the session lives on
    assert not at.exception and [t.value for t in at.title] == ["数据导入"]


def test_page_hidden_checkbox_brings_hidden_parts_in(import_page: Callable[[], Any]) -> None:
    at = upload(import_page(), "隐藏.xlsx", H.hidden_parts())
    (box,) = [c for c in at.checkbox if c.key and c.key.startswith("imp_hidden_")]
    assert box.label == "导入隐藏的工作表和行" and box.value is False
    assert [(m.label, m.value) for m in at.metric][:1] == [("新建", "2")]
    warnings = [shown(w.value) for w in at.warning]
    assert any("隐藏行" in w and "未导入" in w for w in warnings)
    assert any("旧档案" in w and "隐藏的工作表" in w for w in warnings)
    box.check().run()
    assert not at.exception
    assert sum(int(m.value) for m in at.metric if m.label == "新建") == 5
    assert any("已按要求一并导入" in shown(w.value) for w in at.warning)
    at.button(key="imp_confirm").click().run()
    assert not at.exception and archive_counts(at)["customers"] == 6


def test_page_stays_responsive_on_a_16384_column_sheet(import_page: Callable[[], Any]) -> None:
    at = import_page()
    started = time.monotonic()
    upload(at, "宽表.xlsx", H.wide_sheet())
    assert time.monotonic() - started < 30
    assert at.button(key="imp_confirm")  # the confirm button is there
    notes = [shown(c.value) for c in at.caption if "共 16,384 列" in shown(c.value)]
    assert notes and "识别了 4 列" in notes[0] and "16,324 列未列出" in notes[0]
    mapped = [s for s in at.selectbox if s.key and "_col" in s.key]
    assert 4 <= len(mapped) <= 60
    started = time.monotonic()
    at.run()  # a rerun (any click) costs no second recognition of the sheet
    assert time.monotonic() - started < 10
    at.button(key="imp_confirm").click().run()
    assert not at.exception and archive_counts(at)["customers"] == 4
