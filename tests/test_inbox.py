"""The hot folder (crm.inbox): files dropped per user are imported once, when complete, with a report
beside them; a killed process's claims are settled on restart; the command line hands its work to
the process that holds the archive and prints what a direct run prints.

The watcher's functions are driven directly (`Watcher.poll_once`, `recover`), without Streamlit;
the command-line tests run a watcher thread in this process, which holds the archive as the
dashboard would (tests/browser/test_inbox_browser.py does the same with a real `streamlit run`).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from conftest import one, write_xlsx

from crm import inbox
from crm.auth import accounts, audit
from crm.db import Archive, open_archive

ROOT = Path(__file__).resolve().parent.parent


def customers_sheet(path: Path, rows: int = 2) -> Path:
    """A T1 sheet plus a T2 sheet; the last customer row has no name (rejected, in the problems workbook)."""
    body = [[f"C{i}", f"客户{i}", f"1381234{i:04d}"] for i in range(1, rows + 1)]
    return write_xlsx(path, {
        "客户档案": [["客户编号", "客户姓名", "联系电话"], *body, [None, None, "13800000012"]],
        "交易": [["客户编号", "客户名称", "交易类型", "购买时间", "金额"], ["C1", "客户1", "购买", "2026-01-02", 10]],
    })


def batches_of(archive: Archive) -> list[tuple]:
    cur = archive.cursor()
    try:
        return cur.execute("SELECT batch_id, file, sheet, user_name FROM import_batches ORDER BY batch_id").fetchall()
    finally:
        cur.close()


def only(folder: Path) -> Path:
    """The one entry of a folder (a claim's folder under done/ or failed/)."""
    entries = list(folder.iterdir())
    assert len(entries) == 1, entries
    return entries[0]


def poll_until(watcher: inbox.Watcher, done: Callable[[], bool], rounds: int = 20) -> list[Path]:
    """Poll (no sleeping: each round is one poll) until `done()`; the claims settled on the way."""
    settled: list[Path] = []
    for _ in range(rounds):
        settled += watcher.poll_once()
        if done():
            return settled
    raise AssertionError(f"not done after {rounds} polls")


@pytest.fixture
def box(tmp_path: Path) -> Path:
    return tmp_path / "inbox"


@pytest.fixture
def watcher(archive: Archive, box: Path) -> Iterator[inbox.Watcher]:
    w = inbox.Watcher(archive, box, poll_s=0.05)
    yield w
    w.release()


# ------------------------------------------------------------------ the watcher's functions
def test_a_dropped_file_is_imported_as_its_folders_user_with_its_report_and_problems(
        archive: Archive, box: Path, watcher: inbox.Watcher, tmp_path: Path) -> None:
    (box / "alice").mkdir(parents=True)
    dropped = customers_sheet(box / "alice" / "客户.xlsx")
    assert watcher.poll_once() == []  # first seen: not yet known to be complete
    [claim_dir] = watcher.poll_once()
    assert claim_dir.parent == box / "alice" / inbox.DONE and not dropped.exists()
    assert (claim_dir / "客户.xlsx").exists() and (claim_dir / "客户_拒绝行.xlsx").exists()
    report = json.loads((claim_dir / "客户.xlsx.json").read_text(encoding="utf-8"))
    meta = report.pop("inbox")
    assert set(report) == {"batches", "skipped_sheets"}  # the --json contract, plus "inbox"
    assert [(b["template"], b["created"], b["rejected_rows"]) for b in report["batches"]] == [("T1", 2, [4]), ("T2", 1, [])]
    assert meta["user"] == "alice" and meta["exit_code"] == 0 and meta["errors"] == []
    assert meta["sha256"] == inbox.sha256_of(claim_dir / "客户.xlsx") and meta["problems_workbook"] == "客户_拒绝行.xlsx"
    # in the import history like any other import, by alice; and the claim's audit entry, in the same transaction
    assert [(f, s, u) for _, f, s, u in batches_of(archive)] == [("客户.xlsx", "客户档案", "alice"), ("客户.xlsx", "交易", "alice")]
    assert inbox.committed_batches(archive, claim_dir.name, meta["sha256"]) == [b["batch_id"] for b in report["batches"]]
    assert audit.verify(archive).ok
    assert watcher.poll_once() == [] and len(batches_of(archive)) == 2  # once


def test_a_slowly_copied_file_is_imported_once_after_it_is_complete(
        archive: Archive, box: Path, watcher: inbox.Watcher, tmp_path: Path) -> None:
    whole = customers_sheet(tmp_path / "大表.xlsx", rows=300).read_bytes()
    target = box / "alice" / "大表.xlsx"
    target.parent.mkdir(parents=True)
    chunks = [whole[i:i + len(whole) // 5 + 1] for i in range(0, len(whole), len(whole) // 5 + 1)]
    with target.open("wb") as out:
        for chunk in chunks:  # a copy that writes a part between each poll
            out.write(chunk)
            out.flush()
            assert watcher.poll_once() == [], "taken while still being written"
            assert target.exists() and batches_of(archive) == []
    settled = poll_until(watcher, lambda: not target.exists())
    assert [p.parent.name for p in settled] == [inbox.DONE]
    assert one(archive, "SELECT count(*) FROM customers")[0] == 300
    assert len(batches_of(archive)) == 2
    for _ in range(3):
        assert watcher.poll_once() == []
    assert len(batches_of(archive)) == 2


def test_a_part_file_waits_until_renamed(archive: Archive, box: Path, watcher: inbox.Watcher, tmp_path: Path) -> None:
    part = box / "alice" / "客户.xlsx.part"
    part.parent.mkdir(parents=True)
    shutil.copyfile(customers_sheet(tmp_path / "客户.xlsx"), part)
    for _ in range(3):
        assert watcher.poll_once() == []
    assert part.exists() and batches_of(archive) == []
    part.rename(part.with_name("客户.xlsx"))
    assert len(poll_until(watcher, lambda: bool(batches_of(archive)))) == 1


def test_a_bad_file_lands_in_failed_with_the_reason(archive: Archive, box: Path, watcher: inbox.Watcher) -> None:
    (box / "alice").mkdir(parents=True)
    (box / "alice" / "坏.xlsx").write_bytes(b"\x00\x01 this is no spreadsheet at all")
    [claim_dir] = poll_until(watcher, lambda: not (box / "alice" / "坏.xlsx").exists())
    assert claim_dir.parent == box / "alice" / inbox.FAILED
    meta = json.loads((claim_dir / "坏.xlsx.json").read_text(encoding="utf-8"))["inbox"]
    assert meta["exit_code"] == 1 and meta["error_kind"] == "unreadable"
    assert "坏.xlsx" in meta["reason"] and "Excel" in meta["reason"] and meta["errors"] == [meta["reason"]]
    assert batches_of(archive) == [] and not (claim_dir / "坏_拒绝行.xlsx").exists()


def test_a_user_the_policy_refuses_lands_in_failed(archive: Archive, box: Path, watcher: inbox.Watcher, tmp_path: Path) -> None:
    accounts.add_user(archive, "cli", "boss", "管理员", "a-good-password-1")
    accounts.add_user(archive, "cli", "访客", "只读", "a-good-password-2")
    (box / "访客").mkdir(parents=True)
    customers_sheet(box / "访客" / "客户.xlsx")
    [claim_dir] = poll_until(watcher, lambda: not (box / "访客" / "客户.xlsx").exists())
    meta = json.loads((claim_dir / "客户.xlsx.json").read_text(encoding="utf-8"))["inbox"]
    assert claim_dir.parent.name == inbox.FAILED and meta["error_kind"] == "refused"
    assert re.search(r"[\u4e00-\u9fff]", meta["reason"]) and batches_of(archive) == []


def test_strict_mode_from_the_sidecar_refuses_the_file(archive: Archive, box: Path, watcher: inbox.Watcher,
                                                       tmp_path: Path) -> None:
    rid, user_dir = inbox.drop(box, "alice", customers_sheet(tmp_path / "客户.xlsx"),
                               {**inbox.DEFAULT_OPTIONS, "strict": True})
    [claim_dir] = poll_until(watcher, lambda: not list(user_dir.glob("*.xlsx")))
    assert claim_dir == user_dir / inbox.FAILED / rid  # the command line finds its report by its request id
    report = json.loads((claim_dir / "客户.xlsx.json").read_text(encoding="utf-8"))
    assert report["inbox"]["options"]["strict"] is True and "严格模式" in report["aborted"]
    assert report["inbox"]["reason"] == report["aborted"] and batches_of(archive) == []
    assert (claim_dir / "客户_拒绝行.xlsx").exists()  # what to fix before dropping it again


def test_a_file_outside_the_users_folders_is_left_alone(archive: Archive, box: Path, watcher: inbox.Watcher,
                                                        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    box.mkdir()
    loose = customers_sheet(box / "客户.xlsx")
    with caplog.at_level("WARNING", logger="crm.inbox"):
        for _ in range(3):
            assert watcher.poll_once() == []
    assert loose.exists() and batches_of(archive) == []
    assert sum("不在任何用户的子文件夹中" in r.getMessage() for r in caplog.records) == 1


def test_one_watcher_per_inbox(archive: Archive, box: Path, watcher: inbox.Watcher) -> None:
    assert watcher.take() and inbox.watcher_of(box) == inbox.WatcherInfo(os.getpid(), str(archive.path.resolve()))
    second = inbox.Watcher(archive, box, poll_s=0.05)
    assert not second.take() and second.poll_once() == []
    watcher.release()
    assert inbox.watcher_of(box) is None
    assert second.take()
    second.release()


# ------------------------------------------------------------------ a killed process, restarted
KILL = """
import os, sys
from pathlib import Path
from crm import db, inbox
archive = db.open_archive(sys.argv[1])
folder, when = Path(sys.argv[2]), sys.argv[3]
[(user, path)] = inbox.waiting_files(folder)
claim_dir = inbox.claim(path)
if when == "claimed":
    os._exit(9)
if when == "importing":  # inside the import's transaction, just before its COMMIT
    def die(cur, changes):
        os._exit(9)
    with db.before_commit(die):
        inbox.import_claim(archive, claim_dir)
report = inbox.import_claim(archive, claim_dir)  # committed
if when == "imported":
    os._exit(9)
inbox._write_json(inbox.report_path(claim_dir, path.name), report)
os._exit(9)  # "reported": killed before the move to done/
"""


@pytest.mark.parametrize("when", ["claimed", "importing", "imported", "reported"])
def test_an_app_killed_mid_import_imports_the_file_exactly_once_after_restart(tmp_path: Path, when: str) -> None:
    db_path, box = tmp_path / "a.duckdb", tmp_path / "inbox"
    open_archive(db_path).close()
    (box / "alice").mkdir(parents=True)
    customers_sheet(box / "alice" / "客户.xlsx")
    killed = subprocess.run([sys.executable, "-c", KILL, str(db_path), str(box), when], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert killed.returncode == 9, killed.stderr
    [left] = (box / "alice" / inbox.PROCESSING).iterdir()

    archive = open_archive(db_path)  # the restarted app
    try:
        watcher = inbox.Watcher(archive, box, poll_s=0.05)
        assert watcher.take()  # taking the inbox recovers it
        watcher.release()
        assert list((box / "alice" / inbox.PROCESSING).iterdir()) == []
        claim_dir = only(box / "alice" / inbox.DONE)
        assert claim_dir.name == left.name
        assert [(s, u) for _, _, s, u in batches_of(archive)] == [("客户档案", "alice"), ("交易", "alice")]
        assert one(archive, "SELECT count(*) FROM customers")[0] == 2
        report = json.loads((claim_dir / "客户.xlsx.json").read_text(encoding="utf-8"))
        assert [b["batch_id"] for b in report["batches"]] == [b for b, *_ in batches_of(archive)]
        assert report["inbox"].get("recovered", False) is (when == "imported")
        assert (claim_dir / "客户_拒绝行.xlsx").exists()  # rebuilt, or kept by the archive with the batch
        assert audit.verify(archive).ok
    finally:
        archive.close()


def test_a_claim_killed_before_its_file_moved_in_gives_the_sidecar_back(archive: Archive, box: Path, tmp_path: Path) -> None:
    rid, user_dir = inbox.drop(box, "alice", customers_sheet(tmp_path / "客户.xlsx"), dict(inbox.DEFAULT_OPTIONS))
    [dropped] = user_dir.glob("*.xlsx")
    sidecar = dropped.with_name(dropped.name + inbox.SIDECAR)
    claim_dir = user_dir / inbox.PROCESSING / rid  # as claim() leaves it when killed between its renames
    claim_dir.mkdir(parents=True)
    inbox._write_json(claim_dir / inbox.CLAIM, {"name": "客户.xlsx", "dropped_as": dropped.name, "user": "alice"})
    sidecar.rename(claim_dir / sidecar.name)
    assert inbox.recover(archive, box) == []
    assert sidecar.exists() and not claim_dir.exists() and batches_of(archive) == []
    watcher = inbox.Watcher(archive, box, poll_s=0.05)
    try:
        [settled] = poll_until(watcher, lambda: not dropped.exists())
    finally:
        watcher.release()
    assert settled == user_dir / inbox.DONE / rid and len(batches_of(archive)) == 2


# ------------------------------------------------------------------ requests
def test_a_request_runs_the_command_in_this_process(archive: Archive, box: Path, watcher: inbox.Watcher) -> None:
    from crm.stats import archive_stats

    (box / inbox.REQUESTS).mkdir(parents=True)
    inbox._write_json(box / inbox.REQUESTS / "r1.json", {"command": "stats", "flags": {"json": True}, "user": "cli"})
    inbox._write_json(box / inbox.REQUESTS / "r2.json", {"command": "restore", "flags": {}, "user": "cli"})
    watcher.poll_once()
    answer = json.loads((box / inbox.REQUESTS / "r1.answer.json").read_text(encoding="utf-8"))
    cur = archive.cursor()
    try:
        assert answer["exit_code"] == 0 and json.loads(answer["stdout"]) == archive_stats(cur)
    finally:
        cur.close()
    refused = json.loads((box / inbox.REQUESTS / "r2.answer.json").read_text(encoding="utf-8"))
    assert refused["exit_code"] == 2 and "只能代为执行" in refused["stderr"]
    assert not list((box / inbox.REQUESTS).glob("*.working"))


def test_a_requests_output_is_its_threads_alone(capsys: pytest.CaptureFixture[str]) -> None:
    inside, printed = threading.Event(), threading.Event()
    got: list[str] = []

    def request() -> None:
        with inbox._captured() as (out, _err):
            inside.set()
            printed.wait(10)
            print("请求的输出")
            got.append(out.getvalue())

    t = threading.Thread(target=request)
    t.start()
    assert inside.wait(10)
    print("另一个线程")
    printed.set()
    t.join(10)
    assert got == ["请求的输出\n"]
    out = capsys.readouterr().out
    assert "另一个线程" in out and "请求的输出" not in out


def test_start_watcher_is_once_per_process_and_off_when_switched_off(archive: Archive, box: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    assert inbox.start_watcher(archive, box) is None  # CRM_INBOX_WATCH=0 in tests (conftest)
    monkeypatch.setenv("CRM_INBOX_WATCH", "1")
    monkeypatch.setenv("CRM_INBOX_POLL_S", "0.05")
    first = inbox.start_watcher(archive, box)
    try:
        assert first is not None and inbox.start_watcher(archive, box) is first
        deadline = time.monotonic() + 10
        while not first.owner and time.monotonic() < deadline:
            time.sleep(0.02)
        assert inbox.watcher_of(box) is not None
    finally:
        assert first is not None
        first.stop()
    assert inbox.watcher_of(box) is None


# ------------------------------------------------------------------ the command line, while the archive is held
def crm(*args: str, db_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crm", *args, "--db", str(db_path)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def held(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    """(archive held by this process with its watcher running, a copy of it, the spreadsheet)."""
    held_path, copy_path = tmp_path / "held" / "crm.duckdb", tmp_path / "copy" / "crm.duckdb"
    copy_path.parent.mkdir()
    sheet = customers_sheet(tmp_path / "客户.xlsx")
    earlier = write_xlsx(tmp_path / "早先.xlsx", {"客户档案": [["客户编号", "客户姓名", "联系电话"], ["C1", "旧名", "13812340001"]]})
    assert crm("import", str(earlier), "--user", "alice", "--create", db_path=held_path).returncode == 0
    shutil.copyfile(held_path, copy_path)
    archive = open_archive(held_path)
    watcher = inbox.Watcher(archive, inbox.folder_for(held_path), poll_s=0.1).start()
    try:
        yield held_path, copy_path, sheet
    finally:
        watcher.stop()
        archive.close()


@pytest.mark.skipif("faketime" in os.environ.get("LD_PRELOAD", ""),
                    reason="compares a live watcher's file times across processes; under faketime the shifted "
                           "process clock and the file system's disagree (the rest of the inbox runs shifted)")
def test_import_via_inbox_prints_what_a_direct_import_prints(held: tuple[Path, Path, Path], tmp_path: Path) -> None:
    held_path, copy_path, sheet = held

    def both(*args: str) -> subprocess.CompletedProcess[str]:
        via = crm("import", *args, "--user", "alice", "--via-inbox", db_path=held_path)
        direct = crm("import", *args, "--user", "alice", db_path=copy_path)
        assert (via.returncode, via.stdout, via.stderr) == (direct.returncode, direct.stdout, direct.stderr), args
        return via

    first = both(str(sheet), "--json")
    assert first.returncode == 0 and [b["template"] for b in json.loads(first.stdout)["batches"]] == ["T1", "T2"]
    assert both(str(sheet)).returncode == 0  # the text, the second time: unchanged and duplicates
    assert both(str(sheet), "--json", "--dry-run").returncode == 0
    assert both(str(tmp_path / "没有.xlsx"), str(sheet)).returncode == 1  # one file missing, the other imported

    # the batches are in the history, and the reads agree
    via_batches = json.loads(crm("batches", "--json", "--via-inbox", db_path=held_path).stdout)
    direct_batches = json.loads(crm("batches", "--json", db_path=copy_path).stdout)
    keys = ("batch_id", "file", "sheet", "template", "user_name", "rows_read", "created", "updated", "rejected", "status")
    assert [{k: b[k] for k in keys} for b in via_batches] == [{k: b[k] for k in keys} for b in direct_batches]
    assert {"客户.xlsx"} <= {b["file"] for b in via_batches}
    via_stats = crm("stats", "--json", "--via-inbox", db_path=held_path)
    assert via_stats.returncode == 0 and via_stats.stdout == crm("stats", "--json", db_path=copy_path).stdout
    backup = crm("backup", "--via-inbox", db_path=held_path)
    assert backup.returncode == 0 and "已备份到" in backup.stdout
    # last: a refused (rolled-back) import uses up batch numbers in a long-lived process only (DuckDB
    # keeps a sequence's use in memory), so later batch numbers would differ from the fresh copy's
    strict = both(str(sheet), "--strict")
    assert strict.returncode == 1 and "严格模式" in strict.stderr


def test_the_busy_message_names_the_dashboard_and_the_way_round(held: tuple[Path, Path, Path]) -> None:
    held_path, _copy, sheet = held
    for args, hint in ((["import", str(sheet)], "--via-inbox"), (["stats"], "--via-inbox"),
                       (["undo", "1"], "请在网页上操作")):
        out = crm(*args, db_path=held_path)
        assert out.returncode == 1 and out.stdout == "" and out.stderr.count("\n") == 1, out.stderr
        assert f"客户档案网页（进程号 {os.getpid()}）" in out.stderr and hint in out.stderr
        assert not re.search(r"[A-Za-z]{4,}", out.stderr.replace(str(held_path), "").replace("--via-inbox", ""))
    assert inbox.watcher_of(inbox.folder_for(held_path)) is not None


def test_via_inbox_without_a_dashboard_runs_directly(tmp_path: Path) -> None:
    db_path = tmp_path / "crm.duckdb"
    sheet = customers_sheet(tmp_path / "客户.xlsx")
    out = crm("import", str(sheet), "--via-inbox", "--json", "--create", db_path=db_path)
    assert out.returncode == 0 and len(json.loads(out.stdout)["batches"]) == 2
    assert not (inbox.folder_for(db_path) / "cli").exists()


def test_a_dashboard_gone_while_waiting_is_one_line(archive: Archive, tmp_path: Path) -> None:
    """The watcher holds the inbox but never answers (it is stopped once the file is dropped)."""
    box = inbox.folder_for(archive.path)
    watcher = inbox.Watcher(archive, box, poll_s=0.05)
    assert watcher.take()
    sheet = customers_sheet(tmp_path / "客户.xlsx")
    proc = subprocess.Popen([sys.executable, "-m", "crm", "import", str(sheet), "--via-inbox", "--db", str(archive.path)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not list((box / "cli").glob("*--客户.xlsx")) and time.monotonic() < deadline:
        time.sleep(0.05)
    watcher.release()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and out == "" and err.count("\n") == 1
    assert "客户档案网页已停止" in err and "重新启动后会处理它" in err
    assert list((box / "cli").glob("*--客户.xlsx"))  # still waiting for the next start


# ------------------------------------------------------------------ unexpected failures, in Chinese
ENGLISH_WORD = re.compile(r"[A-Za-z]{2,}")


def test_a_crash_while_importing_lands_in_failed_with_a_chinese_reason(archive: Archive, box: Path,
                                                                     watcher: inbox.Watcher, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import duckdb

    from crm.imports import run

    def boom(*args: object, **kwargs: object) -> None:
        raise duckdb.CatalogException("Catalog Error: Table with name customers does not exist!")

    monkeypatch.setattr(run, "import_file", boom)
    rid, user_dir = inbox.drop(box, "alice", customers_sheet(tmp_path / "客户.xlsx"), dict(inbox.DEFAULT_OPTIONS))
    [claim_dir] = poll_until(watcher, lambda: not list(user_dir.glob("*.xlsx")))
    assert claim_dir == user_dir / inbox.FAILED / rid
    meta = json.loads((claim_dir / "客户.xlsx.json").read_text(encoding="utf-8"))["inbox"]
    assert meta["error_kind"] == "crashed" and meta["exit_code"] == 1 and meta["errors"] == [meta["reason"]]
    assert meta["reason"].startswith("出错了：") and "数据库" in meta["reason"]
    assert "Catalog" not in meta["reason"] and not ENGLISH_WORD.search(meta["reason"]), meta["reason"]


def test_a_request_that_crashes_answers_one_chinese_line(archive: Archive, box: Path, watcher: inbox.Watcher,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(archive: Archive, request: dict) -> dict:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(inbox, "run_request", boom)
    (box / inbox.REQUESTS).mkdir(parents=True)
    inbox._write_json(box / inbox.REQUESTS / "r1.json", {"command": "stats", "flags": {}, "user": "cli"})
    watcher.poll_once()
    answer = json.loads((box / inbox.REQUESTS / "r1.answer.json").read_text(encoding="utf-8"))
    assert answer["exit_code"] == 1 and answer["stderr"] == "出错了：磁盘空间不足，请清理磁盘后重试\n"


def test_a_commands_crash_in_the_dashboard_is_logged_there_not_printed_by_the_command_line(
        archive: Archive, box: Path, watcher: inbox.Watcher, monkeypatch: pytest.MonkeyPatch) -> None:
    """As in the dashboard's process (no logging configured): the original of a failure inside a
    request goes to the process's log, and the request's answer keeps the one Chinese line."""
    import io
    import logging

    from crm import cli

    def boom(args: object) -> int:
        raise RuntimeError("Invalid Input Error: something only a developer reads")

    monkeypatch.setattr(cli, "cmd_stats", boom)
    server_log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", server_log)
    crm_log, root = logging.getLogger("crm"), logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])  # pytest's capture: a served app has none
    monkeypatch.setattr(crm_log, "handlers", [])
    level = inbox.log.level
    try:
        inbox._ensure_log_handler()
        (box / inbox.REQUESTS).mkdir(parents=True)
        inbox._write_json(box / inbox.REQUESTS / "r1.json", {"command": "stats", "flags": {}, "user": "cli"})
        watcher.poll_once()
    finally:
        inbox.log.setLevel(level)
    answer = json.loads((box / inbox.REQUESTS / "r1.answer.json").read_text(encoding="utf-8"))
    assert answer["exit_code"] == 1 and answer["stderr"] == "出错了：程序内部错误，请联系管理员（详情已记入服务器日志）\n"
    assert "something only a developer reads" in server_log.getvalue() and "Traceback" in server_log.getvalue()
