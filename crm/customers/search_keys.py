"""Normalised search columns stored with each customer (pinyin and initials of the name).

Computed at write time so that search is a column scan in DuckDB, never a Python loop.
"""
from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin


@lru_cache(maxsize=200_000)
def name_pinyin(name: str) -> str:
    """张伟 → 'zhangwei' (letters and digits kept, lower case)."""
    if not name:
        return ""
    return "".join(lazy_pinyin(name, errors="default")).lower().replace(" ", "")


@lru_cache(maxsize=200_000)
def name_initials(name: str) -> str:
    """张伟 → 'zw'; latin words give their first letter."""
    if not name:
        return ""
    parts = lazy_pinyin(name, style=Style.FIRST_LETTER, errors=lambda s: list(s))
    return "".join(p[:1] for p in parts if p.strip()).lower()
