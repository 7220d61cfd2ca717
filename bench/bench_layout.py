"""The 客户360 profile on an archive laid out as monthly imports lay it out, and what keeping it in
customer order (crm.clustering) costs.

    .venv/bin/python bench/bench_layout.py [ARCHIVE] [--runs 20] [--repeat 2] [--workdir DIR]

ARCHIVE (default /tmp/crm-bench-profile/profile_1m.duckdb, seeded with 1,000,000 customers when
empty: the seed stores records in date order, as imports do) is never changed; the work is done on
copies in --workdir. In one run:
1. the profile (`load_profile`, every section of the page) for one customer with 200 transactions
   and for 20 random customers, on the date-ordered copy;
2. `cluster_records` on a second copy: seconds, file size and DuckDB's used/free blocks before and
   after; the profile again;
3. a 100,000-row T2 workbook (bench_import.build_workbook) imported into a fresh copy of each
   layout, round-robin, with a raw python-calamine read of it as the baseline: the import must not
   be more than 10 % slower on the clustered layout; and a sheet of the next month's records
   (what a team imports every month) into the clustered layout;
4. the profile once more after that import (its rows are the unclustered tail), and a second
   `cluster_records` (steady state: the file should not grow again).
Prints one JSON object. Targets: profile median < 50 ms; import ≤ 1.10 × the date-ordered one;
file ≤ 1.20 × the date-ordered one.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import python_calamine as pc  # noqa: E402
from bench_import import build_workbook  # noqa: E402
from bench_profile import pick_customer, summary, timed, top_up  # noqa: E402

from crm import clustering  # noqa: E402
from crm.auth.personal import Actor, PersonalData  # noqa: E402
from crm.customers.profile import load_profile  # noqa: E402
from crm.db import close_all, open_archive, scalar  # noqa: E402
from crm.imports.pipeline import import_path  # noqa: E402
from crm.seed import seed_demo  # noqa: E402
from crm.vocabulary import ADMIN  # noqa: E402

DEFAULT_PATH = Path("/tmp/crm-bench-profile/profile_1m.duckdb")


def blocks(archive) -> dict[str, int]:
    cur = archive.cursor()
    try:
        row = cur.execute("SELECT total_blocks, used_blocks, free_blocks FROM pragma_database_size()").fetchone()
    finally:
        cur.close()
    return {"file_mb": round(archive.path.stat().st_size / 1e6, 1), "total_blocks": int(row[0]),
            "used_blocks": int(row[1]), "free_blocks": int(row[2])}


def profile_times(archive, customer_id: str, sample: list[str], runs: int) -> dict[str, object]:
    admin = PersonalData(archive, Actor("bench", ADMIN))
    out: dict[str, object] = {"one_customer": summary(timed(admin, customer_id, runs))}
    first = []
    for cid in sample:
        t0 = time.perf_counter()
        load_profile(admin, cid)
        first.append((time.perf_counter() - t0) * 1000)
    out["random_customers_first_load"] = summary(first)
    return out


def fresh_copy(source: Path, target: Path):
    close_all()
    shutil.copy(source, target)
    return open_archive(target)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("archive", nargs="?", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--customers", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=2, help="imports into each layout (round-robin)")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/crm-bench-layout"))
    args = ap.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {"date": dt.date.today().isoformat(), "archive": str(args.archive),
                                 "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
                                 "load_average": os.getloadavg()[0]}

    source = open_archive(args.archive)
    cur = source.cursor()
    if not scalar(cur, "SELECT count(*) FROM customers"):
        cur.close()
        seed_demo(source, customers=args.customers, seed=1)
        cur = source.cursor()
    customer_id = pick_customer(cur)
    sample = [r[0] for r in cur.execute(
        "SELECT customer_id FROM customers USING SAMPLE 20 ROWS (reservoir, 11)").fetchall()]
    ids = cur.execute("SELECT customer_id, name, phone FROM customers USING SAMPLE 10000 ROWS (reservoir, 3)").fetchall()
    result["transactions"] = int(scalar(cur, "SELECT count(*) FROM transactions"))
    cur.close()
    top_up(source, customer_id, 200)
    close_all()

    by_date_path, clustered_path = work / "by_date.duckdb", work / "clustered.duckdb"
    by_date = fresh_copy(args.archive, by_date_path)
    result["date_ordered"] = {"file": blocks(by_date), "profile": profile_times(by_date, customer_id, sample, args.runs)}

    clustered = fresh_copy(args.archive, clustered_path)
    report = clustering.cluster_records(clustered)
    close_all()
    clustered = open_archive(clustered_path)
    result["clustering"] = {"seconds": report.seconds, "rows": report.rewritten}
    result["clustered"] = {"file": blocks(clustered), "profile": profile_times(clustered, customer_id, sample, args.runs)}
    close_all()

    book = work / "t2_100k.xlsx"
    if not book.exists():
        build_workbook(book, ids, 100_000)
    calamine = []
    imports: dict[str, list[float]] = {"date_ordered": [], "clustered": []}
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pc.CalamineWorkbook.from_path(str(book)).get_sheet_by_index(0).to_python()
        calamine.append(time.perf_counter() - t0)
        for layout, path in (("date_ordered", by_date_path), ("clustered", clustered_path)):
            target = work / f"import_{layout}.duckdb"
            archive = fresh_copy(path, target)
            t0 = time.perf_counter()
            import_path(archive, book, user="bench")
            imports[layout].append(time.perf_counter() - t0)
    # A month's sheet as a team imports it every month: the next month's records, which no
    # customer has yet (the duplicate check then reads none of the table)
    cur = open_archive(clustered_path).cursor()
    newest = scalar(cur, "SELECT max(date) FROM transactions")
    cur.close()
    close_all()
    month_book = work / "t2_100k_next_month.xlsx"
    first = (newest.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    build_workbook(month_book, ids, 100_000, start=first, days=28)
    month_runs, month_calamine = [], []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        pc.CalamineWorkbook.from_path(str(month_book)).get_sheet_by_index(0).to_python()
        month_calamine.append(time.perf_counter() - t0)
        archive = fresh_copy(clustered_path, work / "import_month.duckdb")
        t0 = time.perf_counter()
        import_path(archive, month_book, user="bench")
        month_runs.append(time.perf_counter() - t0)
    result["import_t2_100k_next_month_into_clustered"] = {
        "calamine_read_s": round(statistics.median(month_calamine), 2), "import_s": round(statistics.median(month_runs), 2),
        "vs_calamine": round(statistics.median(month_runs) / statistics.median(month_calamine), 2)}
    t_cal = statistics.median(calamine)
    t_by_date, t_clustered = statistics.median(imports["date_ordered"]), statistics.median(imports["clustered"])
    result["import_t2_100k"] = {
        "calamine_read_s": round(t_cal, 2), "into_date_ordered_s": round(t_by_date, 2),
        "into_clustered_s": round(t_clustered, 2), "clustered_vs_date_ordered": round(t_clustered / t_by_date, 3),
        "date_ordered_vs_calamine": round(t_by_date / t_cal, 2), "clustered_vs_calamine": round(t_clustered / t_cal, 2),
        "runs": {k: [round(x, 2) for x in v] for k, v in imports.items()}}

    after = open_archive(work / "import_clustered.duckdb")  # the clustered copy after the import: a tail
    result["clustered_after_import"] = {"tail_rows": clustering.unclustered_rows(after.cursor()),
                                        "profile": profile_times(after, customer_id, sample, args.runs)}
    again = clustering.cluster_records(after)
    result["second_clustering"] = {"seconds": again.seconds, "rows": again.rewritten, "file": blocks(after)}
    close_all()

    d, c = result["date_ordered"], result["clustered"]
    median = c["profile"]["one_customer"]["median_ms"]  # type: ignore[index]
    file_ratio = c["file"]["file_mb"] / d["file"]["file_mb"]  # type: ignore[index]
    result["file_clustered_vs_date_ordered"] = round(file_ratio, 3)
    result["targets_met"] = {"profile_under_50ms": median < 50,
                             "import_at_most_10pct_slower": t_clustered <= 1.10 * t_by_date,
                             "file_at_most_20pct_larger": file_ratio <= 1.20}
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
