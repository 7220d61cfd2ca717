"""The command-line contract scheduled jobs rely on: JSON shapes, exit codes, one-line errors."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from conftest import write_xlsx

ROOT = Path(__file__).resolve().parent.parent


def crm(*args: str, db: Path, env: dict[str, str] | None = None, create: bool = True) -> subprocess.CompletedProcess[str]:
    """`python -m crm ARGS --db DB` (with --create: most tests start from no archive at all)."""
    return subprocess.run([sys.executable, "-m", "crm", *args, "--db", str(db), *(["--create"] if create else [])],
                          cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})})


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_xlsx(tmp_path / "客户.xlsx", {
        "客户档案": [["客户编号", "客户姓名", "联系电话"], ["C1", "张伟", "13812345678"], [None, None, "13800000012"]],  # no name
        "交易": [["客户编号", "客户名称", "交易类型", "购买时间", "金额"], ["C1", "张伟", "购买", "2026-01-02", 10]],
        "杂项": [["甲", "乙"], [1, 2]],
    })


def test_import_json_contract(tmp_path: Path, workbook: Path) -> None:
    db = tmp_path / "a.duckdb"
    out = crm("import", str(workbook), "--json", "--user", "alice", db=db)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"batches", "skipped_sheets"}
    t1, t2 = data["batches"]
    keys = {"batch_id", "file", "sheet", "template", "rows_read", "created", "updated", "rejected_rows", "problems"}
    assert keys <= set(t1)
    assert (t1["template"], t1["rows_read"], t1["created"], t1["rejected_rows"]) == ("T1", 2, 1, [3])
    assert {k: t1["problems"][0][k] for k in ("row", "column", "severity")} == {"row": 3, "column": "客户姓名",
                                                                                "severity": "error"}
    assert "必填" in t1["problems"][0]["message"]
    assert (t2["template"], t2["created"], t2["file"]) == ("T2", 1, "客户.xlsx")
    assert data["skipped_sheets"][0]["sheet"] == "杂项" and data["skipped_sheets"][0]["reason"]

    stats = json.loads(crm("stats", "--json", db=db).stdout)
    assert stats == {"customers": 1, "transactions": 1, "interactions": 0, "follow_ups_open": 0,
                     "customers_with_open_follow_up": 0, "complaints": 0, "surveys": 0, "batches": 2}
    listed = crm("batches", db=db)
    assert listed.returncode == 0 and "alice" in listed.stdout and "客户.xlsx" in listed.stdout

    undo = crm("undo", str(t2["batch_id"]), db=db)
    assert undo.returncode == 0 and "已撤销" in undo.stdout
    assert json.loads(crm("stats", "--json", db=db).stdout)["transactions"] == 0
    again = crm("undo", str(t2["batch_id"]), db=db)
    assert again.returncode != 0 and again.stderr.count("\n") == 1 and "Traceback" not in again.stderr


@pytest.mark.parametrize("name,content,expect", [
    ("notes.txt.xlsx", b"hello, this is not a spreadsheet\x00\x01", "不是"),
    ("broken.xlsx", b"PK\x03\x04" + b"\x00" * 100, "损坏"),
    ("empty.xlsx", b"", "空文件"),
])
def test_unreadable_files_exit_nonzero_with_one_line(tmp_path: Path, name: str, content: bytes, expect: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    db = tmp_path / "a.duckdb"
    out = crm("import", str(path), "--json", db=db)
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0 and expect in out.stderr and name in out.stderr
    assert "Traceback" not in out.stderr
    assert json.loads(crm("stats", "--json", db=db).stdout)["batches"] == 0


def test_oversized_file_is_refused(tmp_path: Path, workbook: Path) -> None:
    db = tmp_path / "a.duckdb"
    out = crm("import", str(workbook), db=db, env={"CRM_MAX_UPLOAD_MB": "0.001"})
    assert out.returncode != 0 and "超过上限" in out.stderr


def test_encrypted_workbook_is_refused(tmp_path: Path, workbook: Path) -> None:
    msoffcrypto = pytest.importorskip("msoffcrypto")
    from msoffcrypto.format.ooxml import OOXMLFile

    locked = tmp_path / "locked.xlsx"
    with open(workbook, "rb") as src, open(locked, "wb") as dst:
        OOXMLFile(src).encrypt("secret", dst)
    out = crm("import", str(locked), db=tmp_path / "a.duckdb")
    assert out.returncode != 0 and "密码" in out.stderr and "locked.xlsx" in out.stderr
    assert msoffcrypto is not None


def test_strict_exit_code_and_nothing_written(tmp_path: Path, workbook: Path) -> None:
    db = tmp_path / "a.duckdb"
    out = crm("import", str(workbook), "--strict", db=db)
    assert out.returncode == 1 and "严格模式" in out.stderr
    assert json.loads(crm("stats", "--json", db=db).stdout)["customers"] == 0


def test_usage_errors_are_one_line(tmp_path: Path) -> None:
    out = crm("undo", "abc", db=tmp_path / "a.duckdb")
    assert out.returncode == 2 and "参数错误" in out.stderr and "Traceback" not in out.stderr


def test_template_round_trip_imports_with_no_mapping_and_no_problems(tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    blank = tmp_path / "blank.xlsx"
    out = crm("template", "all", "-o", str(blank), db=db)
    assert out.returncode == 0, out.stderr
    wb = openpyxl.load_workbook(blank)
    values = {
        "T1": {"客户编号": "C20240501001", "客户姓名": "张伟", "联系电话": "13812345678", "电子邮箱": "zw@example.com",
               "性别": "男", "地区": "广东", "标签": "制造业-高价值", "首次接触日期": "2024-05-01"},
        "T2": {"客户编号": "C20240501001", "客户名称": "张伟", "交易类型": "购买", "购买时间": "2024-05-02",
               "金额(元)": 1000, "评价等级": 5},
        "T3": {"客户ID": "C20240501001", "客户名称": "张伟", "互动类型": "电话", "互动日期": "2024-05-03"},
        "T4": {"客户编号": "C20240501001", "客户姓名": "张伟", "首次接触日期": "2024-05-01", "最后一次互动": "2024-05-03",
               "产品/服务": "ERP", "下次跟进日期": "2024-06-01"},
        "T5": {"客户编号": "C20240501001", "跟进时间": "2024-06-02", "跟进内容": "回访"},
        "T6": {"受理日期": "2024-05-04", "客户姓名": "张伟", "投诉类型": "商品", "投诉事由": "有划痕"},
        "T7": {"客户名称": "张伟", "调查日期": "2024-05-05", "服务质量": "满意"},
    }
    from crm.imports.templates import TEMPLATES

    filled = 0
    for code, row in values.items():
        ws = wb[TEMPLATES[code].title]
        headers = [str(c.value).rstrip("*").strip() for c in ws[1]]
        for header, value in row.items():
            ws.cell(row=2, column=headers.index(header) + 1, value=value)
            filled += 1
    wb.save(blank)
    data = json.loads(crm("import", str(blank), "--json", db=db).stdout)
    assert sorted(b["template"] for b in data["batches"]) == ["T1", "T2", "T3", "T4", "T5", "T6", "T7"]
    assert all(b["problems"] == [] and b["rejected_rows"] == [] for b in data["batches"]), data
    assert [s["sheet"] for s in data["skipped_sheets"]] == ["填写说明"]
    stats = json.loads(crm("stats", "--json", db=db).stdout)
    assert (stats["customers"], stats["transactions"], stats["interactions"], stats["complaints"], stats["surveys"]) == (1, 1, 1, 1, 1)
    assert filled == sum(len(v) for v in values.values())


def test_export_neutralises_formulas(tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    src = tmp_path / "x.csv"  # text that looks like a formula, as a sloppy export would carry it
    src.write_text("客户姓名,联系电话,备注\n甲,13800001234,=1+1\n", encoding="utf-8")
    assert crm("import", str(src), db=db).returncode == 0
    out_file = tmp_path / "out.xlsx"
    out = crm("export", "customers", "-o", str(out_file), db=db)
    assert out.returncode == 0, out.stderr
    cells = [c.value for row in openpyxl.load_workbook(out_file).active.iter_rows() for c in row]
    assert "'=1+1" in cells and "=1+1" not in cells
    bad = crm("export", "no_such_table", "-o", str(out_file), db=db)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr


def test_seed_if_empty_is_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "a.duckdb"
    first = crm("seed", "--customers", "300", "--if-empty", db=db)
    assert first.returncode == 0, first.stderr
    n = json.loads(crm("stats", "--json", db=db).stdout)["customers"]
    assert n == 300
    second = crm("seed", "--customers", "300", "--if-empty", db=db)
    assert second.returncode == 0 and json.loads(crm("stats", "--json", db=db).stdout)["customers"] == 300


# ------------------------------------------------------------------ the archive file (issue 17)
def test_a_missing_archive_is_an_error_naming_it_unless_create(tmp_path: Path) -> None:
    typo = tmp_path / "crm.dukcdb"
    out = crm("stats", "--json", db=typo, create=False)
    assert out.returncode == 1 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert str(typo) in out.stderr and "不存在" in out.stderr and "--create" in out.stderr
    assert not typo.exists()  # nothing was made
    nested = tmp_path / "no" / "such" / "crm.duckdb"
    out = crm("stats", db=nested, create=False)
    assert out.returncode == 1 and str(nested.parent) in out.stderr and not nested.parent.exists()
    made = crm("stats", "--json", db=typo, create=True)
    assert made.returncode == 0 and json.loads(made.stdout)["customers"] == 0 and typo.exists()
    again = crm("stats", "--json", db=typo, create=False)  # exists now: no --create needed
    assert again.returncode == 0, again.stderr


def test_seed_creates_its_archive_as_make_run_needs(tmp_path: Path) -> None:
    """`make run` runs `python -m crm seed --if-empty` on a fresh data/crm.duckdb."""
    db = tmp_path / "fresh" / "crm.duckdb"
    out = crm("seed", "--customers", "30", "--if-empty", db=db, create=False)
    assert out.returncode == 0, out.stderr
    assert json.loads(crm("stats", "--json", db=db, create=False).stdout)["customers"] == 30


def test_a_busy_archive_is_one_chinese_line(tmp_path: Path) -> None:
    import re

    db = tmp_path / "busy.duckdb"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(60)", str(db)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        out = crm("stats", db=db, create=False)
    finally:
        holder.kill()
        holder.wait()
    assert out.returncode == 1 and out.stderr.count("\n") == 1
    assert "正被另一个程序" in out.stderr and str(db) in out.stderr and f"进程号 {holder.pid}" in out.stderr
    assert not re.search(r"[A-Za-z]{4,}", out.stderr.replace(str(db), "")), out.stderr  # no DuckDB English


def test_no_numpy_warning_reaches_stderr_on_extreme_values(tmp_path: Path) -> None:
    import datetime as dt

    path = write_xlsx(tmp_path / "极端.xlsx", {"交易": [
        ["客户编号", "客户名称", "交易类型", "购买时间", "金额(元)", "下次跟进日期"],
        ["C1", "甲", "购买", dt.datetime(9999, 12, 31), 1e308, "1/1/0001"],
        ["C1", "甲", "购买", 2958466, -1.7e308, "9999-12-31"],
        ["C1", "甲", "购买", "0001-01-01", 2958466, 2958466],
    ]})
    out = crm("import", str(path), db=tmp_path / "a.duckdb")
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr  # no RuntimeWarning: the rows are rejected with Chinese reasons
    assert "拒绝 3" in out.stdout


# An unexpected failure (a bug, DuckDB's or the system's English): what `python -m crm` prints.
_CRASH = """import runpy, sys
import duckdb
import crm.cli

def boom(args):
    raise duckdb.BinderException('Binder Error: Referenced column "owner" not found in FROM clause!')

crm.cli.cmd_stats = boom
sys.argv = ["crm", "stats", "--db", sys.argv[1], "--create"]
runpy.run_module("crm", run_name="__main__")
"""


def test_an_unexpected_failure_is_one_chinese_line_without_the_exceptions_name(tmp_path: Path) -> None:
    import re

    out = subprocess.run([sys.executable, "-c", _CRASH, str(tmp_path / "a.duckdb")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("出错了："), out.stderr  # no traceback, no log line
    assert "Binder" not in out.stderr and "Exception" not in out.stderr and "数据库" in out.stderr
    assert not re.search(r"[A-Za-z]{2,}", out.stderr), out.stderr


def test_the_original_failure_goes_to_the_crm_logger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from crm import cli

    def boom(args: object) -> int:
        raise KeyError("customer_id")

    monkeypatch.setattr(cli, "cmd_stats", boom)
    with caplog.at_level("WARNING", logger="crm"):
        assert cli.main(["stats", "--db", str(tmp_path / "a.duckdb"), "--create"]) == cli.EXIT_FAILED
    err = capsys.readouterr().err
    assert err == "出错了：程序内部错误，请联系管理员（详情已记入服务器日志）\n"
    [record] = [r for r in caplog.records if r.name == "crm"]
    assert "customer_id" in record.getMessage() and record.exc_info and record.exc_info[0] is KeyError
