"""Finding the header row of a sheet and the template it follows, from the headers alone.

Title rows, blank rows and merged banners may stand above the header; a 合计 row and a
说明/填写说明 block may stand below the table. Neither is data.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from crm import templates as T
from crm.cleaning import display, is_blank
from crm.reader import RawSheet

HEADER_SCAN_ROWS = 30
_TOTAL_WORDS = ("合计", "总计", "小计", "共计")
_NOTE_WORDS = ("说明", "填写说明", "填表说明", "注:", "注：", "备注:", "备注：", "注意")


@dataclass
class Recognition:
    template: T.Template
    header_row: int  # 0-based index into the sheet's rows
    columns: dict[int, str]  # column index -> field name
    headers: dict[int, str]  # column index -> header as written (every non-empty header cell)
    ignored: list[str] = field(default_factory=list)  # headers not used
    duplicates: list[str] = field(default_factory=list)  # a field named by two columns: the first wins
    via_mapping: bool = False


@dataclass
class Unrecognised:
    reason: str
    header_row: int | None = None
    headers: dict[int, str] = field(default_factory=dict)


def header_signature(headers: list[str]) -> str:
    """A key for 'the same set of headers' so a confirmed mapping can be applied next time."""
    normal = sorted({T.normalise_header(h) for h in headers if T.normalise_header(h)})
    return hashlib.sha1("|".join(normal).encode("utf-8")).hexdigest()


def _match_row(row: list[Any], tpl: T.Template) -> tuple[dict[int, str], list[str]]:
    columns: dict[int, str] = {}
    seen: set[str] = set()
    duplicates: list[str] = []
    for idx, cell in enumerate(row):
        if is_blank(cell) or not isinstance(cell, str):
            continue
        name = T.field_for_header(tpl, cell)
        if name is None:
            continue
        if name in seen:
            duplicates.append(str(cell).strip())
            continue
        seen.add(name)
        columns[idx] = name
    return columns, duplicates


def _eligible(tpl: T.Template, matched: set[str]) -> bool:
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
            sig = header_signature(texts)
            if sig in remembered:
                code, mapping = remembered[sig]
                tpl = T.TEMPLATES[code]
                columns = {i: mapping[str(c).strip()] for i, c in enumerate(row)
                           if isinstance(c, str) and mapping.get(str(c).strip())}
                return Recognition(tpl, r, columns, _headers(row),
                                   [str(c).strip() for i, c in enumerate(row) if i not in columns and not is_blank(c)],
                                   via_mapping=True)
        for tpl in T.TEMPLATES.values():
            columns, dups = _match_row(row, tpl)
            matched = set(columns.values())
            if closest is None or len(matched) > closest[0]:
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
    if best is None:
        if closest is None or closest[0] == 0:
            return Unrecognised("未找到可识别的表头（前 30 行中没有任何模板的列名）")
        _, r, tpl, matched = closest
        missing = [tpl.field_by_name[n].header for n in tpl.signature if n not in matched]
        if "name" in tpl.field_by_name and "name" not in matched:
            missing.insert(0, tpl.field_by_name["name"].header)
        for group in tpl.any_of:
            if not matched & set(group):
                missing.append("/".join(tpl.field_by_name[n].header for n in group))
        return Unrecognised(
            f"表头无法识别为任何模板（最接近 {tpl.code} {tpl.title}，缺少列：{'、'.join(missing)}）",
            r, _headers(rows[r]))
    _, r, tpl, columns, dups = best
    headers = _headers(rows[r])
    ignored = [h for i, h in headers.items() if i not in columns]
    return Recognition(tpl, r, columns, headers, ignored, dups)


def _headers(row: list[Any]) -> dict[int, str]:
    return {i: display(c).strip() for i, c in enumerate(row) if not is_blank(c)}


def _first_texts(row: list[Any], n: int = 3) -> list[str]:
    out: list[str] = []
    for c in row:
        if not is_blank(c):
            out.append(str(c).strip())
            if len(out) == n:
                break
    return out


def data_rows(sheet: RawSheet, rec: Recognition) -> list[tuple[int, list[Any]]]:
    """(spreadsheet row number, cells) for each data row under the header.

    Skips blank rows, 合计/总计 rows and repeated header rows; stops at a notes block.
    """
    out: list[tuple[int, list[Any]]] = []
    header_norm = {T.normalise_header(h) for h in rec.headers.values()}
    mapped = list(rec.columns)
    for r in range(rec.header_row + 1, len(sheet.rows)):
        row = sheet.rows[r]
        if all(is_blank(row[i]) if i < len(row) else True for i in mapped):
            first = _first_texts(row, 1)
            if first and first[0].startswith(_NOTE_WORDS):
                break
            continue
        first = _first_texts(row)
        if any(isinstance(t, str) and t.replace(" ", "").startswith(_TOTAL_WORDS) for t in first):
            continue
        if first and first[0].startswith(_NOTE_WORDS) and sum(not is_blank(c) for c in row) <= 2:
            break
        cells = [row[i] if i < len(row) else None for i in range(max(mapped) + 1)]
        texts = {T.normalise_header(c) for c in cells if isinstance(c, str) and c.strip()}
        if texts and len(texts & header_norm) >= max(2, len(texts) - 1):
            continue  # the header repeated (two tables pasted together)
        out.append((r + 1, cells))
    return out
