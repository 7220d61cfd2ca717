"""The rules' windows at the calendar's edges: a reference date on a month's last day, on 12-31,
on 02-29 of a leap year, and the day after each. Each window's boundary day is written out as a
date (not computed by the code under test), and the engine, the profile and the home tiles are
checked on both sides of it."""
from __future__ import annotations

import ast
import datetime as dt
from pathlib import Path
from typing import Iterator

import pytest

from crm import clock, stats
from crm import segments as S
from crm.db import Archive

day = dt.date.fromisoformat

# reference date → (3 months before, 6 months before, 12 months before), by the calendar:
# the same day of the month, or the month's last day when it has fewer days.
EDGES = {
    "2026-01-31": ("2025-10-31", "2025-07-31", "2025-01-31"),
    "2026-02-01": ("2025-11-01", "2025-08-01", "2025-02-01"),
    "2026-05-31": ("2026-02-28", "2025-11-30", "2025-05-31"),
    "2026-06-01": ("2026-03-01", "2025-12-01", "2025-06-01"),
    "2026-12-31": ("2026-09-30", "2026-06-30", "2025-12-31"),
    "2027-01-01": ("2026-10-01", "2026-07-01", "2026-01-01"),
    "2028-02-29": ("2027-11-29", "2027-08-29", "2027-02-28"),
    "2028-03-01": ("2027-12-01", "2027-09-01", "2027-03-01"),
    "2028-11-29": ("2028-08-29", "2028-05-29", "2027-11-29"),
    "2028-05-31": ("2028-02-29", "2027-11-30", "2027-05-31"),
}


@pytest.mark.parametrize("ref", list(EDGES))
def test_months_before_is_the_calendars(ref: str) -> None:
    three, six, twelve = (day(x) for x in EDGES[ref])
    D = day(ref)
    assert (S.months_before(D, 3), S.months_before(D, 6), S.months_before(D, 12)) == (three, six, twelve)


def _one_day(d: dt.date, n: int) -> dt.date:
    return d + dt.timedelta(days=n)


@pytest.mark.parametrize("ref", list(EDGES))
def test_each_window_on_both_sides_of_its_boundary(archive: Archive, ref: str) -> None:
    D = day(ref)
    three, six, twelve = (day(x) for x in EDGES[ref])
    recent = _one_day(D, -10)
    rows = {
        # 新成交客户: first purchase on D − 3 months is still new; a day earlier it is 老客户
        "NEW_EDGE": [("tx", "购买", three)],
        "OLD_EDGE": [("tx", "购买", _one_day(three, -1)), ("tx", "购买", recent)],
        # 流失风险: nothing since D − 6 months exactly; a contact a day later keeps it 老客户
        "CHURN_EDGE": [("tx", "购买", six)],
        "NOT_CHURNED": [("tx", "购买", six), ("int", None, _one_day(six, 1))],
        # 沉睡: last interaction D − 3 months; a day later it is awake
        "SLEEPS": [("int", None, three)],
        "AWAKE": [("int", None, _one_day(three, 1))],
        # 投诉客户: a complaint within 12 months (after D − 12 months); on the boundary it is too old
        "COMPLAINED": [("complaint", None, _one_day(twelve, 1))],
        "COMPLAINT_TOO_OLD": [("complaint", None, twelve)],
    }
    with archive.transaction() as tx:
        for n, (cid, events) in enumerate(rows.items()):
            tx.execute("INSERT INTO customers (customer_id, name, first_contact) VALUES (?, ?, DATE '2020-01-01')",
                       [cid, cid])
            for i, (what, kind, when) in enumerate(events):
                if what == "tx":
                    tx.execute("INSERT INTO transactions (customer_id, kind, date, amount) VALUES (?, ?, ?, 100)",
                               [cid, kind, when])
                elif what == "int":
                    tx.execute("INSERT INTO interactions (customer_id, date, channel) VALUES (?, ?, '电话')", [cid, when])
                else:
                    tx.execute("INSERT INTO complaints (complaint_id, customer_id, date, kind, reason) "
                               "VALUES (?, ?, ?, '商品', '测试')", [f"E{n}{i}", cid, when])
    run = S.segment_run(archive, D)
    got = {r["customer_id"]: r for r in S.labels_frame(archive, run).to_dict("records")}
    assert got["NEW_EDGE"]["stage"] == "新成交客户"
    assert got["OLD_EDGE"]["stage"] == "老客户"
    assert got["CHURN_EDGE"]["stage"] == "流失风险客户"
    assert got["NOT_CHURNED"]["stage"] == "老客户"
    assert "沉睡客户" in got["SLEEPS"]["behaviours"]
    assert "沉睡客户" not in got["AWAKE"]["behaviours"]
    assert "投诉客户" in got["COMPLAINED"]["behaviours"]
    assert "投诉客户" not in got["COMPLAINT_TOO_OLD"]["behaviours"]
    # the day after the reference date, each boundary has moved on by one day
    later = {r["customer_id"]: r for r in S.labels_frame(archive, S.segment_run(archive, _one_day(D, 1))).to_dict("records")}
    if S.months_before(_one_day(D, 1), 3) > three:
        assert later["NEW_EDGE"]["stage"] == "老客户"
    if S.months_before(_one_day(D, 1), 6) > six:
        assert later["NOT_CHURNED"]["stage"] == "流失风险客户"  # its contact is now on or before the cut


@pytest.mark.parametrize("ref", ["2026-12-31", "2027-01-01", "2028-02-29", "2028-03-01", "2026-01-31"])
def test_home_tiles_count_overdue_and_due_today_across_the_edge(archive: Archive, ref: str) -> None:
    D = day(ref)
    with archive.transaction() as tx:
        tx.execute("INSERT INTO customers (customer_id, name) VALUES ('C1', '甲')")
        for due in (_one_day(D, -1), D, _one_day(D, 1)):
            tx.execute("INSERT INTO follow_ups (customer_id, due) VALUES ('C1', ?)", [due])
    with clock.pinned(D):
        cur = archive.cursor()
        try:
            vital = stats.vital_signs(cur, clock.today())
        finally:
            cur.close()
    assert (vital["follow_ups_overdue"], vital["follow_ups_due_today"], vital["follow_ups_open"]) == (1, 1, 3)


def test_the_clock_is_pinned_for_every_reader() -> None:
    with clock.pinned(day("2028-02-29")):
        assert clock.today() == day("2028-02-29")
        assert clock.now() == dt.datetime(2028, 2, 29, 9, 0)
        with clock.pinned(dt.datetime(2028, 2, 29, 23, 59)):
            assert clock.today() == day("2028-02-29")
    assert clock.today() != day("2028-02-29") or dt.date.today() == day("2028-02-29")


def test_the_day_is_the_configured_timezones(monkeypatch: pytest.MonkeyPatch) -> None:
    moment = dt.datetime(2026, 12, 31, 16, 30, tzinfo=dt.UTC)  # 00:30 on 1 January in Beijing
    assert clock.local_date(moment) == day("2027-01-01")
    monkeypatch.setenv("CRM_TIMEZONE", "Europe/London")
    assert clock.local_date(moment) == day("2026-12-31")
    monkeypatch.setenv("CRM_NOW", "2027-01-01T00:01")
    assert clock.today() == day("2027-01-01")


_DAY_READERS = {("clock", "today"), ("clock", "now"), ("date", "today"), ("datetime", "now"), ("datetime", "today")}


def _reads_the_day(node: ast.AST) -> bool:
    for call in ast.walk(node):
        if not isinstance(call, ast.Call):
            continue
        if isinstance(call.func, ast.Attribute):
            owner = call.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if (name, call.func.attr) in _DAY_READERS:
                return True
        elif isinstance(call.func, ast.Name) and call.func.id in ("today", "now"):  # from crm.clock import today
            return True
    return False


def _evaluated_at_collection(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """What Python evaluates when a test module is imported: module and class statements, and of
    functions only their decorators (parametrize lists) and default arguments."""
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield from node.decorator_list
            yield from node.args.defaults
            yield from (d for d in node.args.kw_defaults if d is not None)
        elif isinstance(node, ast.ClassDef):
            yield from node.decorator_list
            yield from _evaluated_at_collection(node.body)
        else:
            yield node


def test_a_day_read_when_tests_are_collected_is_pinned_for_them() -> None:
    """A suite takes ten minutes: a module that reads "today" when it is collected and does not
    pin the clock to it validates against the next day when the run crosses midnight in the
    team's timezone (CI failed so once). Each such module pins the clock (clock.pinned in an
    autouse fixture, or CRM_NOW)."""
    unpinned = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        reads = [n.lineno for n in _evaluated_at_collection(ast.parse(text).body) if _reads_the_day(n)]
        if reads and "pinned(" not in text and "CRM_NOW" not in text:
            unpinned.append(f"{path.name}:{reads[0]}")
    assert unpinned == []


def test_the_guard_sees_each_way_a_module_reads_the_day_at_collection() -> None:
    for source in ["TODAY = clock.today()", "class T:\n    D = dt.date.today()",
                   "@pytest.mark.parametrize('d', [clock.today()])\ndef test(d): pass",
                   "def test(d=clock.now()): pass", "from crm.clock import today\nTODAY = today()"]:
        assert any(_reads_the_day(n) for n in _evaluated_at_collection(ast.parse(source).body)), source
    assert not any(_reads_the_day(n) for n in _evaluated_at_collection(ast.parse(
        "def test():\n    assert clock.today()").body))
