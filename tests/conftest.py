"""Shared fixtures: a fresh archive file per test, and a helper to build workbooks."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Iterator

import openpyxl
import pytest

from crm.db import Archive, open_archive

# No background computing of segment runs while tests write and read their archives (it would race
# with them); the warmer has its own tests, which switch it on.
os.environ["CRM_WARM_SEGMENTS"] = "0"


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    arc = open_archive(tmp_path / "archive.duckdb")
    yield arc
    arc.close()


def write_xlsx(path: Path, sheets: dict[str, list[list[Any]]]) -> Path:
    """A workbook with the given sheets (rows as lists, None for an empty cell)."""
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path
