"""crm.stats on small archives whose counts are known by construction."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from crm import stats

TODAY = date(2024, 6, 15)


def d(days: int) -> date:
    return TODAY + timedelta(days=days)


def add_customers(cur, n: int) -> list[str]:
    ids = [f"C{i:04d}" for i in range(1, n + 1)]
    cur.executemany("INSERT INTO customers (customer_id, name) VALUES (?, ?)", [(c, f"客户{c}") for c in ids])
    return ids


def add_batch(cur, file: str, status: str = "active", started_at: datetime | None = None, **counts) -> int:
    return cur.execute(
        """INSERT INTO import_batches
           (batch_id, file, sheet, template, user_name, started_at, rows_read, created, updated, rejected, status)
           VALUES (nextval('batch_id_seq'), ?, 'Sheet1', 'T1', '测试员', ?, ?, ?, ?, ?, ?)
           RETURNING batch_id""",
        [
            file,
            started_at or datetime(2024, 6, 1, 9, 0),
            counts.get("rows_read", 0),
            counts.get("created", 0),
            counts.get("updated", 0),
            counts.get("rejected", 0),
            status,
        ],
    ).fetchone()[0]


def test_empty_archive_is_all_zeros(archive):
    cur = archive.cursor()
    assert stats.archive_stats(cur) == {k: 0 for k in stats.ARCHIVE_STAT_KEYS}
    assert stats.vital_signs(cur, TODAY) == {k: 0 for k in stats.VITAL_SIGN_KEYS}
    frame = stats.recent_batches(cur)
    assert len(frame) == 0
    assert list(frame.columns) == list(stats.RECENT_BATCH_COLUMNS)


def test_archive_stats_counts(archive):
    with archive.transaction() as cur:
        ids = add_customers(cur, 4)
        cur.executemany(
            "INSERT INTO transactions (customer_id, kind, date, amount) VALUES (?, '购买', ?, 100)",
            [(ids[0], d(-1)), (ids[0], d(-2)), (ids[1], d(-3))],
        )
        cur.executemany(
            "INSERT INTO interactions (customer_id, date, channel) VALUES (?, ?, '电话')",
            [(ids[0], d(-1)), (ids[1], d(-1)), (ids[2], d(-1)), (ids[3], d(-1)), (ids[3], d(-2))],
        )
        # 4 open follow-ups over 2 customers; 2 not open (other statuses) on a third customer
        cur.executemany(
            "INSERT INTO follow_ups (customer_id, due, status) VALUES (?, ?, ?)",
            [
                (ids[0], d(0), "待跟进"),
                (ids[0], d(1), "待跟进"),
                (ids[0], d(-9), "待跟进"),
                (ids[1], d(5), "待跟进"),
                (ids[2], d(-1), "已完成"),
                (ids[2], d(-1), "已取消"),
            ],
        )
        # status defaults to 待跟进
        cur.execute("INSERT INTO follow_ups (customer_id, due) VALUES (?, ?)", [ids[1], d(2)])
        cur.executemany(
            "INSERT INTO complaints (complaint_id, customer_id, date, kind, reason) VALUES (?, ?, ?, '服务', '慢')",
            [("K1", ids[0], d(-3)), ("K2", ids[3], d(-4))],
        )
        cur.executemany(
            "INSERT INTO surveys (customer_id, date, service_quality) VALUES (?, ?, 5)",
            [(ids[0], d(-1)), (ids[1], d(-1)), (ids[2], d(-1))],
        )
        add_batch(cur, "a.xlsx")
        add_batch(cur, "b.xlsx")
        add_batch(cur, "c.xlsx", status="undone")

    result = stats.archive_stats(archive.cursor())
    assert result == {
        "customers": 4,
        "transactions": 3,
        "interactions": 5,
        "follow_ups_open": 5,
        "customers_with_open_follow_up": 2,
        "complaints": 2,
        "surveys": 3,
        "batches": 2,
    }
    assert list(result) == list(stats.ARCHIVE_STAT_KEYS)
    assert all(type(v) is int for v in result.values())


def test_vital_signs(archive):
    with archive.transaction() as cur:
        ids = add_customers(cur, 7)
        cur.executemany(
            "INSERT INTO follow_ups (customer_id, due, status) VALUES (?, ?, ?)",
            [
                (ids[0], d(-1), "待跟进"),  # overdue
                (ids[0], d(-100), "待跟进"),  # overdue
                (ids[1], d(0), "待跟进"),  # due today
                (ids[1], d(0), "待跟进"),  # due today
                (ids[2], d(0), "待跟进"),  # due today
                (ids[2], d(1), "待跟进"),  # later
                (ids[3], d(-5), "已完成"),  # done: neither open nor overdue
                (ids[3], d(0), "已完成"),  # done: not due today
            ],
        )
        cur.executemany(
            """INSERT INTO complaints
               (complaint_id, customer_id, date, kind, reason, accepted, promised_by, resolved_on)
               VALUES (?, ?, ?, '质量', '坏', ?, ?, ?)""",
            [
                ("K1", ids[0], d(-30), True, d(-1), None),  # open, late
                ("K2", ids[0], d(-30), True, d(-2), None),  # open, late
                ("K3", ids[1], d(-30), True, d(-3), None),  # open, late
                ("K4", ids[1], d(-30), True, d(0), None),  # open, due today: not late yet
                ("K5", ids[2], d(-30), True, None, None),  # open, no promise: never late
                ("K6", ids[2], d(-30), True, d(9), None),  # open, not late
                ("K7", ids[3], d(-30), True, d(-9), d(-8)),  # resolved (late, but closed)
                ("K8", ids[3], d(-30), False, d(-9), None),  # rejected: not open
            ],
        )
    vs = stats.vital_signs(archive.cursor(), TODAY)
    assert vs == {
        "customers": 7,
        "follow_ups_open": 6,
        "follow_ups_overdue": 2,
        "follow_ups_due_today": 3,
        "complaints_open": 6,
        "complaints_late": 3,
    }
    assert all(type(v) is int for v in vs.values())

    # The same rows seen from another day.
    assert stats.vital_signs(archive.cursor(), d(1)) == {
        "customers": 7,
        "follow_ups_open": 6,
        "follow_ups_overdue": 5,
        "follow_ups_due_today": 1,
        "complaints_open": 6,
        "complaints_late": 4,
    }


def test_recent_batches_newest_first_and_limited(archive):
    with archive.transaction() as cur:
        for i in range(7):
            add_batch(
                cur,
                f"f{i}.xlsx",
                status="undone" if i == 5 else "active",
                started_at=datetime(2024, 6, 1, 9, 0) + timedelta(hours=i),
                rows_read=10 + i,
                created=i,
                updated=1,
                rejected=10 - i - 1,
            )
        # same start time as f6: the later batch id comes first
        add_batch(cur, "tie.xlsx", started_at=datetime(2024, 6, 1, 15, 0))

    frame = stats.recent_batches(archive.cursor())
    assert list(frame.columns) == list(stats.RECENT_BATCH_COLUMNS)
    assert list(frame["file"]) == ["tie.xlsx", "f6.xlsx", "f5.xlsx", "f4.xlsx", "f3.xlsx"]
    assert list(frame["status"]) == ["active", "active", "undone", "active", "active"]
    row = frame[frame["file"] == "f4.xlsx"].iloc[0]
    assert (row["rows_read"], row["created"], row["updated"], row["rejected"]) == (14, 4, 1, 5)
    assert row["user_name"] == "测试员" and row["template"] == "T1" and row["sheet"] == "Sheet1"

    assert len(stats.recent_batches(archive.cursor(), limit=2)) == 2
    assert len(stats.recent_batches(archive.cursor(), limit=50)) == 8
    assert len(stats.recent_batches(archive.cursor(), limit=0)) == 0


def test_stats_see_only_committed_rows(archive):
    """A write in progress in another cursor does not show up in the counts."""
    with archive.transaction() as cur:
        add_customers(cur, 2)
    reader = archive.cursor()
    writer = archive.cursor()
    writer.execute("BEGIN TRANSACTION")
    writer.execute("INSERT INTO customers (customer_id, name) VALUES ('X1', '未提交')")
    assert stats.archive_stats(reader)["customers"] == 2
    writer.execute("ROLLBACK")
    assert stats.vital_signs(reader, TODAY)["customers"] == 2
