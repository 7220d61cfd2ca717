"""Streamlit's English the style sheet cannot reach (ui.streamlit_text): its one dictionary covers
the strings a user meets (the table toolbar's tooltips, a drop-down's "No results", the uploader's
tooltip for a file over the limit …), each in Chinese, each still what Streamlit writes; and every
page, the log-in page included, carries the script that applies it, once, before the page's own
elements (tests/browser/test_phone_and_chinese_browser.py watches it work in a real browser).
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import streamlit

from crm.db import open_archive
from ui import streamlit_text as T

# What issue 14 saw and its siblings: each must be translated.
SEEN = ["Search", "Fullscreen", "Close fullscreen", "Show/hide columns", "Download as CSV", "Clear selection",
        "No results", "Choose an option", "Choose options", "Sort ascending", "Type to search",
        "File must be 50.0MB or smaller.", "Add: 新标签", "Search: 客户列表", "3 results"]
ENGLISH = re.compile(r"[A-Za-z]{2,}")
TERMS = {"CSV", "PNG", "MB"}  # the listed terms of tests/pages/test_chinese.py
BUNDLE = Path(streamlit.__file__).parent / "static" / "static" / "js"


def translate(text: str, in_list: bool = False) -> str | None:
    """What the script does with one string (its JavaScript regular expressions read the same in Python)."""
    key = text.strip()
    if key in T.TEXTS and (not in_list or key in T.IN_LISTS):
        return T.TEXTS[key]
    for source, to in T.PATTERNS:
        if in_list and source not in T.IN_LISTS:
            continue
        if re.search(source, key):
            return re.sub(source, re.sub(r"\$(\d)", r"\\\1", to), key)
    named = None if in_list else re.match(r"^([^:]+): (.+)$", key)
    if named and named.group(1) in T.TEXTS:
        return f"{T.TEXTS[named.group(1)]}：{named.group(2)}"
    return None


def english(text: str) -> list[str]:
    return [w for w in ENGLISH.findall(text) if w not in TERMS]


@pytest.mark.parametrize("text", SEEN)
def test_what_a_user_meets_is_translated_into_chinese(text: str) -> None:
    out = translate(text)
    assert out is not None, text
    assert not english(out.replace("客户列表", "").replace("新标签", "")), (text, out)


def test_every_translation_is_chinese() -> None:
    for key, value in T.TEXTS.items():
        assert not english(value), (key, value)
        assert re.search(r"[\u4e00-\u9fff]", value), (key, value)
    for source, to in T.PATTERNS:
        assert not english(to), (source, to)
        re.compile(source)  # and a JavaScript regular expression: no Python-only syntax
        assert "(?" not in source, source


def test_a_drop_downs_options_are_data_only_its_own_messages_are_translated() -> None:
    assert translate("No results", in_list=True) == "没有匹配的选项"
    assert translate("Add: Search", in_list=True) == "添加：Search"
    assert translate("Search", in_list=True) is None and translate("Sum", in_list=True) is None  # a tag so named
    assert set(T.IN_LISTS) <= set(T.TEXTS) | {source for source, _ in T.PATTERNS}


def _bundle() -> str:
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in BUNDLE.glob("*.js"))


def test_each_string_is_still_what_streamlit_writes() -> None:
    """An upgrade that rewords one of them fails here instead of bringing the English back unseen."""
    bundle = _bundle()
    missing = [key for key in T.TEXTS if f"`{key}`" not in bundle and f'"{key}"' not in bundle]
    for source, _ in T.PATTERNS:  # each word of a pattern (Streamlit builds these strings from parts)
        missing += [f"{source} ({word!r})" for word in re.findall(r"[A-Za-z]{3,}", source) if word not in bundle]
    assert not missing, missing


@pytest.fixture
def through_app_py(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every AppTest run through app.py's own navigation, as a served app runs every page after its
    first request (ui.common.ensure_app_navigation): AppTest resets Streamlit's pages-folder mode
    before each run, and in that mode a switched-to page file runs alone, without app.py."""
    import types

    from streamlit.runtime.scriptrunner import script_runner

    def entry_script(main_script_path: str) -> None:
        module = types.ModuleType("__main__")
        module.__dict__["__file__"] = main_script_path
        exec(compile(Path(main_script_path).read_text(encoding="utf-8"), main_script_path, "exec"), module.__dict__)

    monkeypatch.setattr(script_runner, "_mpa_v1", entry_script)


@pytest.mark.parametrize("page", [None, "pages/import.py", "pages/customers.py", "pages/follow-ups.py",
                                  "pages/complaints.py", "pages/segments.py", "pages/admin.py"])
def test_every_page_carries_the_script_once_before_its_own_elements(tmp_path: Path, app_test, through_app_py,
                                                                    page: str | None) -> None:
    at = app_test(tmp_path / "crm.duckdb", page)
    if page is not None:  # the page itself, not the home page
        assert at.title and at.title[0].value != "档案概况", page
    scripts = [h for h in at.get("html") if h.proto.unsafe_allow_javascript]
    assert [h.proto.body for h in scripts] == [T.script()], page
    assert at.main.children[0].proto.body == T.script()  # first in the page, before the title


def test_the_log_in_page_carries_it_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    from crm.auth import accounts
    from crm.db import close_all

    db = tmp_path / "crm.duckdb"
    archive = open_archive(db)
    accounts.add_user(archive, "cli", "boss", "管理员", "a-good-password-1")
    archive.close()
    monkeypatch.setenv("CRM_DB", str(db))
    streamlit.cache_resource.clear()
    try:
        at = AppTest.from_file(str(Path(__file__).resolve().parents[2] / "app.py"), default_timeout=60).run()
        assert not at.exception and any(t.label == "用户名" for t in at.text_input)  # a visitor: the log-in page
        assert [h.proto.body for h in at.get("html") if h.proto.unsafe_allow_javascript] == [T.script()]
    finally:
        streamlit.cache_resource.clear()
        close_all()
