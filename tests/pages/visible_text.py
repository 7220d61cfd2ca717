"""What a user reads on a page run by AppTest, element by element: the texts Streamlit draws
(titles, markdown, captions, alerts, metric labels and values, widget labels, help texts,
placeholders and options, button, tab, expander and dialog labels, dataframe headers and cells,
Plotly titles, axis titles, trace names and value labels), each with where it was found.

Used by tests/pages/test_chinese.py, which fails on English in any of them. A text is what the
browser shows, so Markdown is rendered first (markdown-it, as Streamlit's renderer would) and only
its text is kept: a link's address, Streamlit's `:material/icon:` and `:gray[…]` directives are not
read; an inline code span is kept apart (`code`), as it holds a command the user types.
"""
from __future__ import annotations

import html as html_module
import json
import re
from dataclasses import dataclass
from typing import Any, Iterator

from google.protobuf.json_format import MessageToDict
from markdown_it import MarkdownIt

_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_ICON = re.compile(r":material/[a-z0-9_]+:")
_COLOUR = re.compile(r":(?:red|orange|yellow|green|blue|violet|gray|grey|rainbow|primary)(?:-background|-badge)?\[")
_CODE = re.compile(r"<code>(.*?)</code>", re.S)
_TAG = re.compile(r"<[^>]+>")
_PLOTLY_TEMPLATE = re.compile(r"%\{[^}]*\}")
# Plotly's spec keys whose strings are drawn: titles (title.text), trace names (the legend), value
# labels (text, texttemplate), hover boxes, category axes (x, y), sankey and pie labels, ticks.
_PLOTLY_KEYS = {"text", "name", "texttemplate", "hovertemplate", "x", "y", "labels", "label", "ticktext"}
# Streamlit's own words when a selectbox or multiselect has no placeholder (frontend utils.ts), and
# when it has no options at all.
DEFAULT_PLACEHOLDER = {"selectbox": "Choose an option", "multiselect": "Choose options"}
NO_OPTIONS = "No options to select"


@dataclass(frozen=True)
class Shown:
    """One text the user reads: where (the element kind and a hint), the text, and whether it is data."""

    kind: str
    text: str
    code: tuple[str, ...] = ()  # inline code spans (commands to type), kept apart from the text
    data: bool = False  # a cell of a table or a widget value: the archive's own data, not the app's words


def markdown_text(source: str) -> tuple[str, tuple[str, ...]]:
    """The text Markdown `source` renders to, and its inline code spans."""
    source = _COLOUR.sub("[", _ICON.sub("", source))
    rendered = _MD.render(source)
    codes = tuple(html_module.unescape(c) for c in _CODE.findall(rendered))
    text = html_module.unescape(_TAG.sub(" ", _CODE.sub(" ", rendered)))
    return text, codes


def _md(kind: str, source: str | None) -> Iterator[Shown]:
    if source:
        text, codes = markdown_text(source)
        yield Shown(kind, text, codes)


def _plain(kind: str, source: str | None) -> Iterator[Shown]:
    if source:
        yield Shown(kind, source)


def _plotly(spec: str) -> Iterator[Shown]:
    def walk(value: Any, key: str | None) -> Iterator[str]:
        if isinstance(value, dict):
            for k, v in value.items():
                if k not in ("customdata", "meta", "uid", "font", "template"):
                    yield from walk(v, k)
        elif isinstance(value, list):
            for v in value:
                yield from walk(v, key)
        elif isinstance(value, str) and key in _PLOTLY_KEYS:
            yield value

    figure = json.loads(spec or "{}")
    for text in walk({"data": figure.get("data", []), "layout": figure.get("layout", {})}, None):
        cleaned = html_module.unescape(_TAG.sub(" ", _PLOTLY_TEMPLATE.sub(" ", text)))
        yield Shown("plotly_chart", cleaned)


def _dataframe(node: Any, proto: Any) -> Iterator[Shown]:
    config = json.loads(proto.columns or "{}")
    frame = node.value
    order = list(proto.column_order) or [str(c) for c in frame.columns]
    for name in order:
        column = config.get(name, {})
        label = column.get("label") or name
        yield Shown("dataframe header", str(label))
        type_config = column.get("type_config") or {}
        if type_config.get("type") == "link" and type_config.get("display_text"):
            yield Shown("dataframe link", str(type_config["display_text"]))
            continue  # the cells are addresses, shown as the display text
        if name not in frame.columns:
            continue
        for value in frame[name]:
            if isinstance(value, str) and value:
                yield Shown(f"dataframe cell 「{label}」", value, data=True)


def shown(node: Any) -> Iterator[Shown]:
    """Every text one element (no children) draws."""
    kind = getattr(node, "type", "")
    proto = getattr(node, "proto", None)
    if proto is None:
        return
    if kind in ("markdown", "caption", "latex", "divider"):
        yield from _md("markdown", proto.body)
    elif kind in ("title", "header", "subheader", "heading"):
        yield from _md("heading", proto.body)
    elif kind in ("error", "warning", "info", "success", "alert", "exception"):
        yield from _md(kind, getattr(proto, "body", "") or getattr(proto, "message", ""))
    elif kind == "toast":
        yield from _md("toast", proto.body)
    elif kind == "text":
        yield from _plain("text", proto.body)
    elif kind == "metric":
        yield from _md("metric label", proto.label)
        yield from _plain("metric value", proto.body)
        yield from _plain("metric delta", proto.delta)
        yield from _md("metric help", proto.help)
    elif kind == "plotly_chart":
        yield from _plotly(proto.spec)
    elif kind in ("dataframe", "arrow_data_frame", "data_editor"):
        yield from _dataframe(node, proto)
    elif kind == "html":
        return  # a style sheet, or the script of ui.streamlit_text: nothing the user reads
    else:
        tree = MessageToDict(proto, preserving_proto_field_name=True)
        yield from _md(f"{kind} label", tree.get("label"))
        yield from _md(f"{kind} help", tree.get("help"))
        yield from _plain(f"{kind} placeholder", tree.get("placeholder"))
        yield from _plain(f"{kind} text", tree.get("text"))  # progress bars, spinners
        for option in tree.get("options", []):
            if isinstance(option, dict):  # a segmented control's or pills' option
                yield from _md(f"{kind} option", option.get("content"))
            else:
                yield from _md(f"{kind} option", str(option))
        if kind in DEFAULT_PLACEHOLDER and not tree.get("placeholder"):
            value = getattr(node, "value", None)
            if not tree.get("options"):
                yield Shown(f"{kind} placeholder", NO_OPTIONS)
            elif kind == "multiselect" or value is None:
                yield Shown(f"{kind} placeholder", DEFAULT_PLACEHOLDER[kind])
        if kind in ("text_input", "text_area"):  # a choice shows its option's label, checked above
            value = getattr(node, "value", None)
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, str) and v:
                    yield Shown(f"{kind} value", v, data=True)


def _walk(node: Any) -> Iterator[Any]:
    yield node
    for child in (getattr(node, "children", None) or {}).values():
        yield from _walk(child)


def page_texts(at: Any) -> list[Shown]:
    """Every text of the last run of `at`, the sidebar included, with the labels of tabs,
    expanders, dialogs and popovers."""
    from streamlit.testing.v1.element_tree import Block

    out: list[Shown] = []
    for node in _walk(at._tree):
        if isinstance(node, Block):
            proto = getattr(node, "proto", None)
            if proto is not None and proto.DESCRIPTOR.name == "Block":  # else a block's own sub-message
                which = proto.WhichOneof("type")
                proto = getattr(proto, which) if which else None
            label = getattr(proto, "label", None) or getattr(proto, "title", None)
            if label:
                out.extend(_md(f"{node.type} label", label))
            continue
        out.extend(shown(node))
    return out
