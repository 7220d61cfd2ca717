"""客户档案 — the Streamlit entry point: page config, the archive connection, navigation, 档案概况.

Run with `make run` (or `streamlit run app.py`). The archive file is CRM_DB, else data/crm.duckdb.
Pages live in pages/ and are registered in PAGES below; their queries live in crm/, not here.
Pages get the archive, the acting user and the shared widgets from ui.common.
"""
from __future__ import annotations

from contextlib import closing
from pathlib import Path

import streamlit as st

from crm import clock, config, stats
from crm.db import ArchiveBusyError
from crm.vocabulary import BATCH_STATUS_LABELS
from ui.common import alarm_tile, get_archive, show_table

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
    with closing(get_archive().cursor()) as cur:
        users = [u for (u,) in cur.execute("SELECT username FROM users WHERE active ORDER BY role, username").fetchall()]
    default = config.default_user()
    options = list(dict.fromkeys([default, *users]))
    st.sidebar.selectbox("当前用户", options, key="app_user", help="登录功能上线前，用于切换演示身份（影响数据脱敏）")


def _template_label(code: object) -> object:
    try:
        from crm.imports.templates import TEMPLATES
    except Exception:  # the registry is optional for this page
        return code
    template = TEMPLATES.get(code) if isinstance(code, str) else None
    return f"{template.code} {template.title}" if template else code




def home() -> None:
    st.title("档案概况")
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
    links[1].page_link(FOLLOW_UPS, label="查看全部待跟进", icon=":material/checklist:")
    links[2].page_link(FOLLOW_UPS, label="处理逾期跟进", query_params={"bucket": "逾期"}, icon=":material/alarm:")
    links[3].page_link(FOLLOW_UPS, label="查看今日到期", query_params={"bucket": "今天"}, icon=":material/today:")
    links[4].page_link("pages/complaints.py", label="处理未结投诉", icon=":material/report:")
    links[5].page_link("pages/complaints.py", label="查看超期投诉", icon=":material/alarm:")

    st.subheader("最近导入")
    if batches.empty:
        st.caption("还没有导入记录。")
    else:
        shown = batches.assign(
            template=batches["template"].map(_template_label),
            status=batches["status"].map(lambda s: BATCH_STATUS_LABELS.get(s, s)),
        ).rename(columns=RECENT_BATCH_LABELS)
        show_table(
            shown,
            column_config={
                "批次": st.column_config.NumberColumn(format="%d"),
                "时间": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            },
        )


def build_navigation() -> list[st.Page]:
    pages = [st.Page(home, title="档案概况", icon=":material/dashboard:", url_path="home", default=True)]
    pages += [st.Page(ROOT / file, title=title, icon=icon, url_path=url_path) for file, title, icon, url_path in PAGES]
    return pages


def main() -> None:
    st.set_page_config(page_title="客户档案", page_icon=":material/folder_shared:", layout="wide")
    try:
        get_archive()
    except ArchiveBusyError as exc:
        st.error(str(exc))
        st.stop()
    nav = st.navigation(build_navigation())
    st.session_state["app_navigation_ran"] = True
    _user_picker()
    nav.run()


if __name__ == "__main__":
    main()
