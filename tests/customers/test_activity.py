"""The activity summary on each customer stays equal to what the records say, through every write."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import write_xlsx

from crm.auth.personal import actor_for
from crm.customers import activity
from crm.customers.edits import add_interaction
from crm.db import Archive
from crm.imports.batches import undo_batch
from crm.imports.pipeline import import_path
from crm.seed import seed_demo

TODAY = dt.date(2026, 11, 22)

FRESH = """
    SELECT c.customer_id,
           (SELECT min(date) FROM transactions t WHERE t.customer_id = c.customer_id AND kind IN ('购买', '续约')),
           (SELECT max(date) FROM transactions t WHERE t.customer_id = c.customer_id AND kind IN ('购买', '续约')),
           (SELECT max(date) FROM transactions t WHERE t.customer_id = c.customer_id),
           (SELECT max(date) FROM interactions i WHERE i.customer_id = c.customer_id)
    FROM customers c ORDER BY 1"""
STORED = """SELECT customer_id, first_purchase, last_purchase, last_transaction, last_logged_interaction
            FROM customers ORDER BY 1"""


def rows(archive: Archive, sql: str) -> list[tuple]:
    cur = archive.cursor()
    try:
        return cur.execute(sql).fetchall()
    finally:
        cur.close()


def current(archive: Archive) -> bool:
    cur = archive.cursor()
    try:
        return activity.is_current(cur)
    finally:
        cur.close()


def assert_summary_true(archive: Archive) -> None:
    assert rows(archive, STORED) == rows(archive, FRESH)
    assert current(archive)


@pytest.fixture
def seeded(archive: Archive) -> Archive:
    seed_demo(archive, customers=150, seed=5, today=TODAY)
    return archive


def test_seed_leaves_a_true_current_summary(seeded: Archive) -> None:
    assert_summary_true(seeded)
    assert sum(1 for r in rows(seeded, STORED) if r[1] is not None) > 50  # most demo customers bought


def test_import_folds_new_records_in_and_undo_takes_them_out(seeded: Archive, tmp_path: Path) -> None:
    some = rows(seeded, "SELECT customer_id, name FROM customers WHERE first_purchase IS NOT NULL ORDER BY 1 LIMIT 2")
    never = rows(seeded, "SELECT customer_id, name FROM customers WHERE first_purchase IS NULL ORDER BY 1 LIMIT 1")
    path = write_xlsx(tmp_path / "t.xlsx", {"交易": [
        ["客户编号", "客户名称", "交易类型", "购买时间", "金额"],
        [some[0][0], some[0][1], "购买", "2026-11-21", 500],  # later than anything: new last purchase
        [some[1][0], some[1][1], "咨询", "2026-11-21", None],  # not a purchase: only the last transaction
        [never[0][0], never[0][1], "续约", "2020-01-05", 900],  # a first purchase long ago
    ], "互动": [
        ["客户编号", "客户名称", "互动日期", "互动方式", "互动内容"],
        [some[1][0], some[1][1], "2026-11-20", "电话", "回访"],
    ]})
    before = dict((r[0], r) for r in rows(seeded, STORED))
    report = import_path(seeded, path, user="cli", today=TODAY)
    assert [b.created for b in report.batches] == [3, 1]
    assert_summary_true(seeded)
    after = dict((r[0], r) for r in rows(seeded, STORED))
    assert after[some[0][0]][2] == dt.date(2026, 11, 21)
    assert after[some[1][0]][2] == before[some[1][0]][2] and after[some[1][0]][3] == dt.date(2026, 11, 21)
    assert after[never[0][0]][1] == dt.date(2020, 1, 5)
    for batch in reversed(report.batches):
        undo_batch(seeded, batch.batch_id, "cli")
    assert_summary_true(seeded)
    assert dict((r[0], r) for r in rows(seeded, STORED)) == before


def test_a_dry_run_changes_nothing(seeded: Archive, tmp_path: Path) -> None:
    cid, name = rows(seeded, "SELECT customer_id, name FROM customers ORDER BY 1 LIMIT 1")[0]
    path = write_xlsx(tmp_path / "t.xlsx", {"交易": [
        ["客户编号", "客户名称", "交易类型", "购买时间", "金额"], [cid, name, "购买", "2026-11-22", 1]]})
    before = rows(seeded, STORED)
    import_path(seeded, path, user="cli", today=TODAY, dry_run=True)
    assert rows(seeded, STORED) == before
    assert current(seeded)


def test_a_logged_interaction_moves_the_last_one(seeded: Archive) -> None:
    cid, owner = rows(seeded, "SELECT customer_id, owner FROM customers ORDER BY 1 LIMIT 1")[0]
    admin = actor_for(seeded, "admin")
    add_interaction(seeded, admin, cid, "2026-11-22", "电话", "回访")
    assert_summary_true(seeded)
    assert rows(seeded, f"SELECT last_logged_interaction FROM customers WHERE customer_id = '{cid}'") == [(TODAY,)]


def test_records_changed_behind_its_back_are_noticed_and_recomputed(seeded: Archive) -> None:
    cid = rows(seeded, "SELECT customer_id FROM customers ORDER BY 1 LIMIT 1")[0][0]
    with seeded.transaction() as tx:
        tx.execute("INSERT INTO transactions (customer_id, kind, date, amount) VALUES (?, '购买', DATE '2019-03-04', 10)",
                   [cid])
    assert not current(seeded)
    assert activity.ensure_current(seeded) is True
    assert_summary_true(seeded)
    assert rows(seeded, f"SELECT first_purchase FROM customers WHERE customer_id = '{cid}'") == [(dt.date(2019, 3, 4),)]
    assert activity.ensure_current(seeded) is False  # nothing to do the second time


def test_a_stale_summary_stays_stale_through_a_write(seeded: Archive, tmp_path: Path) -> None:
    """A write that keeps the summary must not stamp over changes it did not see."""
    with seeded.transaction() as tx:
        tx.execute("UPDATE customers SET first_purchase = NULL")
        tx.execute("DELETE FROM archive_state")
    cid, name = rows(seeded, "SELECT customer_id, name FROM customers ORDER BY 1 LIMIT 1")[0]
    import_path(seeded, write_xlsx(tmp_path / "t.xlsx", {"交易": [
        ["客户编号", "客户名称", "交易类型", "购买时间", "金额"], [cid, name, "购买", "2026-11-22", 1]]}),
        user="cli", today=TODAY)
    assert not current(seeded)
    activity.ensure_current(seeded)
    assert_summary_true(seeded)


def test_the_summary_columns_are_on_the_customers_table(archive: Archive) -> None:
    got = dict(rows(archive, "SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'customers'"))
    assert {name: got.get(name) for name in activity.ACTIVITY_COLUMNS} == activity.ACTIVITY_COLUMNS
