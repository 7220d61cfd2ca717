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
