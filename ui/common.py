"""Page helpers every page uses: the process's archive, who is acting, tables, tiles, messages.

A page imports these from here (not from app.py); app.py builds the navigation. Everything a
helper shows that comes from the archive or a file is passed as text (st.text, dataframe cells),
never as Markdown.
"""
from __future__ import annotations

import re
from typing import Any

import streamlit as st

from crm import config, segments
from crm.auth import accounts
from crm.auth.personal import Actor, actor_for
from crm.customers import activity
from crm.db import Archive, open_archive, resolve_db_path
from ui import streamlit_text

EMPTY_CELL = "—"


@st.cache_resource(show_spinner=False)
def _archive_for(db_path: str) -> Archive:
    archive = open_archive(db_path)
    activity.ensure_current(archive)  # once after an upgrade (≈ 2 s at 1 M), before any write can race it
    segments.warm_in_background(archive)  # the 客户分类 page's runs, computed while nobody waits
    segments.follow_writes(archive)  # and again after every write (crm.db's after-commit events)
    return archive


def get_archive() -> Archive:
    """The process-wide archive (one DuckDB connection per process, shared by all sessions).

    Keyed on the resolved path, so a changed CRM_DB (as in tests) gets its own archive.
    """
    return _archive_for(str(resolve_db_path()))


def current_session() -> accounts.Session | None:
    """This browser session's log-in (its token in the session state), if still alive."""
    return accounts.current_session(get_archive(), st.session_state.get("auth_token"))


def current_actor() -> Actor:
    """Who is acting in this browser session: the logged-in user. In set-up mode (no account with
    a password yet) the sidebar's 当前用户 picks one of the archive's users (default CRM_USER,
    else admin). Every personal-data read goes through crm.auth with it. A page only runs for a
    logged-in user (app.py registers no page otherwise); a session that ended meanwhile stops here."""
    archive = get_archive()
    if accounts.login_required(archive):
        session = current_session()
        if session is None:
            st.session_state.pop("auth_token", None)
            st.warning("登录已失效，请重新登录。")
            st.stop()
        return session.actor
    username = st.session_state.get("app_user") or config.default_user()
    return actor_for(archive, username)


# The app's one style sheet (app.py adds it to every page, ui.common.page_style).
# 1. Streamlit's file uploader writes its own English ("Upload", "100MB per file • XLSX, …" with
#    the widget's limit, which the import page sets above the reader's on purpose, and "Drag and
#    drop files here" while a file is dragged over it); the selectors are the test ids of 1.67's
#    FileUploader (stFileUploaderDropzone, stFileUploaderDropzoneInstructions). The text is hidden
#    and Chinese put in its place; the page's label states the real limit and the file types.
_UPLOADER_CSS = """
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"] p { display: none; }
[data-testid="stFileUploaderDropzone"] button [data-testid="stMarkdownContainer"]::after { content: "选择文件"; }
[data-testid="stFileUploaderDropzoneInstructions"] > div { display: none; }
[data-testid="stFileUploaderDropzoneInstructions"]::after {
  content: "或把文件拖到这里"; font-size: 0.875rem; color: rgba(49, 51, 63, 0.6); align-self: center; }
[data-testid="stFileUploaderDropzone"] > div:not([data-testid]) > span { font-size: 0; }
[data-testid="stFileUploaderDropzone"] > div:not([data-testid]) > span::after { content: "松开鼠标即可上传"; font-size: 1rem; }
"""
# 2. Streamlit's other English a user reads: the hint under a text box being typed in ("Press
#    Enter to apply", "… to submit form", "Press Ctrl+Enter …" in a text area; the first span of
#    InputInstructions, the second is the length counter), an empty date field's yyyy/mm/dd
#    segments (react-aria marks them data-placeholder) and the skip link keyboard users meet first.
_BUILT_IN_CSS = """
[data-testid="InputInstructions"] > span:first-child { font-size: 0; }
[data-testid="InputInstructions"] > span:first-child::after { content: "按回车键确认"; font-size: 12px; }
[data-testid="stForm"] [data-testid="InputInstructions"] > span:first-child::after { content: "按回车键提交"; }
[data-testid="stTextArea"] [data-testid="InputInstructions"] > span:first-child::after { content: "按 Ctrl+回车键确认"; }
[data-testid="stForm"] [data-testid="stTextArea"] [data-testid="InputInstructions"] > span:first-child::after {
  content: "按 Ctrl+回车键提交"; }
[data-testid="stDateInputField"] [data-placeholder="true"][data-type] { font-size: 0; }
[data-testid="stDateInputField"] [data-placeholder="true"][data-type="year"]::after { content: "年"; font-size: 14px; }
[data-testid="stDateInputField"] [data-placeholder="true"][data-type="month"]::after { content: "月"; font-size: 14px; }
[data-testid="stDateInputField"] [data-placeholder="true"][data-type="day"]::after { content: "日"; font-size: 14px; }
[data-testid="stSkipToContent"] { font-size: 0; }
[data-testid="stSkipToContent"]::after { content: "跳到主要内容"; font-size: 1rem; }
"""
# The element holding the script of ui.streamlit_text: no room on the page (no gap above the title).
_SCRIPT_CSS = f"""
[data-testid="stElementContainer"]:has(#{streamlit_text.MARKER}) {{ display: none; }}
"""
# 3. Phones (Streamlit stacks columns one per row below 640 px): metric tiles two per row rather
#    than a screen each, with a value size that fits half a phone; no "drag a file here" where
#    there is nothing to drag from; a table laid out as columns
#    (a container keyed `*_table_rows`, the import history) keeps its rows and scrolls sideways,
#    as st.dataframe does, instead of becoming an unlabelled list.
_PHONE_CSS = """
@media (max-width: 640px) {
  [data-testid="stHorizontalBlock"]:has(> [data-testid="stColumn"] [data-testid="stMetric"]) > [data-testid="stColumn"] {
    min-width: calc(50% - 0.5rem) !important; flex: 1 1 calc(50% - 0.5rem) !important; }
  [data-testid="stMetricValue"] { font-size: 1.5rem; }
  [data-testid="stFileUploaderDropzoneInstructions"] { display: none; }
  [class*="_table_rows"] { overflow-x: auto; }
  [class*="_table_rows"] [data-testid="stHorizontalBlock"] { flex-wrap: nowrap; width: 760px; }
  [class*="_table_rows"] [data-testid="stColumn"] { min-width: 0 !important; }
}
"""


def page_style() -> None:
    """The app's style sheet, once per run (before the page runs): see the rules above. A <style>
    alone goes to Streamlit's event container, so it takes no room on the page. Then the script
    that puts Streamlit's English the style sheet cannot reach into Chinese (ui.streamlit_text):
    st.html runs it in the app's own document (no iframe); its element is hidden by the rule below."""
    st.html(f"<style>{_UPLOADER_CSS}{_BUILT_IN_CSS}{_PHONE_CSS}{_SCRIPT_CSS}</style>")
    st.html(streamlit_text.script(), unsafe_allow_javascript=True)


_PHONE_AGENTS = re.compile(r"Mobile|Android|iPhone|iPod|Windows Phone", re.I)


def narrow_screen() -> bool:
    """Whether the browser is a phone's (its User-Agent says so): the server cannot see the width,
    and a phone is where a row of filters would push the page's content below the first screen.
    False without a browser (AppTest), so tests see the wide layout."""
    try:
        agent = st.context.headers.get("User-Agent") or ""
    except Exception:  # noqa: BLE001 - no request context (bare mode)
        return False
    return bool(_PHONE_AGENTS.search(agent))


def filter_panel(label: str, key: str) -> Any:
    """The one expander a page's filters live in: open on a wide screen, collapsed on a phone, its
    label saying what is filtered so a collapsed panel still tells what the page shows. Keyed, so
    it stays open or closed as the user left it while its label follows the filters."""
    return st.expander(label, expanded=not narrow_screen(), icon=":material/filter_list:", key=key)


def show_table(frame: object, **options: Any) -> object:
    """Every table in the app: no index column, full width, and "—" in an empty cell
    (Streamlit's `placeholder` is the text it shows for a missing value)."""
    return st.dataframe(frame, hide_index=True, width="stretch", placeholder=EMPTY_CELL, **options)


def alarm_tile(column: Any, label: str, count: int, alarm: str, calm: str, help_text: str) -> None:
    """A count that is only good at zero: red note when above it, grey otherwise."""
    column.metric(label, count, delta=alarm if count else calm, delta_color="inverse" if count else "off",
                  delta_arrow="off", border=True, height="stretch", help=help_text)


# Backslash-escaped: emphasis (* _ ~), links and images ([ ] ( ) !), code (`), headings (#), HTML
# (< >), tables (|), LaTeX ($), entities (&), Streamlit's :colour[…] and :emoji: forms (:), @.
_MARKDOWN_SPECIALS = set("\\`*_[]()#!|<>~$:&@")
# GFM links bare http(s):// URLs, www. addresses and e-mail addresses in the text *after* escapes
# are resolved, so no backslash stops it: an invisible word joiner (U+2060) after the colon of
# http(s)://, before the dot of www. and before an @ breaks the pattern and changes nothing a
# reader sees.
_JOINER = "\u2060"
_SCHEME = re.compile(r"(?i)\b(https?):(?=//)")
_WWW = re.compile(r"(?i)\b(www)\.")
_LINE_START = re.compile(r"^([ \t]*)([-+=]|\d+(?=[.)]))", re.MULTILINE)  # a list or heading marker starting a line


def plain(text: object) -> str:
    """Text for an element that renders Markdown (st.success, st.caption, a widget's label …),
    escaped so that every character shows as typed: data (a name, a note, a file name) is never
    rendered as a link, an image, emphasis, a list or a heading."""
    joined = _WWW.sub(r"\1" + _JOINER + ".", _SCHEME.sub(r"\1:" + _JOINER, str(text))).replace("@", _JOINER + "@")
    escaped = "".join("\\" + ch if ch in _MARKDOWN_SPECIALS else ch for ch in joined)
    return _LINE_START.sub(lambda m: m.group(1) + (m.group(2) + "\\" if m.group(2)[0].isdigit() else "\\" + m.group(2)),
                           escaped)


def code(text: object) -> str:
    """Text as inline code (a path, a command): shown exactly as typed in a monospace font, so a
    reader sees it is to be typed or found as it is, not read as a sentence. The fence is one
    backtick longer than any run inside the text, as CommonMark requires."""
    value = str(text).replace("\n", " ")
    longest = max((len(run) for run in re.findall(r"`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def chart_label(text: object) -> str:
    """Text for a Plotly label (an axis category, a bar's text, a hover): Plotly renders a subset of
    HTML there (<b>, <i>, <a href>, <br>), so data is entity-escaped and shows as typed."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def flash(key: str, kind: str, message: str) -> None:
    """A message shown once on the next run of the page (after st.rerun): kind is success/info/warning/error."""
    st.session_state.setdefault(f"flash_{key}", []).append((kind, message))


def show_flash(key: str) -> None:
    """Show, as text (never Markdown), the messages flashed for this page since its last run."""
    for kind, message in st.session_state.pop(f"flash_{key}", []):
        getattr(st, kind)(plain(message))


def ensure_app_navigation() -> None:
    """Called first by every page file.

    With a pages/ folder, Streamlit runs a deep link that arrives before any session has run the
    entry script (e.g. /import just after the server started) in its old folder mode: the page
    alone, without this app's navigation, layout and user picker. Leaving that mode and rerunning
    makes Streamlit execute app.py, whose st.navigation opens the same page: page hashes come from
    url paths, and each page file is named as its url path. This is the one place that knows it.
    """
    from streamlit.runtime.pages_manager import PagesManager

    if st.session_state.get("app_navigation_ran"):
        return  # this page was opened through app.py's navigation
    PagesManager.uses_pages_directory = False
    st.rerun()


def money(value: float | None) -> str:
    """Money as the pages show it: ¥12,345.60 ("—" when there is none)."""
    return EMPTY_CELL if value is None else f"¥{float(value):,.2f}"


def money_short(value: float | None) -> str:
    """Fits a metric tile: ¥24.4万 rather than ¥243,781.50."""
    if value is None:
        return EMPTY_CELL
    value = float(value)
    return f"¥{value / 10000:,.1f}万" if abs(value) >= 10000 else f"¥{value:,.0f}"


def settings_form(form_key: str, key_prefix: str, specs: Any, current: Any, store: Any, save_label: str,
                  columns: int = 3) -> list[str] | None:
    """An area's settings as number inputs (crm.settings specs); on save, each changed value goes
    through `store(name, value)` (validated and audited there) and the changes come back as
    「label old → new」 lines; None when the form was not submitted. A refused value raises the
    store's UserError for the page to show."""
    with st.form(form_key, border=False):
        cols = st.columns(columns)
        values = {}
        for i, spec in enumerate(specs):
            number = float if spec.kind is float else int
            values[spec.name] = cols[i % columns].number_input(
                f"{spec.label}（{spec.unit}）", value=number(getattr(current, spec.name)),
                min_value=number(spec.minimum), max_value=number(spec.maximum), step=number(1),
                key=f"{key_prefix}{spec.name}", help=spec.help)
        if not st.form_submit_button(save_label, type="primary"):
            return None
    changed = []
    for spec in specs:
        if values[spec.name] != getattr(current, spec.name):
            old, new = store(spec.name, values[spec.name])
            changed.append(f"{spec.label} {old} → {new}")
    return changed
