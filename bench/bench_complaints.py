"""The complaint analysis on 500,000 complaints and 1,000,000 survey responses, against its own baseline.

    .venv/bin/python bench/bench_complaints.py [ARCHIVE] [--customers 200000] [--complaints 500000] [--surveys 1000000]

ARCHIVE is reused when it already holds the rows; otherwise the customers are seeded
(crm.seed.seed_demo) and complaints and surveys are added by SQL, then given their stages and
policy deadlines the way imports do (crm.complaints.handling.adopt_complaints). Prints one JSON object.

Baseline, in the same run: one scan of the complaints table reading what the analysis reads
(`SELECT kind, department, count(*), sum(loss), min(date), max(resolved_on) FROM complaints GROUP BY ALL`).
Measured: each query the 投诉分析 view runs (overview, a dimension's counts, the monthly trend, the
Pareto, the deadline table, time to resolve, breach rate, losses, repeat complainers), the
satisfaction statistics, and the two views' script runs in AppTest. Targets: the analysis view's
script run < 2 s; each query ≤ 2 × the baseline.
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

from crm import clock  # noqa: E402
from crm.auth.personal import PersonalData, actor_for  # noqa: E402
from crm.complaints import analysis as A  # noqa: E402
from crm.complaints.handling import adopt_complaints  # noqa: E402
from crm.db import open_archive, scalar  # noqa: E402
from crm.seed import seed_demo  # noqa: E402
from crm.settings import complaint_settings  # noqa: E402
from crm.surveys import analysis as SV  # noqa: E402

BASELINE_SQL = "SELECT kind, department, count(*), sum(loss), min(date), max(resolved_on) FROM complaints GROUP BY ALL"


def fill(archive: Any, complaints: int, surveys: int, today: dt.date) -> tuple[int, int]:
    cur = archive.cursor()
    try:
        n_customers = int(scalar(cur, "SELECT count(*) FROM customers"))
        have = int(scalar(cur, "SELECT count(*) FROM complaints"))
        if have < complaints:
            with archive.transaction() as tx:
                tx.execute("""
                    INSERT INTO complaints (complaint_id, customer_id, date, kind, reason, accepted, urgency, promised_by,
                                            resolved_on, department, resolution, loss, root_cause, satisfaction, handler)
                    SELECT 'B' || lpad(CAST(r.i AS VARCHAR), 9, '0'), c.customer_id,
                           $today - CAST(hash(r.i) % 700 AS INTEGER), ['商品', '服务', '其他'][1 + CAST(hash(r.i + 1) % 3 AS BIGINT)],
                           '批量测试', hash(r.i + 2) % 20 <> 0, ['特急', '急', '一般'][1 + CAST(hash(r.i + 3) % 3 AS BIGINT)],
                           $today - CAST(hash(r.i) % 700 AS INTEGER) + CAST(hash(r.i + 4) % 10 AS INTEGER),
                           CASE WHEN hash(r.i + 5) % 5 <> 0
                                THEN $today - CAST(hash(r.i) % 700 AS INTEGER) + CAST(hash(r.i + 6) % 14 AS INTEGER) END,
                           ['售后部', '客服部', '仓储部', '质检部', '物流部'][1 + CAST(hash(r.i + 7) % 5 AS BIGINT)],
                           ['退货', '换货', '折扣', '维修', '道歉'][1 + CAST(hash(r.i + 8) % 5 AS BIGINT)],
                           CAST(hash(r.i + 9) % 2000 AS DECIMAL(18,2)),
                           ['产品质量', '交付延误', '服务态度', '价格争议', '包装破损'][1 + CAST(hash(r.i + 10) % 5 AS BIGINT)],
                           CASE WHEN hash(r.i + 11) % 2 = 0 THEN 1 + CAST(hash(r.i + 12) % 5 AS INTEGER) END,
                           ['张敏', '李娜', '王磊', '赵强'][1 + CAST(hash(r.i + 13) % 4 AS BIGINT)]
                    FROM range($n) r(i)
                    JOIN (SELECT customer_id, row_number() OVER () - 1 AS k FROM customers) c
                      ON c.k = CAST(hash(r.i) % $customers AS BIGINT)""",
                    {"n": complaints - have, "today": today, "customers": n_customers})
                tx.execute("UPDATE complaints SET resolved_on = NULL WHERE resolved_on > ?", [today])
                adopt_complaints(tx, "bench", clock.now(), today)
        have_s = int(scalar(cur, "SELECT count(*) FROM surveys"))
        if have_s < surveys:
            with archive.transaction() as tx:
                tx.execute("""
                    INSERT INTO surveys (customer_id, date, service_quality, service_attitude, efficiency, professionalism,
                                         product_quality, packaging)
                    SELECT c.customer_id, $today - CAST(hash(r.i) % 700 AS INTEGER),
                           1 + CAST(hash(r.i + 1) % 5 AS INTEGER), 1 + CAST(hash(r.i + 2) % 5 AS INTEGER),
                           1 + CAST(hash(r.i + 3) % 5 AS INTEGER), 1 + CAST(hash(r.i + 4) % 5 AS INTEGER),
                           1 + CAST(hash(r.i + 5) % 5 AS INTEGER), 1 + CAST(hash(r.i + 6) % 5 AS INTEGER)
                    FROM range($n) r(i)
                    JOIN (SELECT customer_id, row_number() OVER () - 1 AS k FROM customers) c
                      ON c.k = CAST(hash(r.i) % $customers AS BIGINT)""",
                    {"n": surveys - have_s, "today": today, "customers": n_customers})
        return int(scalar(cur, "SELECT count(*) FROM complaints")), int(scalar(cur, "SELECT count(*) FROM surveys"))
    finally:
        cur.close()


def page_run(db: Path, view: str) -> float:
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ.update(CRM_DB=str(db), CRM_USER="周涛", CRM_WARM_SEGMENTS="0")
    st.cache_resource.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.switch_page("pages/complaints.py")
    at.session_state["cp_view"] = view
    at.run()
    started = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - started
    assert not at.exception, at.exception
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("archive", nargs="?")
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--complaints", type=int, default=500_000)
    parser.add_argument("--surveys", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    today = clock.today()
    path = Path(args.archive) if args.archive else Path(tempfile.mkdtemp(prefix="bench_cp_")) / "crm.duckdb"
    archive = open_archive(path)
    cur = archive.cursor()
    customers = int(scalar(cur, "SELECT count(*) FROM customers") or 0)
    cur.close()
    if customers < args.customers:
        seed_demo(archive, customers=args.customers, seed=9, today=today)
    complaints, surveys = fill(archive, args.complaints, args.surveys, today)
    reader = PersonalData(archive, actor_for(archive, "周涛"))
    settings = complaint_settings(archive)
    f = A.ComplaintFilters(start=today - dt.timedelta(days=365), end=today)

    def baseline() -> None:
        c = archive.cursor()
        try:
            c.execute(BASELINE_SQL).fetchall()
        finally:
            c.close()

    work: dict[str, Callable[[], Any]] = {
        "baseline_scan": baseline,
        "overview": lambda: A.overview(archive, f, today),
        "counts_by_kind": lambda: A.counts_by(archive, "kind", f, today),
        "monthly_trend": lambda: A.monthly_trend(archive, f, today),
        "pareto": lambda: A.pareto(archive, "count", f, today),
        "deadline_table": lambda: A.deadline_table(archive, f, today),
        "resolution_day_bands": lambda: A.resolution_day_bands(archive, f, today),
        "breach_rate": lambda: A.breach_rate_by(archive, "department", f, today),
        "losses": lambda: A.losses(archive, f, today),
        "repeat_complainers": lambda: A.repeat_complainers(reader, settings, f, today),
        "satisfaction_stats": lambda: SV.dimension_stats(archive, settings, today - dt.timedelta(days=365), today),
    }
    for fn in work.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in work}
    for _ in range(args.repeat):
        for name, fn in work.items():
            started = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - started)
    med = {k: statistics.median(v) for k, v in times.items()}
    base = med["baseline_scan"]
    archive.close()
    out = {
        "date": clock.today().isoformat(), "customers": max(customers, args.customers), "complaints": complaints,
        "surveys": surveys, "median_ms": {k: round(v * 1000, 1) for k, v in med.items()},
        "ratio_to_baseline": {k: round(v / base, 2) for k, v in med.items() if k != "baseline_scan"},
        "page_script_run_s": {view: round(page_run(path, view), 2) for view in ("投诉分析", "满意度", "投诉处理")},
    }
    print(json.dumps(out, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
