"""The rejected rows of an import, as a workbook the user can fix and upload again.

One sheet per imported sheet that had rejected rows: its original header row, then each rejected
row with the values exactly as received, plus a 问题 column listing every problem of that row.
Offending cells are filled red (warnings yellow) and carry the reason as a cell comment.

The file is made to come back: the header row is row 1 and keeps the headers as the user wrote
them (so the sheet is recognised again, with no mapping step), and 问题 is no template's header,
so the importer ignores it. For the same reason data cells keep their values as received: text a
spreadsheet would run as a formula (`=…`, `+…`, `-…`, `@…`, as judged by
`crm.xlsx.neutralise_formula`) is stored as a text cell with Excel's quote-prefix flag instead
of being prefixed with `'` — Excel, WPS and LibreOffice show it as text and keep it text when the
cell is edited, and a phone written `+86 138…` or a refund of `-500` still imports after the fix.
Our own text (the 问题 column, comments) goes through `neutralise_formula`.
"""
from __future__ import annotations

import datetime as dt
import io
import os
from pathlib import Path
from typing import Any

from openpyxl import Workbook as XlsxWorkbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from crm.imports.cleaning import display, is_blank
from crm.imports.pipeline import ImportReport, SheetResult
from crm.imports.reader import RawSheet, Workbook
from crm.imports.recognise import Recognition, recognise_sheet
from crm.imports.validation import ERROR, Problem
from crm.xlsx import EXCEL_MAX_CELL_TEXT, HEADER_FILL, HEADER_FONT, display_width, neutralise_formula, safe_sheet_title

PROBLEM_COLUMN = "问题"
ERROR_FILL = PatternFill("solid", fgColor="FFC7CE")  # Excel's own "bad" red
ERROR_FONT = Font(color="9C0006")
WARNING_FILL = PatternFill("solid", fgColor="FFEB9C")  # Excel's "neutral" yellow
PROBLEM_HEADER_FILL = PatternFill("solid", fgColor="F8CBAD")
WRAP = Alignment(vertical="top", wrap_text=True)
COMMENT_AUTHOR = "客户档案"


def has_rejections(report: ImportReport) -> bool:
    """Whether the import has rows to give back: rejected ones, or ones imported with a value left out."""
    return any(b.rejected_rows or b.fix_rows for b in report.batches)


def rejected_rows_workbook(workbook: Workbook, report: ImportReport,
                           path: str | os.PathLike[str] | io.BytesIO | None = None) -> Path | bytes | io.BytesIO:
    """Write the rejected rows of `report` (an import of `workbook`) as .xlsx.

    `path` a file path → that Path; a BytesIO → it, written; None → the file's bytes.
    """
    wb = XlsxWorkbook()
    wb.remove(wb.active)
    used: set[str] = set()
    sheets = {s.name: s for s in workbook.sheets}
    for batch in report.batches:
        if not (batch.rejected_rows or batch.fix_rows) or batch.file != workbook.file_name or batch.sheet not in sheets:
            continue
        _write_sheet(wb, safe_sheet_title(batch.sheet, used), sheets[batch.sheet], batch)
    if not wb.worksheets:
        ws = wb.create_sheet("无拒绝行")
        ws["A1"] = "本次导入没有被拒绝的行。"
    if path is None:
        out = io.BytesIO()
        wb.save(out)
        return out.getvalue()
    if isinstance(path, io.BytesIO):
        wb.save(path)
        return path
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    wb.save(target)
    return target


def header_row_of(sheet: RawSheet, batch: SheetResult) -> int:
    """The 0-based header row of the sheet a batch came from."""
    if batch.header_row is not None:
        return batch.header_row
    rec = recognise_sheet(sheet)
    if isinstance(rec, Recognition):
        return rec.header_row
    # A mapped sheet without the header row on record: the first row naming every problem column.
    wanted = {p.column for p in batch.problems if p.column}
    for r, row in enumerate(sheet.rows[:30]):
        if wanted <= {display(c).strip() for c in row if not is_blank(c)}:
            return r
    return max(0, min(batch.rejected_rows or batch.fix_rows) - 2)


def problem_text(problem: Problem) -> str:
    """One problem as a line of the 问题 column: 「列」值「…」：原因."""
    col = f"「{problem.column}」" if problem.column else ""
    val = f"值「{problem.value}」" if problem.value else "（空）" if problem.column else ""
    prefix = "" if problem.severity == ERROR else "提示："
    sep = "：" if col or val else ""
    return f"{prefix}{col}{val}{sep}{problem.message}"


def _write_sheet(wb: XlsxWorkbook, title: str, sheet: RawSheet, batch: SheetResult) -> None:
    ws = wb.create_sheet(title)
    header_index = header_row_of(sheet, batch)
    header = list(sheet.rows[header_index]) if header_index < len(sheet.rows) else []
    rows = [(n, list(sheet.rows[n - 1]) if 0 < n <= len(sheet.rows) else [])
            for n in sorted(set(batch.rejected_rows) | set(batch.fix_rows))]
    width = max([_used_width(header)] + [_used_width(r) for _, r in rows] + [1])
    column_of: dict[str, int] = {}
    for i, cell in enumerate(header[:width]):
        if not is_blank(cell):
            column_of.setdefault(display(cell).strip(), i)
    by_row: dict[int, list[Problem]] = {}
    for p in batch.problems:
        if p.row is not None:
            by_row.setdefault(p.row, []).append(p)

    for i in range(width):
        value = header[i] if i < len(header) else None
        cell = ws.cell(row=1, column=i + 1, value=_cell_value(value))
        _guard(cell, value)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)
    problem_col = width + 1
    head = ws.cell(row=1, column=problem_col, value=PROBLEM_COLUMN)
    head.font = HEADER_FONT
    head.fill = PROBLEM_HEADER_FILL
    head.alignment = Alignment(horizontal="center", vertical="center")

    widths = [display_width(display(header[i])) if i < len(header) else 4 for i in range(width)]
    problem_width = 12
    for out_row, (number, cells) in enumerate(rows, start=2):
        for i in range(width):
            value = cells[i] if i < len(cells) else None
            cell = ws.cell(row=out_row, column=i + 1, value=_cell_value(value))
            _guard(cell, value)
            if isinstance(value, dt.datetime):
                cell.number_format = "yyyy-mm-dd hh:mm" if (value.hour or value.minute) else "yyyy-mm-dd"
            elif isinstance(value, dt.date):
                cell.number_format = "yyyy-mm-dd"
            widths[i] = max(widths[i], min(display_width(display(value)), 40))
        problems = by_row.get(number, [])
        errors_first = sorted(problems, key=lambda p: p.severity != ERROR)
        per_cell: dict[int, list[Problem]] = {}
        for p in errors_first:
            if p.column in column_of:
                per_cell.setdefault(column_of[p.column], []).append(p)
        for i, found in per_cell.items():
            cell = ws.cell(row=out_row, column=i + 1)
            is_error = any(p.severity == ERROR or p.dropped for p in found)  # both need fixing
            cell.fill = ERROR_FILL if is_error else WARNING_FILL
            if is_error:
                cell.font = ERROR_FONT
            text = "\n".join(("" if p.severity == ERROR else "提示：") + p.message for p in found)
            comment = Comment(_safe_text(neutralise_formula(text)), COMMENT_AUTHOR)
            comment.width, comment.height = 260, 40 + 20 * len(found)
            cell.comment = comment
        lines = [problem_text(p) for p in errors_first] or ["被拒绝（原因见导入报告）"]
        text = _safe_text(neutralise_formula("；\n".join(lines)))
        cell = ws.cell(row=out_row, column=problem_col, value=text)
        cell.data_type = "s"
        cell.alignment = WRAP
        cell.font = ERROR_FONT
        problem_width = max(problem_width, min(max(display_width(line) for line in lines), 60))

    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = max(6, min(w + 2, 42))
    ws.column_dimensions[get_column_letter(problem_col)].width = problem_width + 2
    ws.freeze_panes = "A2"


def _used_width(row: list[Any]) -> int:
    for i in range(len(row) - 1, -1, -1):
        v = row[i]
        if v is None or (isinstance(v, str) and not v.strip()) or (isinstance(v, float) and v != v):
            continue
        return i + 1
    return 0


def _cell_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return _safe_text(value)
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, (int, float, bool, dt.date, dt.datetime, dt.time, dt.timedelta)):
        return value
    return _safe_text(str(value))


def _guard(cell: Any, value: Any) -> None:
    """Text that a spreadsheet would run as a formula stays text: a string cell with quote prefix."""
    if isinstance(value, str) and cell.value is not None and neutralise_formula(value) != value:
        cell.data_type = "s"
        cell.quotePrefix = True


def _safe_text(text: str) -> str:
    return ILLEGAL_CHARACTERS_RE.sub("", text)[:EXCEL_MAX_CELL_TEXT]




__all__ = ["PROBLEM_COLUMN", "has_rejections", "header_row_of", "problem_text", "rejected_rows_workbook"]
