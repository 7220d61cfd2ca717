"""Keeping each customer's records together (crm.clustering): same rows and answers after a
rewrite, rows stored in customer order, the tail counted, the quiet hours, the CLI."""
from __future__ import annotations

import datetime as dt
import os
import threading
import time

import duckdb
import pytest

from crm import clustering, config
from crm.auth.personal import Actor, PersonalData
from crm.cli import main as cli
from crm.customers.profile import load_profile
from crm.db import open_archive
from crm.seed import seed_demo
from crm.vocabulary import ADMIN

DAY = dt.date(2026, 3, 16)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    archive = open_archive(tmp_path_factory.mktemp("cluster") / "crm.duckdb")
    seed_demo(archive, customers=600, seed=5, today=DAY)
    return archive


def _rows(cur, table):
    return sorted(cur.execute(f"SELECT * FROM {table}").fetchall(), key=lambda r: r[0])


def _stored_customer_order(cur, table):
    return [r[0] for r in cur.execute(f"SELECT customer_id FROM {table} ORDER BY rowid").fetchall()]


def test_the_seed_stores_records_in_date_order_as_monthly_imports_do(seeded):
    cur = seeded.cursor()
    for table, column in (("transactions", "date"), ("follow_ups", "due")):
        dates = [r[0] for r in cur.execute(f"SELECT {column} FROM {table} ORDER BY rowid").fetchall()]
        assert dates == sorted(dates)
        assert _stored_customer_order(cur, table) != sorted(_stored_customer_order(cur, table))
    cur.close()


def test_a_rewrite_keeps_every_row_and_the_profile_and_stores_each_customer_together(seeded):
    cur = seeded.cursor()
    before = {t: _rows(cur, t) for t in clustering.CLUSTERED_TABLES}
    customer = cur.execute("SELECT customer_id FROM transactions GROUP BY 1 ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    cur.close()
    reader = PersonalData(seeded, Actor("admin", ADMIN))
    profile_before = load_profile(reader, customer, as_of=DAY)
    assert clustering.unclustered_rows(seeded.cursor())["transactions"] == len(before["transactions"])

    report = clustering.cluster_records(seeded)

    assert report.rewritten == {t: len(rows) for t, rows in before.items() if rows}
    cur = seeded.cursor()
    for table in clustering.CLUSTERED_TABLES:
        assert _rows(cur, table) == before[table]  # same ids, same values
        order = _stored_customer_order(cur, table)
        assert order == sorted(order)
    assert clustering.unclustered_rows(cur) == {t: 0 for t in clustering.CLUSTERED_TABLES}
    cur.close()
    assert load_profile(reader, customer, as_of=DAY) == profile_before


def test_rows_written_after_a_rewrite_are_the_tail_that_makes_the_next_one_due(seeded):
    clustering.cluster_records(seeded)
    with seeded.transaction() as cur:
        cur.executemany("INSERT INTO interactions (customer_id, date, channel) VALUES (?, ?, '电话')",
                        [("C-TAIL", DAY)] * 3)
    cur = seeded.cursor()
    tail = clustering.unclustered_rows(cur)
    cur.close()
    assert tail["interactions"] == 3 and tail["transactions"] == 0
    assert clustering.clustering_due(tail, min_rows=3)
    assert not clustering.clustering_due(tail, min_rows=4)
    assert clustering.cluster_records(seeded, min_rows=4).rewritten == {}
    assert clustering.cluster_records(seeded, min_rows=3).rewritten.keys() == {"interactions"}
    with seeded.transaction() as cur:
        cur.execute("DELETE FROM interactions WHERE customer_id = 'C-TAIL'")


@pytest.mark.parametrize("hours, hour, inside", [
    ((1, 6), 0, False), ((1, 6), 1, True), ((1, 6), 5, True), ((1, 6), 6, False),
    ((22, 5), 23, True), ((22, 5), 4, True), ((22, 5), 12, False), ((0, 24), 13, True), ((3, 3), 3, False),
])
def test_quiet_hours_are_a_window_that_may_run_over_midnight(hours, hour, inside):
    assert clustering.in_quiet_hours(dt.datetime(2026, 3, 16, hour, 30), hours) is inside


def test_the_window_and_threshold_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("CRM_CLUSTER_HOURS", "22-5")
    monkeypatch.setenv("CRM_CLUSTER_MIN_ROWS", "1000")
    assert config.cluster_hours() == (22, 5) and config.cluster_min_rows() == 1000
    monkeypatch.setenv("CRM_CLUSTER_HOURS", "午夜")
    assert config.cluster_hours() == (1, 6)


def test_maintain_waits_for_the_quiet_hours_unless_forced(seeded, monkeypatch):
    monkeypatch.setenv("CRM_CLUSTER_MIN_ROWS", "1")
    with seeded.transaction() as cur:
        cur.execute("INSERT INTO surveys (customer_id, date) VALUES ('C-TAIL', ?)", [DAY])
    try:
        assert clustering.maintain(seeded, dt.datetime(2026, 3, 16, 14, 0)) is None  # working hours
        report = clustering.maintain(seeded, dt.datetime(2026, 3, 17, 2, 0))
        assert report is not None and "surveys" in report.rewritten
        assert clustering.maintain(seeded, dt.datetime(2026, 3, 17, 2, 10)) is None  # nothing new
    finally:
        with seeded.transaction() as cur:
            cur.execute("DELETE FROM surveys WHERE customer_id = 'C-TAIL'")


def _follow_up(archive):
    cur = archive.cursor()
    try:
        return cur.execute("SELECT id, coalesce(version, 0) FROM follow_ups ORDER BY id LIMIT 1").fetchone()
    finally:
        cur.close()


def _add_tail(archive, table="follow_ups"):
    with archive.transaction() as cur:  # something for the rewrite to do
        cur.execute(f"INSERT INTO {table} SELECT * REPLACE (nextval('row_id_seq') AS id) FROM {table} LIMIT 1")


def test_a_colleagues_write_under_way_is_waited_for_and_kept(seeded):
    """DuckDB does not see an UPDATE of a row that a concurrent DELETE removes (the update is lost):
    the rewrite waits until the write under way has committed, and holds new ones back meanwhile."""
    fid, version = _follow_up(seeded)
    _add_tail(seeded)
    inside, go_on = threading.Event(), threading.Event()

    def colleague():
        with seeded.transaction() as cur:
            cur.execute("UPDATE follow_ups SET version = ? WHERE id = ?", [version + 1, fid])
            inside.set()
            go_on.wait(30)

    writer = threading.Thread(target=colleague)
    writer.start()
    inside.wait(30)
    reports: list[clustering.ClusterReport] = []
    rewriter = threading.Thread(target=lambda: reports.append(clustering.cluster_records(seeded, tables=("follow_ups",))))
    rewriter.start()
    for _ in range(3000):  # the rewrite is waiting for the colleague (no timed join: see faketime below)
        if seeded.gate.waiting:
            break
        time.sleep(0.01)
    assert seeded.gate.waiting == 1 and rewriter.is_alive()
    go_on.set()
    writer.join(30)
    rewriter.join(60)
    assert reports[0].rewritten.keys() == {"follow_ups"}
    cur = seeded.cursor()
    assert cur.execute("SELECT version FROM follow_ups WHERE id = ?", [fid]).fetchone()[0] == version + 1
    cur.close()


@pytest.mark.skipif("faketime" in os.environ.get("LD_PRELOAD", ""),
                    reason="waits for the gate's timeout to run out; under faketime a timed wait never ends")
def test_writes_that_never_pause_leave_the_table_for_the_next_pass(seeded, monkeypatch):
    monkeypatch.setenv("CRM_CLUSTER_WAIT_S", "0.2")
    _add_tail(seeded, "surveys")
    inside, go_on = threading.Event(), threading.Event()

    def colleague():
        with seeded.transaction():
            inside.set()
            go_on.wait(30)

    writer = threading.Thread(target=colleague)
    writer.start()
    inside.wait(30)
    try:
        report = clustering.cluster_records(seeded, tables=("surveys",))
    finally:
        go_on.set()
        writer.join(30)
    assert report.skipped == ("surveys",) and report.rewritten == {}
    assert clustering.cluster_records(seeded, tables=("surveys",)).rewritten.keys() == {"surveys"}


def test_the_gate_lets_nested_writes_through_while_a_rewrite_waits():
    from crm.db import WriteGate

    gate = WriteGate()
    order: list[str] = []
    inside = threading.Event()

    def writer():
        with gate.writing():
            inside.set()
            time.sleep(0.2)  # a rewrite starts waiting meanwhile
            with gate.writing():  # nested: must not wait for the rewrite (it would wait for us)
                order.append("nested")
        order.append("writer done")

    def rewrite():
        inside.wait(5)
        with gate.alone(5) as alone:
            order.append(f"alone {alone}")
            with gate.writing():  # the rewrite's own transaction
                order.append("own write")

    threads = [threading.Thread(target=writer), threading.Thread(target=rewrite)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert order == ["nested", "writer done", "alone True", "own write"]


def test_the_cli_says_when_nothing_is_due_and_rewrites_when_forced(tmp_path, capsys):
    db = tmp_path / "crm.duckdb"
    assert cli(["seed", "--db", str(db), "--customers", "50"]) == 0
    capsys.readouterr()
    assert cli(["maintain", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("无需整理") and "交易记录" in out
    assert cli(["maintain", "--db", str(db), "--force"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("已按客户重排：交易记录") and "用时" in out


def test_a_unknown_table_is_a_programming_error(seeded):
    with pytest.raises(ValueError):
        clustering.cluster_records(seeded, tables=("customers",))


def test_a_failed_slice_leaves_its_rows_as_they_were_and_the_table_due_again(seeded, monkeypatch):
    monkeypatch.setenv("CRM_CLUSTER_SLICE_ROWS", "800")
    _add_tail(seeded, "interactions")
    cur = seeded.cursor()
    before = _rows(cur, "interactions")
    assert len(clustering.slice_ranges(cur, "interactions", 800)) > 2
    cur.close()
    real = clustering._rewrite_slice
    calls = []

    def second_fails(archive, table, lo, hi):
        calls.append((lo, hi))
        if len(calls) == 1:
            return real(archive, table, lo, hi)
        with archive.transaction() as tx:
            tx.execute(f"DELETE FROM {table}")
            raise duckdb.IOException("disk full")

    monkeypatch.setattr(clustering, "_rewrite_slice", second_fails)
    with pytest.raises(duckdb.IOException):
        clustering.cluster_records(seeded, tables=("interactions",))
    monkeypatch.setattr(clustering, "_rewrite_slice", real)
    cur = seeded.cursor()
    assert _rows(cur, "interactions") == before
    assert clustering.unclustered_rows(cur)["interactions"] > 0
    cur.close()


def test_slices_cover_every_customer_once_and_the_table_ends_in_customer_order(seeded, monkeypatch):
    monkeypatch.setenv("CRM_CLUSTER_SLICE_ROWS", "2500")
    _add_tail(seeded, "transactions")
    cur = seeded.cursor()
    before = _rows(cur, "transactions")
    ranges = clustering.slice_ranges(cur, "transactions", 2500)
    cur.close()
    assert ranges[0][0] is None and ranges[-1][1] is None and len(ranges) >= 3
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous, no gap, no overlap
    assert clustering.cluster_records(seeded, tables=("transactions",)).rewritten == {"transactions": len(before)}
    cur = seeded.cursor()
    assert _rows(cur, "transactions") == before
    order = _stored_customer_order(cur, "transactions")
    assert order == sorted(order)
    cur.close()
