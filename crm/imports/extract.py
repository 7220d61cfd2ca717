"""Cutting a sheet's data rows out from under its header, column-wise.

Each mapped column is factorized once (pandas hashes in C); every per-row test (blank row,
合计 row, notes block, repeated header) is computed once per distinct cell value and broadcast
back with numpy. Python then only loops over distinct values and the few suspicious rows, which
is what keeps a 100,000-row import within a small multiple of reading the file.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from crm.imports import templates as T
from crm.imports.cleaning import display, is_blank
from crm.imports.reader import RawSheet

TOTAL_WORDS = ("合计", "总计", "小计", "共计")
NOTE_WORDS = ("说明", "填写说明", "填表说明", "注:", "注：", "备注:", "备注：", "注意")
_MARK_CHARS = frozenset(w[0] for w in TOTAL_WORDS + NOTE_WORDS)
# A notes heading: the word itself, then nothing, a colon or a numbering, so that a customer
# called 说明书印刷厂 stays data.
NOTE_HEADING = re.compile(r"^(填写说明|填表说明|说明|注意事项|注意|备注|注)\s*($|[:：、.．\d（(])")
_SCAN_COLUMNS = 6  # a 合计 or 说明 label sits in one of the first columns


@dataclass
class Column:
    """One column of the data rows as (codes, uniques): cell i is uniques[codes[i]], code -1 is empty."""
    codes: np.ndarray
    uniques: list[Any]
    blank: np.ndarray | None = None  # per distinct value: blank-like text ('', '-', '无' …), when known

    def raw(self) -> "RawView":
        return RawView(self)


class RawView:
    """The raw cells of a column, looked up on demand (only problem messages need them)."""

    def __init__(self, column: Column) -> None:
        self._codes = column.codes
        self._uniques = column.uniques

    def __len__(self) -> int:
        return len(self._codes)

    def __getitem__(self, i: int) -> Any:
        code = self._codes[i]
        return None if code < 0 else self._uniques[code]

    def __iter__(self):  # type: ignore[no-untyped-def]
        return (self[i] for i in range(len(self._codes)))


@dataclass
class Extracted:
    row_numbers: list[int]  # spreadsheet row numbers (1-based) of the data rows
    columns: dict[int, Column]  # sheet column index -> that column over the data rows


def _objects(values: tuple[Any, ...] | list[Any]) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _text_mask(uniques: Any, test: Any) -> np.ndarray:
    """test() for each distinct value that is text (numbers and dates are never blank or labels)."""
    per_unique = np.zeros(len(uniques), dtype=bool)
    for k in [k for k, u in enumerate(uniques) if u.__class__ is str]:
        if test(uniques[k]):
            per_unique[k] = True
    return per_unique


def _mask(per_unique: np.ndarray, codes: np.ndarray, empty: bool) -> np.ndarray:
    """A per-distinct-value answer broadcast to rows; `empty` is the answer for an empty cell."""
    return np.append(per_unique, empty)[codes]


def _starts_with_mark(value: Any) -> bool:
    if value.__class__ is not str:
        return False
    text = value.lstrip()
    return bool(text) and text[0] in _MARK_CHARS


def _texts(row: list[Any], n: int) -> list[str]:
    out: list[str] = []
    for c in row:
        if is_blank(c):
            continue
        out.append(c.strip() if isinstance(c, str) else display(c))
        if len(out) == n:
            break
    return out


def extract(sheet: RawSheet, header_row: int, mapped: list[int], header_texts: list[str],
            extra: list[int] | None = None) -> Extracted:
    """The data rows below `header_row`, restricted to the `mapped` columns (and the `extra` ones:
    columns no field names, carried along so that what a user typed there is kept, not dropped).

    Skips blank rows, 合计/总计 rows and repeated header rows; stops at a 说明/填写说明 block.
    """
    body = sheet.rows[header_row + 1:]
    n = len(body)
    if n == 0 or not mapped:
        return Extracted([], {})
    width = max(max(len(r) for r in body), max([*mapped, *(extra or ())]) + 1)
    if any(len(r) != width for r in body):  # CSV rows may be ragged
        body = [list(r) + [None] * (width - len(r)) for r in body]
    grid = np.empty((n, width), dtype=object)  # one C-level copy; columns are then views
    grid[:] = body
    factorized: dict[int, tuple[np.ndarray, Any]] = {}

    def fact(c: int) -> tuple[np.ndarray, Any]:
        if c not in factorized:
            factorized[c] = pd.factorize(grid[:, c])
        return factorized[c]

    blank_row = np.ones(n, dtype=bool)
    blank_unique: dict[int, np.ndarray] = {}
    for c in mapped:
        codes, uniques = fact(c)
        blank_unique[c] = _text_mask(uniques, is_blank)
        blank_row &= _mask(blank_unique[c], codes, True)
    suspicious = np.zeros(n, dtype=bool)
    for c in range(min(width, _SCAN_COLUMNS)):
        codes, uniques = fact(c)
        suspicious |= _mask(_text_mask(uniques, _starts_with_mark), codes, False)
    header_norm = {T.normalise_header(h) for h in header_texts}
    lead_codes, lead_uniques = fact(mapped[0])
    repeated_header = _mask(_text_mask(lead_uniques, lambda u: len(u) <= 40 and T.normalise_header(u) in header_norm),
                            lead_codes, False)
    keep = ~blank_row
    stop = n
    for i in np.flatnonzero(suspicious | repeated_header):
        row = body[i]
        first = _texts(row, 3)
        if blank_row[i]:
            if first and NOTE_HEADING.match(first[0]):
                stop = i
                break
            continue
        if any(t.replace(" ", "").startswith(TOTAL_WORDS) for t in first):
            keep[i] = False
            continue
        if first and NOTE_HEADING.match(first[0]) and sum(not is_blank(c) for c in row) <= 2:
            stop = i
            break
        if repeated_header[i]:
            texts = {T.normalise_header(c) for c in (row[j] for j in mapped) if isinstance(c, str) and c.strip()}
            if len(texts & header_norm) >= max(2, len(texts) - 1):
                keep[i] = False  # the header repeated (two tables pasted together)
    keep[stop:] = False
    positions = np.flatnonzero(keep)
    row_numbers = (positions + header_row + 2).tolist()
    columns = {}
    for c in mapped:
        codes, uniques = fact(c)
        columns[c] = Column(codes[positions], list(uniques), blank_unique[c])
    for c in extra or ():
        if c not in columns:
            codes, uniques = fact(c)
            columns[c] = Column(codes[positions], list(uniques), _text_mask(uniques, is_blank))
    return Extracted(row_numbers, columns)
