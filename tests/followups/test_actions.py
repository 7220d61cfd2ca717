"""crm.followups.actions: complete (with the contact and the next one), reschedule, reassign —
one or many — audited, refused by role, and exactly one winner when two sessions act at once."""
from __future__ import annotations

import datetime as dt
import json
import threading

import pytest
from conftest import one
from followup_team import LEAD, SALES_LI, SALES_WANG, TODAY, VIEWER, d

from crm.auth.policy import PermissionDenied
from crm.db import Archive
from crm.errors import UserError
from crm.followups import actions


def audit_actions(archive: Archive) -> list[tuple[str, str]]:
    cur = archive.cursor()
    try:
        return cur.execute("SELECT action, entity_id FROM audit_log ORDER BY id").fetchall()
    finally:
        cur.close()


def test_complete_records_the_contact_and_plans_the_next(team: Archive) -> None:
    done = actions.complete_follow_up(team, SALES_WANG, 1, channel="电话", content="已解决付款问题", result="满意",
                                      next_due=d(3), expected_version=0)
    status, completed_by, outcome, interaction_id, version, done_at = one(
        team, "SELECT status, completed_by, outcome, interaction_id, version, done_at FROM follow_ups WHERE id = 1")
    assert (status, completed_by, outcome, interaction_id, version) == ("已完成", "王磊", "满意", done.interaction_id, 1)
    assert done_at == dt.datetime(2026, 12, 1, 10, 0)
    assert one(team, "SELECT customer_id, channel, content, result, created_by FROM interactions WHERE id = ?",
               [done.interaction_id]) == ("C2", "电话", "已解决付款问题", "满意", "王磊")
    nxt = one(team, "SELECT customer_id, due, status, channel, goal, owner, origin FROM follow_ups WHERE id = ?",
              [done.next_follow_up_id])
    assert nxt == ("C2", d(3), "待跟进", "电话", "解决问题", "王磊", "next")
    assert one(team, "SELECT last_logged_interaction FROM customers WHERE customer_id = 'C2'") == (TODAY,)
    assert [a for a, _ in audit_actions(team)] == ["add_interaction", "complete_follow_up", "plan_follow_up"]


def test_the_next_one_is_proposed_from_the_goal(team: Archive) -> None:
    proposal = actions.proposed_next(team, 1, TODAY)
    assert proposal == {"due": d(3), "channel": "电话", "content": "任务F1", "goal": "解决问题"}  # 解决问题: 3 days


def test_completed_follow_ups_are_kept_and_cannot_be_completed_twice(team: Archive) -> None:
    actions.complete_follow_up(team, SALES_WANG, 3)
    with pytest.raises(actions.FollowUpConflict, match="已完成（王磊"):
        actions.complete_follow_up(team, SALES_WANG, 3)
    assert one(team, "SELECT count(*) FROM follow_ups WHERE id = 3") == (1,)


def test_a_stale_version_is_refused_with_the_row_as_it_is(team: Archive) -> None:
    actions.reschedule_follow_up(team, SALES_WANG, 1, d(2), "客户出差", expected_version=0)
    with pytest.raises(actions.FollowUpConflict) as err:
        actions.complete_follow_up(team, SALES_WANG, 1, channel="电话", content="x", expected_version=0)
    assert err.value.current.due == d(2) and "刚被其他人修改" in err.value.message
    assert one(team, "SELECT status, version FROM follow_ups WHERE id = 1") == ("待跟进", 1)
    assert one(team, "SELECT count(*) FROM interactions") == (0,)  # nothing half-written
    detail = json.loads(one(team, "SELECT detail FROM audit_log WHERE action = 'reschedule_follow_up'")[0])
    assert detail["reason"] == "客户出差" and detail["due"] == {"old": str(d(-5)), "new": str(d(2))}


def test_roles(team: Archive) -> None:
    with pytest.raises(PermissionDenied, match="只有主管"):
        actions.reassign_follow_up(team, SALES_WANG, 1, "李娜")
    with pytest.raises(PermissionDenied, match="销售只能处理自己负责的跟进任务"):
        actions.complete_follow_up(team, SALES_LI, 1)
    with pytest.raises(PermissionDenied):
        actions.reschedule_follow_up(team, VIEWER, 1, d(1))
    with pytest.raises(UserError, match="不能早于今天"):
        actions.reschedule_follow_up(team, SALES_WANG, 1, d(-1))
    actions.reassign_follow_up(team, LEAD, 1, "李娜", "王磊休假")
    assert one(team, "SELECT owner FROM follow_ups WHERE id = 1") == ("李娜",)


def test_bulk_reassign_and_reschedule_are_one_transaction_each(team: Archive) -> None:
    assert actions.reassign_many(team, LEAD, [1, 2, 3], "李娜", "调整分工") == 3
    assert one(team, "SELECT count(*) FROM follow_ups WHERE owner = '李娜' AND status = '待跟进'") == (5,)
    actions.complete_follow_up(team, SALES_LI, 3)
    with pytest.raises(actions.FollowUpConflict):  # one row no longer open: nothing moves
        actions.reschedule_many(team, SALES_LI, [1, 2, 3], d(5))
    assert one(team, "SELECT count(*) FROM follow_ups WHERE due = ?", [d(5)]) == (0,)
    assert actions.reschedule_many(team, SALES_LI, [1, 2], d(5), "集中拜访") == 2
    assert [a for a, _ in audit_actions(team)].count("reassign_follow_up") == 3


def test_two_sessions_at_once_exactly_one_wins(team: Archive) -> None:
    """One completes, one reschedules the same follow-up at the same moment."""
    start = threading.Barrier(2)
    results: dict[str, object] = {}

    def complete() -> None:
        start.wait()
        try:
            results["complete"] = actions.complete_follow_up(team, SALES_WANG, 1, channel="电话", content="完成",
                                                             expected_version=0)
        except UserError as exc:
            results["complete"] = exc

    def reschedule() -> None:
        start.wait()
        try:
            actions.reschedule_follow_up(team, SALES_WANG, 1, d(4), "改期", expected_version=0)
            results["reschedule"] = "ok"
        except UserError as exc:
            results["reschedule"] = exc

    threads = [threading.Thread(target=complete), threading.Thread(target=reschedule)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    failures = [v for v in results.values() if isinstance(v, UserError)]
    assert len(results) == 2 and len(failures) == 1, results
    assert failures[0].message  # a clear message, never a traceback
    status, due, version = one(team, "SELECT status, due, version FROM follow_ups WHERE id = 1")
    assert version == 1
    if isinstance(results["complete"], UserError):
        assert (status, due) == ("待跟进", d(4)) and one(team, "SELECT count(*) FROM interactions") == (0,)
    else:
        assert (status, due) == ("已完成", d(-5)) and one(team, "SELECT count(*) FROM interactions") == (1,)
