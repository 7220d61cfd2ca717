"""crm.db: one archive per path and process; listeners hear of committed writes only."""
from __future__ import annotations

from pathlib import Path

import pytest

from crm import db
from crm.db import Archive, open_archive


def test_listeners_hear_of_committed_writes_only(archive: Archive) -> None:
    heard: list[tuple[Archive, frozenset[str]]] = []
    listener = lambda arc, changes: heard.append((arc, changes))  # noqa: E731
    db.on_commit(listener)
    try:
        with archive.transaction() as tx:
            db.mark_changed(tx, db.EDIT)
            tx.execute("INSERT INTO customers (customer_id, name) VALUES ('C1', '甲')")
        with pytest.raises(RuntimeError):
            with archive.transaction() as tx:
                db.mark_changed(tx, db.RECORDS)
                raise RuntimeError("rolled back")
        with archive.rolled_back() as tx:  # a dry run
            db.mark_changed(tx, db.RECORDS)
        with archive.transaction() as tx:  # nothing marked: nobody is told
            tx.execute("SELECT 1")
    finally:
        db.off_commit(listener)
    assert heard == [(archive, frozenset({db.EDIT}))]


def test_a_failing_listener_does_not_fail_the_write(archive: Archive) -> None:
    def broken(arc: Archive, changes: frozenset[str]) -> None:
        raise RuntimeError("listener bug")

    db.on_commit(broken)
    try:
        with archive.transaction() as tx:
            db.mark_changed(tx, db.EDIT)
            tx.execute("INSERT INTO customers (customer_id, name) VALUES ('C2', '乙')")
    finally:
        db.off_commit(broken)
    cur = archive.cursor()
    assert cur.execute("SELECT count(*) FROM customers").fetchall() == [(1,)]
    cur.close()


def test_one_archive_per_path_and_close_all(tmp_path: Path) -> None:
    a = open_archive(tmp_path / "a.duckdb")
    assert open_archive(tmp_path / "a.duckdb") is a
    db.close_all()
    b = open_archive(tmp_path / "a.duckdb")
    assert b is not a
    b.close()


def test_imports_and_edits_mark_what_they_change(archive: Archive, tmp_path: Path) -> None:
    from conftest import write_xlsx

    from crm.auth.personal import Actor
    from crm.customers.edits import update_customer
    from crm.imports.batches import undo_batch
    from crm.imports.pipeline import import_path

    heard: list[frozenset[str]] = []
    listener = lambda arc, changes: heard.append(changes)  # noqa: E731
    db.on_commit(listener)
    try:
        book = write_xlsx(tmp_path / "c.xlsx", {"客户档案": [["客户编号", "客户姓名", "联系电话"], ["C9", "丙", "13800000009"]]})
        import_path(archive, book, user="tester", dry_run=True)
        assert heard == []
        report = import_path(archive, book, user="tester")
        update_customer(archive, Actor("admin", "管理员"), "C9", {"note": "改"})
        undo_batch(archive, report.batches[0].batch_id, "tester")
    finally:
        db.off_commit(listener)
    assert heard == [frozenset({db.RECORDS}), frozenset({db.EDIT}), frozenset({db.RECORDS})]


def test_a_contact_logged_during_an_import_waits_for_it_and_both_are_kept(archive: Archive, tmp_path: Path) -> None:
    """Found by the 20-session load test: both writes keep the activity stamp current, and DuckDB
    failed the import ("Conflict on update") when a colleague's contact committed while it ran.
    Writes now pass one at a time: the contact waits in line and both land."""
    import threading
    import time

    from conftest import write_xlsx

    from crm.auth.personal import Actor
    from crm.customers import activity
    from crm.customers.edits import add_interaction
    from crm.imports.pipeline import import_path

    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('admin', '管理员')")
    first = write_xlsx(tmp_path / "c.xlsx", {"客户档案": [["客户编号", "客户姓名", "联系电话"], ["C1", "甲", "13800000001"]]})
    import_path(archive, first, user="admin")
    activity.ensure_current(archive)  # as the dashboard keeps it: every write then keeps the stamp
    sheet = write_xlsx(tmp_path / "t.xlsx", {"客户关系管理记录表": [
        ["客户编号", "客户名称", "订单编号", "交易类型", "购买时间", "金额(元)"],
        *[["C1", "甲", f"D{n}", "购买", f"2026-03-{n + 1:02d}", 100 + n] for n in range(20)]]})
    outcome: dict[str, object] = {}

    def colleague() -> None:
        try:
            outcome["contact"] = add_interaction(archive, Actor("admin", "管理员"), "C1", "2026-11-30", "电话", "回访")
        except Exception as exc:  # noqa: BLE001 - the finding is what it raised
            outcome["contact"] = exc

    writer = threading.Thread(target=colleague)

    def progress(done: int, total: int, text: str) -> None:
        if writer.is_alive() or "contact" in outcome:
            return
        writer.start()  # while the import's transaction is open
        for _ in range(3000):  # no timed wait: the shifted-clock pass runs under faketime
            if archive.gate.queued or "contact" in outcome:
                break
            time.sleep(0.01)

    report = import_path(archive, sheet, user="admin", progress=progress)
    assert writer.ident is not None, report
    writer.join()
    assert not isinstance(outcome["contact"], Exception), outcome
    assert report.batches and report.batches[0].created == 20
    cur = archive.cursor()
    assert cur.execute("SELECT count(*) FROM transactions").fetchone() == (20,)
    assert cur.execute("SELECT count(*) FROM interactions WHERE content = '回访'").fetchone() == (1,)
    cur.close()
    assert activity.ensure_current(archive) is False  # and the summary stayed current throughout


def _memory_limit(cur) -> str:
    return cur.execute("SELECT current_setting('memory_limit')").fetchone()[0]


def test_trimming_memory_always_leaves_the_archives_own_limit(archive: Archive) -> None:
    """Found by the load test: two trims at once (the warmer's and a page's) — the second read the
    first's 64 MB as "the limit" and set it back for good; every later search failed Out of Memory."""
    import threading

    from crm import config

    cur = archive.cursor()
    cur.execute(f"SET memory_limit = '{config.db_memory_limit()}'")
    own = _memory_limit(cur)
    cur.execute(f"SET memory_limit = '{db.TRIM_MEMORY_TO}'")  # as a trim left it mid-way
    db.release_memory(archive)
    assert _memory_limit(cur) == own
    threads = [threading.Thread(target=lambda: [db.release_memory(archive) for _ in range(20)]) for _ in range(4)]
    threads += [threading.Thread(target=lambda: [db.keep_cache_within(archive, 1 << 20) for _ in range(20)])
                for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert _memory_limit(cur) == own
    cur.close()


def _held(archive: Archive) -> int:
    cur = archive.cursor()
    try:
        return int(cur.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()[0])
    finally:
        cur.close()


def _read_filler(archive: Archive) -> list[tuple]:
    cur = archive.cursor()
    try:
        return cur.execute("SELECT count(DISTINCT h) FROM filler").fetchall()
    finally:
        cur.close()


def _archive_with_cached_blocks(path: Path) -> Archive:
    """An archive whose table `filler` (≈ 12 MB of blocks) was written to the file and read back
    from it, so DuckDB holds its blocks as cached table data (as a page's reads leave them)."""
    archive = open_archive(path)
    cur = archive.cursor()
    cur.execute("CREATE TABLE filler AS SELECT range AS i, md5(range::VARCHAR) AS h FROM range(600000)")
    cur.execute("CHECKPOINT")
    cur.close()
    archive.close()
    archive = open_archive(path)
    _read_filler(archive)
    return archive


def test_the_table_blocks_a_page_read_stay_cached_only_up_to_the_bound(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Every profile reads the few blocks holding its customer's rows, and DuckDB kept them all up
    to its memory limit: after a page run, what it holds beyond CRM_DB_CACHE_MB is handed back."""
    archive = _archive_with_cached_blocks(tmp_path / "cache.duckdb")
    try:
        held = _held(archive)
        assert held > 8 << 20  # the blocks read stay cached
        assert db.keep_cache_within(archive, held + (1 << 20)) is False  # within the bound: nothing done
        assert _held(archive) == held
        bound = held // 3
        assert db.keep_cache_within(archive, bound) is True
        assert _held(archive) <= bound * 3 // 4 + (1 << 18)  # down to three quarters (DuckDB counts in 256 KB blocks)
        held = _held(archive)
        _read_filler(archive)  # cached again
        assert _held(archive) > held
        with archive.page_running():  # this thread's own page run: the trim goes ahead
            assert db.keep_cache_within(archive, bound) is True
        monkeypatch.setenv("CRM_DB_CACHE_MB", "0")
        assert db.keep_cache_within(archive) is False  # 0: no bound
        assert _read_filler(archive) == [(600000,)]  # read back at once
    finally:
        archive.close()


def test_no_trim_while_a_colleagues_page_is_running(tmp_path: Path) -> None:
    """Found by the load test: a trim lowers the limit of the whole database for an instant, and
    20 sessions' queries held more than the trim's limit: two searches failed Out of Memory. The
    trim waits for a moment when no other page is running."""
    import threading

    archive = _archive_with_cached_blocks(tmp_path / "busy.duckdb")
    try:
        entered, leave = threading.Event(), threading.Event()

        def colleague() -> None:
            with archive.page_running():
                entered.set()
                leave.wait(30)

        other = threading.Thread(target=colleague)
        other.start()
        assert entered.wait(30)
        held = _held(archive)
        with archive.page_running():
            assert db.keep_cache_within(archive, held // 3) is False
            db.release_memory(archive)
        assert _held(archive) == held
        leave.set()
        other.join(30)
        assert archive.pages_running == 0
        with archive.page_running():
            assert db.keep_cache_within(archive, held // 3) is True
        assert _held(archive) < held
    finally:
        archive.close()


@pytest.mark.parametrize("bad", ["abc", "-1", "nan", "inf"])
def test_memory_housekeeping_never_fails_a_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    """It runs in the entry file's `finally` after every page: neither a closed archive nor a bad
    CRM_DB_CACHE_MB may replace the page's own outcome (an st.rerun after log-in, say) with an error."""
    archive = open_archive(tmp_path / "closed.duckdb")
    monkeypatch.setenv("CRM_DB_CACHE_MB", bad)
    assert db.keep_cache_within(archive) is False
    archive.close()
    assert db.keep_cache_within(archive, 1) is False
    db.release_memory(archive)  # no exception


def test_a_page_run_nested_in_another_still_counts_as_this_threads_own(tmp_path: Path) -> None:
    archive = _archive_with_cached_blocks(tmp_path / "nested.duckdb")
    try:
        held = _held(archive)
        with archive.page_running():
            with archive.page_running():
                pass
            assert db.keep_cache_within(archive, held // 3) is True
        assert archive.pages_running == 0
    finally:
        archive.close()
