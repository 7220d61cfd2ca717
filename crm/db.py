"""The archive's DuckDB connection.

DuckDB allows one read-write connection per file and process, so the process keeps exactly one
per database path and hands out cursors: each cursor is its own transaction context, which is
what lets two Streamlit sessions write at once without seeing each other's half-done work.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import duckdb

from crm import config

DEFAULT_DB_PATH = Path(__file__).resolve().parent.parent / "data" / "crm.duckdb"


def resolve_db_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """`--db`, else the CRM_DB environment variable, else data/crm.duckdb."""
    if explicit:
        return Path(explicit)
    env = config.db_path()
    if env:
        return Path(env)
    return DEFAULT_DB_PATH


class ArchiveBusyError(RuntimeError):
    """Another process holds the database file (DuckDB allows one writer process).

    `pid` is the holder's process id when DuckDB named it, so the command line can tell a running
    dashboard (which may take the work through its hot folder, crm.inbox) from anything else."""

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


def holder_pid(duckdb_error: str) -> int | None:
    """The process id in DuckDB's lock error ("Conflicting lock is held in … (PID 1234)"), if any."""
    import re

    found = re.search(r"PID (\d+)", duckdb_error)
    return int(found.group(1)) if found else None


def process_kind(pid: int) -> str:
    """What a process is, in the user's words, read from /proc/PID/cmdline (Linux): 客户档案网页 for a
    `streamlit run`, 另一条客户档案命令 for `python -m crm`, else 另一个程序 — never the program's own
    (English) name, which a one-line Chinese message would not explain anyway."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "另一个程序"
    words = [a.decode("utf-8", "replace") for a in argv if a]
    if any(w.endswith("streamlit") or w == "streamlit" for w in words) and "run" in words:
        return "客户档案网页"
    if any(words[i] == "-m" and words[i + 1] == "crm" for i in range(len(words) - 1)):
        return "另一条客户档案命令"
    return "另一个程序"


def busy_message(path: Path, duckdb_error: str) -> str:
    """One Chinese line for a file DuckDB could not open: who holds the lock (the process id DuckDB
    names, and what kind of process it is) when that is the reason, never DuckDB's own English words."""
    if "lock" in duckdb_error.lower():
        pid = holder_pid(duckdb_error)
        holder = f"{process_kind(pid)}（进程号 {pid}）" if pid else "另一个程序"
        return (f"档案文件 {path} 正被{holder}使用，无法打开：同一时间只能有一个程序写入档案，"
                "请先停止正在运行的客户档案网页或另一条命令再试")
    return f"档案文件 {path} 无法打开：文件已损坏、不是客户档案数据库，或没有读写权限"


# What a write changed, for listeners after its commit: "records" (rows of the archive's dated
# records or customers arrived or left: an import, an undo) or "edit" (one customer's fields or
# contacts changed by a person).
RECORDS, EDIT = "records", "edit"
CommitListener = Callable[["Archive", frozenset[str]], None]
_listeners: list[CommitListener] = []
_pending: dict[int, set[str]] = {}  # id(cursor) of an open transaction → what it marked
# id(cursor) of an open transaction (a dry run's too) → its archive, and what runs when it ends
_open_transactions: dict[int, "Archive"] = {}
_end_hooks: dict[int, list[Callable[[bool], None]]] = {}


def on_commit(listener: CommitListener) -> None:
    """Call `listener(archive, changes)` after every committed transaction that marked changes.

    Listeners run in the writer's thread after COMMIT (never for a rollback or a dry run); one
    that fails does not undo the write or stop the others.
    """
    if listener not in _listeners:
        _listeners.append(listener)


def off_commit(listener: CommitListener) -> None:
    """Stop calling `listener` (registered with on_commit)."""
    if listener in _listeners:
        _listeners.remove(listener)


def mark_changed(cur: duckdb.DuckDBPyConnection, change: str) -> None:
    """Note, inside a transaction, what it changes (RECORDS or EDIT); a cursor outside
    `Archive.transaction()` (a rolled-back dry run) marks nothing."""
    pending = _pending.get(id(cur))
    if pending is not None:
        pending.add(change)


def at_end(cur: duckdb.DuckDBPyConnection, hook: Callable[[bool], None]) -> bool:
    """Call `hook(committed)` right after the transaction of `cur` ends (COMMIT, ROLLBACK or a dry
    run's rollback), before any commit listener; hooks run last-registered first. False (nothing
    registered) when `cur` is not inside `Archive.transaction()` or `rolled_back()`.

    The audit chain holds its lock until the entries it wrote are committed or gone, so that the
    next writer chains onto a row it can see (crm.auth.audit)."""
    hooks = _end_hooks.get(id(cur))
    if hooks is None:
        return False
    hooks.append(hook)
    return True


_thread = threading.local()
BeforeCommit = Callable[[duckdb.DuckDBPyConnection, frozenset[str]], None]


@contextmanager
def before_commit(hook: BeforeCommit) -> Iterator[None]:
    """Within the block, every transaction this thread commits runs `hook(cur, changes)` just before
    its COMMIT, inside it: what the hook writes commits with the transaction or not at all, and a
    hook that raises rolls it back.

    For a caller that must note something atomically with work another module's transaction does:
    the hot folder (crm.inbox) records which file an import came from in the import's own
    transaction, so a restart can tell a committed import from one that never happened."""
    hooks = _thread.__dict__.setdefault("before_commit", [])
    hooks.append(hook)
    try:
        yield
    finally:
        hooks.remove(hook)


def archive_of(cur: duckdb.DuckDBPyConnection) -> "Archive | None":
    """The archive whose transaction `cur` is (None for a cursor outside one)."""
    return _open_transactions.get(id(cur))


def _begin(archive: "Archive", cur: duckdb.DuckDBPyConnection) -> list[Callable[[bool], None]]:
    _open_transactions[id(cur)] = archive
    hooks = _end_hooks[id(cur)] = []
    return hooks


def _end(cur: duckdb.DuckDBPyConnection, hooks: list[Callable[[bool], None]], committed: bool) -> None:
    _open_transactions.pop(id(cur), None)
    _end_hooks.pop(id(cur), None)
    for hook in reversed(hooks):
        try:
            hook(committed)
        except Exception:  # noqa: BLE001 - one hook's failure must not skip the others (a held lock's release)
            pass


class WriteGate:
    """The process's write transactions pass one at a time, in the order they arrived; a rewrite of
    whole tables (crm.clustering) passes the same way but ahead of the queue.

    One at a time because DuckDB's optimistic concurrency turns two overlapping writes of the same
    row into a "Conflict on update" for the second: a colleague's contact log and an import both
    keep the activity stamp and the customers' summaries current, so a 2-second import under a team
    that logs contacts would fail nearly always, and retrying it would fail again. Waiting in line
    costs a save at most the length of the write ahead of it. A rewrite additionally must never
    overlap a write: DuckDB does not see a conflict between a DELETE and another transaction's
    UPDATE of the same row (the update is committed onto the deleted version and lost). A thread
    already inside (a nested transaction, or the rewrite's own) is never held back; a waiting
    rewrite holds new writes back so it is not starved, and gives up after `timeout` seconds."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._holder: int | None = None  # the thread inside (a write or a rewrite)
        self._depth = 0  # the holder's nesting
        self._tickets = 0  # writes arrived …
        self._serving = 0  # … and the next one whose turn it is
        self._waiting_alone = 0

    def _enter(self, me: int) -> None:
        self._holder = me
        self._depth += 1

    def _leave(self) -> None:
        with self._cond:
            self._depth -= 1
            if self._depth == 0:
                self._holder = None
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Around one write transaction: waits for the writes that arrived before it."""
        me = threading.get_ident()
        with self._cond:
            if self._holder != me:
                ticket = self._tickets
                self._tickets += 1
                while self._holder is not None or self._waiting_alone or self._serving != ticket:
                    self._cond.wait()
                self._serving += 1
                self._cond.notify_all()  # the next in line may now wait for this one only
            self._enter(me)
        try:
            yield
        finally:
            self._leave()

    @property
    def queued(self) -> int:
        """How many writes are waiting for their turn."""
        return self._tickets - self._serving

    @property
    def waiting(self) -> int:
        """How many rewrites are waiting to pass alone (new writes wait while one does)."""
        return self._waiting_alone

    @contextmanager
    def alone(self, timeout: float = 30.0) -> Iterator[bool]:
        """Yields True once no other write is under way (and none starts until the block ends),
        False when that did not happen within `timeout` seconds (the caller does nothing then)."""
        me = threading.get_ident()
        with self._cond:
            self._waiting_alone += 1
            try:
                got = self._cond.wait_for(lambda: self._holder in (None, me), timeout)
            finally:
                self._waiting_alone -= 1
            if got:
                self._enter(me)
            self._cond.notify_all()
        try:
            yield got
        finally:
            if got:
                self._leave()


class Archive:
    """One open archive file. Use `cursor()` for a read, `transaction()` for any write."""

    def __init__(self, path: Path, connection: duckdb.DuckDBPyConnection) -> None:
        self.path = path
        self._con = connection
        self.closed = False  # set by close(): a background thread that outlives its archive stops
        self.gate = WriteGate()
        self.pages_running = 0  # script runs of the dashboard in progress (page_running)
        self._pages_lock = threading.Lock()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        return self._con.cursor()

    @contextmanager
    def page_running(self) -> Iterator[None]:
        """Around one script run of the dashboard: the memory housekeeping (release_memory,
        keep_cache_within) waits for a moment when no other page is running."""
        with self._pages_lock:
            self.pages_running += 1
        _thread.in_page = getattr(_thread, "in_page", 0) + 1  # a depth, matched against the counter by _trim
        try:
            yield
        finally:
            _thread.in_page -= 1
            with self._pages_lock:
                self.pages_running -= 1

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor inside BEGIN … COMMIT; any exception rolls everything back."""
        with self.gate.writing():
            with self._transaction() as cur:
                yield cur

    @contextmanager
    def cache_transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction beside the queue of writes, for derived tables only no person's write
        touches (the 客户分类 runs, written by one computation at a time under their own lock): a
        run takes seconds at a million customers, and a colleague's save must not wait for it."""
        with self._transaction() as cur:
            yield cur

    @contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._con.cursor()
        cur.execute("BEGIN TRANSACTION")
        key = id(cur)
        changes = _pending[key] = set()
        hooks = _begin(self, cur)
        committed = False
        try:
            try:
                yield cur
                for hook in list(getattr(_thread, "before_commit", ())):
                    hook(cur, frozenset(changes))
            except BaseException:
                cur.execute("ROLLBACK")
                cur.close()
                raise
            cur.execute("COMMIT")
            committed = True
            cur.close()
        finally:
            _pending.pop(key, None)
            _end(cur, hooks, committed)
        if changes:
            for listener in list(_listeners):
                try:
                    listener(self, frozenset(changes))
                except Exception:  # noqa: BLE001 - a listener's failure must not turn a committed write into an error
                    pass

    @contextmanager
    def rolled_back(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A transaction that is always rolled back: a dry run sees its own writes, nobody else does."""
        cur = self._con.cursor()
        cur.execute("BEGIN TRANSACTION")
        hooks = _begin(self, cur)
        try:
            yield cur
        finally:
            try:
                cur.execute("ROLLBACK")
                cur.close()
            finally:
                _end(cur, hooks, False)

    def close(self) -> None:
        with _lock:
            _open.pop(str(self.path.resolve()), None)
        self.closed = True
        self._con.close()


# ------------------------------------------------------------------ memory housekeeping
TRIM_MEMORY_TO = "64MB"  # what release_memory leaves DuckDB holding, at most
BUSY_WORKING_MEMORY = 16 * 1024 * 1024  # more working memory than this: another query is running
_WORKING_TAGS = ("HASH_TABLE", "ORDER_BY", "WINDOW", "COLUMN_DATA", "OVERFLOW_STRINGS")
_trim_lock = threading.Lock()


def _trim(archive: "Archive", cur: duckdb.DuckDBPyConnection, down_to: str) -> bool:
    """Lower DuckDB's memory limit to `down_to` for an instant (it evicts cached table blocks, the
    least recently used first; if it cannot free enough it refuses and nothing changes) and set
    the archive's own limit back, both in one call (DuckDB runs them back to back; the low limit
    lasts microseconds, not a Python thread switch).

    It acts on the whole database instance: a query of a colleague's page that needs memory in
    that instant would fail Out of Memory (seen with 20 sessions: the blocks their scans held
    were more than the trim's limit). So it is skipped while another page is running (Archive.
    page_running) or another query holds working memory (hash tables, sorts, windows, results
    being collected). True when it trimmed."""
    if archive.pages_running > getattr(_thread, "in_page", 0):  # pages besides this thread's own
        return False
    working = scalar(cur, "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory() "
                          "WHERE list_contains(?, tag)", [list(_WORKING_TAGS)])
    if int(working or 0) > BUSY_WORKING_MEMORY:  # this query itself holds a couple of MB
        return False
    own = config.db_memory_limit()  # the archive's own, never a trim's
    with _trim_lock:  # two trims at once: the second read the first's low limit and kept it for good
        try:
            cur.execute(f"SET memory_limit = '{down_to}'; SET memory_limit = '{own}'")
        except duckdb.Error:
            cur.execute(f"SET memory_limit = '{own}'")
            return False
    return True


def release_memory(archive: "Archive", down_to: str = TRIM_MEMORY_TO) -> None:
    """Hand back what a pass over whole tables (a 客户分类 run, the growth table's revenue pass)
    pulled into memory.

    DuckDB keeps the table blocks it read cached (up to its memory limit) and its allocator keeps
    freed pages, although the page only reads the run afterwards. The trim evicts the cached
    blocks, and background allocator threads return freed pages to the system; at a million
    customers this keeps the app's resident memory near what it is at ten thousand. It acts on
    the whole database instance, so it never runs while another query holds working memory.
    """
    cur = None
    try:
        cur = archive.cursor()
        cur.execute("SET allocator_background_threads = true")
        _trim(archive, cur, down_to)
    except Exception:  # noqa: BLE001 - memory housekeeping must never fail a page (nor a closed archive)
        pass
    finally:
        if cur is not None:
            cur.close()


def keep_cache_within(archive: "Archive", limit: int | None = None) -> bool:
    """After a page has run: if DuckDB holds more than `limit` bytes (CRM_DB_CACHE_MB, default
    192 MB), evict the least recently read table blocks down to three quarters of it. True when it
    trimmed.

    Why: every profile opened reads the blocks holding that customer's rows, a different few
    megabytes each time, and DuckDB keeps them all until its memory limit (512 MB): after an hour
    of lookups at a million customers the app held twice the memory it holds at ten thousand, for
    blocks nobody reads again. Evicted blocks come back from the system's file cache when needed
    (measured: the search as fast, a profile ≈ 3 ms slower); the memory limit stays the ceiling
    for a query's working memory.
    """
    cur = None
    try:  # a bad CRM_DB_CACHE_MB too: this runs in the entry file's finally, after every page
        limit = config.db_cache_limit() if limit is None else limit
        if limit <= 0:
            return False
        cur = archive.cursor()
        held = int(scalar(cur, "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()") or 0)
        if held <= limit:
            return False
        # down to three quarters, so that the next few page runs do not each trim a little again
        return _trim(archive, cur, f"{limit * 3 // 4 // 1024}KiB")  # KiB: DuckDB reads KB as 1000
    except Exception:  # noqa: BLE001 - memory housekeeping must never fail a page (nor a closed archive)
        return False
    finally:
        if cur is not None:
            cur.close()


_open: dict[str, Archive] = {}
_lock = threading.Lock()


def close_all() -> None:
    """Close every archive this process has open (tests, and a process about to exit)."""
    with _lock:
        archives = list(_open.values())
    for archive in archives:
        archive.close()


def open_archive(path: str | os.PathLike[str] | None = None, *, migrate: bool = True) -> Archive:
    """The process-wide archive for `path` (see resolve_db_path), migrated to the current schema."""
    from crm import schema  # local import: schema imports nothing from here at module level

    db_path = resolve_db_path(path)
    key = str(db_path.resolve()) if db_path.exists() else str(db_path.absolute())
    with _lock:
        archive = _open.get(key)
        if archive is not None:
            return archive
        db_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # A bounded buffer pool: DuckDB spills to disk beyond it instead of taking 80% of RAM,
            # which keeps imports and the app's process small even at a million customers.
            con = duckdb.connect(str(db_path), config={
                "memory_limit": config.db_memory_limit(),
                "threads": config.db_threads(),
            })
        except duckdb.IOException as exc:
            raise ArchiveBusyError(busy_message(db_path, str(exc)), holder_pid(str(exc))) from exc
        archive = Archive(db_path, con)
        if migrate:
            schema.migrate(archive)
        _open[key] = archive
        return archive


def fetch_one(cur: duckdb.DuckDBPyConnection, sql: str, params: list[object] | tuple[object, ...] = ()) -> tuple | None:
    """The first row, with the result read to its end.

    DuckDB 2.0 keeps a result open until a fetch returns no rows, and refuses other work on that
    cursor meanwhile; `fetchone()` on a one-row result leaves it open, this does not.
    """
    rows = cur.execute(sql, list(params)).fetchall()
    return rows[0] if rows else None


def scalar(cur: duckdb.DuckDBPyConnection, sql: str, params: list[object] | tuple[object, ...] = ()) -> object:
    """The single value of a one-row, one-column query (None when there is no row)."""
    row = fetch_one(cur, sql, params)
    return row[0] if row else None
