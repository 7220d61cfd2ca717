"""The hot folder: scheduled work for an archive the dashboard holds.

DuckDB lets one process open the archive, and while the dashboard runs that process is the
dashboard. So the dashboard also does the scheduled work: a background thread (`Watcher`, started
once per process by app.py) watches a folder (CRM_INBOX, default the `inbox` folder beside the
archive, i.e. data/inbox/) and the command line hands work to it (`--via-inbox`).

Layout, one sub-folder per user (the folder's name is who the file is imported as, with that
user's role and policy, as `python -m crm import --user NAME` would):

    inbox/王磊/客户.xlsx                        dropped here
    inbox/王磊/processing/<claim>/客户.xlsx     being imported (claimed by an atomic rename)
    inbox/王磊/done/<claim>/客户.xlsx           imported (exit code 0, rejected rows included)
                           客户.xlsx.json        the report: the `import --json` output + "inbox"
                           客户_拒绝行.xlsx       the problems workbook, when rows were rejected
    inbox/王磊/failed/<claim>/…                 not imported: unreadable, refused, strict mode …

**When a file is complete.** A file is taken once its size and modification time are the same at
two polls in a row (CRM_INBOX_POLL_S apart), so a copy in progress is waited for. A writer that may
pause longer than that writes `NAME.part` (or a name starting with ".") and renames it when done;
such names are never taken. `python -m crm import --via-inbox` does that.

**Exactly once.** Claiming is a rename into processing/<claim>/ (atomic: a file is either still
waiting or claimed). The import's own transaction also writes an audit entry ("import", entity
"inbox", the claim id, detail: the file name, its sha256 and the batches) through
crm.db.before_commit, so the entry exists if and only if the import committed. On start-up
(`recover`), each claim left in processing/ by a killed process is settled: a written report moves
it on; otherwise the audit entry for that claim with the file's hash says the import committed
(a report is rebuilt from the batches, nothing is imported again) or that it did not (it is
imported now).

**Requests.** `stats`, `batches` and `backup` with `--via-inbox` write inbox/.requests/<id>.json;
the watcher runs the same command in the dashboard's process and writes <id>.answer.json (its
output and exit code), which the command line prints.

One watcher per inbox: it holds an exclusive lock on inbox/.watcher.lock (released by the kernel
when the process dies, even by kill -9) and names itself in inbox/.watcher.json. The command line
finds a running watcher by that lock, never by a guess from a process list.
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import logging
import os
import secrets
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from crm import clock, config, db
from crm.db import Archive, ArchiveBusyError

log = logging.getLogger("crm.inbox")

PROCESSING, DONE, FAILED = "processing", "done", "failed"
SETTLED = (PROCESSING, DONE, FAILED)
REQUESTS = ".requests"
LOCK, INFO = ".watcher.lock", ".watcher.json"
SIDECAR = ".options.json"  # NAME.options.json beside NAME: how the command line asked for it to be imported
CLAIM = ".claim.json"  # in a claim folder: the file's name, who dropped it, when it was claimed
PART = ".part"
PROBLEMS_SUFFIX = "_拒绝行.xlsx"  # as the import history names the same workbook
DEFAULT_OPTIONS: dict[str, Any] = {"strict": False, "dry_run": False, "on_conflict": "keep", "hidden": False}
# What the command line may ask the dashboard to run for it, and the flags each may carry.
COMMANDS: dict[str, tuple[str, ...]] = {"stats": ("json",), "batches": ("json",), "backup": ("list",)}
DEFAULT_WAIT_S = 3600.0


class InboxError(Exception):
    """A hand-over to the hot folder that cannot go on: one Chinese line for the command line."""


def folder_for(db_path: Path) -> Path:
    """The inbox of an archive: CRM_INBOX, else the `inbox` folder beside the archive file (so the
    dashboard and the command line agree whenever they agree on the archive)."""
    explicit = config.inbox_dir()
    return Path(explicit) if explicit else Path(db_path).absolute().parent / "inbox"


def new_id() -> str:
    """A claim or request id: sortable by time, unique by its random tail."""
    return f"{clock.now():%Y%m%d-%H%M%S}-{secrets.token_hex(4)}"


def _now() -> str:
    return clock.now().isoformat(timespec="seconds")


def _write_json(path: Path, data: Any) -> None:
    """Whole or not at all: a hidden temporary beside it, then a rename."""
    from crm.imports.run import dumps

    tmp = path.with_name(f".{path.name}.{secrets.token_hex(3)}.tmp")
    tmp.write_text(dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _valid_user_folder(name: str) -> bool:
    return bool(name) and not name.startswith(".") and "/" not in name and "\\" not in name and "\0" not in name


# ------------------------------------------------------------------ who watches the inbox
def _try_lock(folder: Path) -> int | None:
    """The inbox's lock, held (a file descriptor) or None when another process holds it."""
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _unlock(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)
    with contextlib.suppress(OSError):
        os.close(fd)


@dataclass(frozen=True)
class WatcherInfo:
    """The process watching an inbox, as it named itself in .watcher.json."""
    pid: int | None
    db: str | None


def watcher_of(folder: Path) -> WatcherInfo | None:
    """The live watcher of `folder` (its lock is held), else None."""
    if not (folder / LOCK).exists():
        return None
    fd = _try_lock(folder)
    if fd is not None:  # nobody holds it: no watcher (let go at once, a starting one may want it)
        _unlock(fd)
        return None
    info = _read_json(folder / INFO) or {}
    pid = info.get("pid")
    return WatcherInfo(int(pid) if isinstance(pid, int) else None, info.get("db"))


def _same_file(a: str | os.PathLike[str] | None, b: str | os.PathLike[str]) -> bool:
    if a is None:
        return False
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


# ------------------------------------------------------------------ files waiting, claiming
def user_folders(folder: Path) -> list[Path]:
    """The users' sub-folders of the inbox (hidden ones and the lock's files are not users)."""
    try:
        return sorted(p for p in folder.iterdir() if p.is_dir() and _valid_user_folder(p.name))
    except FileNotFoundError:
        return []


def is_candidate(path: Path) -> bool:
    """A file that may be a spreadsheet to import: not hidden, not still written (.part), not a sidecar."""
    name = path.name
    return not name.startswith(".") and not name.endswith(PART) and not name.endswith(SIDECAR)


def waiting_files(folder: Path) -> list[tuple[str, Path]]:
    """(user, file) for every file waiting in a user's folder, oldest name first."""
    found: list[tuple[str, Path]] = []
    for user_dir in user_folders(folder):
        try:
            entries = sorted(user_dir.iterdir())
        except OSError:
            continue
        found.extend((user_dir.name, p) for p in entries if is_candidate(p) and p.is_file())
    return found


def _options_of(sidecar: Path) -> dict[str, Any] | None:
    data = _read_json(sidecar)
    return data if isinstance(data, dict) else None


def _plain_name(name: Any) -> str | None:
    if not isinstance(name, str) or not name or name != Path(name).name or name.startswith(".") or name == CLAIM:
        return None
    return name


def claim(path: Path) -> Path:
    """Move a waiting file (and its sidecar) into processing/<claim>/ and return that folder.

    The claim folder first gets .claim.json (the file's name and who dropped it), then the
    sidecar, then the file: a process killed between two steps leaves something `recover` can
    put right (a sidecar alone goes back; a folder without the file is removed)."""
    user_dir = path.parent
    sidecar = path.with_name(path.name + SIDECAR)
    options = _options_of(sidecar) if sidecar.exists() else None
    request = str((options or {}).get("request") or "")
    claim_id = request if request and all(c.isalnum() or c == "-" for c in request) and len(request) <= 64 else new_id()
    name = _plain_name((options or {}).get("name")) or path.name
    target = user_dir / PROCESSING / claim_id
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        target.mkdir()
    except FileExistsError:
        target = user_dir / PROCESSING / new_id()
        target.mkdir()
    _write_json(target / CLAIM, {"name": name, "dropped_as": path.name, "user": user_dir.name, "claimed_at": _now()})
    if sidecar.exists():
        os.rename(sidecar, target / sidecar.name)
    os.rename(path, target / name)
    return target


def _claim_meta(claim_dir: Path) -> dict[str, Any] | None:
    meta = _read_json(claim_dir / CLAIM)
    return meta if isinstance(meta, dict) and _plain_name(meta.get("name")) else None


def _import_options(claim_dir: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """The sidecar's options (strict, dry_run, on_conflict, hidden), each checked, else the defaults."""
    given = _options_of(claim_dir / (str(meta.get("dropped_as")) + SIDECAR)) or {}
    options = dict(DEFAULT_OPTIONS)
    for key in ("strict", "dry_run", "hidden"):
        if isinstance(given.get(key), bool):
            options[key] = given[key]
    if given.get("on_conflict") in ("keep", "take"):
        options["on_conflict"] = given["on_conflict"]
    return options


# ------------------------------------------------------------------ importing a claimed file
def _last_batch(archive: Archive) -> int:
    cur = archive.cursor()
    try:
        return int(db.scalar(cur, "SELECT coalesce(max(batch_id), 0) FROM import_batches") or 0)
    finally:
        cur.close()


def _note_claim(user: str, claim_id: str, name: str, sha: str, before: int) -> db.BeforeCommit:
    """The before-commit hook of a claimed file's import: the audit entry that says, atomically with
    the import, that this claim (this content) was imported and into which batches."""
    from crm.auth import audit

    noted: list[bool] = []

    def hook(cur: Any, changes: frozenset[str]) -> None:
        if noted or db.RECORDS not in changes:
            return
        batches = [int(i) for (i,) in cur.execute(
            "SELECT batch_id FROM import_batches WHERE file = ? AND user_name = ? AND batch_id > ? ORDER BY batch_id",
            [name, user, before]).fetchall()]
        audit.record(cur, user, "import", "inbox", claim_id, {"file": name, "sha256": sha, "batches": batches})
        noted.append(True)

    return hook


def committed_batches(archive: Archive, claim_id: str, sha: str) -> list[int] | None:
    """The batches of this claim's import when it committed (its audit entry, same content), else None."""
    cur = archive.cursor()
    try:
        rows = cur.execute("SELECT detail FROM audit_log WHERE action = 'import' AND entity = 'inbox' AND entity_id = ?",
                           [claim_id]).fetchall()
    finally:
        cur.close()
    for (detail,) in rows:
        try:
            data = json.loads(detail or "")
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("sha256") == sha:
            return [int(b) for b in data.get("batches") or []]
    return None


def _crash_line(exc: BaseException) -> str:
    """As `python -m crm` reports an unexpected failure: one Chinese line, no traceback, no
    exception's name or English (crm.errors.failure_reason logs the original with its traceback)."""
    from crm.errors import failure_reason

    return f"出错了：{failure_reason(exc)}"


def import_claim(archive: Archive, claim_dir: Path) -> dict[str, Any]:
    """Import a claimed file as its folder's user and return its report (written nowhere yet); the
    problems workbook, when there is one, is written into the claim folder."""
    from crm.errors import UserError
    from crm.imports import run
    from crm.imports.rejects import has_rejections, rejected_rows_workbook

    meta = _claim_meta(claim_dir)
    if meta is None:
        raise ValueError(f"{claim_dir} 不是收件箱的领取文件夹")
    name, user = str(meta["name"]), str(meta["user"])
    options = _import_options(claim_dir, meta)
    file = claim_dir / name
    sha = sha256_of(file)
    started = _now()
    outcome = run.FileOutcome()
    errors: list[str] = []
    kind: str | None = None
    try:
        with db.before_commit(_note_claim(user, claim_dir.name, name, sha, _last_batch(archive))):
            outcome = run.import_file(archive, file, user, **options)
        if outcome.failure:
            errors, kind = [outcome.failure], "unreadable"
    except UserError as exc:
        errors, kind = [exc.message], "refused"
    except Exception as exc:  # noqa: BLE001 - whatever happens, the file gets a report in failed/
        log.error("收件箱：导入 %s 时出错", file)  # the traceback: logged by _crash_line
        errors, kind = [_crash_line(exc)], "crashed"
    out = outcome.as_json()
    code = run.exit_code(out, errors)
    problems = None
    if outcome.workbook is not None and has_rejections(outcome.report):
        problems = f"{Path(name).stem}{PROBLEMS_SUFFIX}"
        try:
            rejected_rows_workbook(outcome.workbook, outcome.report, claim_dir / problems)
        except Exception:  # noqa: BLE001 - the import stands; the history still hands the workbook out
            log.exception("收件箱：无法写出 %s 的问题行工作簿", file)
            problems = None
    reason = out.get("aborted") or (errors[0] if errors else None)
    out["inbox"] = {"file": name, "user": user, "claim": claim_dir.name, "sha256": sha, "options": options,
                    "exit_code": code, "errors": errors, "error_kind": kind, "reason": reason,
                    "problems_workbook": problems, "claimed_at": meta.get("claimed_at"), "started_at": started,
                    "finished_at": _now()}
    return out


def report_path(claim_dir: Path, name: str) -> Path:
    return claim_dir / f"{name}.json"


def settle(claim_dir: Path) -> Path:
    """Move a claim folder whose report is written to done/ (exit code 0) or failed/; its new place."""
    meta = _claim_meta(claim_dir) or {}
    report = _read_json(report_path(claim_dir, str(meta.get("name")))) or {}
    code = (report.get("inbox") or {}).get("exit_code", 1)
    dest_root = claim_dir.parent.parent / (DONE if code == 0 else FAILED)
    dest_root.mkdir(parents=True, exist_ok=True)
    dest = dest_root / claim_dir.name
    if dest.exists():
        dest = dest_root / f"{claim_dir.name}-{secrets.token_hex(2)}"
    os.rename(claim_dir, dest)
    return dest


def process_claim(archive: Archive, claim_dir: Path) -> Path:
    """Import a claimed file, write its report beside it and move it to done/ or failed/."""
    meta = _claim_meta(claim_dir)
    if meta is None:
        raise ValueError(f"{claim_dir} 不是收件箱的领取文件夹")
    report = import_claim(archive, claim_dir)
    _write_json(report_path(claim_dir, str(meta["name"])), report)
    dest = settle(claim_dir)
    info = report["inbox"]
    if info["exit_code"] == 0:
        log.info("收件箱：已导入 %s（%s），批次 %s → %s", info["file"], info["user"],
                 [b.get("batch_id") for b in report.get("batches", [])], dest)
    else:
        log.warning("收件箱：未导入 %s（%s）：%s → %s", info["file"], info["user"], info["reason"], dest)
    return dest


def _recovered_report(archive: Archive, claim_dir: Path, meta: dict[str, Any], batches: list[int], sha: str) -> dict[str, Any]:
    """The report of an import that committed before its process was killed: its batches as the
    import history keeps them, and the problems workbook the archive kept with them."""
    cols = ["batch_id", "file", "sheet", "template", "rows_read", "created", "updated", "rejected"]
    cur = archive.cursor()
    try:
        rows = cur.execute(f"SELECT {', '.join(cols)} FROM import_batches WHERE batch_id IN (SELECT unnest(?)) "
                           "ORDER BY batch_id", [batches]).fetchall() if batches else []
        kept = db.fetch_one(cur, "SELECT workbook FROM batch_problems WHERE batch_id IN (SELECT unnest(?)) "
                                 "ORDER BY batch_id LIMIT 1", [batches]) if batches else None
    finally:
        cur.close()
    name = str(meta["name"])
    problems = None
    if kept is not None:
        problems = f"{Path(name).stem}{PROBLEMS_SUFFIX}"
        (claim_dir / problems).write_bytes(bytes(kept[0]))
    message = (f"网页在导入 {name} 之后、写出报告之前停止了；重启后查明这次导入已经完成"
               f"（批次 {'、'.join(map(str, batches)) or '无'}），没有再次导入")
    return {"batches": [dict(zip(cols, r)) for r in rows], "skipped_sheets": [],
            "inbox": {"file": name, "user": meta.get("user"), "claim": claim_dir.name, "sha256": sha,
                      "options": _import_options(claim_dir, meta), "exit_code": 0, "errors": [], "error_kind": None,
                      "reason": None, "problems_workbook": problems, "claimed_at": meta.get("claimed_at"),
                      "finished_at": _now(), "recovered": True, "message": message}}


def recover(archive: Archive, folder: Path) -> list[Path]:
    """Settle what a killed process left in processing/ (run once, by the process that has just
    taken the inbox's lock, before anything new is claimed). Returns where each claim went."""
    settled: list[Path] = []
    for user_dir in user_folders(folder):
        processing = user_dir / PROCESSING
        try:
            claims = sorted(p for p in processing.iterdir() if p.is_dir())
        except OSError:
            continue
        for claim_dir in claims:
            try:
                dest = _recover_one(archive, user_dir, claim_dir)
            except Exception:  # noqa: BLE001 - one bad claim must not keep the others (or the app) down
                log.exception("收件箱：无法恢复 %s", claim_dir)
                continue
            if dest is not None:
                settled.append(dest)
    _recover_requests(folder)
    return settled


def _recover_one(archive: Archive, user_dir: Path, claim_dir: Path) -> Path | None:
    meta = _claim_meta(claim_dir)
    if meta is None:  # killed while the claim folder was made: nothing but a temporary in it
        leftovers = list(claim_dir.iterdir())
        if all(p.name.startswith(".") for p in leftovers):
            for p in leftovers:
                p.unlink()
            claim_dir.rmdir()
        else:
            log.warning("收件箱：%s 中的文件无法识别，已保留", claim_dir)
        return None
    name = str(meta["name"])
    if report_path(claim_dir, name).exists():  # killed after the report, before the move
        return settle(claim_dir)
    file = claim_dir / name
    if not file.exists():  # killed before the file moved in: its sidecar goes back beside it
        for sidecar in claim_dir.glob("*" + SIDECAR):
            os.rename(sidecar, user_dir / sidecar.name)
        for p in claim_dir.iterdir():
            p.unlink()
        claim_dir.rmdir()
        return None
    sha = sha256_of(file)
    batches = committed_batches(archive, claim_dir.name, sha)
    if batches is None:  # killed before the import committed: import it now
        log.info("收件箱：重启后导入上次未完成的 %s", file)
        return process_claim(archive, claim_dir)
    log.info("收件箱：%s 在上次停止前已导入（批次 %s），不再导入", file, batches)
    _write_json(report_path(claim_dir, name), _recovered_report(archive, claim_dir, meta, batches, sha))
    return settle(claim_dir)


# ------------------------------------------------------------------ requests (stats, batches, backup)
_capture = threading.local()


class _ThreadStream:
    """sys.stdout / sys.stderr while a request runs: what the requesting thread prints goes to its
    buffer, every other thread's output where it always went (a global redirect would swallow, and
    hand out, whatever the dashboard's other threads print meanwhile)."""

    def __init__(self, real: Any, which: str) -> None:
        self._real, self._which = real, which

    def _target(self) -> Any:
        return getattr(_capture, self._which, None) or self._real

    def write(self, text: str) -> int:
        return self._target().write(text)

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


_streams_lock = threading.Lock()


@contextlib.contextmanager
def _captured() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    with _streams_lock:
        installed = []
        for which in ("stdout", "stderr"):
            if not isinstance(getattr(sys, which), _ThreadStream):
                real = getattr(sys, which)
                setattr(sys, which, _ThreadStream(real, which))
                installed.append((which, real))
    _capture.stdout, _capture.stderr = out, err
    try:
        yield out, err
    finally:
        _capture.stdout = _capture.stderr = None
        with _streams_lock:
            for which, real in installed:
                setattr(sys, which, real)


def run_request(archive: Archive, request: dict[str, Any]) -> dict[str, Any]:
    """Run a command the command line asked for, in this process on this archive: the same
    `python -m crm` code, so its output and exit code are what a direct run would give."""
    from crm import cli

    command, user = request.get("command"), request.get("user")
    flags = request.get("flags") or {}
    if command not in COMMANDS or not isinstance(user, str) or not user or "\0" in user or not isinstance(flags, dict):
        return {"exit_code": 2, "stdout": "", "stderr": f"收件箱请求无效：只能代为执行 {' / '.join(COMMANDS)}\n"}
    argv = [str(command), *(f"--{f}" for f in COMMANDS[command] if flags.get(f) is True),
            "--db", str(archive.path), "--user", user]
    with _captured() as (out, err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 2
    return {"exit_code": code, "stdout": out.getvalue(), "stderr": err.getvalue()}


def answer_requests(archive: Archive, folder: Path) -> int:
    """Answer every waiting request (claimed by renaming <id>.json to <id>.working); how many."""
    requests = folder / REQUESTS
    try:
        waiting = sorted(p for p in requests.iterdir() if p.name.endswith(".json") and not p.name.endswith(".answer.json")
                         and not p.name.startswith("."))
    except FileNotFoundError:
        return 0
    answered = 0
    for path in waiting:
        rid = path.name[: -len(".json")]
        working = requests / f"{rid}.working"
        try:
            os.rename(path, working)
        except FileNotFoundError:
            continue
        request = _read_json(working)
        try:
            answer = run_request(archive, request) if isinstance(request, dict) else \
                {"exit_code": 2, "stdout": "", "stderr": "收件箱请求无法读取（不是 JSON）\n"}
        except Exception as exc:  # noqa: BLE001 - the command line gets a line, the app goes on
            log.error("收件箱：执行请求 %s 时出错", rid)  # the traceback: logged by _crash_line
            answer = {"exit_code": 1, "stdout": "", "stderr": _crash_line(exc) + "\n"}
        _write_json(requests / f"{rid}.answer.json", answer)
        working.unlink(missing_ok=True)
        answered += 1
    _forget_old_answers(requests)
    return answered


def _forget_old_answers(requests: Path, older_than_s: float = 86400) -> None:
    """Answers nobody fetched (the command line was interrupted) go after a day. Ages are measured
    on the file system's own clock (a file touched now), not the process clock, which a test or a
    VM may set elsewhere (faketime): a fresh answer must never look a year old."""
    stamp = requests / ".now"
    try:
        stamp.touch()
        now = stamp.stat().st_mtime
    except OSError:
        return
    cutoff = now - older_than_s
    for p in requests.glob("*.answer.json"):
        with contextlib.suppress(OSError):
            if p.stat().st_mtime < cutoff:
                p.unlink()


def _recover_requests(folder: Path) -> None:
    """A request whose process was killed while running it: answered as such, not run again
    (a backup may or may not have been made)."""
    requests = folder / REQUESTS
    for working in requests.glob("*.working") if requests.is_dir() else []:
        rid = working.name[: -len(".working")]
        _write_json(requests / f"{rid}.answer.json", {
            "exit_code": 1, "stdout": "",
            "stderr": "客户档案网页在执行这条命令时停止了，结果未知：请查看（如 backup --list）后再运行一次\n"})
        working.unlink(missing_ok=True)


# ------------------------------------------------------------------ the watcher thread
class Watcher:
    """Polls one inbox for one archive in a daemon thread: requests first, then every file that
    has stayed the same since the previous poll, one at a time (imports never race each other).
    Nothing it meets stops it or the process: a failure is logged, a file's goes to failed/."""

    def __init__(self, archive: Archive, folder: Path, poll_s: float) -> None:
        self.archive, self.folder, self.poll_s = archive, Path(folder), poll_s
        self._seen: dict[Path, tuple[int, int]] = {}
        self._lock_fd: int | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._told_busy = False
        self._warned: set[Path] = set()

    @property
    def owner(self) -> bool:
        """Whether this watcher holds the inbox (another process's watcher may, for a while)."""
        return self._lock_fd is not None

    def take(self) -> bool:
        """Hold the inbox if nobody does; the first time, name this process and recover what a
        killed one left. False while another live process holds it."""
        if self._lock_fd is not None:
            return True
        fd = _try_lock(self.folder)
        if fd is None:
            if not self._told_busy:
                other = watcher_of(self.folder)
                log.warning("收件箱 %s 已由进程 %s 处理，本进程暂不处理", self.folder, other.pid if other else "?")
                self._told_busy = True
            return False
        self._lock_fd = fd
        _write_json(self.folder / INFO, {"pid": os.getpid(), "db": str(self.archive.path.resolve()),
                                         "poll_s": self.poll_s, "started_at": _now()})
        log.info("收件箱 %s：开始处理（进程号 %s，每 %s 秒检查一次）", self.folder, os.getpid(), self.poll_s)
        recover(self.archive, self.folder)
        return True

    def poll_once(self) -> list[Path]:
        """One round: answer requests, then import the files that were already there, unchanged,
        at the previous round. Returns where the imported files went."""
        if not self.take():
            return []
        answer_requests(self.archive, self.folder)
        settled: list[Path] = []
        now_seen: dict[Path, tuple[int, int]] = {}
        for _user, path in waiting_files(self.folder):
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            signature = (st.st_size, st.st_mtime_ns)
            if self._seen.get(path) != signature:
                now_seen[path] = signature
                continue
            try:
                claim_dir = claim(path)
            except FileNotFoundError:  # gone meanwhile (taken back by whoever dropped it)
                continue
            try:
                settled.append(process_claim(self.archive, claim_dir))
            except Exception:  # noqa: BLE001 - stays in processing/, settled by the next start-up
                log.exception("收件箱：处理 %s 时出错", claim_dir)
        self._seen = now_seen
        self._warn_loose_files()
        return settled

    def _warn_loose_files(self) -> None:
        """A file in the inbox itself has no user to be imported as: said once in the log, left there."""
        for p in self.folder.iterdir() if self.folder.is_dir() else []:
            if p.is_file() and is_candidate(p) and p not in self._warned:
                log.warning("收件箱：%s 不在任何用户的子文件夹中，不会导入（请放到 %s/用户名/ 下）", p, self.folder)
                self._warned.add(p)

    def _run(self) -> None:
        while not self._stop.is_set() and not self.archive.closed:
            try:
                self.poll_once()
            except Exception:  # noqa: BLE001 - the app must never go down because of the inbox
                log.exception("收件箱 %s：本轮检查出错", self.folder)
            self._stop.wait(self.poll_s)
        self.release()

    def start(self) -> "Watcher":
        self._thread = threading.Thread(target=self._run, name=f"crm-inbox-{self.folder.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        """Stop after the current round (an import in progress finishes first)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.release()

    def release(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            _unlock(fd)


_watchers: dict[str, Watcher] = {}
_watchers_lock = threading.Lock()


def _ensure_log_handler() -> None:
    """The watcher's lines (crm.inbox, from INFO) and every `crm` logger's warnings (the originals
    crm.errors.failure_reason logs) on the process's stderr (the dashboard's log: journald under
    systemd), unless the process has configured logging itself. The handler sits on the `crm`
    logger and holds the real stderr: a failure logged while a request's output is captured
    (run_request) goes to the log, not into the answer the command line prints."""
    parent = logging.getLogger("crm")
    if parent.handlers or log.handlers or logging.getLogger().handlers:
        return
    stream = sys.stderr._real if isinstance(sys.stderr, _ThreadStream) else sys.stderr
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    parent.addHandler(handler)
    log.setLevel(logging.INFO)


def start_watcher(archive: Archive, folder: Path | None = None, poll_s: float | None = None) -> Watcher | None:
    """The process's watcher of this archive's inbox, started once (a second call returns it);
    None when CRM_INBOX_WATCH=0 or it cannot start — never an exception, the app serves either way."""
    try:
        if not config.inbox_watch():
            return None
        folder = Path(folder) if folder is not None else folder_for(archive.path)
        key = str(folder.absolute())
        with _watchers_lock:
            running = _watchers.get(key)
            if running is not None and running._thread is not None and running._thread.is_alive():
                return running
            _ensure_log_handler()
            watcher = Watcher(archive, folder, poll_s if poll_s is not None else config.inbox_poll_seconds())
            _watchers[key] = watcher.start()
            return watcher
    except Exception:  # noqa: BLE001 - a mistyped CRM_INBOX_POLL_S, an unwritable folder: logged, app serves
        log.exception("收件箱：无法启动")
        return None


# ------------------------------------------------------------------ the command line's side
def busy_line(db_path: Path, exc: ArchiveBusyError, command: str) -> str:
    """The one line the command line prints when the archive is held: when the holder is the
    dashboard watching this archive's inbox, say so and how to hand the work over."""
    info = watcher_of(folder_for(db_path))
    if info is None or not _same_file(info.db, db_path) or (exc.pid is not None and info.pid != exc.pid):
        return str(exc)
    pid = info.pid or exc.pid
    how = ("请加 --via-inbox 交给网页办理" if command in ("import", *COMMANDS)
           else "请在网页上操作，或先停止网页再运行这条命令")
    return f"档案文件 {db_path} 正被运行中的客户档案网页（进程号 {pid}）使用，命令行不能同时打开它：{how}"


def _waiting_for(folder: Path, db_path: Path) -> WatcherInfo | None:
    """The watcher to hand work to, None when there is none (the command then runs directly)."""
    info = watcher_of(folder)
    if info is None:
        return None
    if not _same_file(info.db, db_path):
        raise InboxError(f"收件箱 {folder} 由另一个档案（{info.db}）的网页（进程号 {info.pid}）处理，不是 {db_path}："
                         "每个档案要有自己的收件箱（CRM_INBOX）")
    return info


def _wait_for(paths: list[Path], folder: Path, deadline: float, what: str, where: Path) -> Path:
    """The first of `paths` to appear; an error when the watcher stops or the time is up."""
    checked = time.monotonic()
    while True:
        for p in paths:
            if p.exists():
                return p
        now = time.monotonic()
        if now >= deadline:
            raise InboxError(f"等待网页处理{what}超时：它仍在收件箱 {where}，处理完后结果会在那里（done/ 或 failed/）")
        if now - checked >= 2:
            checked = now
            if watcher_of(folder) is None:
                raise InboxError(f"客户档案网页已停止，{what}还在收件箱 {where}：网页重新启动后会处理它")
        time.sleep(0.1)


def _user_dir(folder: Path, user: str) -> Path:
    if not _valid_user_folder(user):
        raise InboxError(f"用户名「{user}」不能用作收件箱的子文件夹名")
    return folder / user


def drop(folder: Path, user: str, file: Path, options: dict[str, Any]) -> tuple[str, Path]:
    """Put a copy of `file` in the user's folder for the watcher (sidecar first, then the file under
    a hidden .part name renamed into place); (request id, the user's folder)."""
    user_dir = _user_dir(folder, user)
    user_dir.mkdir(parents=True, exist_ok=True)
    rid = new_id()
    dropped = f"{rid}--{file.name}"
    _write_json(user_dir / (dropped + SIDECAR), {"request": rid, "name": file.name, **options})
    part = user_dir / f".{dropped}{PART}"
    import shutil

    shutil.copyfile(file, part)
    os.rename(part, user_dir / dropped)
    return rid, user_dir


def import_via_inbox(db_path: Path, args: argparse.Namespace,
                     emit: Callable[..., int] | None = None) -> int | None:
    """`python -m crm import FILE… --via-inbox`: each file in turn goes to the running dashboard's
    inbox as `--user`, and its report, read back, is printed as a direct run prints it (same text
    or JSON, same exit code). None when no dashboard watches this archive's inbox: the command
    then opens the archive itself, as without the flag."""
    from crm.imports import run

    folder = folder_for(db_path)
    if _waiting_for(folder, db_path) is None:
        return None
    options = {"strict": bool(args.strict), "dry_run": bool(args.dry_run), "on_conflict": args.on_conflict,
               "hidden": bool(args.hidden)}
    deadline = time.monotonic() + float(getattr(args, "wait", None) or DEFAULT_WAIT_S)
    outputs: list[dict[str, Any]] = []
    failures: list[str] = []
    notes: list[str] = []
    for file in args.files:
        file = Path(file)
        # what reading the file would say (crm.imports.reader.read_everything), before anything is copied
        if not file.exists():
            failures.append(f"文件「{file.name}」不存在")
            continue
        if file.is_dir():
            failures.append(f"「{file.name}」是一个文件夹，不是表格文件")
            continue
        rid, user_dir = drop(folder, args.user, file, options)
        found = _wait_for([user_dir / state / rid / f"{file.name}.json" for state in (DONE, FAILED)],
                          folder, deadline, f"文件 {file.name} ", user_dir)
        report = _read_json(found)
        if not isinstance(report, dict):
            raise InboxError(f"收件箱的报告 {found} 无法读取")
        info = report.pop("inbox", {}) or {}
        if info.get("error_kind") in ("refused", "crashed"):  # as a direct run: the whole command ends here
            raise InboxError(info["errors"][0])
        outputs.append(report)
        failures.extend(info.get("errors") or [])
        if info.get("message"):
            notes.append(info["message"])
    for note in notes:
        print(f"提示 {note}", file=sys.stderr)
    return (emit or run.emit)(run.merge(outputs), failures, as_json=args.json, on_conflict=args.on_conflict,
                              dry_run=args.dry_run)


def request_via_inbox(db_path: Path, args: argparse.Namespace) -> int | None:
    """`stats` / `batches` / `backup` with --via-inbox: run by the dashboard, printed here as if run
    here. None when no dashboard watches this archive's inbox (the command runs directly)."""
    folder = folder_for(db_path)
    if _waiting_for(folder, db_path) is None:
        return None
    requests = folder / REQUESTS
    requests.mkdir(parents=True, exist_ok=True)
    rid = new_id()
    flags = {f: bool(getattr(args, f, False)) for f in COMMANDS[args.command]}
    _write_json(requests / f"{rid}.json", {"command": args.command, "flags": flags, "user": args.user})
    deadline = time.monotonic() + float(getattr(args, "wait", None) or DEFAULT_WAIT_S)
    found = _wait_for([requests / f"{rid}.answer.json"], folder, deadline, f"命令 {args.command} ", requests)
    answer = _read_json(found) or {}
    found.unlink(missing_ok=True)
    sys.stdout.write(str(answer.get("stdout") or ""))
    sys.stderr.write(str(answer.get("stderr") or ""))
    return int(answer.get("exit_code", 1))


def via_inbox(db_path: Path, args: argparse.Namespace) -> int | None:
    """The command handed to the dashboard (import, stats, batches, backup), or None to run it here."""
    if args.command == "import":
        return import_via_inbox(db_path, args)
    if args.command in COMMANDS:
        return request_via_inbox(db_path, args)
    return None
