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
