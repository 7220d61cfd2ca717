"""Blank, styled copies of the seven templates for users to download and fill in.

The point of these files is that they come back: whatever a user types into them must be
recognised by the importer with no mapping step. So the header row is row 1 and each header is
exactly `Field.header` (plus a `*` for required fields, which the importer strips); everything
else — colours, notes, drop-downs, number formats — is help for the person typing and carries
no meaning the importer depends on.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from openpyxl.worksheet.worksheet import Worksheet

from crm.imports.templates import (
    AMOUNT,
    BOOL_ENUM,
    CONTACT,
    CUSTOMER_ID,
    DATE,
    EMAIL,
    ENUM,
    ENUMS,
    LONG_TEXT,
    OPEN_ENUM,
    PHONE,
    PLAN,
    RATING,
    SATISFACTION_WORDS,
    SCORE,
    TAGS,
    TEMPLATES,
    TEXT_OR_DATE,
    Field,
    Template,
)
from crm.xlsx import display_width

INSTRUCTIONS_SHEET = "填写说明"
REQUIRED_MARK = "*"
# Formats (and drop-downs) are laid on this many data rows as real cells; the column default
# style below carries them on past it, so a longer list typed by hand still gets them.
DEFAULT_ROWS = 1000
EXCEL_MAX_ROW = 1_048_576

DATE_FORMAT = "yyyy-mm-dd"
AMOUNT_FORMAT = "#,##0.00"
TEXT_FORMAT = "@"

# One word per score, 5 → 1, taken from the importer's own vocabulary so a word picked from the
# drop-down is always one it understands.
SCORE_WORDS: tuple[str, ...] = tuple(
    w for w in ("非常满意", "满意", "一般", "不满意", "非常不满意") if w in SATISFACTION_WORDS
)
RATING_VALUES: tuple[str, ...] = ("5", "4", "3", "2", "1")

_THIN = Side(style="thin", color="808080")
_BORDER = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_HEADER_ALIGN = Alignment(horizontal="center", vertical="center", wrap_text=True)
_CELL_ALIGN = Alignment(vertical="top", wrap_text=True)
_FILL_OPTIONAL = PatternFill("solid", fgColor="DDEBF7")
_FILL_REQUIRED = PatternFill("solid", fgColor="FCE4D6")
_FILL_ANY_OF = PatternFill("solid", fgColor="FFF2CC")
_FONT_OPTIONAL = Font(bold=True, color="1F3864")
_FONT_REQUIRED = Font(bold=True, color="C00000")
_FONT_ANY_OF = Font(bold=True, color="9C5700")
_FONT_TITLE = Font(bold=True, size=13)
_COMMENT_AUTHOR = "客户档案"


def resolve_codes(codes: Iterable[str] | str) -> list[Template]:
    """Template codes as a user or a URL gives them ('t1', 'all', duplicates) → templates in order."""
    if isinstance(codes, str):
        codes = [codes]
    wanted: list[str] = []
    for raw in codes:
        code = str(raw).strip().upper()
        if code == "ALL":
            wanted.extend(TEMPLATES)
            continue
        if code not in TEMPLATES:
            known = "、".join(TEMPLATES)
            raise ValueError(f"未知的模板代码：{raw!r}（可用：{known}，或 all 表示全部）")
        wanted.append(code)
    if not wanted:
        raise ValueError("请至少选择一个模板")
    return [TEMPLATES[c] for c in dict.fromkeys(wanted)]


def header_text(field: Field) -> str:
    """The header as written in the blank template: the importer strips the `*` again."""
    return field.header + (REQUIRED_MARK if field.required else "")



def any_of_groups(template: Template) -> dict[str, tuple[str, ...]]:
    """field name → the "at least one of" group it belongs to (registry keeps groups, not lookups)."""
    out: dict[str, tuple[str, ...]] = {}
    for group in template.any_of:
        for name in group:
            out.setdefault(name, group)
    return out


def _group_headers(template: Template, group: tuple[str, ...]) -> str:
    return "、".join(template.field_by_name[n].header for n in group if n in template.field_by_name)


def enum_values(field: Field) -> list[str]:
    """The canonical values a drop-down offers: exactly what the importer maps variants onto."""
    if field.enum is None:
        return []
    return list(ENUMS.get(field.enum, {}))


def required_text(template: Template, field: Field) -> str:
    """是否必填 as the 填写说明 sheet states it."""
    if field.required:
        return "必填"
    group = any_of_groups(template).get(field.name)
    if group:
        return f"至少填一项（{_group_headers(template, group)}）"
    return "选填"


def kind_text(field: Field) -> str:
    """类型/格式 in words a user filling the sheet by hand understands."""
    kind = field.kind
    if kind == DATE:
        return "日期，格式 yyyy-mm-dd（如 2024-05-10）"
    if kind == TEXT_OR_DATE:
        return "文字或日期（日期按 yyyy-mm-dd）"
    if kind == AMOUNT:
        return "金额（数字，单位 元，可带两位小数）"
    if kind == PHONE:
        return "手机或座机（如 13812345678、010-12345678）"
    if kind == EMAIL:
        return "邮箱（如 name@example.com）"
    if kind == CONTACT:
        return "手机、座机或邮箱，可同时填写"
    if kind == RATING:
        return "1–5 分（也可写 五星 / ★★★）"
    if kind == SCORE:
        return "1–5 分或 " + "/".join(SCORE_WORDS)
    if kind in (ENUM, BOOL_ENUM):
        return "可选值：" + "/".join(enum_values(field)) + "（从下拉列表选择）"
    if kind == OPEN_ENUM:
        return "常用值：" + "/".join(enum_values(field)) + "（也可填写其他内容）"
    if kind == TAGS:
        return "标签，多个用 、，; 或 - 分隔"
    if kind == CUSTOMER_ID:
        return "客户编号（如 C20240501001）"
    if kind == PLAN:
        return "文字，可含日期（如 2024-05-20 电话回访）"
    if kind == LONG_TEXT:
        return "文字（可较长）"
    return "文字"


def _number_format(field: Field) -> str | None:
    if field.kind == DATE:
        return DATE_FORMAT
    if field.kind == AMOUNT:
        return AMOUNT_FORMAT
    # Text format stops Excel turning 13812345678 into 1.38E+10 or dropping a leading 0 from
    # a landline or a customer id.
    if field.kind in (PHONE, CONTACT, CUSTOMER_ID):
        return TEXT_FORMAT
    return None


def _validation(field: Field, header: str) -> DataValidation | None:
    """A drop-down for enumerated columns; open lists and scores suggest but never refuse."""
    strict = field.kind in (ENUM, BOOL_ENUM)
    if field.kind in (ENUM, BOOL_ENUM, OPEN_ENUM):
        values = enum_values(field)
    elif field.kind == SCORE:
        values = list(SCORE_WORDS)
    elif field.kind == RATING:
        values = list(RATING_VALUES)
    else:
        return None
    if not values:
        return None
    formula = '"' + ",".join(values) + '"'
    if len(formula) > 257:  # Excel's limit for an inline list is 255 characters
        return None
    dv = DataValidation(type="list", formula1=formula, allow_blank=True)
    dv.showDropDown = False  # (sic) False means the in-cell arrow IS shown
    dv.showInputMessage = True
    dv.promptTitle = header[:32]
    dv.prompt = ("请从下拉列表选择" if strict else "可从下拉列表选择，也可直接填写")[:255]
    dv.showErrorMessage = strict
    if strict:
        dv.errorStyle = "stop"
        dv.errorTitle = "无效的值"
        dv.error = f"{header} 只能填写：{'/'.join(values)}"[:255]
    return dv


def _column_width(field: Field) -> float:
    width = display_width(header_text(field)) + 4
    if field.kind == DATE:
        width = max(width, 13)
    elif field.kind in (PHONE, CONTACT, EMAIL):
        width = max(width, 18)
    elif field.kind in (LONG_TEXT, PLAN):
        width = max(width, 30)
    elif field.kind == AMOUNT:
        width = max(width, 14)
    return float(min(max(width, 10), 50))


def _write_template_sheet(ws: Worksheet, template: Template, rows: int) -> None:
    groups = any_of_groups(template)
    last_row = rows + 1
    for col, field in enumerate(template.fields, 1):
        header = header_text(field)
        letter = get_column_letter(col)
        cell = ws.cell(row=1, column=col, value=header)
        cell.alignment = _HEADER_ALIGN
        cell.border = _BORDER
        notes: list[str] = []
        if field.required:
            cell.fill, cell.font = _FILL_REQUIRED, _FONT_REQUIRED
            notes.append("必填项")
        elif field.name in groups:
            cell.fill, cell.font = _FILL_ANY_OF, _FONT_ANY_OF
            notes.append(f"{_group_headers(template, groups[field.name])} 至少填一项")
        else:
            cell.fill, cell.font = _FILL_OPTIONAL, _FONT_OPTIONAL
        notes.append(kind_text(field))
        if field.hint:
            notes.append(field.hint)
        if field.required or field.name in groups or field.hint:
            comment = Comment("\n".join(notes), _COMMENT_AUTHOR)
            comment.width, comment.height = 260, 110
            cell.comment = comment

        dim = ws.column_dimensions[letter]
        dim.width = _column_width(field)
        fmt = _number_format(field)
        if fmt:
            dim.number_format = fmt  # column default: rows past `rows` typed by hand
            for r in range(2, last_row + 1):
                ws.cell(row=r, column=col).number_format = fmt

        dv = _validation(field, field.header)
        if dv is not None:
            dv.add(f"{letter}2:{letter}{EXCEL_MAX_ROW}")  # free, and covers long lists
            ws.add_data_validation(dv)

    ws.row_dimensions[1].height = 32
    ws.freeze_panes = "A2"
    ws.sheet_view.zoomScale = 100


def _write_instructions(ws: Worksheet, templates: list[Template]) -> None:
    lines = [
        "填写说明",
        "1. 每个工作表对应一种模板，请勿修改、删除或移动第一行表头；不需要的列可以留空。",
        "2. 表头带 * 且为红色的列为必填项；黄色表头的列至少填写其中一项。",
        "3. 日期请按 yyyy-mm-dd 填写（如 2024-05-10）；金额填数字即可，不必带 ¥ 或 元。",
        "4. 带下拉箭头的列可直接选择；标明“也可填写其他内容”的列允许自由填写。",
        "5. 填好后在“数据导入”页面上传本文件即可，无需再做列对应。",
    ]
    for i, text in enumerate(lines, 1):
        cell = ws.cell(row=i, column=1, value=text)
        if i == 1:
            cell.font = _FONT_TITLE
    header_row = len(lines) + 2
    columns = ("模板（工作表）", "列名", "是否必填", "类型/格式", "说明")
    widths = (22, 22, 26, 46, 50)
    for col, (name, width) in enumerate(zip(columns, widths), 1):
        cell = ws.cell(row=header_row, column=col, value=name)
        cell.font, cell.fill, cell.border, cell.alignment = _FONT_OPTIONAL, _FILL_OPTIONAL, _BORDER, _HEADER_ALIGN
        ws.column_dimensions[get_column_letter(col)].width = width
    row = header_row + 1
    for template in templates:
        for field in template.fields:
            values = (template.title, field.header, required_text(template, field), kind_text(field), field.hint)
            for col, value in enumerate(values, 1):
                cell = ws.cell(row=row, column=col, value=value or None)
                cell.border = _BORDER
                cell.alignment = _CELL_ALIGN
                if col == 3 and field.required:
                    cell.font = _FONT_REQUIRED
            row += 1
    ws.freeze_panes = f"A{header_row + 1}"


def write_blank_templates(codes: list[str], path: str | Path, *, rows: int = DEFAULT_ROWS) -> Path:
    """Write one sheet per requested template plus a 填写说明 sheet; returns the path written."""
    templates = resolve_codes(codes)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    wb.remove(wb.active)
    for template in templates:
        _write_template_sheet(wb.create_sheet(template.title), template, rows)
    _write_instructions(wb.create_sheet(INSTRUCTIONS_SHEET), templates)
    wb.active = 0
    wb.save(path)
    return path


__all__ = [
    "INSTRUCTIONS_SHEET",
    "SCORE_WORDS",
    "any_of_groups",
    "enum_values",
    "header_text",
    "kind_text",
    "required_text",
    "resolve_codes",
    "write_blank_templates",
]

