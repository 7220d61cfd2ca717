"""客户档案 — the Streamlit entry point: page config, the archive connection, navigation, 档案概况.

Run with `make run` (or `streamlit run app.py`). The archive file is CRM_DB, else data/crm.duckdb.
Pages live in pages/ and are registered in PAGES below; their queries live in crm/, not here.
Pages get the archive, the acting user and the shared widgets from ui.common.
"""
from __future__ import annotations

import threading
from contextlib import closing
from pathlib import Path

import streamlit as st

from crm import clock, clustering, config, inbox, stats
from crm.auth import accounts, policy
from crm.auth.personal import Actor
from crm.db import ArchiveBusyError, keep_cache_within
from crm.errors import UserError
from crm.vocabulary import BATCH_STATUS_LABELS, user_label
from ui import heap
from ui.common import alarm_tile, current_actor, current_session, get_archive, page_style, plain, show_table

ROOT = Path(__file__).resolve().parent
FOLLOW_UPS = "pages/follow-ups.py"

# The built pages in pages/, in menu order: (file, title, icon, url_path); the file name is the
# url path. A page joins the menu with its line here, in the change that builds it.
PAGES: list[tuple[str, str, str, str]] = [
    ("pages/import.py", "数据导入", ":material/upload_file:", "import"),
    ("pages/customers.py", "客户查询", ":material/person_search:", "customers"),
    ("pages/follow-ups.py", "跟进队列", ":material/checklist:", "follow-ups"),
    ("pages/complaints.py", "投诉分析", ":material/report:", "complaints"),
    ("pages/segments.py", "客户分类", ":material/donut_small:", "segments"),
    ("pages/admin.py", "系统管理", ":material/admin_panel_settings:", "admin"),
]


RECENT_BATCH_LABELS = {
    "batch_id": "批次",
    "file": "文件",
    "sheet": "工作表",
    "template": "模板",
    "user_name": "导入人",
    "started_at": "时间",
    "rows_read": "读取行数",
    "created": "新建",
    "updated": "更新",
    "rejected": "拒绝",
    "status": "状态",
}


def _user_picker() -> None:
    """Set-up mode only (no account with a password yet): pick who is acting."""
    with closing(get_archive().cursor()) as cur:
        users = [u for (u,) in cur.execute("SELECT username FROM users WHERE active ORDER BY role, username").fetchall()]
    default = config.default_user()
    options = list(dict.fromkeys([default, *users]))
    st.sidebar.selectbox("当前用户", options, key="app_user", help="尚未设置登录账号时，用于切换身份（影响数据脱敏）")
    st.sidebar.caption("⚠️ 尚未设置登录账号：任何人都可以使用本系统。请运行 `python -m crm user add 用户名 --role 管理员` "
                       "创建管理员。")


def _signed_in_box(session: accounts.Session) -> None:
    st.sidebar.caption(f"当前用户：{plain(session.username)}（{session.role}）")
    if st.sidebar.button("退出登录", key="auth_logout", icon=":material/logout:"):
        accounts.log_out(get_archive(), session.token)
        st.session_state.pop("auth_token", None)
        if st.session_state.pop("auth_sso", False):
            st.logout()  # the provider's identity cookie goes too (the session it opened is over anyway)
        st.rerun()


# ------------------------------------------------------------------ single sign-on (optional)
def sso_providers() -> list[str | None]:
    """The OpenID Connect providers of the `[auth]` section of .streamlit/secrets.toml: [None] for
    the one given in [auth] itself, the names of its provider sub-sections ([auth.microsoft] →
    "microsoft") otherwise; empty when single sign-on is not configured (no secrets file, or no
    [auth] section), so the log-in page offers passwords only."""
    try:
        section = st.secrets.get("auth")
    except Exception:  # noqa: BLE001 - no secrets file at all (Streamlit raises its own error types)
        return []
    if not section:
        return []
    named = [str(k) for k, v in section.items() if hasattr(v, "keys") and "client_id" in v]
    return named if named and "client_id" not in section else [None]


def _sso_session() -> accounts.Session | None:
    """The session of the identity st.login signed in (single sign-on configured and the browser
    signed in at the provider): its e-mail maps to the local account registered with it. A refusal
    (an unknown address, a disabled account, a sign-in whose session has ended) is kept for the
    log-in page to show, once per sign-in, so reruns do not fill the audit log."""
    if not sso_providers():
        return None
    claims = st.user.to_dict()
    if not claims.get("is_logged_in"):
        return None
    identity = accounts.sso_identity(claims)
    key = identity or str(claims.get("email"))
    refused = st.session_state.get("auth_sso_refused")
    if refused and refused[0] == key:
        return None
    try:
        session = accounts.sso_log_in(get_archive(), claims.get("email"), identity,
                                      verified=claims.get("email_verified") is not False)
    except UserError as exc:
        st.session_state["auth_sso_refused"] = (key, exc.message)
        return None
    st.session_state["auth_token"] = session.token
    st.session_state["auth_sso"] = True
    st.session_state.pop("auth_sso_refused", None)
    return session


def _sso_buttons() -> None:
    """What the log-in page offers besides the password form when single sign-on is configured."""
    from streamlit.auth_util import is_authlib_installed

    providers = sso_providers()
    if not providers:
        return
    refused = st.session_state.get("auth_sso_refused")
    if refused:
        (st.info if refused[1] == accounts.SSO_ENDED else st.error)(plain(refused[1]))
    st.caption("或使用单位的统一身份登录（单点登录）：")
    if not is_authlib_installed():
        st.warning("已配置单点登录，但服务器缺少 Authlib：请运行 pip install -r requirements.txt 后重启。")
        return
    cols = st.columns(len(providers) + (1 if refused else 0))
    for col, provider in zip(cols, providers):
        col.button("单点登录" if provider is None else f"使用 {provider} 登录", key=f"auth_sso_{provider or 'default'}",
                   icon=":material/badge:", on_click=st.login, args=[provider] if provider else [])
    if refused:
        cols[-1].button("退出单点登录", key="auth_sso_logout", on_click=st.logout,
                        help="退出身份提供方的登录，以便换一个账号")


def login_page() -> None:
    """The only page a visitor sees: every url shows it, and after log-in the same url opens."""
    st.title("登录客户档案")
    _unknown_url_note(before_log_in=True)
    archive = get_archive()
    with st.form("auth_login"):
        name = st.text_input("用户名", key="auth_username", max_chars=accounts.MAX_INPUT)
        password = st.text_input("密码", type="password", key="auth_password", max_chars=accounts.MAX_INPUT)
        go = st.form_submit_button("登录", type="primary")
    if go:
        try:
            session = accounts.log_in(archive, name, password)
        except UserError as exc:
            st.error(plain(exc.message))
        else:
            st.session_state["auth_token"] = session.token
            st.rerun()
    _sso_buttons()
    if accounts.is_demo(archive):
        st.info("这是演示档案。演示账号：admin（管理员）、周涛（经理）、孙丽（主管）、王磊（销售）、访客（只读），"
                "密码见 README「演示账号」。", icon=":material/info:")


def _template_label(code: object) -> object:
    """A batch's template as the import page names it (T1 客户档案, 演示数据 for the demo seed)."""
    try:
        from crm.imports.preview import template_label
    except Exception:  # the registry is optional for this page
        return code
    return template_label(code) if isinstance(code, str) else code


UNKNOWN_URL_KEY = "app_unknown_url"


def unknown_url_path(known: set[str]) -> str | None:
    """The url path the browser asked for when no page of this navigation has it (a mistyped or
    old link, a page this account may not use), or None.

    Streamlit 1.67's st.navigation answers such a path with its own English dialog ("Page not
    found … Running the app's main page") before running the default page. Clearing the run's
    intended page first makes st.navigation open the default page quietly, and the path is kept
    for the Chinese note `_unknown_url_note` shows there. A run that names its page by hash (a
    click, st.switch_page, AppTest) has nothing to do here."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    manager = getattr(ctx, "pages_manager", None)
    if manager is None or manager.intended_page_script_hash:
        return None
    name = manager.intended_page_name
    if not name or name.strip("/") in known:
        return None
    manager.set_script_intent("", "")
    return name


def _unknown_url_note(before_log_in: bool = False) -> None:
    """The note for an unknown url, on the page that opened instead: the home page, or first the
    log-in page (which keeps it, so the home page after log-in says it again)."""
    path = st.session_state.get(UNKNOWN_URL_KEY) if before_log_in else st.session_state.pop(UNKNOWN_URL_KEY, None)
    if not path:
        return
    shown = plain("/" + path.strip("/"))
    if before_log_in:
        st.info(f"网址「{shown}」没有对应的页面，登录后将打开首页「档案概况」。", icon=":material/link_off:")
    else:
        st.info(f"网址「{shown}」没有对应的页面（或当前账号无权使用该页面），已为你打开首页。", icon=":material/link_off:")


def home() -> None:
    st.title("档案概况")
    _unknown_url_note()
    today = clock.today()
    with closing(get_archive().cursor()) as cur:
        vital = stats.vital_signs(cur, today)
        batches = stats.recent_batches(cur, limit=5)

    if vital["customers"] == 0:
        st.info(
            "档案中还没有客户。请到「数据导入」页面上传 Excel 表格，"
            "或在命令行运行 `python -m crm seed` 生成演示数据。",
            icon=":material/info:",
        )

    overdue = vital["follow_ups_overdue"]
    late = vital["complaints_late"]
    tiles = st.columns(6)
    tiles[0].metric("客户总数", vital["customers"], border=True, height="stretch")
    tiles[1].metric("待跟进", vital["follow_ups_open"], border=True, height="stretch", help="状态为「待跟进」的跟进计划")
    alarm_tile(tiles[2], "已逾期", overdue, "需尽快处理", "无逾期", "待跟进且计划日期早于今天")
    tiles[3].metric("今日到期", vital["follow_ups_due_today"], border=True, height="stretch", help=f"计划日期为今天（{today:%Y-%m-%d}）")
    tiles[4].metric("未结投诉", vital["complaints_open"], border=True, height="stretch", help="已受理且尚未解决的投诉")
    alarm_tile(tiles[5], "超期投诉", late, "超过承诺期限", "均在期限内", "未结且已超过承诺解决日期")
    links = st.columns(6)
    actor = current_actor()
    if policy.allowed(actor, "pages.follow-ups"):  # a tile leads to the list it counts, for those who have it
        links[1].page_link(FOLLOW_UPS, label="查看全部待跟进", icon=":material/checklist:")
        links[2].page_link(FOLLOW_UPS, label="处理逾期跟进", query_params={"bucket": "逾期"}, icon=":material/alarm:")
        links[3].page_link(FOLLOW_UPS, label="查看今日到期", query_params={"bucket": "今天"}, icon=":material/today:")
    if policy.allowed(actor, "pages.complaints"):
        links[4].page_link("pages/complaints.py", label="处理未结投诉", icon=":material/report:")
        links[5].page_link("pages/complaints.py", label="查看超期投诉", icon=":material/alarm:")

    st.subheader("最近导入")
    if batches.empty:
        st.caption("还没有导入记录。")
    else:
        shown = batches.assign(
            template=batches["template"].map(_template_label),
            status=batches["status"].map(lambda s: BATCH_STATUS_LABELS.get(s, s)),
            user_name=batches["user_name"].map(user_label),
        ).rename(columns=RECENT_BATCH_LABELS)
        show_table(
            shown,
            column_config={
                "批次": st.column_config.NumberColumn(format="%d"),
                "时间": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            },
        )


def build_navigation(actor: Actor | None) -> list[st.Page]:
    """The pages this actor may use (policy "pages.<url>"); a visitor (None) gets the log-in page
    under every url, so a deep link opens it and, after log-in, the page it asked for."""
    if actor is None:
        pages = [st.Page(login_page, title="登录", icon=":material/login:", url_path="home", default=True)]
        pages += [st.Page(login_page, title=f"登录（{title}）", url_path=url_path) for _, title, _, url_path in PAGES]
        return pages
    pages = [st.Page(home, title="档案概况", icon=":material/dashboard:", url_path="home", default=True)]
    pages += [st.Page(ROOT / file, title=title, icon=icon, url_path=url_path)
              for file, title, icon, url_path in allowed_pages(actor)]
    return pages


def allowed_pages(actor: Actor) -> list[tuple[str, str, str, str]]:
    """The entries of PAGES the actor's role may use (policy "pages.<url path>")."""
    return [entry for entry in PAGES if policy.allowed(actor, f"pages.{entry[3]}")]


@st.cache_resource(show_spinner=False)
def _inbox_watcher(db_path: str) -> inbox.Watcher | None:
    """The hot folder's watcher (crm.inbox): one thread per process and archive, started by the
    first page view and working on the one connection every session shares; it never raises."""
    return inbox.start_watcher(get_archive())


@st.cache_resource(show_spinner=False)
def _record_keeper(db_path: str) -> clustering.Keeper | None:
    """The thread that keeps each customer's records together in the file in the quiet hours
    (crm.clustering): one per process and archive, started by the first page view."""
    return clustering.start_keeper(get_archive())


@st.cache_resource(show_spinner=False)
def _settled_heap() -> threading.Thread | None:
    """Once per process: glibc's arenas capped, and in a daemon thread (the first visitor does not
    wait) the pages' modules imported and set aside from the collection Streamlit runs after every
    script run (ui.heap)."""
    heap.cap_malloc_arenas(config.malloc_arenas())
    if not config.freeze_heap():
        return None
    thread = threading.Thread(target=heap.settle, args=(ROOT / "pages",), name="settle-heap", daemon=True)
    thread.start()
    return thread


def _navigation(pages: list[st.Page], hidden: bool = False) -> st.Page:
    """st.navigation over `pages` (the menu in the sidebar, or hidden), an unknown url path landing
    on the default page with a Chinese note rather than Streamlit's English dialog."""
    unknown = unknown_url_path({p.url_path for p in pages} | {""})
    if unknown:
        st.session_state[UNKNOWN_URL_KEY] = unknown
    return st.navigation(pages, position="hidden" if hidden else "sidebar")


def main() -> None:
    st.set_page_config(page_title="客户档案", page_icon=":material/folder_shared:", layout="wide")
    try:
        get_archive()
    except ArchiveBusyError as exc:
        st.error(plain(exc))
        st.stop()
    archive = get_archive()
    _inbox_watcher(str(archive.path))
    _record_keeper(str(archive.path))
    _settled_heap()
    if accounts.login_required(archive):
        session = current_session()
        if session is None:
            st.session_state.pop("auth_token", None)
            session = _sso_session()
        nav = _navigation(build_navigation(session.actor if session else None), hidden=session is None)
        if session is not None:
            _signed_in_box(session)
    else:
        nav = _navigation(build_navigation(current_actor()))
        _user_picker()
    st.session_state["app_navigation_ran"] = True
    page_style()
    with archive.page_running():
        try:
            nav.run()
        finally:  # also after st.rerun / st.stop, which leave the page as exceptions
            keep_cache_within(archive)  # every profile read its own blocks: keep what stays cached bounded


if __name__ == "__main__":
    main()
