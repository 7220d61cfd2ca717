"""Writes from the 客户360 page: profile edits, interactions, follow-ups.

Every function validates first, with the cleaning code the import uses (so a phone typed into
the page is judged exactly like one in a spreadsheet), then writes in one transaction that also
records the audit entry with old → new values. Any failure, including a write-write conflict
with another session, rolls the whole write back and surfaces as `EditError` with a message in
Chinese naming the field, so the page can show it beside the input and nothing is half-written.
"""
from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import duckdb

from crm import clock, db, provenance
from crm.auth import audit, policy
from crm.auth.personal import Actor
from crm.customers import activity
from crm.customers.search_keys import name_initials, name_pinyin
from crm.db import Archive, fetch_one
from crm.errors import CONFLICT_MESSAGE, UserError
from crm.geography import place_of
from crm.imports import templates as T
from crm.imports.batches import same_value, to_text
from crm.imports.cleaning import (
    CellError,
    Warned,
    clean_date,
    clean_long_text,
    clean_plan,
    clean_tags,
    clean_text,
    cleaner_for,
    enum_cleaner,
    is_blank,
)
from crm.schema import CUSTOMER_COLUMNS, CUSTOMER_EDITABLE
from crm.vocabulary import FOLLOW_UP_DONE, FOLLOW_UP_OPEN

OPEN, DONE = FOLLOW_UP_OPEN, FOLLOW_UP_DONE


# A write refused: the archive's one user-facing error (crm.errors), under the name the profile knows.
EditError = UserError


@dataclass(frozen=True)
class FieldChange:
    field: str
    label: str
    old: Any
    new: Any


# ------------------------------------------------------------------ permissions (crm.auth.policy)
can_edit = policy.may_touch_customer
_require_edit = policy.require_touch_customer


def _require_role(actor: Actor) -> None:
    """Refuse viewers before any validation or read: they get the same answer for every input."""
    policy.require(actor, "customers.edit_own")


# ------------------------------------------------------------------ field registry for edits
def _customer_fields() -> dict[str, T.Field]:
    fields = {f.name: f for f in T.T1.fields}
    for f in T.T4.fields:
        fields.setdefault(f.name, f)
    return fields


_FIELDS = _customer_fields()
EDIT_FIELDS: dict[str, T.Field] = _FIELDS  # field → its registry entry (kind, vocabulary): the form picks widgets by it
LABELS: dict[str, str] = {name: f.header for name, f in _FIELDS.items()}
LABELS["tags"] = T.T1.field_by_name["tags"].header
# Editable columns the registry can validate (a derived column added to the schema later is not
# a form field), plus the tags, which live in their own table.
EDITABLE = (*(c for c in CUSTOMER_EDITABLE if c in _FIELDS), "tags")


def _edit_cleaner(f: T.Field) -> Callable[[Any], Any]:
    """Like import, except an unknown value of a closed list is an error, not a warning: a person
    at a form can fix it at once, and silently dropping what they typed would lose their edit."""
    if f.kind == T.ENUM:
        return enum_cleaner(f.enum or "", required=True)
    return cleaner_for(f)


def _clean_value(name: str, raw: Any) -> Any:
    """The clean value for a customer field, None to clear it; CellError says why not."""
    if name == "tags":
        if raw is None:
            return ()
        if isinstance(raw, (list, tuple, set)):
            raw = "、".join(str(x) for x in raw if not is_blank(x))
        return () if is_blank(raw) else clean_tags(raw)
    if is_blank(raw):
        if name == "name":
            raise CellError("不能为空")
        return None
    if isinstance(raw, str):
        raw = raw.strip()
    value = _edit_cleaner(_FIELDS[name])(raw)
    if isinstance(value, Warned):
        raise CellError(value.message)
    if name == "credit_limit" and value < 0:
        raise CellError("不能为负数")
    if name == "birth_date" and value > clock.today():
        raise CellError("不能晚于今天")
    return value


def fail(errors: dict[str, str]) -> None:
    if errors:
        first = next(iter(errors))
        raise EditError(first, errors[first], errors)


def _message(name: str, problem: str) -> str:
    return f"{LABELS.get(name, name)}：{problem}"


# ------------------------------------------------------------------ shared pieces
@dataclass
class _Customer:
    customer_id: str
    values: dict[str, Any]
    tags: tuple[str, ...]

    @property
    def owner(self) -> str | None:
        return self.values.get("owner")


_COLS = [c for c in CUSTOMER_COLUMNS if c != "customer_id"]


def load_for_edit(cur: duckdb.DuckDBPyConnection, customer_id: str) -> _Customer:
    row = fetch_one(cur, f"SELECT {', '.join(_COLS)} FROM customers WHERE customer_id = ?", [customer_id])
    if row is None:
        raise EditError(None, f"客户 {customer_id} 不存在（可能已被删除），请刷新后重试")
    tags = tuple(t for (t,) in cur.execute(
        "SELECT DISTINCT tag FROM customer_tags WHERE customer_id = ? ORDER BY tag", [customer_id]).fetchall())
    return _Customer(customer_id, dict(zip(_COLS, row)), tags)


def _json(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    return to_text(value) if not isinstance(value, (int, str)) or isinstance(value, bool) else value


def known_user(cur: duckdb.DuckDBPyConnection, name: str) -> bool:
    """Owners are user names; an archive with no users yet (imports only) accepts any name."""
    row = fetch_one(cur, "SELECT count(*), count(*) FILTER (username = ? OR display_name = ?) FROM users",
                    [name, name])
    return not row or row[0] == 0 or row[1] > 0


@contextmanager
def _write(archive: Archive) -> Iterator[duckdb.DuckDBPyConnection]:
    """A transaction whose write-write conflicts become EditError.

    DuckDB reports a conflict (another session changed the same row since this transaction
    began) as a TransactionException, at the statement or at COMMIT; either way the transaction
    is rolled back by then and the user is asked to reload.
    """
    try:
        with archive.transaction() as cur:
            db.mark_changed(cur, db.EDIT)
            yield cur
    except duckdb.TransactionException as exc:
        raise EditError(None, CONFLICT_MESSAGE) from exc


# ------------------------------------------------------------------ profile edits
def update_customer(archive: Archive, actor: Actor, customer_id: str, changes: Mapping[str, Any], *,
                    expected: Mapping[str, Any] | None = None) -> list[FieldChange]:
    """Apply a profile form; returns what actually changed (empty when nothing did).

    `expected` (optional) holds the values the form was loaded with: if another session changed
    any of those fields since, the edit is refused instead of silently overwriting theirs.
    """
    _require_role(actor)
    errors: dict[str, str] = {}
    clean: dict[str, Any] = {}
    for name, raw in changes.items():
        if name not in EDITABLE:
            errors[name] = f"{LABELS.get(name, name)}：不能修改"
            continue
        try:
            clean[name] = _clean_value(name, raw)
        except CellError as exc:
            errors[name] = _message(name, str(exc))
    fail(errors)

    with _write(archive) as cur:
        current = load_for_edit(cur, customer_id)
        _require_edit(actor, current.owner, customer_id)
        old = dict(current.values, tags=current.tags)
        if expected:
            stale = [k for k, v in expected.items() if k in old and not _same(k, old[k], v)]
            if stale:
                raise _stale_edit(cur, customer_id, stale, expected, old)
        if "owner" in clean and not same_value(old.get("owner"), clean["owner"]):
            if not policy.allowed(actor, "customers.change_owner"):
                fail({"owner": _message("owner", policy.POLICY["customers.change_owner"].refusal)})
            if clean["owner"] is not None and not known_user(cur, clean["owner"]):
                fail({"owner": _message("owner", f"系统中没有用户「{clean['owner']}」")})
        if "address" in clean and clean["address"]:  # the import's rule: region and city from the address
            province, city = place_of(clean["address"])
            for name, value in (("region", province), ("city", city)):
                if value and name not in clean and not old.get(name):
                    clean[name] = value
        phone = clean.get("phone", old.get("phone"))
        email = clean.get("email", old.get("email"))
        if not phone and not email:
            field = "phone" if "phone" in clean else "email"
            fail({field: f"{LABELS['phone']}/{LABELS['email']}：至少需要填写一项"})

        done = [FieldChange(k, LABELS.get(k, k), old.get(k), v) for k, v in clean.items()
                if not _same(k, old.get(k), v)]
        if not done:
            return []
        columns = {c.field: c.new for c in done if c.field != "tags"}
        if "name" in columns:
            columns["name_pinyin"] = name_pinyin(columns["name"])
            columns["name_initials"] = name_initials(columns["name"])
        if columns:
            sets = ", ".join(f"{c} = ?" for c in columns)
            cur.execute(f"UPDATE customers SET {sets}, updated_at = ? WHERE customer_id = ?",
                        [*columns.values(), clock.now(), customer_id])
        tag_change = next((c for c in done if c.field == "tags"), None)
        if tag_change is not None:
            cur.execute("DELETE FROM customer_tags WHERE customer_id = ?", [customer_id])
            if tag_change.new:
                cur.executemany("INSERT INTO customer_tags (customer_id, tag) VALUES (?, ?)",
                                [(customer_id, t) for t in tag_change.new])
            if not columns:
                cur.execute("UPDATE customers SET updated_at = ? WHERE customer_id = ?",
                            [clock.now(), customer_id])
        _refresh_search(cur, customer_id)
        provenance.record_writes(cur, "customers", [(customer_id, c.field) for c in done], via="edit", user=actor.username)
        audit.record(cur, actor, "edit", "customers", customer_id,
               {"changes": {c.field: {"old": _json(c.old), "new": _json(c.new)} for c in done}})
    return done


STALE_EDIT = "未保存：{n} 个字段在你打开后已被其他人修改，两边的值见字段下方"


def _stale_edit(cur: duckdb.DuckDBPyConnection, customer_id: str, stale: list[str], expected: Mapping[str, Any],
                current: Mapping[str, Any]) -> EditError:
    """The refusal of a save made against an older version: per field, what the user loaded, what
    the archive holds now and who changed it when — nothing is overwritten, the form keeps the input."""
    histories = provenance.field_histories(cur, "customers", [customer_id], stale, None)

    def shown(value: Any) -> str:
        if isinstance(value, (set, frozenset, list, tuple)):
            return "、".join(sorted(map(str, value))) or "空"
        return "空" if value in (None, "") else str(value)

    errors = {}
    for name in stale:
        who = histories.get((customer_id, name))
        by = f"（{who.last.description}）" if who and who.last.source is None else ""
        errors[name] = (f"{LABELS.get(name, name)}：你打开后已被修改{by}，打开时为「{shown(expected[name])}」，"
                        f"现在是「{shown(current.get(name))}」。你的输入仍在表单中：核对后再次保存即以你的为准")
    return EditError(stale[0], STALE_EDIT.format(n=len(stale)), errors)


def _same(name: str, old: Any, new: Any) -> bool:
    if name == "tags":
        return set(old or ()) == set(new or ())
    if isinstance(old, str) and isinstance(new, str):
        return old == new
    return same_value(old, new)


def _refresh_search(cur: duckdb.DuckDBPyConnection, customer_id: str) -> None:
    """Keep the stored search column in step, when this version of the app has one."""
    try:
        from crm.customers.search import refresh_search_text
    except ImportError:
        return
    refresh_search_text(cur, [customer_id])


# ------------------------------------------------------------------ interactions
CHANNEL = enum_cleaner("channel", required=True)
GOAL = enum_cleaner("goal", required=False)


def clean_field(errors: dict[str, str], name: str, label: str, raw: Any, clean: Callable[[Any], Any],
                 required: bool = False) -> Any:
    if is_blank(raw):
        if required:
            errors[name] = f"{label}：必填"
        return None
    try:
        value = clean(raw.strip() if isinstance(raw, str) else raw)
    except CellError as exc:
        errors[name] = f"{label}：{exc}"
        return None
    if isinstance(value, Warned):
        errors[name] = f"{label}：{value.message}"
        return None
    return value


@dataclass(frozen=True)
class CleanInteraction:
    """A contact as the form gave it, validated by the import's cleaning code."""
    day: dt.date
    channel: str
    content: str | None
    result: str | None
    plan_text: str | None
    next_due: dt.date | None
    urgent: bool = False


def clean_interaction(date: Any, channel: Any, content: Any, result: Any = None, next_plan: Any = None,
                      next_follow_up: Any = None, urgent: bool = False) -> CleanInteraction:
    """Validate a contact (every invalid field at once, as EditError.errors).

    A plan text holding a date (`2024-05-20 电话回访`) plans the follow-up by itself when no date
    is given, as the T3 import does.
    """
    errors: dict[str, str] = {}
    day = clean_field(errors, "date", "互动日期", date, clean_date, required=True)
    if day is not None and day > clock.today():
        errors["date"] = "互动日期：不能晚于今天"
    how = clean_field(errors, "channel", "互动类型", channel, CHANNEL, required=True)
    text = clean_field(errors, "content", "互动内容", content, clean_long_text)
    outcome = clean_field(errors, "result", "结果", result, clean_text)
    plan = clean_field(errors, "next_plan", "下次联系计划", next_plan, clean_plan)
    plan_text, plan_day = plan if plan else (None, None)
    due = clean_field(errors, "next_follow_up", "下次跟进日期", next_follow_up, clean_date)
    if due is None and plan_day is not None and (day is None or plan_day >= day):
        due = plan_day
    if due is not None and day is not None and due < day and "next_follow_up" not in errors:
        errors["next_follow_up"] = "下次跟进日期：不能早于互动日期"
    fail(errors)
    return CleanInteraction(day, how, text, outcome, plan_text, due, bool(urgent))  # type: ignore[arg-type]


def write_interaction(cur: duckdb.DuckDBPyConnection, actor: Actor, customer: _Customer,
                      contact: CleanInteraction) -> tuple[int, dict[str, Any]]:
    """Insert a validated contact in the caller's transaction, keep the activity summary and the
    profile's 最近互动日期 current, apply the 24-hour rule to an urgent one; returns (id, audit detail)."""
    customer_id, day = customer.customer_id, contact.day
    was_current = activity.is_current(cur)
    new_id = int(fetch_one(cur, """
        INSERT INTO interactions (customer_id, date, channel, content, result, next_plan, created_by)
        VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id""",
        [customer_id, day, contact.channel, contact.content, contact.result, contact.plan_text, actor.username])[0])
    activity.fold_in_interaction(cur, customer_id, day)
    if was_current:
        activity.mark_current(cur)
    detail: dict[str, Any] = {"customer_id": customer_id, "date": day, "channel": contact.channel,
                              "content": contact.content, "result": contact.result, "next_plan": contact.plan_text}
    before = customer.values.get("last_interaction")
    if before is None or day > before:
        cur.execute("UPDATE customers SET last_interaction = ? WHERE customer_id = ?", [day, customer_id])
        detail["last_interaction"] = {"old": before, "new": day}
    if contact.urgent:
        from crm.followups.urgent import ensure_urgent_follow_up

        detail["urgent"] = True
        urgent_id = ensure_urgent_follow_up(cur, actor, customer_id, f"紧急互动：{contact.content or contact.channel}")
        if urgent_id is not None:
            detail["urgent_follow_up"] = urgent_id
    return new_id, detail


def add_interaction(archive: Archive, actor: Actor, customer_id: str, date: Any, channel: Any, content: Any,
                    result: Any = None, next_plan: Any = None, close_follow_up_id: int | None = None,
                    next_follow_up: Any = None, urgent: bool = False) -> int:
    """Log a contact; optionally close the follow-up it answered and plan the next one.

    `urgent` marks an urgent event: for a 高价值 customer the 24-hour rule plans a follow-up due
    within the configured hours unless one is open (crm.followups.urgent). Returns the new
    interaction's id.
    """
    _require_role(actor)
    contact = clean_interaction(date, channel, content, result, next_plan, next_follow_up, urgent)
    with _write(archive) as cur:
        customer = load_for_edit(cur, customer_id)
        _require_edit(actor, customer.owner, customer_id)
        new_id, detail = write_interaction(cur, actor, customer, contact)
        if close_follow_up_id is not None:
            close_follow_up(cur, actor, customer_id, close_follow_up_id, new_id, contact.result)
            detail["closed_follow_up"] = close_follow_up_id
        if contact.next_due is not None:
            detail["planned_follow_up"] = _plan(cur, customer_id, contact.next_due, None, contact.plan_text, None,
                                                customer.owner)
        audit.record(cur, actor, "add_interaction", "interactions", str(new_id), detail)
    return new_id


def close_follow_up(cur: duckdb.DuckDBPyConnection, actor: Actor, customer_id: str, follow_up_id: int,
                    interaction_id: int | None, outcome: str | None, expected_version: int | None = None) -> None:
    """Mark an open follow-up of this customer done, keeping who, when, the outcome and the contact
    that recorded it (completed follow-ups are never deleted). Refuses one that is no longer open or
    whose version moved on since the reader loaded it."""
    row = fetch_one(cur, "SELECT customer_id, status, version FROM follow_ups WHERE id = ?", [follow_up_id])
    if row is None or row[0] != customer_id:
        raise EditError("close_follow_up_id", f"跟进任务 {follow_up_id} 不属于该客户")
    if row[1] != OPEN:
        raise EditError("close_follow_up_id", f"跟进任务 {follow_up_id} 已是「{row[1]}」，请刷新后重试")
    if expected_version is not None and (row[2] or 0) != expected_version:
        raise EditError("close_follow_up_id", f"跟进任务 {follow_up_id} 刚被其他人修改，请刷新后重试")
    cur.execute("UPDATE follow_ups SET status = ?, done_at = ?, completed_by = ?, outcome = ?, interaction_id = ?, "
                "version = coalesce(version, 0) + 1 WHERE id = ?",
                [DONE, clock.now(), actor.username, outcome, interaction_id, follow_up_id])
    provenance.record_writes(cur, "follow_ups", [(follow_up_id, f) for f in ("status", "done_at", "completed_by")],
                             via="complete_follow_up", user=actor.username)


def _plan(cur: duckdb.DuckDBPyConnection, customer_id: str, due: dt.date, channel: str | None,
          content: str | None, goal: str | None, owner: str | None) -> int:
    """An open follow-up, unless one is already open for that customer and day (as imports do)."""
    row = fetch_one(cur, "SELECT id FROM follow_ups WHERE customer_id = ? AND due = ? AND status = ? ORDER BY id",
                    [customer_id, due, OPEN])
    if row is not None:
        return int(row[0])
    return int(fetch_one(cur, """
        INSERT INTO follow_ups (customer_id, due, channel, content, goal, owner, status, origin)
        VALUES (?, ?, ?, ?, ?, ?, ?, 'manual') RETURNING id""",
        [customer_id, due, channel, content, goal, owner, OPEN])[0])


