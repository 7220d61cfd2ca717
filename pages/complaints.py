"""投诉分析 and 满意度: register complaints, handle them through their stages against two deadlines,
analyse what they say, and read the satisfaction surveys.

Queries and writes live in crm.complaints and crm.surveys; this file lays them out. `?id=TS…`
opens a complaint's record; `?view=满意度` the satisfaction view.
"""
from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from crm import clock, xlsx
from crm.auth.personal import PersonalData
from crm.complaints import analysis as A
from crm.complaints import deadlines, forms, handling, stages
from crm.customers.search import SearchFilters, search_customers
from crm.errors import UserError
from crm.imports.templates import ENUMS
from crm.settings import complaint_settings
from crm.surveys import analysis as SV
from crm.xlsx import XLSX_MIME
from ui import complaint_charts as C
from ui.common import current_actor, ensure_app_navigation, flash, get_archive, plain, show_flash, show_table

ensure_app_navigation()

archive = get_archive()
actor = current_actor()
reader = PersonalData(archive, actor)
today = clock.today()
settings = complaint_settings(archive)

st.title("投诉分析")
with archive.transaction() as tx:  # clocks breached since the last visit are marked for good
    deadlines.mark_breaches(tx, today)
show_flash("cp")

VIEWS = ["投诉处理", "登记投诉", "投诉分析", "满意度"]
switch_to = st.session_state.pop("cp_view_next", None)  # set by an action of the previous run
if switch_to:
    st.session_state["cp_view"] = switch_to
if "cp_view" not in st.session_state:
    wanted = st.query_params.get("view")
    st.session_state["cp_view"] = wanted if wanted in VIEWS else VIEWS[0]
view = st.segmented_control("视图", VIEWS, key="cp_view", required=True, label_visibility="collapsed")


# ------------------------------------------------------------------ handling
if view == "投诉处理":
    c1, c2 = st.columns([1, 3])
    scope = c1.radio("范围", ["未结", "全部"], horizontal=True, key="cp_scope")
    drill = A.Drill("未结投诉", f"stage IN ({', '.join(repr(s) for s in sorted(stages.OPEN_STAGES))})") if scope == "未结" \
        else A.Drill("全部投诉")
    frame, total = A.drill_page(reader, A.ComplaintFilters(), drill, today, limit=200)
    c2.caption(f"共 {total} 起（显示最近 200 起）。承诺状态、政策状态：按期 / 超期 / 未结已超期 / 处理中。")
    if frame.empty:
        st.info("没有投诉。" if scope == "全部" else "没有未结的投诉。")
    else:
        show_table(frame, column_config={"损失金额": st.column_config.NumberColumn(format="¥%.2f")})
    wanted = st.query_params.get("id")
    if wanted and "cp_pick" not in st.session_state:
        st.session_state["cp_pick"] = wanted
    ids = list(frame["受理编号"])
    kept = st.session_state.get("cp_pick")  # the record being worked on stays open when it leaves the list
    if kept and kept not in ids:
        ids.insert(0, kept)
    if ids:
        pick = st.selectbox("打开投诉记录", ids, key="cp_pick")
        cur = archive.cursor()
        try:
            record = handling.load_complaint(cur, pick)
            history = handling.stage_history(cur, pick) if record else []
            causes = handling.root_causes(cur)
        finally:
            cur.close()
        if record is None:
            st.error(f"投诉 {plain(pick)} 不存在。")
        else:
            v = reader.mask_record("complaints", record.values)  # the reasons and the outcome are free text
            st.subheader(plain(f"{record.complaint_id} · {record.stage}"))
            st.page_link("pages/customers.py", label="打开客户档案", query_params={"id": record.customer_id},
                         icon=":material/person:")
            promise = deadlines.clock_state(v.get("promised_by"), v.get("resolved_on"), today, v.get("promise_breached_on"))
            policy = deadlines.clock_state(v.get("policy_deadline"), v.get("resolved_on"), today, v.get("policy_breached_on"))
            m = st.columns(3)
            m[0].metric("承诺办理期限", f"{v.get('promised_by') or '—'}", promise, delta_color="off", delta_arrow="off",
                        border=True)
            m[1].metric("政策期限", f"{v.get('policy_deadline') or '—'}", policy, delta_color="off", delta_arrow="off",
                        border=True)
            m[2].metric("紧急程度", v.get("urgency") or "一般", border=True)
            show_table(pd.DataFrame([{"项目": handling.LABELS.get(k, k), "内容": "" if v.get(k) is None else str(v.get(k))} for k in
                                     ("date", "kind", "via", "reason", "request", "department", "handler", "product",
                                      "order_ref", "root_cause", "resolution", "loss", "outcome", "resolved_on",
                                      "satisfaction", "reject_reason")]))
            if history:
                st.caption("处理经过（各阶段停留时间）")
                show_table(pd.DataFrame([{"阶段": s, "进入时间": at, "停留（小时）": h} for s, at, h in history]),
                           column_config={"进入时间": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
            d1, d2 = st.columns(2)
            d1.download_button("下载投诉处理通知单", data=lambda: forms.notice_workbook(reader, pick),
                               file_name=f"投诉处理通知单_{pick}.xlsx", mime=XLSX_MIME, key="cp_dl_notice",
                               on_click="ignore", icon=":material/download:")
            d2.download_button("下载投诉处理报告表", data=lambda: forms.report_workbook(reader, pick),
                               file_name=f"投诉处理报告表_{pick}.xlsx", mime=XLSX_MIME, key="cp_dl_report",
                               on_click="ignore", icon=":material/download:")
            targets = stages.next_stages(record.stage)
            if targets:
                st.subheader("处理")
                to = st.selectbox("转到阶段", targets, key="cp_to")
                need = stages.MOVES[(record.stage, to)]
                with st.form(f"cp_move_{pick}"):
                    given: dict[str, object] = {}
                    if "reject_reason" in need:
                        given["reject_reason"] = st.text_input("不予受理原因", key="cp_reject_reason")
                    if to == stages.HANDLED:
                        c1, c2, c3 = st.columns(3)
                        given["resolution"] = c1.selectbox("处理方式", list(ENUMS["resolution"]), key="cp_resolution")
                        given["root_cause"] = c2.selectbox("投诉原因", causes, key="cp_root_cause", placeholder="请选择")
                        given["loss"] = c3.number_input("损失金额（元）", min_value=0.0, value=0.0, step=100.0, key="cp_loss")
                        given["outcome"] = st.text_area("处理结果", key="cp_outcome")
                        given["resolved_on"] = st.date_input("实际处理日期", value=today, max_value=today, key="cp_resolved_on")
                    if "satisfaction" in need:
                        given["satisfaction"] = st.select_slider("客户对处理的满意度", [1, 2, 3, 4, 5], value=4,
                                                                 key="cp_satisfaction")
                    note = st.text_input("说明（重新处理时必填）" if "note" in need else "说明（可选）", key="cp_note")
                    go = st.form_submit_button(f"转到「{to}」", type="primary")
                if go:
                    try:
                        moved = handling.move_complaint(archive, actor, pick, to, given, note=note or None,
                                                        expected_version=record.version)
                    except UserError as exc:
                        flash("cp", "error", exc.message)
                    else:
                        flash("cp", "success", f"投诉 {pick} 已转到「{moved.stage}」。")
                    st.rerun()

# ------------------------------------------------------------------ registration
elif view == "登记投诉":
    st.caption("按投诉登记表填写；校验规则与导入 T6 投诉登记表相同。客户可从档案中选择，也可直接填写新客户。")
    query = st.text_input("查找客户（姓名、拼音、电话、编号）", key="cp_find")
    found = search_customers(reader, query, SearchFilters(), page_size=20).rows if query else []
    options = {r["customer_id"]: f"{r['name'] or r['customer_id']}（{r['customer_id']}）" for r in found}
    with st.form("cp_register"):
        who = st.selectbox("客户", ["（新客户）", *options], format_func=lambda c: options.get(c, c), key="cp_customer")
        n1, n2 = st.columns(2)
        new_name = n1.text_input("新客户姓名", key="cp_new_name")
        new_phone = n2.text_input("新客户电话", key="cp_new_phone")
        c1, c2, c3 = st.columns(3)
        day = c1.date_input("受理日期", value=today, max_value=today, key="cp_date")
        kind = c2.selectbox("投诉类型", list(ENUMS["complaint_kind"]), key="cp_kind")
        urgency = c3.selectbox("紧急程度", list(ENUMS["urgency"]), index=2, key="cp_urgency")
        c4, c5, c6 = st.columns(3)
        via = c4.selectbox("投诉方式", list(ENUMS["complaint_via"]), index=2, key="cp_via")
        promised = c5.date_input("承诺办理期限", value=None, min_value=day, key="cp_promised")
        department = c6.text_input("责任部门", key="cp_department")
        reason = st.text_area("投诉事由", key="cp_reason")
        request = st.text_input("客户要求", key="cp_request")
        c7, c8, c9 = st.columns(3)
        product = c7.text_input("所购商品", key="cp_product")
        order_ref = c8.text_input("订单编号", key="cp_order_ref")
        handler = c9.text_input("承办人", key="cp_handler")
        submit = st.form_submit_button("登记投诉", type="primary")
    if submit:
        fields = {"date": day, "kind": kind, "urgency": urgency, "via": via, "promised_by": promised,
                  "department": department, "reason": reason, "request": request, "product": product,
                  "order_ref": order_ref, "handler": handler}
        try:
            cid = handling.register_complaint(archive, actor, fields,
                                              customer_id=None if who == "（新客户）" else who,
                                              new_customer=(new_name, new_phone) if who == "（新客户）" else None)
        except UserError as exc:
            flash("cp", "error", exc.message)
        else:
            flash("cp", "success", f"已登记投诉 {cid}。")
            st.session_state["cp_pick"] = cid
            st.session_state["cp_view_next"] = "投诉处理"
        st.rerun()

# ------------------------------------------------------------------ analysis
elif view == "投诉分析":
    with st.expander("筛选", expanded=False, icon=":material/filter_list:"):
        f1, f2, f3 = st.columns(3)
        start = f1.date_input("受理日期从", value=today - dt.timedelta(days=365), key="cp_f_start")
        end = f2.date_input("至", value=today, key="cp_f_end")
        kind = f3.selectbox("投诉类型", ["全部", *ENUMS["complaint_kind"]], key="cp_f_kind")
        f4, f5, f6 = st.columns(3)
        urgency = f4.selectbox("紧急程度", ["全部", *ENUMS["urgency"]], key="cp_f_urgency")
        department = f5.text_input("责任部门（完整名称）", key="cp_f_department")
        handler = f6.text_input("承办人", key="cp_f_handler")
        f7, f8 = st.columns(2)
        owner = f7.text_input("客户负责人", key="cp_f_owner")
        value = f8.selectbox("客户价值", ["全部", *A.VALUE_LABELS], key="cp_f_value")
    filters = A.ComplaintFilters(start=start, end=end, kind=None if kind == "全部" else kind,
                                 urgency=None if urgency == "全部" else urgency, department=department or None,
                                 handler=handler or None, owner=owner or None, value=None if value == "全部" else value)
    o = A.overview(archive, filters, today)
    tiles = st.columns(4)
    tiles[0].metric("投诉", int(o["total"]), border=True)
    tiles[1].metric("未结", int(o["open"]), border=True)
    tiles[2].metric("未结已超期", int(o["late"]), border=True)
    tiles[3].metric("政策期限按期率", f"{o['kept_share']:.0%}" if o["kept_share"] is not None else "—", border=True)
    if int(o["total"]) == 0:
        st.info("所选范围内没有投诉。")
    else:
        dim = st.selectbox("按维度统计", list(A.DIMENSIONS), format_func=lambda d: A.DIMENSIONS[d], key="cp_dim")
        counts = A.counts_by(archive, dim, filters, today)
        st.plotly_chart(C.bars(counts, "label", "complaints", f"按{A.DIMENSIONS[dim]}"), width="stretch",
                        config={"displayModeBar": False})
        trend = A.monthly_trend(archive, filters, today)
        st.plotly_chart(C.trend(trend), width="stretch", config={"displayModeBar": False})
        measure = st.radio("帕累托图", ["数量", "损失金额"], horizontal=True, key="cp_pareto")
        pareto = A.pareto(archive, "count" if measure == "数量" else "loss", filters, today)
        st.plotly_chart(C.pareto(pareto, measure), width="stretch", config={"displayModeBar": False})
        st.subheader("办理期限")
        show_table(A.deadline_table(archive, filters, today))
        left, right = st.columns(2)
        with left:
            st.caption("办结用时")
            show_table(A.resolution_day_bands(archive, filters, today).rename(columns={"band": "用时", "complaints": "投诉"}))
        with right:
            by = st.radio("超期率", ["责任部门", "承办人"], horizontal=True, key="cp_breach_by")
            rates = A.breach_rate_by(archive, "department" if by == "责任部门" else "handler", filters, today)
            show_table(rates.rename(columns={"label": by, "with_deadline": "有期限", "breached": "超期", "rate": "超期率"}),
                       column_config={"超期率": st.column_config.NumberColumn(format="percent")})
        st.subheader("客户投诉统计表（损失金额）")
        show_table(A.losses(archive, filters, today))
        st.subheader(f"重复投诉客户（{settings.repeat_window_days} 天内 ≥ {settings.repeat_min} 次）")
        repeat = A.repeat_complainers(reader, settings, filters, today)
        if repeat.empty:
            st.caption("没有重复投诉的客户。")
        else:
            repeat["客户档案"] = [f"/customers?id={c}" for c in repeat["customer_id"]]
            show_table(repeat.rename(columns={"customer_id": "客户编号", "name": "客户", "complaints": "投诉次数",
                                              "last_date": "最近投诉"}),
                       column_config={"客户档案": st.column_config.LinkColumn(display_text="打开")})
        st.subheader("各价值分群的投诉率")
        seg = A.rate_per_segment(archive, filters, today)
        if seg.empty:
            st.caption("尚未计算客户分类。")
        else:
            show_table(seg.rename(columns={"segment": "客户价值", "customers": "客户数", "complainers": "投诉客户",
                                           "rate": "投诉率"}),
                       column_config={"投诉率": st.column_config.NumberColumn(format="percent")})
        if o["satisfaction"] is not None and not pd.isna(o["satisfaction"]):
            st.caption(f"处理后客户满意度平均 {float(o['satisfaction']):.2f} 分（1–5）。")
        st.subheader("查看明细")
        d1, d2 = st.columns(2)
        drill_dim = d1.selectbox("维度", list(A.DIMENSIONS), format_func=lambda d: A.DIMENSIONS[d], key="cp_drill_dim")
        labels = list(A.counts_by(archive, drill_dim, filters, today)["label"])
        drill_label = d2.selectbox("取值", labels, key="cp_drill_label", placeholder="请选择")
        if drill_label is not None:
            rows, n = A.drill_page(reader, filters, A.drill_for(drill_dim, drill_label), today)
            rows["投诉记录"] = [f"/complaints?id={c}" for c in rows["受理编号"]]
            st.caption(f"{A.DIMENSIONS[drill_dim]}「{plain(drill_label)}」共 {n} 起")
            show_table(rows, column_config={"投诉记录": st.column_config.LinkColumn(display_text="打开")})

            def _export() -> bytes:
                import io

                from crm.auth import audit

                buffer = io.BytesIO()
                yes_no = {True: "是", False: "否"}
                sheets = [
                    ("明细", rows.drop(columns=["投诉记录"])),
                    (f"按{A.DIMENSIONS[dim]}", counts.rename(columns={"label": A.DIMENSIONS[dim], "complaints": "投诉数",
                                                                     "loss": "损失金额"})),
                    ("帕累托", pareto.assign(vital=pareto["vital"].map(yes_no)).rename(columns={
                        "cause": "投诉原因", "value": "损失金额" if measure == "损失金额" else "投诉数", "share": "占比",
                        "cumulative": "累计占比", "vital": "主要原因（累计 80% 以内）"})),
                    ("每月", trend.rename(columns={"month": "月份", "complaints": "投诉数", "resolved": "已办结",
                                                   "loss": "损失金额"})),
                ]
                xlsx.write_xlsx(sheets, buffer, header_lines=[f"截至 {today}", f"筛选：{filters.text()}", f"导出人：{actor.username}"],
                                formats={"占比": xlsx.PERCENT_FORMAT, "累计占比": xlsx.PERCENT_FORMAT})
                with archive.transaction() as tx:
                    audit.record(tx, actor, "export", "complaints", "投诉分析", {"rows": len(rows), "filters": filters.text()})
                return buffer.getvalue()

            st.download_button("导出分析表（Excel）", data=_export, file_name=f"投诉分析_{today:%Y%m%d}.xlsx",
                               mime=XLSX_MIME, key="cp_export", on_click="ignore", icon=":material/download:")

# ------------------------------------------------------------------ satisfaction
elif view == "满意度":
    with archive.transaction() as tx:
        planned = SV.plan_low_score_follow_ups(tx, today)
    if planned:
        st.info(f"已为 {planned} 份低分调查安排负责人跟进。")
    s1, s2 = st.columns(2)
    start = s1.date_input("调查日期从", value=today - dt.timedelta(days=365), key="sv_start")
    end = s2.date_input("至", value=today, key="sv_end")
    stats = SV.dimension_stats(archive, settings, start, end)
    if int(stats["n"].max() or 0) == 0:
        st.info("所选范围内没有满意度调查。")
    else:
        st.plotly_chart(C.satisfaction(stats), width="stretch", config={"displayModeBar": False})
        show_table(stats.rename(columns={"dimension": "维度", "n": "样本数", "mean": "平均分", "top2_share": "满意占比",
                                         "bottom2_share": "不满意占比"}),
                   column_config={"满意占比": st.column_config.NumberColumn(format="percent"),
                                  "不满意占比": st.column_config.NumberColumn(format="percent"),
                                  "平均分": st.column_config.NumberColumn(format="%.2f")})
        st.caption(f"满意占比 = 打 4–5 分（满意、非常满意）的份数 ÷ 样本数；样本少于 {settings.min_n} 份时不显示比例。")
        st.subheader("按月")
        show_table(SV.monthly(archive, start, end).rename(columns={"month": "月份", "n": "样本数"}))
        group = st.radio("按分组", ["客户价值", "负责人", "地区"], horizontal=True, key="sv_group")
        key = {"客户价值": "segment", "负责人": "owner", "地区": "region"}[group]
        show_table(SV.by_group(archive, key, settings, today, start, end).rename(
            columns={"grp": group, "n": "样本数", "mean": "平均分", "top2_share": "满意占比"}),
            column_config={"满意占比": st.column_config.NumberColumn(format="percent"),
                           "平均分": st.column_config.NumberColumn(format="%.2f")})
        st.subheader("满意度最低的客户")
        low = SV.lowest_customers(reader)
        low["客户档案"] = [f"/customers?id={c}" for c in low["客户编号"]]
        show_table(low, column_config={"客户档案": st.column_config.LinkColumn(display_text="打开")})
