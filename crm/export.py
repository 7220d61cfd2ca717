"""Excel exports of archive data that are safe to open and logged.

Archive text comes from uploaded spreadsheets and typed notes, so any of it may be a formula
someone planted (`=HYPERLINK(...)`, `=cmd|"/c calc"!A1`). Every string written here goes through
`neutralise_formula`, and every table export leaves an audit row (PRODUCT.md, privacy).
Sheets are written in openpyxl's write-only mode and tables are read from DuckDB in chunks, so an
export of a large archive streams instead of holding the table in memory.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import re
import tempfile
import unicodedata
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from crm import clock
from crm.customers.activity import ACTIVITY_COLUMNS
from crm.imports.templates import BOOL_ENUM, ENUMS, TEMPLATES, Template

if TYPE_CHECKING:
    from crm.db import Archive

# Leading characters that make a spreadsheet treat a cell as a formula (or DDE), with their
# full-width forms, which some spreadsheet apps fold to ASCII on edit.
FORMULA_TRIGGERS = frozenset("=+-@＝＋－＠")
# A value starting with these is suspect on its own (OWASP CSV injection): they hide a trigger.
_LEADING_CONTROL = frozenset("\t\r\n")
_LEADING_SPACE = " \t\r\n\u3000\u00a0"
EXCEL_MAX_CELL_TEXT = 32_767

DATE_FORMAT = "yyyy-mm-dd"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
DECIMAL_FORMAT = "#,##0.00"
CHUNK_ROWS = 10_000
_WIDTH_SAMPLE_ROWS = 500

EXPORTABLE_TABLES: dict[str, str] = {
    "customers": "客户档案",
    "transactions": "交易记录",
    "interactions": "互动记录",
    "follow_ups": "跟进计划",
    "complaints": "投诉登记",
    "surveys": "满意度调查",
    "import_batches": "导入批次",
    "audit_log": "操作日志",
}
# Which template's headers name a table's columns; the customers table also carries the T4
# tracking summary, so those columns fall back to T4's headers.
TABLE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "customers": ("T1", "T4"),
    "transactions": ("T2",),
    "interactions": ("T3",),
    "follow_ups": ("T5",),
    "complaints": ("T6",),
    "surveys": ("T7",),
}
# Derived columns the app recomputes from the rest (search keys, the activity summary): not data
# a user keeps or brings back.
EXCLUDED_COLUMNS = frozenset({"name_pinyin", "name_initials", "search_text", *ACTIVITY_COLUMNS})
# Stable row order, so two exports of the same data compare equal.
_ORDER_KEYS = {"customers": "customer_id", "complaints": "complaint_id", "import_batches": "batch_id"}

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_HEADER_BORDER = Border(bottom=Side(style="thin", color="808080"))
_HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)
_INFO_FONT = Font(italic=True, color="595959")
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def neutralise_formula(value: Any) -> Any:
    """Prefix text a spreadsheet would run as a formula with `'`; anything not a str is returned as is."""
    if not isinstance(value, str) or not value:
        return value
    if value[0] in _LEADING_CONTROL:
        return "'" + value
    stripped = value.lstrip(_LEADING_SPACE)
    if stripped and stripped[0] in FORMULA_TRIGGERS:
        return "'" + value
    return value


def _clean_text(value: str) -> str:
    """Neutralised, without the control characters openpyxl refuses, within Excel's cell limit."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    value = neutralise_formula(value)
    return value[:EXCEL_MAX_CELL_TEXT]


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value)) if not isinstance(value, (str, bytes, list, tuple, dict)) else False
    except (TypeError, ValueError):
        return False


def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def _safe_sheet_title(title: str, used: set[str]) -> str:
    base = _BAD_SHEET_CHARS.sub("_", str(title)).strip("'") or "Sheet"
    base = base[:31]
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f"_{n}"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(candidate.lower())
    return candidate


class _SheetWriter:
    """Streams rows into one write-only sheet, turning archive values into typed, safe cells."""

    def __init__(self, ws: WriteOnlyWorksheet, date_columns: set[int] | None = None) -> None:
        self.ws = ws
        self.date_columns = date_columns or set()
        # One styled cell per (column, format), refilled row after row: a write-only sheet
        # serialises a row inside append(), so a fresh styled cell per date or amount is waste.
        self._styled_cells: dict[tuple[int, str], WriteOnlyCell] = {}

    def cell(self, value: Any, col: int) -> Any:
        if value is None:
            return None
        kind = type(value)
        if kind is str:
            return _clean_text(value)
        if kind is int or kind is bool:
            return value
        if kind is float:
            return None if math.isnan(value) else value
        if kind is dt.date:
            return self._styled(value, DATE_FORMAT, col)
        if kind is Decimal:
            return self._styled(value, DECIMAL_FORMAT, col)
        if _is_missing(value):
            return None
        if isinstance(value, str):
            return _clean_text(str(value))
        if isinstance(value, dt.datetime):  # pandas.Timestamp is a datetime too
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            if isinstance(value, pd.Timestamp):
                value = value.to_pydatetime()
            if col in self.date_columns:
                return self._styled(value.date(), DATE_FORMAT, col)
            return self._styled(value, DATETIME_FORMAT, col)
        if isinstance(value, dt.date):
            return self._styled(value, DATE_FORMAT, col)
        if isinstance(value, dt.time):
            return value
        if isinstance(value, Decimal):
            return self._styled(value, DECIMAL_FORMAT, col)
        if isinstance(value, (int, float)):
            return value
        if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):  # numpy scalars
            return self.cell(value.item(), col)
        if isinstance(value, (list, tuple, set)):
            return _clean_text("、".join(str(v) for v in value if not _is_missing(v)))
        if isinstance(value, dict):
            return _clean_text(json.dumps(value, ensure_ascii=False, default=str))
        if isinstance(value, bytes):
            return _clean_text(value.decode("utf-8", errors="replace"))
        return _clean_text(str(value))

    def _styled(self, value: Any, number_format: str, col: int) -> WriteOnlyCell:
        key = (col, number_format)
        cell = self._styled_cells.get(key)
        if cell is None:
            cell = self._styled_cells[key] = WriteOnlyCell(self.ws)
            cell.number_format = number_format
        cell.value = value
        return cell

    def row(self, values: Sequence[Any]) -> None:
        self.ws.append([self.cell(v, i) for i, v in enumerate(values)])


def _column_widths(headers: Sequence[str], sample: Iterable[Sequence[Any]]) -> list[float]:
    widths = [_display_width(str(h)) for h in headers]
    for row in sample:
        for i, value in enumerate(row[: len(widths)]):
            if _is_missing(value):
                continue
            if isinstance(value, (dt.date, dt.datetime)):
                w = 19 if isinstance(value, dt.datetime) and (value.hour or value.minute or value.second) else 11
            else:
                w = _display_width(str(value))
            widths[i] = max(widths[i], w)
    return [float(min(max(w + 2, 8), 50)) for w in widths]


def _write_table(
    wb: Workbook,
    title: str,
    headers: Sequence[str],
    chunks: Iterable[Sequence[Sequence[Any]]],
    header_lines: Sequence[str] | None,
    used_titles: set[str],
    date_columns: set[int] | None = None,
) -> int:
    """Write header lines, a bold frozen header row and every row of `chunks`; returns the row count."""
    ws = wb.create_sheet(_safe_sheet_title(title, used_titles))
    chunk_iter: Iterator[Sequence[Sequence[Any]]] = iter(chunks)
    first = next(chunk_iter, [])
    # Write-only sheets take widths and panes before any row, so size columns from the first chunk.
    for i, width in enumerate(_column_widths(headers, list(first)[:_WIDTH_SAMPLE_ROWS]), 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    lines = [str(x) for x in (header_lines or [])]
    header_row = len(lines) + (2 if lines else 1)
    ws.freeze_panes = f"A{header_row + 1}"

    writer = _SheetWriter(ws, date_columns)
    for text in lines:
        cell = WriteOnlyCell(ws, value=_clean_text(text))
        cell.font = _INFO_FONT
        ws.append([cell])
    if lines:
        ws.append([])
    header_cells = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=_clean_text(str(h)))
        cell.font, cell.fill, cell.border, cell.alignment = _HEADER_FONT, _HEADER_FILL, _HEADER_BORDER, _HEADER_ALIGN
        header_cells.append(cell)
    ws.append(header_cells)

    count = 0
    for rows in itertools.chain([first], chunk_iter):
        for values in rows:
            writer.row(values)
            count += 1
    return count


def _frame_date_columns(frame: pd.DataFrame) -> set[int]:
    """Datetime columns whose every value is midnight hold dates (DuckDB DATE arrives that way)."""
    out: set[int] = set()
    for i, (_, series) in enumerate(frame.items()):
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            values = series.dropna()
            if len(values) and bool((values == values.dt.normalize()).all()):
                out.add(i)
    return out


def _frame_chunks(frame: pd.DataFrame, size: int = CHUNK_ROWS) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(frame), size):
        yield list(frame.iloc[start : start + size].itertuples(index=False, name=None))


def write_xlsx(
    frames: list[tuple[str, pd.DataFrame]],
    path: str | os.PathLike[str],
    header_lines: list[str] | None = None,
) -> Path:
    """Write each (sheet title, frame) to its own sheet, formula-safe; returns the path written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook(write_only=True)
    used: set[str] = set()
    if not frames:
        frames = [("Sheet1", pd.DataFrame())]
    for title, frame in frames:
        _write_table(
            wb, title, [str(c) for c in frame.columns], _frame_chunks(frame), header_lines, used,
            _frame_date_columns(frame),
        )
    wb.save(path)
    return path


def column_headers(table: str, columns: Sequence[str]) -> list[str]:
    """Archive column names → the Chinese headers users know from the template for that table."""
    templates: list[Template] = [TEMPLATES[c] for c in TABLE_TEMPLATES.get(table, ())]
    out = []
    for col in columns:
        header = col
        for template in templates:
            field = template.field_by_name.get(col)
            if field is not None:
                header = field.header
                break
        out.append(header)
    return out


def _value_renderers(table: str, columns: Sequence[str]) -> dict[int, dict[Any, str]]:
    """BOOLEAN columns stored for yes/no enums (投诉受理) go out as the words the importer reads back."""
    out: dict[int, dict[Any, str]] = {}
    for code in TABLE_TEMPLATES.get(table, ()):
        template = TEMPLATES[code]
        for i, col in enumerate(columns):
            field = template.field_by_name.get(col)
            if field is not None and field.kind == BOOL_ENUM and field.enum in ENUMS and i not in out:
                words = list(ENUMS[field.enum])
                if len(words) >= 2:
                    out[i] = {True: words[0], False: words[1]}
    return out


def _table_columns(cur: Any, table: str) -> list[str]:
    rows = cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        " AND table_schema = current_schema() AND table_catalog = current_database() ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows if r[0] not in EXCLUDED_COLUMNS]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def export_table(archive: "Archive", table: str, path: str | os.PathLike[str], user: str) -> int:
    """Export one archive table to .xlsx with Chinese headers and log it; returns the rows exported."""
    if table not in EXPORTABLE_TABLES:
        allowed = "、".join(EXPORTABLE_TABLES)
        raise ValueError(f"不能导出数据表 {table!r}（可导出：{allowed}）")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    cur = archive.cursor()
    try:
        columns = _table_columns(cur, table)
        if not columns:
            raise ValueError(f"数据表 {table!r} 不存在")
        headers = column_headers(table, columns)
        renderers = _value_renderers(table, columns)
        order = _ORDER_KEYS.get(table, "id")
        order = order if order in columns else None
        # Personal data is read through crm.access, which masks what this user may not see.
        from crm.auth.personal import PersonalData, actor_for

        reader = PersonalData(archive, actor_for(archive, user))
        stream = reader.stream(table, columns, order=f"t.{_quote(order)}" if order else "", chunk=CHUNK_ROWS)

        def chunks() -> Iterator[list[Sequence[Any]]]:
            for rows in stream:
                if renderers:
                    rows = [
                        tuple(renderers[i].get(v, v) if i in renderers else v for i, v in enumerate(r))
                        for r in rows
                    ]
                yield rows

        exported_at = clock.now()
        header_lines = [
            f"数据表: {EXPORTABLE_TABLES[table]}（{table}）",
            f"导出时间: {exported_at:%Y-%m-%d %H:%M:%S}",
            f"导出人: {user}",
        ]
        # Written beside the target and moved into place only with the audit row, so a file
        # never appears without its log entry, nor a log entry without its file.
        fd, tmp_name = tempfile.mkstemp(prefix=".export-", suffix=".xlsx", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            wb = Workbook(write_only=True)
            count = _write_table(wb, EXPORTABLE_TABLES[table], headers, chunks(), header_lines, set())
            wb.save(tmp)
            detail = json.dumps(
                {"rows": count, "path": str(path.resolve()), "columns": len(columns)}, ensure_ascii=False
            )
            with archive.transaction() as tx:
                tx.execute(
                    "INSERT INTO audit_log (user_name, action, entity, detail) VALUES (?, 'export', ?, ?)",
                    [user, table, detail],
                )
                os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
    finally:
        cur.close()
    return count


__all__ = [
    "EXPORTABLE_TABLES",
    "column_headers",
    "export_table",
    "neutralise_formula",
    "write_xlsx",
]
