"""Who set each field last, and the one conflict rule every writer obeys.

During a switch-over a team re-uploads its own Excel sheets for weeks while it already works in
the app. A re-import must not undo that work: a field the archive changed after the sheet last
set it — an edit on the 客户360 profile, a follow-up or complaint action, the pool, an import of
another sheet — is a *conflict*, not an update. The archive's value is kept unless the user (or
`--on-conflict take`) chooses the sheet's, per field, per customer or for the whole sheet.

Every writer records the fields it set in `field_writes` (`record_writes`, inside its own
transaction); an import batch's rows count only while the batch is active, so an undo also undoes
its provenance. A row created by an import and not written since was set by that import's sheet.

A sheet's identity (its *source*) is its file name without extension and copy marks (「客户档案 (1)
.xlsx」 and 「客户档案-副本.xlsx」 are 「客户档案」) plus its sheet name: re-uploading the same
workbook is the same source, a colleague's CSV is another.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterable

from crm import clock

if TYPE_CHECKING:
    import duckdb

KEEP, TAKE = "keep", "take"
CHOICE_LABELS = {KEEP: "保留档案值", TAKE: "采用表格值"}
IMPORT = "import"  # the via of an import's writes; an app write's via is its audit action's name

# What a re-saved or downloaded copy adds to a file name: 「 (1)」, 「-副本」, 「 copy 2」.
_COPY_MARKS = re.compile(r"(\s*[-_－—]?\s*(副本|拷贝|copy)(\s*[\(（]?\d+[\)）]?)?|\s*[\(（]\d+[\)）])+$", re.IGNORECASE)


def source_of(file: str, sheet: str | None) -> str:
    """The identity of a sheet across uploads: the file's stem without copy marks, and the sheet."""
    stem = re.sub(r"\.(xlsx|xlsm|xls|csv|txt)$", "", (file or "").strip(), flags=re.IGNORECASE)
    stem = _COPY_MARKS.sub("", stem).strip().lower()
    return f"{stem}/{sheet or ''}"


@dataclass(frozen=True)
class LastWrite:
    """The last write of one field: by an import of `source` (batch_id) or by the app (source None)."""
    source: str | None
    via: str
    user: str
    at: dt.datetime
    batch_id: int | None = None
    file: str | None = None

    @property
    def description(self) -> str:
        """「张三 2026-11-03 14:05 修改客户资料」/「李四 2026-11-02 导入 客户档案.xlsx（批次 12）」."""
        from crm.auth.audit import ACTIONS

        when = self.at.strftime("%Y-%m-%d %H:%M")
        if self.batch_id is not None:
            return f"{self.user} {when} 导入「{self.file or ''}」（批次 {self.batch_id}）"
        return f"{self.user} {when} {ACTIONS.get(self.via, self.via)}"


@dataclass(frozen=True)
class FieldHistory:
    """What a conflict check needs of one field: its last write, and whether the importing sheet
    itself ever set it (while that import is still active)."""
    last: LastWrite
    set_by_source: bool


def is_conflict(history: FieldHistory | None, source: str | None, archived: Any) -> bool:
    """A sheet's value differing from the archive's is a conflict when the archive's value is not
    empty and someone other than this sheet set it last: the app (always), or an import of another
    sheet after this sheet had set it. A sheet that never set the field meets another import's
    value as a plain update (a nightly export under a new name each day updates as before); unknown
    provenance (data from before the archive kept it) is no conflict either."""
    if history is None or archived in (None, ""):
        return False
    if history.last.source is None:
        return True
    return history.last.source != source and history.set_by_source


def record_writes(cur: "duckdb.DuckDBPyConnection", table: str, keys_fields: Iterable[tuple[str, str]], *,
                  via: str, user: str, source: str | None = None, batch_id: int | None = None,
                  at: dt.datetime | None = None) -> None:
    """Remember, in the caller's transaction, that these fields of these rows were just set."""
    pairs = [(str(k), f) for k, f in keys_fields]
    if not pairs:
        return
    import pyarrow as pa

    staged = pa.table({"row_key": pa.array([k for k, _ in pairs], pa.string()),
                       "field": pa.array([f for _, f in pairs], pa.string())})
    cur.register("fw_rows", staged)
    try:
        cur.execute("INSERT INTO field_writes (table_name, row_key, field, source, batch_id, via, user_name, written_at) "
                    "SELECT ?, row_key, field, ?, ?, ?, ?, ? FROM fw_rows",
                    [table, source, batch_id, via, user, at or clock.now()])
    finally:
        cur.unregister("fw_rows")


def field_histories(cur: "duckdb.DuckDBPyConnection", table: str, keys: list[str], fields: list[str],
                    source: str | None) -> dict[tuple[str, str], FieldHistory]:
    """(row key, field) → its history for the given rows and fields, in two queries.

    Rows created by a still-active import and not written since count as set by that import.
    """
    if not keys or not fields:
        return {}
    last: dict[tuple[str, str], LastWrite] = {}
    own: set[tuple[str, str]] = set()
    for key, name, src, via, user, at, batch_id, file, n in cur.execute(
            """SELECT row_key, field, source, via, user_name, written_at, batch_id, file, n FROM (
                   SELECT w.*, b.file, row_number() OVER (PARTITION BY w.row_key, w.field ORDER BY w.id DESC) AS n
                   FROM field_writes w LEFT JOIN import_batches b USING (batch_id)
                   WHERE w.table_name = ? AND w.row_key IN (SELECT unnest(?)) AND w.field IN (SELECT unnest(?))
                     AND (w.batch_id IS NULL OR b.status = 'active'))
               WHERE n = 1 OR source IS NOT DISTINCT FROM ?""", [table, keys, fields, source]).fetchall():
        if n == 1:
            last[(key, name)] = LastWrite(src, via, user, at, batch_id, file)
        if src is not None and src == source:
            own.add((key, name))
    from crm import tables

    key_col = tables.TABLES[table].key
    if tables.TABLES[table].created_by_batches:
        for key, src, user, at, batch_id, file in cur.execute(
                f"""SELECT CAST(t.{key_col} AS VARCHAR), b.source, b.user_name, b.started_at, b.batch_id, b.file
                    FROM {table} t JOIN import_batches b ON b.batch_id = t.batch_id
                    WHERE CAST(t.{key_col} AS VARCHAR) IN (SELECT unnest(?)) AND b.status = 'active'
                      AND b.source IS NOT NULL""", [keys]).fetchall():
            for name in fields:
                last.setdefault((key, name), LastWrite(src, IMPORT, user, at, batch_id, file))
                if src == source:
                    own.add((key, name))
    return {k: FieldHistory(w, k in own) for k, w in last.items()}


@dataclass
class ConflictChoices:
    """What a user chose for the conflicts of an import: a default for the whole sheet, overridden
    per customer, overridden per field of one record. Keys are the customer's id, and the
    record's key (a customer id, follow-up id or complaint id) with the field's name."""
    default: str = KEEP
    customers: dict[str, str] = field(default_factory=dict)
    fields: dict[tuple[str, str], str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for choice in (self.default, *self.customers.values(), *self.fields.values()):
            if choice not in CHOICE_LABELS:
                raise ValueError(f"未知的冲突处理方式：{choice}（可选：keep 保留档案值 / take 采用表格值）")

    def takes(self, key: str, name: str, customer_id: str | None) -> bool:
        choice = self.fields.get((str(key), name)) or self.customers.get(customer_id or "") or self.default
        return choice == TAKE
