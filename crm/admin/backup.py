"""Backups of the archive and restoring one.

**How a backup is taken.** `COPY FROM DATABASE` into a new DuckDB file (ATTACHed beside the
archive), inside one read transaction: the copy is the archive exactly as one snapshot saw it,
while the app keeps serving and writing. It is `EXPORT DATABASE` in single-file form, chosen over
the two usual ways: CHECKPOINT-then-copy-the-file is only consistent when nobody writes between the
checkpoint and the end of the copy (the app's sessions do, and DuckDB checkpoints on its own when
the write-ahead log grows), and EXPORT DATABASE writes a folder of CSV or Parquet files with SQL
that only an IMPORT into an empty file turns back into an archive. A backup file *is* an archive:
`CRM_DB=backups/….duckdb` opens it, and copying it over a lost archive file (app stopped) recovers
it. Log-in sessions are emptied in the copy (tokens are secrets, and useless after a restore).
Beside each file a manifest (`.json`) keeps who made it, when, why, the schema and DuckDB versions,
the audit chain's head and per table the row count and a checksum, so a damaged or edited backup is
refused (after a DuckDB upgrade, whose hash() may differ, by its row counts only).

**How a restore works.** The backup is copied to a work file, checked against its manifest,
migrated to the current schema (an older backup upgrades as an old archive does), and the current
archive is first backed up itself (恢复前自动备份). Then one transaction replaces the rows of every
table with the backup's, moves the sequences on so that no id is ever handed out twice, checks
that every table's row count and checksum now equal the backup's, re-applies every 销毁记录 made
since the backup (a destroyed customer does not come back), and writes the restore's audit entry
into the restored log, chained onto its last row. The process keeps its one connection (crm.db):
nothing is closed or swapped, so every session's Archive stays valid, and a failure at any step
leaves the archive as it was. Accounts and log-in sessions (`users`, `sessions`) are kept as they
are: restoring old data must not re-enable an account disabled since, or undo a password reset.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import duckdb

from crm import clock, config, db, schema
from crm.auth import audit, policy
from crm.errors import UserError, failure_reason

if TYPE_CHECKING:
    from crm.auth.personal import Actor
    from crm.db import Archive

KEPT_TABLES = frozenset({"users", "sessions"})  # not replaced by a restore (see the module's docstring)
AUTO_NOTE = "恢复前自动备份"
_NAME = re.compile(r"^[^.].*\.duckdb$")


@dataclass(frozen=True)
class Backup:
    """One backup file as the list shows it (manifest fields are None for a file without one)."""
    path: Path
    created_at: dt.datetime
    size: int
    created_by: str | None = None
    note: str | None = None
    schema_version: int | None = None
    customers: int | None = None

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class RestoreResult:
    source: str
    safety_backup: str
    tables: int
    rows: int
    reapplied: tuple[str, ...]  # customers destroyed after the backup, destroyed again

    @property
    def message(self) -> str:
        text = f"已从备份 {self.source} 恢复档案：{self.tables} 张表、{self.rows} 行，各表行数与校验和均与备份一致"
        if self.reapplied:
            text += f"；备份之后销毁的 {len(self.reapplied)} 位客户的档案已再次销毁"
        return text + f"。恢复前的档案已备份为 {self.safety_backup}"


def backup_dir(archive: "Archive") -> Path:
    """CRM_BACKUP_DIR, else the `backups` folder beside the archive file."""
    configured = config.backup_dir()
    return Path(configured) if configured else archive.path.resolve().parent / "backups"


def size_text(size: int) -> str:
    """1536 → 1.5 KB: a file size as the page shows it."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


# ------------------------------------------------------------------ table checksums
def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def base_tables(cur: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    """The archive's tables in `catalog` (an attached database's alias or the archive's own name)."""
    rows = cur.execute("SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = 'main' "
                       "AND table_type = 'BASE TABLE' ORDER BY table_name", [catalog]).fetchall()
    return [r[0] for r in rows]


def _columns(cur: duckdb.DuckDBPyConnection, catalog: str, table: str) -> list[str]:
    rows = cur.execute("SELECT column_name FROM information_schema.columns WHERE table_catalog = ? AND table_schema = 'main' "
                       "AND table_name = ? ORDER BY ordinal_position", [catalog, table]).fetchall()
    return [r[0] for r in rows]


def table_checksums(cur: duckdb.DuckDBPyConnection, catalog: str, tables: Iterable[str] | None = None,
                    columns_from: str | None = None) -> dict[str, tuple[int, int]]:
    """table → (row count, checksum): the sum of every row's hash over its columns, so two tables
    with the same rows in any order agree and one changed value does not. Columns are taken by name
    from `columns_from` (default `catalog`), so a table compares with its copy column by column."""
    out: dict[str, tuple[int, int]] = {}
    for table in tables if tables is not None else base_tables(cur, catalog):
        cols = ", ".join(_ident(c) for c in _columns(cur, columns_from or catalog, table))
        row = db.fetch_one(cur, f"SELECT count(*), coalesce(sum(hash({cols})), 0) FROM {_ident(catalog)}.main.{_ident(table)}")
        out[table] = (int(row[0]), int(row[1]))  # type: ignore[index]
    return out


def _current_database(cur: duckdb.DuckDBPyConnection) -> str:
    return str(db.scalar(cur, "SELECT current_database()"))


def _alias() -> str:
    return f"crm_backup_{secrets.token_hex(6)}"


def _remove(path: Path) -> None:
    for p in (path, path.with_name(path.name + ".wal")):
        p.unlink(missing_ok=True)


# ------------------------------------------------------------------ backup
def create_backup(archive: "Archive", actor: "Actor", note: str | None = None) -> Backup:
    """A consistent copy of the archive in the backups folder, with its manifest; admins only; audited."""
    policy.require(actor, "backup.manage")
    folder = backup_dir(archive)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(None, f"无法创建备份文件夹 {folder}：{exc.strerror or exc}") from None
    now = clock.now()
    stem = f"{archive.path.stem}-{now:%Y%m%d-%H%M%S}"
    final, n = folder / f"{stem}.duckdb", 1
    while final.exists():
        n += 1
        final = folder / f"{stem}-{n}.duckdb"
    partial = folder / f".{final.stem}.partial.duckdb"
    alias = _alias()
    cur = archive.cursor()
    try:
        main = _current_database(cur)
        cur.execute(f"ATTACH {_literal(str(partial))} AS {alias}")
        try:
            cur.execute("BEGIN TRANSACTION")
            try:
                cur.execute(f"COPY FROM DATABASE {_ident(main)} TO {alias}")
                cur.execute(f"DELETE FROM {alias}.main.sessions")
                sums = table_checksums(cur, alias)
                version = int(db.scalar(cur, f"SELECT value FROM {alias}.main.meta WHERE key = 'schema_version'") or 0)
                head = db.scalar(cur, f"SELECT row_hash FROM {alias}.main.audit_log ORDER BY id DESC LIMIT 1")
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise
        finally:
            cur.execute(f"DETACH {alias}")
    except duckdb.Error as exc:
        _remove(partial)
        raise UserError(None, f"备份失败：{failure_reason(exc)}") from None
    finally:
        cur.close()
    manifest = {"created_at": now.isoformat(), "created_by": actor.username, "note": note, "source": str(archive.path),
                "schema_version": version, "duckdb": duckdb.__version__, "audit_head": head,
                "tables": {t: list(v) for t, v in sums.items()}}
    try:
        final.with_suffix(".json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(partial, final)
    except OSError as exc:
        _remove(partial)
        raise UserError(None, f"备份失败：无法写入 {folder}（{exc.strerror or exc}）") from None
    size = final.stat().st_size
    with archive.transaction() as tx:
        audit.record(tx, actor, "backup", "archive", final.name,
                     {"size": size, "customers": sums.get("customers", (0, 0))[0], "tables": len(sums), "note": note})
    return Backup(final, now, size, actor.username, note, version, sums.get("customers", (0, 0))[0])


def _manifest(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def list_backups(archive: "Archive") -> list[Backup]:
    """The backups folder's archive copies, newest first, with size and time (from the manifest,
    else the file's own time)."""
    folder = backup_dir(archive)
    if not folder.is_dir():
        return []
    out = []
    for path in folder.iterdir():
        if not (_NAME.match(path.name) and path.is_file()):
            continue
        m = _manifest(path) or {}
        try:
            created = dt.datetime.fromisoformat(m["created_at"])
        except (KeyError, TypeError, ValueError):
            created = dt.datetime.fromtimestamp(path.stat().st_mtime, clock.timezone()).replace(tzinfo=None)
        out.append(Backup(path, created, path.stat().st_size, m.get("created_by"), m.get("note"), m.get("schema_version"),
                          (m.get("tables") or {}).get("customers", [None])[0]))
    return sorted(out, key=lambda b: (b.created_at, b.path.stat().st_mtime_ns), reverse=True)


def find_backup(archive: "Archive", name: str) -> Path:
    """A backup of the list by file name (the page offers names, never paths)."""
    for b in list_backups(archive):
        if b.name == name:
            return b.path
    raise UserError("backup", f"备份文件夹中没有「{name}」")


# ------------------------------------------------------------------ restore
def _check_copy(work: Path, manifest: dict[str, Any] | None) -> None:
    """Refuse what is not an archive of this app (or one newer than it), and a backup whose tables no
    longer match its manifest (damaged, or edited since)."""
    try:
        con = duckdb.connect(str(work))
    except duckdb.Error:
        raise UserError("backup", "所选文件不是有效的档案备份（无法作为 DuckDB 数据库打开）") from None
    try:
        version = schema.schema_version(con)
        if version == 0 or not db.fetch_one(con, "SELECT 1 FROM information_schema.tables WHERE table_name = 'customers'"):
            raise UserError("backup", "所选文件不是客户档案的备份（缺少档案的数据表）")
        if version > schema.CURRENT_VERSION:
            raise UserError("backup", f"备份的数据库版本 {version} 比本程序支持的版本 {schema.CURRENT_VERSION} 新，请升级程序后再恢复")
        if manifest and manifest.get("schema_version") == version:
            # DuckDB's hash() may change between its versions: then only the row counts can be compared.
            same_hash = manifest.get("duckdb") == duckdb.__version__
            expected = {t: tuple(v) if same_hash else v[0] for t, v in (manifest.get("tables") or {}).items()}
            actual = {t: v if same_hash else v[0] for t, v in table_checksums(con, _current_database(con)).items()}
            wrong = sorted(t for t in expected.keys() | actual.keys() if expected.get(t) != actual.get(t))
            if wrong:
                raise UserError("backup", f"备份文件与其清单不符（{'、'.join(wrong[:5])} 的行数或校验和不同），可能已损坏或被改动，未恢复")
    finally:
        con.close()


def restore_backup(archive: "Archive", actor: "Actor", source: str | os.PathLike[str], *, confirmed: bool) -> RestoreResult:
    """Replace the archive's data with a backup's (see the module's docstring); admins only, after an
    explicit confirmation; audited in the restored archive."""
    policy.require(actor, "backup.manage")
    if not confirmed:
        raise UserError("confirm", "恢复会用备份覆盖当前档案的全部数据，请先确认")
    path = Path(source)
    if not path.is_file():
        raise UserError("backup", f"没有找到备份文件 {path}")
    if path.resolve() == archive.path.resolve():
        raise UserError("backup", "不能用档案文件本身恢复，请选择一个备份")
    folder = backup_dir(archive)
    folder.mkdir(parents=True, exist_ok=True)
    work = folder / f".restore-{secrets.token_hex(6)}.duckdb"
    try:
        shutil.copyfile(path, work)
    except OSError as exc:
        _remove(work)
        raise UserError("backup", f"无法读取备份文件 {path.name}（{exc.strerror or exc}）") from None
    try:
        _check_copy(work, _manifest(path))
        from crm.db import open_archive

        copy = open_archive(work)  # an older backup is migrated to the current schema, as an old archive is
        copy.close()
        safety = create_backup(archive, actor, note=AUTO_NOTE)
        return _replace_from(archive, actor, work, path.name, safety.name)
    finally:
        _remove(work)


def _sequences(cur: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, int]:
    rows = cur.execute("SELECT sequence_name, last_value FROM duckdb_sequences() WHERE database_name = ?", [catalog]).fetchall()
    return {name: int(last or 0) for name, last in rows}


def _replace_from(archive: "Archive", actor: "Actor", work: Path, source: str, safety: str) -> RestoreResult:
    from crm.admin import destruction

    alias = _alias()
    cur = archive.cursor()
    cur.execute(f"ATTACH {_literal(str(work))} AS {alias} (READ_ONLY)")
    try:
        with archive.transaction() as tx:
            # The chain is held before this transaction's snapshot starts (DuckDB starts it at the first
            # read): no session's audit entry can land between the snapshot and the replaced log.
            audit.continue_chain_from(tx)
            main = _current_database(tx)
            tables = [t for t in base_tables(tx, main) if t not in KEPT_TABLES]
            missing = sorted(set(tables) - set(base_tables(tx, alias)))
            if missing:
                raise UserError("backup", f"备份缺少数据表 {'、'.join(missing)}，未恢复")
            later = destruction.destructions_since(tx, alias)  # destroyed after the backup was taken
            for table in tables:
                cols = ", ".join(_ident(c) for c in _columns(tx, main, table))
                tx.execute(f"DELETE FROM {_ident(table)}")
                tx.execute(f"INSERT INTO {_ident(table)} ({cols}) SELECT {cols} FROM {alias}.main.{_ident(table)}")
            live = _sequences(tx, main)
            for name, last in _sequences(tx, alias).items():
                if name in live and last > live[name]:  # ids handed out since stay handed out
                    tx.execute(f"SELECT max(nextval({_literal(name)})) FROM range(?)", [last - live[name]]).fetchall()
            restored = table_checksums(tx, main, tables)
            if restored != table_checksums(tx, alias, tables, columns_from=main):
                raise UserError(None, "恢复后的数据与备份不一致，已撤回恢复，档案保持原样")
            reapplied = tuple(destruction.reapply(tx, row) for row in later)
            audit.continue_chain_from(tx)
            audit.record(tx, actor, "restore", "archive", source,
                         {"safety_backup": safety, "tables": len(tables), "rows": sum(n for n, _ in restored.values()),
                          "reapplied_destructions": list(reapplied)})
            db.mark_changed(tx, db.RECORDS)
    finally:
        cur.execute(f"DETACH {alias}")
        cur.close()
    return RestoreResult(source, safety, len(tables), sum(n for n, _ in restored.values()), reapplied)


def backups_holding(archive: "Archive", customer_id: str) -> list[str]:
    """The backups that still hold a customer (the 销毁记录 names them: destroying an archive does not
    reach into its copies); a backup that cannot be read is named too, as it may."""
    out = []
    cur = archive.cursor()
    try:
        for b in list_backups(archive):
            alias = _alias()
            try:
                cur.execute(f"ATTACH {_literal(str(b.path))} AS {alias} (READ_ONLY)")
            except duckdb.Error:
                out.append(f"{b.name}（无法读取）")
                continue
            try:
                if db.fetch_one(cur, f"SELECT 1 FROM {alias}.main.customers WHERE customer_id = ?", [customer_id]):
                    out.append(b.name)
            except duckdb.Error:
                out.append(f"{b.name}（无法读取）")
            finally:
                cur.execute(f"DETACH {alias}")
    finally:
        cur.close()
    return out
