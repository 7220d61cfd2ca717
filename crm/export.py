"""Excel exports of archive tables: masked for the reader, formula-safe and audited.

Written through the one xlsx writer (crm.xlsx); tables are read from DuckDB in chunks, so an
export of a large archive streams instead of holding the table in memory. Every table export
leaves an audit row (PRODUCT.md, privacy).
"""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from openpyxl import Workbook

from crm import clock, tables
from crm.auth import audit
from crm.customers.activity import ACTIVITY_COLUMNS
from crm.imports.templates import BOOL_ENUM, ENUMS, TEMPLATES

if TYPE_CHECKING:
    from crm.db import Archive

from crm.xlsx import CHUNK_ROWS, neutralise_formula, write_table, write_xlsx

EXPORTABLE_TABLES: dict[str, str] = tables.exportable()
# Which template's headers name a table's columns; the customers table also carries the T4
# tracking summary, so those columns fall back to T4's headers.
TABLE_TEMPLATES: dict[str, tuple[str, ...]] = tables.template_codes()
# Derived columns the app recomputes from the rest (search keys, the activity summary): not data
# a user keeps or brings back.
EXCLUDED_COLUMNS = frozenset({"name_pinyin", "name_initials", "search_text", *ACTIVITY_COLUMNS})
# Stable row order, so two exports of the same data compare equal.
_ORDER_KEYS = {"customers": "customer_id", "complaints": "complaint_id", "import_batches": "batch_id"}

def column_headers(table: str, columns: Sequence[str]) -> list[str]:
    """Archive column names → the Chinese headers users know: the template's header for that table
    (what their own sheets call it), else the vocabulary's word (crm.tables.column_label)."""
    return [tables.column_label(table, col) for col in columns]


def _value_renderers(table: str, columns: Sequence[str]) -> dict[int, dict[Any, str]]:
    """Stored codes go out as the words users read: BOOLEAN columns stored for yes/no enums (投诉受理)
    as the words the importer reads back; a batch's status, a follow-up's origin, an audit entry's
    action and the system's own user names (crm.vocabulary) as their labels."""
    from crm.auth.audit import ACTIONS
    from crm.vocabulary import BATCH_STATUS_LABELS, FOLLOW_UP_ORIGINS, SYSTEM_USER_LABELS

    out: dict[int, dict[Any, str]] = {}
    for code in TABLE_TEMPLATES.get(table, ()):
        template = TEMPLATES[code]
        for i, col in enumerate(columns):
            field = template.field_by_name.get(col)
            if field is not None and field.kind == BOOL_ENUM and field.enum in ENUMS and i not in out:
                words = list(ENUMS[field.enum])
                if len(words) >= 2:
                    out[i] = {True: words[0], False: words[1]}
    coded = {("import_batches", "status"): BATCH_STATUS_LABELS, ("follow_ups", "origin"): FOLLOW_UP_ORIGINS,
             ("audit_log", "action"): ACTIONS, ("audit_log", "user_name"): SYSTEM_USER_LABELS,
             ("import_batches", "user_name"): SYSTEM_USER_LABELS, ("import_batches", "undone_by"): SYSTEM_USER_LABELS}
    for i, col in enumerate(columns):
        if (table, col) in coded and i not in out:
            out[i] = dict(coded[(table, col)])
    return out


def _table_columns(cur: Any, table: str) -> list[str]:
    rows = cur.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
        " AND table_schema = current_schema() AND table_catalog = current_database() ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows if r[0] not in EXCLUDED_COLUMNS]


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def export_table(archive: "Archive", table: str, path: str | os.PathLike[str], user: str) -> int:
    """Export one archive table to .xlsx with Chinese headers and log it; returns the rows exported."""
    if table not in EXPORTABLE_TABLES:
        allowed = "、".join(EXPORTABLE_TABLES)
        raise ValueError(f"不能导出数据表 {table!r}（可导出：{allowed}）")
    if table == "audit_log":  # it holds every old and new value of every edit: admins only
        from crm.auth import policy
        from crm.auth.personal import actor_for as _actor

        policy.require(_actor(archive, user), "audit.export")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)

    cur = archive.cursor()
    try:
        columns = _table_columns(cur, table)
        if not columns:
            raise ValueError(f"数据表 {table!r} 不存在")
        headers = column_headers(table, columns)
        renderers = _value_renderers(table, columns)
        order = _ORDER_KEYS.get(table, "id")
        order = order if order in columns else None
        # Personal data is read through crm.auth.personal, which masks what this user may not see.
        from crm.auth.personal import PersonalData, actor_for

        reader = PersonalData(archive, actor_for(archive, user))
        stream = reader.stream(table, columns, order=f"t.{_quote(order)}" if order else "", chunk=CHUNK_ROWS)

        def chunks() -> Iterator[list[Sequence[Any]]]:
            for rows in stream:
                if renderers:
                    rows = [
                        tuple(renderers[i].get(v, v) if i in renderers else v for i, v in enumerate(r))
                        for r in rows
                    ]
                yield rows

        exported_at = clock.now()
        header_lines = [
            f"数据表: {EXPORTABLE_TABLES[table]}",
            f"导出时间: {exported_at:%Y-%m-%d %H:%M:%S}",
            f"导出人: {user}",
        ]
        # Written beside the target and moved into place only with the audit row, so a file
        # never appears without its log entry, nor a log entry without its file.
        fd, tmp_name = tempfile.mkstemp(prefix=".export-", suffix=".xlsx", dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            wb = Workbook(write_only=True)
            count = write_table(wb, EXPORTABLE_TABLES[table], headers, chunks(), header_lines, set())
            wb.save(tmp)
            detail = json.dumps(
                {"rows": count, "path": str(path.resolve()), "columns": len(columns)}, ensure_ascii=False
            )
            with archive.transaction() as tx:
                audit.record(tx, user, "export", table, None, detail)
                os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()
    finally:
        cur.close()
    return count


__all__ = [
    "EXPORTABLE_TABLES",
    "column_headers",
    "export_table",
    "neutralise_formula",
    "write_xlsx",
]
