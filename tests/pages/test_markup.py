"""Data is never rendered as Markdown or HTML (issue 17): Markdown and HTML seeded into every text
field (name, company, industry, tags, interaction content, survey comment, complaint reason and
department, follow-up content, an import's file name) reach every page through AppTest, and no
element's Markdown would render them as a link, an image or emphasis; Plotly labels carry them
entity-escaped. tests/browser/test_markup_browser.py checks the same in a real browser."""
from __future__ import annotations

import html as html_module
import json
import re
from pathlib import Path
from typing import Any, Iterator

import hostile_files as H
import pytest
from google.protobuf.json_format import MessageToDict
from markdown_it import MarkdownIt

from crm.db import Archive, open_archive

PIXEL, PAYLOAD, FILE_NAME = H.PIXEL, H.PAYLOAD, H.MARKDOWN_FILE_NAME
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# Streamlit renders GitHub-flavoured Markdown; this renderer is stricter (raw HTML on, every link
# scheme allowed), so anything it turns into a tag, Streamlit could too. GFM's own autolinks (bare
# URLs, www., e-mail), which remark-gfm finds in the text after escapes are resolved, are looked
# for in the rendered text by _AUTOLINK, as remark-gfm matches them.
_MD = MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])
_MD.validateLink = lambda url: True  # type: ignore[method-assign]
MARKDOWN_KEYS = {"body", "label", "help"}
OPTION_TYPES = {"radio", "button_group"}  # option texts that Streamlit renders as Markdown
_AUTOLINK = re.compile(r"(?i)https?://|www\.[\w-]|[\w.+-]@[\w-]+\.\w")
PLOTLY_TEXT_KEYS = {"x", "y", "text", "labels", "hovertext", "ticktext", "label"}


seed_hostile = H.seed_markup_archive


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _walk(child)


def _strings(value: Any, keys: set[str]) -> Iterator[str]:
    """Every string under one of `keys`, however deep."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k in keys:
                if isinstance(v, str):
                    yield v
                elif isinstance(v, list):
                    yield from (x for x in v if isinstance(x, str))
            yield from _strings(v, keys)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, keys)


def rendered_problems(at: Any) -> tuple[list[str], list[str]]:
    """(what would render as a link, image, emphasis or raw HTML from the data; every rendered text)."""
    problems: list[str] = []
    texts: list[str] = []
    for node in _walk(at._tree):
        proto = getattr(node, "proto", None)
        if proto is None:
            continue
        kind = getattr(node, "type", "")
        tree = MessageToDict(proto)
        if kind == "plotly_chart":
            spec = json.loads(tree.get("spec") or "{}")
            for text in _strings({k: v for k, v in spec.items()}, PLOTLY_TEXT_KEYS):
                if re.search(r"<(img|a|b|i|br)\b", text, re.I):
                    problems.append(f"plotly: {text}")
            continue
        keys = MARKDOWN_KEYS | ({"options", "content"} if kind in OPTION_TYPES else set())
        for source in _strings(tree, keys):
            html = _MD.render(source)
            texts.append(html)
            # the seeded **粗** turned into emphasis (a page's own bold around escaped data is fine);
            # a bare URL, www. or e-mail address in the resulting text, which GFM (Streamlit's
            # remark-gfm, unlike this renderer) links even when its characters were escaped
            text = html_module.unescape(re.sub(r"<[^>]+>", "", html))
            if re.search(r"<img\b|<a\b", html) or re.search(r"<(strong|em)>粗</\1>", html) or _AUTOLINK.search(text):
                problems.append(f"{kind}: {source!r} → {html.strip()!r}")
    return problems, texts


def assert_shown_as_text(at: Any, expect_payload: bool = True) -> None:
    assert not at.exception, at.exception
    problems, texts = rendered_problems(at)
    assert problems == []
    if expect_payload:  # and the data is there, as typed
        assert any("**粗**" in t for t in texts), "the seeded text is not on the page"


@pytest.fixture(scope="module")
def hostile_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    db = tmp_path_factory.mktemp("markup") / "crm.duckdb"
    return db, seed_hostile(db)


@pytest.fixture
def hostile(hostile_db: tuple[Path, dict[str, str]], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A copy per test (pages write: breaches marked, runs cached)."""
    import shutil

    copy = tmp_path / "crm.duckdb"
    shutil.copy(hostile_db[0], copy)
    return copy, hostile_db[1]


def test_the_checker_sees_unescaped_markdown() -> None:
    """The check itself: raw data would be caught, escaped data passes."""
    from ui.common import plain

    class Node:
        type = "markdown"

        def __init__(self, body: str) -> None:
            from streamlit.proto.Markdown_pb2 import Markdown

            self.proto = Markdown(body=body)

    class At:
        def __init__(self, body: str) -> None:
            self._tree = Node(body)

    assert len(rendered_problems(At(PAYLOAD))[0]) == 1
    assert len(rendered_problems(At("联系 zw@example.com 或 www.example.com"))[0]) == 1
    assert len(rendered_problems(At("http\\://127.0.0.1\\:9/pixel.png"))[0]) == 1  # escaped, still a GFM link
    assert rendered_problems(At(plain(PAYLOAD)))[0] == []
    assert rendered_problems(At(plain("联系 zw@example.com 或 www.example.com")))[0] == []
    assert rendered_problems(At(plain(FILE_NAME)))[0] == []


def test_home(hostile: tuple[Path, dict[str, str]], app_test: Any) -> None:
    db, _ = hostile
    assert_shown_as_text(app_test(db), expect_payload=False)  # the home page shows counts and a table


def test_customer_search_and_profile(hostile: tuple[Path, dict[str, str]], app_test: Any) -> None:
    db, ids = hostile
    at = app_test(db, "pages/customers.py")
    at.text_input(key="cus_q").set_value("粗").run()
    assert_shown_as_text(at, expect_payload=False)  # results are a table
    at = app_test(db, "pages/customers.py", query={"id": ids["customer"]})
    assert_shown_as_text(at)
    assert any("**粗**" in t.value.replace("\\", "") for t in at.title)


def test_follow_up_queue(hostile: tuple[Path, dict[str, str]], app_test: Any) -> None:
    db, _ = hostile
    for view in ("待办队列", "久未联系", "客户公海", "主管视图"):
        at = app_test(db, "pages/follow-ups.py", session={"fu_view": view})
        assert_shown_as_text(at, expect_payload=False)


def test_complaints(hostile: tuple[Path, dict[str, str]], app_test: Any) -> None:
    db, ids = hostile
    at = app_test(db, "pages/complaints.py", query={"id": ids["complaint"]})
    assert_shown_as_text(at, expect_payload=False)
    for view in ("登记投诉", "投诉分析", "满意度"):
        at = app_test(db, "pages/complaints.py", session={"cp_view": view})
        assert_shown_as_text(at, expect_payload=False)


def test_segments_with_a_drill_down_of_the_seeded_industry(hostile: tuple[Path, dict[str, str]], app_test: Any) -> None:
    db, _ = hostile
    at = app_test(db, "pages/segments.py", session={
        "seg_drill": {"kind": "industry", "labels": [PAYLOAD], "title": f"行业：{PAYLOAD}", "source": "x", "before": None}})
    assert_shown_as_text(at)
    charts = [json.loads(MessageToDict(c.proto)["spec"]) for c in at.get("plotly_chart")]
    labels = [y for c in charts for trace in c.get("data", []) for y in (trace.get("y") or []) if isinstance(y, str)]
    assert any("&lt;img src=x&gt;" in y for y in labels)  # the industry is drawn, escaped
    for tab in ("RFM 分群", "标签组合", "客户迁移", "分析报表"):
        assert_shown_as_text(app_test(db, "pages/segments.py", session={"seg_tab": tab}), expect_payload=False)


def test_import_history_shows_the_file_name_as_text(hostile: tuple[Path, dict[str, str]], app_test: Any) -> None:
    db, _ = hostile
    at = app_test(db, "pages/import.py")
    assert_shown_as_text(at)
    assert any("[点我](javascript:alert(1))" in re.sub(r"\\(.)", r"\1", m.value) for m in at.markdown)


def test_an_upload_named_as_markdown(tmp_path: Path, app_test: Any) -> None:
    at = app_test(tmp_path / "up.duckdb", "pages/import.py")
    at.file_uploader(key="imp_upload_0").set_value([(FILE_NAME, H.profiles([["C1", PAYLOAD, "13800000001", PAYLOAD]]),
                                                     XLSX)]).run()
    assert_shown_as_text(at)
    at.button(key="imp_confirm").click().run()
    assert_shown_as_text(at)
    assert any("已导入" in s.value for s in at.success)


def test_admin(hostile: tuple[Path, dict[str, str]], app_test: Any) -> None:
    db, _ = hostile
    for view in ("用户", "操作日志", "规则设置", "备份恢复", "销毁档案"):
        at = app_test(db, "pages/admin.py", session={"adm_view": view})
        assert_shown_as_text(at, expect_payload=False)


def test_the_archive_kept_the_text_as_typed(hostile: tuple[Path, dict[str, str]]) -> None:
    db, ids = hostile
    archive: Archive = open_archive(db)
    try:
        cur = archive.cursor()
        assert cur.execute("SELECT name FROM customers WHERE customer_id = ?", [ids["customer"]]).fetchall() == [(PAYLOAD,)]
        assert cur.execute("SELECT file FROM import_batches ORDER BY batch_id DESC LIMIT 1").fetchall() == [(FILE_NAME,)]
        cur.close()
    finally:
        archive.close()
