"""Register and handle complaints end to end in crm/, and the analysis over what they say."""
from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
import pytest
from conftest import one

from crm import clock, segments
from crm.auth.personal import Actor, PersonalData
from crm.auth.policy import PermissionDenied
from crm.complaints import analysis as A
from crm.complaints import deadlines, forms, handling, stages
from crm.db import Archive
from crm.errors import UserError
from crm.settings import ComplaintSettings
from crm.surveys import analysis as SV

TODAY = dt.date(2025, 9, 26)  # a Friday before 国庆节
ADMIN = Actor("admin", "管理员")
SALES = Actor("王磊", "销售")
VIEWER = Actor("看客", "只读")


@pytest.fixture
def book(archive: Archive):
    with clock.pinned(dt.datetime(2025, 9, 26, 10, 0)):
        with archive.transaction() as tx:
            tx.execute("INSERT INTO users (username, role) VALUES ('admin', '管理员'), ('王磊', '销售'), ('看客', '只读')")
            tx.execute("INSERT INTO customers (customer_id, name, phone, owner) VALUES "
                       "('C1', '张伟明', '13800000001', '王磊'), ('C2', '李小红', '13800000002', '李娜')")
        yield archive



def test_register_then_every_stage(book: Archive) -> None:
    cid = handling.register_complaint(book, SALES, {"date": TODAY, "kind": "产品", "reason": "屏幕有坏点", "urgency": "急",
                                                   "promised_by": "2025-10-09", "department": "售后部"}, customer_id="C1")
    assert cid == "TS20250926001"
    row = one(book, "SELECT stage, kind, urgency, policy_deadline, promised_by, registered_by FROM complaints WHERE complaint_id = ?", [cid])
    # 急 = 3 working days after Friday 09-26: Sunday 09-28 (调休, worked), Monday 09-29, Tuesday 09-30
    assert row == ("已登记", "商品", "急", day("2025-09-30"), day("2025-10-09"), "王磊")
    with pytest.raises(UserError, match="不能从「已登记」直接转到「已处理」"):
        handling.move_complaint(book, SALES, cid, stages.HANDLED, {"resolution": "换货", "outcome": "已换", "root_cause": "产品质量"})
    handling.move_complaint(book, SALES, cid, stages.ACCEPTED)
    handling.move_complaint(book, SALES, cid, stages.INVESTIGATING)
    with pytest.raises(UserError, match="需要填写：处理结果、投诉原因"):
        handling.move_complaint(book, SALES, cid, stages.HANDLED, {"resolution": "换货"})
    with pytest.raises(UserError, match="投诉原因：「天气」不在原因列表中"):
        handling.move_complaint(book, SALES, cid, stages.HANDLED, {"resolution": "换货", "outcome": "x", "root_cause": "天气"})
    with clock.pinned(dt.datetime(2025, 9, 30, 16, 0)):  # resolved on the policy deadline day: kept
        handling.move_complaint(book, SALES, cid, stages.HANDLED,
                                {"resolution": "换货", "outcome": "已更换新机", "root_cause": "产品质量", "loss": "¥1,200"})
        handling.move_complaint(book, SALES, cid, stages.REVISITED, {"satisfaction": "满意"})
        handling.move_complaint(book, SALES, cid, stages.CLOSED)
    values = handling.load_complaint(book.cursor(), cid).values
    assert (values["resolved_on"], float(values["loss"]), values["satisfaction"]) == (day("2025-09-30"), 1200.0, 4)
    assert deadlines.clock_state(values["policy_deadline"], values["resolved_on"], day("2025-10-20"),
                                 values["policy_breached_on"]) == deadlines.KEPT
    cur = book.cursor()
    # the stage history the 报告表 shows (its hours are the pinned clock's, not measured speed)
    assert [s for s, _, _ in handling.stage_history(cur, cid)] == ["已登记", "已受理", "调查中", "已处理", "已回访", "已关闭"]
    cur.close()
    actions = [a for (a,) in book.cursor().execute("SELECT action FROM audit_log ORDER BY id").fetchall()]
    assert actions == ["register_complaint", "move_complaint", "move_complaint", "move_complaint", "move_complaint",
                       "move_complaint"]
    with pytest.raises(UserError, match="需要填写：重新处理的原因"):
        handling.move_complaint(book, SALES, cid, stages.INVESTIGATING)
    handling.move_complaint(book, SALES, cid, stages.INVESTIGATING, note="客户反馈问题复现")
    assert one(book, "SELECT stage, resolved_on FROM complaints WHERE complaint_id = ?", [cid]) == ("调查中", None)


def test_a_breach_stays_a_breach(book: Archive) -> None:
    cid = handling.register_complaint(book, SALES, {"date": TODAY, "kind": "服务", "reason": "态度差", "urgency": "特急",
                                                   "promised_by": TODAY}, customer_id="C1")
    with clock.pinned(dt.datetime(2025, 9, 30, 9, 0)):
        cur = book.cursor()
        deadlines.mark_breaches(cur, clock.today())
        cur.close()
        row = one(book, "SELECT promise_breached_on, policy_breached_on FROM complaints WHERE complaint_id = ?", [cid])
        # promised 09-26 → broke on 09-27; 特急: Sunday 09-28 (调休) was the 1st working day → broke on 09-29
        assert row == (day("2025-09-27"), day("2025-09-29"))
        with book.transaction() as tx:  # someone moves the promise later: the breach is not undone
            tx.execute("UPDATE complaints SET promised_by = DATE '2025-10-30' WHERE complaint_id = ?", [cid])
        handling.move_complaint(book, SALES, cid, stages.REFUSED, {"reject_reason": "不属于本公司产品"})
        v = handling.load_complaint(book.cursor(), cid).values
    assert deadlines.clock_state(v["promised_by"], None, day("2025-10-01"), v["promise_breached_on"]) == deadlines.OPEN_LATE


def test_a_new_customer_from_name_and_phone_and_the_roles(book: Archive) -> None:
    cid = handling.register_complaint(book, ADMIN, {"date": "2025/9/26", "kind": "商品", "reason": "漏发配件"},
                                      new_customer=("周强", "138 1234 5678"))
    customer = one(book, "SELECT c.name, c.phone FROM complaints k JOIN customers c USING (customer_id) WHERE complaint_id = ?", [cid])
    assert customer == ("周强", "13812345678")
    with pytest.raises(UserError) as err:
        handling.register_complaint(book, ADMIN, {"date": "明天", "kind": "不知道", "reason": ""}, customer_id="C1")
    assert set(err.value.errors) == {"reason"} or "受理日期" in err.value.message or "reason" in err.value.errors
    with pytest.raises(PermissionDenied):
        handling.register_complaint(book, VIEWER, {"date": TODAY, "kind": "商品", "reason": "x"}, customer_id="C1")
    with pytest.raises(PermissionDenied, match="销售只能修改自己负责的客户"):
        handling.register_complaint(book, SALES, {"date": TODAY, "kind": "商品", "reason": "x"}, customer_id="C2")


def test_the_forms_are_filled_from_the_record_and_masked(book: Archive) -> None:
    cid = handling.register_complaint(book, ADMIN, {"date": TODAY, "kind": "商品", "reason": "=HYPERLINK(\"x\")",
                                                   "department": "质检部"}, customer_id="C2")
    data = forms.report_workbook(PersonalData(book, VIEWER), cid)
    ws = openpyxl.load_workbook(io.BytesIO(data)).active
    cells = {c.value for row in ws.iter_rows() for c in row if c.value is not None}
    assert "投诉处理报告表" in cells and cid in cells and "李*红" in cells and "李小红" not in cells
    assert not any(isinstance(v, str) and v.startswith("=") for v in cells)  # neutralised
    notice = openpyxl.load_workbook(io.BytesIO(forms.notice_workbook(PersonalData(book, ADMIN), cid))).active
    assert notice["A1"].value == "投诉处理通知单" and "李小红" in {c.value for r in notice.iter_rows() for c in r}


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


# ------------------------------------------------------------------ analysis
@pytest.fixture
def many(book: Archive) -> Archive:
    rows = [  # (id, customer, date, kind, department, resolution, loss, cause, resolved, promised, urgency)
        ("K1", "C1", "2025-06-02", "商品", "售后部", "换货", 300, "产品质量", "2025-06-03", "2025-06-05", "一般"),
        ("K2", "C1", "2025-07-10", "商品", "售后部", "退货", 900, "产品质量", "2025-07-25", "2025-07-15", "急"),
        ("K3", "C1", "2025-09-01", "服务", "客服部", "道歉", 0, "服务态度", None, "2025-09-05", "一般"),
        ("K4", "C2", "2025-08-20", "商品", "仓储部", "维修", 100, "包装破损", "2025-08-21", None, "一般"),
        ("K5", "C2", "2025-03-01", "其他", None, None, None, None, None, None, "一般"),
    ]
    with book.transaction() as tx:
        for cid, cust, date, kind, dep, res, loss, cause, resolved, promised, urgency in rows:
            tx.execute("INSERT INTO complaints (complaint_id, customer_id, date, kind, reason, department, resolution, loss, "
                       "root_cause, resolved_on, promised_by, urgency) VALUES (?, ?, ?, ?, '事由', ?, ?, ?, ?, ?, ?, ?)",
                       [cid, cust, date, kind, dep, res, loss, cause, resolved, promised, urgency])
        handling.adopt_complaints(tx, "tester", clock.now(), TODAY)
    return book


def test_counts_pareto_and_deadlines(many: Archive) -> None:
    counts = A.counts_by(many, "kind", today=TODAY)
    assert list(zip(counts["label"], counts["complaints"])) == [("商品", 3), ("其他", 1), ("服务", 1)]
    p = A.pareto(many, "count", today=TODAY)
    assert list(p["cause"])[:1] == ["产品质量"] and p["cumulative"].iloc[-1] == pytest.approx(1.0)
    assert list(p["vital"]) == [True, True, True, False] or p["vital"].iloc[0]
    by_loss = A.pareto(many, "loss", today=TODAY)
    assert float(by_loss["value"].iloc[0]) == 1200.0 and by_loss["share"].iloc[0] == pytest.approx(1200 / 1300)
    table = A.deadline_table(many, today=TODAY).set_index("期限")
    promise = table.loc["承诺办理期限"]
    assert (promise["按期"], promise["超期"], promise["未结已超期"], promise["无期限"]) == (1, 1, 1, 2)
    rows, n = A.drill_page(PersonalData(many, ADMIN), A.ComplaintFilters(), A.drill_state("承诺办理期限", "超期"), TODAY)
    assert n == 1 and list(rows["受理编号"]) == ["K2"]
    rows, n = A.drill_page(PersonalData(many, VIEWER), A.ComplaintFilters(), A.drill_for("kind", "商品"), TODAY)
    assert n == 3 and set(rows["客户"]) == {"张*明", "李*红"}


def test_filters_losses_and_repeat_complainers(many: Archive) -> None:
    f = A.ComplaintFilters(start=day("2025-06-01"), end=day("2025-08-31"), kind="商品")
    assert int(A.overview(many, f, TODAY)["total"]) == 3
    losses = A.losses(many, today=TODAY).set_index("责任部门")
    assert float(losses.loc["售后部", "合计"]) == 1200.0 and float(losses.loc["合计", "合计"]) == 1300.0
    repeat = A.repeat_complainers(PersonalData(many, ADMIN), ComplaintSettings(), today=TODAY)
    assert list(repeat["customer_id"]) == ["C1"] and int(repeat["complaints"].iloc[0]) == 3  # K1, K2, K3 within 180 days
    shorter = A.repeat_complainers(PersonalData(many, ADMIN), ComplaintSettings(repeat_window_days=60), today=TODAY)
    assert shorter.empty  # only K3 is within 60 days
    # days from receipt to resolution, in bands (K1: 1 day, K4: 1 day, K2: 15 days) — data, not speed
    by_band = A.resolution_day_bands(many, today=TODAY).set_index("band")["complaints"]
    assert (by_band["1–3 天"], by_band["15–30 天"]) == (2, 1)


def test_rate_per_segment_reads_the_days_classification(many: Archive) -> None:
    segments.segment_run(many, TODAY)
    seg = A.rate_per_segment(many, today=TODAY)
    assert int(seg["customers"].sum()) == 2 and int(seg["complainers"].sum()) == 2


# ------------------------------------------------------------------ satisfaction
def test_top2_is_hidden_below_the_minimum_n(book: Archive) -> None:
    assert SV.top2([5, 4, 3, 2]) == 0.5 and SV.top2([]) is None
    with book.transaction() as tx:
        for i, score in enumerate([5, 4, 4, 2]):
            tx.execute("INSERT INTO surveys (customer_id, date, service_quality, product_quality) VALUES ('C1', ?, ?, 3)",
                       [TODAY - dt.timedelta(days=i), score])
    stats = SV.dimension_stats(book, ComplaintSettings()).set_index("dimension")
    assert int(stats.loc["服务质量", "n"]) == 4 and stats.loc["服务质量", "top2_share"] is None  # n = 4 < 5
    shown = SV.dimension_stats(book, ComplaintSettings(min_n=4)).set_index("dimension")
    assert shown.loc["服务质量", "top2_share"] == 0.75 and shown.loc["服务质量", "bottom2_share"] == 0.25
    assert shown.loc["服务质量", "mean"] == pytest.approx(3.75)


def test_a_low_score_plans_one_follow_up_per_response(book: Archive) -> None:
    with book.transaction() as tx:
        tx.execute("INSERT INTO surveys (customer_id, date, service_attitude, packaging) VALUES ('C1', ?, 2, 5), "
                   "('C2', ?, 4, 4), ('C1', DATE '2024-01-01', 1, 1)", [TODAY, TODAY])
        assert SV.plan_low_score_follow_ups(tx, TODAY) == 1  # the old one is history
        assert SV.plan_low_score_follow_ups(tx, TODAY) == 0  # once per response
    row = one(book, "SELECT customer_id, owner, origin, due FROM follow_ups")
    assert row == ("C1", "王磊", "survey", TODAY + dt.timedelta(days=1))
    detail = json.loads(one(book, "SELECT detail FROM audit_log WHERE action = 'survey_follow_up'")[0])
    assert detail["customer_id"] == "C1"
