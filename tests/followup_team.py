"""A small team and its follow-ups, known by construction, on a pinned day (Tuesday 2026-12-01).

The fixtures `pinned_day` and `team` are registered in tests/conftest.py."""
from __future__ import annotations

import datetime as dt
from typing import Iterator

from crm import clock, segments
from crm.auth.personal import Actor
from crm.db import Archive

TODAY = dt.date(2026, 12, 1)
SALES_WANG = Actor("王磊", "销售")
SALES_LI = Actor("李娜", "销售")
LEAD = Actor("孙丽", "主管")
MANAGER = Actor("周涛", "经理")
VIEWER = Actor("看客", "只读")


def d(days: int) -> dt.date:
    return TODAY + dt.timedelta(days=days)


def pinned_day_fixture() -> Iterator[dt.datetime]:
    with clock.pinned(dt.datetime(2026, 12, 1, 10, 0)) as moment:
        yield moment


def team_fixture(archive: Archive, pinned_day: dt.datetime) -> Archive:
    """Customers C1–C6 (C1 高价值 by its 60,000 purchase; C3 with an open complaint), follow-ups:
    王磊: F1 C2 5 days overdue · F2 C1 due in 3 days (high value) · F3 C3 due today · F4 C2 next month
    李娜: F5 C4 40 days overdue · F6 C5 a day overdue (紧急) · F7 C4 done on time 10 days ago ·
          F8 C5 done 2 days late (due 20 days ago)."""
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('王磊', '销售'), ('李娜', '销售'), ('孙丽', '主管'), "
                   "('周涛', '经理'), ('看客', '只读')")
        for cid, name, phone, owner, last in [
            ("C1", "张伟明", "13800000001", "王磊", d(-5)), ("C2", "李小红", "13800000002", "王磊", d(-10)),
            ("C3", "王芳", "13800000003", "王磊", d(-1)), ("C4", "赵四", "13800000004", "李娜", d(-200)),
            ("C5", "钱五", "13800000005", "李娜", d(-3)), ("C6", "孙六", "13800000006", "李娜", None),
        ]:
            tx.execute("INSERT INTO customers (customer_id, name, phone, owner, first_contact, last_interaction, "
                       "product_need) VALUES (?, ?, ?, ?, DATE '2024-01-01', ?, '设备')", [cid, name, phone, owner, last])
        tx.execute("INSERT INTO complaints (complaint_id, customer_id, date, kind, reason) VALUES ('K1', 'C3', ?, '服务', '态度')",
                   [d(-2)])
        rows = [
            ("F1", "C2", d(-5), "王磊", "待跟进", None, None),
            ("F2", "C1", d(3), "王磊", "待跟进", None, None),
            ("F3", "C3", d(0), "王磊", "待跟进", None, None),
            ("F4", "C2", d(30), "王磊", "待跟进", None, None),
            ("F5", "C4", d(-40), "李娜", "待跟进", None, None),
            ("F6", "C5", d(-1), "李娜", "待跟进", None, "紧急"),
            ("F7", "C4", d(-10), "李娜", "已完成", dt.datetime.combine(d(-10), dt.time(17)), None),
            ("F8", "C5", d(-20), "李娜", "已完成", dt.datetime.combine(d(-18), dt.time(9)), None),
        ]
        # the ids come from the archive's sequence, first used here: F1 is id 1 … F8 is id 8
        for n, (_, cid, due, owner, status, done_at, priority) in enumerate(rows, start=1):
            (got,), = tx.execute("INSERT INTO follow_ups (customer_id, due, owner, status, done_at, priority, content, "
                                 "channel, goal) VALUES (?, ?, ?, ?, ?, ?, ?, '电话', '解决问题') RETURNING id",
                                 [cid, due, owner, status, done_at, priority, f"任务F{n}"]).fetchall()
            assert got == n
        tx.execute("INSERT INTO transactions (customer_id, kind, date, amount) VALUES ('C1', '购买', ?, 60000), "
                   "('C2', '购买', ?, 100), ('C4', '购买', ?, 50)", [d(-30), d(-30), d(-300)])
    segments.segment_run(archive, TODAY)
    return archive
