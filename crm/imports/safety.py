"""What reading a spreadsheet from anyone may cost, checked before the file is read.

An .xlsx is a zip of XML parts, and both layers can lie: a 5 KB file can declare a sheet of
16,384 × 1,048,576 cells, or expand to gigabytes. python-calamine allocates for the extent of the
cells it finds, so one cell at XFD1048576 beside one at A1 asks for half a terabyte and aborts the
process. `inspect_xlsx` looks at the zip without parsing any XML tree — the central directory for
sizes and ratios, then a streaming byte scan of each sheet part for its real extent (the last row
and column holding a cell), its hidden rows and whether a cell could hold a NUL or be over-long —
so a hostile file is refused with a message naming the file, the sheet and the limit before the
reader (in its own child process, crm.imports.isolated) ever sees it.

The limits come from crm.config (environment variables listed in the README).
"""
from __future__ import annotations

import html
import posixpath
import re
import struct
import zipfile
from dataclasses import dataclass, field
from typing import Callable, Iterator

from crm import config

# A part is checked for its compression ratio only above this size: small parts of any ratio are harmless.
RATIO_FLOOR_BYTES = 10 * 1024 * 1024
MAX_PARTS = 10_000  # zipfile builds an object per entry: a million tiny entries are memory too
_CHUNK = 4 * 1024 * 1024
_EARLY_CHECK_BYTES = 16 * 1024 * 1024  # past this, a sheet's extent is checked after every piece (a stop, not a wait)


class LimitExceeded(Exception):
    """A file is over one of the reading limits; the message (Chinese) names the file and the limit."""


@dataclass(frozen=True)
class ReadLimits:
    """What one spreadsheet may cost to read (crm.config: CRM_IMPORT_*)."""
    max_rows: int = 200_000
    max_columns: int = 16_384
    max_cells: int = 10_000_000
    max_cell_chars: int = 1_000_000
    max_expanded_bytes: int = 500 * 1024 * 1024
    max_ratio: float = 100.0
    memory_bytes: int = 2048 * 1024 * 1024
    timeout_seconds: float = 60.0

    @classmethod
    def from_config(cls) -> "ReadLimits":
        """The limits in force (environment variables read now, so a test or a deployment sets them)."""
        return cls(max_rows=config.import_max_rows(), max_columns=config.import_max_columns(),
                   max_cells=config.import_max_cells(), max_cell_chars=config.import_max_cell_chars(),
                   max_expanded_bytes=config.import_max_expanded_bytes(), max_ratio=config.import_max_ratio(),
                   memory_bytes=config.import_memory_bytes(), timeout_seconds=config.import_timeout_seconds())


@dataclass
class SheetFacts:
    """What the byte scan of one sheet part found."""
    part: str
    name: str | None = None  # the sheet's name, when the workbook maps the part to one
    state: str = "visible"  # visible / hidden / veryHidden (workbook.xml)
    declared: str | None = None  # the <dimension ref> as written
    cells: int = 0  # cell elements present
    last_row: int = 0  # 1-based, of the last row element holding cells
    last_column: int = 0  # 1-based, of the right-most cell
    hidden_rows: list[int] = field(default_factory=list)  # 1-based row numbers marked hidden
    maybe_nul: bool = False  # a NUL could reach a cell (_x0000_, a raw NUL byte)
    maybe_long: bool = False  # a cell could be longer than the limit (a long text run, rich text)


@dataclass
class XlsxFacts:
    """The scan of a whole .xlsx/.xlsm: per sheet, and whether the shared strings need a cell check."""
    sheets: dict[str, SheetFacts] = field(default_factory=dict)  # by sheet name (parts without one by part)
    strings_maybe_nul: bool = False
    strings_maybe_long: bool = False

    def by_name(self, name: str) -> SheetFacts | None:
        return self.sheets.get(name)

    @property
    def cells_need_check(self) -> bool:
        """Whether the read rows must be checked cell by cell for NULs and over-long cells."""
        return self.strings_maybe_nul or self.strings_maybe_long or any(
            s.maybe_nul or s.maybe_long for s in self.sheets.values())


# ------------------------------------------------------------------ cell references
def column_letters(n: int) -> str:
    """1 → A, 16384 → XFD."""
    out = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def column_number(letters: str | bytes) -> int:
    """A → 1, XFD → 16384."""
    text = letters.decode("ascii") if isinstance(letters, bytes) else letters
    n = 0
    for ch in text.upper():
        n = n * 26 + ord(ch) - 64
    return n


def cell_ref(row: int, column: int) -> str:
    """1-based row and column → "E2"."""
    return f"{column_letters(column)}{row}"


def number(n: int | float) -> str:
    """1048576 → "1,048,576" (limits and counts in messages)."""
    return f"{n:,.0f}" if float(n).is_integer() else f"{n:,}"


def size_text(n: int) -> str:
    """Bytes as the messages show them: 1.5 GB, 500 MB, 200 KB."""
    if n >= 1024 ** 3:
        return f"{n / 1024 ** 3:.1f}".removesuffix(".0") + " GB"
    if n >= 1024 ** 2:
        return f"{n / 1024 ** 2:.1f}".removesuffix(".0") + " MB"
    return f"{max(n / 1024, 0.1):.1f}".removesuffix(".0") + " KB"


# ------------------------------------------------------------------ the zip
def zip_entry_count(data: bytes) -> int | None:
    """The number of entries the end-of-central-directory record declares (None when there is none:
    a truncated or damaged zip). Read by hand so a zip of a million entries is refused before
    zipfile builds an object for each."""
    tail = data[-(65535 + 22):]
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < 22:
        return None
    (entries,) = struct.unpack_from("<H", tail, at + 10)
    if entries == 0xFFFF:  # zip64: the real count is in the zip64 end record, found through its locator
        loc = tail.rfind(b"PK\x06\x07", 0, at)
        if loc >= 0 and len(tail) - loc >= 20:
            (offset,) = struct.unpack_from("<Q", tail, loc + 8)
            if offset + 56 <= len(data) and data[offset:offset + 4] == b"PK\x06\x06":
                (entries,) = struct.unpack_from("<Q", data, offset + 32)
    return entries


_ATTR = re.compile(rb"""([\w:.-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')""")


def _attrs(raw: bytes) -> dict[str, str]:
    """The attributes of one start tag, local names (a prefix dropped), values unescaped."""
    out: dict[str, str] = {}
    for m in _ATTR.finditer(raw):
        key = m.group(1).decode("utf-8", "replace")
        value = (m.group(2) if m.group(2) is not None else m.group(3)).decode("utf-8", "replace")
        out[key] = html.unescape(value)
        out.setdefault(key.rsplit(":", 1)[-1], out[key])
    return out


def _tags(xml: bytes, local: bytes) -> list[dict[str, str]]:
    return [_attrs(m.group(1)) for m in re.finditer(rb"<(?:[\w.-]+:)?" + local + rb"\b([^>]*)>", xml)]


def _small_part(zf: zipfile.ZipFile, name: str, limit: int = 16 * 1024 * 1024) -> bytes | None:
    """A part read whole, when it exists and is small (workbook.xml, the relationships)."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        return None
    with zf.open(info) as f:
        return f.read(limit + 1)[:limit]


def _target(base_dir: str, target: str) -> str:
    """A relationship target as a zip entry name: relative to the part's folder, or absolute from the root."""
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(base_dir, target))


def _sheet_parts(zf: zipfile.ZipFile) -> dict[str, tuple[str, str]]:
    """part name → (sheet name, state) as the workbook declares them (empty when it cannot be followed)."""
    root = _small_part(zf, "_rels/.rels") or b""
    book = next((_target("", r.get("Target", "")) for r in _tags(root, b"Relationship")
                 if r.get("Type", "").endswith("/officeDocument")), "xl/workbook.xml")
    workbook = _small_part(zf, book)
    if workbook is None:
        return {}
    folder = posixpath.dirname(book)
    rels = _small_part(zf, posixpath.join(folder, "_rels", posixpath.basename(book) + ".rels")) or b""
    targets = {r.get("Id", ""): _target(folder, r.get("Target", "")) for r in _tags(rels, b"Relationship")}
    out: dict[str, tuple[str, str]] = {}
    for sheet in _tags(workbook, b"sheet"):
        rid = next((v for k, v in sheet.items() if k.endswith(":id")), sheet.get("id", ""))
        if rid in targets and "name" in sheet:
            out[targets[rid]] = (sheet["name"], sheet.get("state") or "visible")
    return out


def _pieces(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[tuple[bytes, bool]]:
    """The part's bytes in pieces that each end just before a '<', so no tag is cut in two; the
    flag says a piece is one text run too long to keep whole (it holds no tag)."""
    carry = b""
    with zf.open(info) as f:
        while True:
            block = f.read(_CHUNK)
            if not block:
                if carry:
                    yield carry, False
                return
            buf = carry + block
            cut = buf.rfind(b"<")
            if cut <= 0:
                if len(buf) > 4 * _CHUNK:  # megabytes without a tag: one enormous text run
                    yield buf, True
                    carry = b""
                else:
                    carry = buf
                continue
            yield buf[:cut], False
            carry = buf[cut:]


_ROW_FAST = re.compile(rb'<row r="(\d{1,9})"[^>]*(?<!/)>')  # rows with content (a self-closing row has no cells)
_CELL_FAST = re.compile(rb'<c r="([A-Z]{1,4})\d')
_HIDDEN_ROW = re.compile(rb'<(?:[\w.-]+:)?row\b([^>]*\bhidden\s*=\s*["\'](?:1|true)["\'][^>]*)>')
_TAG = re.compile(rb"<(?:[\w.-]+:)?(row|c)\b([^>]*)>")
_REF = re.compile(rb'\br\s*=\s*["\']([A-Za-z]{0,4})(\d{0,9})["\']')
_DIMENSION = re.compile(rb'<(?:[\w.-]+:)?dimension\b[^>]*\bref\s*=\s*["\']([^"\']*)["\']')


def _maybe_nul(piece: bytes) -> bool:
    # `&#0;` is not looked for: calamine refuses it as invalid XML, which is reported as such
    return b"\x00" in piece or b"_x0000_" in piece


def _maybe_long(piece: bytes, long_run: re.Pattern[bytes], rich: bool = True) -> bool:
    # a plain text run over the limit, or (in the shared strings, where Excel keeps formatted text)
    # rich text: a string in several runs, each of which may be short
    return bool(long_run.search(piece)) or (rich and (b"<r>" in piece or b"<r " in piece))


def _declared_end(declared: str | None) -> tuple[int, int] | None:
    """The last row and column of a <dimension ref> ("A1:I100003" → (100003, 9)), None when unreadable."""
    m = re.search(r"([A-Za-z]{1,3})(\d{1,7})$", declared or "")
    return (int(m.group(2)), column_number(m.group(1))) if m else None


def _within(end: tuple[int, int] | None, limits: ReadLimits) -> bool:
    return end is not None and end[0] <= limits.max_rows and end[1] <= limits.max_columns and \
        end[0] * end[1] <= limits.max_cells


def _scan_sheet(zf: zipfile.ZipFile, info: zipfile.ZipInfo, facts: SheetFacts, long_run: re.Pattern[bytes],
                limits: ReadLimits, check: Callable[[], None] = lambda: None) -> None:
    """Hidden rows, the NUL / long-cell hints and, when needed, the real extent of one sheet part,
    in one streaming pass.

    A sheet whose declared dimension is within the limits is only counted (its cells, with
    C-level byte searches); one without a dimension is counted and its last row found. When a
    sheet holds more cells than it declares, or its dimension is over the limits, the part is
    walked for its real extent: the last row and column that hold a cell, whatever it declares. That walk counts the form Excel, WPS and openpyxl write (no
    namespace prefix, every row and cell carrying its `r` first) with byte searches too, and any
    other form tag by tag. `check()` (the limits) runs after each piece once a part is past 16 MB,
    so a sheet far over them stops early. What the scan cannot see (a dimension that lies small)
    is still bounded: the reading child checks the extent calamine found, and its memory limit
    ends it before a range it cannot hold (crm.imports.isolated).
    """
    head = next(_pieces(zf, info), (b"", False))[0][:65536]
    m = _DIMENSION.search(head)
    facts.declared = m.group(1).decode("ascii", "replace")[:40] if m else None
    end = _declared_end(facts.declared)
    root = re.search(rb"<([\w.-]+:)?worksheet\b", head)
    if (end is None or _within(end, limits)) and not (root and root.group(1)):
        scanned = 0
        for piece, text_only in _pieces(zf, info):
            scanned += len(piece)
            _hints(piece, text_only, facts, long_run)
            facts.cells += piece.count(b"<c ") + piece.count(b"<c>")
            if end is None:  # no dimension: the rows at least (the child checks the columns calamine finds)
                rows = _ROW_FAST.findall(piece)
                if rows:
                    facts.last_row = max(facts.last_row, max(map(int, rows)))
                if scanned > _EARLY_CHECK_BYTES:
                    check()
        if end is None:
            return
        if facts.cells <= end[0] * end[1]:
            facts.last_row, facts.last_column = end
            return
        facts.cells, facts.hidden_rows = 0, []  # more cells than it declares: find where they are
    _walk_sheet(zf, info, facts, long_run, check)


def _hints(piece: bytes, text_only: bool, facts: SheetFacts, long_run: re.Pattern[bytes]) -> None:
    """What one piece says about NULs, over-long cells and hidden rows."""
    if text_only:
        facts.maybe_long = True
        facts.maybe_nul = facts.maybe_nul or b"\x00" in piece
        return
    facts.maybe_nul = facts.maybe_nul or _maybe_nul(piece)
    # inline rich text in a sheet is rare enough to leave to the length rules of each field
    facts.maybe_long = facts.maybe_long or _maybe_long(piece, long_run, rich=False)
    if b"hidden" in piece:
        for m in _HIDDEN_ROW.finditer(piece):
            ref = _REF.search(m.group(1))
            if ref and ref.group(2):
                facts.hidden_rows.append(int(ref.group(2)))


def _walk_sheet(zf: zipfile.ZipFile, info: zipfile.ZipInfo, facts: SheetFacts, long_run: re.Pattern[bytes],
                check: Callable[[], None]) -> None:
    """The real extent of a sheet part (see _scan_sheet), with the same hints."""
    row = 0  # the current row (1-based) in document order, for rows and cells without `r`
    col = 0
    walk: bool | None = None  # None until the root element shows whether tags carry a prefix
    scanned = 0
    for piece, text_only in _pieces(zf, info):
        scanned += len(piece)
        _hints(piece, text_only, facts, long_run)
        if text_only:
            continue
        if walk is None:
            root = re.search(rb"<([\w.-]+:)?worksheet\b", piece)
            walk = bool(root and root.group(1))
        if not walk:
            cell_cols = _CELL_FAST.findall(piece)
            if len(cell_cols) == piece.count(b"<c ") and b"<c>" not in piece and b"<row>" not in piece:
                facts.cells += len(cell_cols)
                row_numbers = _ROW_FAST.findall(piece)
                if row_numbers:
                    facts.last_row = max(facts.last_row, max(map(int, row_numbers)))
                    row = int(row_numbers[-1])
                if cell_cols:
                    facts.last_column = max(facts.last_column, max(map(column_number, set(cell_cols))))
                if scanned > _EARLY_CHECK_BYTES:
                    check()
                continue
        for m in _TAG.finditer(piece):
            kind, attrs = m.group(1), m.group(2)
            ref = _REF.search(attrs)
            if kind == b"row":
                row = int(ref.group(2)) if ref and ref.group(2) else row + 1
                col = 0
                continue
            facts.cells += 1
            if ref and ref.group(1):
                col = column_number(ref.group(1))
                if ref.group(2):
                    row = int(ref.group(2))
            else:
                col += 1
            if not attrs.rstrip().endswith(b"/"):
                facts.last_row = max(facts.last_row, row)
            facts.last_column = max(facts.last_column, col)
        if scanned > _EARLY_CHECK_BYTES:
            check()


def _scan_strings(zf: zipfile.ZipFile, info: zipfile.ZipInfo, facts: XlsxFacts, long_run: re.Pattern[bytes]) -> None:
    for piece, text_only in _pieces(zf, info):
        facts.strings_maybe_long = facts.strings_maybe_long or text_only or _maybe_long(piece, long_run)
        facts.strings_maybe_nul = facts.strings_maybe_nul or _maybe_nul(piece)
        if facts.strings_maybe_long and facts.strings_maybe_nul:
            return


def check_zip_sizes(zf: zipfile.ZipFile, file_name: str, file_size: int, limits: ReadLimits,
                    names: dict[str, str] | None = None) -> None:
    """The expansion checks on the central directory: the sum of the parts' uncompressed sizes
    against the absolute cap, and each large part's ratio against the ratio limit."""
    infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    if total > limits.max_expanded_bytes:
        raise LimitExceeded(
            f"文件「{file_name}」只有 {size_text(file_size)}，解压后却有 {size_text(total)}，超过解压上限 "
            f"{size_text(limits.max_expanded_bytes)}（CRM_IMPORT_MAX_EXPANDED_MB），可能是压缩炸弹，未读取")
    for i in infos:
        if i.file_size > RATIO_FLOOR_BYTES and i.file_size > limits.max_ratio * max(i.compress_size, 1):
            ratio = i.file_size / max(i.compress_size, 1)
            where = f"工作表「{names[i.filename]}」" if names and i.filename in names else f"部件 {i.filename}"
            raise LimitExceeded(
                f"文件「{file_name}」的{where}压缩比 {ratio:,.0f}:1（{size_text(i.compress_size)} 解压为 "
                f"{size_text(i.file_size)}），超过上限 {number(limits.max_ratio)}:1（CRM_IMPORT_MAX_RATIO），"
                "可能是压缩炸弹，未读取")


def check_extent(file_name: str, sheet: str, last_row: int, last_column: int, limits: ReadLimits,
                 declared: str | None = None, cells: int | None = None, partial: bool = False) -> None:
    """Rows, columns and area of a sheet's real extent (its last row and column holding a cell)
    against the limits; the message names the far cell, and the declared range when it differs.
    `partial`: the scan stopped early, so the extent is only how far it got."""
    if not last_row:
        return
    if not last_column:  # only the rows are known (a sheet without a dimension): check those
        if last_row > limits.max_rows:
            reach = (f"检查到第 {number(last_row)} 行时已超出" if partial else f"有内容直到第 {number(last_row)} 行")
            raise LimitExceeded(f"文件「{file_name}」的工作表「{sheet}」{reach}，超过行数上限 {number(limits.max_rows)} 行"
                                "（CRM_IMPORT_MAX_ROWS），未读取；请删除多余的行或拆分文件后再导入")
        return
    far = cell_ref(last_row, last_column)
    where = f"文件「{file_name}」的工作表「{sheet}」"
    if partial:
        if last_row > limits.max_rows:
            why = f"行数上限 {number(limits.max_rows)} 行（CRM_IMPORT_MAX_ROWS）"
        elif last_column > limits.max_columns:
            why = f"列数上限 {number(limits.max_columns)} 列（CRM_IMPORT_MAX_COLUMNS）"
        elif last_row * last_column > limits.max_cells:
            why = f"单元格上限 {number(limits.max_cells)} 个（CRM_IMPORT_MAX_CELLS）"
        else:
            return
        raise LimitExceeded(f"{where}超过{why}：检查到第 {number(last_row)} 行（数据范围 A1:{far}）时已超出，"
                            "未读取；请删除多余的内容或拆分文件后再导入")
    said = ""  # the rest of the parenthesis after the range: how little is there, what it declared
    if cells is not None and cells * 100 < last_row * last_column:  # a sparse sheet
        said = f"，实际只有 {number(cells)} 个单元格"
        if declared and declared.upper() != f"A1:{far}":
            said += f"，表中声明的范围为 {declared}"
    if last_row > limits.max_rows:
        raise LimitExceeded(f"{where}有内容直到第 {number(last_row)} 行（数据范围 A1:{far}{said}），超过行数上限 "
                            f"{number(limits.max_rows)} 行（CRM_IMPORT_MAX_ROWS）；请删除多余的行或拆分文件后再导入")
    if last_column > limits.max_columns:
        raise LimitExceeded(f"{where}有内容直到第 {number(last_column)} 列（数据范围 A1:{far}{said}），超过列数上限 "
                            f"{number(limits.max_columns)} 列（CRM_IMPORT_MAX_COLUMNS）；请删除多余的列后再导入")
    area = last_row * last_column
    if area > limits.max_cells:
        raise LimitExceeded(f"{where}的数据范围 A1:{far}（{number(last_row)} 行 × {number(last_column)} 列 = "
                            f"{number(area)} 个单元格{said}）超过上限 {number(limits.max_cells)} 个单元格"
                            "（CRM_IMPORT_MAX_CELLS）；请删除远处多余的内容或拆分文件后再导入")


def open_xlsx(data: bytes, file_name: str, limits: ReadLimits) -> zipfile.ZipFile:
    """The zip, after the checks that need only its directory: a whole zip, a sane number of parts,
    the expanded size and each large part's ratio. Raises LimitExceeded or zipfile.BadZipFile."""
    import io

    entries = zip_entry_count(data)
    if entries is None:
        raise zipfile.BadZipFile("no end of central directory")
    if entries > MAX_PARTS:
        raise LimitExceeded(f"文件「{file_name}」包含 {number(entries)} 个部件，超过上限 {number(MAX_PARTS)}，"
                            "不是正常的 Excel 文件，未读取")
    zf = zipfile.ZipFile(io.BytesIO(data))
    names = {part: name for part, (name, _state) in _sheet_parts(zf).items()}
    check_zip_sizes(zf, file_name, len(data), limits, names)
    return zf


def scan_xlsx(zf: zipfile.ZipFile, file_name: str, limits: ReadLimits) -> XlsxFacts:
    """The byte scan of every sheet part (and the shared strings): each sheet's real extent against
    the limits (LimitExceeded names the far cell), its hidden rows, and whether any cell needs the
    NUL / length check once read. Streams each part in 4 MB pieces: memory stays flat whatever the size."""
    parts = _sheet_parts(zf)
    long_run = re.compile(rb">[^<]{%d,}" % (limits.max_cell_chars + 1))
    facts = XlsxFacts()
    known = set(zf.namelist())
    sheet_parts = [p for p in parts if p in known]
    # parts that look like sheets but that the workbook does not name are scanned too: calamine may still find them
    sheet_parts += [n for n in zf.namelist() if n not in parts and re.search(r"(^|/)worksheets/[^/]+\.xml$", n)]
    for part in sheet_parts:
        name, state = parts.get(part, (None, "visible"))
        sheet = SheetFacts(part, name, state)

        def check(sheet: SheetFacts = sheet, label: str = name or part, final: bool = False) -> None:
            # the count of cells is only whole at the end; before, the message leaves it out
            check_extent(file_name, label, sheet.last_row, sheet.last_column, limits, sheet.declared,
                         sheet.cells if final else None, partial=not final)

        _scan_sheet(zf, zf.getinfo(part), sheet, long_run, limits, check)
        check(final=True)
        facts.sheets[name or part] = sheet
    for n in zf.namelist():
        if n.lower().endswith("sharedstrings.xml"):
            _scan_strings(zf, zf.getinfo(n), facts, long_run)
    return facts
