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
os.environ["CRM_FREEZE_HEAP"] = "0"  # frozen objects would outlive the tests' archives (ui/heap.py)
# Nor a hot-folder watcher in every app a test opens (tests/test_inbox.py and the browser test start theirs).
os.environ["CRM_INBOX_WATCH"] = "0"
os.environ["CRM_CLUSTER"] = "0"  # the maintenance thread rewrites tables on its own clock: tests call it


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[Archive]:
    arc = open_archive(tmp_path / "archive.duckdb")
    yield arc
    arc.close()


def one(archive: Archive, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query on the archive (a cursor of its own, closed after)."""
    from crm.db import fetch_one

    cur = archive.cursor()
    try:
        return fetch_one(cur, sql, params or [])
    finally:
        cur.close()


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


APP = Path(__file__).resolve().parent.parent / "app.py"


@pytest.fixture
def app_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """open(db, page=None, user=None, query=None, session=None, timeout=60) → a finished AppTest of the
    real app.py on CRM_DB=db, switched to `page` ("pages/x.py") when given, as `user` (CRM_USER;
    unset: the default). Every page test opens the app through this one fixture; the process's
    archive caches are cleared and its archives closed afterwards."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from crm import db as crm_db

    def open_app(db: Path, page: str | None = None, user: str | None = None, query: dict[str, str] | None = None,
                 session: dict[str, Any] | None = None, timeout: float = 60) -> AppTest:
        monkeypatch.setenv("CRM_DB", str(db))
        if user:
            monkeypatch.setenv("CRM_USER", user)
        else:
            monkeypatch.delenv("CRM_USER", raising=False)
        st.cache_resource.clear()
        st.cache_data.clear()
        at = AppTest.from_file(str(APP), default_timeout=timeout)
        at.run()
        if at.get("text_input") and any(t.label == "用户名" for t in at.text_input):
            log_in(at, db, user or "admin")
        if page is not None:
            for key, value in (query or {}).items():
                at.query_params[key] = value
            at.switch_page(page)
            for key, value in (session or {}).items():
                at.session_state[key] = value
            at.run()
        assert not at.exception, at.exception
        return at

    def log_in(at: AppTest, db: Path, username: str) -> None:
        """Log in through the form, as a user would: with the demo password of the user's role, or
        one the test sets (a user inserted by SQL has none)."""
        from crm.auth import accounts
        from crm.seed import DEMO_PASSWORDS

        archive = crm_db.open_archive(db)  # the app's own (one archive per path and process)
        cur = archive.cursor()
        row = cur.execute("SELECT role, password_hash FROM users WHERE username = ?", [username]).fetchall()
        cur.close()
        assert row, f"no user {username} in the archive"
        password = DEMO_PASSWORDS[row[0][0]]
        if row[0][1] is None:
            accounts.set_password(archive, "test", username, password)
        at.text_input(key="auth_username").set_value(username)
        at.text_input(key="auth_password").set_value(password)
        next(b for b in at.button if b.label == "登录").click().run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]

    yield open_app
    st.cache_resource.clear()
    st.cache_data.clear()
    crm_db.close_all()


@pytest.fixture
def pinned_day() -> Iterator[Any]:
    """The clock pinned at 10:00 on Tuesday 2026-12-01 (tests/followup_team.py)."""
    from followup_team import pinned_day_fixture

    yield from pinned_day_fixture()


@pytest.fixture
def team(archive: Archive, pinned_day: Any) -> Archive:
    """A small team and its follow-ups, known by construction (tests/followup_team.py)."""
    from followup_team import team_fixture

    return team_fixture(archive, pinned_day)
