"""Plotly figures of the segments page, built from the aggregates crm.segments returns.

Every clickable mark carries `customdata = [kind, label…]`, which the page turns into a
drill-down (crm.segments.Drill) when the mark is selected. Marks are bars and scatter points,
the trace types whose clicks Plotly reports as selections (heatmaps do not), so the RFM grid and
the transition matrix are drawn as grids of square markers.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ui.common import chart_label

FONT = "Noto Sans CJK SC, Noto Sans SC, Source Han Sans SC, PingFang SC, Microsoft YaHei, sans-serif"
BLUE, ORANGE = "#3b6fb6", "#e8873a"
COLORS: dict[str, str] = {
    # 需求阶段
    "潜在客户": "#9aa5b1", "新成交客户": "#4caf7a", "老客户": "#3b6fb6", "流失风险客户": "#d64545",
    # 客户价值
    "高价值": "#c2410c", "潜力客户": "#f2a541", "中价值": "#6b93d6", "低价值": "#b8c2cc",
    # 行为特征
    "高频互动": "#2f9e8f", "沉睡客户": "#7c6fb0", "投诉客户": "#d64545",
    # RFM
    "重要价值": "#c2410c", "重要发展": "#f2a541", "重要保持": "#3b6fb6", "重要挽留": "#d64545",
    "一般价值": "#e9a77f", "一般发展": "#f6d38e", "一般保持": "#9db8e0", "一般挽留": "#e6a1a1",
}
CONFIG = {"displaylogo": False, "displayModeBar": False, "locale": "zh-CN"}


def _readable_when_unselected(fig: go.Figure) -> None:
    """Plotly dims the marks that are not selected; keep them legible (the selection stays obvious)."""
    fig.update_traces(unselected={"marker": {"opacity": 0.45}}, selector={"type": "bar"})
    fig.update_traces(unselected={"marker": {"opacity": 0.45}, "textfont": {"color": "#52606d"}},
                      selector={"type": "scatter"})


def _layout(fig: go.Figure, height: int, **extra: Any) -> go.Figure:
    fig.update_layout(
        height=height, margin={"l": 8, "r": 8, "t": 36, "b": 8}, font={"family": FONT, "size": 13},
        showlegend=False, bargap=0.3, hoverlabel={"font": {"family": FONT}}, clickmode="event+select",
        dragmode=False, **extra)
    fig.update_annotations(font={"family": FONT, "size": 13})
    _readable_when_unselected(fig)
    return fig


INSIDE_FROM = 0.55  # a bar at least this share of the longest carries its figure inside, at its end


def value_label_positions(values: Sequence[float]) -> list[str]:
    """Where each bar's figure goes so that it stays inside the plot at any width (a phone's too):
    inside the long bars, at their end; outside the short ones, where the axis range (the longest
    bar × 1.3) leaves them room. Plotly's "auto" puts a long bar's figure outside when it does
    not fit inside, past the edge of a narrow chart."""
    top = max((abs(v) for v in values), default=0) or 1
    return ["inside" if abs(v) >= INSIDE_FROM * top else "outside" for v in values]


def text_colors(colors: Sequence[str], positions: Sequence[str]) -> list[str]:
    """A figure inside a bar is white on a dark bar and dark on a light one; outside, dark grey."""
    def light(colour: str) -> bool:
        r, g, b = (int(colour.lstrip("#")[i:i + 2], 16) for i in (0, 2, 4))
        return 0.299 * r + 0.587 * g + 0.114 * b > 170

    return ["#1f2933" if p == "outside" or light(c) else "#ffffff" for c, p in zip(colors, positions)]


def wan(value: float) -> str:
    """Yuan → '12.3万' (or '860' under ten thousand)."""
    if abs(value) >= 1e8:
        return f"{value / 1e8:,.2f}亿"
    if abs(value) >= 1e4:
        return f"{value / 1e4:,.1f}万"
    return f"{value:,.0f}"


def dimension_figure(frame: pd.DataFrame, kind: str, *, height: int | None = None,
                     revenue_title: str = "近12个月收入") -> go.Figure:
    """Customers and revenue per label as two panels of horizontal bars sharing the label axis.

    `frame` has label, customers, revenue; the first row is drawn at the top.
    """
    labels = [str(x) for x in frame["label"]][::-1]
    counts = [int(x) for x in frame["customers"]][::-1]
    revenue = [float(x) for x in frame["revenue"]][::-1]
    colors = [COLORS.get(x, BLUE) for x in labels]
    custom = [[kind, x] for x in labels]  # the raw label: a click drills down by it
    labels = [chart_label(x) for x in labels]  # what is drawn: data, never Plotly's HTML
    fig = make_subplots(rows=1, cols=2, subplot_titles=("客户数", revenue_title), horizontal_spacing=0.04,
                        shared_yaxes=True)
    count_at, revenue_at = value_label_positions(counts), value_label_positions(revenue)
    fig.add_bar(y=labels, x=counts, orientation="h", marker_color=colors, customdata=custom, row=1, col=1,
                text=[f"{n:,}" for n in counts], textposition=count_at, insidetextanchor="end", cliponaxis=False,
                constraintext="none", textangle=0, textfont={"size": 12, "color": text_colors(colors, count_at)},
                hovertemplate="%{y}<br>客户数 %{x:,}<extra></extra>")
    fig.add_bar(y=labels, x=revenue, orientation="h", marker_color=colors, customdata=custom, row=1, col=2,
                text=[wan(v) for v in revenue], textposition=revenue_at, insidetextanchor="end", cliponaxis=False,
                constraintext="none", textangle=0, textfont={"size": 12, "color": text_colors(colors, revenue_at)},
                hovertemplate="%{y}<br>收入 ¥%{x:,.0f}<extra></extra>")
    fig.update_yaxes(type="category", automargin=True, tickfont={"size": 13}, ticksuffix=" ")
    fig.update_xaxes(showticklabels=False, showgrid=False, zeroline=False)
    top_n, top_r = max(counts, default=0), max(revenue, default=0)
    # room on the right of the longest bar for its figure
    fig.update_xaxes(range=[0, top_n * 1.3 if top_n else 1], row=1, col=1)
    fig.update_xaxes(range=[min(0, min(revenue, default=0) * 1.3), top_r * 1.35 if top_r > 0 else 1], row=1, col=2)
    return _layout(fig, height or max(200, 40 * len(labels) + 70))


def rfm_grid_figure(grid: pd.DataFrame, height: int = 380) -> go.Figure:
    """R (rows) × F (columns) as squares sized by customers and coloured by the average M score."""
    n = [int(x) for x in grid["customers"]]
    biggest = max(n, default=1) or 1
    sizes = [14 + 40 * math.sqrt(x / biggest) for x in n]
    fig = go.Figure(go.Scatter(
        x=[int(x) for x in grid["f"]], y=[int(x) for x in grid["r"]], mode="markers+text",
        marker={"symbol": "square", "size": sizes, "color": [float(x) for x in grid["m_avg"]], "cmin": 1, "cmax": 5,
                "colorscale": "YlOrRd", "showscale": True,
                "colorbar": {"title": {"text": "平均M分", "font": {"family": FONT}}, "thickness": 12}},
        text=[f"{x:,}" for x in n], textposition="middle center",
        textfont={"size": 11, "color": ["#ffffff" if float(m) >= 3.3 else "#1f2933" for m in grid["m_avg"]]},
        customdata=[["rfm_cell", int(r), int(f)] for r, f in zip(grid["r"], grid["f"])],
        hovertemplate="R %{y} 分 · F %{x} 分<br>客户数 %{text}<br>平均 M 分 %{marker.color:.2f}<extra></extra>",
    ))
    fig.update_xaxes(title_text="F 购买频次得分（1 低 → 5 高）", range=[0.4, 5.6], dtick=1, showgrid=False, zeroline=False)
    fig.update_yaxes(title_text="R 最近购买得分（1 远 → 5 近）", range=[0.4, 5.6], dtick=1, showgrid=False, zeroline=False)
    return _layout(fig, height)


def combinations_figure(frame: pd.DataFrame, height: int | None = None) -> go.Figure:
    """The most common 行业-价值-标签 combinations, most first, as clickable horizontal bars."""
    labels = [str(x) for x in frame["combination"]][::-1]
    counts = [int(x) for x in frame["customers"]][::-1]
    revenue = [float(x) for x in frame["revenue"]][::-1]
    where = value_label_positions(counts)
    fig = go.Figure(go.Bar(
        y=[chart_label(x) for x in labels], x=counts, orientation="h", marker_color=BLUE,
        customdata=[["combination", x] for x in labels],
        text=[f"{n:,} 位 · {wan(r)}" for n, r in zip(counts, revenue)], textposition=where, insidetextanchor="end", textangle=0,
        constraintext="none", textfont={"color": text_colors([BLUE] * len(counts), where)}, cliponaxis=False,
        hovertemplate="%{y}<br>客户数 %{x:,}<extra></extra>"))
    fig.update_yaxes(type="category", automargin=True)
    fig.update_xaxes(showticklabels=False, showgrid=False, range=[0, (max(counts, default=0) or 1) * 1.3])
    return _layout(fig, height or max(260, 34 * len(labels) + 60))


def transition_figure(frame: pd.DataFrame, sources: Sequence[str], targets: Sequence[str], source_title: str,
                      target_title: str, kind: str, height: int = 420) -> go.Figure:
    """A transition matrix of square markers: rows the earlier label, columns the later one.

    Each cell shows the customers and, by colour, their share of the row.
    """
    frame = frame[frame["customers"] > 0]
    sources = [s for s in sources if s in set(frame["source"])]
    targets = [t for t in targets if t in set(frame["target"])]
    totals = frame.groupby("source")["customers"].sum().to_dict()
    share = [c / totals[s] if totals.get(s) else 0 for s, c in zip(frame["source"], frame["customers"])]
    biggest = max(frame["customers"], default=1) or 1
    fig = go.Figure(go.Scatter(
        x=list(frame["target"]), y=list(frame["source"]), mode="markers+text",
        marker={"symbol": "square", "size": [16 + 36 * math.sqrt(c / biggest) for c in frame["customers"]],
                "color": share, "cmin": 0, "cmax": 1, "colorscale": "Blues", "showscale": True,
                "colorbar": {"title": {"text": "占该行比例", "font": {"family": FONT}}, "tickformat": ".0%", "thickness": 12}},
        text=[f"{int(c):,}" for c in frame["customers"]], textposition="middle center",
        textfont={"size": 11, "color": ["#ffffff" if x >= 0.45 else "#1f2933" for x in share]},
        customdata=[[kind, s, t] for s, t in zip(frame["source"], frame["target"])],
        hovertemplate="%{y} → %{x}<br>客户数 %{text}<extra></extra>"))
    fig.update_xaxes(type="category", categoryorder="array", categoryarray=list(targets), title_text=target_title,
                     side="top", showgrid=True, gridcolor="#eef0f3")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=list(sources)[::-1], title_text=source_title,
                     showgrid=True, gridcolor="#eef0f3", automargin=True)
    fig = _layout(fig, height)
    fig.update_layout(margin={"l": 8, "r": 8, "t": 64, "b": 8})
    return fig


def sankey_figure(frame: pd.DataFrame, sources: Sequence[str], targets: Sequence[str], left: str, right: str,
                  height: int = 420) -> go.Figure:
    """The same migration as flows from the earlier labels (left) to the later ones (right)."""
    frame = frame[frame["customers"] > 0]
    sources = [s for s in sources if s in set(frame["source"])]
    targets = [t for t in targets if t in set(frame["target"])]
    nodes = [f"{s}（{left}）" for s in sources] + [f"{t}（{right}）" for t in targets]
    colors = [COLORS.get(s, "#9aa5b1") for s in sources] + [COLORS.get(t, "#9aa5b1") for t in targets]
    index_s = {s: i for i, s in enumerate(sources)}
    index_t = {t: len(sources) + i for i, t in enumerate(targets)}
    fig = go.Figure(go.Sankey(
        arrangement="fixed",
        node={"label": nodes, "color": colors, "pad": 14, "thickness": 14},
        link={"source": [index_s[s] for s in frame["source"]], "target": [index_t[t] for t in frame["target"]],
              "value": [int(c) for c in frame["customers"]], "color": "rgba(120,140,170,0.25)"},
        textfont={"family": FONT, "size": 12}))
    fig.update_layout(height=height, margin={"l": 8, "r": 8, "t": 16, "b": 8}, font={"family": FONT, "size": 12})
    return fig
