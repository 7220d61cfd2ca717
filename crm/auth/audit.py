"""The one audit writer: every write, reveal and export leaves one `audit_log` row through `record`.

`record` runs inside the caller's transaction, so the entry commits with the change it describes
or not at all. Actions are named in `ACTIONS` (with the words an audit viewer shows); recording an
action not listed there is a programming error, which keeps the log's vocabulary closed. The
time comes from crm.clock, like every other stamp.

The log is a hash chain: each row carries `prev_hash` (the previous row's hash) and `row_hash`,
sha256 over the previous hash and the row's canonical text (`row_hash()`), so editing, removing or
inserting a row breaks the chain at that row and `verify()` (`python -m crm audit verify`) names
it. For the chain to stay one line while several sessions write at once, a writer holds the
archive's chain lock from its first entry until its transaction ends (crm.db.at_end), and reads the
previous row through a fresh cursor: a transaction's own snapshot may predate the last commit.
The text of a detail enters the hash as its digest, so a detail that must go (a destroyed
customer's old and new values, crm.admin.destruction) can be replaced by `REDACTED` while its
digest is kept in `detail_sha`: the chain still verifies, and such a row can only ever say
REDACTED. What a chain cannot show by itself is its last rows cut off; `verify` prints the head
hash, which backups and reports keep.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Iterable, Protocol

from crm import clock, db

if TYPE_CHECKING:
    import duckdb

    from crm.db import Archive


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
    "user_unlock": "解锁用户", "user_role": "更改角色", "user_email": "登记单点登录邮箱",
    "backup": "创建备份", "restore": "恢复备份", "customer_delete": "销毁客户档案", "audit_verify": "校验操作日志",
    "merge_customers": "合并客户", "unmerge_customers": "撤销合并", "keep_apart": "确认不是重复客户",
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
    """One audit entry per (entity id, detail), in one statement: a rule that acts on many rows at
    once (a release to the pool, low-score follow-ups) audits each row without a query per row.
    Each entry is chained onto the one before (see the module's docstring)."""
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r} is not declared in crm.auth.audit.ACTIONS")
    if not entries:
        return
    user, now = actor if isinstance(actor, str) else actor.username, clock.now()
    chain, release = _hold(cur)
    try:
        ids = sorted(int(i) for (i,) in cur.execute("SELECT nextval('row_id_seq') FROM range(?)", [len(entries)]).fetchall())
        prev = chain.head[1] if chain.head else GENESIS
        rows = []
        for row_id, (eid, detail) in zip(ids, entries):
            text, key = _text(detail), None if eid is None else str(eid)
            digest = row_hash(prev, row_id, now, user, action, entity, key, detail_digest(text))
            rows.append([row_id, now, user, action, entity, key, text, prev, digest])
            prev = digest
        cur.executemany("INSERT INTO audit_log (id, occurred_at, user_name, action, entity, entity_id, detail, prev_hash, "
                        "row_hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        chain.head = (ids[-1], prev)
    finally:
        if release:
            _release(chain, cur, True)


# ------------------------------------------------------------------ the hash chain
GENESIS = "0" * 64  # the previous hash of the first row
REDACTED = "（已随客户档案销毁）"  # the only text a row whose detail was destroyed may carry


def detail_digest(detail: str | None) -> str:
    """sha256 of a detail's text (None and "" differ): what the row hash covers of it."""
    return hashlib.sha256(b"\x00" if detail is None else b"\x01" + detail.encode("utf-8")).hexdigest()


def _stamp(moment: dt.datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def row_hash(prev_hash: str, row_id: int, occurred_at: dt.datetime, user_name: str, action: str,
             entity: str | None, entity_id: str | None, digest: str) -> str:
    """The hash of one row: sha256 over the previous row's hash and the row's canonical text (a JSON
    array of id, time to the microsecond, user, action, entity, entity id and the detail's digest)."""
    text = json.dumps([row_id, _stamp(occurred_at), user_name, action, entity, entity_id, digest],
                      ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256((prev_hash + text).encode("utf-8")).hexdigest()


@dataclass
class _Chain:
    lock: threading.RLock = field(default_factory=threading.RLock)
    head: tuple[int, str] | None = None  # (id, row_hash) of the last row the holder wrote or sees
    holders: dict[int, tuple[int, str] | None] = field(default_factory=dict)  # id(cursor) → head before it held


_chains: dict[str, _Chain] = {}
_chains_guard = threading.Lock()
_HEAD_SQL = "SELECT id, row_hash FROM audit_log ORDER BY id DESC LIMIT 1"


def _key(cur: "duckdb.DuckDBPyConnection") -> tuple[str, "Archive | None"]:
    archive = db.archive_of(cur)
    if archive is not None:
        return str(archive.path.resolve()), archive
    path = cur.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchall()
    return str(path[0][0] if path and path[0][0] else id(cur)), None


def _hold(cur: "duckdb.DuckDBPyConnection") -> tuple[_Chain, bool]:
    """The archive's chain, locked for this transaction (until it ends); True when the caller must
    release it itself (a cursor outside any transaction crm.db knows: an autocommit write)."""
    key, archive = _key(cur)
    with _chains_guard:
        chain = _chains.setdefault(key, _Chain())
    if id(cur) in chain.holders:
        return chain, False
    chain.lock.acquire()
    outermost = not chain.holders
    chain.holders[id(cur)] = chain.head
    try:
        if outermost:  # the last committed row, which this transaction's own snapshot may not show
            fresh = archive.cursor() if archive is not None else cur.cursor()
            try:
                row = db.fetch_one(fresh, _HEAD_SQL)
            finally:
                fresh.close()
            chain.head = (int(row[0]), str(row[1])) if row and row[1] else None
    except BaseException:
        _release(chain, cur, False)
        raise
    if db.at_end(cur, lambda committed: _release(chain, cur, committed)):
        return chain, False
    return chain, True


def _release(chain: _Chain, cur: "duckdb.DuckDBPyConnection", committed: bool) -> None:
    before = chain.holders.pop(id(cur), None)
    if not committed:
        chain.head = before  # its rows are gone: the next writer chains onto what came before them
    if not chain.holders:
        chain.head = None  # read afresh by the next writer
    chain.lock.release()


def continue_chain_from(cur: "duckdb.DuckDBPyConnection") -> None:
    """For a transaction that replaces the log itself (a restore): hold the chain until it ends, and
    continue it from the last row this transaction sees, not from the last committed one. Called
    first in the transaction, it also keeps every other writer's entry out until then: DuckDB starts
    a transaction's snapshot at its first read, which this is."""
    chain, release = _hold(cur)
    row = db.fetch_one(cur, _HEAD_SQL)
    chain.head = (int(row[0]), str(row[1])) if row and row[1] else None
    if release:
        _release(chain, cur, True)


def chain_rows(rows: Iterable[tuple[Any, ...]], prev: str = GENESIS) -> list[tuple[int, str, str]]:
    """(id, prev_hash, row_hash) for rows (id, occurred_at, user_name, action, entity, entity_id, detail)
    in id order, chained from `prev`: the migration that introduced the chain links the rows already there."""
    out = []
    for row_id, occurred_at, user, action, entity, entity_id, detail in rows:
        digest = row_hash(prev, int(row_id), occurred_at, user, action, entity, entity_id, detail_digest(detail))
        out.append((int(row_id), prev, digest))
        prev = digest
    return out


@dataclass(frozen=True)
class ChainReport:
    """What `verify` found: how many rows held, and the first broken link (None when all held)."""
    checked: int
    head: str | None = None
    broken_id: int | None = None
    broken_at: dt.datetime | None = None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.broken_id is None

    @property
    def message(self) -> str:
        if self.ok:
            return (f"操作日志哈希链完整：已校验 {self.checked} 条记录" +
                    (f"，最新哈希 {self.head}" if self.head else ""))
        at = f"，时间 {self.broken_at:%Y-%m-%d %H:%M:%S}" if self.broken_at else ""
        return f"操作日志哈希链在第 {self.broken_id} 号记录处断开（{self.reason}{at}）；此前 {self.checked} 条记录校验通过"


def verify(source: "Archive | duckdb.DuckDBPyConnection", chunk: int = 50_000) -> ChainReport:
    """Walk the log in id order and recompute every link; stop at the first that does not hold."""
    own = hasattr(source, "transaction")
    cur = source.cursor() if own else source  # type: ignore[union-attr]
    try:
        cur.execute("SELECT id, occurred_at, user_name, action, entity, entity_id, detail, detail_sha, prev_hash, row_hash "
                    "FROM audit_log ORDER BY id")
        prev, checked = GENESIS, 0
        while True:
            rows = cur.fetchmany(chunk)
            if not rows:
                break
            for row_id, at, user, action, entity, entity_id, detail, detail_sha, stored_prev, stored in rows:
                reason = None
                if stored is None or stored_prev is None:
                    reason = "缺少哈希"
                elif stored_prev != prev:
                    reason = "与前一条记录的链接不符：前一条记录被删除、插入或改动"
                elif detail_sha is not None and detail != REDACTED:
                    reason = "销毁标记被改动"
                elif row_hash(prev, row_id, at, user, action, entity, entity_id,
                              detail_sha or detail_digest(detail)) != stored:
                    reason = "记录内容被改动"
                if reason:
                    cur.fetchall()  # read the result to its end (crm.db.fetch_one)
                    return ChainReport(checked, None, row_id, at, reason)
                prev, checked = stored, checked + 1
        return ChainReport(checked, prev if checked else None)
    finally:
        if own:
            cur.close()
