"""Reading spreadsheets as users keep them: .xlsx/.xlsm/.xls/.ods via python-calamine, .csv in
UTF-8 (with or without BOM), UTF-16 (with or without BOM) or GB18030.

Everything that stops a file from being read becomes a `FileReadError` whose message (in
Chinese) names the file, so callers can show it as is and write nothing.

A file may come from anyone, so reading it may never take the serving process down:
- before any cell is read, crm.imports.safety checks the zip (expanded size, ratios, part count)
  and each sheet's real extent, against limits on rows, columns, cells and cell length
  (ReadLimits, environment variables CRM_IMPORT_*);
- calamine then runs in a child process with a memory and a time limit (crm.imports.isolated), so
  whatever the checks miss ends the child, not the server, and becomes one Chinese line;
- hidden and very hidden sheets and hidden rows are read but left out unless the caller asks for
  them (`include_hidden`), and NUL characters are removed from cells: both are reported in
  `Workbook.notices`.
CSV is parsed in this process (pure Python, bounded by the same limits as it goes).
"""
from __future__ import annotations

import codecs
import csv
import io
import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from crm.imports import safety
from crm.imports.isolated import ChildFailure, ReadingChild
from crm.imports.safety import LimitExceeded, ReadLimits, cell_ref, number, size_text

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"

VISIBLE, HIDDEN, VERY_HIDDEN = "visible", "hidden", "veryHidden"
# Notice kinds: what reading found or changed, for the user
HIDDEN_SHEET, HIDDEN_ROWS, NUL_REMOVED = "hidden_sheet", "hidden_rows", "nul_removed"
HOW_TO_INCLUDE = "勾选「导入隐藏的工作表和行」或在命令行加 --hidden 可导入"


class FileReadError(Exception):
    """The file as a whole cannot be read; the message is for the user."""


@dataclass
class RawSheet:
    name: str
    rows: list[list[Any]]
    state: str = VISIBLE  # VISIBLE / HIDDEN / VERY_HIDDEN
    hidden_rows: tuple[int, ...] = ()  # 1-based numbers of hidden rows that hold something

    @property
    def hidden(self) -> bool:
        return self.state != VISIBLE


@dataclass
class Notice:
    """Something the user should know about how a sheet was read (shown beside the preview, printed by the CLI)."""
    sheet: str
    kind: str  # HIDDEN_SHEET / HIDDEN_ROWS / NUL_REMOVED
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"sheet": self.sheet, "kind": self.kind, "message": self.message}


@dataclass
class Workbook:
    file_name: str
    sheets: list[RawSheet]  # what is to be imported
    notices: list[Notice] = field(default_factory=list)
    left_out: list[RawSheet] = field(default_factory=list)  # hidden sheets read but not to be imported

    @property
    def has_hidden(self) -> bool:
        """Whether anything in the file is hidden (a sheet or a row), imported or not."""
        return any(n.kind in (HIDDEN_SHEET, HIDDEN_ROWS) for n in self.notices)


def max_upload_bytes() -> int:
    """The size limit: CRM_MAX_UPLOAD_MB (default 50 MB)."""
    try:
        from crm import config

        return config.max_upload_bytes()
    except ValueError:
        return DEFAULT_MAX_BYTES


def read_workbook(source: str | os.PathLike[str] | bytes, file_name: str | None = None,
                  max_bytes: int | None = None, *, include_hidden: bool = False,
                  limits: ReadLimits | None = None) -> Workbook:
    """Every sheet of a spreadsheet or CSV file, as lists of cell values.

    `source` is a path or the file's bytes (an upload); `file_name` names it in messages. Hidden
    sheets and rows are left out unless `include_hidden`; either way `notices` says so.
    """
    book = read_everything(source, file_name, max_bytes, limits=limits)
    return book if include_hidden else leave_out_hidden(book)


class ReadAhead:
    """`read_workbook(path)` started in a thread, for a command-line import that has the file name
    before anything else: the reading child parses the file on one core while the importing process
    loads pandas, DuckDB and the archive on the other (about half a second of a scheduled job).
    `result()` returns the workbook or raises what read_workbook raised."""

    def __init__(self, path: str | os.PathLike[str], *, include_hidden: bool = False) -> None:
        import threading

        self.path = Path(path)
        self.include_hidden = include_hidden
        self._book: Workbook | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, name="crm-read-ahead", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            self._book = read_workbook(self.path, include_hidden=self.include_hidden)
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the result
            self._error = exc

    def matches(self, path: str | os.PathLike[str], include_hidden: bool) -> bool:
        return Path(path) == self.path and include_hidden == self.include_hidden

    def result(self) -> Workbook:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._book is not None
        return self._book


def read_everything(source: str | os.PathLike[str] | bytes, file_name: str | None = None,
                    max_bytes: int | None = None, *, limits: ReadLimits | None = None) -> Workbook:
    """The whole file, hidden sheets and rows included (the notices say which are hidden). The import
    page reads once with this and offers the choice; `leave_out_hidden` derives the other workbook."""
    if isinstance(source, (bytes, bytearray)):
        data = bytes(source)
        name = file_name or "上传文件"
    else:
        path = Path(source)
        name = file_name or path.name
        if not path.exists():
            raise FileReadError(f"文件「{name}」不存在")
        if path.is_dir():
            raise FileReadError(f"「{name}」是一个文件夹，不是表格文件")
        limit = max_bytes if max_bytes is not None else max_upload_bytes()
        size = path.stat().st_size
        if size > limit:
            raise FileReadError(f"文件「{name}」大小 {_size(size)}，超过上限 {_size(limit)}")
        data = path.read_bytes()
    limit = max_bytes if max_bytes is not None else max_upload_bytes()
    if len(data) > limit:
        raise FileReadError(f"文件「{name}」大小 {_size(len(data))}，超过上限 {_size(limit)}")
    if not data:
        raise FileReadError(f"文件「{name}」是空文件（0 字节）")
    try:
        limits = limits or ReadLimits.from_config()
    except ValueError as exc:  # a mistyped CRM_IMPORT_* variable
        raise FileReadError(f"无法读取文件「{name}」：{exc}") from None

    suffix = Path(name).suffix.lower()
    if data.startswith(_CFB_MAGIC) and _looks_encrypted(data):
        raise FileReadError(f"文件「{name}」设置了打开密码（已加密），请在 Excel/WPS 中取消密码后再导入")
    if data.startswith(_ZIP_MAGIC) or data.startswith(_CFB_MAGIC) or suffix in SPREADSHEET_SUFFIXES:
        if not (data.startswith(_ZIP_MAGIC) or data.startswith(_CFB_MAGIC)):
            if suffix in SPREADSHEET_SUFFIXES and _is_text(data):
                head = decode_text(data[:2048]).lstrip("\ufeff \r\n\t").lower()
                if head.startswith(("<html", "<!doctype", "<table", "<?xml", "<meta")):
                    raise FileReadError(f"文件「{name}」是网页（HTML/XML）格式、只是扩展名为 {suffix}，"
                                        "请在 Excel/WPS 中打开后另存为 .xlsx 再导入")
                # Some systems export CSV with an .xls name; that we can read.
                return _read_csv(data, name, limits)
            raise FileReadError(f"文件「{name}」不是有效的 Excel 文件（内容无法识别，可能已损坏或扩展名不对）")
        return _read_spreadsheet(data, name, limits)
    if suffix in CSV_SUFFIXES or _is_text(data):
        return _read_csv(data, name, limits)
    raise FileReadError(f"文件「{name}」不是表格文件（支持 .xlsx / .xls / .csv）")


def _size(n: int) -> str:
    """50 MB, 1.5 MB, 200 KB: a limit below 1 MB is not shown as "0 MB"."""
    if n >= 1048576:
        return f"{n / 1048576:.1f}".removesuffix(".0") + " MB"
    return f"{max(n / 1024, 0.1):.1f}".removesuffix(".0") + " KB"


def _looks_encrypted(data: bytes) -> bool:
    # An encrypted OOXML file is a compound file holding an "EncryptionInfo" stream.
    return "EncryptionInfo".encode("utf-16-le") in data[:1_000_000] or "EncryptedPackage".encode("utf-16-le") in data


def _read_spreadsheet(data: bytes, name: str, limits: ReadLimits) -> Workbook:
    """The checks, then calamine in its child, with the xlsx scan done here while the child reads."""
    zf = None
    if data.startswith(_ZIP_MAGIC):
        try:
            zf = safety.open_xlsx(data, name, limits)
        except LimitExceeded as exc:
            raise FileReadError(str(exc)) from None
        except Exception:  # noqa: BLE001 - zipfile raises several types for a damaged directory
            raise FileReadError(f"文件「{name}」不完整或已损坏（压缩包结构无法读取，可能在下载或复制时被截断），"
                                "请重新导出或另存为 .xlsx 后再导入") from None
    facts: safety.XlsxFacts | None = None
    try:
        with ReadingChild(data, memory_bytes=limits.memory_bytes, timeout_seconds=limits.timeout_seconds,
                          max_rows=limits.max_rows, max_columns=limits.max_columns, max_cells=limits.max_cells) as child:
            if zf is not None and any(n.endswith("workbook.xml") for n in zf.namelist()):
                try:
                    facts = safety.scan_xlsx(zf, name, limits)
                except LimitExceeded as exc:
                    raise FileReadError(str(exc)) from None
                except Exception:  # noqa: BLE001 - a part that does not decompress (truncated, bad CRC)
                    raise FileReadError(f"文件「{name}」已损坏（其中的工作表数据无法解压），请重新导出后再导入") from None
            read = child.collect()
    except ChildFailure as failure:
        raise FileReadError(_failure_message(failure, name, limits)) from None
    sheets: list[RawSheet] = []
    for got in read:
        hidden_rows: tuple[int, ...] = ()
        sheet_facts = facts.by_name(got.name) if facts else None
        if sheet_facts and sheet_facts.hidden_rows:
            hidden_rows = tuple(n for n in sorted(set(sheet_facts.hidden_rows))
                                if n <= len(got.rows) and _holds_something(got.rows[n - 1]))
        sheets.append(RawSheet(got.name, got.rows, got.state, hidden_rows))
    if not sheets:
        raise FileReadError(f"文件「{name}」中没有工作表")
    notices: list[Notice] = []
    if facts is None or facts.cells_need_check:  # xls/ods/xlsb have no scan: always looked at
        notices += _check_cells(sheets, name, limits)
    notices += _hidden_notices(sheets, included=True)
    return Workbook(name, sheets, notices)


def _failure_message(failure: ChildFailure, name: str, limits: ReadLimits) -> str:
    """One Chinese line for whatever ended the reading child, naming the file and the limit."""
    where = f"（工作表「{failure.sheet}」）" if failure.sheet else ""
    if failure.kind == "password":
        return f"文件「{name}」设置了打开密码（已加密），请在 Excel/WPS 中取消密码后再导入"
    if failure.kind == "extent":
        rows, columns = failure.detail
        try:
            safety.check_extent(name, failure.sheet or "", rows, columns, limits)
        except LimitExceeded as exc:
            return str(exc)
    if failure.kind == "memory":
        return (f"读取文件「{name}」{where}时超出内存上限 {size_text(limits.memory_bytes)}（CRM_IMPORT_MEMORY_MB），"
                "已停止读取：文件的内容远超正常表格，可能已损坏或是恶意构造的文件")
    if failure.kind == "timeout":
        return (f"读取文件「{name}」超过时间上限 {number(limits.timeout_seconds)} 秒（CRM_IMPORT_TIMEOUT_S），已停止读取："
                "文件过大或结构异常，请拆分或另存为 .xlsx 后再导入")
    if failure.kind == "crashed":
        return f"读取文件「{name}」时读取程序意外退出（退出码 {failure.detail}），文件可能已损坏，未读取任何内容"
    return f"文件「{name}」{where}无法读取，可能已损坏，请在 Excel/WPS 中打开后另存为 .xlsx 再导入"


def _holds_something(row: list[Any]) -> bool:
    return any(c not in (None, "") for c in row)


def _check_cells(sheets: list[RawSheet], name: str, limits: ReadLimits) -> list[Notice]:
    """Every text cell: over the length limit is a FileReadError naming the cell and its real length;
    NUL characters (which no one types, and which show as �) are removed, and reported."""
    notices: list[Notice] = []
    longest = limits.max_cell_chars
    for sheet in sheets:
        stripped: list[str] = []
        for r, row in enumerate(sheet.rows):
            for c, value in enumerate(row):
                if value.__class__ is not str:
                    continue
                if len(value) > longest:
                    raise FileReadError(
                        f"文件「{name}」的工作表「{sheet.name}」单元格 {cell_ref(r + 1, c + 1)} 有 {number(len(value))} 字，"
                        f"超过单元格字数上限 {number(longest)} 字（CRM_IMPORT_MAX_CELL_CHARS），请删减后再导入")
                if "\x00" in value:
                    row[c] = value.replace("\x00", "")
                    stripped.append(cell_ref(r + 1, c + 1))
        if stripped:
            shown = "、".join(stripped[:10]) + (f" 等 {len(stripped)} 个" if len(stripped) > 10 else "")
            notices.append(Notice(sheet.name, NUL_REMOVED,
                                  f"工作表「{sheet.name}」有 {len(stripped)} 个单元格含空字符（NUL），已去除：{shown}"))
    return notices


def _row_ranges(numbers: tuple[int, ...] | list[int], shown: int = 12) -> str:
    """3、5–7、10 (the first `shown` runs, then 等)."""
    runs: list[tuple[int, int]] = []
    for n in numbers:
        if runs and n == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], n)
        else:
            runs.append((n, n))
    text = "、".join(str(a) if a == b else f"{a}–{b}" for a, b in runs[:shown])
    return text + (" 等" if len(runs) > shown else "")


def _hidden_notices(sheets: list[RawSheet], included: bool) -> list[Notice]:
    """What is hidden in the file and whether it is imported: one notice per hidden sheet and per
    sheet with hidden rows."""
    out: list[Notice] = []
    for sheet in sheets:
        if sheet.hidden:
            how = "深度隐藏（只能在 VBA 中取消隐藏）" if sheet.state == VERY_HIDDEN else "隐藏"
            text = (f"工作表「{sheet.name}」是{how}的工作表，已按要求一并导入" if included
                    else f"工作表「{sheet.name}」是{how}的工作表，未导入（{HOW_TO_INCLUDE}）")
            out.append(Notice(sheet.name, HIDDEN_SHEET, text))
        elif sheet.hidden_rows:
            rows = _row_ranges(sheet.hidden_rows)
            n = len(sheet.hidden_rows)
            text = (f"工作表「{sheet.name}」第 {rows} 行是隐藏行（共 {n} 行），已按要求一并导入" if included
                    else f"工作表「{sheet.name}」第 {rows} 行是隐藏行（共 {n} 行），未导入（{HOW_TO_INCLUDE}）")
            out.append(Notice(sheet.name, HIDDEN_ROWS, text))
    return out


def left_out_reason(sheet: RawSheet) -> str:
    """Why a hidden sheet is not imported, as a skipped sheet's reason."""
    how = "深度隐藏（只能在 VBA 中取消隐藏）" if sheet.state == VERY_HIDDEN else "隐藏"
    return f"{how}的工作表，未导入（{HOW_TO_INCLUDE}）"


def hidden_only_message(book: Workbook) -> str | None:
    """The one-line refusal when everything with data is hidden (and left out): otherwise the
    import would say the file is empty, which is not what the user sees in Excel either."""
    if any(_holds_something(r) for s in book.sheets for r in s.rows):
        return None
    hidden = [s.name for s in book.left_out if any(_holds_something(r) for r in s.rows)]
    rows = [s for s in book.sheets if s.hidden_rows]
    if not hidden and not rows:
        return None
    where = "、".join(f"「{n}」" for n in hidden) or "、".join(f"「{s.name}」的隐藏行" for s in rows)
    return f"文件「{book.file_name}」的数据都在隐藏的{'工作表' if hidden else '行'}中（{where}），未导入；{HOW_TO_INCLUDE}"


def leave_out_hidden(book: Workbook) -> Workbook:
    """The workbook without its hidden sheets, and with its hidden rows emptied (so every other row
    keeps its spreadsheet row number in messages); the notices say what was left out."""
    if not book.has_hidden:
        return book
    sheets: list[RawSheet] = []
    left_out = list(book.left_out)
    for sheet in book.sheets:
        if sheet.hidden:
            left_out.append(sheet)
            continue
        if sheet.hidden_rows:
            rows = list(sheet.rows)
            for n in sheet.hidden_rows:
                rows[n - 1] = []
            sheet = replace(sheet, rows=rows)
        sheets.append(sheet)
    kept = [n for n in book.notices if n.kind not in (HIDDEN_SHEET, HIDDEN_ROWS)]
    every = [*book.sheets, *book.left_out]
    return Workbook(book.file_name, sheets, kept + _hidden_notices(every, included=False), left_out)


def _is_text(data: bytes) -> bool:
    head = data[:4096]
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")) or _utf16_without_bom(head):
        return True
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
        return True
    except UnicodeDecodeError as exc:
        if exc.start > len(head) - 4:  # a multi-byte char cut at the 4 KiB boundary
            return True
    try:
        head.decode("gb18030")
        return True
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a GBK char cut at the 4 KiB boundary


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' when the head is UTF-16 text without a byte-order mark (some
    systems' "Unicode" export): the ASCII in a CSV (digits, commas, line breaks) leaves a zero byte
    in every other position, and the head decodes as UTF-16 without error."""
    head = data[:4096]
    if len(head) < 8:
        return None
    even, odd = head[0::2].count(0), head[1::2].count(0)
    half = len(head) // 2
    if odd > half * 0.2 and even * 10 < odd:
        encoding = "utf-16-le"
    elif even > half * 0.2 and odd * 10 < even:
        encoding = "utf-16-be"
    else:
        return None
    try:
        codecs.getincrementaldecoder(encoding)().decode(head[: len(head) // 2 * 2], final=False)
    except UnicodeDecodeError:
        return None
    return encoding


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 (BOM or not: Excel's 'Unicode text'), else GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    utf16 = _utf16_without_bom(data)
    if utf16:
        return data.decode(utf16, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def _read_csv(data: bytes, name: str, limits: ReadLimits | None = None) -> Workbook:
    """CSV in this process, within the same limits as a spreadsheet: rows, columns and cells are
    counted as the parser goes, so a hostile file stops at the limit instead of filling memory."""
    limits = limits or ReadLimits()
    text = decode_text(data)
    sheet_name = Path(name).stem or "CSV"
    delimiter = _guess_delimiter(text)
    if csv.field_size_limit() <= len(text):  # an over-long cell is reported with its real length, below
        csv.field_size_limit(len(text) + 1)
    rows: list[list[Any]] = []
    width = 0
    where = f"文件「{name}」"
    try:
        for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter):
            rows.append(row)
            n = len(rows)
            if len(row) > width:
                width = len(row)
                if width > limits.max_columns:
                    raise FileReadError(f"{where}第 {number(n)} 行有 {number(width)} 列，超过列数上限 "
                                        f"{number(limits.max_columns)} 列（CRM_IMPORT_MAX_COLUMNS）")
            if n > limits.max_rows:
                raise FileReadError(f"{where}超过行数上限 {number(limits.max_rows)} 行（CRM_IMPORT_MAX_ROWS），"
                                    "请拆分文件后再导入")
            if n * width > limits.max_cells:
                raise FileReadError(f"{where}的数据范围（{number(n)} 行 × {number(width)} 列）超过上限 "
                                    f"{number(limits.max_cells)} 个单元格（CRM_IMPORT_MAX_CELLS），请拆分文件后再导入")
            if row and max(map(len, row)) > limits.max_cell_chars:
                c, cell = max(enumerate(row), key=lambda x: len(x[1]))
                raise FileReadError(f"{where}第 {number(n)} 行第 {c + 1} 列的单元格有 {number(len(cell))} 字，超过单元格字数"
                                    f"上限 {number(limits.max_cell_chars)} 字（CRM_IMPORT_MAX_CELL_CHARS），请删减后再导入")
    except csv.Error:
        raise FileReadError(f"{where}不是有效的 CSV（第 {len(rows) + 1} 行附近格式有误，例如引号没有成对）") from None
    sheet = RawSheet(sheet_name, rows)
    notices = _check_cells([sheet], name, limits) if "\x00" in text else []
    return Workbook(name, [sheet], notices)


def _guess_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most rows of one width (of two or more).

    csv.Sniffer picks `,` for `张三;13812345678;1,200;"老客户; VIP"`; counting consistent widths
    does not.
    """
    sample = text[:20000]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n") + 1]  # no half line at the end
    best: tuple[int, int] | None = None
    choice = ","
    for delimiter in (",", "\t", ";", "|"):
        try:
            rows = list(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter))[:100]
        except csv.Error:
            continue
        widths = [len(r) for r in rows if any(c.strip() for c in r)]
        if not widths:
            continue
        width = Counter(widths).most_common(1)[0][0]
        if width < 2:
            continue
        key = (sum(w == width for w in widths), width)
        if best is None or key > best:
            best, choice = key, delimiter
    return choice


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]
