"""Runs and their cache: one run per reference date, data version and thresholds, found in
`segment_runs` or computed (crm.segments.rules) under the archive's run lock."""
from __future__ import annotations

import datetime as dt
import json
import threading
from typing import TYPE_CHECKING, Any, Sequence

from crm.customers import activity
from crm.db import fetch_one, scalar
from crm.segments.dates import month_end
from crm.segments.model import SegmentRun
from crm.segments.rules import _compute
from crm.settings import SegmentSettings, segment_settings

if TYPE_CHECKING:
    import duckdb

    from crm.db import Archive

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def _lock_for(archive: "Archive") -> threading.Lock:
    key = str(archive.path)
    with _locks_guard:
        return _locks.setdefault(key, threading.Lock())


def data_version(archive_or_cur: "Archive | duckdb.DuckDBPyConnection") -> str:
    """A fingerprint of the data the rules read, cheap enough to take on every page run.

    Row counts of the tables the rules read (DuckDB answers a bare count(*) from its metadata),
    the import batches with their undo marks (an import may update rows in place) and the
    customers' last update (every edit sets it): any change the app makes to what the rules read
    moves one of them, without reading the large tables' columns (which would also fill memory
    with their blocks). Follow-ups, exports and other audit-only actions leave it alone, so they
    do not throw the cached runs away. A change made behind the app's back (hand-written SQL) is
    not seen: clear_cache() forgets the runs.
    """
    sql = f"""
    SELECT concat_ws('|',
        (SELECT count(*) FROM customers), (SELECT count(*) FROM transactions), (SELECT count(*) FROM interactions),
        (SELECT count(*) FROM complaints), (SELECT count(*) FROM customer_tags),
        {activity.BATCHES_SIGNATURE_SQL},
        (SELECT max(updated_at) FROM customers))"""
    own = hasattr(archive_or_cur, "transaction")
    cur = archive_or_cur.cursor() if own else archive_or_cur  # type: ignore[union-attr]
    try:
        return str(scalar(cur, sql))
    finally:
        if own:
            cur.close()


def _run_from_row(row: Sequence[Any], settings: SegmentSettings, computed: bool = False) -> SegmentRun:
    run_id, as_of, month_end_flag, customers, stats, seconds = row
    return SegmentRun(int(run_id), as_of, bool(month_end_flag), int(customers), json.loads(stats), settings,
                      computed, seconds)


def _cached_row(archive: "Archive", as_of: dt.date, version: str, settings: SegmentSettings) -> tuple | None:
    cur = archive.cursor()
    try:
        return fetch_one(cur, "SELECT run_id, as_of, month_end, customers, stats, seconds FROM segment_runs "
                              "WHERE as_of = ? AND data_version = ? AND settings_version = ?",
                         [as_of, version, settings.signature])
    finally:
        cur.close()


def segment_run(archive: "Archive", as_of: dt.date, *, version: str | None = None,
                settings: SegmentSettings | None = None) -> SegmentRun:
    """The classification as of `as_of`, from the cache when the data and thresholds are unchanged.

    `version` (data_version) and `settings` may be passed by a caller asking for several dates
    at once, so they are read once.
    """
    settings = settings or segment_settings(archive)
    version = version or data_version(archive)
    row = _cached_row(archive, as_of, version, settings)
    if row:
        return _run_from_row(row, settings)
    with _lock_for(archive):
        row = _cached_row(archive, as_of, version, settings)  # another session may have computed it meanwhile
        if row:
            return _run_from_row(row, settings)
        return _compute(archive, as_of, settings, version)


def cached_run(archive: "Archive", as_of: dt.date, settings: SegmentSettings | None = None) -> SegmentRun | None:
    """The run as of `as_of` if it is already computed for the current data and thresholds, else
    None — for readers that must stay quick (the profile) and do without it otherwise."""
    settings = settings or segment_settings(archive)
    row = _cached_row(archive, as_of, data_version(archive), settings)
    return _run_from_row(row, settings) if row else None


def compute_run(archive: "Archive", as_of: dt.date, *, timings: dict[str, float] | None = None) -> SegmentRun:
    """Classify every customer as of `as_of` now, replacing a cached run of the same key (benchmarks, repairs).

    `timings`, when given, receives the seconds of each step: facts (the aggregate over the dated
    records), cuts (the archive-wide figures), store (writing the members).
    """
    settings = segment_settings(archive)
    version = data_version(archive)
    with _lock_for(archive):
        with archive.cache_transaction() as tx:
            old = [r for (r,) in tx.execute(
                "SELECT run_id FROM segment_runs WHERE as_of = ? AND data_version = ? AND settings_version = ?",
                [as_of, version, settings.signature]).fetchall()]
            if old:
                tx.execute("DELETE FROM segment_members WHERE list_contains(?, run_id)", [old])
                tx.execute("DELETE FROM segment_runs WHERE list_contains(?, run_id)", [old])
        return _compute(archive, as_of, settings, version, timings)


def snapshot(archive: "Archive", day: dt.date, **kwargs: Any) -> SegmentRun:
    """The month-end run of the month `day` is in (the segment history)."""
    return segment_run(archive, month_end(day), **kwargs)


def clear_cache(archive: "Archive") -> int:
    """Forget every cached run (they are recomputed on demand); returns how many there were."""
    with _lock_for(archive), archive.cache_transaction() as tx:
        n = int(scalar(tx, "SELECT count(*) FROM segment_runs"))
        tx.execute("DELETE FROM segment_members")
        tx.execute("DELETE FROM segment_runs")
    return n


