"""The follow-up queue on a million customers and two million follow-ups, against its own baseline.

    .venv/bin/python bench/bench_followups.py [ARCHIVE] [--customers 1000000] [--follow-ups 2000000] [--repeat 7]

ARCHIVE is reused when it already holds the customers (else seeded with crm.seed.seed_demo); the
follow-ups table is then topped up to --follow-ups rows by SQL (owners, due dates a year either
side of today, a third still open, like the seed's mix). Prints one JSON object.

Baseline, in the same run on the same table: one scan of follow_ups reading what the queue reads
(`SELECT owner, status, count(*), min(due), max(due) FROM follow_ups GROUP BY ALL`). Measured, the
calls the page makes: one sales user's queue (bucket counts + the first page of 50 in priority
order, masked), the same for the whole team as a lead sees it, the team lead's per-owner table
(one pass over follow_ups, plus the neglect count per owner over the customers), neglect's first
page. Round-robin timing, medians. Targets: queue and owner table ≤ 2 × the baseline; the page's
script run (AppTest, a lead, the day's classification computed) < 1 s.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crm import clock, segments  # noqa: E402
from crm.auth.personal import PersonalData, actor_for  # noqa: E402
from crm.db import open_archive, scalar  # noqa: E402
from crm.followups import neglect, reports  # noqa: E402
from crm.followups.queue import queue  # noqa: E402
from crm.seed import seed_demo  # noqa: E402

BASELINE_SQL = "SELECT owner, status, count(*), min(due), max(due) FROM follow_ups GROUP BY ALL"
TARGET_RATIO = 2.0


def top_up(archive: Any, rows: int, today: dt.date) -> int:
    cur = archive.cursor()
    try:
        have = int(scalar(cur, "SELECT count(*) FROM follow_ups") or 0)
        if have >= rows:
            return have
        with archive.transaction() as tx:
            tx.execute("""
                INSERT INTO follow_ups (customer_id, due, channel, content, goal, owner, status, origin, done_at, version)
                SELECT c.customer_id, $today + CAST((hash(r.i) % 730) AS INTEGER) - 365,
                       ['电话', '微信', '拜访', '邮件'][1 + CAST(hash(r.i + 1) % 4 AS BIGINT)], '定期回访',
                       ['达成合作', '增加订单', '解决问题'][1 + CAST(hash(r.i + 2) % 3 AS BIGINT)], c.owner,
                       CASE WHEN hash(r.i + 3) % 3 = 0 THEN '待跟进' WHEN hash(r.i + 3) % 9 = 1 THEN '已取消'
                            ELSE '已完成' END, 'bench', NULL, 0
                FROM range($n) r(i)
                JOIN (SELECT customer_id, owner, row_number() OVER () - 1 AS k FROM customers) c
                  ON c.k = CAST(hash(r.i) % $customers AS BIGINT)""",
                {"today": today, "n": rows - have, "customers": int(scalar(cur, "SELECT count(*) FROM customers"))})
            tx.execute("UPDATE follow_ups SET done_at = CAST(due AS TIMESTAMP) + to_days(CAST(hash(id) % 3 AS INTEGER) - 1) "
                       "WHERE origin = 'bench' AND status = '已完成'")
        return int(scalar(cur, "SELECT count(*) FROM follow_ups") or 0)
    finally:
        cur.close()


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def page_run(db: Path, user: str) -> float:
    """The 跟进队列 page's script run in AppTest (the second run of a session: the archive is open)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["CRM_DB"] = str(db)
    os.environ["CRM_USER"] = user
    os.environ["CRM_WARM_SEGMENTS"] = "0"
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/follow-ups.py")
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    assert not at.exception, at.exception
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", nargs="?")
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--follow-ups", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    today = clock.today()
    path = Path(args.archive) if args.archive else Path(tempfile.mkdtemp(prefix="bench_fu_")) / "crm.duckdb"
    archive = open_archive(path)
    cur = archive.cursor()
    customers = int(scalar(cur, "SELECT count(*) FROM customers") or 0)
    cur.close()
    seeded = None
    if customers < args.customers:
        started = time.perf_counter()
        seed_demo(archive, customers=args.customers, seed=7, today=today)
        seeded = round(time.perf_counter() - started, 1)
    follow_ups = top_up(archive, args.follow_ups, today)
    segments.segment_run(archive, today)  # the day's classification, as the warm-up leaves it
    sales = PersonalData(archive, actor_for(archive, "王磊"))
    lead = PersonalData(archive, actor_for(archive, "孙丽"))

    def baseline() -> None:
        c = archive.cursor()
        try:
            c.execute(BASELINE_SQL).fetchall()
        finally:
            c.close()

    def owner_table() -> None:
        c = archive.cursor()
        try:
            reports.owner_table(c, today)
        finally:
            c.close()

    work = {
        "baseline_scan": baseline,
        "queue_one_owner": lambda: queue(sales, today=today),
        "queue_team_as_lead": lambda: queue(lead, today=today),
        "owner_table": owner_table,
        "neglect_first_page": lambda: neglect.neglected(lead, today=today),
    }
    for fn in work.values():
        fn()  # warm
    times: dict[str, list[float]] = {k: [] for k in work}
    for _ in range(args.repeat):
        for name, fn in work.items():
            times[name].append(timed(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["baseline_scan"]
    archive.close()
    page = [page_run(path, "孙丽") for _ in range(3)]
    out = {
        "date": dt.date.today().isoformat(), "customers": max(customers, args.customers), "follow_ups": follow_ups,
        "seeded_seconds": seeded, "repeat": args.repeat,
        "median_ms": {k: round(v * 1000, 1) for k, v in med.items()},
        "ratio_to_baseline": {k: round(v / base, 2) for k, v in med.items() if k != "baseline_scan"},
        "target_ratio": TARGET_RATIO,
        "page_script_run_s": [round(p, 2) for p in page],
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
