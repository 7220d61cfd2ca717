"""The 客户360 profile: figures known by construction, SLA states, segments at their exact
boundaries (and in agreement with the segments engine), data-quality gaps and masking by reader."""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import write_xlsx

from crm import segments
from crm.auth.personal import Actor, PersonalData
from crm.customers import profile as profile_module
from crm.customers.profile import (
    INTERACTION_LIMIT,
    SLA_BREACHED,
    SLA_KEPT,
    SLA_NO_DEADLINE,
    SLA_NOT_ACCEPTED,
    SLA_OPEN,
    SLA_OPEN_LATE,
    Facts,
    complaint_sla,
    load_profile,
    months_before,
    stage_segment,
)
from crm.db import Archive
from crm.imports.pipeline import import_path
from crm.settings import SegmentSettings, set_segment_setting
from crm.vocabulary import ADMIN, LEAD, SALES, VIEWER

DEFAULTS = SegmentSettings()
COMPLAINT_MONTHS, HIGH_FREQUENCY_DAYS, SLEEPING_MONTHS = (DEFAULTS.complaint_months, DEFAULTS.high_frequency_days,
                                                          DEFAULTS.sleeping_months)

D = date(2024, 7, 1)
ADMIN_ACTOR = Actor("admin", ADMIN)


@pytest.fixture(autouse=True, params=["python-sums", "duckdb-sums"])
def history_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs twice: histories summed in Python (the usual case) and in DuckDB (histories
    longer than HISTORY_CAP), so the two paths cannot drift apart."""
    if request.param == "duckdb-sums":
        monkeypatch.setattr(profile_module, "HISTORY_CAP", 0)
    return request.param


def day(offset: int) -> date:
    return D + timedelta(days=offset)


def add_customer(cur: Any, cid: str, **fields: Any) -> None:
    values = {"name": "张小明", "phone": "13812345678", "email": "li.ming@x.com", "owner": "王磊",
              "region": "广东", "industry": "制造业", "product_need": "数控机床", "source": "官网",
              "first_contact": date(2023, 1, 1), **fields}
    cols = ", ".join(["customer_id", *values])
    cur.execute(f"INSERT INTO customers ({cols}) VALUES ({', '.join('?' * (len(values) + 1))})",
                [cid, *values.values()])


def add_tx(cur: Any, cid: str, kind: str, when: date, amount: float | None = None, rating: int | None = None,
           note: str | None = None, contact: str | None = None) -> None:
    cur.execute("INSERT INTO transactions (customer_id, kind, date, amount, rating, note, contact) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", [cid, kind, when, amount, rating, note, contact])


def add_interaction(cur: Any, cid: str, when: date, channel: str = "电话", product: str | None = None,
                    content: str | None = None) -> None:
    cur.execute("INSERT INTO interactions (customer_id, date, channel, product, content) VALUES (?, ?, ?, ?, ?)",
                [cid, when, channel, product, content])


def add_complaint(cur: Any, complaint_id: str, cid: str, when: date, promised: date | None = None,
                  resolved: date | None = None, accepted: bool = True, loss: float | None = None,
                  satisfaction: int | None = None, contact: str | None = None) -> None:
    cur.execute("INSERT INTO complaints (complaint_id, customer_id, date, kind, reason, accepted, promised_by, "
                "resolved_on, loss, satisfaction, contact) VALUES (?, ?, ?, '商品', '质量问题', ?, ?, ?, ?, ?, ?)",
                [complaint_id, cid, when, accepted, promised, resolved, loss, satisfaction, contact])


def profile(archive: Archive, cid: str, actor: Actor = ADMIN_ACTOR, as_of: date = D):
    p = load_profile(PersonalData(archive, actor), cid, as_of=as_of)
    assert p is not None
    return p


def labels(p) -> dict[str, str]:
    return {s.label: s.reason for s in p.segments}


# ------------------------------------------------------------------ purchase habits
def test_purchase_habits_known_by_construction(archive: Archive) -> None:
    with archive.transaction() as cur:
        add_customer(cur, "C1")
        add_tx(cur, "C1", "购买", date(2023, 6, 1), 400, rating=5, note="批量采购")
        add_tx(cur, "C1", "购买", date(2024, 1, 10), 1000, rating=4, note="批量采购")
        add_tx(cur, "C1", "续约", date(2024, 3, 10), 2000, rating=3, note="年度续约")
        add_tx(cur, "C1", "购买", date(2024, 5, 9), 3000)
        add_tx(cur, "C1", "退货", date(2024, 5, 20), 500)  # entered positive: still subtracts
        add_tx(cur, "C1", "咨询", date(2024, 6, 1))
        add_tx(cur, "C1", "购买", date(2024, 8, 1), 9999)  # after D: listed, not counted
        for when, channel, product in [(day(-1), "电话", "机床"), (day(-5), "电话", "机床"), (day(-40), "微信", "刀具"),
                                       (day(-90), "电话", None)]:
            add_interaction(cur, "C1", when, channel, product)
    p = profile(archive, "C1")
    h = p.habits
    assert h.purchases == 4
    assert (h.first_purchase, h.last_purchase) == (date(2023, 6, 1), date(2024, 5, 9))
    span = (date(2024, 5, 9) - date(2023, 6, 1)).days  # 343 days
    assert h.avg_interval_days == pytest.approx(span / 3)
    assert h.active_months == pytest.approx(span / 30.4375)
    assert h.per_month == pytest.approx(4 / (span / 30.4375))
    assert h.lifetime_revenue == pytest.approx(400 + 1000 + 2000 + 3000 - 500)
    assert h.revenue_12m == pytest.approx(1000 + 2000 + 3000 - 500)  # 2023-06-01 is outside (D-12m, D]
    assert h.avg_rating == pytest.approx(4.0) and h.rating_count == 3
    assert h.kind_counts[0] == ("购买", 4)
    assert dict(h.kind_counts) == {"购买": 4, "续约": 1, "退货": 1, "咨询": 1}
    assert h.top_notes[0] == ("批量采购", 2)
    assert h.preferred_channel == "电话"
    assert h.channel_counts == [("电话", 3), ("微信", 1)]
    assert h.top_products == [("机床", 2), ("刀具", 1)]
    assert p.transaction_count == 7
    assert [t.date for t in p.transactions][:2] == [date(2024, 8, 1), date(2024, 6, 1)]  # newest first
    assert p.interaction_count == 4 and p.interactions[0].date == day(-1)
    assert p.last_contact == day(-1)


def test_single_purchase_has_no_interval_and_a_one_month_span(archive: Archive) -> None:
    with archive.transaction() as cur:
        add_customer(cur, "C1")
        add_tx(cur, "C1", "购买", day(-10), 100)
    h = profile(archive, "C1").habits
    assert h.purchases == 1 and h.avg_interval_days is None
    assert h.active_months == 1.0 and h.per_month == 1.0


def test_timeline_is_limited_but_counts_everything(archive: Archive) -> None:
    with archive.transaction() as cur:
        add_customer(cur, "C1")
        for i in range(INTERACTION_LIMIT + 50):
            add_interaction(cur, "C1", day(-i), content=f"第{i}次")
    p = profile(archive, "C1")
    assert p.interaction_count == INTERACTION_LIMIT + 50
    assert len(p.interactions) == INTERACTION_LIMIT
    assert p.interactions[0].content == "第0次" and p.interactions[-1].date == day(-(INTERACTION_LIMIT - 1))


# ------------------------------------------------------------------ complaints and SLA
def test_complaint_sla_states(archive: Archive) -> None:
    with archive.transaction() as cur:
        add_customer(cur, "C1")
        add_complaint(cur, "K1", "C1", day(-30), promised=day(-20), resolved=day(-22), loss=100)  # kept
        add_complaint(cur, "K2", "C1", day(-30), promised=day(-20), resolved=day(-17), loss=50.5)  # 3 days late
        add_complaint(cur, "K3", "C1", day(-10), promised=day(-4))  # open, 4 days overdue
        add_complaint(cur, "K4", "C1", day(-2), promised=day(5))  # open, not yet due
        add_complaint(cur, "K5", "C1", day(-3), accepted=False)
        add_complaint(cur, "K6", "C1", day(-50), resolved=day(-45), satisfaction=2)  # no promise
        add_complaint(cur, "K7", "C1", day(-8), promised=day(-6), resolved=day(3))  # resolved after D: open as of D
    p = profile(archive, "C1")
    by_id = {c.complaint_id: c for c in p.complaints}
    assert (by_id["K1"].sla, by_id["K1"].status) == (SLA_KEPT, "已办结")
    assert (by_id["K2"].sla, by_id["K2"].days_late) == (SLA_BREACHED, 3)
    assert (by_id["K3"].sla, by_id["K3"].days_late, by_id["K3"].status) == (SLA_OPEN_LATE, 4, "处理中")
    assert (by_id["K4"].sla, by_id["K4"].days_late) == (SLA_OPEN, None)
    assert (by_id["K5"].sla, by_id["K5"].status) == (SLA_NOT_ACCEPTED, "不予受理")
    assert by_id["K6"].sla == SLA_NO_DEADLINE
    assert (by_id["K7"].sla, by_id["K7"].days_late, by_id["K7"].status) == (SLA_OPEN_LATE, 6, "处理中")
    assert by_id["K2"].sla_label == "超期办结"
    s = p.complaint_summary
    assert (s.total, s.open, s.kept, s.breached, s.open_late) == (7, 3, 1, 1, 2)
    assert s.loss == pytest.approx(150.5)
    assert [c.complaint_id for c in p.complaints][:2] == ["K4", "K5"]  # newest first
    assert p.satisfaction.complaint_satisfaction == 2.0
    assert "重点关注" in labels(p)
    assert labels(p)["重点关注"] == "投诉 K3（2024-06-21 受理）尚未办结，已超过承诺期限 2024-06-27 4 天；另有 2 起未办结"


def test_complaint_sla_function_boundaries() -> None:
    assert complaint_sla(True, D, D, D) == (SLA_KEPT, None)  # resolved on the promised day
    assert complaint_sla(True, D, None, D) == (SLA_OPEN, None)  # due today, not late yet
    assert complaint_sla(True, day(-1), None, D) == (SLA_OPEN_LATE, 1)
    assert complaint_sla(False, day(-1), None, D) == (SLA_NOT_ACCEPTED, None)


# ------------------------------------------------------------------ segments at their boundaries
def stage_rows(archive: Archive) -> dict[str, str]:
    """需求阶段 per customer as the segments engine (the 客户分类 page, the search filter) gives it."""
    run = segments.compute_run(archive, D)
    return dict(zip(*[segments.labels_frame(archive, run)[c] for c in ("customer_id", "stage")]))


def test_stage_boundaries_agree_with_the_engine(archive: Archive) -> None:
    new_edge = months_before(D, DEFAULTS.new_customer_months)  # 2024-04-01
    churn_edge = months_before(D, DEFAULTS.churn_risk_months)  # 2024-01-01
    with archive.transaction() as cur:
        add_customer(cur, "P", first_contact=date(2024, 6, 1))
        add_tx(cur, "P", "咨询", day(-3))
        add_tx(cur, "P", "购买", day(5), 100)  # after D: still a prospect as of D
        add_customer(cur, "NEW")
        add_tx(cur, "NEW", "购买", new_edge, 100)  # exactly 3 months: still new
        add_customer(cur, "OLD")
        add_tx(cur, "OLD", "购买", new_edge - timedelta(days=1), 100)  # one day more: old
        add_customer(cur, "RISK")
        add_tx(cur, "RISK", "购买", date(2023, 5, 1), 100)
        add_interaction(cur, "RISK", churn_edge)  # last contact exactly 6 months ago: at risk
        add_customer(cur, "KEPT")
        add_tx(cur, "KEPT", "购买", date(2023, 5, 1), 100)
        add_interaction(cur, "KEPT", churn_edge + timedelta(days=1))
        add_customer(cur, "T4", last_interaction=churn_edge + timedelta(days=1))  # T4 field counts as contact
        add_tx(cur, "T4", "购买", date(2023, 5, 1), 100)
    expected = {"P": "潜在客户", "NEW": "新成交客户", "OLD": "老客户", "RISK": "流失风险客户", "KEPT": "老客户",
                "T4": "老客户"}
    got = {cid: next(s.label for s in profile(archive, cid).segments if s.dimension == "需求阶段") for cid in expected}
    assert got == expected
    assert stage_rows(archive) == expected  # the search/segments rule says the same
    risk = labels(profile(archive, "RISK"))["流失风险客户"]
    assert risk.startswith(f"最近互动或交易 {churn_edge}，已 {(D - churn_edge).days} 天无往来")
    assert labels(profile(archive, "NEW"))["新成交客户"] == f"首次购买 {new_edge}，距今 {(D - new_edge).days} 天（3 个月内）"
    assert labels(profile(archive, "P"))["潜在客户"] == "截至 2024-07-01 尚无购买记录，建档 2024-06-01"


def test_behaviour_boundaries(archive: Archive) -> None:
    sleep_edge = months_before(D, SLEEPING_MONTHS)  # 2024-04-01
    complaint_edge = months_before(D, COMPLAINT_MONTHS)  # 2023-07-01
    with archive.transaction() as cur:
        add_customer(cur, "HF")
        for offset in (0, -10, -(HIGH_FREQUENCY_DAYS - 1)):
            add_interaction(cur, "HF", day(offset))
        add_customer(cur, "NOTHF")
        for offset in (0, -10, -HIGH_FREQUENCY_DAYS):  # the third is 30 days ago: outside the window
            add_interaction(cur, "NOTHF", day(offset))
        add_customer(cur, "SLEEP")
        add_interaction(cur, "SLEEP", date(2024, 1, 3))
        add_customer(cur, "EDGE")
        add_interaction(cur, "EDGE", sleep_edge)  # exactly 3 months: asleep
        add_customer(cur, "AWAKE")
        add_interaction(cur, "AWAKE", sleep_edge + timedelta(days=1))
        add_customer(cur, "NEVER", first_contact=date(2024, 2, 1))  # never contacted, on file 5 months
        add_customer(cur, "BOUGHT", first_contact=date(2024, 1, 2))
        add_interaction(cur, "BOUGHT", date(2024, 1, 3))
        add_tx(cur, "BOUGHT", "购买", day(-30))
        add_customer(cur, "C12")
        add_complaint(cur, "K1", "C12", complaint_edge + timedelta(days=1), resolved=complaint_edge + timedelta(days=2))
        add_interaction(cur, "C12", day(-1))
        add_customer(cur, "C13")
        add_complaint(cur, "K2", "C13", complaint_edge, resolved=complaint_edge)
        add_interaction(cur, "C13", day(-1))
        add_customer(cur, "TX")
        add_tx(cur, "TX", "投诉", day(-20), note="送货延误")
        add_interaction(cur, "TX", day(-1))
    assert labels(profile(archive, "HF"))["高频互动"] == "近 30 天互动 3 次（≥ 3 次）"
    assert "高频互动" not in labels(profile(archive, "NOTHF"))
    assert labels(profile(archive, "SLEEP"))["沉睡客户"] == "最近互动或交易 2024-01-03，已 180 天既无互动也无交易（3 个月以上）"
    assert "沉睡客户" in labels(profile(archive, "EDGE"))
    assert "沉睡客户" not in labels(profile(archive, "AWAKE"))
    assert labels(profile(archive, "NEVER"))["沉睡客户"] == "没有互动或交易记录，建档 2024-02-01，已 151 天（3 个月以上）"
    assert "沉睡客户" not in labels(profile(archive, "BOUGHT"))  # an old contact, but a purchase last month
    assert labels(profile(archive, "C12"))["投诉客户"] == f"近 12 个月投诉 1 次，最近一次 {complaint_edge + timedelta(days=1)}"
    assert "投诉客户" not in labels(profile(archive, "C13"))
    assert labels(profile(archive, "TX"))["投诉客户"] == f"近 12 个月投诉 1 次，最近一次 {day(-20)}"


def test_attention_until_closed_and_revisited(archive: Archive) -> None:
    with archive.transaction() as cur:
        for cid in ("OPEN", "UNVISITED", "VISITED"):
            add_customer(cur, cid)
        add_complaint(cur, "K1", "OPEN", day(-5), promised=day(2))
        add_complaint(cur, "K2", "UNVISITED", day(-20), resolved=day(-10))
        add_interaction(cur, "UNVISITED", day(-15))  # before the resolution: not a re-visit
        add_complaint(cur, "K3", "VISITED", day(-20), resolved=day(-10))
        add_interaction(cur, "VISITED", day(-10))
    assert labels(profile(archive, "OPEN"))["重点关注"] == "投诉 K1（2024-06-26 受理）尚未办结，承诺 2024-07-03 前办结"
    assert labels(profile(archive, "UNVISITED"))["重点关注"] == "投诉 K2 已于 2024-06-21 办结，此后尚未回访"
    assert "重点关注" not in labels(profile(archive, "VISITED"))


def test_value_labels_from_own_revenue(archive: Archive) -> None:
    with archive.transaction() as cur:
        add_customer(cur, "BIG")
        add_tx(cur, "BIG", "购买", day(-200), 30_000)
        add_tx(cur, "BIG", "续约", day(-100), 20_000)
        add_customer(cur, "RISE")
        add_tx(cur, "RISE", "购买", day(-120), 1_000)  # in the 90 days before the last 90
        add_tx(cur, "RISE", "购买", day(-10), 1_500)  # exactly 1.5 ×
        add_customer(cur, "FLAT")
        add_tx(cur, "FLAT", "购买", day(-120), 1_000)
        add_tx(cur, "FLAT", "购买", day(-10), 1_499)
    assert labels(profile(archive, "BIG"))["高价值"] == "近 12 个月消费 50,000.00 元（≥ 50,000 元）"
    assert labels(profile(archive, "RISE"))["潜力客户"] == "近 90 天消费 1,500.00 元，此前 90 天 1,000.00 元（≥ 1.5 倍）"
    assert not {"高价值", "潜力客户"} & set(labels(profile(archive, "FLAT")))


def test_stage_segment_is_a_pure_function() -> None:
    facts = Facts(as_of=D, first_purchase=day(-10), last_purchase=day(-10), last_transaction=day(-10))
    assert stage_segment(facts).label == "新成交客户"


# ------------------------------------------------------------------ data quality
def test_data_quality_gaps_mark_the_customer_pending(archive: Archive) -> None:
    with archive.transaction() as cur:
        add_customer(cur, "GAP", phone=None, email=None, product_need=None, owner=None, region=None)
        add_customer(cur, "OK")
    p = profile(archive, "GAP")
    assert [g.label for g in p.gaps][:4] == ["联系方式（电话/邮箱/微信/QQ）", "产品需求", "负责人", "地区"]
    assert all(g.why for g in p.gaps)
    assert p.pending
    assert labels(p)["待跟进"] == "缺少关键信息：联系方式（电话/邮箱/微信/QQ）、产品需求"
    ok = profile(archive, "OK")
    assert ok.gaps == [] and not ok.pending and "待跟进" not in labels(ok)


def test_owner_missing_is_a_gap_but_not_pending(archive: Archive) -> None:
    with archive.transaction() as cur:
        add_customer(cur, "C1", owner=None)
    p = profile(archive, "C1")
    assert [g.field for g in p.gaps] == ["owner"] and not p.pending


# ------------------------------------------------------------------ masking
@pytest.fixture
def shared(archive: Archive) -> Archive:
    with archive.transaction() as cur:
        add_customer(cur, "C1", address="广东省深圳市南山区科技园1号")
        add_tx(cur, "C1", "购买", day(-5), 100, contact="13812345678")
        add_complaint(cur, "K1", "C1", day(-5), contact="li.ming@x.com")
    return archive


@pytest.mark.parametrize("actor", [Actor("看客", VIEWER), Actor("李娜", SALES)])
def test_masked_for_viewer_and_other_sales(shared: Archive, actor: Actor) -> None:
    p = profile(shared, "C1", actor)
    assert p.masked and not p.editable
    assert (p.basic["name"], p.basic["phone"], p.basic["email"]) == ("张*明", "138****5678", "l***@x.com")
    assert p.basic["address"] == "广东省深圳市****"
    assert p.customer["birth_date"] is None
    assert p.transactions[0].contact == "138****5678"
    assert p.complaints[0].contact == "l***@x.com"
    assert p.basic["customer_id"] == "C1" and p.background["industry"] == "制造业"  # not personal


@pytest.mark.parametrize("actor", [Actor("王磊", SALES), Actor("主管", LEAD)])
def test_owner_and_lead_see_in_full(shared: Archive, actor: Actor) -> None:
    p = profile(shared, "C1", actor)
    assert not p.masked and p.editable
    assert (p.basic["name"], p.basic["phone"]) == ("张小明", "13812345678")
    assert p.transactions[0].contact == "13812345678"


def test_unknown_customer_is_none(archive: Archive) -> None:
    assert load_profile(PersonalData(archive, ADMIN_ACTOR), "NOPE", as_of=D) is None


# ------------------------------------------------------------------ the other sections
def test_follow_ups_satisfaction_credit_and_tags(archive: Archive) -> None:
    with archive.transaction() as cur:
        add_customer(cur, "C1", credit_level="A", credit_limit=200000, satisfaction=4)
        cur.execute("INSERT INTO customer_tags (customer_id, tag) VALUES ('C1', 'VIP'), ('C1', '制造业'), ('C1', 'VIP')")
        cur.execute("INSERT INTO follow_ups (customer_id, due, status, content) VALUES "
                    "('C1', ?, '待跟进', '逾期'), ('C1', ?, '待跟进', '未到期'), ('C1', ?, '已完成', '做完了')",
                    [day(-3), day(4), day(-30)])
        cur.execute("INSERT INTO surveys (customer_id, date, service_quality, service_attitude, comment) VALUES "
                    "('C1', ?, 5, 4, '很好'), ('C1', ?, 4, NULL, NULL)", [day(-60), day(-10)])
        add_tx(cur, "C1", "购买", day(-5), 100, rating=2)
    p = profile(archive, "C1")
    assert p.tags == ["VIP", "制造业"]
    assert p.credit == {"credit_level": "A", "credit_limit": 200000.0}
    assert [(f.content, f.overdue_days) for f in p.open_follow_ups] == [("逾期", 3), ("未到期", 0)]
    assert [f.content for f in p.past_follow_ups] == ["做完了"]
    s = p.satisfaction
    assert s.survey_count == 2 and s.last_survey == day(-10)
    assert s.dimensions["服务质量"] == 4.5 and s.dimensions["服务态度"] == 4.0 and s.dimensions["产品质量"] is None
    assert s.overall == pytest.approx(4.25)
    assert s.comments == [(day(-60), "很好")]
    assert (s.recorded, s.avg_rating, s.rating_count) == (4, 2.0, 1)
    assert p.labelled(p.needs)[0] == ("产品需求", "数控机床")


def test_profile_of_an_imported_customer(archive: Archive, tmp_path: Path) -> None:
    book = write_xlsx(tmp_path / "客户档案.xlsx", {"客户档案": [
        ["客户编号", "客户姓名", "联系电话", "电子邮箱", "行业", "产品需求", "负责人", "标签", "首次接触日期"],
        ["C20240101001", "王小红", "139 1234 5678", "WXH@Example.com", "零售", "收银系统", "王磊", "VIP、紧急需求", "2024-01-01"],
    ]})
    import_path(archive, book, user="cli")
    p = profile(archive, "C20240101001", Actor("王磊", SALES))
    assert p.basic["phone"] == "13912345678" and p.basic["email"] == "wxh@example.com"
    assert p.tags == ["VIP", "紧急需求"]
    assert p.gaps and {g.field for g in p.gaps} == {"region", "source"}
    assert next(s.label for s in p.segments if s.dimension == "需求阶段") == "潜在客户"


def test_the_thresholds_in_force_are_the_archive_settings(archive: Archive) -> None:
    """An admin's change reaches the profile at once, as it reaches the 客户分类 page."""
    with archive.transaction() as cur:
        add_customer(cur, "HF")
        for offset in (0, -1):
            add_interaction(cur, "HF", day(offset))
        add_customer(cur, "BUY")
        add_tx(cur, "BUY", "购买", day(-50), 100)
    assert "高频互动" not in labels(profile(archive, "HF"))
    assert labels(profile(archive, "BUY"))["新成交客户"].endswith("（3 个月内）")
    set_segment_setting(archive, ADMIN_ACTOR, "high_frequency_min", 2)
    set_segment_setting(archive, ADMIN_ACTOR, "new_customer_months", 1)
    assert labels(profile(archive, "HF"))["高频互动"] == "近 30 天互动 2 次（≥ 2 次）"
    assert labels(profile(archive, "BUY"))["老客户"].startswith("首次购买 2024-05-12，已超过 1 个月")
