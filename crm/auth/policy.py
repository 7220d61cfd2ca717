"""The one permission policy: which role may do which action, as data.

An action is a name (`"follow_ups.reassign"`); `POLICY` lists, per action, the roles that may do
it and the words a refusal says. Code asks `allowed(actor, action)` to decide what to offer and
calls `require(actor, action)` before it writes, which raises `PermissionDenied` — the one error
type pages show as a message. Actions scoped to a customer's owner (`*.own`) pass only when the
actor owns the row; `may_touch_customer` is that rule in one place. Row scoping of lists (a sales
user's queue, masked columns) is SQL built by crm.auth.personal from the same roles.
"""
from __future__ import annotations

from dataclasses import dataclass

from crm.errors import UserError
from crm.vocabulary import ADMIN, LEAD, MANAGER, ROLES, SALES, VIEWER

LEADS_AND_UP = frozenset({ADMIN, MANAGER, LEAD})
WRITERS = frozenset({ADMIN, MANAGER, LEAD, SALES})


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    refusal: str  # what the user is told (Chinese), when refused


POLICY: dict[str, Rule] = {
    # customers' personal data
    "customers.see_all_in_full": Rule(LEADS_AND_UP, "只有主管、经理或管理员可以查看所有客户的完整资料"),
    "customers.edit_any": Rule(LEADS_AND_UP, "只有主管、经理或管理员可以修改其他人负责的客户"),
    "customers.edit_own": Rule(WRITERS, "只读用户不能修改客户档案"),
    "customers.change_owner": Rule(LEADS_AND_UP, "只有主管、经理或管理员可以更换负责人"),
    # follow-ups
    "follow_ups.work_own": Rule(WRITERS, "只读用户不能处理跟进任务"),
    "follow_ups.work_any": Rule(LEADS_AND_UP, "销售只能处理自己负责的跟进任务"),
    "follow_ups.see_all": Rule(LEADS_AND_UP, "只有主管、经理或管理员可以查看其他人的跟进队列"),
    "follow_ups.reassign": Rule(LEADS_AND_UP, "只有主管、经理或管理员可以转派跟进任务"),
    "follow_ups.export": Rule(LEADS_AND_UP, "只有主管、经理或管理员可以导出跟进报表"),
    # the public pool (客户公海)
    "pool.claim": Rule(WRITERS, "只读用户不能领取公海客户"),
    "pool.release": Rule(LEADS_AND_UP, "只有主管、经理或管理员可以把客户释放到公海"),
    # imports
    "imports.write": Rule(WRITERS, "只读用户不能导入数据"),
    "imports.undo_any": Rule(LEADS_AND_UP, "只能撤销自己导入的批次"),
    # settings and accounts
    "settings.change": Rule(frozenset({ADMIN}), "只有管理员可以修改规则设置"),
    "users.manage": Rule(frozenset({ADMIN}), "只有管理员可以管理用户"),
    "audit.export": Rule(frozenset({ADMIN}), "只有管理员可以导出操作日志"),
    "audit.view": Rule(frozenset({ADMIN}), "只有管理员可以查看和校验操作日志"),
    # the archive itself: backups, restore, destroying a customer's archive
    "backup.manage": Rule(frozenset({ADMIN}), "只有管理员可以备份和恢复档案"),
    "customers.delete": Rule(frozenset({ADMIN}), "只有管理员可以销毁客户档案"),
    # pages: a page a role may not use is not in its navigation at all
    "pages.import": Rule(WRITERS, "只读用户不能使用数据导入"),
    "pages.customers": Rule(frozenset(ROLES), ""),
    "pages.follow-ups": Rule(WRITERS, "只读用户没有跟进队列"),
    "pages.complaints": Rule(frozenset(ROLES), ""),
    "pages.segments": Rule(frozenset(ROLES), ""),
    "pages.admin": Rule(frozenset({ADMIN}), "只有管理员可以使用系统管理"),
}

assert all(r.roles <= set(ROLES) for r in POLICY.values())


class PermissionDenied(UserError):
    """An action the acting user's role may not do; `message` is what the user reads."""

    def __init__(self, action: str, message: str | None = None, field: str | None = None) -> None:
        self.action = action
        super().__init__(field, message or POLICY[action].refusal)


def allowed(actor: "HasRole", action: str) -> bool:
    """Whether the actor's role may do `action` (an unknown action is a programming error)."""
    return actor.role in POLICY[action].roles


def require(actor: "HasRole", action: str, message: str | None = None, field: str | None = None) -> None:
    """Refuse with PermissionDenied unless `allowed`; `message` replaces the policy's refusal,
    `field` names the form input it belongs beside."""
    if not allowed(actor, action):
        raise PermissionDenied(action, message, field)


def owns(actor: "HasName", owner: str | None) -> bool:
    return owner is not None and owner == actor.username


def may_touch_customer(actor: "HasRole", owner: str | None) -> bool:
    """Write to a customer (edit, log a contact, plan a follow-up): leads and up any, sales their own."""
    if allowed(actor, "customers.edit_any"):
        return True
    return allowed(actor, "customers.edit_own") and owns(actor, owner)  # type: ignore[arg-type]


def require_touch_customer(actor: "HasRole", owner: str | None, customer_id: str) -> None:
    """As may_touch_customer, refusing with the reason (a viewer; a sales user and someone else's customer)."""
    require(actor, "customers.edit_own")
    if not may_touch_customer(actor, owner):
        raise PermissionDenied("customers.edit_any",
                               f"客户 {customer_id} 的负责人是{owner or '（未分配）'}，销售只能修改自己负责的客户")


def sees_in_full(actor: "HasRole", owner: str | None) -> bool:
    """Leads and up see every customer in full; sales their own; viewers nobody."""
    if allowed(actor, "customers.see_all_in_full"):
        return True
    return actor.role == SALES and owns(actor, owner)  # type: ignore[arg-type]


class HasRole:  # typing only: anything with .role and .username (crm.auth.personal.Actor)
    role: str
    username: str


HasName = HasRole

__all__ = ["POLICY", "PermissionDenied", "Rule", "allowed", "may_touch_customer", "owns", "require",
           "require_touch_customer", "sees_in_full", "VIEWER"]
