"""crm.followups.queue: buckets, priority order, scope by role, masking and the service flags."""
from __future__ import annotations

import pytest
from followup_team import LEAD, MANAGER, SALES_LI, SALES_WANG, TODAY, VIEWER

from crm.auth.personal import PersonalData
from crm.customers import flags
from crm.customers.profile import load_profile
from crm.db import Archive
from crm.followups.queue import UNASSIGNED, queue


def ids(page) -> list[int]:
    return [r.id for r in page.rows]


def test_a_sales_users_queue_in_priority_order(team: Archive) -> None:
    page = queue(PersonalData(team, SALES_WANG), today=TODAY)
    assert ids(page) == [2, 1, 3, 4]  # high value first, then by days overdue, then by due day
    assert page.counts == {"逾期": 1, "今天": 1, "本周": 1, "以后": 1} and page.total == 4
    first = page.rows[0]
    assert (first.customer_id, first.high_value, first.bucket, first.name, first.phone) == ("C1", True, "本周", "张伟明", "13800000001")
    by_id = {r.id: r for r in page.rows}
    assert by_id[1].days_overdue == 5 and by_id[3].focus and by_id[3].flags == "重点关注"


def test_buckets_filter_and_count(team: Archive) -> None:
    reader = PersonalData(team, SALES_WANG)
    assert ids(queue(reader, bucket="逾期", today=TODAY)) == [1]
    assert ids(queue(reader, bucket="今天", today=TODAY)) == [3]
    with pytest.raises(ValueError, match="没有「明天」这一分组"):
        queue(reader, bucket="明天", today=TODAY)


def test_urgent_first_in_another_queue(team: Archive) -> None:
    page = queue(PersonalData(team, SALES_LI), today=TODAY)
    assert ids(page) == [6, 5]  # 紧急 before the 40-day overdue one
    assert page.rows[0].urgent and page.rows[0].flags == "紧急"


def test_sales_see_only_their_own_whatever_they_ask(team: Archive) -> None:
    assert ids(queue(PersonalData(team, SALES_WANG), owner="李娜", today=TODAY)) == [2, 1, 3, 4]


def test_leads_and_managers_pick_an_owner_or_see_all(team: Archive) -> None:
    assert queue(PersonalData(team, LEAD), today=TODAY).total == 6
    assert ids(queue(PersonalData(team, MANAGER), owner="李娜", today=TODAY)) == [6, 5]
    assert queue(PersonalData(team, LEAD), owner=UNASSIGNED, today=TODAY).total == 0


def test_a_viewer_sees_masked_names_and_phones(team: Archive) -> None:
    page = queue(PersonalData(team, VIEWER), today=TODAY)
    assert page.total == 0  # a viewer owns nothing
    # a sales user sees a colleague's customer masked when it is in their queue
    with team.transaction() as tx:
        tx.execute("UPDATE follow_ups SET owner = '王磊' WHERE id = 5")
    row = next(r for r in queue(PersonalData(team, SALES_WANG), today=TODAY).rows if r.id == 5)
    assert row.name == "赵*" and row.phone == "138****0004"


def test_the_focus_flag_ends_when_the_complaint_is_resolved_and_visited(team: Archive) -> None:
    def focus() -> set[str]:
        cur = team.cursor()
        try:
            sql, params = flags.focus_customers_sql(TODAY, 12)
            return {c for (c,) in cur.execute(sql, params).fetchall()}
        finally:
            cur.close()

    def profile_says() -> set[str]:  # the profile's statement of the same rule, customer by customer
        reader = PersonalData(team, MANAGER)
        return {c for c in ("C1", "C2", "C3", "C4", "C5", "C6")
                if any(s.label == "重点关注" for s in load_profile(reader, c, TODAY).segments)}

    assert focus() == profile_says() == {"C3"}
    with team.transaction() as tx:
        tx.execute("UPDATE complaints SET resolved_on = ? WHERE complaint_id = 'K1'", [TODAY])
    assert focus() == profile_says() == {"C3"}  # resolved, not yet visited
    with team.transaction() as tx:
        tx.execute("INSERT INTO interactions (customer_id, date, channel) VALUES ('C3', ?, '电话')", [TODAY])
        tx.execute("UPDATE customers SET last_logged_interaction = ? WHERE customer_id = 'C3'", [TODAY])
    assert focus() == profile_says() == set()
