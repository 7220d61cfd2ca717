"""A small archive whose home-page figures are known by construction.

Shared by the AppTest and browser tests of the home page (pytest.ini puts tests/ on the path).
Every figure differs from the others, so a tile showing the wrong count can't pass by accident.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path

from crm import clock
from crm.db import open_archive

# What the home page must show for build_known_archive(...), by its Chinese tile label.
KNOWN_TILES = {
    "客户总数": 6,
    "待跟进": 7,
    "已逾期": 3,
    "今日到期": 1,
    "未结投诉": 5,
    "超期投诉": 2,
}

KNOWN_BATCH_FILES = ("客户档案模板.xlsx", "投诉登记表.xlsx")


def build_known_archive(path: Path, today: date | None = None) -> dict[str, int]:
    """Create the archive at `path`, fill it by SQL, close it; returns KNOWN_TILES."""
    today = today or clock.today()
    d = lambda days: today + timedelta(days=days)  # noqa: E731
    archive = open_archive(path)
    try:
        with archive.transaction() as cur:
            for i, name in enumerate(["张三", "李四", "王五", "赵六", "钱七", "孙八"], start=1):
                cur.execute(
                    "INSERT INTO customers (customer_id, name, phone, region) VALUES (?, ?, ?, ?)",
                    [f"C{i:03d}", name, f"1380000000{i}", "华东"],
                )
            # open follow-ups: 3 overdue, 1 due today, 3 later -> 7 open; 2 done (not counted)
            follow_ups = [
                ("C001", d(-5), "待跟进"),
                ("C001", d(-1), "待跟进"),
                ("C002", d(-30), "待跟进"),
                ("C002", d(0), "待跟进"),
                ("C003", d(1), "待跟进"),
                ("C003", d(7), "待跟进"),
                ("C004", d(30), "待跟进"),
                ("C005", d(-3), "已完成"),
                ("C005", d(0), "已完成"),
            ]
            cur.executemany(
                "INSERT INTO follow_ups (customer_id, due, status) VALUES (?, ?, ?)", follow_ups
            )
            # complaints: 5 open (2 late), 1 resolved although late, 1 rejected
            complaints = [
                ("K1", "C001", True, d(-1), None),
                ("K2", "C002", True, d(-10), None),
                ("K3", "C003", True, d(3), None),
                ("K4", "C004", True, None, None),
                ("K5", "C005", True, d(0), None),
                ("K6", "C006", True, d(-20), d(-25)),
                ("K7", "C006", False, d(-20), None),
            ]
            cur.executemany(
                """INSERT INTO complaints
                   (complaint_id, customer_id, date, kind, reason, accepted, promised_by, resolved_on)
                   VALUES (?, ?, ?, '质量', '测试', ?, ?, ?)""",
                [(k, c, d(-40), acc, prom, res) for k, c, acc, prom, res in complaints],
            )
            started = datetime.combine(today, datetime.min.time()) - timedelta(days=1)
            cur.execute(
                """INSERT INTO import_batches
                   (batch_id, file, sheet, template, user_name, started_at, rows_read, created, updated, rejected)
                   VALUES (nextval('batch_id_seq'), ?, 'Sheet1', 'T1', '王经理', ?, 8, 6, 0, 2)""",
                [KNOWN_BATCH_FILES[0], started],
            )
            cur.execute(
                """INSERT INTO import_batches
                   (batch_id, file, sheet, template, user_name, started_at, rows_read, created, updated, rejected)
                   VALUES (nextval('batch_id_seq'), ?, '投诉', 'T6', '李主管', ?, 7, 7, 0, 0)""",
                [KNOWN_BATCH_FILES[1], started + timedelta(hours=2)],
            )
    finally:
        archive.close()
    return dict(KNOWN_TILES)
