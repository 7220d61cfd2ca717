"""客户分类: segments as of a date, their charts, migrations, the two classic tables, drill-downs.

Layout only: the rules run in DuckDB (crm.segments, cached per date in the archive), the figures
are built by ui.segment_charts, exports by crm.segments.export. Clicking a bar, a grid cell or a
matrix cell selects it (plotly selection events) and lists the customers behind it below the
charts; a row of that list opens the customer's profile (/customers?id=…). Personal data in the
list is read through crm.auth.personal for the acting user. Widget and session keys start with `seg_`.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import streamlit as st

from crm import clock, xlsx
from crm import segments as S
from crm.auth import policy
from crm.auth.personal import PersonalData
from crm.db import release_memory
from crm.errors import UserError
from crm.segments.export import drill_xlsx, header_lines, migration_matrix, tables_xlsx
from crm.settings import SPECS, segment_settings, set_segment_setting
from crm.xlsx import XLSX_MIME
from ui import segment_charts as C
from ui.common import current_actor, ensure_app_navigation, filter_panel, get_archive, plain, settings_form, show_table

ensure_app_navigation()
archive = get_archive()
actor = current_actor()
reader = PersonalData(archive, actor)
DB = str(archive.path)
ALL = "全部"
PAGE_SIZE = 50
TABS = ["分类分布", "RFM 分群", "标签组合", "客户迁移", "分析报表"]
DIM_LABELS = {"stage": "需求阶段", "value": "客户价值", "rfm": "RFM 分群"}
GROWTH_COUNTS = ("期初客户数", "本期新增", "本期回流", "本期流失", "期末客户数", "净增减")


# ------------------------------------------------------------------ cached aggregates (a run never changes)
@st.cache_data(show_spinner=False, max_entries=32)
def _options(db: str, version: str) -> dict[str, list[str]]:
    return S.filter_options(archive)


@st.cache_data(show_spinner=False, max_entries=64)
def _overview(db: str, run_id: int, filters: S.SegmentFilters, _run: S.SegmentRun) -> pd.DataFrame:
    return S.overview(archive, _run, filters)


@st.cache_data(show_spinner=False, max_entries=64)
def _rfm_grid(db: str, run_id: int, filters: S.SegmentFilters, _run: S.SegmentRun) -> pd.DataFrame:
    return S.rfm_grid(archive, _run, filters)


@st.cache_data(show_spinner=False, max_entries=64)
def _combinations(db: str, run_id: int, filters: S.SegmentFilters, _run: S.SegmentRun) -> pd.DataFrame:
    return S.tag_combinations(archive, _run, filters, top=15)


@st.cache_data(show_spinner=False, max_entries=64)
def _migration(db: str, before_id: int, after_id: int, source: str, target: str, filters: S.SegmentFilters,
               _before: S.SegmentRun, _after: S.SegmentRun) -> pd.DataFrame:
    return S.migration(archive, _before, _after, source, filters, target)


@st.cache_data(show_spinner=False, max_entries=64)
def _region(db: str, run_id: int, filters: S.SegmentFilters, _run: S.SegmentRun) -> pd.DataFrame:
    return S.region_table(archive, _run, filters)


@st.cache_data(show_spinner=False, max_entries=64)
def _growth(db: str, as_of: dt.date, months: int, filters: S.SegmentFilters, version: str, signature: str) -> pd.DataFrame:
    return S.growth_table(archive, as_of, months, filters, version=version, settings=segment_settings(archive))


@st.cache_data(show_spinner=False, max_entries=128)
def _drill_count(db: str, run_id: int, filters: S.SegmentFilters, drill: S.Drill, _run: S.SegmentRun) -> int:
    return S.drill_count(archive, _run, filters, drill)


# ------------------------------------------------------------------ drill-down state
def _on_select(key: str, before: str | None = None) -> None:
    """A chart's selection changed: its first selected mark becomes the drill-down (or clears it)."""
    state = st.session_state.get(key)
    points = list(state.selection.points) if state is not None else []
    data = [p.get("customdata") for p in points if p.get("customdata")]
    current = st.session_state.get("seg_drill")
    if not data:
        if current and current.get("source") == key:
            st.session_state.pop("seg_drill", None)
        return
    kind = data[0][0]
    same = [d for d in data if d[0] == kind]
    if kind == "rfm_cell":
        labels = [(int(d[1]), int(d[2])) for d in same]
        title = "RFM 方格：" + "、".join(f"R{r}·F{f}" for r, f in labels)
    elif kind.startswith("migration:"):
        labels = [(d[1], d[2]) for d in same]
        _, src, dst = kind.split(":")
        title = "迁移：" + "、".join(f"{before} {DIM_LABELS[src]}「{s}」→ 现{DIM_LABELS[dst]}「{t}」" for s, t in labels)
    else:
        labels = list(dict.fromkeys(d[1] for d in same))
        name = "标签组合" if kind == "combination" else S.DIMENSIONS.get(kind, kind)
        title = f"{name}：{'、'.join(labels)}"
    st.session_state["seg_drill"] = {"kind": kind, "labels": labels, "title": title, "source": key, "before": before}
    st.session_state["seg_drill_page"] = 0
    st.toast(f"已选中 {plain(title)}，客户明细见页面下方", icon=":material/list:")


def _drill_from_state(state: dict[str, Any] | None, version: str, settings: Any) -> S.Drill | None:
    if not state:
        return None
    other = None
    if state["kind"].startswith("migration:"):
        other = S.segment_run(archive, dt.date.fromisoformat(state["before"]), version=version, settings=settings).run_id
    labels = tuple(tuple(x) if isinstance(x, (list, tuple)) else x for x in state["labels"])
    return S.Drill(state["kind"], labels, state["title"], other)


def _chart(fig: Any, key: str, before: str | None = None) -> None:
    st.plotly_chart(fig, key=key, on_select=lambda: _on_select(key, before), selection_mode="points",
                    config=C.CONFIG)


# ------------------------------------------------------------------ exports
def _download(label: str, key: str, title: str, frames: list[tuple[str, pd.DataFrame]], as_of: dt.date,
              filters: S.SegmentFilters, extra: list[str] | None = None, formats: dict[str, str] | None = None) -> None:
    def data() -> bytes:
        return tables_xlsx(archive, actor, title, frames, header_lines(title, as_of, filters, actor, extra or []), formats)
    st.download_button(label, data=data, file_name=f"{title}_{as_of:%Y%m%d}.xlsx", mime=XLSX_MIME, key=key,
                       on_click="ignore", icon=":material/download:")


def _money_config(*columns: str) -> dict[str, Any]:
    return {c: st.column_config.NumberColumn(c, format="localized") for c in columns}


# ------------------------------------------------------------------ settings (thresholds)
def settings_panel(settings: Any) -> None:
    with st.expander("分类规则与阈值", icon=":material/tune:"):
        st.caption("以下阈值保存在档案中，修改后立即按新阈值重新计算（无需重启）。每条阈值的含义见下表「含义」一列。")
        rows = [{"阈值": s.label, "当前值": getattr(settings, s.name), "默认值": s.default, "单位": s.unit, "含义": s.help}
                for s in SPECS]
        show_table(pd.DataFrame(rows))
        if not policy.allowed(actor, "settings.change"):
            st.caption("只有管理员可以修改阈值。")
            return
        try:
            changed = settings_form("seg_settings_form", "seg_set_", SPECS, settings,
                                    lambda name, value: set_segment_setting(archive, actor, name, value), "保存阈值", 4)
        except UserError as exc:
            st.error(plain(exc.message))
            return
        if changed is not None:
            st.session_state["seg_flash"] = "已保存：" + "；".join(changed) if changed else "阈值没有变化"
            st.rerun()


# ------------------------------------------------------------------ views
def distribution_view(run: S.SegmentRun, filters: S.SegmentFilters, ov: pd.DataFrame) -> None:
    window = f"近{run.settings.value_window_months}个月收入"
    st.caption("每个维度左为客户数、右为收入（" + window + "）。点击任一柱形查看其背后的客户。")
    left, right = st.columns(2)
    with left:
        st.markdown("**需求阶段**")
        _chart(C.dimension_figure(ov[ov.dimension == "stage"], "stage", revenue_title=window), "seg_chart_stage")
    with right:
        st.markdown("**客户价值**")
        _chart(C.dimension_figure(ov[ov.dimension == "value"], "value", revenue_title=window), "seg_chart_value")
    left, right = st.columns(2)
    with left:
        st.markdown("**行为特征**（一位客户可同时属于多项）")
        _chart(C.dimension_figure(ov[ov.dimension == "behaviour"], "behaviour", revenue_title=window),
               "seg_chart_behaviour")
    with right:
        industries = ov[ov.dimension == "industry"].head(15)
        st.markdown("**行业**" + ("（客户最多的 15 个）" if (ov.dimension == "industry").sum() > 15 else ""))
        _chart(C.dimension_figure(industries, "industry", height=max(240, 26 * len(industries) + 70),
                                  revenue_title=window), "seg_chart_industry")
    regions = ov[ov.dimension == "region"].head(20)
    st.markdown("**地区**" + ("（客户最多的 20 个，全部地区见「分析报表」中的客户区域分析表）"
                              if (ov.dimension == "region").sum() > 20 else ""))
    _chart(C.dimension_figure(regions, "region", height=max(240, 24 * len(regions) + 70),
                              revenue_title=window), "seg_chart_region")


def rfm_view(run: S.SegmentRun, filters: S.SegmentFilters, ov: pd.DataFrame) -> None:
    s = run.settings
    if not run.rfm_scored:
        st.info(f"截至 {run.as_of} 有购买记录的客户仅 {run.stats.get('buyers', 0)} 位，少于 {s.rfm_min_customers} 位，"
                "无法按五分位打分，暂不做 RFM 分群。", icon=":material/info:")
        return
    st.caption(f"对截至 {run.as_of} 有购买记录的 {run.stats['buyers']:,} 位客户：R 最近一次购买、F 近 {s.rfm_window_months} "
               f"个月购买次数、M 近 {s.rfm_window_months} 个月消费，各按五分位打 1–5 分；得分高于全体平均分为「高」"
               f"（R 平均 {run.stats['r_avg']:.2f}、F 平均 {run.stats['f_avg']:.2f}、M 平均 {run.stats['m_avg']:.2f}）。")
    left, right = st.columns([1.1, 1])
    with left:
        st.markdown("**八类 RFM 客户**")
        _chart(C.dimension_figure(ov[ov.dimension == "rfm"], "rfm", height=360,
                                  revenue_title=f"近{s.rfm_window_months}个月消费"), "seg_chart_rfm")
    with right:
        st.markdown("**R × F 方格**（方块大小为客户数，颜色为平均 M 分）")
        grid = _rfm_grid(DB, run.run_id, filters, run)
        if grid.empty:
            st.caption("筛选范围内没有已评分的客户。")
        else:
            _chart(C.rfm_grid_figure(grid, height=360), "seg_chart_rfm_grid")
    cuts = run.stats
    st.caption(f"五分位分界：R 最近购买 {' / '.join(cuts['r_cuts'])}；F 购买次数 {' / '.join(str(x) for x in cuts['f_cuts'])}；"
               f"M 消费 {' / '.join(C.wan(x) for x in cuts['m_cuts'])} 元。")


def combinations_view(run: S.SegmentRun, filters: S.SegmentFilters) -> None:
    frame = _combinations(DB, run.run_id, filters, run)
    st.caption("组合标签 = 行业-客户价值-客户标签（如 制造业-高价值-紧急需求），只统计有标签的客户，显示最常见的 15 个。")
    if frame.empty:
        st.info("筛选范围内没有带标签的客户。", icon=":material/info:")
        return
    _chart(C.combinations_figure(frame), "seg_chart_combination")
    _download("导出标签组合（.xlsx）", "seg_dl_combinations", "标签组合",
              [("标签组合", frame.rename(columns={"combination": "组合标签", "customers": "客户数", "revenue": "收入"}))],
              run.as_of, filters, formats={"收入": xlsx.WAN_FORMAT})  # in 万, as the chart shows it


def migration_view(run: S.SegmentRun, filters: S.SegmentFilters, version: str, settings: Any) -> None:
    ends = [d for d in S.month_ends(run.as_of, 24) if d < run.as_of]
    if not ends:
        st.info("没有更早的月末可比较。", icon=":material/info:")
        return
    default_from = S.quarter_end_before(run.as_of)
    cols = st.columns([1, 1, 1, 1])
    start = cols[0].selectbox("从（月末）", ends, index=ends.index(default_from) if default_from in ends else 0,
                              format_func=lambda d: f"{d:%Y-%m-%d}", key="seg_mig_from")
    later = [run.as_of] + [d for d in S.month_ends(run.as_of, 24) if start < d < run.as_of]
    end = cols[1].selectbox("到", later, format_func=lambda d: f"{d:%Y-%m-%d}" + ("（截至日期）" if d == run.as_of else ""),
                            key="seg_mig_to")
    source = cols[2].selectbox("看当时的", list(DIM_LABELS), index=1, format_func=DIM_LABELS.get, key="seg_mig_src")
    target = cols[3].selectbox("迁移到后来的", list(DIM_LABELS), index=0, format_func=DIM_LABELS.get, key="seg_mig_dst")
    with st.spinner(f"正在计算 {start} 的客户分类快照…"):
        before = S.segment_run(archive, start, version=version, settings=settings)
        after = run if end == run.as_of else S.segment_run(archive, end, version=version, settings=settings)
    frame = _migration(DB, before.run_id, after.run_id, source, target, filters, before, after)
    if frame.empty:
        st.info("筛选范围内没有客户。", icon=":material/info:")
        return
    kind = f"migration:{source}:{target}"
    sources = S.migration_order(source, source=True)
    targets = S.migration_order(target, source=False)
    # the headline the manager asks for: of the earlier top group, how many are now in the worst place
    focus_src = {"value": "高价值", "stage": "老客户", "rfm": "重要价值"}[source]
    focus_dst = {"stage": "流失风险客户", "value": "低价值", "rfm": "重要挽留"}[target]
    base = int(frame.loc[frame.source == focus_src, "customers"].sum())
    moved = int(frame.loc[(frame.source == focus_src) & (frame.target == focus_dst), "customers"].sum())
    if base:
        st.markdown(f"{start:%Y-%m-%d} 的 **{focus_src}** 客户 {base:,} 位中，截至 {end:%Y-%m-%d} 有 **{moved:,}** 位"
                    f"（{moved / base:.1%}）已是 **{focus_dst}**。")
    left, right = st.columns([1.15, 1])
    with left:
        st.markdown("**迁移矩阵**（行：当时；列：后来；点击方格查看客户）")
        _chart(C.transition_figure(frame, sources, targets, f"{start:%Y-%m-%d} {DIM_LABELS[source]}",
                                   f"{end:%Y-%m-%d} {DIM_LABELS[target]}", kind,
                                   height=max(360, 46 * len(set(frame.source)) + 120)),
               f"seg_chart_migration_{source}_{target}", before=start.isoformat())
    with right:
        st.markdown("**流向图**")
        st.plotly_chart(C.sankey_figure(frame, sources, targets, f"{start:%m-%d}", f"{end:%m-%d}",
                                        height=max(360, 46 * len(set(frame.source)) + 120)),
                        config=C.CONFIG, key="seg_sankey")
    matrix = migration_matrix(frame, sources, targets, f"{start:%Y-%m-%d} {DIM_LABELS[source]}")
    _download("导出迁移矩阵（.xlsx）", "seg_dl_migration", "客户迁移矩阵", [("迁移矩阵", matrix)], run.as_of, filters,
              [f"迁移：{start:%Y-%m-%d} {DIM_LABELS[source]} → {end:%Y-%m-%d} {DIM_LABELS[target]}"])


def tables_view(run: S.SegmentRun, filters: S.SegmentFilters, version: str, settings: Any) -> None:
    st.markdown("#### 客户增减分析表")
    months = st.segmented_control("期间", list(S.GROWTH_PERIODS), default=1, format_func=S.GROWTH_PERIODS.get,
                                  key="seg_growth_months", required=True)
    with st.spinner("正在计算期初、期末的有效客户…"):
        growth = _growth(DB, run.as_of, int(months or 1), filters, version, settings.signature)
    shown = growth.copy()
    shown.insert(1, "日期", [f"{a:%m-%d} ~ {b:%m-%d}" if a is not None and not pd.isna(a) else "" for a, b in
                             zip(growth["起始日"], growth["截止日"])])
    shown = shown.drop(columns=["起始日", "截止日"])
    for col in ("老客户收入", "新客户收入", "收入合计"):
        shown[col] = shown[col].round(0).astype("Int64")
    shown["增减率"] = shown["增减率"] * 100
    show_table(shown, column_config={
        "增减率": st.column_config.NumberColumn(format="%.1f%%"),
        **_money_config("期初客户数", "本期新增", "本期回流", "本期流失", "期末客户数", "净增减", "老客户收入", "新客户收入", "收入合计")})
    st.caption("客户指有效客户（新成交客户、老客户）。期末 = 期初 + 新增 + 回流 − 流失；新增为本期首次购买，回流为期初已流失、期末重新活跃，"
               "流失为期初有效（或本期新增）而期末不再有效。收入为该期间的购买、续约减退货，按客户首次购买在期前（老客户）或期内（新客户）划分。")
    out = growth.rename(columns={c: f"{c}（元）" for c in ("老客户收入", "新客户收入", "收入合计")})
    _download("导出客户增减分析表（.xlsx）", "seg_dl_growth", "客户增减分析表", [("客户增减分析表", out)], run.as_of, filters,
              [f"期间：{S.GROWTH_PERIODS[int(months or 1)]}，与上一同长期间比较"],
              formats={"增减率": xlsx.PERCENT_FORMAT, **{c: xlsx.INTEGER_FORMAT for c in GROWTH_COUNTS}})

    st.markdown("#### 客户区域分析表")
    region = _region(DB, run.run_id, filters, run)
    shown = region.copy()
    for col in ("收入", "户均收入"):
        shown[col] = shown[col].round(0).astype("Int64")
    for col in ("客户占比", "收入占比"):
        shown[col] = shown[col] * 100
    show_table(shown, height=min(38 + 35 * len(shown), 460),
                 column_config={
                     "客户占比": st.column_config.NumberColumn(format="%.1f%%"),
                     "收入占比": st.column_config.NumberColumn(format="%.1f%%"),
                     "收入": st.column_config.NumberColumn(f"近{run.settings.value_window_months}个月收入", format="localized"),
                     **_money_config("户均收入", "客户数", "高价值客户数")})
    out = region.rename(columns={"收入": f"近{run.settings.value_window_months}个月收入（元）", "户均收入": "户均收入（元）"})
    _download("导出客户区域分析表（.xlsx）", "seg_dl_region", "客户区域分析表", [("客户区域分析表", out)], run.as_of, filters,
              [f"收入：近 {run.settings.value_window_months} 个月（购买、续约减退货）"],
              formats={"客户占比": xlsx.PERCENT_FORMAT, "收入占比": xlsx.PERCENT_FORMAT})


def drill_view(run: S.SegmentRun, filters: S.SegmentFilters, drill: S.Drill | None) -> None:
    st.subheader("客户明细")
    if drill is None:
        st.caption("点击上方任一图表中的柱形或方格，这里会列出其背后的客户；点击列表中的一行打开该客户的客户360档案。")
        return
    total = _drill_count(DB, run.run_id, filters, drill, run)
    head, clear = st.columns([6, 1])
    head.markdown(f"**{plain(drill.title)}** · 截至 {run.as_of} · 共 **{total:,}** 位客户" + ("（个人信息已按权限脱敏）" if not actor.sees_all else ""))
    if clear.button("清除选择", key="seg_drill_clear", icon=":material/close:"):
        st.session_state.pop("seg_drill", None)
        st.rerun()
    if total == 0:
        st.info("筛选范围内没有这类客户。", icon=":material/info:")
        return
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(st.session_state.get("seg_drill_page", 0), pages - 1)
    frame = S.drill_page(reader, run, filters, drill, page, PAGE_SIZE)
    frame.insert(1, "档案", ["/customers?id=" + str(c) for c in frame["客户编号"]])
    key = f"seg_list_{abs(hash((drill, filters, run.run_id, page))) % 10**9}"
    event = show_table(frame, on_select="rerun", selection_mode="single-row",
                         key=key, column_config={
                             "档案": st.column_config.LinkColumn("档案", display_text="打开", width="small"),
                             "姓名": st.column_config.TextColumn(width="medium"),
                             "近12个月收入": st.column_config.NumberColumn(
                                 f"近{run.settings.value_window_months}个月收入", format="localized"),
                             "分类原因": st.column_config.TextColumn(width="large")})
    rows = event.selection.rows if event and event.selection else []
    if rows:
        st.switch_page("pages/customers.py", query_params={"id": str(frame.iloc[rows[0]]["客户编号"])})
    prev, info, nxt, dl = st.columns([1, 3, 1, 2])
    if prev.button("上一页", key="seg_drill_prev", disabled=page == 0):
        st.session_state["seg_drill_page"] = page - 1
        st.rerun()
    info.caption(f"第 {page + 1} / {pages} 页 · 按收入从高到低 · 点击一行打开客户360档案")
    if nxt.button("下一页", key="seg_drill_next", disabled=page + 1 >= pages):
        st.session_state["seg_drill_page"] = page + 1
        st.rerun()

    def data() -> bytes:
        return drill_xlsx(reader, run, filters, drill, header_lines("客户明细", run.as_of, filters, actor,
                                                                    [f"明细：{drill.title}（共 {total:,} 位）"]))
    dl.download_button(f"导出全部 {total:,} 位客户（.xlsx）", data=data, file_name=f"客户明细_{run.as_of:%Y%m%d}.xlsx",
                       mime=XLSX_MIME, key="seg_dl_drill", on_click="ignore", icon=":material/download:")


# ------------------------------------------------------------------ page
st.title("客户分类")
flash = st.session_state.pop("seg_flash", None)
if flash:
    st.success(plain(flash))
version = S.data_version(archive)
settings = segment_settings(archive)
options = _options(DB, version)

FILTERS = [("owner", "负责人", options["owners"]), ("region", "地区", options["regions"]),
           ("industry", "行业", options["industries"]), ("tag", "标签", options["tags"])]


def _filter_label() -> str:
    """What the page shows, for the filter panel's label (from the widgets' state: this run's)."""
    day = st.session_state.get("seg_as_of") or clock.today()
    picked = [f"{label} {plain(st.session_state[f'seg_f_{name}'])}" for name, label, _ in FILTERS
              if st.session_state.get(f"seg_f_{name}") not in (None, ALL)]
    return f"截至 {day:%Y-%m-%d} · " + ("筛选：" + "、".join(picked) if picked else "全部客户")


with filter_panel(_filter_label(), key="seg_filters"):
    controls = st.columns([1.2, 1, 1, 1, 1])
    as_of = controls[0].date_input("截至日期", value=clock.today(), max_value=dt.date(2100, 12, 31), format="YYYY-MM-DD",
                                   key="seg_as_of", help="按这一天及以前的数据计算分类；过去的日期得到当时的分类。")
    chosen: dict[str, str | None] = {}
    for col, (name, label, values) in zip(controls[1:], FILTERS):
        picked = col.selectbox(label, [ALL, *values], key=f"seg_f_{name}")
        chosen[name] = None if picked == ALL else picked
filters = S.SegmentFilters(**chosen)

with st.spinner(f"正在计算截至 {as_of} 的客户分类…"):
    run = S.segment_run(archive, as_of, version=version, settings=settings)

if run.customers == 0:
    st.info(f"截至 {as_of}，档案中还没有客户。请到「数据导入」页面上传 Excel 表格，或在命令行运行 `python -m crm seed` 生成演示数据。",
            icon=":material/info:")
    settings_panel(settings)
    st.stop()

ov = _overview(DB, run.run_id, filters, run)
count = {(d, lab): n for d, lab, n in zip(ov.dimension, ov.label, ov.customers)}
total_n = count.get(("total", "合计"), 0)
total_rev = float(ov.loc[ov.dimension == "total", "revenue"].sum())
tiles = st.columns(6)
tiles[0].metric("客户数", f"{total_n:,}", border=True, help=f"截至 {as_of} 已建档的客户" + ("（筛选后）" if filters.active else ""))
tiles[1].metric("收入（万元）", f"{total_rev / 1e4:,.0f}", border=True,
                help=f"购买、续约减退货：¥{total_rev:,.2f}")
for tile, (dim, label) in zip(tiles[2:], [("value", "高价值"), ("stage", "新成交客户"), ("stage", "流失风险客户"),
                                          ("behaviour", "沉睡客户")]):
    n = count.get((dim, label), 0)
    tile.metric(label, f"{n:,}", delta=f"{n / total_n:.1%}" if total_n else None, delta_color="off", delta_arrow="off",
                border=True)
cache_note = "刚刚计算" if run.computed else "来自档案中的缓存"
st.caption(f"截至 {as_of} 共 {run.customers:,} 位客户参与分类（{cache_note}）" +
           (f"；当前筛选：{'，'.join(x for x in filters.lines() if not x.endswith(ALL))}" if filters.active else ""))
settings_panel(settings)

tabs = st.tabs(TABS, key="seg_tab", on_change="rerun")
with tabs[0]:
    if tabs[0].open is not False:
        distribution_view(run, filters, ov)
with tabs[1]:
    if tabs[1].open:
        rfm_view(run, filters, ov)
with tabs[2]:
    if tabs[2].open:
        combinations_view(run, filters)
with tabs[3]:
    if tabs[3].open:
        migration_view(run, filters, version, settings)
with tabs[4]:
    if tabs[4].open:
        tables_view(run, filters, version, settings)

drill = _drill_from_state(st.session_state.get("seg_drill"), version, settings)
st.divider()
drill_view(run, filters, drill)

# The tag-combination and drill-down queries build large hash tables; hand their memory back once
# the page is drawn, so a million-customer archive keeps the server small between visits (≈ 25 ms).
release_memory(archive)
