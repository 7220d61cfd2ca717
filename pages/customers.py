"""客户查询 and the 客户360 profile.

Layout only: searching (crm.customers.search), the profile (crm.customers.profile) and every write (crm.customers.edits) live
in crm/ and read personal data through crm.auth.personal for the acting user. `/customers?id=C…`
opens a profile directly. Widget and session keys start with `cus_`.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from crm import clock
from crm.auth import policy
from crm.auth.personal import PersonalData
from crm.customers import merge
from crm.customers.edits import EDIT_FIELDS, EDITABLE, STALE_EDIT, EditError, add_interaction, update_customer
from crm.customers.profile import FIELD_LABELS, Profile, load_profile
from crm.customers.search import SearchFilters, filter_options, search_customers
from crm.errors import UserError
from crm.followups import pool
from crm.followups.actions import plan_follow_up
from crm.imports import templates as T
from crm.imports.templates import ENUMS
from crm.tables import TABLES
from ui.common import current_actor, ensure_app_navigation, filter_panel, get_archive, money, money_short, plain, show_table

ensure_app_navigation()
archive = get_archive()
actor = current_actor()
reader = PersonalData(archive, actor)
PAGE_SIZE = 50
ALL = "全部"


def _open(customer_id: str) -> None:
    st.query_params["id"] = customer_id


def _close() -> None:
    st.query_params.pop("id", None)
    st.session_state.pop("cus_results", None)




def _field_error(errors: dict[str, str], name: str) -> None:
    """The message beside the field it belongs to."""
    if name in errors:
        st.markdown(f":red[{plain(errors[name])}]")


# ------------------------------------------------------------------ search
def _filter_label(filters: list[tuple[str, str, list[str]]]) -> str:
    """What the list is narrowed to, for the filter panel's label (from the widgets' state: this run's)."""
    picked = [f"{label} {plain(st.session_state[f'cus_f_{key}'])}" for key, label, _ in filters
              if st.session_state.get(f"cus_f_{key}") not in (None, ALL)]
    return "筛选：" + ("、".join(picked) if picked else "全部客户")


def search_view() -> None:
    st.title("客户查询")
    options = filter_options(archive)
    text = st.text_input("搜索：姓名、拼音或首字母（zhangwei、zw）、电话任意几位、邮箱、公司、客户编号、标签", key="cus_q")
    filter_specs = [
        ("owner", "负责人", options["owners"]), ("stage", "需求阶段", options["stages"]),
        ("value", "客户价值", options["values"]), ("region", "地区", options["regions"]),
        ("industry", "行业", options["industries"]), ("tag", "标签", options["tags"]),
    ]
    chosen: dict[str, str | None] = {}
    with filter_panel(_filter_label(filter_specs), key="cus_filters"):
        cols = st.columns(6)
        for col, (key, label, values) in zip(cols, filter_specs):
            picked = col.selectbox(label, [ALL, *values], key=f"cus_f_{key}")
            chosen[key] = None if picked == ALL else picked
    filters = SearchFilters(**chosen)
    signature = (text, tuple(sorted((k, v or "") for k, v in chosen.items())))
    if st.session_state.get("cus_signature") != signature:  # a new search starts on its first page
        st.session_state["cus_signature"] = signature
        st.session_state["cus_page"] = 0
    page_no = st.session_state.get("cus_page", 0)
    try:
        result = search_customers(reader, text, filters, page=page_no, page_size=PAGE_SIZE)
    except ValueError as exc:
        st.error(plain(exc))
        return
    pages = max(1, -(-result.total // PAGE_SIZE))
    st.caption(f"共 {result.total:,} 位客户 · 第 {page_no + 1} / {pages} 页" + ("（个人信息已按权限脱敏）" if not actor.sees_all else ""))
    if not result.rows:
        st.info("没有找到符合条件的客户。可以换个关键词，或清除筛选条件。")
        return
    frame = pd.DataFrame([{
        "客户编号": r["customer_id"], "姓名": r["name"], "电话": r.get("phone"), "邮箱": r.get("email"),
        "公司": r.get("company"), "负责人": r.get("owner"), "地区": r.get("region"), "行业": r.get("industry"),
        "标签": "、".join(r.get("tags") or []),
    } for r in result.rows])
    event = show_table(frame, on_select="rerun", selection_mode="single-row", key="cus_table")
    rows = event.selection.rows if event and event.selection else []
    if rows:
        _open(frame.iloc[rows[0]]["客户编号"])
        st.rerun()
    prev, info, nxt = st.columns([1, 6, 1])
    if prev.button("上一页", key="cus_prev", disabled=page_no == 0):
        st.session_state["cus_page"] = page_no - 1
        st.rerun()
    info.caption("点击表格中的一行打开客户360档案。")
    if nxt.button("下一页", key="cus_next", disabled=page_no + 1 >= pages):
        st.session_state["cus_page"] = page_no + 1
        st.rerun()


# ------------------------------------------------------------------ profile


def _pairs(profile: Profile, section: dict[str, Any]) -> None:
    rows = [(label, "—" if value in (None, "") else str(value)) for label, value in profile.labelled(section)]
    # every row visible, no inner scroll box: a header and rows of 35 px each (Streamlit's row height)
    show_table(pd.DataFrame(rows, columns=["项目", "内容"]), height=38 + 35 * len(rows))


TABLE_NAMES = {name: t.label for name, t in TABLES.items()}


def _duplicates(profile: Profile) -> None:
    """可能重复: merge the other archive into this one, or keep them apart; earlier merges can be undone."""
    note = profile.customer.get("duplicate_note")
    cid = profile.customer_id
    if note:
        st.warning(plain(note), icon=":material/content_copy:")  # the note says 可能重复 and why
        if profile.editable:
            suggested = merge.other_customer_in(note) or ""
            with st.form("cus_merge", border=False):
                cols = st.columns([2, 3, 1, 1], vertical_alignment="bottom")
                other = cols[0].text_input("把这位客户合并进来（客户编号）", value=suggested, key="cus_merge_other",
                                           max_chars=64)
                why = cols[1].text_input("原因（可选）", key="cus_merge_reason", max_chars=200)
                go = cols[2].form_submit_button("合并", type="primary")
                apart = cols[3].form_submit_button("不是重复")
            if go or apart:
                try:
                    if go:
                        done = merge.merge_customers(archive, actor, cid, other.strip().upper(), why or None)
                        moved = "、".join(f"{n} 条{TABLE_NAMES.get(t, t)}" for t, n in done.moved.items()) or "无记录"
                        st.session_state["cus_flash"] = ("success", f"已把 {done.merged_id} 合并到 {cid}：移入 {moved}，"
                                                                    f"补全 {len(done.filled)} 个字段（可在下方撤销）。")
                    else:
                        merge.keep_apart(archive, actor, cid)
                        st.session_state["cus_flash"] = ("success", "已确认不是重复客户，提示已清除。")
                except UserError as exc:
                    st.session_state["cus_flash"] = ("error", exc.message)
                st.rerun()
    done_merges = [m for m in merge.merges_of(archive, cid) if m["undone_at"] is None]
    if done_merges and profile.editable:
        with st.expander(f"合并记录（{len(done_merges)} 次）"):
            for m in done_merges:
                cols = st.columns([4, 1], vertical_alignment="center")
                cols[0].caption(plain(f"{m['merged_at']:%Y-%m-%d %H:%M} {m['merged_by']} 合并了 {m['merged_id']}"
                                      + (f"：{m['reason']}" if m["reason"] else "")))
                if cols[1].button("撤销合并", key=f"cus_unmerge_{m['merge_id']}"):
                    try:
                        kept = merge.undo_merge(archive, actor, int(m["merge_id"]))
                        text = f"已撤销合并，{m['merged_id']} 已恢复。"
                        if kept:
                            text += f"（{len(kept)} 个补全的字段之后又被修改过，保留了较新的值）"
                        st.session_state["cus_flash"] = ("success", text)
                    except UserError as exc:
                        st.session_state["cus_flash"] = ("error", exc.message)
                    st.rerun()


def profile_view(customer_id: str) -> None:
    st.button("← 返回搜索", key="cus_back", on_click=_close)
    profile = load_profile(reader, customer_id)
    if profile is None:
        st.error(f"找不到客户 {plain(customer_id)}（可能已被删除，或编号有误）。")
        return
    c = profile.customer
    st.title(f"{plain(c.get('name') or '—')}  ·  {plain(customer_id)}")
    if profile.masked:
        st.caption("部分个人信息已按你的权限脱敏显示。")
    if profile.segments:
        st.markdown("  ".join(f":blue-badge[{plain(s.label)}]" for s in profile.segments))
    if profile.gaps:
        st.warning("资料缺失：" + "；".join(plain(f"{g.label}（{g.why}）") for g in profile.gaps)
                   + ("。已标记为 **待跟进**。" if profile.pending else ""), icon=":material/rule:")
    _duplicates(profile)
    m = st.columns(5)
    h = profile.habits
    m[0].metric("累计消费", money_short(h.lifetime_revenue), border=True, help=money(h.lifetime_revenue))
    m[1].metric("近12个月", money_short(h.revenue_12m), border=True, help=money(h.revenue_12m))
    m[2].metric("购买次数", h.purchases, border=True)
    if profile.last_contact:
        ago = (profile.as_of - profile.last_contact).days
        m[3].metric("最近联系", "今天" if ago == 0 else f"{ago} 天前", border=True, help=f"{profile.last_contact}")
    else:
        m[3].metric("最近联系", "从未", border=True)
    m[4].metric("待跟进", len(profile.open_follow_ups), border=True)

    # keyed: after a save the page reruns on the tab the user was on
    tabs = st.tabs(["基本信息", "需求与背景", "联系记录", "交易与购买习惯", "投诉处理", "满意度", "跟进计划", "分类与原因", "编辑"],
                   key="cus_tab")
    with tabs[0]:
        left, right = st.columns(2)
        with left:
            _pairs(profile, profile.basic)
        with right:
            _pairs(profile, profile.credit)
            _pairs(profile, profile.tracking)
            st.caption("标签：" + (plain("、".join(profile.tags)) if profile.tags else "无"))
    with tabs[1]:
        left, right = st.columns(2)
        with left:
            st.subheader("需求")
            _pairs(profile, profile.needs)
        with right:
            st.subheader("背景")
            _pairs(profile, profile.background)
    with tabs[2]:
        st.caption(f"共 {profile.interaction_count} 次联系，显示最近 {len(profile.interactions)} 次")
        for item in profile.interactions:
            with st.container(border=True):
                st.markdown(f"**{plain(item.date)} · {plain(item.channel)}**" + (f" · {plain(item.created_by)}" if item.created_by else ""))
                for label, value in (("内容", item.content), ("结果", item.result), ("下次计划", item.next_plan),
                                     ("关联产品", item.product)):
                    if value:
                        st.markdown(f"{label}：{plain(value)}")
        if not profile.interactions:
            st.info("还没有联系记录。可在「编辑」中记录一次联系。")
    with tabs[3]:
        cols = st.columns(4)
        cols[0].metric("购买频率", f"{h.per_month:.1f} 次/月" if h.per_month else "—")
        cols[1].metric("平均间隔", f"{h.avg_interval_days:.0f} 天" if h.avg_interval_days else "—")
        cols[2].metric("偏好渠道", h.preferred_channel or "—")
        cols[3].metric("平均评价", f"{h.avg_rating:.1f}" if h.avg_rating else "—")
        st.caption(f"首次购买 {h.first_purchase or '—'} · 最近购买 {h.last_purchase or '—'} · 交易类型："
                   + "、".join(f"{plain(k)} {n}" for k, n in h.kind_counts)
                   + ("；常购：" + "、".join(f"{plain(k)}（{n}）"
                                            for k, n in (h.top_products or h.top_notes)[:5])
                      if (h.top_products or h.top_notes) else ""))
        if profile.transactions:
            show_table(pd.DataFrame([{"日期": t.date, "类型": t.kind, "金额": t.amount, "评价": t.rating,
                                        "备注": t.note} for t in profile.transactions]),
                         column_config={"金额": st.column_config.NumberColumn(format="¥%.2f")})
            st.caption(f"共 {profile.transaction_count} 笔，显示最近 {len(profile.transactions)} 笔")
    with tabs[4]:
        s = profile.complaint_summary
        st.caption(f"共 {s.total} 起 · 处理中 {s.open} · 按期办结 {s.kept} · 超期办结 {s.breached} · "
                   f"已超期未结 {s.open_late} · 损失 {money(s.loss)}")
        if profile.complaints:
            show_table(pd.DataFrame([{
                "受理编号": x.complaint_id, "日期": x.date, "类型": x.kind, "事由": x.reason, "紧急程度": x.urgency,
                "状态": x.status, "时限": x.sla_label, "承诺期限": x.promised_by, "处理完成": x.resolved_on,
                "处理方式": x.resolution, "处理结果": x.outcome, "满意度": x.satisfaction,
            } for x in profile.complaints]))
    with tabs[5]:
        sat = profile.satisfaction
        st.caption(f"调查 {sat.survey_count} 次（最近 {sat.last_survey or '—'}）· 综合 "
                   f"{sat.overall:.1f} 分" if sat.overall else f"调查 {sat.survey_count} 次")
        dims = [(label, score) for label, score in sat.dimensions.items() if score is not None]
        if dims:
            st.bar_chart(pd.DataFrame(dims, columns=["维度", "平均分"]).set_index("维度"), horizontal=True)
        for day, comment in sat.comments:
            st.markdown(f"- {day}：{plain(comment)}")
    with tabs[6]:
        if profile.open_follow_ups:
            show_table(pd.DataFrame([{"计划日期": f.due, "逾期天数": f.overdue_days or None, "方式": f.channel,
                                        "内容": f.content, "目标": f.goal,
                                        "负责人": f.owner}
                                       for f in profile.open_follow_ups]))
        else:
            st.info("没有待办的跟进计划。")
        if profile.past_follow_ups:
            st.caption("过往跟进")
            show_table(pd.DataFrame([{"计划日期": f.due, "状态": f.status, "完成时间": f.done_at, "完成人": f.completed_by,
                                        "结果": f.outcome, "内容": f.content}
                                       for f in profile.past_follow_ups]))
        if policy.allowed(actor, "pages.follow-ups"):
            st.page_link("pages/follow-ups.py", label="到跟进队列处理", icon=":material/checklist:")
        status = pool.pool_status(archive, profile.customer_id)
        if status:
            st.warning(f"该客户在客户公海中（自 {status['since']:%Y-%m-%d} 起）：{plain(status['reason'])}", icon=":material/waves:")
        history = pool.pool_history(archive, profile.customer_id)
        if history:
            st.caption("公海记录")
            show_table(pd.DataFrame([{"时间": when, "操作": what, "说明": text} for when, _, what, text in history]))
    with tabs[7]:
        for s in profile.segments:
            st.markdown(f"**{plain(s.dimension)} · {plain(s.label)}** — {plain(s.reason)}")
        if not profile.segments:
            st.caption("暂无分类。")
    with tabs[8]:
        if not profile.editable:
            st.info("你没有修改该客户的权限（只能查看）。")
        else:
            _edit_forms(profile)


_NO_VALUE = ""  # the empty choice of a drop-down


def _widget_value(name: str, value: Any) -> Any:
    """A stored value as its form widget holds it (drop-downs "", dates date|None, money float|None)."""
    kind = EDIT_FIELDS[name].kind if name in EDIT_FIELDS else None
    if name == "tags":
        return list(value or ())
    if kind in (T.DATE,):
        return value if isinstance(value, dt.date) else None
    if kind == T.AMOUNT:
        return None if value is None else float(value)
    if kind in (T.ENUM, T.OPEN_ENUM):
        return _NO_VALUE if value in (None, "") else str(value)
    return "" if value is None else str(value)


def _raw(value: Any) -> Any:
    """What the form sends to crm.customers.edits (which cleans and validates it like an import)."""
    if isinstance(value, str):
        return value.strip() or None
    return value


def _field_widget(name: str, current: Any) -> Any:
    """The widget that fits the field: a drop-down from the vocabulary, a date picker, a number."""
    f = EDIT_FIELDS.get(name)
    label, key = FIELD_LABELS.get(name, name), f"cus_edit_{name}"
    if f is not None and f.kind in (T.ENUM, T.OPEN_ENUM) and f.enum:
        options = [_NO_VALUE, *T.ENUMS[f.enum]]
        if current not in (None, "") and str(current) not in options:
            options.append(str(current))
        return st.selectbox(label, options, key=key, format_func=lambda v: v or "（未填写）",
                            accept_new_options=f.kind == T.OPEN_ENUM, placeholder="请选择")
    if f is not None and f.kind == T.DATE:
        return st.date_input(label, key=key, min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31),
                             format="YYYY-MM-DD")
    if f is not None and f.kind == T.AMOUNT:
        return st.number_input(label, key=key, min_value=0.0, step=1000.0, format="%.2f", placeholder="未填写")
    return st.text_input(label, key=key)


def _edit_forms(profile: Profile) -> None:
    cid = profile.customer_id
    st.subheader("记录一次联系")
    errors: dict[str, str] = st.session_state.get("cus_int_errors", {})
    with st.form("cus_interaction", clear_on_submit=False):
        c1, c2 = st.columns(2)
        day = c1.date_input("联系日期", value=clock.today(), key="cus_int_date")
        _field_error(errors, "date")
        channel = c2.selectbox("方式", list(ENUMS["channel"]), key="cus_int_channel")
        _field_error(errors, "channel")
        content = st.text_area("沟通内容", key="cus_int_content")
        _field_error(errors, "content")
        result = st.text_input("结果", key="cus_int_result")
        open_items = {f"{f.due} {f.content or ''}（#{f.id}）": f.id for f in profile.open_follow_ups}
        close = st.selectbox("同时完成跟进", ["不关联", *open_items], key="cus_int_close")
        nxt = st.date_input("下次跟进日期（可选）", value=None, key="cus_int_next")
        _field_error(errors, "next_follow_up")
        if st.form_submit_button("保存联系记录", type="primary"):
            try:
                add_interaction(archive, actor, cid, day, channel, content, result=result or None,
                                close_follow_up_id=open_items.get(close), next_follow_up=nxt)
            except EditError as exc:
                st.session_state["cus_int_errors"] = exc.errors or {"content": exc.message}
                st.session_state["cus_flash"] = ("error", exc.message)
            else:
                st.session_state["cus_int_errors"] = {}
                st.session_state["cus_flash"] = ("success", "联系记录已保存。")
            st.rerun()

    st.subheader("计划跟进")
    perrors: dict[str, str] = st.session_state.get("cus_plan_errors", {})
    with st.form("cus_plan"):
        c1, c2, c3 = st.columns(3)
        due = c1.date_input("跟进时间", value=clock.today() + dt.timedelta(days=7), key="cus_plan_due")
        _field_error(perrors, "due")
        pchannel = c2.selectbox("跟进方式", list(ENUMS["channel"]), key="cus_plan_channel")
        goal = c3.selectbox("跟进目标", ["", *ENUMS["goal"]], key="cus_plan_goal")
        pcontent = st.text_input("跟进内容", key="cus_plan_content")
        if st.form_submit_button("添加跟进计划"):
            try:
                plan_follow_up(archive, actor, cid, due, channel=pchannel, content=pcontent or None, goal=goal or None)
            except EditError as exc:
                st.session_state["cus_plan_errors"] = exc.errors
                st.session_state["cus_flash"] = ("error", exc.message)
            else:
                st.session_state["cus_plan_errors"] = {}
                st.session_state["cus_flash"] = ("success", "跟进计划已添加。")
            st.rerun()

    st.subheader("修改资料")
    eerrors: dict[str, str] = st.session_state.get("cus_edit_errors", {})
    current = profile.customer
    fields = [f for f in EDITABLE if f != "tags"]
    if st.session_state.get("cus_edit_for") != cid:  # another customer: start from its values
        for key in [k for k in st.session_state if str(k).startswith("cus_edit_")]:
            del st.session_state[key]
        st.session_state["cus_edit_for"] = cid
    # What the form was loaded with: a save sends it as `expected`, so a change made meanwhile by
    # someone else is refused (with both values) instead of silently overwritten.
    loaded: dict[str, Any] = st.session_state.setdefault(
        "cus_edit_loaded", {**{n: current.get(n) for n in fields}, "tags": tuple(profile.tags)})

    tag_choices = sorted(set(filter_options(archive)["tags"]) | set(profile.tags))
    for name in [*fields, "tags"]:
        st.session_state.setdefault(f"cus_edit_{name}", _widget_value(name, loaded.get(name)))
    with st.form("cus_edit"):
        values: dict[str, Any] = {}
        cols = st.columns(3)
        for k, name in enumerate(fields):
            with cols[k % 3]:
                values[name] = _field_widget(name, loaded.get(name))
                _field_error(eerrors, name)
        values["tags"] = st.multiselect("标签", tag_choices, key="cus_edit_tags", accept_new_options=True,
                                        placeholder="选择或输入新标签")
        _field_error(eerrors, "tags")
        if st.form_submit_button("保存修改", type="primary"):
            changed = {n: _raw(v) for n, v in values.items() if v != _widget_value(n, loaded.get(n))}
            if not changed:
                st.session_state["cus_flash"] = ("info", "没有需要保存的修改。")
            else:
                expected = {n: (set(loaded["tags"]) if n == "tags" else loaded.get(n)) for n in changed}
                try:
                    done = update_customer(archive, actor, cid, changed, expected=expected)
                except EditError as exc:
                    st.session_state["cus_edit_errors"] = exc.errors
                    st.session_state["cus_flash"] = ("error", exc.message)
                    if exc.message == STALE_EDIT.format(n=len(exc.errors)):  # seen now: the next save is deliberate
                        st.session_state["cus_edit_loaded"] = {**{n: current.get(n) for n in fields},
                                                               "tags": tuple(profile.tags)}
                else:
                    st.session_state["cus_edit_errors"] = {}
                    for key in [k for k in st.session_state if str(k).startswith("cus_edit_")]:
                        del st.session_state[key]
                    st.session_state["cus_flash"] = (
                        "success", "已保存：" + "；".join(f"{c.label} {c.old or '空'} → {c.new or '空'}" for c in done))
            st.rerun()


# ------------------------------------------------------------------ page
flash = st.session_state.pop("cus_flash", None)
if flash:
    getattr(st, flash[0])(plain(flash[1]))
selected = st.query_params.get("id")
if selected:
    profile_view(selected)
else:
    search_view()
