"""Import speed: a 100,000-row T2 workbook, timed in one process against its own baselines.

    .venv/bin/python bench/bench_import.py [--rows 100000] [--big 1000000] [--repeat 3]

Prints one JSON object. Baselines, measured in the same run on the same file:
- pandas.read_excel(engine="openpyxl"): what a user would reach for;
- a raw python-calamine read of the sheet: the floor for any reader.
Then the full `crm import` (read, recognise, clean, link, dedup, write, commit) into
(a) an archive holding only the 10,000 customers the rows refer to, and (b) a seeded archive of
`--big` customers (about ten transactions each). Peak memory of an import is measured in a child
process running `python -m crm import` into (b), so earlier steps don't inflate it.
Targets: import ≤ 1.5 × the calamine read; peak RSS < 1 GB.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402
import pandas as pd  # noqa: E402
import python_calamine as pc  # noqa: E402

from crm.customers import activity  # noqa: E402
from crm.db import open_archive  # noqa: E402
from crm.imports.pipeline import import_path  # noqa: E402
from crm.seed import seed_demo  # noqa: E402

KINDS = ["购买"] * 8 + ["咨询", "续约", "退货"]


def build_workbook(path: Path, ids: list[tuple[str, str, str]], rows: int, seed: int = 7,
                   start: dt.date = dt.date(2024, 1, 1), days: int = 700) -> None:
    """A T2 sheet as users keep it: a title row, Chinese headers, real dates, numbers and some text forms;
    dates spread over `days` days from `start` (a month's sheet: the month's first day and 28)."""
    rng = random.Random(seed)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("客户关系管理记录表")
    ws.append(["客户关系管理记录及分析表"])
    ws.append(["客户编号", "客户名称", "联系方式", "交易类型", "购买时间", "金额(元)", "评价等级", "下次跟进日期", "备注"])
    for n in range(rows):
        cid, name, phone = ids[rng.randrange(len(ids))]
        kind = rng.choice(KINDS)
        day = start + dt.timedelta(days=rng.randrange(days))
        amount = round(rng.lognormvariate(7, 1.2), 2) * (-1 if kind == "退货" else 1)
        date_cell = day if n % 5 else day.strftime("%Y/%m/%d")  # every fifth date typed as text
        amount_cell = amount if n % 7 else f"¥{amount:,.2f}"
        ws.append([cid, name, phone if n % 3 == 0 else None, kind, date_cell, amount_cell,
                   rng.choice([None, 3, 4, 5, "五星"]), (day + dt.timedelta(days=30)) if n % 50 == 0 else None,
                   "批量导入" if n % 10 == 0 else None])
    ws.append(["合计"])
    wb.save(path)


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--big", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="crm-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, object] = {"date": dt.date.today().isoformat(), "rows": args.rows, "big_customers": args.big,
                                 "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}"}

    big_db = work / f"big_{args.big}.duckdb"
    if not big_db.exists():
        t0 = time.perf_counter()
        seed_demo(open_archive(big_db), customers=args.big, seed=1)
        result["seed_big_s"] = round(time.perf_counter() - t0, 1)
    big = open_archive(big_db)
    activity.ensure_current(big)  # an archive made by an older version: its activity summary, once
    cur = big.cursor()
    sample = cur.execute("SELECT customer_id, name, phone FROM customers USING SAMPLE 10000 ROWS (reservoir, 3)").fetchall()
    result["big_transactions"] = cur.execute("SELECT count(*) FROM transactions").fetchall()[0][0]
    cur.close()

    book = work / "t2_100k.xlsx"
    build_workbook(book, sample, args.rows)
    result["workbook_mb"] = round(book.stat().st_size / 1048576, 1)

    t_pandas, _ = timed(lambda: pd.read_excel(book, engine="openpyxl", header=1), 1)
    t_calamine, _ = timed(lambda: pc.CalamineWorkbook.from_path(str(book)).get_sheet_by_index(0).to_python(), args.repeat)

    def import_into_small() -> object:
        path = work / f"small_{time.perf_counter_ns()}.duckdb"
        arc = open_archive(path)
        with arc.transaction() as tx:
            tx.register("sample_rows", pd.DataFrame(sample, columns=["customer_id", "name", "phone"]))
            tx.execute("INSERT INTO customers (customer_id, name, phone) SELECT * FROM sample_rows")
        t0 = time.perf_counter()
        report = import_path(arc, book, user="bench")
        elapsed = time.perf_counter() - t0
        arc.close()
        path.unlink()
        return elapsed, report

    small_runs = [import_into_small() for _ in range(args.repeat)]
    t_small = statistics.median(r[0] for r in small_runs)
    small_report = small_runs[0][1].batches[0]

    def import_into_big() -> object:
        copy = work / "big_copy.duckdb"
        big.close()
        shutil.copy(big_db, copy)
        arc = open_archive(copy)
        t0 = time.perf_counter()
        report = import_path(arc, book, user="bench")
        elapsed = time.perf_counter() - t0
        arc.close()
        return elapsed, report

    big_runs = [import_into_big() for _ in range(max(1, args.repeat - 1))]
    t_big = statistics.median(r[0] for r in big_runs)
    big_report = big_runs[0][1].batches[0]

    # Peak memory of a real CLI import into the big archive, in its own process.
    copy = work / "big_copy.duckdb"
    shutil.copy(big_db, copy)
    # VmHWM, not getrusage's ru_maxrss: Linux keeps ru_maxrss across fork + exec, so the child
    # reported this process's own peak (2.3 GB after the pandas baseline) instead of its own.
    probe = (f"import runpy, sys; sys.argv=['crm','import',{str(book)!r},'--db',{str(copy)!r},'--user','bench'];"
             "\ntry:\n    runpy.run_module('crm', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('PEAK_KB', next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    peak_kb = int(next(line.split()[1] for line in out.stdout.splitlines() if line.startswith("PEAK_KB")))

    result.update({
        "pandas_openpyxl_s": round(t_pandas, 2),
        "calamine_raw_s": round(t_calamine, 2),
        "import_small_archive_s": round(t_small, 2),
        "import_big_archive_s": round(t_big, 2),
        "ratio_small_vs_calamine": round(t_small / t_calamine, 2),
        "ratio_big_vs_calamine": round(t_big / t_calamine, 2),
        "ratio_pandas_vs_calamine": round(t_pandas / t_calamine, 2),
        "peak_rss_mb_cli_import_big": round(peak_kb / 1024),
        "small_created": small_report.created, "small_rejected": len(small_report.rejected_rows),
        "big_created": big_report.created, "big_duplicates": big_report.duplicates,
        "targets_met": {"speed_small": t_small <= 1.5 * t_calamine, "speed_big": t_big <= 1.5 * t_calamine,
                        "memory": peak_kb / 1024 < 1024},
    })
    print(json.dumps(result, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
