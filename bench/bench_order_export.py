"""An order export as a shop or ERP writes it: 30,000 order lines from 26,000 distinct buyers, none
of them archived yet, imported into an empty archive — issue 18's speed target (< 5 s here), with a
raw python-calamine read of the same sheet as the baseline measured in the same run.

    .venv/bin/python bench/bench_order_export.py [--rows 30000] [--buyers 26000] [--repeat 3]

Prints one JSON object: seconds of the read baseline and of the whole import (read, recognise,
clean, create the buyers, link, write, commit), the ratio, and what the import did.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402
import python_calamine as pc  # noqa: E402

from crm.db import open_archive  # noqa: E402
from crm.imports.pipeline import import_path  # noqa: E402

HEAD = ["订单编号", "买家会员名", "买家实际支付金额", "订单状态", "收货人姓名", "联系手机", "收货地址", "订单创建时间", "商品标题"]
STATUSES = ["交易成功"] * 16 + ["卖家已发货", "退款成功", "交易关闭", "等待买家付款"]
PLACES = ["广东省深圳市南山区", "浙江省杭州市西湖区", "江苏省徐州市鼓楼区", "湛江市霞山区", "北京市朝阳区", "四川省成都市武侯区"]


def write_export(path: Path, rows: int, buyers: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("订单")
    ws.append(HEAD)
    start = dt.datetime(2026, 6, 1, 9, 0)
    for n in range(rows):
        b = n if n < buyers else rnd.randrange(buyers)
        ws.append([f"T{100000 + n // 2 if n % 7 == 0 else 100000 + n}", f"tb_{b:06d}", round(rnd.uniform(9, 999), 2),
                   rnd.choice(STATUSES), f"买家{b}", f"13{b % 10}{b:08d}"[:11], f"{rnd.choice(PLACES)}{b % 90}号",
                   (start + dt.timedelta(minutes=7 * n)).strftime("%Y-%m-%d %H:%M:%S"), "商品"])
    wb.save(path)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=30_000)
    ap.add_argument("--buyers", type=int, default=26_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-orders-"))
    book = work / "orders.xlsx"
    write_export(book, args.rows, args.buyers)
    reads, imports, report = [], [], None
    for k in range(args.repeat):
        t = time.perf_counter()
        with pc.CalamineWorkbook.from_path(str(book)) as wb:
            wb.get_sheet_by_index(0).to_python()
        reads.append(time.perf_counter() - t)
        archive = open_archive(work / f"a{k}.duckdb")
        t = time.perf_counter()
        report = import_path(archive, book, user="bench", today=dt.date(2026, 12, 1))
        imports.append(time.perf_counter() - t)
        archive.close()
    assert report is not None
    b = report.batches[0]
    read, full = statistics.median(reads), statistics.median(imports)
    print(json.dumps({"date": dt.date.today().isoformat(), "rows": args.rows, "buyers": args.buyers,
                      "calamine_read_s": round(read, 3), "import_s": round(full, 3), "ratio": round(full / read, 2),
                      "created_transactions": b.created, "skipped_rows": len(b.skipped_rows),
                      "rejected_rows": len(b.rejected_rows), "target_s": 5.0}, ensure_ascii=False))


if __name__ == "__main__":
    main()
