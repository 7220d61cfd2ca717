"""The one xlsx writer: every workbook the app hands out (table exports, segment reports, the
rejected-rows file, blank templates, follow-up and complaint reports) is written with these rules.

Archive text comes from uploaded spreadsheets and typed notes, so any of it may be a formula
someone planted (`=HYPERLINK(...)`, `=cmd|"/c calc"!A1`): every string cell goes through
`neutralise_formula`. Sheet titles follow Excel's rules (`safe_sheet_title`), widths count CJK
characters double (`display_width`) and fit what the cell shows (a formatted amount, a date),
headers share one style and a frozen pane, and tables stream from DuckDB in chunks through
write-only sheets.

Money reads as the pages show it: a column whose header names an amount (`is_money_header`:
收入, 金额, 损失 …) gets two decimals with thousands separators (MONEY_FORMAT), or 万 (WAN_FORMAT)
where the page shows 万; the value stays the exact amount, rounded to the fen, so a sum in Excel
adds up and no float noise (6674744.010000001) reaches a cell.
"""
from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import re
import unicodedata
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Sequence

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

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
MONEY_FORMAT = DECIMAL_FORMAT
# 万 with one decimal: the `,` scales by a thousand and `!.` puts a literal point before the last
# digit, so 128,800 shows as 12.9万 (Excel has no ten-thousands scaling; the value stays in yuan).
WAN_FORMAT = '0!.0,"万"'
PERCENT_FORMAT = "0.0%"
INTEGER_FORMAT = "#,##0"
_MONEY_WORDS = re.compile(r"收入|金额|损失|消费|营收|销售额|客单价|单价|（元）|\(元\)|户均")
_NOT_MONEY = re.compile(r"占比|比例|率|排名|次数|客户数|笔数")  # 收入占比 is a share, 消费次数 a count
CHUNK_ROWS = 10_000
_WIDTH_SAMPLE_ROWS = 500

HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
HEADER_BORDER = Border(bottom=Side(style="thin", color="808080"))
HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)
INFO_FONT = Font(italic=True, color="595959")
BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


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


def clean_text(value: str) -> str:
    """Neutralised, without the control characters openpyxl refuses, within Excel's cell limit."""
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    value = neutralise_formula(value)
    return value[:EXCEL_MAX_CELL_TEXT]


def is_missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    try:
        return bool(pd.isna(value)) if not isinstance(value, (str, bytes, list, tuple, dict)) else False
    except (TypeError, ValueError):
        return False


def display_width(text: str) -> int:
    """Columns of a fixed-width grid the text takes: CJK (wide and full-width) characters count two."""
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def is_money_header(header: object) -> bool:
    """Whether a column holds yuan, by what its header says (收入, 金额, 损失, 户均收入 …, 「（元）」;
    not 收入占比, a share)."""
    text = str(header)
    return bool(_MONEY_WORDS.search(text)) and not _NOT_MONEY.search(text)


def safe_sheet_title(title: str, used: set[str]) -> str:
    base = BAD_SHEET_CHARS.sub("_", str(title)).strip("'") or "Sheet"
    base = base[:31]
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f"_{n}"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(candidate.lower())
    return candidate


class SheetWriter:
    """Streams rows into one write-only sheet, turning archive values into typed, safe cells; a
    column with a number format (`formats`, by position) gets it on its numbers, and a money
    column's numbers are rounded to the fen."""

    def __init__(self, ws: WriteOnlyWorksheet, date_columns: set[int] | None = None,
                 formats: dict[int, str] | None = None) -> None:
        self.ws = ws
        self.date_columns = date_columns or set()
        self.formats = formats or {}
        # One styled cell per (column, format), refilled row after row: a write-only sheet
        # serialises a row inside append(), so a fresh styled cell per date or amount is waste.
        self._styled_cells: dict[tuple[int, str], WriteOnlyCell] = {}

    def cell(self, value: Any, col: int) -> Any:
        if value is None:
            return None
        kind = type(value)
        if kind is str:
            return clean_text(value)
        if kind is bool:  # Excel would show TRUE / FALSE
            return "是" if value else "否"
        if kind is int or kind is float or kind is Decimal:
            if kind is float and (math.isnan(value) or math.isinf(value)):
                return None
            number_format = self.formats.get(col)
            if number_format is None:
                return self._styled(value, DECIMAL_FORMAT, col) if kind is Decimal else value
            if number_format in (MONEY_FORMAT, WAN_FORMAT) and kind is not int:
                value = round(float(value), 2)
            return self._styled(value, number_format, col)
        if kind is dt.date:
            return self._styled(value, DATE_FORMAT, col)
        if is_missing(value):
            return None
        if isinstance(value, str):
            return clean_text(str(value))
        if isinstance(value, dt.datetime):  # pandas.Timestamp is a datetime too
            if value.tzinfo is not None:
                value = value.astimezone(dt.UTC).replace(tzinfo=None)
            if isinstance(value, pd.Timestamp):
                value = value.to_pydatetime()
            if col in self.date_columns:
                return self._styled(value.date(), DATE_FORMAT, col)
            return self._styled(value, DATETIME_FORMAT, col)
        if isinstance(value, dt.date):
            return self._styled(value, DATE_FORMAT, col)
        if isinstance(value, dt.time):
            return value
        if isinstance(value, bool):
            return "是" if value else "否"
        if isinstance(value, (int, float, Decimal)):
            return self.cell(int(value) if isinstance(value, int) else
                             value if isinstance(value, Decimal) else float(value), col)
        if hasattr(value, "item") and not isinstance(value, (list, tuple, dict)):  # numpy scalars
            return self.cell(value.item(), col)
        if isinstance(value, (list, tuple, set)):
            return clean_text("、".join(str(v) for v in value if not is_missing(v)))
        if isinstance(value, dict):
            return clean_text(json.dumps(value, ensure_ascii=False, default=str))
        if isinstance(value, bytes):
            return clean_text(value.decode("utf-8", errors="replace"))
        return clean_text(str(value))

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


def shown_text(value: Any, number_format: str | None = None) -> str:
    """About what a cell shows (for its column's width): an amount with its separators, a date."""
    if isinstance(value, bool) or is_missing(value):
        return "" if is_missing(value) else str(value)
    if isinstance(value, dt.datetime):
        return "0000-00-00 00:00:00" if (value.hour or value.minute or value.second) else "0000-00-00"
    if isinstance(value, dt.date):
        return "0000-00-00"
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        if number_format == WAN_FORMAT:
            return f"{number / 10000:.1f}万"
        if number_format == PERCENT_FORMAT:
            return f"{number:.1%}"
        if number_format in (MONEY_FORMAT, INTEGER_FORMAT) or isinstance(value, Decimal):
            return f"{number:,.2f}" if number_format != INTEGER_FORMAT else f"{number:,.0f}"
        return str(value)
    return str(value)


def column_widths(headers: Sequence[str], sample: Iterable[Sequence[Any]],
                  formats: dict[int, str] | None = None) -> list[float]:
    """Each column as wide as its header or its widest sampled cell as shown (CJK counted double),
    within 8 and 50 characters; a header wraps (HEADER_ALIGN) when a short column has a long one."""
    formats = formats or {}
    widths = [min(display_width(str(h)), 24) for h in headers]
    for row in sample:
        for i, value in enumerate(row[: len(widths)]):
            if is_missing(value):
                continue
            widths[i] = max(widths[i], display_width(shown_text(value, formats.get(i))))
    return [float(min(max(w + 2, 8), 50)) for w in widths]


def formats_for(headers: Sequence[str], formats: dict[str, str] | None = None) -> dict[int, str]:
    """Number formats by column position: the ones asked for by header, else money by what the
    header says (is_money_header)."""
    formats = formats or {}
    out: dict[int, str] = {}
    for i, header in enumerate(headers):
        if str(header) in formats:
            out[i] = formats[str(header)]
        elif is_money_header(header):
            out[i] = MONEY_FORMAT
    return out


def write_table(
    wb: Workbook,
    title: str,
    headers: Sequence[str],
    chunks: Iterable[Sequence[Sequence[Any]]],
    header_lines: Sequence[str] | None,
    used_titles: set[str],
    date_columns: set[int] | None = None,
    formats: dict[str, str] | None = None,
) -> int:
    """Write header lines, a bold frozen header row and every row of `chunks`; returns the row count.
    `formats` gives number formats by header (else money columns get MONEY_FORMAT, formats_for)."""
    ws = wb.create_sheet(safe_sheet_title(title, used_titles))
    chunk_iter: Iterator[Sequence[Sequence[Any]]] = iter(chunks)
    first = next(chunk_iter, [])
    by_position = formats_for(headers, formats)
    # Write-only sheets take widths and panes before any row, so size columns from the first chunk.
    for i, width in enumerate(column_widths(headers, list(first)[:_WIDTH_SAMPLE_ROWS], by_position), 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    lines = [str(x) for x in (header_lines or [])]
    header_row = len(lines) + (2 if lines else 1)
    ws.freeze_panes = f"A{header_row + 1}"

    writer = SheetWriter(ws, date_columns, by_position)
    for text in lines:
        cell = WriteOnlyCell(ws, value=clean_text(text))
        cell.font = INFO_FONT
        ws.append([cell])
    if lines:
        ws.append([])
    header_cells = []
    for h in headers:
        cell = WriteOnlyCell(ws, value=clean_text(str(h)))
        cell.font, cell.fill, cell.border, cell.alignment = HEADER_FONT, HEADER_FILL, HEADER_BORDER, HEADER_ALIGN
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


def _frame_chunks(frame: pd.DataFrame, size: int | None = None) -> Iterator[list[tuple[Any, ...]]]:
    size = size or CHUNK_ROWS
    for start in range(0, len(frame), size):
        yield list(frame.iloc[start : start + size].itertuples(index=False, name=None))


def write_xlsx(
    frames: list[tuple[str, pd.DataFrame]],
    path: "str | os.PathLike[str] | IO[bytes]",
    header_lines: list[str] | None = None,
    formats: dict[str, str] | None = None,
) -> "Path | IO[bytes]":
    """Write each (sheet title, frame) to its own sheet, formula-safe, to a path (made if needed)
    or an open binary file; returns what it wrote to. `formats`: number formats by column header,
    for every sheet (money columns get MONEY_FORMAT without asking)."""
    target: Path | IO[bytes] = path if hasattr(path, "write") else Path(path)  # type: ignore[arg-type]
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook(write_only=True)
    used: set[str] = set()
    if not frames:
        frames = [("Sheet1", pd.DataFrame())]
    for title, frame in frames:
        write_table(
            wb, title, [str(c) for c in frame.columns], _frame_chunks(frame), header_lines, used,
            _frame_date_columns(frame), formats,
        )
    wb.save(target)
    return target




def form_workbook(title: str, rows: Sequence[tuple[str, Any, str, Any] | tuple[str, Any]],
                  footer: Sequence[str] = ()) -> bytes:
    """A one-page form laid out like the paper ones (投诉处理通知单, 投诉处理报告表): a merged title,
    then label/value cells two pairs a row (a pair of two items takes the whole row), then
    signature lines. Every value is formula-safe; long text wraps; a date is a date cell and an
    amount (its label names one, is_money_header) has the money format."""
    import io

    from openpyxl.styles import Alignment, Border, Font, Side

    wb = Workbook()
    ws = wb.active
    ws.title = safe_sheet_title(title, set())
    thin = Side(style="thin", color="808080")
    box = Border(left=thin, right=thin, top=thin, bottom=thin)
    for col, width in zip("ABCD", (16, 30, 16, 30)):
        ws.column_dimensions[col].width = width
    ws.merge_cells("A1:D1")
    ws["A1"] = title
    ws["A1"].font = Font(bold=True, size=16)
    ws["A1"].alignment = Alignment(horizontal="center", vertical="center")
    ws.row_dimensions[1].height = 32

    def put(row: int, column: int, label: str, value: Any) -> None:
        cell = ws.cell(row, column, _form_value(value))
        if isinstance(cell.value, dt.datetime):
            cell.number_format = "yyyy-mm-dd hh:mm"
        elif isinstance(cell.value, dt.date):
            cell.number_format = DATE_FORMAT
        elif isinstance(cell.value, float) and is_money_header(label):
            cell.number_format = MONEY_FORMAT
        cell.alignment = Alignment(horizontal="left", vertical="center", wrap_text=True)

    r = 2
    for item in rows:
        if len(item) == 2:
            label, value = item
            ws.cell(r, 1, clean_text(str(label)))
            ws.merge_cells(start_row=r, start_column=2, end_row=r, end_column=4)
            put(r, 2, str(label), value)
            ws.row_dimensions[r].height = max(20, 15 * (1 + display_width(str(value or "")) // 70))
        else:
            l1, v1, l2, v2 = item
            ws.cell(r, 1, clean_text(str(l1)))
            put(r, 2, str(l1), v1)
            ws.cell(r, 3, clean_text(str(l2)))
            put(r, 4, str(l2), v2)
        for c in range(1, 5):
            cell = ws.cell(r, c)
            cell.border = box
            if c in (1, 3):
                cell.alignment = Alignment(vertical="center", wrap_text=True)
                cell.font = Font(bold=True)
                cell.fill = HEADER_FILL
        r += 1
    r += 1
    for line in footer:
        ws.cell(r, 1, clean_text(line))
        r += 2
    ws.page_setup.orientation = "portrait"
    ws.print_options.horizontalCentered = True
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _form_value(value: Any) -> Any:
    """A form's value as a typed cell value: text (formula-safe), a date or time, or a number."""
    if value is None:
        return ""
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=None, second=0, microsecond=0)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return float(value)
    return clean_text(str(value))
