"""Excel exports of the segments page: every table and every drill-down list, formula-safe
(crm.xlsx, money and shares formatted as the page shows them), with the reference date and the
filters written above the table, and audited; the migration matrix with its row and column totals.
"""
from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import pandas as pd
from openpyxl import Workbook

from crm import clock, xlsx
from crm.auth import audit
from crm.segments import DRILL_COLUMNS, Drill, SegmentFilters, SegmentRun, drill_chunks

if TYPE_CHECKING:
    from crm.auth.personal import Actor, PersonalData
    from crm.db import Archive



def header_lines(title: str, as_of: dt.date, filters: SegmentFilters, actor: "Actor",
                 extra: Sequence[str] = ()) -> list[str]:
    """What the sheet is, as of when, under which filters, exported by whom and when."""
    now = clock.now()
    return [f"报表：{title}", f"截至日期：{as_of:%Y-%m-%d}", "筛选条件：" + "；".join(filters.lines()), *extra,
            f"导出时间：{now:%Y-%m-%d %H:%M:%S}", f"导出人：{actor.username}"]


def _log(archive: "Archive", actor: "Actor", report: str, detail: dict[str, Any]) -> None:
    with archive.transaction() as tx:
        audit.record(tx, actor, "export", "segments", report, detail)


def _read_and_remove(path: Path) -> bytes:
    try:
        return path.read_bytes()
    finally:
        path.unlink(missing_ok=True)


def _tmp() -> Path:
    fd, name = tempfile.mkstemp(prefix="segments-", suffix=".xlsx")
    os.close(fd)
    return Path(name)


def tables_xlsx(archive: "Archive", actor: "Actor", report: str, frames: list[tuple[str, pd.DataFrame]],
                lines: list[str], formats: dict[str, str] | None = None) -> bytes:
    """One workbook of the given aggregate tables (one sheet each), logged as an export of `report`;
    `formats` are number formats by column header (crm.xlsx: money columns are formatted anyway)."""
    path = xlsx.write_xlsx(frames, _tmp(), header_lines=lines, formats=formats)
    data = _read_and_remove(path)
    _log(archive, actor, report, {"sheets": [t for t, _ in frames], "rows": sum(len(f) for _, f in frames),
                                  "header": lines})
    return data


TOTAL = "合计"


def migration_matrix(frame: pd.DataFrame, sources: Sequence[str], targets: Sequence[str], row_title: str) -> pd.DataFrame:
    """The migration as managers read it on paper: a row per earlier label, a column per later one
    (in the labels' order), customers in the cells, and a 合计 column and row, so each row adds up
    to the customers who were in that group and each column to those who are in it now."""
    matrix = frame.pivot_table(index="source", columns="target", values="customers", aggfunc="sum", fill_value=0)
    matrix = matrix.reindex(index=[s for s in sources if s in matrix.index],
                            columns=[t for t in targets if t in matrix.columns]).fillna(0).astype(int)
    matrix[TOTAL] = matrix.sum(axis=1)
    matrix.loc[TOTAL] = matrix.sum(axis=0)
    out = matrix.reset_index()
    out.columns = [row_title, *[str(c) for c in matrix.columns]]
    return out


def drill_xlsx(reader: "PersonalData", run: SegmentRun, filters: SegmentFilters, drill: Drill | None,
               lines: list[str]) -> bytes:
    """Every customer behind a drill-down (masked for the reader), streamed in chunks, logged."""
    wb = Workbook(write_only=True)
    # crm.export's sheet writer takes row chunks, so a long list is never held whole in memory
    count = xlsx.write_table(wb, "客户明细", DRILL_COLUMNS, drill_chunks(reader, run, filters, drill), lines, set())
    path = _tmp()
    wb.save(path)
    data = _read_and_remove(path)
    _log(reader.archive, reader.actor, "客户明细",
         {"rows": count, "drill": drill.title if drill else "全部", "as_of": run.as_of, "header": lines})
    return data
