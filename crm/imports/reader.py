"""Reading spreadsheets as users keep them: .xlsx/.xlsm/.xls/.ods via python-calamine, .csv in
UTF-8 (with or without BOM), UTF-16 or GB18030.

Everything that stops a file from being read becomes a `FileReadError` whose message (in
Chinese) names the file, so callers can show it as is and write nothing.
"""
from __future__ import annotations

import csv
import io
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import python_calamine as pc

DEFAULT_MAX_BYTES = 50 * 1024 * 1024
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
_CFB_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"


class FileReadError(Exception):
    """The file as a whole cannot be read; the message is for the user."""


@dataclass
class RawSheet:
    name: str
    rows: list[list[Any]]


@dataclass
class Workbook:
    file_name: str
    sheets: list[RawSheet]


def max_upload_bytes() -> int:
    """The size limit: CRM_MAX_UPLOAD_MB (default 50 MB)."""
    try:
        from crm import config

        return config.max_upload_bytes()
    except ValueError:
        return DEFAULT_MAX_BYTES


def read_workbook(source: str | os.PathLike[str] | bytes, file_name: str | None = None,
                  max_bytes: int | None = None) -> Workbook:
    """Every sheet of a spreadsheet or CSV file, as lists of cell values.

    `source` is a path or the file's bytes (an upload); `file_name` names it in messages.
    """
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
                return _read_csv(data, name)
            raise FileReadError(f"文件「{name}」不是有效的 Excel 文件（内容无法识别，可能已损坏或扩展名不对）")
        return _read_spreadsheet(data, name)
    if suffix in CSV_SUFFIXES or _is_text(data):
        return _read_csv(data, name)
    raise FileReadError(f"文件「{name}」不是表格文件（支持 .xlsx / .xls / .csv）")


def _size(n: int) -> str:
    """50 MB, 1.5 MB, 200 KB: a limit below 1 MB is not shown as "0 MB"."""
    if n >= 1048576:
        return f"{n / 1048576:.1f}".removesuffix(".0") + " MB"
    return f"{max(n / 1024, 0.1):.1f}".removesuffix(".0") + " KB"


def _looks_encrypted(data: bytes) -> bool:
    # An encrypted OOXML file is a compound file holding an "EncryptionInfo" stream.
    return "EncryptionInfo".encode("utf-16-le") in data[:1_000_000] or "EncryptedPackage".encode("utf-16-le") in data


def _read_spreadsheet(data: bytes, name: str) -> Workbook:
    try:
        wb = pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except pc.PasswordError:
        raise FileReadError(f"文件「{name}」设置了打开密码（已加密），请在 Excel/WPS 中取消密码后再导入") from None
    except Exception as exc:  # calamine raises several types for corrupt files
        raise FileReadError(f"文件「{name}」无法读取，可能已损坏：{_short(exc)}") from None
    sheets: list[RawSheet] = []
    for sheet_name in wb.sheet_names:
        try:
            sheet = wb.get_sheet_by_name(sheet_name)
            rows = sheet.to_python(skip_empty_area=False)
        except Exception as exc:
            raise FileReadError(f"文件「{name}」的工作表「{sheet_name}」无法读取：{_short(exc)}") from None
        sheets.append(RawSheet(sheet_name, rows))
    if not sheets:
        raise FileReadError(f"文件「{name}」中没有工作表")
    return Workbook(name, sheets)


def _is_text(data: bytes) -> bool:
    head = data[:4096]
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
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


def decode_text(data: bytes) -> str:
    """UTF-8 (BOM or not), UTF-16 with BOM (Excel's 'Unicode text'), else GB18030 (a superset of GBK)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("gb18030", errors="replace")


def _read_csv(data: bytes, name: str) -> Workbook:
    text = decode_text(data)
    delimiter = _guess_delimiter(text)
    try:
        rows: list[list[Any]] = [row for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise FileReadError(f"文件「{name}」不是有效的 CSV：{_short(exc)}") from None
    return Workbook(name, [RawSheet(Path(name).stem or "CSV", rows)])


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
