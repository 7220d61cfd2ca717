"""The one audit writer: every write, reveal and export leaves one `audit_log` row through `record`.

`record` runs inside the caller's transaction, so the entry commits with the change it describes
or not at all. Actions are named in `ACTIONS` (with the words an audit viewer shows); recording an
action not listed there is a programming error, which keeps the log's vocabulary closed. The
time comes from crm.clock, like every other stamp.
"""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from crm import clock

if TYPE_CHECKING:
    import duckdb


class _Actor(Protocol):
    username: str


ACTIONS: dict[str, str] = {
    "import": "导入", "undo": "撤销导入", "mapping": "保存列对应", "seed": "生成演示数据",
    "edit": "修改客户资料", "reveal": "查看完整信息", "export": "导出",
    "add_interaction": "记录联系", "plan_follow_up": "安排跟进", "complete_follow_up": "完成跟进",
    "reschedule_follow_up": "跟进改期", "reassign_follow_up": "转派跟进", "urgent_follow_up": "24 小时跟进",
    "pool_release": "释放到公海", "pool_claim": "领取公海客户",
    "setting": "修改设置", "register_complaint": "登记投诉", "move_complaint": "投诉处理", "work_calendar": "修改工作日历",
    "survey_follow_up": "满意度跟进", "login": "登录", "login_failed": "登录失败", "logout": "退出登录",
    "user_add": "新建用户", "user_password": "重置密码", "user_enable": "启用用户", "user_disable": "停用用户",
    "user_unlock": "解锁用户",
}


def _plain(value: Any) -> Any:
    """JSON for what audit details hold: dates, times and decimals as text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def _text(detail: Any) -> str | None:
    return detail if isinstance(detail, str) or detail is None else json.dumps(detail, ensure_ascii=False, default=_plain)


def record(cur: "duckdb.DuckDBPyConnection", actor: "_Actor | str", action: str, entity: str | None = None,
           entity_id: str | int | None = None, detail: Any = None) -> None:
    """Write one audit entry in the caller's transaction.

    `detail` is text, or anything JSON can hold (dates and decimals become text); for a change it
    carries {"field": {"old": …, "new": …}}.
    """
    record_many(cur, actor, action, entity, [(entity_id, detail)])


def record_many(cur: "duckdb.DuckDBPyConnection", actor: "_Actor | str", action: str, entity: str | None,
                entries: "list[tuple[str | int | None, Any]]") -> None:
    """One audit entry per (entity id, detail), written in one statement: a rule that acts on many
    rows at once (a release to the pool, low-score follow-ups) audits each row without a query per row."""
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r} is not declared in crm.auth.audit.ACTIONS")
    if not entries:
        return
    user, now = actor if isinstance(actor, str) else actor.username, clock.now()
    cur.executemany("INSERT INTO audit_log (occurred_at, user_name, action, entity, entity_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
                    [[now, user, action, entity, None if eid is None else str(eid), _text(detail)] for eid, detail in entries])
