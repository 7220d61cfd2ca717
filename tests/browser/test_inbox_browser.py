"""The hot folder with a real dashboard: `streamlit run app.py` on a temporary archive holds the file,
its first page view starts the watcher, and the command line hands its import over with
`--via-inbox` — reporting what a direct import of the same file reports on a copy of the archive."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from conftest import write_xlsx

from crm import inbox

from .helpers import REPO_ROOT, assert_no_exception, goto


def crm(*args: str, db: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "crm", *args, "--db", str(db)], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300)


def test_import_via_inbox_while_the_dashboard_serves(streamlit_app_factory, tmp_path_factory, page, monkeypatch):
    monkeypatch.setenv("CRM_INBOX_WATCH", "1")  # tests switch it off for every other app (tests/conftest.py)
    monkeypatch.setenv("CRM_INBOX_POLL_S", "0.3")
    root = tmp_path_factory.mktemp("inbox-app")
    served, copy = root / "served" / "crm.duckdb", root / "copy" / "crm.duckdb"
    copy.parent.mkdir()
    earlier = write_xlsx(root / "早先.xlsx", {"客户档案": [["客户编号", "客户姓名", "联系电话"], ["C1", "旧名", "13812340001"]]})
    assert crm("import", str(earlier), "--user", "王磊", "--create", db=served).returncode == 0
    shutil.copyfile(served, copy)
    sheet = write_xlsx(root / "客户.xlsx", {
        "客户档案": [["客户编号", "客户姓名", "联系电话"], ["C1", "新名", "13812340001"], ["C2", "李娜", "13812340002"],
                 [None, None, "13800000012"]],
        "交易": [["客户编号", "客户名称", "交易类型", "购买时间", "金额"], ["C2", "李娜", "购买", "2026-01-02", 10]],
    })

    app = streamlit_app_factory(served)
    goto(page, app.url)  # the first page view opens the archive and starts the watcher
    assert_no_exception(page)
    folder = inbox.folder_for(served)
    deadline = time.monotonic() + 30
    while inbox.watcher_of(folder) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert inbox.watcher_of(folder) == inbox.WatcherInfo(app.proc.pid, str(served.resolve()))

    # without the flag: one Chinese line naming the dashboard's process
    busy = crm("import", str(sheet), "--user", "王磊", db=served)
    assert busy.returncode == 1 and busy.stdout == "" and busy.stderr.count("\n") == 1
    assert f"客户档案网页（进程号 {app.proc.pid}）" in busy.stderr and "--via-inbox" in busy.stderr

    via = crm("import", str(sheet), "--user", "王磊", "--json", "--via-inbox", db=served)
    direct = crm("import", str(sheet), "--user", "王磊", "--json", db=copy)
    assert (via.returncode, via.stdout, via.stderr) == (direct.returncode, direct.stdout, direct.stderr)
    report = json.loads(via.stdout)
    assert [(b["template"], b["created"], b["updated"], b["rejected_rows"]) for b in report["batches"]] == \
        [("T1", 1, 1, [4]), ("T2", 1, 0, [])]
    text_via = crm("import", str(sheet), "--user", "王磊", "--via-inbox", db=served)
    text_direct = crm("import", str(sheet), "--user", "王磊", db=copy)
    assert text_via.returncode == text_direct.returncode == 0 and text_via.stdout == text_direct.stdout

    # the batches are in the import history, by the acting user; the file and its report in done/
    history = json.loads(crm("batches", "--json", "--via-inbox", db=served).stdout)
    ids = {b["batch_id"] for b in report["batches"]}
    assert {(b["file"], b["user_name"]) for b in history if b["batch_id"] in ids} == {("客户.xlsx", "王磊")}
    done = sorted((folder / "王磊" / inbox.DONE).iterdir())
    assert len(done) == 2 and all((d / "客户.xlsx.json").exists() and (d / "客户_拒绝行.xlsx").exists() for d in done)

    # a bad file dropped by hand lands in failed/ with the reason; the app keeps serving
    (folder / "王磊" / "坏.xlsx").write_bytes(b"\x00\x01 not a spreadsheet")
    deadline = time.monotonic() + 30
    while not (folder / "王磊" / inbox.FAILED).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    [failed] = (folder / "王磊" / inbox.FAILED).iterdir()
    assert "不是有效的 Excel 文件" in json.loads((failed / "坏.xlsx.json").read_text(encoding="utf-8"))["inbox"]["reason"]
    goto(page, app.url)
    assert_no_exception(page)
    assert app.proc.poll() is None
