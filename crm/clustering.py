"""Keeping each customer's records together in the archive file.

An archive built by monthly imports stores its transactions, interactions, follow-ups and
surveys in the order they arrived: one customer's rows are spread over the whole file, and the
客户360 profile (which reads one customer's rows from each table) has to scan every block of
`customer_id` — 145 ms at a million customers, against 24 ms when each table is stored in
customer order, where DuckDB's min/max of each block (its zone maps) skips all but one.

So the archive is rewritten in customer order from time to time, table by table, each in one
transaction (a crash or a conflicting write leaves the table as it was). Rows written since stay in
arrival order at the end of the table — a short tail that is cheap to scan — until the tail is long
enough (`CRM_CLUSTER_MIN_ROWS`) to be worth another rewrite. Imports never wait for it: the
dashboard rewrites in its quiet hours (`CRM_CLUSTER_HOURS`), a scheduled job with
`python -m crm maintain`. Why not an index on customer_id: measured at a million customers it
made a 100,000-row import 1.8× slower and the file 366 MB larger (BENCHMARKS.md).

Only the physical order changes: same rows, same ids, same answers; row counts (which the
segment cache and the activity summary fingerprint) stay as they were.
"""
from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import duckdb

from crm import clock, config
from crm.db import scalar

if TYPE_CHECKING:
    from crm.db import Archive

log = logging.getLogger("crm")

# The child tables read one customer at a time (the profile, the customer's follow-ups), largest first.
CLUSTERED_TABLES: tuple[str, ...] = ("transactions", "interactions", "follow_ups", "surveys")

_STATE_KEY = "clustered_upto:{table}"  # archive_state: the largest row id of the last rewrite


@dataclass(frozen=True)
class ClusterReport:
    """What one maintenance pass did: rows rewritten per table, seconds, and tables left as they
    were because a colleague's write got there first (tried again next time)."""
    rewritten: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    skipped: tuple[str, ...] = ()


def unclustered_rows(cur: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Rows of each clustered table written after its last rewrite (all of them if never)."""
    out: dict[str, int] = {}
    for table in CLUSTERED_TABLES:
        upto = _clustered_upto(cur, table)
        if upto is None:
            out[table] = int(scalar(cur, f"SELECT count(*) FROM {table}"))
        else:
            out[table] = int(scalar(cur, f"SELECT count(*) FROM {table} WHERE id > ?", [upto]))
    return out


def clustering_due(tail: dict[str, int], min_rows: int | None = None) -> bool:
    """Whether a rewrite pays: the rows in arrival order reach `min_rows` in some table (below it
    the tail is a handful of blocks that a profile scans in a millisecond or two)."""
    threshold = config.cluster_min_rows() if min_rows is None else min_rows
    return any(n >= threshold for n in tail.values())


def in_quiet_hours(moment: dt.datetime, hours: tuple[int, int] | None = None) -> bool:
    """Whether `moment` (the archive's local time) falls in the maintenance window [start, end);
    a window such as (22, 5) runs over midnight, (0, 24) is always."""
    start, end = config.cluster_hours() if hours is None else hours
    h = moment.hour
    return start <= h < end if start <= end else (h >= start or h < end)


def cluster_records(archive: "Archive", tables: tuple[str, ...] = CLUSTERED_TABLES,
                    min_rows: int = 0) -> ClusterReport:
    """Rewrite each table whose tail has at least `min_rows` rows in customer order (ties by id).

    A large table goes in slices of about `CRM_CLUSTER_SLICE_ROWS` rows (ranges of customer ids,
    ascending, so the table ends in customer order), each slice one transaction followed by a
    checkpoint: DuckDB then frees the blocks the moved rows left and the next slice reuses them,
    so the file grows by a slice, not by a copy of the table (measured at a million customers:
    +5 % after the first rewrite against +22 % in one piece). Each slice waits until no write is
    under way and holds new ones back while it runs (crm.db.WriteGate: DuckDB would lose an
    update made meanwhile); a table whose wait runs out is left for the next pass."""
    started = time.perf_counter()
    rewritten: dict[str, int] = {}
    skipped: list[str] = []
    for table in tables:
        if table not in CLUSTERED_TABLES:
            raise ValueError(f"{table} is not one of {CLUSTERED_TABLES}")
        cur = archive.cursor()
        try:
            tail = unclustered_rows(cur)[table]
            upto = scalar(cur, f"SELECT max(id) FROM {table}")
            ranges = slice_ranges(cur, table, config.cluster_slice_rows())
        finally:
            cur.close()
        if tail == 0 or tail < min_rows:
            continue
        moved = 0
        for lo, hi in ranges:
            try:
                with archive.gate.alone(config.cluster_wait_seconds()) as alone:
                    if not alone:  # writes kept coming: the next pass tries again
                        log.info("整理 %s：一直有修改在进行，下次再整理", table)
                        break
                    moved += _rewrite_slice(archive, table, lo, hi)
            except duckdb.TransactionException:
                log.info("整理 %s：与同时进行的修改冲突，下次再整理", table)
                break
            _checkpoint(archive)
        else:
            _mark_clustered(archive, table, upto)
            rewritten[table] = moved
            continue
        skipped.append(table)
    return ClusterReport(rewritten, round(time.perf_counter() - started, 2), tuple(skipped))


def slice_ranges(cur: duckdb.DuckDBPyConnection, table: str, slice_rows: int) -> list[tuple[str | None, str | None]]:
    """Ranges [lo, hi) of customer ids that split `table` into slices of about `slice_rows` rows
    (None: open end); one customer's rows are never split."""
    rows = int(scalar(cur, f"SELECT count(*) FROM {table}"))
    parts = max(1, -(-rows // max(slice_rows, 1)))
    if parts == 1:
        return [(None, None)]
    cuts = [i / parts for i in range(1, parts)]
    bounds = scalar(cur, f"SELECT quantile_disc(customer_id, ?::DOUBLE[]) FROM {table}", [cuts]) or []
    edges = sorted(set(bounds))
    return list(zip([None, *edges], [*edges, None]))


def _rewrite_slice(archive: "Archive", table: str, lo: str | None, hi: str | None) -> int:
    where, params = ["TRUE"], []
    if lo is not None:
        where.append("customer_id >= ?")
        params.append(lo)
    if hi is not None:
        where.append("customer_id < ?")
        params.append(hi)
    cond = " AND ".join(where)
    with archive.transaction() as cur:
        cur.execute(f"CREATE TEMP TABLE _clustered AS SELECT * FROM {table} WHERE {cond} ORDER BY customer_id, id",
                    params)
        try:
            cur.execute(f"DELETE FROM {table} WHERE {cond}", params)
            cur.execute(f"INSERT INTO {table} SELECT * FROM _clustered")
            return int(scalar(cur, "SELECT count(*) FROM _clustered"))
        finally:
            cur.execute("DROP TABLE _clustered")


def _mark_clustered(archive: "Archive", table: str, upto: object) -> None:
    with archive.transaction() as cur:
        cur.execute("INSERT OR REPLACE INTO archive_state (key, value) VALUES (?, ?)",
                    [_STATE_KEY.format(table=table), str(upto if upto is not None else 0)])


def _checkpoint(archive: "Archive") -> None:
    cur = archive.cursor()
    try:
        cur.execute("CHECKPOINT")  # the moved rows' blocks are free for the next slice
    except duckdb.Error:  # another transaction is open: DuckDB checkpoints later by itself
        pass
    finally:
        cur.close()


def _clustered_upto(cur: duckdb.DuckDBPyConnection, table: str) -> int | None:
    row = cur.execute("SELECT value FROM archive_state WHERE key = ?", [_STATE_KEY.format(table=table)]).fetchall()
    return int(row[0][0]) if row else None


def maintain(archive: "Archive", moment: dt.datetime | None = None, *, force: bool = False) -> ClusterReport | None:
    """One maintenance pass as the dashboard or a scheduled job runs it: in the quiet hours, when
    due (or whenever `force`). None when nothing was due."""
    moment = moment or clock.now()
    if not force and not in_quiet_hours(moment):
        return None
    cur = archive.cursor()
    try:
        tail = unclustered_rows(cur)
    finally:
        cur.close()
    if not force and not clustering_due(tail):
        return None
    min_rows = 0 if force else config.cluster_min_rows()
    report = cluster_records(archive, min_rows=min_rows)
    if report.rewritten:
        log.info("整理档案：按客户重排 %s，用时 %.1f 秒", report.rewritten, report.seconds)
    return report


class Keeper:
    """The dashboard's maintenance thread: every `CRM_CLUSTER_CHECK_S` seconds one `maintain` pass.
    A failure is logged and tried again next time; it never stops the process."""

    def __init__(self, archive: "Archive", check_s: float) -> None:
        self.archive, self.check_s = archive, check_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self) -> None:
        while not self._stop.wait(self.check_s) and not self.archive.closed:
            try:
                maintain(self.archive)
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("整理档案失败")

    def start(self) -> "Keeper":
        self._thread = threading.Thread(target=self._run, name="crm-clustering", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


_keepers: dict[str, Keeper] = {}
_keepers_lock = threading.Lock()


def start_keeper(archive: "Archive") -> Keeper | None:
    """The process's keeper for `archive` (started once); None when switched off (CRM_CLUSTER=0)."""
    if not config.cluster_enabled():
        return None
    key = str(archive.path)
    with _keepers_lock:
        keeper = _keepers.get(key)
        if keeper is None or keeper.archive is not archive:
            keeper = _keepers[key] = Keeper(archive, config.cluster_check_seconds()).start()
        return keeper
