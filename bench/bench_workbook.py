"""A whole workbook from the command line, as a scheduled job runs it.

    .venv/bin/python bench/bench_workbook.py [--customers 25000] [--rows 100000] [--repeat 3] [--workdir DIR]

One .xlsx with a 客户档案 sheet of `--customers` new customers (Chinese names, phones, e-mails,
regions, owners, tags) and a 客户关系管理记录表 sheet of `--rows` records about them. Timed as whole
processes, round-robin, medians of `--repeat`:
- the baseline: `python -c` that imports python_calamine and reads both sheets (`to_python()`);
- `python -m crm import BOOK --db ARCHIVE --user bench` into an empty archive made beforehand (the real job).
Also, in this process: the pinyin keys of the new names (crm.customers.search_keys) and the time
`python -c "import crm.cli, crm.imports.run"` takes (module imports). Prints one JSON object.
Target: the import ≤ 1.5 × the baseline.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国志强文博宇浩然子涵欣怡梓萱一诺思远嘉豪俊杰雨桐晨曦诗涵"
REGIONS = ["北京市", "上海市", "广东省", "浙江省", "江苏省", "四川省", "湖北省", "山东省"]
OWNERS = ["王磊", "李娜", "张伟", "刘洋"]
KINDS = ["购买"] * 8 + ["咨询", "续约", "退货"]


def build_book(path: Path, customers: int, rows: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    wb = openpyxl.Workbook(write_only=True)
    t1 = wb.create_sheet("客户档案")
    t1.append(["客户编号", "客户姓名", "性别", "联系电话", "电子邮箱", "地区", "客户来源", "负责人", "标签", "首次接触日期"])
    ids = []
    for i in range(customers):
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        cid = f"K{2025_0000_0 + i}"
        phone = f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"
        ids.append((cid, name))
        t1.append([cid, name, rng.choice(["男", "女", None]), phone, f"u{i}@example.com" if i % 4 == 0 else None,
                   rng.choice(REGIONS), rng.choice(["线上", "展会", "转介绍", None]), rng.choice(OWNERS),
                   rng.choice([None, "制造业-高价值", "零售", "VIP"]), dt.date(2024, 1, 1) + dt.timedelta(days=rng.randrange(600))])
    t2 = wb.create_sheet("客户关系管理记录表")
    t2.append(["客户编号", "客户名称", "交易类型", "购买时间", "金额(元)", "评价等级", "备注"])
    start = dt.date(2024, 1, 1)
    for n in range(rows):
        cid, name = ids[rng.randrange(len(ids))]
        kind = rng.choice(KINDS)
        day = start + dt.timedelta(days=rng.randrange(700))
        amount = round(rng.lognormvariate(7, 1.2), 2) * (-1 if kind == "退货" else 1)
        t2.append([cid, name, kind, day if n % 5 else day.strftime("%Y/%m/%d"), amount,
                   rng.choice([None, 3, 4, 5]), "批量导入" if n % 10 == 0 else None])
    wb.save(path)


READ_ONLY = ("import python_calamine as pc, sys\n"
             "wb = pc.CalamineWorkbook.from_path(sys.argv[1])\n"
             "for name in wb.sheet_names:\n"
             "    wb.get_sheet_by_name(name).to_python()\n")


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed ({out.returncode}): {out.stderr[-2000:]}")
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=25_000)
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/crm-bench-workbook"))
    args = ap.parse_args()
    work = args.workdir
    work.mkdir(parents=True, exist_ok=True)
    book = work / f"book_{args.customers}_{args.rows}.xlsx"
    if not book.exists():
        build_book(book, args.customers, args.rows)
    py = sys.executable
    empty = work / "empty.duckdb"  # a scheduled job imports into an archive that exists
    if not empty.exists():
        run([py, "-m", "crm", "stats", "--db", str(empty), "--create"])
    reads, imports, module_imports = [], [], []
    for k in range(args.repeat):
        reads.append(run([py, "-c", READ_ONLY, str(book)]))
        db = work / f"new_{k}.duckdb"
        db.with_suffix(".duckdb.wal").unlink(missing_ok=True)
        shutil.copy(empty, db)
        imports.append(run([py, "-m", "crm", "import", str(book), "--db", str(db), "--user", "bench"]))
        module_imports.append(run([py, "-c", "import crm.cli, crm.imports.run, crm.imports.pipeline"]))
        db.unlink(missing_ok=True)

    from crm.customers import search_keys
    wb = openpyxl.load_workbook(book, read_only=True)
    names = list({r[1] for r in wb["客户档案"].iter_rows(min_row=2, values_only=True)})
    t0 = time.perf_counter()
    for name in names:
        search_keys.name_pinyin(name)
        search_keys.name_initials(name)
    t_pinyin = time.perf_counter() - t0

    t_read, t_import = statistics.median(reads), statistics.median(imports)
    print(json.dumps({
        "date": dt.date.today().isoformat(), "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python {platform.python_version()}",
        "load_average": os.getloadavg()[0], "workbook_mb": round(book.stat().st_size / 1e6, 1),
        "customers": args.customers, "rows": args.rows,
        "read_only_process_s": round(t_read, 2), "import_process_s": round(t_import, 2),
        "ratio": round(t_import / t_read, 2), "module_imports_s": round(statistics.median(module_imports), 2),
        "pinyin_keys_s": round(t_pinyin, 2), "distinct_names": len(names),
        "runs": {"read": [round(x, 2) for x in reads], "import": [round(x, 2) for x in imports]},
        "target_met": t_import <= 1.5 * t_read,
    }, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
