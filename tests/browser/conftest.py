"""Browser tests: a real `streamlit run app.py` server driven by headless Chromium.

Fixtures
- `streamlit_app_factory(db=None)` → StreamlitApp(url, db, ...): starts (once per db path, for the
  whole session) a server on a free port with CRM_DB=db; without `db`, on a fresh empty archive.
  Prepare your database first and close it: DuckDB lets only one process open the file.
- `streamlit_app`: the server on an empty archive.
- `browser` (session) and `page` (a fresh context per test, zh-CN, 1440×900).
Every test under tests/browser is marked `browser` (deselect with `-m "not browser"`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from .helpers import CHROMIUM, CHROMIUM_ARGS, StreamlitApp, start_streamlit


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def streamlit_app_factory(tmp_path_factory) -> Iterator[Callable[..., StreamlitApp]]:
    apps: dict[Path, StreamlitApp] = {}
    workdir = tmp_path_factory.mktemp("streamlit")

    def start(db: Path | str | None = None) -> StreamlitApp:
        path = Path(db) if db is not None else tmp_path_factory.mktemp("archive") / "crm.duckdb"
        key = path.absolute()
        if key not in apps:
            apps[key] = start_streamlit(key, workdir)
        return apps[key]

    yield start
    for app in apps.values():
        app.stop()


@pytest.fixture(scope="session")
def streamlit_app(streamlit_app_factory) -> StreamlitApp:
    """The app on a fresh, empty archive."""
    return streamlit_app_factory()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    context.close()
