"""crm.admin.backup: a consistent copy with its manifest; the restore drill (backup → changes →
restore → every table's row count and checksum equal the backup's); what a restore keeps and refuses."""
from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from conftest import one

from crm import clock, schema
from crm.admin import backup, destruction
from crm.auth import accounts, audit
from crm.auth.personal import Actor
from crm.auth.policy import PermissionDenied
from crm.db import Archive, open_archive
from crm.errors import UserError
from crm.seed import seed_demo
from crm.vocabulary import ADMIN, SALES, VIEWER

ROOT = Path(__file__).resolve().parents[2]
ADMIN_ACTOR = Actor("admin", ADMIN)
DAY = dt.datetime(2026, 6, 1, 9, 0)


@pytest.fixture
def seeded(archive: Archive) -> Archive:
    with clock.pinned(DAY):
        seed_demo(archive, customers=60, seed=7, today=DAY.date())
    return archive


def checksums_of(path: Path) -> dict[str, tuple[int, int]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return backup.table_checksums(con, str(con.execute("SELECT current_database()").fetchall()[0][0]))
    finally:
        con.close()


def live_checksums(archive: Archive) -> dict[str, tuple[int, int]]:
    cur = archive.cursor()
    try:
        return backup.table_checksums(cur, str(cur.execute("SELECT current_database()").fetchall()[0][0]))
    finally:
        cur.close()


def change_everything(archive: Archive) -> None:
    """Changes after the backup across many tables: rows added, changed and deleted, settings, audit."""
    cur = archive.cursor()
    cur.execute("INSERT INTO customers (customer_id, name, phone) VALUES ('CNEW', '新客户', '13900000000')")
    cur.execute("UPDATE customers SET phone = '13311112222', note = '改过' WHERE customer_id = (SELECT min(customer_id) FROM customers)")
    cur.execute("DELETE FROM transactions WHERE id IN (SELECT id FROM transactions ORDER BY id LIMIT 5)")
    cur.execute("DELETE FROM customer_tags")
    cur.execute("UPDATE follow_ups SET status = '已取消'")
    cur.execute("INSERT OR REPLACE INTO settings (key, value) VALUES ('segments.high_value_floor', '1')")
    cur.close()
    with archive.transaction() as tx:
        audit.record(tx, ADMIN_ACTOR, "edit", "customers", "CNEW", {"phone": {"old": None, "new": "13900000000"}})


def test_the_restore_drill(seeded: Archive) -> None:
    with clock.pinned(DAY):
        made = backup.create_backup(seeded, ADMIN_ACTOR)
    taken = checksums_of(made.path)
    manifest = json.loads(made.path.with_suffix(".json").read_text(encoding="utf-8"))
    assert {t: tuple(v) for t, v in manifest["tables"].items()} == taken
    assert taken["customers"][0] == 60 and taken["sessions"] == (0, 0)
    before_ids = int(one(seeded, "SELECT max(id) FROM audit_log")[0])
    with clock.pinned(DAY + dt.timedelta(hours=1)):
        change_everything(seeded)
        assert live_checksums(seeded)["customers"] != taken["customers"]
        result = backup.restore_backup(seeded, ADMIN_ACTOR, made.path, confirmed=True)

    now = live_checksums(seeded)
    restored = {t for t in taken if t not in backup.KEPT_TABLES}
    for table in restored - {"audit_log"}:
        assert now[table] == taken[table], table
    # the log is the backup's, then the restore's own entry chained onto its last row
    cur = seeded.cursor()
    cols = ", ".join(f'"{c}"' for c, in cur.execute("SELECT column_name FROM information_schema.columns WHERE "
                                                    "table_name = 'audit_log' ORDER BY ordinal_position").fetchall())
    kept = cur.execute(f"SELECT count(*), sum(hash({cols})) FROM audit_log WHERE id <= ?", [before_ids]).fetchall()[0]
    added = cur.execute("SELECT action, user_name, entity_id, detail FROM audit_log WHERE id > ? ORDER BY id", [before_ids]).fetchall()
    cur.close()
    assert (int(kept[0]), int(kept[1])) == taken["audit_log"]
    assert [(a, u, e) for a, u, e, _ in added] == [("restore", "admin", made.name)]
    assert json.loads(added[0][3])["safety_backup"] == result.safety_backup
    assert audit.verify(seeded).ok
    assert result.tables == len(restored) and result.rows > 0 and "校验和均与备份一致" in result.message
    # the archive as it was before the restore was backed up first
    safety = next(b for b in backup.list_backups(seeded) if b.name == result.safety_backup)
    assert safety.note == backup.AUTO_NOTE and checksums_of(safety.path)["customers"][0] == 61


def test_ids_are_never_handed_out_twice_after_a_restore(seeded: Archive) -> None:
    made = backup.create_backup(seeded, ADMIN_ACTOR)
    change_everything(seeded)
    highest = int(one(seeded, "SELECT max(id) FROM audit_log")[0])
    backup.restore_backup(seeded, ADMIN_ACTOR, made.path, confirmed=True)
    with seeded.transaction() as tx:
        audit.record(tx, ADMIN_ACTOR, "edit", "customers", "C1", None)
    assert int(one(seeded, "SELECT max(id) FROM audit_log")[0]) > highest


def test_accounts_are_not_rolled_back_by_a_restore(seeded: Archive) -> None:
    made = backup.create_backup(seeded, ADMIN_ACTOR)
    accounts.add_user(seeded, ADMIN_ACTOR, "新同事", SALES, "a-long-password-1")
    accounts.set_active(seeded, ADMIN_ACTOR, "王磊", False)
    backup.restore_backup(seeded, ADMIN_ACTOR, made.path, confirmed=True)
    assert one(seeded, "SELECT role FROM users WHERE username = '新同事'") == (SALES,)
    assert one(seeded, "SELECT active FROM users WHERE username = '王磊'") == (False,)


def test_a_customer_destroyed_after_the_backup_stays_destroyed(seeded: Archive) -> None:
    made = backup.create_backup(seeded, ADMIN_ACTOR)
    (cid,) = one(seeded, "SELECT customer_id FROM customers ORDER BY customer_id LIMIT 1")
    record = destruction.destroy(seeded, ADMIN_ACTOR, cid, "客户要求删除")
    assert record.backups == [made.name]
    result = backup.restore_backup(seeded, ADMIN_ACTOR, made.path, confirmed=True)
    assert result.reapplied == (cid,) and "再次销毁" in result.message
    assert one(seeded, "SELECT count(*) FROM customers WHERE customer_id = ?", [cid]) == (0,)
    assert one(seeded, "SELECT count(*) FROM interactions WHERE customer_id = ?", [cid]) == (0,)
    assert one(seeded, "SELECT id, reason FROM destructions") == (record.id, "客户要求删除")
    assert audit.verify(seeded).ok


def test_a_backup_is_one_snapshot_while_others_write(archive: Archive) -> None:
    cur = archive.cursor()
    cur.execute("INSERT INTO customers (customer_id, name) VALUES ('C1', '甲')")
    cur.close()
    open_write = archive.cursor()
    open_write.execute("BEGIN TRANSACTION")
    open_write.execute("INSERT INTO customers (customer_id, name) VALUES ('C2', '乙')")
    made = backup.create_backup(archive, ADMIN_ACTOR)
    open_write.execute("COMMIT")
    open_write.close()
    assert checksums_of(made.path)["customers"][0] == 1
    assert made.customers == 1 and made.size == made.path.stat().st_size


def test_backups_are_listed_newest_first_with_size_and_time(archive: Archive, monkeypatch, tmp_path: Path) -> None:
    assert backup.list_backups(archive) == []
    assert backup.backup_dir(archive) == archive.path.resolve().parent / "backups"
    monkeypatch.setenv("CRM_BACKUP_DIR", str(tmp_path / "elsewhere"))
    with clock.pinned(DAY):
        first = backup.create_backup(archive, ADMIN_ACTOR)
        second = backup.create_backup(archive, ADMIN_ACTOR, note="升级前")  # the same second: a new name
    assert first.path.parent == tmp_path / "elsewhere" and first.name != second.name
    listed = backup.list_backups(archive)
    assert [b.name for b in listed] == [second.name, first.name]
    assert listed[0].note == "升级前" and listed[0].created_at == DAY and listed[0].created_by == "admin"
    assert listed[0].size > 0 and backup.size_text(1536) == "1.5 KB"
    assert [e[0] for e in archive.cursor().execute("SELECT entity_id FROM audit_log WHERE action = 'backup' ORDER BY id").fetchall()] \
        == [first.name, second.name]


def test_an_older_backup_is_upgraded_when_restored(archive: Archive, tmp_path: Path) -> None:
    old = tmp_path / "v10-backup.duckdb"
    con = duckdb.connect(str(old))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    for apply in schema.MIGRATIONS[:10]:
        apply(con)
    con.execute("INSERT INTO meta VALUES ('schema_version', '10')")
    con.execute("INSERT INTO customers (customer_id, name) VALUES ('OLD1', '旧档案')")
    con.execute("INSERT INTO audit_log (occurred_at, user_name, action) VALUES ('2025-01-01 08:00:00', 'cli', 'import')")
    con.close()
    backup.restore_backup(archive, ADMIN_ACTOR, old, confirmed=True)
    assert one(archive, "SELECT name FROM customers") == ("旧档案",)
    report = audit.verify(archive)
    assert report.ok and report.checked == 2  # the old entry, chained on upgrade, and the restore's


def test_what_a_restore_refuses(seeded: Archive, tmp_path: Path) -> None:
    made = backup.create_backup(seeded, ADMIN_ACTOR)
    with pytest.raises(UserError, match="请先确认"):
        backup.restore_backup(seeded, ADMIN_ACTOR, made.path, confirmed=False)
    with pytest.raises(UserError, match="没有找到备份文件"):
        backup.restore_backup(seeded, ADMIN_ACTOR, tmp_path / "missing.duckdb", confirmed=True)
    junk = tmp_path / "junk.duckdb"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(UserError, match="不是有效的档案备份"):
        backup.restore_backup(seeded, ADMIN_ACTOR, junk, confirmed=True)
    con = duckdb.connect(str(made.path))
    con.execute("UPDATE customers SET phone = '10000000000' WHERE customer_id = (SELECT min(customer_id) FROM customers)")
    con.close()
    with pytest.raises(UserError, match="与其清单不符.*customers"):
        backup.restore_backup(seeded, ADMIN_ACTOR, made.path, confirmed=True)
    assert one(seeded, "SELECT count(*) FROM audit_log WHERE action = 'restore'") == (0,)


@pytest.mark.parametrize("role", [VIEWER, SALES])
def test_only_admins_back_up_and_restore(seeded: Archive, role: str) -> None:
    made = backup.create_backup(seeded, ADMIN_ACTOR)
    with pytest.raises(PermissionDenied, match="只有管理员可以备份和恢复档案"):
        backup.create_backup(seeded, Actor("someone", role))
    with pytest.raises(PermissionDenied, match="只有管理员可以备份和恢复档案"):
        backup.restore_backup(seeded, Actor("someone", role), made.path, confirmed=True)


def test_the_command_line_backup_and_restore(tmp_path: Path) -> None:
    db = tmp_path / "cli.duckdb"
    archive = open_archive(db)
    cur = archive.cursor()
    cur.execute("INSERT INTO customers (customer_id, name) VALUES ('C1', '甲')")
    cur.close()
    accounts.add_user(archive, "cli", "admin", ADMIN, "a-long-password-1")  # from now on, unknown users read only
    archive.close()

    def crm(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "crm", *args, "--db", str(db)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120, env={**os.environ, "CRM_BACKUP_DIR": str(tmp_path / "bk")})

    made = crm("backup")
    assert made.returncode == 0 and "已备份到" in made.stdout, made.stderr
    (file,) = (tmp_path / "bk").glob("*.duckdb")
    listed = crm("backup", "--list")
    assert listed.returncode == 0 and file.name in listed.stdout
    refused = crm("restore", str(file))
    assert refused.returncode == 1 and "--yes" in refused.stderr and refused.stderr.count("\n") == 1
    as_viewer = crm("restore", str(file), "--yes", "--user", "nobody")  # unknown users act as viewers
    assert as_viewer.returncode == 1 and "只有管理员" in as_viewer.stderr
    restored = crm("restore", str(file), "--yes")
    assert restored.returncode == 0 and "已从备份" in restored.stdout, restored.stderr


def test_after_a_duckdb_upgrade_the_manifest_is_held_to_its_row_counts(seeded: Archive) -> None:
    made = backup.create_backup(seeded, ADMIN_ACTOR)
    path = made.path.with_suffix(".json")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest["duckdb"] = "0.0.1"  # made by another DuckDB: its hash() values may differ
    manifest["tables"] = {t: [n, 12345] for t, (n, _) in manifest["tables"].items()}
    path.write_text(json.dumps(manifest), encoding="utf-8")
    backup.restore_backup(seeded, ADMIN_ACTOR, made.path, confirmed=True)
    manifest["tables"]["customers"][0] += 1
    path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(UserError, match="与其清单不符（customers"):
        backup.restore_backup(seeded, ADMIN_ACTOR, made.path, confirmed=True)
