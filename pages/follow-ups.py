"""跟进队列: staff work their follow-ups; team leads see what is overdue, whose, and who is neglected.

Queries and writes live in crm.followups; this file lays them out. `?bucket=逾期` (the home page's
tiles) opens the queue on that bucket; `?owner=…` on an owner's queue (leads and up).
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from crm import clock
from crm.auth import policy
from crm.auth.personal import PersonalData
from crm.errors import UserError
from crm.followups import actions, neglect, pool, reports, rules
from crm.followups.queue import ALL, UNASSIGNED, queue, queue_owners
from crm.imports.templates import ENUMS
from crm.settings import FOLLOW_UP_SPECS, follow_up_settings, set_follow_up_setting, settings_rows
from crm.vocabulary import FOLLOW_UP_ORIGINS
from crm.xlsx import XLSX_MIME
from ui.common import current_actor, ensure_app_navigation, flash, get_archive, plain, settings_form, show_flash, show_table
from ui.followup_charts import on_time_trend

ensure_app_navigation()

PAGE_SIZE = 50
EVERYONE = "全部负责人"

archive = get_archive()
actor = current_actor()
reader = PersonalData(archive, actor)
today = clock.today()
lead = policy.allowed(actor, "follow_ups.see_all")
settings = follow_up_settings(archive)

st.title("跟进队列")
if settings.pool_release_days > 0 and not st.session_state.get("fu_pool_checked"):
    released = pool.release_due(archive, today)  # the setting's rule, applied when the queue is opened
    st.session_state["fu_pool_checked"] = True
    if released:
        flash("fu", "info", f"已有 {released} 位客户因超过 {settings.pool_release_days} 天未联系释放到客户公海。")
show_flash("fu")

# ------------------------------------------------------------------ whose queue, which bucket
query = st.query_params
if "fu_bucket" not in st.session_state:
    st.session_state["fu_bucket"] = query.get("bucket") if query.get("bucket") in rules.BUCKETS else "全部"
owner: str | None = actor.username
if lead:
    owners = queue_owners(reader)
    choices = [EVERYONE, *owners, UNASSIGNED]
    if "fu_owner" not in st.session_state:
        wanted = query.get("owner")
        st.session_state["fu_owner"] = wanted if wanted in choices else EVERYONE
    picked = st.selectbox("负责人", choices, key="fu_owner", help="主管、经理和管理员可以查看任何人的队列")
    owner = ALL if picked == EVERYONE else picked
else:
    st.caption(f"{plain(actor.username)} 的跟进队列（自己负责的跟进任务）")

# Views, not tabs: only the chosen one is computed (st.tabs would run every tab's queries each time).
VIEWS = ["待办队列", "久未联系", "客户公海"] + (["主管视图"] if lead else [])
if st.session_state.get("fu_view") not in VIEWS:
    st.session_state["fu_view"] = VIEWS[0]
view = st.segmented_control("视图", VIEWS, key="fu_view", required=True, label_visibility="collapsed")


def _open_queue_of() -> None:
    """A lead's click on an owner: their queue, all buckets (runs before the widgets are drawn)."""
    name = st.session_state["fu_lead_pick"]
    st.session_state["fu_owner"] = name
    st.session_state["fu_bucket"] = "全部"
    st.session_state["fu_view"] = "待办队列"
    flash("fu", "info", f"已切换到 {name} 的队列。")


def _settings_panel() -> None:
    """The queue's rules and their settings; an admin edits them here (validated, audited)."""
    with st.expander("跟进规则与设置", icon=":material/tune:"):
        show_table(pd.DataFrame([{"设置": r["label"], "当前值": r["value"], "默认值": r["default"], "单位": r["unit"],
                                  "含义": r["help"]} for r in settings_rows(archive, "followups")]))
        if not policy.allowed(actor, "settings.change"):
            st.caption("只有管理员可以修改这些设置。")
            return
        try:
            changed = settings_form("fu_settings_form", "fu_set_", FOLLOW_UP_SPECS, settings,
                                    lambda name, value: set_follow_up_setting(archive, actor, name, value), "保存设置")
        except UserError as exc:
            flash("fu", "error", exc.message)
            st.rerun()
        if changed is not None:
            flash("fu", "success", "已保存：" + "；".join(changed) if changed else "设置没有变化")
            st.session_state.pop("fu_pool_checked", None)  # a new release period applies at once
            st.rerun()


def _label(row: object) -> str:
    r = row  # QueueRow
    return f"{r.name or r.customer_id} · {r.due:%m-%d} · {r.content or r.channel or '跟进'}"  # type: ignore[attr-defined]


# ------------------------------------------------------------------ the queue
if view == "待办队列":
    chosen_bucket = st.session_state.get("fu_bucket", "全部")
    bucket = None if chosen_bucket == "全部" else chosen_bucket
    page_no = int(st.session_state.get("fu_page", 1))
    page = queue(reader, owner=owner, bucket=bucket, today=today, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
    if not page.rows and page_no > 1:  # the page emptied (rows done or moved): back to the first
        page_no, page = 1, queue(reader, owner=owner, bucket=bucket, today=today, limit=PAGE_SIZE)
    counts = page.counts
    tiles = st.columns(4)
    for tile, name in zip(tiles, rules.BUCKETS):
        tile.metric(name, counts[name], border=True)
    st.segmented_control("分组", ["全部", *rules.BUCKETS], key="fu_bucket", required=True,
                         format_func=lambda b: f"{b}（{sum(counts.values()) if b == '全部' else counts[b]}）")
    total = page.total
    pages = max(1, -(-total // PAGE_SIZE))
    if pages > 1:
        st.number_input("页码", min_value=1, max_value=pages, value=min(page_no, pages), step=1, key="fu_page")
    if page.run_as_of is None:
        st.caption("「高价值」标记来自客户分类；尚未计算分类时不显示。")
    elif page.run_as_of != today:
        st.caption(f"「高价值」标记来自 {page.run_as_of} 的客户分类。")
    if not page.rows:
        st.info("这里没有待跟进的任务。" if total == 0 else "本页没有任务。")
    else:
        frame = pd.DataFrame([{
            "标记": r.flags, "客户": r.name, "电话": r.phone, "计划日期": r.due, "分组": r.bucket,
            "逾期天数": r.days_overdue or None, "跟进方式": r.channel, "跟进内容": r.content, "负责人": r.owner,
            "来源": FOLLOW_UP_ORIGINS.get(r.origin or "", r.origin), "客户档案": f"/customers?id={r.customer_id}",
        } for r in page.rows])
        show_table(frame, column_config={
            "计划日期": st.column_config.DateColumn(format="YYYY-MM-DD"),
            "客户档案": st.column_config.LinkColumn(display_text="打开"),
        })
        st.caption(f"共 {total} 项，第 {page_no}/{pages} 页；高价值和紧急优先，其次按逾期天数。")

        by_id = {r.id: r for r in page.rows}
        st.subheader("处理一项")
        chosen = st.selectbox("选择跟进任务", list(by_id), format_func=lambda i: _label(by_id[i]), key="fu_pick")
        row = by_id[chosen]
        st.page_link("pages/customers.py", label=f"打开 {row.name or row.customer_id} 的客户档案",
                     query_params={"id": row.customer_id}, icon=":material/person:")
        proposal = actions.proposed_next(archive, row.id, today) or {}
        done_tab, move_tab = st.tabs(["完成", "改期"])
        with done_tab, st.form(f"fu_done_{row.id}"):
            c1, c2 = st.columns(2)
            channels = list(ENUMS["channel"])
            how = c1.selectbox("联系方式", channels, index=channels.index(row.channel) if row.channel in channels else 0,
                               key="fu_done_channel")
            day = c2.date_input("联系日期", value=today, max_value=today, key="fu_done_date")
            content = st.text_area("沟通内容", key="fu_done_content")
            result = st.text_input("结果", key="fu_done_result")
            urgent = st.checkbox("标记为紧急（高价值客户将在时限内自动安排跟进）", key="fu_done_urgent")
            c3, c4 = st.columns(2)
            next_day = c3.date_input("下次跟进日期", value=proposal.get("due", today + dt.timedelta(days=7)),
                                     min_value=today, key="fu_done_next")
            next_text = c4.text_input("下次跟进内容", value=proposal.get("content") or "", key="fu_done_next_content")
            b1, b2 = st.columns(2)
            finish = b1.form_submit_button("完成", type="primary")
            finish_next = b2.form_submit_button("完成并安排下次")
        if finish or finish_next:
            try:
                done = actions.complete_follow_up(
                    archive, actor, row.id, channel=how, content=content or None, result=result or None, date=day,
                    urgent=urgent, next_due=next_day if finish_next else None,
                    next_content=(next_text or None) if finish_next else None, expected_version=row.version)
            except UserError as exc:
                flash("fu", "error", exc.message)
            else:
                text = "已完成，并记录了这次联系。"
                if done.next_follow_up_id is not None:
                    text += f"下次跟进已安排在 {next_day:%Y-%m-%d}。"
                flash("fu", "success", text)
            st.rerun()
        with move_tab, st.form(f"fu_move_{row.id}"):
            new_day = st.date_input("改到", value=max(row.due, today) + dt.timedelta(days=1), min_value=today,
                                    key="fu_move_date")
            reason = st.text_input("改期原因", key="fu_move_reason")
            moved = st.form_submit_button("改期")
        if moved:
            try:
                actions.reschedule_follow_up(archive, actor, row.id, new_day, reason or None, expected_version=row.version)
            except UserError as exc:
                flash("fu", "error", exc.message)
            else:
                flash("fu", "success", f"已改到 {new_day:%Y-%m-%d}。")
            st.rerun()

        st.subheader("批量处理")
        many = st.multiselect("选择多项", list(by_id), format_func=lambda i: _label(by_id[i]), key="fu_many",
                              placeholder="选择本页的跟进任务")
        versions = {i: by_id[i].version for i in many}
        with st.form("fu_bulk_move"):
            c1, c2 = st.columns(2)
            bulk_day = c1.date_input("统一改到", value=today + dt.timedelta(days=1), min_value=today, key="fu_bulk_date")
            bulk_reason = c2.text_input("改期原因", key="fu_bulk_reason")
            bulk_move = st.form_submit_button("批量改期", disabled=not many)
        if bulk_move and many:
            try:
                n = actions.reschedule_many(archive, actor, many, bulk_day, bulk_reason or None, expected_versions=versions)
            except UserError as exc:
                flash("fu", "error", exc.message)
            else:
                flash("fu", "success", f"已将 {n} 项改到 {bulk_day:%Y-%m-%d}。")
            st.rerun()
        if policy.allowed(actor, "follow_ups.reassign"):
            with st.form("fu_bulk_assign"):
                c1, c2 = st.columns(2)
                target = c1.selectbox("转派给", queue_owners(reader), key="fu_assign_to", placeholder="请选择")
                assign_reason = c2.text_input("转派原因", key="fu_assign_reason")
                assign = st.form_submit_button("转派", disabled=not many)
            if assign and many:
                try:
                    n = actions.reassign_many(archive, actor, many, target, assign_reason or None, expected_versions=versions)
                except UserError as exc:
                    flash("fu", "error", exc.message)
                else:
                    flash("fu", "success", f"已将 {n} 项转派给 {target}。")
                st.rerun()
        else:
            st.caption("转派跟进任务需要主管、经理或管理员权限。")

# ------------------------------------------------------------------ neglect
elif view == "久未联系":
    st.caption(f"没有待跟进任务、但需要联系的客户：高价值客户 {settings.neglect_days_high_value} 天、其他客户 "
               f"{settings.neglect_days_other} 天未联系，资料缺少关键信息，或已沉睡。按记录的联系判断，不看资料修改。")
    found, reason_counts = neglect.neglected(reader, owner=owner, today=today, limit=PAGE_SIZE)
    cols = st.columns(3)
    for col, (code, label) in zip(cols, neglect.REASONS.items()):
        col.metric(label, reason_counts[code], border=True)
    if not found:
        st.info("没有需要联系却无人跟进的客户。")
    else:
        show_table(pd.DataFrame([{
            "原因": neglect.REASONS[n.reason], "说明": n.detail, "客户": n.name, "电话": n.phone, "负责人": n.owner,
            "最近联系": n.last_contact, "客户档案": f"/customers?id={n.customer_id}"} for n in found]),
            column_config={"客户档案": st.column_config.LinkColumn(display_text="打开")})
        by_cid = {n.customer_id: n for n in found}
        with st.form("fu_neglect_plan"):
            c1, c2 = st.columns(2)
            who = c1.selectbox("为客户安排跟进", list(by_cid), key="fu_neglect_pick",
                               format_func=lambda c: f"{by_cid[c].name or c} · {neglect.REASONS[by_cid[c].reason]}")
            when = c2.date_input("跟进时间", value=today + dt.timedelta(days=1), min_value=today, key="fu_neglect_due")
            plan = st.form_submit_button("安排跟进")
        if plan:
            item = by_cid[who]
            try:
                actions.plan_follow_up(archive, actor, who, when, content=item.detail, origin=item.reason)
            except UserError as exc:
                flash("fu", "error", exc.message)
            else:
                flash("fu", "success", f"已为 {item.name or who} 安排 {when:%Y-%m-%d} 的跟进。")
            st.rerun()

# ------------------------------------------------------------------ the public pool
elif view == "客户公海":
    if settings.pool_release_days <= 0:
        st.caption("客户公海未启用：管理员设置「公海释放期限」后，负责人超过期限未联系的客户会释放到这里。")
    else:
        st.caption(f"负责人超过 {settings.pool_release_days} 天未联系的客户在这里，每人每天最多领取 "
                   f"{settings.pool_claim_limit} 位。")
    waiting, waiting_total = pool.pool_customers(reader, limit=PAGE_SIZE)
    if not waiting:
        st.info("公海中没有客户。")
    else:
        show_table(pd.DataFrame([{"客户编号": p.customer_id, "客户": p.name, "原负责人": p.previous_owner,
                                  "释放时间": p.since, "原因": p.reason} for p in waiting]),
                   column_config={"释放时间": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
        st.caption(f"共 {waiting_total} 位。")
        if policy.allowed(actor, "pool.claim"):
            with st.form("fu_claim"):
                take = st.selectbox("领取客户", [p.customer_id for p in waiting], key="fu_claim_pick",
                                    format_func=lambda c: next(f"{p.name or c}（{c}）" for p in waiting if p.customer_id == c))
                claim = st.form_submit_button("领取", type="primary")
            if claim:
                try:
                    pool.claim(archive, actor, take)
                except UserError as exc:
                    flash("fu", "error", exc.message)
                else:
                    flash("fu", "success", f"已领取 {take}，你现在是它的负责人。")
                st.rerun()

# ------------------------------------------------------------------ the team lead's view
elif view == "主管视图":
    cur = archive.cursor()
    try:
        table = reports.owner_table(cur, today)
        trend = reports.weekly_on_time(cur, today, owner=owner if owner is not ALL else None)
    finally:
        cur.close()
    if table.empty:
        st.info("还没有跟进任务。")
    else:
        show_table(table, column_config={
            "按期完成率": st.column_config.NumberColumn(format="percent"),
            "最久逾期（天）": st.column_config.NumberColumn(format="%d"),
        })
        st.caption(f"按期完成率：近 {reports.ON_TIME_WINDOW_DAYS} 天内到期（不含已取消）的跟进中，在计划日期当天或之前完成的比例。")
        c1, c2 = st.columns([3, 1])
        c1.selectbox("打开负责人的队列", list(table["负责人"]), key="fu_lead_pick")
        c2.button("打开队列", key="fu_lead_open", on_click=_open_queue_of)
    st.subheader("每周按期完成率" + ("" if owner is ALL else f"（{plain(owner)}）"))
    if trend.empty:
        st.caption("近 12 周没有到期的跟进任务。")
    else:
        st.plotly_chart(on_time_trend(trend), width="stretch", config={"displayModeBar": False})
    _settings_panel()
    if policy.allowed(actor, "follow_ups.export"):
        st.download_button("导出逾期清单和负责人统计（Excel）", data=lambda: reports.export_workbook(reader, owner=owner, today=today),
                           file_name=f"跟进队列_{today:%Y%m%d}.xlsx", mime=XLSX_MIME, key="fu_export",
                           on_click="ignore", icon=":material/download:")
