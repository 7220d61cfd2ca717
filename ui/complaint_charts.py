"""Plotly figures of the 投诉分析 and 满意度 views (built beside the pages; crm/ stays UI-free)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.common import chart_label

_LAYOUT = dict(height=340, margin=dict(l=10, r=10, t=60, b=10),
               legend=dict(orientation="h", y=1.0, yanchor="bottom", x=1.0, xanchor="right"))


def bars(frame: pd.DataFrame, label: str, value: str, title: str) -> go.Figure:
    """Horizontal bars with their values, largest on top."""
    data = frame.sort_values(value)
    fig = go.Figure(go.Bar(x=data[value], y=[chart_label(x) for x in data[label]], orientation="h", text=data[value], textposition="auto",
                           marker_color="#4c78a8", hovertemplate="%{y}：%{x}<extra></extra>"))
    fig.update_layout(title=title, **_LAYOUT, yaxis=dict(type="category"))
    return fig


def trend(frame: pd.DataFrame) -> go.Figure:
    fig = go.Figure()
    fig.add_bar(x=frame["month"], y=frame["complaints"], name="投诉", text=frame["complaints"], textposition="auto",
                marker_color="#e45756")
    fig.add_scatter(x=frame["month"], y=frame["resolved"], name="已办结", mode="lines+markers", line_color="#54a24b")
    fig.update_layout(title="每月投诉", **_LAYOUT, xaxis=dict(type="category"))
    return fig


def pareto(frame: pd.DataFrame, measure: str) -> go.Figure:
    """Causes by count or loss with the cumulative share and the 80 % line."""
    fig = go.Figure()
    causes = [chart_label(x) for x in frame["cause"]]
    fig.add_bar(x=causes, y=frame["value"], name=measure, text=frame["value"], textposition="auto",
                marker_color=["#e45756" if v else "#bab0ac" for v in frame["vital"]])
    fig.add_scatter(x=causes, y=(frame["cumulative"] * 100).round(1), name="累计占比（%）", yaxis="y2",
                    mode="lines+markers+text", text=[f"{v:.0f}%" for v in frame["cumulative"] * 100],
                    textposition="top center", cliponaxis=False, line_color="#4c78a8")
    fig.add_hline(y=80, yref="y2", line_dash="dash", line_color="#888", annotation_text="80%")
    fig.update_layout(title=f"投诉原因帕累托图（按{measure}）", **_LAYOUT, xaxis=dict(type="category"),
                      yaxis2=dict(overlaying="y", side="right", range=[0, 105], showgrid=False))
    return fig


def satisfaction(frame: pd.DataFrame) -> go.Figure:
    """Per dimension: the top-2-box share (hidden below the minimum n) and the mean."""
    shares = [None if v is None or pd.isna(v) else round(float(v) * 100, 1) for v in frame["top2_share"]]
    dimensions = [chart_label(x) for x in frame["dimension"]]
    fig = go.Figure(go.Bar(x=dimensions, y=shares, name="满意占比（%）",
                           text=[f"{v:.0f}%" if v is not None else "样本不足" for v in shares], textposition="auto",
                           marker_color="#54a24b"))
    fig.add_scatter(x=dimensions, y=frame["mean"].round(2), name="平均分", yaxis="y2", mode="markers+text",
                    text=[f"{v:.2f}" if pd.notna(v) else "" for v in frame["mean"]], textposition="top center",
                    marker=dict(size=10, color="#4c78a8"), cliponaxis=False)
    fig.update_layout(title="各维度满意度（满意 + 非常满意）", **_LAYOUT, yaxis=dict(range=[0, 105]),
                      yaxis2=dict(overlaying="y", side="right", range=[0, 5.5], dtick=1, showgrid=False), xaxis=dict(type="category"))
    return fig
