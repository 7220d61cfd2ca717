"""crm.auth.audit: one writer, inside the caller's transaction, with a closed list of actions."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from crm import clock
from crm.auth import audit
from crm.auth.personal import Actor
from crm.db import Archive
from crm.vocabulary import ADMIN


def entries(archive: Archive) -> list[tuple]:
    cur = archive.cursor()
    try:
        return cur.execute("SELECT occurred_at, user_name, action, entity, entity_id, detail FROM audit_log ORDER BY id").fetchall()
    finally:
        cur.close()


def test_an_entry_commits_with_its_change_or_not_at_all(archive: Archive) -> None:
    with clock.pinned(dt.datetime(2026, 3, 1, 8, 30)):
        with archive.transaction() as tx:
            audit.record(tx, Actor("王磊", ADMIN), "edit", "customers", "C1",
                         {"changes": {"credit_limit": {"old": Decimal("10.50"), "new": dt.date(2026, 3, 1)}}})
    with pytest.raises(RuntimeError):
        with archive.transaction() as tx:
            audit.record(tx, "cli", "undo", "batch", 7, {"deleted": 1})
            raise RuntimeError("the write failed")
    (row,) = entries(archive)
    assert row[:5] == (dt.datetime(2026, 3, 1, 8, 30), "王磊", "edit", "customers", "C1")
    assert json.loads(row[5]) == {"changes": {"credit_limit": {"old": "10.5", "new": "2026-03-01"}}}


def test_actions_are_a_closed_list(archive: Archive) -> None:
    with archive.transaction() as tx:
        with pytest.raises(ValueError, match="not declared"):
            audit.record(tx, "cli", "made_up_action")
    assert entries(archive) == []
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in label) for label in audit.ACTIONS.values())


def test_no_module_writes_the_audit_log_by_hand() -> None:
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    writers = [str(p.relative_to(root)) for p in [*root.glob("crm/**/*.py"), *root.glob("pages/*.py"), root / "app.py"]
               if "INSERT INTO audit_log" in p.read_text(encoding="utf-8")]
    assert writers == ["crm/auth/audit.py"]
