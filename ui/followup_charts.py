"""Plotly figures of the 跟进队列 page (built here, beside the pages; crm/ stays UI-free)."""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go


def on_time_trend(frame: pd.DataFrame) -> go.Figure:
    """Weekly on-time completion: bars of follow-ups due, a line of the share done by their due day."""
    fig = go.Figure()
    weeks = [f"{w:%m-%d}" for w in frame["周"]]
    fig.add_bar(x=weeks, y=frame["到期"], name="到期", marker_color="#c9d7ea", yaxis="y2",
                hovertemplate="%{x} 当周到期 %{y} 项<extra></extra>")
    rates = [None if r is None or pd.isna(r) else round(float(r) * 100, 1) for r in frame["按期完成率"]]
    fig.add_scatter(x=weeks, y=rates, name="按期完成率", mode="lines+markers+text", line_color="#1f77b4",
                    text=[f"{r:.0f}%" if r is not None else "" for r in rates], textposition="top center",
                    cliponaxis=False, hovertemplate="%{x} 当周按期完成率 %{y}%<extra></extra>")
    fig.update_layout(
        height=340, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=1.0, yanchor="bottom"),
        yaxis=dict(title="按期完成率（%）", range=[0, 110], side="left"),
        yaxis2=dict(title="到期数", overlaying="y", side="right", showgrid=False, rangemode="tozero"),
        xaxis=dict(title="周（周一）", type="category"))
    return fig
