"""Hostile spreadsheets, made by the tests themselves (issue 17): each is small on disk and built in
well under a second, but asks a naive reader for gigabytes, hangs it or hides data from it.

`xlsx()` writes a minimal but valid workbook from raw sheet XML, so a test controls every byte the
reader sees (openpyxl would fix the dimension, truncate long cells and refuse NULs).
"""
from __future__ import annotations

import functools
import io
import struct
import zipfile
import zlib

T1_HEAD = ["客户编号", "客户姓名", "联系电话", "公司"]

_CT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
       '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
       '<Default Extension="xml" ContentType="application/xml"/>'
       '<Override PartName="/xl/workbook.xml" '
       'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>{parts}</Types>')
_RELS = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
         '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
         '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
         'Target="xl/workbook.xml"/></Relationships>')
_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"


def escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cell(ref: str, value: object) -> str:
    """One cell: a number as <v>, anything else as an inline string."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<c r="{ref}"><v>{value}</v></c>'
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'


def col(n: int) -> str:
    out = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def rows_xml(rows: list[list[object]], hidden: set[int] = frozenset(), first: int = 1) -> str:  # type: ignore[assignment]
    out = []
    for i, row in enumerate(rows, start=first):
        cells = "".join(cell(f"{col(j)}{i}", v) for j, v in enumerate(row, start=1) if v is not None)
        mark = ' hidden="1"' if i in hidden else ""
        out.append(f'<row r="{i}"{mark}>{cells}</row>')
    return "".join(out)


def sheet_xml(body: str, dimension: str | None = None, before: str = "") -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet {_NS}>{dim}{before}'
            f"<sheetData>{body}</sheetData></worksheet>")


def xlsx(sheets: list[tuple[str, str | bytes, str | None]]) -> bytes:
    """A workbook of (name, sheet XML, state None/'hidden'/'veryHidden') sheets."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", _CT.format(parts="".join(
            f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="{_SHEET_TYPE}"/>'
            for i in range(1, len(sheets) + 1))))
        z.writestr("_rels/.rels", _RELS)
        entries = "".join(
            f'<sheet name="{escape(name)}" sheetId="{i}"{f" state={chr(34)}{state}{chr(34)}" if state else ""} r:id="rId{i}"/>'
            for i, (name, _body, state) in enumerate(sheets, start=1))
        z.writestr("xl/workbook.xml", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   f'<workbook {_NS} xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                   f"<sheets>{entries}</sheets></workbook>")
        rels = "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                       f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(sheets) + 1))
        z.writestr("xl/_rels/workbook.xml.rels", '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                   '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                   f"{rels}</Relationships>")
        for i, (_name, body, _state) in enumerate(sheets, start=1):
            z.writestr(f"xl/worksheets/sheet{i}.xml", body)
    return buf.getvalue()


def profiles(rows: list[list[object]], name: str = "客户档案", hidden_rows: set[int] = frozenset()) -> bytes:  # type: ignore[assignment]
    """A T1 sheet (header + rows) from raw XML."""
    return xlsx([(name, sheet_xml(rows_xml([T1_HEAD, *rows], hidden_rows)), None)])


# ------------------------------------------------------------------ the corpus
def declared_range_bomb(second_cell: bool = False) -> bytes:
    """4 KB: the sheet declares A1:XFD1048576 and holds one cell there (with `second_cell`, also A1:
    calamine then allocates the dense 16,384 × 1,048,576 range, 512 GB, and aborts)."""
    body = ('<row r="1">' + cell("A1", "客户姓名") + "</row>" if second_cell else "")
    body += '<row r="1048576">' + cell("XFD1048576", "x") + "</row>"
    return xlsx([("Sheet1", sheet_xml(body, "A1:XFD1048576"), None)])


def _repeated_part(prefix: bytes, block: bytes, times: int, suffix: bytes) -> tuple[bytes, int, int]:
    """A deflate stream of prefix + block × times + suffix, built by repeating one independently
    compressed block (a full flush resets the window), so a gigabyte costs one block's compression.
    Returns (stream, uncompressed size, crc32)."""
    def segment(data: bytes, final: bool = False) -> bytes:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        return c.compress(data) + (c.flush(zlib.Z_FINISH) if final else c.flush(zlib.Z_FULL_FLUSH))

    stream = segment(prefix) + segment(block) * times + segment(suffix, final=True)
    crc = zlib.crc32(prefix)
    for _ in range(times):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(suffix, crc)
    return stream, len(prefix) + len(block) * times + len(suffix), crc


def _zip_with_raw_part(files: dict[str, bytes], name: str, stream: bytes, size: int, crc: int) -> bytes:
    """A zip whose `name` entry is the given deflate stream (its sizes and CRC declared honestly)."""
    out = io.BytesIO()
    central = []
    entries = [(n, zlib.compressobj(9, zlib.DEFLATED, -15), data) for n, data in files.items()]
    parts: list[tuple[str, bytes, int, int]] = []
    for n, comp, data in entries:
        parts.append((n, comp.compress(data) + comp.flush(), len(data), zlib.crc32(data)))
    parts.append((name, stream, size, crc))
    for n, data, usize, ccrc in parts:
        offset = out.tell()
        fname = n.encode()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, ccrc, len(data), usize, len(fname), 0))
        out.write(fname)
        out.write(data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0, ccrc, len(data), usize,
                                   len(fname), 0, 0, 0, 0, 0, offset) + fname)
    start = out.tell()
    for c in central:
        out.write(c)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0))
    return out.getvalue()


def _skeleton() -> dict[str, bytes]:
    """Every part of a one-sheet workbook but the sheet itself."""
    book = zipfile.ZipFile(io.BytesIO(xlsx([("Sheet1", "", None)])))
    return {n: book.read(n) for n in book.namelist() if n != "xl/worksheets/sheet1.xml"}


def expansion_bomb(megabytes: int = 640) -> bytes:
    """About 1 MB on disk, `megabytes` MB of sheet XML once expanded (a valid sheet: the same row
    over and over)."""
    row = b'<row r="2"><c r="A2" t="inlineStr"><is><t>x</t></is></c></row>'
    block = row * (1024 * 1024 // len(row))
    prefix = sheet_xml("").split("<sheetData>")[0].encode() + b"<sheetData>"
    stream, size, crc = _repeated_part(prefix, block, megabytes, b"</sheetData></worksheet>")
    return _zip_with_raw_part(_skeleton(), "xl/worksheets/sheet1.xml", stream, size, crc)


def ratio_bomb(megabytes: int = 40) -> bytes:
    """Under the absolute cap, but a part that expands a thousandfold."""
    return expansion_bomb(megabytes)


def wide_sheet(columns: int = 16_384, rows: int = 3) -> bytes:
    """A T1 sheet 16,384 columns wide (Excel's maximum): the four T1 headers, then 列5 … 列16384,
    and a few rows with a value in every column."""
    head = [*T1_HEAD, *(f"列{j}" for j in range(len(T1_HEAD) + 1, columns + 1))]
    data = [[f"C{i:03d}", f"宽表客户{i}", f"1380000{i:04d}", "宽公司", *range(columns - 4)] for i in range(1, rows + 1)]
    return xlsx([("客户档案", sheet_xml(rows_xml([head, *data])), None)])


@functools.lru_cache(maxsize=1)
def million_rows(rows: int = 1_048_576) -> bytes:
    """Every row of a sheet used, as Excel writes it (each row and cell with its `r`): 5 MB on disk,
    50 MB of XML, 1,048,576 rows for a reader. Built once per test session (half a second)."""
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    prefix = (sheet_xml("").split("<sheetData>")[0] + "<sheetData>").encode()
    suffix = b"</sheetData></worksheet>"
    parts, size, crc = [c.compress(prefix)], len(prefix), zlib.crc32(prefix)
    for start in range(1, rows + 1, 65536):
        chunk = "".join(f'<row r="{i}"><c r="A{i}"><v>1</v></c></row>' for i in range(start, min(start + 65536, rows + 1)))
        data = chunk.encode()
        parts.append(c.compress(data))
        size, crc = size + len(data), zlib.crc32(data, crc)
    parts.append(c.compress(suffix) + c.flush())
    size, crc = size + len(suffix), zlib.crc32(suffix, crc)
    return _zip_with_raw_part(_skeleton(), "xl/worksheets/sheet1.xml", b"".join(parts), size, crc)


def deep_xml(depth: int = 200_000) -> bytes:
    """A sheet whose XML nests 200,000 elements deep (and holds no cell)."""
    return xlsx([("Sheet1", sheet_xml("", before="<extLst>" + "<ext>" * depth + "</ext>" * depth + "</extLst>"), None)])


def truncated_zip() -> bytes:
    whole = profiles([["C1", "张三", "13800000001", "甲公司"]] * 50)
    return whole[: len(whole) // 2]


def wrong_magic() -> bytes:
    """Named .xlsx, but 4 KB of noise."""
    return bytes((i * 7919 + 13) % 251 for i in range(4096))


def hidden_parts() -> bytes:
    """A visible T1 sheet with one hidden row, a hidden sheet and a very hidden sheet, all T1."""
    visible = sheet_xml(rows_xml([T1_HEAD, ["C1", "显示客户", "13800000001", "甲"], ["C2", "隐藏行客户", "13800000002", "乙"],
                                  ["C3", "另一显示客户", "13800000003", "丙"]], hidden={3}))
    hidden = sheet_xml(rows_xml([T1_HEAD, ["C4", "隐藏表客户", "13800000004", "丁"]]))
    very = sheet_xml(rows_xml([T1_HEAD, ["C5", "深度隐藏客户", "13800000005", "戊"]]))
    return xlsx([("客户档案", visible, None), ("旧档案", hidden, "hidden"), ("内部", very, "veryHidden")])


def nul_cells() -> bytes:
    """A T1 sheet whose name and company cells carry NUL (as Excel's _x0000_ escape)."""
    return profiles([["C1", "张_x0000_三", "13800000001", "甲_x0000_公司"], ["C2", "李四", "13800000002", "乙公司"]])


def huge_cell(chars: int = 100_000) -> bytes:
    """A T1 sheet whose company cell holds `chars` characters (openpyxl would cut it at 32,767)."""
    return profiles([["C1", "长公司客户", "13800000001", "长" * chars], ["C2", "短公司客户", "13800000002", "短"]])


# name, bytes factory, what the user is told (a substring of the one line)
REFUSED: list[tuple[str, object, str]] = [
    ("范围炸弹.xlsx", declared_range_bomb, "1,048,576 行"),
    ("范围炸弹2.xlsx", lambda: declared_range_bomb(second_cell=True), "1,048,576 行"),
    ("解压炸弹.xlsx", expansion_bomb, "解压上限"),
    ("压缩比炸弹.xlsx", ratio_bomb, "压缩比"),
    ("百万行.xlsx", million_rows, "行数上限"),
    ("深层.xlsx", deep_xml, "没有任何数据"),
    ("截断.xlsx", truncated_zip, "不完整或已损坏"),
    ("乱码.xlsx", wrong_magic, "不是有效的 Excel 文件"),
]


# ------------------------------------------------------------------ Markdown and HTML in the data
PIXEL = "http://127.0.0.1:9/pixel.png"  # port 9 (discard): a request to it is the tracking pixel
PAYLOAD = f"![x]({PIXEL}) [link](javascript:alert(1)) **粗** <img src=x>"
MARKDOWN_FILE_NAME = f"[点我](javascript:alert(1)) **粗** ![x]({PIXEL}).xlsx"


def seed_markup_archive(db: object) -> dict[str, str]:
    """A demo archive (40 customers) whose customer with a complaint carries PAYLOAD in every text
    field — name, company, industry, region, a tag, interaction content and result, follow-up
    content, the complaint's reason, department, handler and outcome — plus a survey comment and
    an import batch whose file name is Markdown. Returns the ids the tests open."""
    import datetime as dt

    from crm.db import open_archive
    from crm.imports.pipeline import import_workbook
    from crm.imports.reader import read_workbook
    from crm.seed import seed_demo

    archive = open_archive(db)  # type: ignore[arg-type]
    seed_demo(archive, customers=40, seed=7, today=dt.date(2026, 11, 1))
    cur = archive.cursor()
    cid, complaint = cur.execute("SELECT customer_id, complaint_id FROM complaints LIMIT 1").fetchall()[0]
    cur.execute("UPDATE customers SET name = ?, company = ?, industry = ?, region = ? WHERE customer_id = ?",
                [PAYLOAD, PAYLOAD, PAYLOAD, PAYLOAD, cid])
    cur.execute("UPDATE complaints SET reason = ?, department = ?, handler = ?, outcome = ? WHERE complaint_id = ?",
                [PAYLOAD, PAYLOAD, PAYLOAD, PAYLOAD, complaint])
    cur.execute("UPDATE interactions SET content = ?, result = ? WHERE customer_id = ?", [PAYLOAD, PAYLOAD, cid])
    cur.execute("UPDATE follow_ups SET content = ? WHERE customer_id = ?", [PAYLOAD, cid])
    survey = cur.execute("SELECT customer_id FROM surveys WHERE comment IS NOT NULL LIMIT 1").fetchall()[0][0]
    cur.execute("UPDATE surveys SET comment = ? WHERE customer_id = ?", [PAYLOAD, survey])
    cur.execute("INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)", [cid, PAYLOAD])
    cur.close()
    import_workbook(archive, read_workbook(profiles([["C990", "文件名客户", "13900000990", "某公司"]]),
                                           file_name=MARKDOWN_FILE_NAME), "admin")
    archive.close()
    return {"customer": cid, "complaint": complaint, "survey_customer": survey}
