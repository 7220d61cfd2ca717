"""The customers behind a bar or a cell: drill-down conditions, pages and export chunks, masked by
the reader (crm.auth)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator, Sequence

import pandas as pd

from crm.db import scalar
from crm.segments.labels import BEHAVIOURS, DIMENSIONS, LABELS, RFM_SEGMENTS, STAGES, VALUES, label_sql
from crm.segments.model import SegmentFilters, SegmentRun
from crm.segments.reasons import _MEMBER_COLS, _ranks, behaviour_labels, explain
from crm.segments.reports import _TAG_LISTS, _migration_source_sql, _tag_combo_sql

if TYPE_CHECKING:
    import duckdb

    from crm.auth.personal import PersonalData
    from crm.db import Archive

# ------------------------------------------------------------------ drill-down
@dataclass(frozen=True)
class Drill:
    """The customers behind one bar or cell: `kind` is a dimension, "rfm_cell", "combination" or "migration"."""
    kind: str
    labels: tuple[Any, ...]
    title: str
    other_run: int | None = None  # migration: the earlier run

    def sql(self, alias: str = "sm") -> tuple[str, list[Any]]:
        k, a = self.kind, alias
        if k in ("stage", "value", "rfm"):
            codes = [LABELS[k].index(x) for x in self.labels if x in LABELS[k]]
            return f"list_contains(?, {a}.{k})", [codes]
        if k == "behaviour":
            bits = sum(1 << BEHAVIOURS.index(x) for x in self.labels if x in BEHAVIOURS)
            return f"({a}.behaviour & ?) <> 0", [bits]
        if k in ("industry", "region", "owner"):
            return f"list_contains(?, {label_sql(k, a)})", [list(self.labels)]
        if k == "rfm_cell":
            cells = [f"{int(r)}-{int(f)}" for r, f in self.labels]
            return f"list_contains(?, {a}.r || '-' || {a}.f)", [cells]
        if k == "combination":
            return (f"{a}.customer_id IN (SELECT x.customer_id FROM segment_members x JOIN {_TAG_LISTS} tg "
                    f"ON tg.customer_id = x.customer_id WHERE x.run_id = {a}.run_id "
                    f"AND list_contains(?, {_tag_combo_sql('x', 'tg.tags')}))"), [list(self.labels)]
        if k.startswith("migration:"):
            _, source_dim, target_dim = k.split(":")
            parts, params = [], []
            for source, target in self.labels:
                parts.append(f"(coalesce({label_sql(target_dim, a)}, '（未评分）') = ? AND {a}.customer_id IN ("
                             f"SELECT b.customer_id FROM segment_members b LEFT JOIN segment_members p "
                             f"ON p.customer_id = b.customer_id AND p.run_id = ? "
                             f"WHERE b.run_id = {a}.run_id AND {_migration_source_sql(source_dim, 'p')} = ?))")
                params += [target, self.other_run, source]
            return "(" + " OR ".join(parts or ["FALSE"]) + ")", params
        raise ValueError(f"unknown drill-down {k!r}")

DRILL_COLUMNS = ["客户编号", "姓名", "分类原因", "需求阶段", "客户价值", "行为特征", "RFM", "近12个月收入", "负责人", "地区",
                 "行业", "标签", "公司"]


def drill_count(archive: "Archive", run: SegmentRun, filters: SegmentFilters, drill: Drill) -> int:
    where, params = filters.sql("sm")
    cond, cparams = drill.sql("sm")
    cur = archive.cursor()
    try:
        return int(scalar(cur, f"SELECT count(*) FROM segment_members sm WHERE sm.run_id = ? AND {where} AND {cond}",
                          [run.run_id, *params, *cparams]))
    finally:
        cur.close()


def _members(cur: "duckdb.DuckDBPyConnection", run: SegmentRun, filters: SegmentFilters, drill: Drill | None,
             limit: int | None, offset: int = 0) -> "duckdb.DuckDBPyConnection":
    where, params = filters.sql("sm")
    cond, cparams = drill.sql("sm") if drill else ("TRUE", [])
    sql = (f"SELECT {', '.join('sm.' + c for c in _MEMBER_COLS)} FROM segment_members sm "
           f"WHERE sm.run_id = ? AND {where} AND {cond} ORDER BY sm.revenue DESC, sm.customer_id")
    args = [run.run_id, *params, *cparams]
    if limit is not None:
        sql += " LIMIT ? OFFSET ?"
        args += [limit, offset]
    return cur.execute(sql, args)


def _display_row(m: dict[str, Any], run: SegmentRun, rank: int | None, focus: str | None,
                 name: Any, company: Any, tags: Sequence[str] | None) -> dict[str, Any]:
    segs = explain(m, run, rank)
    shown = [s for s in segs if s.dimension == focus] if focus else []
    if len(shown) == 1:
        reason = shown[0].reason  # its label is in the list's own column
    else:
        reason = "；".join(f"{s.label}：{s.reason}" for s in (shown or segs[:2]))
    return {
        "客户编号": m["customer_id"], "姓名": name, "公司": company,
        "负责人": m["owner"], "地区": m["region"], "行业": m["industry"], "标签": "、".join(tags or []),
        "需求阶段": STAGES[m["stage"]], "客户价值": VALUES[m["value"]],
        "行为特征": "、".join(behaviour_labels(m["behaviour"])),
        "RFM": RFM_SEGMENTS[int(m["rfm"])] if m["rfm"] is not None and not pd.isna(m["rfm"]) else None,
        "近12个月收入": round(float(m["revenue"]), 2), "分类原因": reason,
    }


def _drill_rows(reader: "PersonalData", run: SegmentRun, members: list[dict[str, Any]],
                cur: "duckdb.DuckDBPyConnection", focus: str | None) -> list[dict[str, Any]]:
    """A page of members → display rows: personal fields through PersonalData (masked for the actor), labels, reasons."""
    if not members:
        return []
    ids = [m["customer_id"] for m in members]
    # an IN list of the page's ids lets DuckDB look them up in the key indexes instead of scanning
    marks = ", ".join("?" * len(ids))
    people = {r[0]: r for r in reader.query("customers", ["customer_id", "name", "company"],
                                            where=f"t.customer_id IN ({marks})", params=ids, cur=cur)}
    tags = dict(cur.execute("SELECT customer_id, list_sort(list_distinct(list(tag))) FROM customer_tags "
                            f"WHERE customer_id IN ({marks}) GROUP BY customer_id", ids).fetchall())
    ranks = _ranks(cur, run, [m["customer_id"] for m in members if m["value"] == 0])
    out = []
    for m in members:
        person = people.get(m["customer_id"], (m["customer_id"], None, None))
        out.append(_display_row(m, run, ranks.get(m["customer_id"]), focus, person[1], person[2],
                                tags.get(m["customer_id"])))
    return out


_FOCUS = {"stage": "需求阶段", "value": "客户价值", "behaviour": "行为特征", "rfm": "RFM 分群", "rfm_cell": "RFM 分群",
          "combination": "客户价值"}  # which reason a drill-down list shows


def drill_page(reader: "PersonalData", run: SegmentRun, filters: SegmentFilters, drill: Drill | None,
               page: int = 0, page_size: int = 50) -> pd.DataFrame:
    """One page of the customers behind a bar (highest revenue first), masked for the reader, with reasons."""
    cur = reader.archive.cursor()
    try:
        res = _members(cur, run, filters, drill, page_size, page * page_size)
        members = [dict(zip(_MEMBER_COLS, r)) for r in res.fetchall()]
        focus = _FOCUS.get(drill.kind.split(":")[0] if drill else "", None)
        if drill and drill.kind.startswith("migration:"):
            focus = DIMENSIONS[drill.kind.split(":")[2]]
        rows = _drill_rows(reader, run, members, cur, focus)
    finally:
        cur.close()
    return pd.DataFrame(rows, columns=DRILL_COLUMNS)


def drill_chunks(reader: "PersonalData", run: SegmentRun, filters: SegmentFilters, drill: Drill | None,
                 chunk: int = 10_000) -> Iterator[list[tuple[Any, ...]]]:
    """Every customer behind a drill-down, in chunks of display rows (for an export), masked for the reader.

    One streamed query joins the members to their names (through PersonalData's select list and
    masking), tags and revenue ranks, so a list of any length costs one pass, not a lookup per chunk.
    """
    where, params = filters.sql("sm")
    cond, cparams = drill.sql("sm") if drill else ("TRUE", [])
    select, source = reader.select_sql("customers", ["name", "company"], alias="c")
    columns = [*_MEMBER_COLS, "tags", "rnk", "name", "company"]
    sql = f"""
        SELECT {', '.join('sm.' + c for c in _MEMBER_COLS)}, tg.tags, rk.rnk, {select}
        FROM segment_members sm
        LEFT JOIN {source} ON c.customer_id = sm.customer_id
        LEFT JOIN (SELECT customer_id, list_sort(list_distinct(list(tag))) AS tags FROM customer_tags
                   GROUP BY customer_id) tg ON tg.customer_id = sm.customer_id
        LEFT JOIN (SELECT customer_id, rank() OVER (ORDER BY revenue DESC) AS rnk FROM segment_members
                   WHERE run_id = ? AND value = 0) rk ON rk.customer_id = sm.customer_id
        WHERE sm.run_id = ? AND {where} AND {cond}
        ORDER BY sm.revenue DESC, sm.customer_id"""
    focus = _FOCUS.get(drill.kind.split(":")[0] if drill else "", None)
    if drill and drill.kind.startswith("migration:"):
        focus = DIMENSIONS[drill.kind.split(":")[2]]
    cur = reader.archive.cursor()
    try:
        res = cur.execute(sql, [run.run_id, run.run_id, *params, *cparams])
        while True:
            batch = res.fetchmany(chunk)
            if not batch:
                return
            out = []
            for row in reader.mask_rows("customers", columns, batch):
                m = dict(zip(columns, row))
                rank = int(m["rnk"]) if m["rnk"] is not None else None
                shown = _display_row(m, run, rank, focus, m["name"], m["company"], m["tags"])
                out.append(tuple(shown[c] for c in DRILL_COLUMNS))
            yield out
    finally:
        cur.close()
