"""Plotly figures of the 投诉分析 and 满意度 views (built beside the pages; crm/ stays UI-free)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.common import chart_label
from ui.segment_charts import text_colors, value_label_positions

# The title at the top, the legend on its own line under it: beside the title it overlaps it on a
# phone, under the plot it overlaps the month labels.
_LAYOUT = dict(height=360, margin=dict(l=10, r=10, t=84, b=10),
               title=dict(y=0.98, yref="container", yanchor="top", x=0.02, xanchor="left"),
               legend=dict(orientation="h", y=1.02, yanchor="bottom", x=0, xanchor="left"))
_SHARE_AXIS = dict(overlaying="y", side="right", range=[0, 115], tickmode="array", tickvals=[0, 20, 40, 60, 80, 100],
                   ticksuffix="%", showgrid=False)
ROOM = 1.25  # the value axis runs to the largest value × this, so a figure outside a bar stays in the plot


def _top(values: object) -> float:
    numbers = [float(v) for v in values if v is not None and not pd.isna(v)]  # type: ignore[union-attr]
    return max(numbers, default=0.0) or 1.0


def bars(frame: pd.DataFrame, label: str, value: str, title: str) -> go.Figure:
    """Horizontal bars with their values, largest on top."""
    data = frame.sort_values(value)
    where = value_label_positions([float(v) for v in data[value]])
    fig = go.Figure(go.Bar(x=data[value], y=[chart_label(x) for x in data[label]], orientation="h", text=data[value],
                           textposition=where, insidetextanchor="end", constraintext="none", cliponaxis=False, textangle=0,
                           textfont=dict(color=text_colors(["#4c78a8"] * len(where), where)),
                           marker_color="#4c78a8", hovertemplate="%{y}：%{x}<extra></extra>"))
    fig.update_layout(**_LAYOUT, yaxis=dict(type="category", automargin=True),
                      xaxis=dict(range=[0, _top(data[value]) * ROOM]))
    fig.update_layout(title_text=title)
    return fig


def trend(frame: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_bar(x=frame["month"], y=frame["complaints"], name="投诉", text=frame["complaints"], textposition="outside",
                cliponaxis=False, marker_color="#e45756")
    fig.add_scatter(x=frame["month"], y=frame["resolved"], name="已办结", mode="lines+markers", line_color="#54a24b")
    fig.update_layout(**_LAYOUT, xaxis=dict(type="category", automargin=True),
                      yaxis=dict(range=[0, _top([*frame["complaints"], *frame["resolved"]]) * ROOM]))
    fig.update_layout(title_text="每月投诉")
    return fig


def pareto(frame: pd.DataFrame, measure: str) -> go.Figure:
    """Causes by count or loss with the cumulative share and the 80 % line."""
    fig = go.Figure()
    causes = [chart_label(x) for x in frame["cause"]]
    fig.add_bar(x=causes, y=frame["value"], name=measure, text=frame["value"], textposition="inside",
                insidetextanchor="end", constraintext="none", textangle=0,
                marker_color=["#e45756" if v else "#bab0ac" for v in frame["vital"]])
    fig.add_scatter(x=causes, y=(frame["cumulative"] * 100).round(1), name="累计占比（%）", yaxis="y2",
                    mode="lines+markers+text", text=[f"{v:.0f}%" for v in frame["cumulative"] * 100],
                    textposition="top center", cliponaxis=False, line_color="#4c78a8")
    fig.add_hline(y=80, yref="y2", line_dash="dash", line_color="#888", annotation_text="80%")
    fig.update_layout(**_LAYOUT, xaxis=dict(type="category", automargin=True),
                      yaxis=dict(range=[0, _top(frame["value"]) * ROOM]), yaxis2=_SHARE_AXIS)
    fig.update_layout(title_text=f"投诉原因帕累托图（按{measure}）")
    return fig


def satisfaction(frame: pd.DataFrame) -> go.Figure:
    """Per dimension: the top-2-box share (hidden below the minimum n) and the mean."""
    shares = [None if v is None or pd.isna(v) else round(float(v) * 100, 1) for v in frame["top2_share"]]
    dimensions = [chart_label(x) for x in frame["dimension"]]
    fig = go.Figure(go.Bar(x=dimensions, y=shares, name="满意占比（%）",
                           text=[f"{v:.0f}%" if v is not None else "样本不足" for v in shares], textposition="inside",
                           insidetextanchor="start", constraintext="none", textangle=0, marker_color="#54a24b"))
    fig.add_scatter(x=dimensions, y=frame["mean"].round(2), name="平均分", yaxis="y2", mode="markers+text",
                    text=[f"{v:.2f}" if pd.notna(v) else "" for v in frame["mean"]], textposition="top center",
                    marker=dict(size=10, color="#4c78a8"), cliponaxis=False)
    fig.update_layout(**_LAYOUT, yaxis=dict(range=[0, 115], tickvals=[0, 20, 40, 60, 80, 100], ticksuffix="%"),
                      yaxis2=dict(overlaying="y", side="right", range=[0, 6], tickvals=[1, 2, 3, 4, 5], showgrid=False),
                      xaxis=dict(type="category", automargin=True))
    fig.update_layout(title_text="各维度满意度（满意 + 非常满意）")
    return fig
