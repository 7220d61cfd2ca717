"""crm.auth.policy: who may do what, as one table; refusals are one error type with a Chinese message."""
from __future__ import annotations

import pytest

from crm.auth import policy
from crm.auth.personal import Actor
from crm.errors import UserError
from crm.vocabulary import ADMIN, LEAD, MANAGER, ROLES, SALES, VIEWER

EXPECTED = {
    # action: roles allowed
    "customers.see_all_in_full": {ADMIN, MANAGER, LEAD},
    "customers.edit_own": {ADMIN, MANAGER, LEAD, SALES},
    "customers.change_owner": {ADMIN, MANAGER, LEAD},
    "follow_ups.reassign": {ADMIN, MANAGER, LEAD},
    "follow_ups.see_all": {ADMIN, MANAGER, LEAD},
    "imports.write": {ADMIN, MANAGER, LEAD, SALES},
    "imports.undo_any": {ADMIN, MANAGER, LEAD},
    "settings.change": {ADMIN},
}


@pytest.mark.parametrize("action", sorted(EXPECTED))
@pytest.mark.parametrize("role", ROLES)
def test_each_role_and_action(action: str, role: str) -> None:
    actor = Actor("someone", role)
    assert policy.allowed(actor, action) is (role in EXPECTED[action])
    if role in EXPECTED[action]:
        policy.require(actor, action)
    else:
        with pytest.raises(policy.PermissionDenied) as err:
            policy.require(actor, action)
        assert isinstance(err.value, UserError) and err.value.message == policy.POLICY[action].refusal
        assert any("\u4e00" <= ch <= "\u9fff" for ch in err.value.message)


def test_an_unknown_action_is_a_programming_error() -> None:
    with pytest.raises(KeyError):
        policy.allowed(Actor("a", ADMIN), "nothing.like.this")


def test_customers_are_touched_by_their_owner_or_leads_and_up() -> None:
    assert policy.may_touch_customer(Actor("王磊", SALES), "王磊")
    assert not policy.may_touch_customer(Actor("王磊", SALES), "孙丽")
    assert not policy.may_touch_customer(Actor("王磊", SALES), None)
    assert policy.may_touch_customer(Actor("周主管", LEAD), "孙丽")
    assert not policy.may_touch_customer(Actor("看客", VIEWER), "看客")
    with pytest.raises(policy.PermissionDenied, match="销售只能修改自己负责的客户"):
        policy.require_touch_customer(Actor("王磊", SALES), "孙丽", "C1")
    with pytest.raises(policy.PermissionDenied, match="只读"):
        policy.require_touch_customer(Actor("看客", VIEWER), "看客", "C1")


def test_full_view_follows_the_same_rule() -> None:
    assert policy.sees_in_full(Actor("王磊", SALES), "王磊")
    assert not policy.sees_in_full(Actor("王磊", SALES), "孙丽")
    assert not policy.sees_in_full(Actor("看客", VIEWER), None)
    assert all(policy.sees_in_full(Actor("x", r), "孙丽") for r in (ADMIN, MANAGER, LEAD))
