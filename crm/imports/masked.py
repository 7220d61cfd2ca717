"""Masked display values in a sheet: recognised, never written, and matched against the archive.

A viewer's or a sales user's export shows others' customers as 陈*伟, 138****5678, c***@qq.com
(crm.auth.personal). When such a file comes back as an import, writing those cells would replace
real names and contacts with stars. The shapes below are exactly what crm.auth.personal's masks
produce; a cell of that shape in a personal field is set aside before cleaning (so a masked phone
is not "an invalid phone" that rejects the row) and compared with the mask of the archive's value:
equal means unchanged, anything else is reported and not written.
"""
from __future__ import annotations

import re
from typing import Any

from crm import tables

_SHAPES: dict[str, re.Pattern[str]] = {
    tables.NAME: re.compile(r"^[^*\s]{1,2}\*+[^*\s]?$"),
    tables.PHONE: re.compile(r"^[+\d]*-?\*{3,}\d{0,4}$"),
    tables.EMAIL: re.compile(r"^[^@*\s]?\*{3}@\S+$"),
    tables.ADDRESS: re.compile(r"^[^*]{1,6}\*{4}$"),
}
_CUSTOMER_RULES = {name: rule for name, rule in tables.TABLES["customers"].personal.items() if rule in _SHAPES}


def masked_fields(template: str) -> frozenset[str]:
    """The fields of a template whose cells may be masked display values: the customer's name,
    phone, e-mail and address on a profile sheet, the name (which links a row) anywhere else."""
    return frozenset(_CUSTOMER_RULES) if template == "T1" else frozenset({"name"})


def looks_masked(name: str, value: Any) -> bool:
    """Whether a cell of field `name` has the shape of that field's mask."""
    rule = _CUSTOMER_RULES.get(name)
    return rule is not None and isinstance(value, str) and "*" in value and bool(_SHAPES[rule].match(value.strip()))


def is_mask_of(name: str, cell: str, archived: Any) -> bool:
    """Whether `cell` is what the archive's value of field `name` looks like masked."""
    from crm.auth.personal import MASKS

    rule = _CUSTOMER_RULES.get(name)
    return rule is not None and isinstance(archived, str) and MASKS[rule](archived) == cell.strip()
