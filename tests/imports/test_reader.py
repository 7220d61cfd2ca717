"""crm.imports.reader: spreadsheets and CSV files as users keep them; anything unreadable is a FileReadError
whose message names the file."""
from __future__ import annotations

import csv
import datetime as dt
import io
import random
import zipfile
from pathlib import Path

import pytest
import xlwt
from conftest import write_xlsx
from msoffcrypto.format.ooxml import OOXMLFile

from crm.imports.reader import FileReadError, Workbook, decode_text, max_upload_bytes, read_workbook

HEADER = ["客户姓名", "联系电话", "金额", "备注"]
ROWS = [
    ["张三", "13812345678", "1,200", "老客户; VIP"],
    ["欧阳娜娜", "13987654321", "300", ""],
    ["李四", "010-12345678", "5", "说\"你好\""],
]


def csv_bytes(encoding: str, delimiter: str = ",", rows: list[list[str]] | None = None) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\r\n").writerows([HEADER, *(rows or ROWS)])
    return buf.getvalue().encode(encoding)


def read_error(*args, **kwargs) -> str:
    with pytest.raises(FileReadError) as info:
        read_workbook(*args, **kwargs)
    return str(info.value)


# ---------------------------------------------------------------- spreadsheets
def test_xlsx_with_several_sheets_keeps_order_names_and_values(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "客户.xlsx", {
        "客户档案": [["客户档案表"], HEADER[:2], ["张三", "13812345678"]],
        "交易记录": [["客户名称", "购买时间", "金额(元)"], ["张三", dt.datetime(2024, 5, 10), 1200.5]],
        "空表": [],
    })
    book = read_workbook(path)
    assert isinstance(book, Workbook) and book.file_name == "客户.xlsx"
    assert [s.name for s in book.sheets] == ["客户档案", "交易记录", "空表"]
    first = book.sheets[0].rows
    assert first[0][0] == "客户档案表"
    assert first[1][:2] == ["客户姓名", "联系电话"]
    assert first[2][:2] == ["张三", "13812345678"]
    second = book.sheets[1].rows
    assert second[0] == ["客户名称", "购买时间", "金额(元)"]
    assert second[1][0] == "张三"
    assert second[1][1] in (dt.date(2024, 5, 10), dt.datetime(2024, 5, 10))
    assert second[1][2] == 1200.5
    assert not any(any(c not in (None, "") for c in row) for row in book.sheets[2].rows)


def test_xlsx_numbers_and_blank_cells(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "n.xlsx", {"S": [["a", "b", "c"], [13812345678, None, 45413]]})
    rows = read_workbook(path).sheets[0].rows
    assert rows[1][0] == 13812345678  # int or float, same value
    assert rows[1][1] in (None, "")
    assert rows[1][2] == 45413


def test_xls_written_by_xlwt(tmp_path: Path) -> None:
    wb = xlwt.Workbook(encoding="utf-8")
    ws = wb.add_sheet("客户档案")
    for r, row in enumerate([HEADER, *ROWS]):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    ws2 = wb.add_sheet("第二页")
    ws2.write(0, 0, "客户名称")
    ws2.write(1, 0, 42.0)
    path = tmp_path / "老格式.xls"
    wb.save(str(path))
    book = read_workbook(path)
    assert [s.name for s in book.sheets] == ["客户档案", "第二页"]
    assert book.sheets[0].rows[0] == HEADER
    assert book.sheets[0].rows[2][:2] == ["欧阳娜娜", "13987654321"]
    assert book.sheets[1].rows[1][0] == 42


def test_xlsx_from_bytes_with_file_name(tmp_path: Path) -> None:
    data = write_xlsx(tmp_path / "x.xlsx", {"S": [HEADER, ROWS[0]]}).read_bytes()
    book = read_workbook(data, file_name="上传的客户.xlsx")
    assert book.file_name == "上传的客户.xlsx"
    assert book.sheets[0].rows[1][0] == "张三"


def test_bytes_without_a_name_are_sniffed() -> None:
    book = read_workbook(csv_bytes("utf-8"))
    assert book.file_name == "上传文件"
    assert book.sheets[0].rows[0] == HEADER


def test_file_name_overrides_the_path_name(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "tmp123.xlsx", {"S": [HEADER]})
    assert read_workbook(path, file_name="客户.xlsx").file_name == "客户.xlsx"


# ---------------------------------------------------------------- CSV
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "gbk"])
def test_csv_encodings(tmp_path: Path, encoding: str) -> None:
    path = tmp_path / "客户.csv"
    path.write_bytes(csv_bytes(encoding))
    book = read_workbook(path)
    assert len(book.sheets) == 1 and book.sheets[0].name == "客户"
    rows = book.sheets[0].rows
    assert rows[0] == HEADER  # no BOM left on the first header
    assert rows[1:] == ROWS


def test_utf16_tab_separated_unicode_text(tmp_path: Path) -> None:
    # Excel's "Unicode text (*.txt)": UTF-16 LE with a BOM, tab-separated
    path = tmp_path / "导出.txt"
    path.write_bytes(csv_bytes("utf-16", "\t"))
    assert path.read_bytes()[:2] == b"\xff\xfe"
    rows = read_workbook(path).sheets[0].rows
    assert rows[0] == HEADER and rows[1:] == ROWS


def test_utf16_big_endian(tmp_path: Path) -> None:
    data = b"\xfe\xff" + csv_bytes("utf-16-be", "\t")
    rows = read_workbook(data, file_name="be.txt").sheets[0].rows
    assert rows[0] == HEADER and rows[1:] == ROWS


def test_semicolon_delimited(tmp_path: Path) -> None:
    path = tmp_path / "semi.csv"
    path.write_bytes(csv_bytes("utf-8", ";"))
    rows = read_workbook(path).sheets[0].rows
    assert rows[0] == HEADER
    assert rows[1] == ["张三", "13812345678", "1,200", "老客户; VIP"]
    assert rows[1:] == ROWS


def test_tab_delimited_tsv_with_commas_inside_values(tmp_path: Path) -> None:
    path = tmp_path / "t.tsv"
    path.write_bytes(csv_bytes("utf-8", "\t"))
    assert read_workbook(path).sheets[0].rows[1:] == ROWS


def test_comma_csv_with_semicolons_inside_values(tmp_path: Path) -> None:
    rows = read_workbook(csv_bytes("utf-8", ","), file_name="c.csv").sheets[0].rows
    assert rows[1][3] == "老客户; VIP" and len(rows[1]) == 4


def test_csv_with_a_title_row_above_the_header() -> None:
    data = ("客户档案,,,\r\n" + ",".join(HEADER) + "\r\n张三,13812345678,100,\r\n").encode("utf-8")
    rows = read_workbook(data, file_name="t.csv").sheets[0].rows
    assert rows[0][0] == "客户档案" and rows[1] == HEADER and rows[2][0] == "张三"


def test_single_column_csv() -> None:
    rows = read_workbook("客户姓名\n张三\n李四\n".encode(), file_name="one.csv").sheets[0].rows
    assert rows == [["客户姓名"], ["张三"], ["李四"]]


def test_gbk_csv_named_xls_is_read_as_csv() -> None:
    # Some systems export CSV text under an .xls name
    book = read_workbook(csv_bytes("gbk"), file_name="导出.xls")
    assert book.sheets[0].rows[0] == HEADER


def test_gbk_text_longer_than_the_sniffed_head_is_text() -> None:
    # whichever byte the 4 KiB sniffing window ends on, a GBK text stays a text
    split_one_char = False
    for pad in (0, 1):
        data = ("客户姓名,备注\r\n" + "张三," + "x" * pad + "长" * 3000 + "\r\n").encode("gbk")
        try:
            data[:4096].decode("gb18030")
        except UnicodeDecodeError:
            split_one_char = True
        book = read_workbook(data, file_name="导出.xls")
        assert book.sheets[0].rows[1] == ["张三", "x" * pad + "长" * 3000]
        book = read_workbook(data)  # no name at all: decided by content alone
        assert book.sheets[0].rows[0] == ["客户姓名", "备注"]
    assert split_one_char  # the case that matters was exercised


def test_decode_text() -> None:
    assert decode_text("客户".encode("utf-8-sig")) == "客户"
    assert decode_text("客户".encode("utf-16")) == "客户"
    assert decode_text("客户".encode("gb18030")) == "客户"
    assert decode_text("客户".encode()) == "客户"


# ---------------------------------------------------------------- files that cannot be read
def test_png_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "照片.xlsx"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    message = read_error(path)
    assert "照片.xlsx" in message and "不是有效的 Excel 文件" in message


def test_png_with_its_own_suffix(tmp_path: Path) -> None:
    path = tmp_path / "logo.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200))
    message = read_error(path)
    assert "logo.png" in message and "不是表格文件" in message


def test_random_bytes_named_xlsx(tmp_path: Path) -> None:
    path = tmp_path / "乱码.xlsx"
    path.write_bytes(random.Random(0).randbytes(10_000))
    message = read_error(path)
    assert "乱码.xlsx" in message


def test_random_bytes_upload() -> None:
    message = read_error(random.Random(1).randbytes(10_000), file_name="upload.bin")
    assert "upload.bin" in message and "不是表格文件" in message


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "空.xlsx"
    path.write_bytes(b"")
    message = read_error(path)
    assert "空.xlsx" in message and "空文件" in message
    assert "空文件" in read_error(b"", file_name="empty.csv")


def test_zip_that_is_not_a_workbook(tmp_path: Path) -> None:
    path = tmp_path / "压缩包.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    message = read_error(path)
    assert "压缩包.xlsx" in message and "无法读取" in message


def test_truncated_xlsx(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", {"S": [HEADER, *ROWS]}).read_bytes()
    path = tmp_path / "损坏.xlsx"
    path.write_bytes(good[: len(good) // 2])
    message = read_error(path)
    assert "损坏.xlsx" in message and "损坏" in message


def test_encrypted_xlsx(tmp_path: Path) -> None:
    plain = write_xlsx(tmp_path / "plain.xlsx", {"S": [HEADER, *ROWS]})
    path = tmp_path / "加密.xlsx"
    with open(plain, "rb") as src, open(path, "wb") as out:
        OOXMLFile(src).encrypt("pw", out)
    assert path.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # a compound file now
    message = read_error(path)
    assert "加密.xlsx" in message and "密码" in message and "加密" in message
    message = read_error(path.read_bytes(), file_name="upload.xlsx")
    assert "upload.xlsx" in message and "密码" in message


def test_directory(tmp_path: Path) -> None:
    folder = tmp_path / "资料.xlsx"
    folder.mkdir()
    message = read_error(folder)
    assert "资料.xlsx" in message and "文件夹" in message


def test_missing_file(tmp_path: Path) -> None:
    message = read_error(tmp_path / "没有.xlsx")
    assert "没有.xlsx" in message and "不存在" in message


# ---------------------------------------------------------------- size limit
def test_size_limit_by_argument(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes("utf-8") * 50)
    message = read_error(path, max_bytes=1000)
    assert "big.csv" in message and "超过上限" in message
    assert "0 MB" not in message  # a limit below 1 MB is not shown as 0 MB
    assert read_workbook(path, max_bytes=path.stat().st_size).sheets  # exactly at the limit is fine
    message = read_error(path.read_bytes(), file_name="up.csv", max_bytes=1000)
    assert "up.csv" in message and "超过上限" in message


def test_size_limit_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "big.csv"
    path.write_bytes(b"a,b\n" + b"1,2\n" * 300_000)  # 1.2 MB
    monkeypatch.setenv("CRM_MAX_UPLOAD_MB", "1")
    assert max_upload_bytes() == 1024 * 1024
    message = read_error(path)
    assert "big.csv" in message and "超过上限 1 MB" in message
    message = read_error(path.read_bytes(), file_name="up.csv")
    assert "超过上限" in message
    monkeypatch.setenv("CRM_MAX_UPLOAD_MB", "2")
    monkeypatch.setenv("CRM_IMPORT_MAX_ROWS", "300001")  # the row limit (default 200,000) is its own
    assert len(read_workbook(path).sheets[0].rows) == 300_001


def test_size_limit_default_and_bad_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CRM_MAX_UPLOAD_MB", raising=False)
    assert max_upload_bytes() == 50 * 1024 * 1024
    monkeypatch.setenv("CRM_MAX_UPLOAD_MB", "lots")
    assert max_upload_bytes() == 50 * 1024 * 1024
    monkeypatch.setenv("CRM_MAX_UPLOAD_MB", "0.5")
    assert max_upload_bytes() == 512 * 1024



def test_html_saved_as_xls_gets_a_clear_message(tmp_path) -> None:
    path = tmp_path / "erp导出.xls"
    path.write_text("<html><body><table><tr><td>客户姓名</td></tr></table></body></html>", encoding="utf-8")
    with pytest.raises(FileReadError, match="erp导出.xls.*网页"):
        read_workbook(path)


def test_a_read_ahead_gives_what_reading_then_gives_and_its_failure(tmp_path):
    from crm.imports.reader import ReadAhead

    path = tmp_path / "客户.xlsx"
    write_xlsx(path, {"客户档案": [["客户姓名", "联系电话"], ["张伟", "13800138000"]]})
    ahead = ReadAhead(path)
    assert ahead.matches(path, False) and not ahead.matches(path, True)
    assert ahead.result() == read_workbook(path)
    broken = tmp_path / "坏.xlsx"
    broken.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(FileReadError) as raised:
        ReadAhead(broken).result()
    with pytest.raises(FileReadError) as again:
        read_workbook(broken)
    assert str(raised.value) == str(again.value)
