"""crm.segments: every classification rule at its boundary, on small hand-built archives whose
right answer is known by construction; snapshots, migrations, the classic tables, drill-downs,
thresholds as settings and exports."""
from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import openpyxl
import pytest

from crm import segments as S
from crm.auth.personal import Actor, PersonalData
from crm.auth.policy import PermissionDenied
from crm.customers.profile import load_profile
from crm.db import Archive, scalar
from crm.seed import seed_demo
from crm.segments.export import drill_xlsx, header_lines, tables_xlsx
from crm.settings import SegmentSettings, SettingError, reset_segment_setting, segment_settings, set_segment_setting

D = dt.date(2026, 11, 22)
day = dt.date.fromisoformat
ADMIN = Actor("admin", "管理员")


def build(archive: Archive, customers: dict[str, dict[str, Any]]) -> None:
    """id → {tx: [(kind, date, amount)], int: [dates], complaints: [dates], first_contact, last_interaction,
    industry, region, owner, name, tags}."""
    with archive.transaction() as tx:
        for n, (cid, c) in enumerate(customers.items()):
            tx.execute(
                "INSERT INTO customers (customer_id, name, first_contact, last_interaction, industry, region, owner) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [cid, c.get("name", cid), c.get("first_contact", "2024-01-01"), c.get("last_interaction"),
                 c.get("industry", "制造业"), c.get("region", "广东"), c.get("owner", "王磊")])
            for kind, date, amount in c.get("tx", []):
                tx.execute("INSERT INTO transactions (customer_id, kind, date, amount) VALUES (?, ?, ?, ?)",
                           [cid, kind, date, amount])
            for date in c.get("int", []):
                tx.execute("INSERT INTO interactions (customer_id, date, channel) VALUES (?, ?, '电话')", [cid, date])
            for i, date in enumerate(c.get("complaints", [])):
                tx.execute("INSERT INTO complaints (complaint_id, customer_id, date, kind, reason) "
                           "VALUES (?, ?, ?, '质量', '测试')", [f"TS{n:03d}{i}", cid, date])
            for tag in c.get("tags", []):
                tx.execute("INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)", [cid, tag])


def labels(archive: Archive, as_of: dt.date = D) -> dict[str, dict[str, Any]]:
    run = S.segment_run(archive, as_of)
    frame = S.labels_frame(archive, run)
    return {r["customer_id"]: r for r in frame.to_dict("records")}


def reasons(archive: Archive, cid: str, as_of: dt.date = D) -> dict[str, str]:
    run = S.segment_run(archive, as_of)
    return {s.label: s.reason for s in S.customer_segments(archive, run, cid)}


def with_settings(archive: Archive, **values: Any) -> None:
    for name, value in values.items():
        set_segment_setting(archive, ADMIN, name, value)


# ------------------------------------------------------------------ 需求阶段
def test_stage_at_its_boundaries(archive: Archive) -> None:
    build(archive, {
        "NEW_EXACTLY_3M": {"tx": [("购买", "2026-08-22", 100)]},  # D − 3 months: still new
        "OLD_3M_AND_A_DAY": {"tx": [("购买", "2026-08-21", 100), ("购买", "2026-11-01", 100)]},
        "CHURN_EXACTLY_6M": {"tx": [("购买", "2026-05-22", 100)]},  # nothing since D − 6 months: at risk
        "SAVED_BY_INTERACTION": {"tx": [("购买", "2025-01-01", 100)], "int": ["2026-05-23"]},
        "SAVED_BY_ENQUIRY": {"tx": [("购买", "2025-01-01", 100), ("咨询", "2026-05-23", None)]},
        "SAVED_BY_PROFILE_FIELD": {"tx": [("购买", "2025-01-01", 100)], "last_interaction": "2026-10-01"},
        "ENQUIRY_ONLY": {"tx": [("咨询", "2026-11-01", None)]},
        "RENEWAL_COUNTS": {"tx": [("续约", "2026-10-01", 100)]},
        "BUYS_AFTER_D": {"tx": [("购买", "2026-12-01", 100)]},
        "NOTHING": {},
    })
    got = {k: v["stage"] for k, v in labels(archive).items()}
    assert got == {
        "NEW_EXACTLY_3M": "新成交客户", "OLD_3M_AND_A_DAY": "老客户", "CHURN_EXACTLY_6M": "流失风险客户",
        "SAVED_BY_INTERACTION": "老客户", "SAVED_BY_ENQUIRY": "老客户", "SAVED_BY_PROFILE_FIELD": "老客户",
        "ENQUIRY_ONLY": "潜在客户", "RENEWAL_COUNTS": "新成交客户", "BUYS_AFTER_D": "潜在客户", "NOTHING": "潜在客户",
    }
    why = reasons(archive, "NEW_EXACTLY_3M")["新成交客户"]
    assert "2026-08-22" in why and "92 天" in why and "3 个月" in why
    why = reasons(archive, "CHURN_EXACTLY_6M")["流失风险客户"]
    assert "2026-05-22" in why and "184 天" in why and "6 个月" in why
    # one day earlier the churn customer was still within six months; before its first purchase, a prospect
    earlier = labels(archive, D - dt.timedelta(days=1))
    assert earlier["CHURN_EXACTLY_6M"]["stage"] == "老客户" and earlier["NEW_EXACTLY_3M"]["stage"] == "新成交客户"
    assert labels(archive, day("2026-08-21"))["NEW_EXACTLY_3M"]["stage"] == "潜在客户"


def test_a_customer_not_yet_on_file_is_not_classified(archive: Archive) -> None:
    build(archive, {
        "FILED_LATER": {"first_contact": "2026-12-01"},
        "FIRST_RECORD_LATER": {"first_contact": None, "tx": [("购买", "2026-12-05", 10)]},
        "RECORD_BEFORE_FILING": {"first_contact": "2026-12-01", "tx": [("购买", "2026-10-05", 10)]},
        "FILED": {"first_contact": "2026-11-22"},
    })
    with archive.transaction() as tx:  # with no first-contact date, the day it was filed counts
        tx.execute("UPDATE customers SET created_at = TIMESTAMP '2026-12-05 10:00:00' WHERE customer_id = 'FIRST_RECORD_LATER'")
    assert set(labels(archive)) == {"RECORD_BEFORE_FILING", "FILED"}
    assert set(labels(archive, day("2026-12-31"))) == {"FILED_LATER", "FIRST_RECORD_LATER", "RECORD_BEFORE_FILING", "FILED"}


# ------------------------------------------------------------------ 客户价值
def test_the_50000_floor(archive: Archive) -> None:
    with_settings(archive, high_value_top_percent=0)  # the floor alone
    build(archive, {
        "AT_FLOOR": {"tx": [("购买", "2026-03-01", 30000), ("续约", "2026-04-01", 20000)]},
        "CENT_BELOW": {"tx": [("购买", "2026-03-01", 49999.99)]},
        "NET_OF_RETURN": {"tx": [("购买", "2026-03-01", 50100), ("退货", "2026-04-01", 200)]},  # entered positive
        "OUTSIDE_12M": {"tx": [("购买", "2025-11-22", 90000), ("购买", "2026-03-01", 100)]},  # D − 12 months: out
        "INSIDE_12M": {"tx": [("购买", "2025-11-23", 50000)]},
        "MANY_SMALL": {"tx": [("购买", f"2026-0{m}-1{m}", 0.1) for m in range(1, 4)]
                       + [("购买", "2026-06-01", 49999.70)]},  # 49,999.70 + 0.30 = exactly 50,000 in cents
    })
    got = {k: v["value"] for k, v in labels(archive).items()}
    assert got["AT_FLOOR"] == "高价值" and got["INSIDE_12M"] == "高价值" and got["MANY_SMALL"] == "高价值"
    assert got["CENT_BELOW"] != "高价值" and got["NET_OF_RETURN"] != "高价值" and got["OUTSIDE_12M"] != "高价值"
    why = reasons(archive, "AT_FLOOR")["高价值"]
    assert "¥50,000" in why and "12 个月" in why
    with_settings(archive, high_value_floor=49_999.99)  # a setting: no restart, the next run follows it
    assert labels(archive)["CENT_BELOW"]["value"] == "高价值"


def test_the_top_ten_percent_cut_with_ties(archive: Archive) -> None:
    # 20 customers: 10% is 2 places; one ahead, then three tied on the second place: all four are in
    spend = [1000, 900, 900, 900, 800, 700, 600, 500, 400, 300, 200, 100, 90, 80, 70, 60, 50, 40, 30, 20]
    build(archive, {f"C{i:02d}": {"tx": [("购买", "2026-01-10", amount)]} for i, amount in enumerate(spend)})
    got = labels(archive)
    high = sorted(k for k, v in got.items() if v["value"] == "高价值")
    assert high == ["C00", "C01", "C02", "C03"]
    why = reasons(archive, "C02")["高价值"]
    assert "第 2/20 名" in why and "位列前 10%" in why and "¥900" in why
    # at 5% (one place) the tie on the second place is out: one customer earns more than each of them
    with_settings(archive, high_value_top_percent=5)
    assert sorted(k for k, v in labels(archive).items() if v["value"] == "高价值") == ["C00"]


def test_rising_median_and_the_value_order(archive: Archive) -> None:
    build(archive, {
        "RISING": {"tx": [("购买", "2026-07-01", 1000), ("购买", "2026-11-01", 1500)]},  # 1.5 × exactly
        "NOT_QUITE": {"tx": [("购买", "2026-07-01", 1000), ("购买", "2026-11-01", 1499.99)]},
        "FIRST_RECENT": {"tx": [("购买", "2026-11-01", 10)]},  # nothing before: any recent revenue is a rise
        "MID": {"tx": [("购买", "2026-02-01", 3000)]},
        "LOW": {"tx": [("购买", "2026-02-01", 100)]},
        "P1": {}, "P2": {}, "P3": {}, "P4": {}, "P5": {}, "P6": {},  # prospects count as 0 for the median
    })
    with_settings(archive, high_value_top_percent=0)
    got = {k: v["value"] for k, v in labels(archive).items()}
    assert got["RISING"] == "潜力客户" and got["FIRST_RECENT"] == "潜力客户"
    # median of [2499.99, 2500, 10, 3000, 100, 0×6] is 0 → anything above it is 中价值
    assert got["NOT_QUITE"] == "中价值" and got["MID"] == "中价值" and got["LOW"] == "中价值" and got["P1"] == "低价值"
    why = reasons(archive, "RISING")["潜力客户"]
    assert "¥1,500" in why and "¥1,000" in why and "1.5 倍" in why


# ------------------------------------------------------------------ 行为特征
def test_three_interactions_in_thirty_days(archive: Archive) -> None:
    build(archive, {
        "THREE_INSIDE": {"int": ["2026-10-24", "2026-11-10", "2026-11-22"]},  # D − 29 days is inside
        "ONE_ON_THE_EDGE": {"int": ["2026-10-23", "2026-11-10", "2026-11-22"]},  # D − 30 days is outside
        "AFTER_D": {"int": ["2026-11-10", "2026-11-20", "2026-11-23"]},
    })
    got = {k: v["behaviours"] for k, v in labels(archive).items()}
    assert "高频互动" in got["THREE_INSIDE"]
    assert "高频互动" not in got["ONE_ON_THE_EDGE"] and "高频互动" not in got["AFTER_D"]
    assert "近 30 天互动 3 次" in reasons(archive, "THREE_INSIDE")["高频互动"]


def test_sleeping_at_exactly_three_months(archive: Archive) -> None:
    build(archive, {
        "SLEEPS": {"int": ["2026-08-22"]},  # D − 3 months
        "AWAKE": {"int": ["2026-08-23"]},
        "PROFILE_FIELD_AWAKE": {"int": ["2026-01-01"], "last_interaction": "2026-10-01"},
        "NEVER_CONTACTED_OLD": {"first_contact": "2026-08-22"},
        "NEVER_CONTACTED_NEW": {"first_contact": "2026-08-23"},
        "BOUGHT_LAST_MONTH": {"int": ["2026-01-01"], "tx": [("购买", "2026-10-22", 500)]},
    })
    got = {k: "沉睡客户" in v["behaviours"] for k, v in labels(archive).items()}
    assert got == {"SLEEPS": True, "AWAKE": False, "PROFILE_FIELD_AWAKE": False, "NEVER_CONTACTED_OLD": True,
                   "NEVER_CONTACTED_NEW": False, "BOUGHT_LAST_MONTH": False}
    why = reasons(archive, "SLEEPS")["沉睡客户"]
    assert "2026-08-22" in why and "92 天" in why


def test_complaint_within_twelve_months(archive: Archive) -> None:
    build(archive, {
        "REGISTERED": {"complaints": ["2025-11-23"]},
        "TOO_OLD": {"complaints": ["2025-11-22"]},
        "AS_TRANSACTION": {"tx": [("投诉", "2026-06-01", None)]},
        "AFTER_D": {"complaints": ["2026-11-23"]},
    })
    got = {k: "投诉客户" in v["behaviours"] for k, v in labels(archive).items()}
    assert got == {"REGISTERED": True, "TOO_OLD": False, "AS_TRANSACTION": True, "AFTER_D": False}
    assert "2025-11-23" in reasons(archive, "REGISTERED")["投诉客户"]


def test_a_customer_in_several_segments_at_once(archive: Archive) -> None:
    others = {f"O{i}": {"tx": [("购买", "2025-06-01", 10 * (i + 1))]} for i in range(8)}
    build(archive, {
        "BUSY": {"tx": [("购买", "2025-01-10", 60000), ("购买", "2026-10-01", 30000), ("购买", "2026-11-01", 30000)],
                 "int": ["2026-11-01", "2026-11-10", "2026-11-20"], "complaints": ["2026-09-01"],
                 "industry": "制造业", "tags": ["紧急需求", "VIP"]},
        **others,
    })
    got = labels(archive)["BUSY"]
    assert (got["stage"], got["value"], got["rfm"]) == ("老客户", "高价值", "重要价值")
    assert set(got["behaviours"]) == {"高频互动", "投诉客户"}
    why = reasons(archive, "BUSY")
    assert {"老客户", "高价值", "高频互动", "投诉客户", "重要价值", "制造业", "广东"} <= set(why)
    assert all(why.values())
    run = S.segment_run(archive, D)
    combos = S.tag_combinations(archive, run)
    assert combos.to_dict("records") == [{"combination": "制造业-高价值-VIP-紧急需求", "customers": 1, "revenue": 60000.0}]


# ------------------------------------------------------------------ RFM
def test_rfm_needs_enough_buyers_for_quintiles(archive: Archive) -> None:
    build(archive, {f"B{i}": {"tx": [("购买", f"2026-0{i + 1}-15", 100 * (i + 1))]} for i in range(4)} | {"P": {}})
    got = labels(archive)
    assert all(v["rfm"] is None or v["rfm"] != v["rfm"] for v in got.values())  # None / NaN: not scored
    run = S.segment_run(archive, D)
    assert not run.rfm_scored and run.stats["buyers"] == 4
    assert "仅 4 位" in reasons(archive, "B0")["未评分"]
    assert S.rfm_grid(archive, run).empty


def test_rfm_scores_and_the_eight_segments(archive: Archive) -> None:
    # five buyers, strictly ordered on all three measures: each gets one score 1–5 on R, F and M
    build(archive, {f"B{i}": {"tx": [("购买", f"2026-0{i + 1}-15", 100 * (i + 1))] * (i + 1)} for i in range(5)}
          | {"P": {}})
    got = labels(archive)
    assert [(got[f"B{i}"]["r"], got[f"B{i}"]["f"], got[f"B{i}"]["m"]) for i in range(5)] == [
        (1, 1, 1), (2, 2, 2), (3, 3, 3), (4, 4, 4), (5, 5, 5)]
    # average score 3: above it (4, 5) is 高 on all three → 重要价值; 1–3 → 一般挽留
    assert [got[f"B{i}"]["rfm"] for i in range(5)] == ["一般挽留"] * 3 + ["重要价值"] * 2
    assert got["P"]["rfm"] is None or got["P"]["rfm"] != got["P"]["rfm"]
    why = reasons(archive, "B4")["重要价值"]
    assert "R 5 分" in why and "F 5 分" in why and "M 5 分" in why and "购买 5 次" in why


def test_rfm_mixed_segments_and_ties(archive: Archive) -> None:
    # R from the date, F from the count, M from the amount, chosen independently
    spec = {
        "RECENT_BIG_ONCE": ("2026-11-20", 1, 9000),  # near, rare, big → 重要发展
        "OLD_BIG_OFTEN": ("2026-02-01", 6, 2000),  # far, often, big → 重要保持
        "OLD_BIG_ONCE": ("2026-01-01", 1, 9500),  # far, rare, big → 重要挽留
        "RECENT_SMALL_OFTEN": ("2026-11-21", 7, 10),  # near, often, small → 一般价值
        "RECENT_SMALL_ONCE": ("2026-11-19", 1, 20),  # near, rare, small → 一般发展
        "OLD_SMALL_OFTEN": ("2026-01-15", 5, 5),  # far, often, small → 一般保持
        "TWIN_A": ("2026-03-01", 2, 50), "TWIN_B": ("2026-03-01", 2, 50),  # equal values score alike
    }
    build(archive, {cid: {"tx": [("购买", date, amount / n)] * n} for cid, (date, n, amount) in spec.items()})
    got = labels(archive)
    assert {k: got[k]["rfm"] for k in spec if not k.startswith("TWIN")} == {
        "RECENT_BIG_ONCE": "重要发展", "OLD_BIG_OFTEN": "重要保持", "OLD_BIG_ONCE": "重要挽留",
        "RECENT_SMALL_OFTEN": "一般价值", "RECENT_SMALL_ONCE": "一般发展", "OLD_SMALL_OFTEN": "一般保持",
    }
    assert (got["TWIN_A"]["r"], got["TWIN_A"]["f"], got["TWIN_A"]["m"]) == (got["TWIN_B"]["r"], got["TWIN_B"]["f"],
                                                                             got["TWIN_B"]["m"])


# ------------------------------------------------------------------ settings
def test_thresholds_are_settings_in_the_archive(archive: Archive) -> None:
    build(archive, {"A": {"tx": [("购买", "2026-07-01", 100)]}})
    first = S.segment_run(archive, D)
    assert labels(archive)["A"]["stage"] == "老客户"
    old, new = set_segment_setting(archive, ADMIN, "new_customer_months", 6)
    assert (old, new) == (3, 6) and segment_settings(archive).new_customer_months == 6
    second = S.segment_run(archive, D)
    assert second.run_id != first.run_id and second.computed
    assert labels(archive)["A"]["stage"] == "新成交客户"
    assert "6 个月内" in reasons(archive, "A")["新成交客户"]
    cur = archive.cursor()
    try:
        detail = json.loads(scalar(cur, "SELECT detail FROM audit_log WHERE action = 'setting' ORDER BY id DESC LIMIT 1"))
    finally:
        cur.close()
    assert detail == {"old": 3, "new": 6}
    reset_segment_setting(archive, ADMIN, "new_customer_months")
    assert segment_settings(archive) == SegmentSettings()
    with pytest.raises(PermissionDenied):
        set_segment_setting(archive, Actor("李娜", "销售"), "new_customer_months", 4)
    with pytest.raises(SettingError):
        set_segment_setting(archive, ADMIN, "new_customer_months", 2.5)
    with pytest.raises(SettingError):
        set_segment_setting(archive, ADMIN, "high_value_floor", "很多")
    with pytest.raises(SettingError):
        set_segment_setting(archive, ADMIN, "no_such_threshold", 1)


def test_an_unreadable_stored_value_falls_back_to_the_default(archive: Archive) -> None:
    with archive.transaction() as tx:
        tx.execute("INSERT INTO settings VALUES ('segments.churn_risk_months', 'six')")
        tx.execute("INSERT INTO settings VALUES ('segments.sleeping_months', '4')")
    got = segment_settings(archive)
    assert got.churn_risk_months == 6 and got.sleeping_months == 4


# ------------------------------------------------------------------ history, cache and migrations
def test_month_end_snapshots_are_cached_and_follow_the_data(archive: Archive) -> None:
    build(archive, {
        "A": {"tx": [("购买", "2026-05-10", 100)], "first_contact": "2026-01-01"},
        "B": {"tx": [("购买", "2026-10-10", 100)], "first_contact": "2026-07-15"},
    })
    snap = S.snapshot(archive, day("2026-08-15"))
    assert snap.as_of == day("2026-08-31") and snap.month_end and snap.computed
    again = S.snapshot(archive, day("2026-08-31"))
    assert again.run_id == snap.run_id and not again.computed  # from the archive
    past = labels(archive, day("2026-08-31"))
    assert past["A"]["stage"] == "老客户" and past["B"]["stage"] == "潜在客户"
    # a later import of history changes the data version: the snapshot is recomputed, not reused
    with archive.transaction() as tx:
        tx.execute("INSERT INTO transactions (customer_id, kind, date, amount) VALUES ('B', '购买', '2026-08-01', 50)")
    redone = S.snapshot(archive, day("2026-08-31"))
    assert redone.run_id != snap.run_id and redone.computed
    assert labels(archive, day("2026-08-31"))["B"]["stage"] == "新成交客户"
    cur = archive.cursor()
    try:  # the stale run was dropped with its members
        assert scalar(cur, "SELECT count(*) FROM segment_runs WHERE run_id = ?", [snap.run_id]) == 0
        assert scalar(cur, "SELECT count(*) FROM segment_members WHERE run_id = ?", [snap.run_id]) == 0
    finally:
        cur.close()


def test_the_cache_follows_data_changes_not_reads(archive: Archive) -> None:
    build(archive, {"A": {"tx": [("购买", "2026-05-10", 100)]}, "B": {}})
    first = S.segment_run(archive, D)
    # an export and a follow-up are audited, but change nothing the rules read: the run is reused
    tables_xlsx(archive, ADMIN, "客户区域分析表", [("t", S.region_table(archive, first))], ["x"])
    with archive.transaction() as tx:
        tx.execute("INSERT INTO follow_ups (customer_id, due) VALUES ('A', '2026-12-01')")
    assert S.segment_run(archive, D).run_id == first.run_id
    # an edit of a customer (which sets updated_at) is a change
    with archive.transaction() as tx:
        tx.execute("UPDATE customers SET region = '浙江', updated_at = current_timestamp + INTERVAL 1 SECOND "
                   "WHERE customer_id = 'B'")
    second = S.segment_run(archive, D)
    assert second.run_id != first.run_id
    assert S.region_table(archive, second).set_index("地区").loc["浙江", "客户数"] == 1
    # an import that only updates rows in place is seen through its batch
    with archive.transaction() as tx:
        tx.execute("INSERT INTO import_batches (batch_id, file, template, user_name) VALUES (99, 'x.xlsx', 'T2', 'cli')")
    assert S.segment_run(archive, D).run_id != second.run_id


def test_non_month_end_runs_are_a_bounded_cache(archive: Archive) -> None:
    build(archive, {"A": {"tx": [("购买", "2026-05-10", 100)]}})
    for i in range(S.MAX_ADHOC_RUNS + 3):
        S.segment_run(archive, D - dt.timedelta(days=i))
    S.snapshot(archive, day("2026-06-30"))
    cur = archive.cursor()
    try:
        assert scalar(cur, "SELECT count(*) FROM segment_runs WHERE NOT month_end") == S.MAX_ADHOC_RUNS
        assert scalar(cur, "SELECT count(*) FROM segment_runs WHERE month_end") == 1  # 06-30, kept
    finally:
        cur.close()


def test_migration_between_two_month_ends(archive: Archive) -> None:
    build(archive, {
        "STAYS_OLD": {"tx": [("购买", "2026-01-05", 10), ("购买", "2026-10-05", 10)]},
        "LAPSES": {"tx": [("购买", "2026-01-05", 10)], "first_contact": "2025-12-01"},
        "NEW_SINCE": {"tx": [("购买", "2026-10-05", 10)], "first_contact": "2026-06-01"},
        "FILED_SINCE": {"first_contact": "2026-10-01"},
    })
    before = S.snapshot(archive, day("2026-06-30"))
    after = S.snapshot(archive, day("2026-10-31"))
    frame = S.migration(archive, before, after, "stage")
    got = {(s, t): n for s, t, n in frame.itertuples(index=False)}
    assert got == {("老客户", "老客户"): 1, ("老客户", "流失风险客户"): 1, ("潜在客户", "新成交客户"): 1,
                   (S.NOT_FILED, "潜在客户"): 1}
    drill = S.Drill("migration:stage:stage", (("老客户", "流失风险客户"),), "", before.run_id)
    assert S.drill_count(archive, after, S.SegmentFilters(), drill) == 1
    reader = PersonalData(archive, ADMIN)
    assert list(S.drill_page(reader, after, S.SegmentFilters(), drill)["客户编号"]) == ["LAPSES"]
    cross = S.migration(archive, before, after, "value", target_dimension="stage")
    assert int(cross["customers"].sum()) == 4


# ------------------------------------------------------------------ the classic tables
def test_growth_table_adds_up(archive: Archive) -> None:
    build(archive, {
        "ACTIVE": {"tx": [("购买", "2026-06-05", 100), ("购买", "2026-11-05", 300)]},
        "NEW_IN_PERIOD": {"tx": [("购买", "2026-11-01", 500)], "first_contact": "2026-10-01"},
        "LOST_IN_PERIOD": {"tx": [("购买", "2026-05-01", 100)]},  # lapses on 2026-11-01
        "BACK_IN_PERIOD": {"tx": [("购买", "2025-01-01", 100), ("购买", "2026-11-10", 200)]},
        "PROSPECT": {},
    })
    table = S.growth_table(archive, D, 1).set_index("期间")
    now = table.loc["本期"]
    assert (now["期初客户数"], now["本期新增"], now["本期回流"], now["本期流失"], now["期末客户数"]) == (2, 1, 1, 1, 3)
    assert now["期末客户数"] == now["期初客户数"] + now["本期新增"] + now["本期回流"] - now["本期流失"]
    assert (now["老客户收入"], now["新客户收入"], now["收入合计"]) == (500.0, 500.0, 1000.0)
    assert table.loc["增减", "期末客户数"] == now["期末客户数"] - table.loc["上期", "期末客户数"]


def test_tables_and_charts_agree_on_a_seeded_archive(archive: Archive) -> None:
    seed_demo(archive, customers=1500, seed=5, today=D)
    run = S.segment_run(archive, D)
    ov = S.overview(archive, run)
    total = int(ov.loc[ov.dimension == "total", "customers"].iloc[0])
    assert total == run.customers == 1500
    for dim in ("stage", "value", "industry", "region"):
        assert int(ov.loc[ov.dimension == dim, "customers"].sum()) == total, dim
    assert int(ov.loc[ov.dimension == "rfm", "customers"].sum()) == run.stats["buyers"]
    for dim, labs in (("stage", S.STAGES), ("value", S.VALUES), ("behaviour", S.BEHAVIOURS), ("rfm", S.RFM_SEGMENTS)):
        part = ov[ov.dimension == dim].set_index("label")["customers"]
        assert all(part[x] > 0 for x in labs), (dim, part.to_dict())  # the seed populates every segment
    region = S.region_table(archive, run)
    assert region.iloc[-1]["地区"] == "合计" and region.iloc[-1]["客户数"] == total
    assert region.iloc[:-1]["客户占比"].sum() == pytest.approx(1.0)
    assert region.iloc[:-1]["收入占比"].sum() == pytest.approx(1.0)
    for months in S.GROWTH_PERIODS:
        for _, row in S.growth_table(archive, D, months).iloc[:2].iterrows():
            assert row["期末客户数"] == row["期初客户数"] + row["本期新增"] + row["本期回流"] - row["本期流失"]
    # a filter narrows every figure consistently
    f = S.SegmentFilters(region="广东", tag="VIP")
    narrowed = S.overview(archive, run, f)
    n = int(narrowed.loc[narrowed.dimension == "total", "customers"].iloc[0])
    cur = archive.cursor()
    try:
        expected = scalar(cur, "SELECT count(*) FROM customers c WHERE region = '广东' AND customer_id IN "
                               "(SELECT customer_id FROM customer_tags WHERE tag = 'VIP')")
    finally:
        cur.close()
    assert 0 < n == expected < total
    drill = S.Drill("value", ("高价值",), "")
    assert S.drill_count(archive, run, f, drill) == int(
        narrowed.loc[(narrowed.dimension == "value") & (narrowed.label == "高价值"), "customers"].iloc[0])


def test_the_profile_agrees_with_the_engine(archive: Archive) -> None:
    """The 客户360 profile decides stage and (where a customer's own figures decide it) value by the
    same rules: on a seeded archive every profile says what the engine says."""
    seed_demo(archive, customers=300, seed=11, today=D)
    mine = labels(archive)
    reader = PersonalData(archive, ADMIN)
    for cid in sorted(mine)[::5]:
        got = {seg.dimension: seg.label for seg in load_profile(reader, cid, as_of=D).segments}
        assert got["需求阶段"] == mine[cid]["stage"], cid
        if "客户价值" in got:  # 高价值 by the floor, or 潜力客户 (a rank-only 高价值 outranks it)
            assert got["客户价值"] == mine[cid]["value"] or mine[cid]["value"] == "高价值", cid


@pytest.mark.parametrize("n,seats", [(30, 3), (25, 3), (10, 1), (9, 1)])
def test_top_ten_percent_seats(archive: Archive, n: int, seats: int) -> None:
    """30 × 10% is 3 exactly (not 4 by float rounding); 25 gives 3: the third has only 8% above it."""
    build(archive, {f"R{i:02d}": {"tx": [("购买", "2026-03-01", 100 * i)]} for i in range(1, n + 1)})
    high = sorted(c for c, v in labels(archive).items() if v["value"] == "高价值")
    assert high == [f"R{i:02d}" for i in range(n - seats + 1, n + 1)]


# ------------------------------------------------------------------ drill-down and privacy
def test_drill_down_lists_are_masked_for_the_reader(archive: Archive) -> None:
    build(archive, {
        "MINE": {"name": "张小明", "owner": "李娜", "tx": [("购买", "2026-11-01", 100)]},
        "THEIRS": {"name": "王大力", "owner": "王磊", "tx": [("购买", "2026-11-02", 200)]},
    })
    run = S.segment_run(archive, D)
    drill = S.Drill("stage", ("新成交客户",), "需求阶段：新成交客户")
    sales = PersonalData(archive, Actor("李娜", "销售"))
    rows = {r["客户编号"]: r for r in S.drill_page(sales, run, S.SegmentFilters(), drill).to_dict("records")}
    assert rows["MINE"]["姓名"] == "张小明" and rows["THEIRS"]["姓名"] == "王*力"
    assert "首次购买 2026-11-02" in rows["THEIRS"]["分类原因"]
    viewer = PersonalData(archive, Actor("guest", "只读"))
    names = set(S.drill_page(viewer, run, S.SegmentFilters(), drill)["姓名"])
    assert names == {"张*明", "王*力"}


def test_exports_carry_the_filters_are_formula_safe_and_audited(archive: Archive) -> None:
    build(archive, {"EVIL": {"name": "=HYPERLINK(\"http://x\")", "tx": [("购买", "2026-11-01", 100)]},
                    "OK": {"name": "李四", "region": "浙江", "tx": [("购买", "2026-11-01", 100)]}})
    run = S.segment_run(archive, D)
    f = S.SegmentFilters(region="广东")
    reader = PersonalData(archive, ADMIN)
    drill = S.Drill("stage", ("新成交客户",), "需求阶段：新成交客户")
    lines = header_lines("客户明细", D, f, ADMIN, ["明细：需求阶段：新成交客户"])
    wb = openpyxl.load_workbook(io.BytesIO(drill_xlsx(reader, run, f, drill, lines)))
    ws = wb.active
    cells = [c.value for c in ws["A"]]
    assert cells[0] == "报表：客户明细" and cells[1] == "截至日期：2026-11-22"
    assert "地区：广东" in cells[2] and "负责人：全部" in cells[2]
    header_row = next(i for i, v in enumerate(cells, 1) if v == "客户编号")
    names = [c.value for c in ws[f"B{header_row + 1}":f"B{ws.max_row}"][0]]
    assert names == ["'=HYPERLINK(\"http://x\")"]  # the formula is neutralised, 浙江 is filtered out
    region = S.region_table(archive, run, f)
    wb = openpyxl.load_workbook(io.BytesIO(tables_xlsx(archive, ADMIN, "客户区域分析表", [("客户区域分析表", region)],
                                                       header_lines("客户区域分析表", D, f, ADMIN))))
    assert "地区：广东" in wb.active["A3"].value
    cur = archive.cursor()
    try:
        logged = cur.execute("SELECT entity_id FROM audit_log WHERE action = 'export' AND entity = 'segments' "
                             "ORDER BY id").fetchall()
    finally:
        cur.close()
    assert [x for (x,) in logged] == ["客户明细", "客户区域分析表"]


def test_an_empty_archive_gives_an_empty_run(archive: Archive) -> None:
    run = S.segment_run(archive, D)
    assert run.customers == 0 and not run.rfm_scored
    ov = S.overview(archive, run)
    assert int(ov.loc[ov.dimension == "total", "customers"].iloc[0]) == 0
    assert S.tag_combinations(archive, run).empty and S.rfm_grid(archive, run).empty
    assert list(S.region_table(archive, run)["地区"]) == ["合计"]
    assert S.growth_table(archive, D, 3)["期末客户数"].tolist()[:2] == [0, 0]


def test_dates() -> None:
    assert S.months_before(day("2026-03-31"), 1) == day("2026-02-28")
    assert S.last_month_end(day("2026-11-22")) == day("2026-10-31")
    assert S.last_month_end(day("2026-10-31")) == day("2026-10-31")
    assert S.quarter_end_before(day("2026-11-22")) == day("2026-09-30")
    assert S.quarter_end_before(day("2026-01-01")) == day("2025-12-31")
    assert S.month_ends(day("2026-02-10"), 3) == [day("2026-01-31"), day("2025-12-31"), day("2025-11-30")]


# ------------------------------------------------------------------ the two ways of reading the records
def _facts(archive: Archive, as_of: dt.date, from_summary: bool) -> list[tuple]:
    sql, params = S.facts_sql(as_of, segment_settings(archive), from_summary=from_summary)
    cur = archive.cursor()
    try:
        return cur.execute(f"SELECT * FROM ({sql}) ORDER BY customer_id", params).fetchall()
    finally:
        cur.close()


@pytest.mark.parametrize("as_of", [D, D + dt.timedelta(days=9), S.month_end(D), dt.date(2027, 3, 31)])
def test_figures_from_the_activity_summary_equal_those_from_every_record(archive: Archive, as_of: dt.date) -> None:
    seed_demo(archive, customers=400, seed=11, today=D)
    full = _facts(archive, as_of, from_summary=False)
    assert len(full) == 400 and any(r[5] is not None for r in full)
    assert _facts(archive, as_of, from_summary=True) == full


def test_a_date_before_the_newest_record_is_computed_from_the_records(archive: Archive) -> None:
    """The summary knows only the last dates ever: as of an earlier day the run reads every record."""
    build(archive, {"A": {"tx": [("购买", "2026-01-10", 100), ("购买", "2026-11-20", 100)]},
                    "B": {"tx": [("购买", "2026-11-01", 100)], "int": ["2026-11-21"]}})
    run = S.compute_run(archive, day("2026-06-30"))
    cur = archive.cursor()
    got = cur.execute("SELECT customer_id, stage, first_buy, last_buy, last_contact, last_interaction "
                      "FROM segment_members WHERE run_id = ? ORDER BY 1", [run.run_id]).fetchall()
    cur.close()
    assert got == [("A", 2, day("2026-01-10"), day("2026-01-10"), day("2026-01-10"), None),
                   ("B", 0, None, None, None, None)]


# ------------------------------------------------------------------ computing ahead of the page
def test_page_dates_are_today_and_last_quarter_end() -> None:
    assert S.page_dates(D) == [D, day("2026-09-30")]
    assert S.page_dates(day("2026-09-30")) == [day("2026-09-30"), day("2026-06-30")]


def test_warming_leaves_the_page_runs_cached(archive: Archive) -> None:
    seed_demo(archive, customers=200, seed=4, today=D)
    first = S.warm(archive, D)
    assert [r.as_of for r in first] == S.page_dates(D) and all(r.computed for r in first)
    assert not any(r.computed for r in S.warm(archive, D))


def test_warming_in_the_background_runs_once_per_archive_and_can_be_switched_off(
        archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_demo(archive, customers=200, seed=4, today=D)
    monkeypatch.setenv(S.WARM_SWITCH, "0")
    assert S.warm_in_background(archive, D) is None
    monkeypatch.setenv(S.WARM_SWITCH, "1")
    thread = S.warm_in_background(archive, D)
    assert thread is not None
    assert S.warm_in_background(archive, D) is thread  # asked again while at work: the same warmer goes round again
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert all(not S.segment_run(archive, d).computed for d in S.page_dates(D))


def test_after_an_edit_only_today_is_warmed(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_demo(archive, customers=150, seed=4, today=D)
    monkeypatch.setenv(S.WARM_SWITCH, "1")
    assert [r.as_of for r in S.warm(archive, D, today_only=True)] == [D]
    S.clear_cache(archive)
    thread = S.warm_in_background(archive, D, today_only=True)
    thread.join(timeout=60)
    cur = archive.cursor()
    assert cur.execute("SELECT list(as_of) FROM segment_runs").fetchall()[0][0] == [D]
    cur.close()


def test_the_profile_shows_value_and_rfm_from_a_computed_run(archive: Archive) -> None:
    seed_demo(archive, customers=200, seed=8, today=D)
    reader = PersonalData(archive, ADMIN)

    def profile_labels(cid: str) -> dict[str, str]:
        return {seg.dimension: seg.label for seg in load_profile(reader, cid, as_of=D).segments}

    assert S.cached_run(archive, D) is None
    mine = labels(archive)  # computes the run
    middle = next(cid for cid, v in sorted(mine.items()) if v["value"] == "中价值" and v["rfm"])
    got = profile_labels(middle)
    assert got["客户价值"] == "中价值" and got["RFM 分群"] == mine[middle]["rfm"]
    assert got["需求阶段"] == mine[middle]["stage"]
    S.clear_cache(archive)
    assert "RFM 分群" not in profile_labels(middle) and "客户价值" not in profile_labels(middle)


@pytest.mark.parametrize("customers,top", [(57, 10), (120, 10), (333, 7.5), (200, 1)])
def test_the_high_value_cut_is_the_kth_largest_revenue(archive: Archive, customers: int, top: float) -> None:
    """The cut comes from a quantile in one pass; whatever the count, it is exactly the k-th largest."""
    seed_demo(archive, customers=customers, seed=customers, today=D)
    set_segment_setting(archive, ADMIN, "high_value_top_percent", top)
    run = S.segment_run(archive, D)
    cur = archive.cursor()
    revenues = sorted((float(r) for (r,) in cur.execute(
        "SELECT revenue FROM segment_members WHERE run_id = ?", [run.run_id]).fetchall()), reverse=True)
    cur.close()
    k = -(-len(revenues) * top // 100)
    assert run.stats["high_value_k"] == k
    assert run.stats["high_value_cut"] == revenues[int(k) - 1]


def _growth_from_full_runs(archive: Archive, as_of: dt.date, months: int, filters: S.SegmentFilters) -> list[tuple]:
    """The 客户增减分析表's customer counts by definition: the full classification at each boundary."""
    start = S.months_before(as_of, months)
    prev = S.months_before(start, months)
    out = []
    cur = archive.cursor()
    for d0, d1 in ((start, as_of), (prev, start)):
        a, b = S.segment_run(archive, d0), S.segment_run(archive, d1)
        where, params = filters.sql("b")
        out.append(cur.execute(f"""
            SELECT count(*) FILTER (a.stage IN (1, 2)), count(*) FILTER (b.first_buy > ?),
                   count(*) FILTER (b.stage IN (1, 2) AND coalesce(a.stage NOT IN (1, 2), true)
                                    AND NOT coalesce(b.first_buy > ?, false)),
                   count(*) FILTER ((a.stage IN (1, 2) OR b.first_buy > ?) AND b.stage NOT IN (1, 2)),
                   count(*) FILTER (b.stage IN (1, 2))
            FROM segment_members b LEFT JOIN segment_members a ON a.customer_id = b.customer_id AND a.run_id = ?
            WHERE b.run_id = ? AND {where}""", [d0, d0, d0, a.run_id, b.run_id, *params]).fetchall()[0])
    cur.close()
    return out


@pytest.mark.parametrize("months", [1, 3, 12])
def test_growth_counts_equal_those_of_full_runs_at_each_boundary(archive: Archive, months: int) -> None:
    seed_demo(archive, customers=500, seed=21, today=D)
    for filters in (S.SegmentFilters(), S.SegmentFilters(region="广东")):
        table = S.growth_table(archive, D, months, filters)
        got = [tuple(int(r[c]) for c in ("期初客户数", "本期新增", "本期回流", "本期流失", "期末客户数"))
               for r in table.to_dict("records")[:2]]
        assert got == _growth_from_full_runs(archive, D, months, filters)
        assert sum(got[0]) > 0


def test_an_import_and_an_edit_go_through_while_a_run_is_being_written(
        archive: Archive, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The warmer writes a run in its own transaction while users keep writing: neither waits for
    nor breaks the other (they touch different rows), and the run of the old data is not kept."""
    import threading

    from conftest import write_xlsx

    from crm.auth.personal import actor_for
    from crm.customers.edits import add_interaction
    from crm.imports.pipeline import import_path

    seed_demo(archive, customers=300, seed=6, today=D)
    cur = archive.cursor()
    (cid, name), = cur.execute("SELECT customer_id, name FROM customers ORDER BY 1 LIMIT 1").fetchall()
    cur.close()
    inside, release = threading.Event(), threading.Event()
    from crm.segments import rules

    evict = rules.evict_stale_runs

    def slow_evict(*args: Any) -> None:  # the run's rows are written, its transaction still open
        inside.set()
        release.wait(30)
        evict(*args)

    monkeypatch.setattr(rules, "evict_stale_runs", slow_evict)
    monkeypatch.setenv(S.WARM_SWITCH, "1")
    thread = S.warm_in_background(archive, D, today_only=True)
    assert inside.wait(30)
    report = import_path(archive, write_xlsx(tmp_path / "t.xlsx", {"交易": [
        ["客户编号", "客户名称", "交易类型", "购买时间", "金额"], [cid, name, "购买", "2026-11-20", 10]]}),
        user="cli", today=D)
    add_interaction(archive, actor_for(archive, "admin"), cid, D, "电话", "回访")
    release.set()
    thread.join(30)
    assert report.batches[0].created == 1
    assert S.cached_run(archive, D) is None  # computed from the data before the writes: not served
    assert S.segment_run(archive, D).computed


def test_edits_are_followed_by_at_most_one_round_per_gap_and_an_import_ends_the_wait(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A team logging contacts all day must not keep a core busy recomputing today's run."""
    import importlib

    warm = importlib.import_module("crm.segments.warm")  # the module (the package exports its function `warm`)

    now = [1000.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    monkeypatch.setattr(warm.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(warm.time, "sleep", sleep)
    monkeypatch.setenv("CRM_WARM_EDIT_GAP_S", "60")
    key = "gap-test.duckdb"
    assert warm._after_edit_gap(key) is True and slept == []  # the first edit: at once
    now[0] += 15
    assert warm._after_edit_gap(key) is True and sum(slept) == pytest.approx(45)  # the next: a gap after the first
    slept.clear()
    now[0] += 5
    warm._warm_again[key] = False  # an import asked for while waiting
    assert warm._after_edit_gap(key) is False and slept == [] and key not in warm._warm_again
    warm._last_edit_warm.pop(key)
