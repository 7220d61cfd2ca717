"""Blank templates: styled for people, and read back by the importer with no mapping step."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from python_calamine import CalamineWorkbook

from crm.imports.blank_templates import INSTRUCTIONS_SHEET, SCORE_WORDS, kind_text, write_blank_templates
from crm.imports.templates import (
    ALIAS_INDEX,
    ENUMS,
    SATISFACTION_WORDS,
    TEMPLATES,
    field_for_header,
    normalise_header,
)


def _validations_by_column(ws) -> dict[str, object]:
    """Column letter → its DataValidation (each of ours covers exactly one column)."""
    out = {}
    for dv in ws.data_validations.dataValidation:
        for rng in dv.sqref.ranges:
            letter = rng.coord.split(":")[0].rstrip("0123456789")
            out[letter] = dv
    return out


def _column_of(ws, header: str) -> str:
    for cell in ws[1]:
        if cell.value is not None and normalise_header(cell.value) == normalise_header(header):
            return cell.column_letter
    raise AssertionError(f"{header} not in header row")


@pytest.fixture(scope="module")
def all_path(tmp_path_factory) -> Path:
    return write_blank_templates(["all"], tmp_path_factory.mktemp("tpl") / "全部模板.xlsx")


@pytest.fixture(scope="module")
def wb(all_path):
    return openpyxl.load_workbook(all_path)


def test_one_sheet_per_template_then_instructions(wb):
    assert wb.sheetnames == [t.title for t in TEMPLATES.values()] + [INSTRUCTIONS_SHEET]


def test_single_template_and_code_forms(tmp_path):
    path = write_blank_templates(["t2", "T2"], tmp_path / "t2.xlsx")
    assert openpyxl.load_workbook(path).sheetnames == ["客户关系管理记录表", INSTRUCTIONS_SHEET]
    path = write_blank_templates(["T1", "all"], tmp_path / "mixed.xlsx")
    assert len(openpyxl.load_workbook(path).sheetnames) == len(TEMPLATES) + 1


def test_unknown_code_raises_chinese(tmp_path):
    with pytest.raises(ValueError, match="未知的模板代码"):
        write_blank_templates(["T9"], tmp_path / "x.xlsx")
    with pytest.raises(ValueError, match="至少"):
        write_blank_templates([], tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_header_row_is_registry_headers_with_required_marks(wb):
    for template in TEMPLATES.values():
        ws = wb[template.title]
        headers = [c.value for c in ws[1]]
        expected = [f.header + ("*" if f.required else "") for f in template.fields]
        assert headers == expected, template.code
        assert ws.freeze_panes == "A2"


def test_required_header_styled_distinctly(wb):
    ws = wb["客户档案"]
    name, company = ws["B1"], ws["G1"]
    assert name.value == "客户姓名*" and company.value == "公司"
    assert name.font.bold and company.font.bold
    assert name.font.color.rgb.endswith("C00000")
    assert name.fill.fgColor.rgb != company.fill.fgColor.rgb
    assert name.alignment.wrap_text and name.border.left.style == "thin"
    assert name.comment is not None and "必填" in name.comment.text
    # a customer without any contact may be filed (marked 待跟进): the phone's note says so
    phone = ws[_column_of(ws, "联系电话") + "1"]
    assert "没有联系方式也可建档" in phone.comment.text


def test_column_widths_fit_chinese_headers(wb):
    ws = wb["客户意见调查表"]
    letter = _column_of(ws, "服务人员的专业水平")
    # nine CJK characters are 18 units wide in Excel's default font
    assert ws.column_dimensions[letter].width >= 18
    for cell in ws[1]:
        assert ws.column_dimensions[cell.column_letter].width >= 10


def test_enum_drop_downs(wb):
    ws = wb["客户关系管理记录表"]
    dvs = _validations_by_column(ws)
    kind = dvs[_column_of(ws, "交易类型")]
    assert kind.type == "list"
    values = kind.formula1.strip('"').split(",")
    assert "购买" in values and values == list(ENUMS["transaction_kind"])
    assert kind.showErrorMessage is True
    # rating: suggested 1–5, other spellings (五星, ★★★) still allowed
    rating = dvs[_column_of(ws, "评价等级")]
    assert rating.showErrorMessage is False
    assert _column_of(ws, "备注") not in dvs and _column_of(ws, "客户名称") not in dvs
    # the drop-down covers rows typed well past the formatted block
    assert "D1048576" in str(kind.sqref) or str(kind.sqref).endswith("1048576")


def test_open_enum_and_bool_enum_drop_downs(wb):
    ws = wb["客户投诉登记表"]
    dvs = _validations_by_column(ws)
    via = dvs[_column_of(ws, "投诉方式")]
    assert via.formula1.strip('"').split(",") == list(ENUMS["complaint_via"])
    assert via.showErrorMessage is False  # open list: other values are allowed
    accepted = dvs[_column_of(ws, "投诉受理")]
    assert accepted.formula1 == '"受理,不予受理"' and accepted.showErrorMessage is True
    urgency = dvs[_column_of(ws, "紧急程度")]
    assert urgency.formula1.strip('"').split(",") == ["特急", "急", "一般"]

    ws = wb["客户互动记录表"]
    channel = _validations_by_column(ws)[_column_of(ws, "互动类型")]
    assert "电话" in channel.formula1 and channel.showErrorMessage is False


def test_score_drop_downs_use_importer_words(wb):
    ws = wb["客户意见调查表"]
    dv = _validations_by_column(ws)[_column_of(ws, "服务质量")]
    words = dv.formula1.strip('"').split(",")
    assert words == list(SCORE_WORDS) and words[0] == "非常满意"
    assert [SATISFACTION_WORDS[w] for w in words] == [5, 4, 3, 2, 1]
    assert dv.showErrorMessage is False


def test_number_formats(wb):
    ws = wb["客户关系管理记录表"]
    date_col, amount_col, contact_col = (_column_of(ws, h) for h in ("购买时间", "金额(元)", "联系方式"))
    for row in (2, 500, 1001):
        assert ws[f"{date_col}{row}"].number_format == "yyyy-mm-dd"
        assert ws[f"{amount_col}{row}"].number_format == "#,##0.00"
        assert ws[f"{contact_col}{row}"].number_format == "@"
    # and beyond the pre-formatted rows, via the column's default style
    assert ws.column_dimensions[date_col].number_format == "yyyy-mm-dd"
    ws = wb["客户档案"]
    phone = _column_of(ws, "联系电话")
    assert ws[f"{phone}2"].number_format == "@"
    assert ws[f"{_column_of(ws, '出生日期')}2"].number_format == "yyyy-mm-dd"
    assert ws[f"{_column_of(ws, '信用额度')}2"].number_format == "#,##0.00"
    assert ws[f"{_column_of(ws, '客户姓名')}2"].number_format == "General"


def test_instructions_sheet(wb):
    ws = wb[INSTRUCTIONS_SHEET]
    rows = [tuple(r) for r in ws.iter_rows(values_only=True)]
    header_idx = next(i for i, r in enumerate(rows) if r[:5] == ("模板（工作表）", "列名", "是否必填", "类型/格式", "说明"))
    assert ws.freeze_panes == f"A{header_idx + 2}"
    body = [r for r in rows[header_idx + 1 :] if any(r)]
    assert len(body) == sum(len(t.fields) for t in TEMPLATES.values())
    by_key = {(r[0], r[1]): r for r in body}

    assert by_key[("客户档案", "客户姓名")][2] == "必填"
    assert by_key[("客户档案", "公司")][2] == "选填"
    assert "至少填一项" in by_key[("客户关系管理记录表", "金额(元)")][2]  # 交易类型 / 订单状态 / 金额: one of them
    assert "yyyy-mm-dd" in by_key[("客户档案", "出生日期")][3]
    assert "手机或座机" in by_key[("客户档案", "联系电话")][3]
    assert "邮箱" in by_key[("客户档案", "电子邮箱")][3]
    assert "金额" in by_key[("客户关系管理记录表", "金额(元)")][3]
    assert by_key[("客户关系管理记录表", "金额(元)")][4] == "购买必填；退货可为负数"
    kind = by_key[("客户关系管理记录表", "交易类型")][3]
    assert all(v in kind for v in ENUMS["transaction_kind"])
    score = by_key[("客户意见调查表", "服务质量")][3]
    assert "1–5" in score and "非常满意" in score and "非常不满意" in score
    assert "留空则自动生成" in by_key[("客户档案", "客户编号")][4]
    assert any("必填" in str(r[0]) for r in rows[:header_idx])  # the general notes explain the *


def test_kind_text_covers_every_field():
    for template in TEMPLATES.values():
        for field in template.fields:
            assert kind_text(field), (template.code, field.name)


def test_calamine_reads_header_in_row_one(all_path):
    book = CalamineWorkbook.from_path(str(all_path))
    assert book.sheet_names[-1] == INSTRUCTIONS_SHEET
    for template in TEMPLATES.values():
        rows = book.get_sheet_by_name(template.title).to_python(skip_empty_area=False)
        assert rows[0] == [f.header + ("*" if f.required else "") for f in template.fields]
        # formatted but empty cells are not data rows
        assert all(all(v == "" for v in r) for r in rows[1:])


def test_every_header_names_its_field_and_only_best_for_its_template(all_path):
    """What the importer needs: each header maps back to its field, and no other template fits better."""
    book = CalamineWorkbook.from_path(str(all_path))
    for template in TEMPLATES.values():
        header = book.get_sheet_by_name(template.title).to_python()[0]
        mapped = [field_for_header(template, h) for h in header]
        assert mapped == [f.name for f in template.fields], template.code
        for other in TEMPLATES.values():
            if other.code != template.code:
                hits = sum(field_for_header(other, h) is not None for h in header)
                assert hits < len(header), (template.code, other.code)


def test_instructions_rows_never_look_like_a_header_row(all_path):
    """A row of 填写说明 holds one header name at most, so it cannot pass for a template's header row."""
    rows = CalamineWorkbook.from_path(str(all_path)).get_sheet_by_name(INSTRUCTIONS_SHEET).to_python()
    known = {h for table in ALIAS_INDEX.values() for h in table}
    for row in rows:
        assert sum(normalise_header(v) in known for v in row if isinstance(v, str) and v) <= 1, row


def test_filled_in_by_hand_reads_back(tmp_path):
    """Typed values keep their meaning: phones stay text, dates stay dates, picks are canonical words."""
    path = write_blank_templates(["T1", "T2"], tmp_path / "blank.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["客户档案"]
    typed = {"客户编号": "C20240501001", "客户姓名": "张伟", "联系电话": "13812345678",
             "电子邮箱": "zw@example.com", "出生日期": dt.datetime(1990, 3, 4), "信用额度": 50000, "性别": "男"}
    for header, value in typed.items():
        ws[f"{_column_of(ws, header)}2"] = value
    ws = wb["客户关系管理记录表"]
    for header, value in {"客户名称": "张伟", "联系方式": "010-12345678", "交易类型": "购买",
                          "购买时间": dt.datetime(2024, 5, 10), "金额(元)": 1234.5}.items():
        ws[f"{_column_of(ws, header)}2"] = value
    wb.save(path)

    book = CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_name("客户档案").to_python()
    assert len(rows) == 2
    record = {TEMPLATES["T1"].fields[i].name: v for i, v in enumerate(rows[1]) if v != ""}
    assert record["phone"] == "13812345678"
    assert record["birth_date"] in (dt.date(1990, 3, 4), dt.datetime(1990, 3, 4))
    assert record["credit_limit"] == 50000 and record["gender"] == "男"
    reloaded = openpyxl.load_workbook(path)["客户档案"]
    assert reloaded[f"{_column_of(reloaded, '联系电话')}2"].data_type == "s"

    rows = book.get_sheet_by_name("客户关系管理记录表").to_python()
    record = {TEMPLATES["T2"].fields[i].name: v for i, v in enumerate(rows[1]) if v != ""}
    assert record == {"name": "张伟", "contact": "010-12345678", "kind": "购买",
                      "date": record["date"], "amount": 1234.5}
    assert record["date"] in (dt.date(2024, 5, 10), dt.datetime(2024, 5, 10))


def test_importer_recognises_filled_template_without_mapping(tmp_path):
    """End to end with the importer's own reader and recogniser: every sheet, its own template."""
    reader = pytest.importorskip("crm.imports.reader")
    recognise = pytest.importorskip("crm.imports.recognise")
    path = write_blank_templates(["all"], tmp_path / "all.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["客户关系管理记录表"]
    ws["B2"], ws["D2"], ws["E2"] = "张伟", "购买", dt.datetime(2024, 5, 10)
    wb.save(path)

    book = reader.read_workbook(path)
    results = {s.name: recognise.recognise_sheet(s) for s in book.sheets}
    for template in TEMPLATES.values():
        rec = results[template.title]
        assert isinstance(rec, recognise.Recognition), (template.code, rec)
        assert rec.template.code == template.code and rec.header_row == 0
        assert not rec.via_mapping and not rec.ignored
        assert sorted(rec.columns.values()) == sorted(f.name for f in template.fields)
    assert isinstance(results[INSTRUCTIONS_SHEET], recognise.Unrecognised)
    sheet = next(s for s in book.sheets if s.name == "客户关系管理记录表")
    rows = recognise.data_rows(sheet, results[sheet.name])
    assert len(rows) == 1 and rows[0][1][3] == "购买"
