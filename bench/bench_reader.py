"""What reading in a child process costs (issue 17): a normal 100,000-row sheet, read in process by
python-calamine (the floor) and by crm.imports.reader.read_workbook (the zip checks and the sheet
scan in this process while calamine reads in its child, rows streamed back in pickled chunks).

    .venv/bin/python bench/bench_reader.py [--rows 100000] [--repeat 5] [--workdir /tmp/crm-bench]

Prints one JSON object: medians in seconds and the ratio to the floor, plus the parts (the scan
alone, the child alone) measured in the same run — for the file as openpyxl's write-only mode saves
it (no <dimension>: the scan walks every cell for the real extent) and with the <dimension> Excel
writes (the scan only counts).
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def build_workbook(path: Path, rows: int, seed: int = 7) -> None:
    """The T2 sheet of bench_import.py: a title row, Chinese headers, dates (every fifth as text),
    amounts (every seventh as ¥ text), a phone on every third row, a 合计 row."""
    import openpyxl

    rng = random.Random(seed)
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("客户关系管理记录表")
    ws.append(["客户关系管理记录及分析表"])
    ws.append(["客户编号", "客户名称", "联系方式", "交易类型", "购买时间", "金额(元)", "评价等级", "下次跟进日期", "备注"])
    start = dt.date(2024, 1, 1)
    for n in range(rows):
        i = rng.randrange(10_000)
        kind = rng.choice(["购买"] * 8 + ["咨询", "续约", "退货"])
        day = start + dt.timedelta(days=rng.randrange(700))
        amount = round(rng.lognormvariate(7, 1.2), 2) * (-1 if kind == "退货" else 1)
        ws.append([f"C{i:06d}", f"客户{i}", f"138{i:08d}" if n % 3 == 0 else None, kind,
                   day if n % 5 else day.strftime("%Y/%m/%d"), amount if n % 7 else f"¥{amount:,.2f}",
                   rng.choice([None, 3, 4, 5, "五星"]), (day + dt.timedelta(days=30)) if n % 50 == 0 else None,
                   "批量导入" if n % 10 == 0 else None])
    ws.append(["合计"])
    wb.save(path)


def with_dimension(data: bytes, rows: int) -> bytes:
    """The same workbook with the <dimension> Excel writes (openpyxl's write-only mode leaves it out)."""
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for info in src.infolist():
            part = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                part = part.replace(b"<sheetViews>", f'<dimension ref="A1:I{rows + 3}"/><sheetViews>'.encode(), 1)
            z.writestr(info, part)
    return out.getvalue()


def median_time(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    import python_calamine as pc

    from crm.imports import safety
    from crm.imports.isolated import ReadingChild
    from crm.imports.reader import read_workbook

    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workdir", default="/tmp/crm-bench")
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    path = work / f"reader_t2_{args.rows}.xlsx"
    if not path.exists():
        build_workbook(path, args.rows)
    limits = safety.ReadLimits.from_config()
    result: dict[str, object] = {"rows": args.rows, "repeat": args.repeat}
    plain = path.read_bytes()
    for label, data in (("no_dimension", plain), ("with_dimension", with_dimension(plain, args.rows))):

        def in_process(data: bytes = data) -> list:
            wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
            return [wb.get_sheet_by_name(n).to_python(skip_empty_area=False) for n in wb.sheet_names]

        def reader(data: bytes = data) -> object:
            return read_workbook(data, file_name=path.name)

        def scan_only(data: bytes = data) -> object:
            return safety.scan_xlsx(safety.open_xlsx(data, path.name, limits), path.name, limits)

        def child_only(data: bytes = data) -> object:
            with ReadingChild(data, memory_bytes=limits.memory_bytes, timeout_seconds=limits.timeout_seconds,
                              max_rows=limits.max_rows, max_columns=limits.max_columns,
                              max_cells=limits.max_cells) as c:
                return c.collect()

        assert [s.rows for s in read_workbook(data, file_name=path.name).sheets] == in_process()  # the same rows
        floor = median_time(in_process, args.repeat)
        full = median_time(reader, args.repeat)
        result[label] = {
            "file_mb": round(len(data) / 1048576, 2),
            "calamine_in_process_s": round(floor, 3),
            "read_workbook_s": round(full, 3),
            "ratio": round(full / floor, 2),
            "overhead_s": round(full - floor, 3),
            "scan_alone_s": round(median_time(scan_only, args.repeat), 3),
            "child_alone_s": round(median_time(child_only, args.repeat), 3),
        }
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    result["python"] = platform.python_version()
    print(json.dumps(result, ensure_ascii=False))

if __name__ == "__main__":
    main()
