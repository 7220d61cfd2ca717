"""Stage and value rules at their boundaries, on tiny hand-built archives."""
from __future__ import annotations

import datetime as dt

import pytest

from crm import rules
from crm.db import Archive

D = dt.date(2026, 11, 22)
day = dt.date.fromisoformat


def build(archive: Archive, customers: dict[str, list[tuple[str, str, float | None]]],
          interactions: dict[str, str] | None = None, last_interaction: dict[str, str] | None = None) -> None:
    """customers: id → [(kind, date, amount)]; interactions: id → date; last_interaction: profile field."""
    with archive.transaction() as tx:
        for cid, txs in customers.items():
            tx.execute("INSERT INTO customers (customer_id, name, last_interaction) VALUES (?, ?, ?)",
                       [cid, cid, (last_interaction or {}).get(cid)])
            for kind, date, amount in txs:
                tx.execute("INSERT INTO transactions (customer_id, kind, date, amount) VALUES (?, ?, ?, ?)",
                           [cid, kind, date, amount])
        for cid, date in (interactions or {}).items():
            tx.execute("INSERT INTO interactions (customer_id, date, channel) VALUES (?, ?, '电话')", [cid, date])


def labels(archive: Archive, rule, as_of: dt.date = D) -> dict[str, tuple[str, str]]:
    sql, params = rule(as_of)
    cur = archive.cursor()
    try:
        return {cid: (label, reason) for cid, label, reason in cur.execute(
            f"SELECT customer_id, label, reason FROM ({sql})", params).fetchall()}
    finally:
        cur.close()


def test_stage_boundaries(archive: Archive) -> None:
    build(archive, {
        "NEW_EXACTLY_3M": [("购买", "2026-08-22", 100)],  # D − 3 months: still new
        "OLD_3M_AND_A_DAY": [("购买", "2026-08-21", 100), ("购买", "2026-11-01", 100)],
        "CHURN_EXACTLY_6M": [("购买", "2026-05-22", 100)],  # nothing since D − 6 months: at risk
        "SAVED_BY_INTERACTION": [("购买", "2025-01-01", 100)],
        "SAVED_BY_ENQUIRY": [("购买", "2025-01-01", 100), ("咨询", "2026-05-23", None)],
        "SAVED_BY_PROFILE": [("购买", "2025-01-01", 100)],
        "ENQUIRY_ONLY": [("咨询", "2026-11-01", None)],
        "RENEWAL_COUNTS": [("续约", "2026-10-01", 100)],
        "BUYS_AFTER_D": [("购买", "2026-12-01", 100)],
        "NOTHING": [],
    }, interactions={"SAVED_BY_INTERACTION": "2026-05-23"}, last_interaction={"SAVED_BY_PROFILE": "2026-10-01"})
    got = labels(archive, rules.stage_sql)
    assert {k: v[0] for k, v in got.items()} == {
        "NEW_EXACTLY_3M": "新成交客户", "OLD_3M_AND_A_DAY": "老客户", "CHURN_EXACTLY_6M": "流失风险客户",
        "SAVED_BY_INTERACTION": "老客户", "SAVED_BY_ENQUIRY": "老客户", "SAVED_BY_PROFILE": "老客户",
        "ENQUIRY_ONLY": "潜在客户", "RENEWAL_COUNTS": "新成交客户", "BUYS_AFTER_D": "潜在客户", "NOTHING": "潜在客户",
    }
    assert "2026-08-22" in got["NEW_EXACTLY_3M"][1] and "3 个月" in got["NEW_EXACTLY_3M"][1]
    assert "2026-05-22" in got["CHURN_EXACTLY_6M"][1] and "6 个月" in got["CHURN_EXACTLY_6M"][1]
    # one day earlier the churn customer was still within six months, and the new one not yet a buyer
    earlier = labels(archive, rules.stage_sql, D - dt.timedelta(days=1))
    assert earlier["CHURN_EXACTLY_6M"][0] == "老客户" and earlier["NEW_EXACTLY_3M"][0] == "新成交客户"
    assert labels(archive, rules.stage_sql, day("2026-08-21"))["NEW_EXACTLY_3M"][0] == "潜在客户"


def test_stage_thresholds_are_settings(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    build(archive, {"A": [("购买", "2026-07-01", 100)]})
    assert labels(archive, rules.stage_sql)["A"][0] == "老客户"
    monkeypatch.setattr(rules, "NEW_CUSTOMER_MONTHS", 6)
    assert labels(archive, rules.stage_sql)["A"][0] == "新成交客户"


def test_the_50000_floor(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rules, "HIGH_VALUE_TOP_PERCENT", 0)  # the floor alone
    build(archive, {
        "AT_FLOOR": [("购买", "2026-03-01", 30000), ("续约", "2026-04-01", 20000)],
        "CENT_BELOW": [("购买", "2026-03-01", 49999.99)],
        "NET_OF_RETURN": [("购买", "2026-03-01", 50100), ("退货", "2026-04-01", 200)],  # entered positive
        "OUTSIDE_12M": [("购买", "2025-11-22", 90000), ("购买", "2026-03-01", 100)],  # D − 12 months: excluded
        "INSIDE_12M": [("购买", "2025-11-23", 50000)],
    })
    got = labels(archive, rules.value_sql)
    assert got["AT_FLOOR"][0] == "高价值" and "50000" in got["AT_FLOOR"][1]
    assert got["CENT_BELOW"][0] != "高价值"
    assert got["NET_OF_RETURN"][0] != "高价值"
    assert got["OUTSIDE_12M"][0] != "高价值" and got["INSIDE_12M"][0] == "高价值"


def test_top_ten_percent_with_ties(archive: Archive) -> None:
    old = "2026-03-01"  # inside 12 months, outside both 90-day windows: no 潜力 noise
    revenue = {"R01": 900, "R02": 800, "R03": 800, "R04": 800, "R05": 700}
    revenue.update({f"R{i:02d}": 10 for i in range(6, 21)})  # 20 customers → 2 seats; ties share the last one
    build(archive, {cid: [("购买", old, amount)] for cid, amount in revenue.items()})
    got = labels(archive, rules.value_sql)
    assert sorted(c for c, (label, _) in got.items() if label == "高价值") == ["R01", "R02", "R03", "R04"]
    assert "2/20" in got["R03"][1]


@pytest.mark.parametrize("n,seats", [(30, 3), (25, 3), (10, 1), (9, 1)])
def test_top_ten_percent_seats(archive: Archive, n: int, seats: int) -> None:
    """30 × 10% is 3 exactly (not 4 by float rounding); 25 gives 3: the third has only 8% above it."""
    build(archive, {f"R{i:02d}": [("购买", "2026-03-01", 100 * i)] for i in range(1, n + 1)})
    high = sorted(c for c, (label, _) in labels(archive, rules.value_sql).items() if label == "高价值")
    assert high == [f"R{i:02d}" for i in range(n - seats + 1, n + 1)]


def test_rising_and_median(archive: Archive) -> None:
    recent, before = "2026-11-01", "2026-07-01"  # (D−90, D] and (D−180, D−90]
    build(archive, {
        "BIG": [("购买", "2026-03-01", 40000)],  # takes the only top-10% seat
        "RISE_EXACT": [("购买", before, 100), ("购买", recent, 150)],
        "RISE_SHORT": [("购买", before, 100), ("购买", recent, 149.99)],
        "RISE_FROM_ZERO": [("购买", recent, 10)],
        "FLAT_MID": [("购买", "2026-03-01", 300)],
        "LOW": [("购买", "2026-03-01", 1)],
        "NONE_1": [], "NONE_2": [], "NONE_3": [], "NONE_4": [],
    })
    got = {k: v[0] for k, v in labels(archive, rules.value_sql).items()}
    # median of (40000, 250, 249.99, 10, 300, 1, 0, 0, 0, 0) is 5.5
    assert got == {"BIG": "高价值", "RISE_EXACT": "潜力客户", "RISE_SHORT": "中价值", "RISE_FROM_ZERO": "潜力客户",
                   "FLAT_MID": "中价值", "LOW": "低价值", "NONE_1": "低价值", "NONE_2": "低价值", "NONE_3": "低价值",
                   "NONE_4": "低价值"}
    # 90 days earlier nothing recent had happened yet
    assert labels(archive, rules.value_sql, day("2026-08-01"))["RISE_EXACT"][0] == "潜力客户"  # 100 vs 0 before
    assert labels(archive, rules.value_sql, day("2026-06-01"))["RISE_EXACT"][0] == "低价值"
