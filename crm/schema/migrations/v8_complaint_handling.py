"""Schema version 8: complaint handling after GB/T 19012 / ISO 10002.

A complaint gets its stage (已登记 → 已受理 / 不予受理 → 调查中 → 已处理 → 已回访 → 已关闭), a
counted root cause beside the free text, the policy deadline by urgency in working days, the day
each clock was first seen breached (once breached it stays breached), and a version for
concurrent changes; every stage change is an event with who, when and a note. The working-day
calendar the library does not know (a new year's holidays, a company's own days) is a table an
admin edits; root causes are an editable list.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb

CAUSES = ("产品质量", "交付延误", "服务态度", "价格争议", "安装调试", "包装破损", "信息沟通", "其他")


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    for name, sql_type in (("stage", "VARCHAR"), ("root_cause", "VARCHAR"), ("policy_deadline", "DATE"),
                           ("promise_breached_on", "DATE"), ("policy_breached_on", "DATE"),
                           ("registered_at", "TIMESTAMP"), ("registered_by", "VARCHAR"), ("version", "INTEGER DEFAULT 0")):
        cur.execute(f"ALTER TABLE complaints ADD COLUMN {name} {sql_type}")
    # Complaints filed before this version: their stage from what they carry.
    cur.execute("""
        UPDATE complaints SET version = 0, stage = CASE
            WHEN NOT accepted THEN '不予受理'
            WHEN resolved_on IS NOT NULL AND satisfaction IS NOT NULL THEN '已回访'
            WHEN resolved_on IS NOT NULL THEN '已处理'
            ELSE '已受理' END""")
    cur.execute("""
        CREATE TABLE complaint_events (
            id BIGINT DEFAULT nextval('row_id_seq'),
            complaint_id VARCHAR NOT NULL,
            occurred_at TIMESTAMP NOT NULL,
            user_name VARCHAR NOT NULL,
            from_stage VARCHAR,
            to_stage VARCHAR NOT NULL,
            note VARCHAR
        )""")
    cur.execute("ALTER TABLE follow_ups ADD COLUMN survey_id BIGINT")  # the low-scoring response it answers
    cur.execute("CREATE TABLE work_calendar (day DATE PRIMARY KEY, workday BOOLEAN NOT NULL, note VARCHAR)")
    cur.execute("CREATE TABLE complaint_causes (cause VARCHAR PRIMARY KEY, position INTEGER NOT NULL)")
    cur.executemany("INSERT INTO complaint_causes VALUES (?, ?)", [(c, i) for i, c in enumerate(CAUSES)])
