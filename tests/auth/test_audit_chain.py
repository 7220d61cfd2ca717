"""The audit log's hash chain: each row hashes the one before; verify names the first row that was
edited, removed or inserted; concurrent writers keep one line; rows from before the chain get linked
by the migration; a destroyed detail keeps the chain whole."""
from __future__ import annotations

import datetime as dt
import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from crm import clock, schema
from crm.auth import audit
from crm.auth.personal import Actor
from crm.db import Archive, open_archive
from crm.vocabulary import ADMIN

ROOT = Path(__file__).resolve().parents[2]
ADMIN_ACTOR = Actor("admin", ADMIN)


def write(archive: Archive, n: int, action: str = "edit") -> None:
    for i in range(n):
        with archive.transaction() as tx:
            audit.record(tx, ADMIN_ACTOR, action, "customers", f"C{i}", {"phone": {"old": "1", "new": str(i)}})


def rows(archive: Archive) -> list[tuple]:
    cur = archive.cursor()
    try:
        return cur.execute("SELECT id, prev_hash, row_hash FROM audit_log ORDER BY id").fetchall()
    finally:
        cur.close()


def test_each_row_carries_the_hash_of_the_one_before(archive: Archive) -> None:
    write(archive, 3)
    with archive.transaction() as tx:
        audit.record_many(tx, "system", "pool_release", "customers", [("C7", "a"), ("C8", None)])
    chain = rows(archive)
    assert chain[0][1] == audit.GENESIS
    assert [r[1] for r in chain[1:]] == [r[2] for r in chain[:-1]]
    assert len({r[2] for r in chain}) == 5 and all(len(r[2]) == 64 for r in chain)
    report = audit.verify(archive)
    assert report.ok and report.checked == 5 and report.head == chain[-1][2]
    assert report.message.startswith("操作日志哈希链完整：已校验 5 条记录")


def test_editing_one_rows_detail_is_reported_at_that_row(archive: Archive) -> None:
    with clock.pinned(dt.datetime(2026, 5, 4, 10, 30)):
        write(archive, 4)
    target = rows(archive)[2][0]
    cur = archive.cursor()
    cur.execute("UPDATE audit_log SET detail = '{\"phone\": \"nothing happened\"}' WHERE id = ?", [target])
    cur.close()
    report = audit.verify(archive)
    assert not report.ok
    assert (report.broken_id, report.checked, report.reason) == (target, 2, "记录内容被改动")
    assert report.broken_at == dt.datetime(2026, 5, 4, 10, 30)
    assert f"第 {target} 号记录" in report.message and "2026-05-04 10:30:00" in report.message


def test_a_removed_row_breaks_the_link_of_the_next(archive: Archive) -> None:
    write(archive, 4)
    ids = [r[0] for r in rows(archive)]
    cur = archive.cursor()
    cur.execute("DELETE FROM audit_log WHERE id = ?", [ids[1]])
    cur.close()
    report = audit.verify(archive)
    assert report.broken_id == ids[2] and "前一条记录被删除" in report.reason


def test_a_rehashed_edit_still_breaks_the_next_link(archive: Archive) -> None:
    """Recomputing the edited row's own hash does not help: the next row points at the old one."""
    write(archive, 3)
    (first, _, _), (second, prev, _), (third, _, _) = rows(archive)
    cur = archive.cursor()
    row = cur.execute("SELECT occurred_at, user_name, action, entity, entity_id FROM audit_log WHERE id = ?", [second]).fetchall()[0]
    forged = audit.row_hash(prev, second, *row, audit.detail_digest("forged"))
    cur.execute("UPDATE audit_log SET detail = 'forged', row_hash = ? WHERE id = ?", [forged, second])
    cur.close()
    assert audit.verify(archive).broken_id == third


def test_a_rolled_back_entry_leaves_no_gap_in_the_chain(archive: Archive) -> None:
    write(archive, 1)
    with pytest.raises(RuntimeError):
        with archive.transaction() as tx:
            audit.record(tx, ADMIN_ACTOR, "edit", "customers", "C9", "gone")
            raise RuntimeError("write failed")
    with archive.rolled_back() as tx:  # a dry run audits too, and leaves nothing
        audit.record(tx, ADMIN_ACTOR, "import", "batch", 1, "dry")
    write(archive, 1)
    assert len(rows(archive)) == 2 and audit.verify(archive).ok


def test_sessions_writing_at_once_keep_one_chain(archive: Archive) -> None:
    """A transaction's snapshot can predate another's commit: the chain lock and the fresh read of
    the last row keep every entry chained onto the one committed before it."""
    errors: list[BaseException] = []

    def session(name: str) -> None:
        try:
            for i in range(15):
                with archive.transaction() as tx:
                    tx.execute("SELECT count(*) FROM audit_log").fetchall()  # the snapshot starts here
                    audit.record(tx, Actor(name, ADMIN), "edit", "customers", f"{name}{i}", None)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session, args=(f"u{k}",)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    report = audit.verify(archive)
    assert report.ok and report.checked == 60


def test_a_restore_like_rewrite_continues_from_what_the_transaction_sees(archive: Archive) -> None:
    write(archive, 3)
    kept = rows(archive)[0]
    with archive.transaction() as tx:
        tx.execute("DELETE FROM audit_log WHERE id > ?", [kept[0]])
        audit.continue_chain_from(tx)
        audit.record(tx, ADMIN_ACTOR, "restore", None, None, "from a backup")
    assert rows(archive)[1][1] == kept[2] and audit.verify(archive).ok


def test_a_redacted_detail_keeps_the_chain_but_nothing_else_may_stand_there(archive: Archive) -> None:
    write(archive, 2)
    first = rows(archive)[0][0]
    cur = archive.cursor()
    (detail,) = cur.execute("SELECT detail FROM audit_log WHERE id = ?", [first]).fetchall()[0]
    cur.execute("UPDATE audit_log SET detail = ?, detail_sha = ? WHERE id = ?", [audit.REDACTED, audit.detail_digest(detail), first])
    assert audit.verify(archive).ok
    cur.execute("UPDATE audit_log SET detail = 'rewritten' WHERE id = ?", [first])
    cur.close()
    assert audit.verify(archive).reason == "销毁标记被改动"


def test_rows_from_before_the_chain_are_linked_by_the_migration(tmp_path: Path) -> None:
    path = tmp_path / "v10.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    for apply in schema.MIGRATIONS[:10]:
        apply(con)
    con.execute("INSERT INTO meta VALUES ('schema_version', '10')")
    con.execute("INSERT INTO audit_log (occurred_at, user_name, action, detail) VALUES "
                "('2025-01-02 03:04:05', 'cli', 'import', '{\"rows\": 1}'), ('2025-01-03 00:00:00', 'cli', 'undo', NULL)")
    con.close()
    archive = open_archive(path)
    try:
        assert audit.verify(archive).checked == 2
        write(archive, 1)
        report = audit.verify(archive)
        assert report.ok and report.checked == 3
    finally:
        archive.close()


def test_the_command_line_verify(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    archive = open_archive(db)
    write(archive, 3)
    target = rows(archive)[1][0]
    archive.close()

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "crm", "audit", "verify", "--db", str(db)], cwd=ROOT,
                              capture_output=True, text=True, timeout=120)

    ok = verify()
    assert ok.returncode == 0 and "已校验 3 条记录" in ok.stdout
    con = duckdb.connect(str(db))
    con.execute("UPDATE audit_log SET user_name = '别人' WHERE id = ?", [target])
    con.close()
    broken = verify()
    assert broken.returncode == 1 and f"第 {target} 号记录" in broken.stderr and "Traceback" not in broken.stderr
