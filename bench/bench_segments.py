"""客户分类 at a million customers: engine time against its baseline, the page's script run, app memory.

    .venv/bin/python bench/bench_segments.py --workdir DIR [--repeat 5] [--skip-memory]

DIR/big_1000000.duckdb is reused when present, otherwise seeded with
crm.seed.seed_demo(archive, customers=1_000_000, seed=1) (a few minutes); DIR/big_10000.duckdb the
same with 10,000 customers, for the memory comparison. Prints one JSON object.

Measured in one run:
1. Engine. Round-robin (so a burst of load on a shared machine hits both alike), `repeat` times:
   - baseline: one `GROUP BY customer_id` aggregate over the transactions table — the per-customer
     summary (count, sum of amounts, first and last date), read to its end;
   - segments: crm.segments.compute_run — every segment of every customer as of D, computed in
     DuckDB from the dated records and stored as a run (what the page caches); its steps are
     reported too (facts = the aggregate over transactions, interactions and complaints joined to
     the customers; cuts = the archive-wide figures the rules rank against; store = writing the run);
   - floor: the 12-month net revenue of every customer (window rows summed per customer, joined
     to the customers) — one figure of one rule, the least any classification must do.
   Target: segments (classification, i.e. facts + cuts, and also with store) ≤ 3 × baseline.
   With --date-ordered the same again on a copy whose records are stored in date order, as an
   archive built by monthly imports holds them (the seed writes them customer by customer).
2. The page's script run (AppTest, the real app.py switched to pages/segments.py, as of D):
   cold (no cached run: the page computes it), then warm (a fresh session, runs cached in the
   archive), a rerun in the same session, a filter change, and the other tabs; then the page's
   runs warmed as the app does in the background after an import or a restart
   (crm.segments.warm, timed) and the first visit of each tab after it. Target: < 3 s.
   The app's background warmer is switched off (CRM_WARM_SEGMENTS=0) for the cold figures and
   the memory measurement, so that they measure what they say.
3. App memory: `streamlit run app.py` on each archive, /segments opened in headless Chromium (the
   distribution tab, then 客户迁移 and 分析报表, then a drill-down), as a first visit with no cached
   run (the page computes its runs) and as a second visit; the server's RSS after each and its peak
   (VmHWM). Target: RSS at 1,000,000 ≤ 1.5 × RSS at 10,000.
D is the day the archive was seeded (its `seed` audit row), so the data are as fresh as at seeding.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from crm import segments as S  # noqa: E402
from crm.db import open_archive, scalar  # noqa: E402
from crm.seed import seed_demo  # noqa: E402

BASELINE_SQL = """
SELECT count(*), sum(n), sum(s), min(a), max(b) FROM (
    SELECT customer_id, count(*) AS n, sum(amount) AS s, min(date) AS a, max(date) AS b
    FROM transactions GROUP BY customer_id)"""
# The floor: one figure the value rule needs (12-month net revenue) for every customer, i.e. the
# purchases and returns of the window summed per customer and joined to the customers — no other
# figure, no rule, no cut. Whatever computes the segments does at least this.
FLOOR_SQL = """
SELECT count(*), sum(rev) FROM (
    SELECT c.customer_id, coalesce(w.rev, 0) AS rev FROM customers c LEFT JOIN (
        SELECT customer_id, sum(CASE WHEN kind = '退货' THEN -abs(amount) ELSE amount END) AS rev
        FROM transactions WHERE date > ? AND date <= ? AND kind IN ('购买', '续约', '退货') GROUP BY customer_id) w
    ON w.customer_id = c.customer_id)"""
TARGET_RATIO = 3.0
TARGET_PAGE_SECONDS = 3.0
TARGET_MEMORY_RATIO = 1.5


def ensure_archive(path: Path, customers: int) -> tuple[float | None, dt.date]:
    """Seed `path` unless it already holds customers; returns (seed seconds or None, the seed's today)."""
    archive = open_archive(path)
    cur = archive.cursor()
    try:
        have = int(scalar(cur, "SELECT count(*) FROM customers"))
        seconds = None
        if have == 0:
            t0 = time.perf_counter()
            seed_demo(archive, customers=customers, seed=1, user="bench")
            seconds = round(time.perf_counter() - t0, 1)
        detail = scalar(cur, "SELECT detail FROM audit_log WHERE action = 'seed' ORDER BY id DESC LIMIT 1")
        today = dt.date.fromisoformat(json.loads(detail)["today"]) if detail else dt.date.today()
    finally:
        cur.close()
    archive.close()
    return seconds, today


def bench_engine(path: Path, D: dt.date, repeat: int) -> dict:
    archive = open_archive(path)
    cur = archive.cursor()
    counts = {t: int(scalar(cur, f"SELECT count(*) FROM {t}")) for t in ("customers", "transactions", "interactions",
                                                                           "complaints", "customer_tags")}

    def baseline() -> None:
        cur.execute(BASELINE_SQL).fetchall()

    steps: list[dict[str, float]] = []

    def segments() -> None:
        timings: dict[str, float] = {}
        S.compute_run(archive, D, timings=timings)
        steps.append(timings)

    def version() -> None:
        S.data_version(archive)

    def floor() -> None:
        cur.execute(FLOOR_SQL, [S.months_before(D, 12), D]).fetchall()

    baseline()
    segments()  # warm-up: caches, and a stored run for the later phases
    steps.clear()
    times: dict[str, list[float]] = {"baseline": [], "segments": [], "data_version": [], "floor": []}
    for _ in range(repeat):
        for name, fn in (("baseline", baseline), ("segments", segments), ("data_version", version), ("floor", floor)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    step_med = {k: statistics.median(s[k] for s in steps) for k in ("facts", "cuts", "store", "total")}
    classify = step_med["facts"] + step_med["cuts"]
    run = S.segment_run(archive, D)
    cur.close()
    archive.close()
    return {
        "rows": counts,
        "baseline_group_by_customer_s": round(med["baseline"], 3),
        "segments_compute_and_store_s": round(med["segments"], 3),
        "segments_steps_s": {k: round(v, 3) for k, v in step_med.items()},
        "segments_classification_s": round(classify, 3),
        "ratio_classification_to_baseline": round(classify / med["baseline"], 2),
        "ratio_compute_and_store_to_baseline": round(med["segments"] / med["baseline"], 2),
        "data_version_s": round(med["data_version"], 3),
        "floor_window_revenue_joined_s": round(med["floor"], 3),
        "ratio_floor_to_baseline": round(med["floor"] / med["baseline"], 2),
        "target_ratio": TARGET_RATIO,
        "runs": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "run_customers": run.customers,
    }


def bench_page(path: Path, D: dt.date) -> dict:
    """The page's script run under AppTest, in this process (it opens the same archive object)."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["CRM_DB"] = str(path)
    os.environ.pop("CRM_USER", None)
    os.environ[S.WARM_SWITCH] = "0"  # cold means cold: the app's background warmer is measured below, on its own
    archive = open_archive(path)
    S.clear_cache(archive)

    def session(**state) -> AppTest:
        st.cache_data.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=600)
        at.run()
        at.switch_page("pages/segments.py")
        at.session_state["seg_as_of"] = D
        for k, v in state.items():
            at.session_state[k] = v
        return at

    def timed(at: AppTest) -> float:
        t0 = time.perf_counter()
        at.run()
        elapsed = time.perf_counter() - t0
        assert not at.exception, at.exception
        return round(elapsed, 3)

    out: dict[str, float] = {}
    at = session()
    out["cold_first_visit_s"] = timed(at)  # computes the run as of D
    at = session()
    out["warm_first_visit_s"] = timed(at)  # a new session; the run is cached in the archive
    out["rerun_same_session_s"] = timed(at)
    at.selectbox(key="seg_f_region").set_value("广东")
    out["filter_region_s"] = timed(at)
    at.selectbox(key="seg_f_tag").set_value("VIP")
    out["filter_region_and_tag_s"] = timed(at)
    for tab in ("RFM 分群", "标签组合", "客户迁移", "分析报表"):
        at = session(seg_tab=tab)
        out[f"tab_{tab}_first_s"] = timed(at)  # 客户迁移 / 分析报表 compute their other dates once
        at = session(seg_tab=tab)
        out[f"tab_{tab}_warm_s"] = timed(at)
    for months in (3, 12):  # the growth table over a longer period: its own boundaries, same run
        at = session(seg_tab="分析报表", seg_growth_months=months)
        out[f"tab_分析报表_{months}_months_first_s"] = timed(at)
    at = session(seg_drill={"kind": "value", "labels": ["高价值"], "title": "客户价值：高价值",
                            "source": "seg_chart_value", "before": None})
    out["drill_down_list_s"] = timed(at)
    # What a manager meets after an import or a restart: the app warms the page's runs in the
    # background (crm.segments.warm_in_background); timed here in the foreground, then the visits.
    S.clear_cache(archive)
    t0 = time.perf_counter()
    S.warm(archive, D)
    out["warm_up_page_dates_s"] = round(time.perf_counter() - t0, 3)
    for tab in ("分布", "客户迁移", "分析报表"):
        at = session(seg_tab=tab) if tab != "分布" else session()
        out[f"after_warm_up_{tab}_first_s"] = timed(at)
    archive.close()
    st.cache_resource.clear()
    warm = [v for k, v in out.items() if k not in ("cold_first_visit_s", "warm_up_page_dates_s")
            and (not k.endswith("_first_s") or k.startswith("after_warm_up_"))]
    out["max_warm_s"] = max(warm)
    out["target_s"] = TARGET_PAGE_SECONDS
    return out


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0]) // 1024  # MiB
    return out


def bench_memory(path: Path, workdir: Path) -> dict:
    """Start the app on `path`, visit /segments twice in Chromium, report the server's memory (MiB)."""
    from browser.helpers import free_port, wait_for_app, wait_for_health
    from playwright.sync_api import sync_playwright

    archive = open_archive(path)
    S.clear_cache(archive)  # the first visit computes its runs, as after an import
    archive.close()
    port = free_port()
    log = workdir / f"streamlit-{path.stem}.log"
    env = dict(os.environ, CRM_DB=str(path), STREAMLIT_BROWSER_GATHER_USAGE_STATS="false", CRM_WARM_SEGMENTS="0")
    env.pop("CRM_USER", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1", "--server.fileWatcherType", "none", "--client.toolbarMode", "minimal"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    result: dict[str, object] = {}
    try:
        wait_for_health(url, proc, log, timeout=120)
        result["after_start"] = _status(proc.pid)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=os.environ.get("CRM_TEST_CHROMIUM", "/usr/bin/chromium"),
                                         headless=True, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            for visit in ("first_visit", "second_visit"):
                context = browser.new_context(viewport={"width": 1440, "height": 1200}, locale="zh-CN")
                page = context.new_page()
                page.set_default_timeout(600_000)
                t0 = time.perf_counter()
                page.goto(f"{url}/segments")
                wait_for_app(page, timeout=600_000)
                for tab in ("客户迁移", "分析报表"):
                    page.get_by_role("tab", name=tab).click()
                    wait_for_app(page, timeout=600_000, settle_ms=300)
                page.get_by_role("tab", name="分类分布").click()
                wait_for_app(page, timeout=600_000, settle_ms=300)
                bar = page.locator(".st-key-seg_chart_value g.trace.bars").first.locator("g.point path").last
                bar.scroll_into_view_if_needed()
                box = bar.bounding_box()
                if box:
                    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
                    wait_for_app(page, timeout=600_000, settle_ms=500)
                result[f"{visit}_s"] = round(time.perf_counter() - t0, 1)
                time.sleep(2)
                result[visit] = _status(proc.pid)
                context.close()
            browser.close()
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)
    return result


def date_ordered_copy(path: Path) -> Path:
    """A copy of `path` whose transactions and interactions are stored in date order.

    The seed writes each customer's records together, so a GROUP BY customer finds a customer's
    rows side by side; an archive built by monthly imports holds them in the order they happened,
    spread across the file. Same rows, same answers: only the physical order differs. Made once.
    """
    copy = path.with_name(path.stem + "_by_date.duckdb")
    if copy.exists():
        return copy
    partial = copy.with_suffix(".partial")
    shutil.copy(path, partial)
    archive = open_archive(partial)
    with archive.transaction() as tx:
        for table in ("transactions", "interactions"):
            tx.execute(f"CREATE TEMP TABLE ordered AS SELECT * FROM {table} ORDER BY date, id")
            tx.execute(f"DELETE FROM {table}")
            tx.execute(f"INSERT INTO {table} SELECT * FROM ordered")
            tx.execute("DROP TABLE ordered")
    S.clear_cache(archive)
    cur = archive.cursor()
    cur.execute("CHECKPOINT")
    cur.close()
    archive.close()
    partial.rename(copy)
    return copy


def _stop(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # so the finally blocks stop the app servers this run started


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default="/tmp/crm-bench", help="where the archives are kept (reused)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each engine measurement")
    parser.add_argument("--skip-memory", action="store_true", help="leave out the app-memory measurement")
    parser.add_argument("--skip-page", action="store_true", help="leave out the AppTest measurement")
    parser.add_argument("--skip-engine", action="store_true", help="leave out the engine measurement")
    parser.add_argument("--date-ordered", action="store_true",
                        help="also measure the engine on a copy with the records stored in date order")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    big, small = workdir / "big_1000000.duckdb", workdir / "big_10000.duckdb"
    seed_big, D = ensure_archive(big, 1_000_000)
    seed_small, D_small = ensure_archive(small, 10_000)
    report: dict[str, object] = {
        "benchmark": "segments", "as_of": D.isoformat(), "archive": str(big), "seed_seconds": seed_big,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "duckdb_threads": os.environ.get("CRM_DB_THREADS", str(min(os.cpu_count() or 2, 4))),
                    "duckdb_memory_limit": os.environ.get("CRM_DB_MEMORY_LIMIT", "1GB"),
                    "load_average": os.getloadavg()},
    }
    if not args.skip_engine:
        report["engine"] = bench_engine(big, D, max(args.repeat, 3))
    if args.date_ordered:
        report["engine_date_ordered"] = bench_engine(date_ordered_copy(big), D, max(args.repeat, 3))
    if not args.skip_page:
        report["page_apptest"] = bench_page(big, D)
    if not args.skip_memory:
        mem_small = bench_memory(small, workdir)
        mem_big = bench_memory(big, workdir)
        ratio = {visit: round(mem_big[visit]["VmRSS"] / mem_small[visit]["VmRSS"], 2)
                 for visit in ("first_visit", "second_visit")}
        report["app_memory_mib"] = {
            "customers_10000": mem_small, "customers_1000000": mem_big,
            "rss_ratio": ratio,
            "peak_ratio": round(mem_big["second_visit"]["VmHWM"] / mem_small["second_visit"]["VmHWM"], 2),
            "target_ratio": TARGET_MEMORY_RATIO,
        }
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
