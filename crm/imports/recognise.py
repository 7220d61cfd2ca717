"""Finding the header row of a sheet and the template it follows, from the headers alone.

Title rows, blank rows and merged banners may stand above the header; a 合计 row and a
说明/填写说明 block may stand below the table. Neither is data.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from crm.imports import templates as T
from crm.imports.cleaning import display, is_blank
from crm.imports.extract import extract
from crm.imports.reader import RawSheet

HEADER_SCAN_ROWS = 30
CONSTANTS_KEY = "=固定值"  # in a remembered mapping: {field: value} given to every row
_TOTAL_WORDS = ("合计", "总计", "小计", "共计")
_NOTE_WORDS = ("说明", "填写说明", "填表说明", "注:", "注：", "备注:", "备注：", "注意")
# A notes heading in a row that has values in mapped columns: the word itself, then nothing, a colon
# or a numbering — so a customer called 说明书印刷厂 is data.
_NOTE_HEADING = re.compile(r"^(填写说明|填表说明|说明|注意事项|注意|备注|注)\s*($|[:：、.．\d（(])")


@dataclass
class Recognition:
    template: T.Template
    header_row: int  # 0-based index into the sheet's rows
    columns: dict[int, str]  # column index -> field name
    headers: dict[int, str]  # column index -> header as written (every non-empty header cell)
    ignored: list[str] = field(default_factory=list)  # headers not used
    duplicates: list[str] = field(default_factory=list)  # a field named by two columns: the first wins
    via_mapping: bool = False
    reasons: dict[int, str] = field(default_factory=dict)  # column index -> why it names its field
    # fields given one value for the whole sheet in the mapping step (交易类型 = 购买, 客户来源 = 展会)
    constants: dict[str, str] = field(default_factory=dict)


@dataclass
class Unrecognised:
    reason: str
    header_row: int | None = None
    headers: dict[int, str] = field(default_factory=dict)


def header_signature(headers: list[str]) -> str:
    """A key for 'the same set of headers' so a confirmed mapping can be applied next time."""
    normal = sorted({T.normalise_header(h) for h in headers if T.normalise_header(h)})
    return hashlib.sha1("|".join(normal).encode("utf-8")).hexdigest()


def _match_row(row: list[Any], tpl: T.Template, reasons: dict[int, str] | None = None
               ) -> tuple[dict[int, str], list[str]]:
    columns: dict[int, str] = {}
    seen: set[str] = set()
    duplicates: list[str] = []
    for idx, cell in enumerate(row):
        if is_blank(cell) or not isinstance(cell, str):
            continue
        found = T.match_header(tpl, cell)
        if found is None:
            continue
        name, why = found
        if name in seen:
            duplicates.append(str(cell).strip())
            continue
        seen.add(name)
        columns[idx] = name
        if reasons is not None:
            reasons[idx] = why
    return columns, duplicates


def _eligible(tpl: T.Template, matched: set[str]) -> bool:
    if len(matched) < 2:  # one known word in a row (a notes sheet, a title) is no header
        return False
    if not set(tpl.signature) <= matched:
        return False
    if "name" in tpl.field_by_name and tpl.field_by_name["name"].required and "name" not in matched:
        return False
    return all(matched & set(group) for group in tpl.any_of)


def recognise_sheet(sheet: RawSheet, remembered: dict[str, tuple[str, dict[str, str]]] | None = None
                    ) -> Recognition | Unrecognised:
    """The best template for this sheet, or why none fits.

    `remembered` maps a header signature to (template code, {header as written: field}) for
    mappings a user confirmed before.
    """
    rows = sheet.rows
    if not any(any(not is_blank(c) for c in row) for row in rows):
        return Unrecognised("工作表为空")
    best: tuple[float, int, T.Template, dict[int, str], list[str]] | None = None
    closest: tuple[int, int, T.Template, set[str]] | None = None
    for r, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        texts = [c for c in row if isinstance(c, str) and c.strip()]
        if len(texts) < 2:
            continue
        if remembered:
            # The signature of every header cell as shown to the user (numbers too), and the
            # mapping looked up the way the signature is built (whitespace/width insensitive).
            sig = header_signature(list(_headers(row).values()))
            if sig in remembered:
                code, mapping = remembered[sig]
                tpl = T.TEMPLATES[code]
                mapping = dict(mapping)
                constants = mapping.pop(CONSTANTS_KEY, None) or {}
                by_norm = {T.normalise_header(h): f for h, f in mapping.items() if isinstance(f, str) and f}
                columns = {i: by_norm[T.normalise_header(h)] for i, h in _headers(row).items()
                           if by_norm.get(T.normalise_header(h))}
                return Recognition(tpl, r, columns, _headers(row),
                                   [str(c).strip() for i, c in enumerate(row) if i not in columns and not is_blank(c)],
                                   via_mapping=True, constants=dict(constants))
        for tpl in T.TEMPLATES.values():
            columns, dups = _match_row(row, tpl)
            matched = set(columns.values())
            # the closest template is the one the sheet's columns fill most (dates and amounts → T2)
            if closest is None or (len(matched), len(matched) / len(tpl.fields)) > (closest[0], closest[0] / len(
                    closest[2].fields)):
                closest = (len(matched), r, tpl, matched)
            if not _eligible(tpl, matched):
                continue
            hint = 0.5 if any(h in sheet.name for h in tpl.sheet_hints) else 0.0
            # Prefer more matched fields; among equals, the template whose fields are more fully
            # present (T4 over T1 for a tracking sheet), then a sheet name that hints at it.
            score = len(matched) + len(matched) / len(tpl.fields) + hint
            if best is None or score > best[0]:
                best = (score, r, tpl, columns, dups)
        if best is not None and best[1] == r:
            break  # the first row that fits a template is the header; rows below are data
    if best is not None and closest is not None and closest[2] is not best[2] and closest[0] > len(best[3]) \
            and set(closest[2].decisive) & closest[3]:
        best = None  # the sheet says what it is (交易类型 …) but lacks a column that needs: say so
    if best is None:
        if closest is None or closest[0] == 0:
            # Offer the first row of several texts as the header, for the column-mapping step.
            r = next((i for i, row in enumerate(rows[:HEADER_SCAN_ROWS])
                      if sum(isinstance(c, str) and bool(c.strip()) for c in row) >= 2), None)
            return Unrecognised("未找到可识别的表头（前 30 行中没有任何模板的列名）", r,
                                _headers(rows[r]) if r is not None else {})
        _, r, tpl, matched = closest
        missing = [tpl.field_by_name[n].header for n in tpl.signature if n not in matched]
        if "name" in tpl.field_by_name and "name" not in matched:
            missing.insert(0, tpl.field_by_name["name"].header)
        for group in tpl.any_of:
            if not matched & set(group):
                missing.append("/".join(tpl.field_by_name[n].header for n in group))
        missing = list(dict.fromkeys(missing))  # each missing column once
        return Unrecognised(
            f"表头无法识别为任何模板（最接近 {tpl.code} {tpl.title}，缺少列：{'、'.join(missing)}）",
            r, _headers(rows[r]))
    _, r, tpl, columns, dups = best
    headers = _headers(rows[r])
    ignored = [h for i, h in headers.items() if i not in columns]
    reasons: dict[int, str] = {}
    _match_row(rows[r], tpl, reasons)
    return Recognition(tpl, r, columns, headers, ignored, dups, reasons=reasons)


def _headers(row: list[Any]) -> dict[int, str]:
    return {i: display(c).strip() for i, c in enumerate(row) if not is_blank(c)}


def _first_texts(row: list[Any], n: int = 3) -> list[str]:
    out: list[str] = []
    for c in row:
        if c is None or c == "":
            continue
        if c.__class__ is str:
            c = c.strip()
            if not c:
                continue
            out.append(c)
        else:
            out.append(display(c))
        if len(out) == n:
            break
    return out


_MARK_CHARS = frozenset(w[0] for w in _TOTAL_WORDS + _NOTE_WORDS)


def _maybe_total_or_note(row: list[Any]) -> bool:
    """A cheap pre-test: does one of the first cells start with a character a 合计/说明 row starts with?"""
    seen = 0
    for c in row:
        if c.__class__ is str:
            t = c.lstrip()
            if t:
                if t[0] in _MARK_CHARS:
                    return True
                seen += 1
        elif c is not None and c != "":
            seen += 1
        if seen >= 3:
            return False
    return False


def data_rows(sheet: RawSheet, rec: Recognition) -> list[tuple[int, list[Any]]]:
    """(spreadsheet row number, cells) for each data row under the header.

    Skips blank rows, 合计/总计 rows and repeated header rows; stops at a notes block. The work is
    done column-wise by crm.imports.extract (which the pipeline calls directly).
    """
    ext = extract(sheet, rec.header_row, sorted(rec.columns), list(rec.headers.values()))
    width = max(rec.columns) + 1
    out: list[tuple[int, list[Any]]] = []
    for number in ext.row_numbers:
        row = list(sheet.rows[number - 1][:width])
        out.append((number, row + [None] * (width - len(row))))
    return out
