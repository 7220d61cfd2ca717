"""Writes on follow-ups: plan, complete (recording the contact, optionally planning the next),
reschedule and reassign — one or many — each in one transaction with its audit entry.

Two sessions acting on one follow-up at once (one completes, one reschedules): every action
carries the version of the row the user saw (`expected_version`) and changes the row only when
it is still that version and still open, raising the version itself. The second session gets a
`FollowUpConflict` naming what happened, with the row as it is now; nothing is lost or doubled.
DuckDB reports a simultaneous write as `TransactionException: Conflict on update`: the action is
retried once (it then sees the other session's commit and refuses cleanly) or reported.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Sequence, TypeVar

import duckdb

from crm import clock, db, provenance
from crm.auth import audit, policy
from crm.auth.personal import Actor
from crm.customers.edits import (
    CHANNEL,
    GOAL,
    EditError,
    clean_field,
    clean_interaction,
    close_follow_up,
    fail,
    known_user,
    load_for_edit,
    write_interaction,
)
from crm.db import Archive, fetch_one
from crm.errors import CONFLICT_MESSAGE, UserError
from crm.followups import rules
from crm.imports.cleaning import clean_date, clean_long_text, clean_text
from crm.settings import follow_up_settings
from crm.vocabulary import FOLLOW_UP_DONE, FOLLOW_UP_OPEN, SALES

T = TypeVar("T")


@dataclass(frozen=True)
class FollowUpRow:
    """A follow-up as it is in the archive now."""
    id: int
    customer_id: str
    status: str
    due: dt.date
    owner: str | None
    customer_owner: str | None
    channel: str | None
    content: str | None
    goal: str | None
    version: int
    completed_by: str | None
    done_at: dt.datetime | None

    def describe(self) -> str:
        if self.status == FOLLOW_UP_DONE:
            by = "，".join(x for x in (self.completed_by, f"{self.done_at:%Y-%m-%d %H:%M}" if self.done_at else "") if x)
            return "该跟进任务已完成" + (f"（{by}）" if by else "")
        if self.status != FOLLOW_UP_OPEN:
            return f"该跟进任务已是「{self.status}」"
        return f"该跟进任务刚被其他人修改（现在计划 {self.due}，负责人 {self.owner or '未分配'}）"


class FollowUpConflict(UserError):
    """The follow-up changed since the user loaded it; `current` is the row as it is now."""

    def __init__(self, current: FollowUpRow | None) -> None:
        self.current = current
        message = (current.describe() if current else "该跟进任务已不存在") + "，列表已刷新，请确认后再操作"
        super().__init__(None, message)


_ROW_SQL = """
    SELECT f.id, f.customer_id, f.status, f.due, f.owner, c.owner, f.channel, f.content, f.goal,
           coalesce(f.version, 0), f.completed_by, f.done_at
    FROM follow_ups f LEFT JOIN customers c ON c.customer_id = f.customer_id WHERE f.id = ?"""


def load_follow_up(cur: duckdb.DuckDBPyConnection, follow_up_id: int) -> FollowUpRow | None:
    row = fetch_one(cur, _ROW_SQL, [follow_up_id])
    return FollowUpRow(*row) if row else None


def _retrying(work: Callable[[], T]) -> T:
    """Run a write; a simultaneous write's TransactionException is retried once (the retry sees the
    other commit and refuses with the reason), then reported as a clear message."""
    for attempt in (1, 2):
        try:
            return work()
        except duckdb.TransactionException as exc:
            if attempt == 2:
                raise UserError(None, CONFLICT_MESSAGE) from exc
    raise AssertionError("unreachable")


def _writable(cur: duckdb.DuckDBPyConnection, actor: Actor, follow_up_id: int,
              expected_version: int | None) -> FollowUpRow:
    """The open follow-up the actor may change, still at the version they saw."""
    row = load_follow_up(cur, follow_up_id)
    if row is None:
        raise FollowUpConflict(None)
    if not policy.allowed(actor, "follow_ups.work_any") and actor.username not in (row.owner, row.customer_owner):
        raise policy.PermissionDenied("follow_ups.work_any")
    policy.require(actor, "follow_ups.work_own")
    if row.status != FOLLOW_UP_OPEN or (expected_version is not None and row.version != expected_version):
        raise FollowUpConflict(row)
    return row


def _update(cur: duckdb.DuckDBPyConnection, actor: Actor, via: str, row: FollowUpRow, sets: str,
            params: Sequence[Any]) -> None:
    """Change the row only if it is still open and at the version read; else another session won.
    The fields changed are remembered as set in the app (crm.provenance), so a re-import keeps them."""
    changed = cur.execute(
        f"UPDATE follow_ups SET {sets}, version = coalesce(version, 0) + 1 "
        "WHERE id = ? AND status = ? AND coalesce(version, 0) = ? RETURNING id",
        [*params, row.id, FOLLOW_UP_OPEN, row.version]).fetchall()
    if not changed:
        raise FollowUpConflict(load_follow_up(cur, row.id))
    provenance.record_writes(cur, "follow_ups", [(row.id, part.split("=")[0].strip()) for part in sets.split(",")],
                             via=via, user=actor.username)


# ------------------------------------------------------------------ plan
def plan_follow_up(archive: Archive, actor: Actor, customer_id: str, due: Any, channel: Any = None,
                   content: Any = None, goal: Any = None, owner: Any = None, *, origin: str = "manual",
                   priority: str | None = None) -> int:
    """Plan a follow-up (owner: the customer's owner unless given); returns its id.

    Sales plan for their own customers and only for themselves; leads and up may assign anyone.
    """
    policy.require(actor, "customers.edit_own")
    errors: dict[str, str] = {}
    day = clean_field(errors, "due", "跟进时间", due, clean_date, required=True)
    if day is not None and day < clock.today():
        errors["due"] = "跟进时间：不能早于今天"
    how = clean_field(errors, "channel", "跟进方式", channel, CHANNEL)
    text = clean_field(errors, "content", "跟进内容", content, clean_long_text)
    aim = clean_field(errors, "goal", "跟进目标", goal, GOAL)
    who = clean_field(errors, "owner", "负责人", owner, clean_text)
    fail(errors)

    def work() -> int:
        with archive.transaction() as cur:
            db.mark_changed(cur, db.EDIT)
            customer = load_for_edit(cur, customer_id)
            policy.require_touch_customer(actor, customer.owner, customer_id)
            chosen = who or customer.owner or (actor.username if actor.role == SALES else None)
            if chosen is not None and chosen != customer.owner:
                if actor.role == SALES and chosen != actor.username:
                    fail({"owner": "负责人：销售只能为自己安排跟进"})
                if not known_user(cur, chosen):
                    fail({"owner": f"负责人：系统中没有用户「{chosen}」"})
            return _insert(cur, actor, customer_id, day, how, text, aim, chosen, origin, priority)  # type: ignore[arg-type]

    return _retrying(work)


def _insert(cur: duckdb.DuckDBPyConnection, actor: Actor, customer_id: str, due: dt.date, channel: str | None,
            content: str | None, goal: str | None, owner: str | None, origin: str, priority: str | None) -> int:
    new_id = int(fetch_one(cur, """
        INSERT INTO follow_ups (customer_id, due, channel, content, goal, owner, status, origin, priority, created_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        [customer_id, due, channel, content, goal, owner, FOLLOW_UP_OPEN, origin, priority, clock.now()])[0])
    audit.record(cur, actor, "plan_follow_up", "follow_ups", new_id,
                 {"customer_id": customer_id, "due": due, "channel": channel, "content": content, "goal": goal,
                  "owner": owner, "origin": origin})
    return new_id


# ------------------------------------------------------------------ complete
@dataclass(frozen=True)
class Completion:
    follow_up_id: int
    interaction_id: int | None
    next_follow_up_id: int | None


def next_follow_up_defaults(row: FollowUpRow, completed_on: dt.date, default_days: int) -> dict[str, Any]:
    """What "完成并安排下次" proposes: the same channel, content and goal, due after the goal's interval."""
    return {"due": rules.next_due(completed_on, row.goal, default_days), "channel": row.channel,
            "content": row.content, "goal": row.goal}


def proposed_next(archive: Archive, follow_up_id: int, completed_on: dt.date | None = None) -> dict[str, Any] | None:
    """The next follow-up the page pre-fills for a row (None when the row is gone)."""
    cur = archive.cursor()
    try:
        row = load_follow_up(cur, follow_up_id)
        days = follow_up_settings(cur).next_follow_up_days
    finally:
        cur.close()
    return next_follow_up_defaults(row, completed_on or clock.today(), days) if row else None


def complete_follow_up(archive: Archive, actor: Actor, follow_up_id: int, *, channel: Any = None, content: Any = None,
                       result: Any = None, date: Any = None, urgent: bool = False, next_due: Any = None,
                       next_content: Any = None, expected_version: int | None = None) -> Completion:
    """Mark an open follow-up done. With a channel, the contact is recorded as an interaction in the
    same transaction (完成) and linked to it; with `next_due`, the next follow-up is planned with the
    same channel and goal (完成并安排下次). Completed follow-ups keep completed_at, completed_by and
    the outcome; they are never deleted."""
    policy.require(actor, "follow_ups.work_own")
    contact = None
    if channel is not None or content is not None:
        contact = clean_interaction(date if date is not None else clock.today(), channel, content, result,
                                    urgent=urgent)
    errors: dict[str, str] = {}
    nxt = clean_field(errors, "next_due", "下次跟进日期", next_due, clean_date)
    nxt_text = clean_field(errors, "next_content", "下次跟进内容", next_content, clean_long_text)
    done_on = contact.day if contact else clock.today()
    if nxt is not None and nxt < done_on:
        errors["next_due"] = "下次跟进日期：不能早于完成日期"
    fail(errors)

    def work() -> Completion:
        with archive.transaction() as cur:
            db.mark_changed(cur, db.EDIT)
            row = _writable(cur, actor, follow_up_id, expected_version)
            interaction_id = None
            if contact is not None:
                customer = load_for_edit(cur, row.customer_id)
                interaction_id, detail = write_interaction(cur, actor, customer, contact)
                detail["closed_follow_up"] = follow_up_id
                audit.record(cur, actor, "add_interaction", "interactions", interaction_id, detail)
            _update(cur, actor, "complete_follow_up", row, "status = ?, done_at = ?, completed_by = ?, outcome = ?, interaction_id = ?",
                    [FOLLOW_UP_DONE, clock.now(), actor.username, contact.result if contact else None, interaction_id])
            audit.record(cur, actor, "complete_follow_up", "follow_ups", follow_up_id,
                         {"customer_id": row.customer_id, "status": {"old": row.status, "new": FOLLOW_UP_DONE},
                          "interaction_id": interaction_id})
            next_id = None
            if nxt is not None:
                next_id = _insert(cur, actor, row.customer_id, nxt, row.channel, nxt_text or row.content, row.goal,
                                  row.owner, "next", None)
            return Completion(follow_up_id, interaction_id, next_id)

    return _retrying(work)


# ------------------------------------------------------------------ reschedule and reassign
def _clean_reason(errors: dict[str, str], reason: Any, required: bool) -> str | None:
    return clean_field(errors, "reason", "原因", reason, clean_long_text, required=required)


def reschedule_follow_up(archive: Archive, actor: Actor, follow_up_id: int, due: Any, reason: Any = None, *,
                         expected_version: int | None = None) -> None:
    """Move an open follow-up to another day, with the reason (kept in the audit log)."""
    reschedule_many(archive, actor, [follow_up_id], due, reason,
                    expected_versions={follow_up_id: expected_version} if expected_version is not None else None)


def reschedule_many(archive: Archive, actor: Actor, follow_up_ids: Sequence[int], due: Any, reason: Any = None, *,
                    expected_versions: dict[int, int] | None = None) -> int:
    """Move several open follow-ups to one day in one transaction; returns how many moved. Any row
    another session changed meanwhile refuses the whole batch with its reason (nothing half-done)."""
    policy.require(actor, "follow_ups.work_own")
    errors: dict[str, str] = {}
    day = clean_field(errors, "due", "跟进时间", due, clean_date, required=True)
    if day is not None and day < clock.today():
        errors["due"] = "跟进时间：不能早于今天"
    why = _clean_reason(errors, reason, required=False)
    fail(errors)

    return _set_many(archive, actor, follow_up_ids, "due", day, why, "reschedule_follow_up", expected_versions)


def reassign_follow_up(archive: Archive, actor: Actor, follow_up_id: int, owner: str, reason: Any = None, *,
                       expected_version: int | None = None) -> None:
    """Give an open follow-up to another user: leads and up only (PRODUCT.md, 跟进队列)."""
    reassign_many(archive, actor, [follow_up_id], owner, reason,
                  expected_versions={follow_up_id: expected_version} if expected_version is not None else None)


def reassign_many(archive: Archive, actor: Actor, follow_up_ids: Sequence[int], owner: Any, reason: Any = None, *,
                  expected_versions: dict[int, int] | None = None) -> int:
    """Give several open follow-ups to one user in one transaction, each audited with the reason;
    returns how many changed hands."""
    policy.require(actor, "follow_ups.reassign", "负责人：只有主管、经理或管理员可以转派跟进任务", "owner")
    errors: dict[str, str] = {}
    who = clean_field(errors, "owner", "负责人", owner, clean_text, required=True)
    why = _clean_reason(errors, reason, required=False)
    fail(errors)

    def check(cur: duckdb.DuckDBPyConnection) -> None:
        if not known_user(cur, who):  # type: ignore[arg-type]
            fail({"owner": f"负责人：系统中没有用户「{who}」"})

    return _set_many(archive, actor, follow_up_ids, "owner", who, why, "reassign_follow_up", expected_versions, check)


def _set_many(archive: Archive, actor: Actor, follow_up_ids: Sequence[int], column: str, value: Any, reason: str | None,
              action: str, expected_versions: dict[int, int] | None,
              check: Callable[[duckdb.DuckDBPyConnection], None] | None = None) -> int:
    """Set one column (due or owner) of several open follow-ups in one transaction, each still at
    the version the user saw, each audited with old → new and the reason; rows already at the value
    are left alone. Returns how many changed."""

    def work() -> int:
        changed = 0
        with archive.transaction() as cur:
            db.mark_changed(cur, db.EDIT)
            if check is not None:
                check(cur)
            for fid in follow_up_ids:
                row = _writable(cur, actor, fid, (expected_versions or {}).get(fid))
                old = getattr(row, column)
                if old == value:
                    continue
                _update(cur, actor, action, row, f"{column} = ?", [value])
                audit.record(cur, actor, action, "follow_ups", fid,
                             {"customer_id": row.customer_id, column: {"old": old, "new": value}, "reason": reason})
                changed += 1
        return changed

    return _retrying(work)


__all__ = ["Completion", "EditError", "FollowUpConflict", "FollowUpRow", "complete_follow_up", "load_follow_up",
           "next_follow_up_defaults", "plan_follow_up", "proposed_next", "reassign_follow_up", "reassign_many",
           "reschedule_follow_up", "reschedule_many", "close_follow_up"]
