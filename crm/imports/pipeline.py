"""The import pipeline: read → recognise → clean → link → write, one transaction per file.

Each recognised sheet is a batch. Sheets are written in template order (profiles first) so that
a workbook whose transaction sheet refers to customers on its profile sheet imports in one go.
A dry run does all of it inside a transaction that is rolled back: the preview is exactly what
the import would do.
"""
from __future__ import annotations

import datetime as dt
import gc
import json
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import duckdb
import pyarrow as pa

from crm import clock, db, provenance
from crm.auth import audit, policy
from crm.auth.personal import Actor, actor_for
from crm.complaints.stages import OPEN_STAGES
from crm.customers import activity
from crm.customers.search import refresh_search_text
from crm.customers.search_keys import name_initials, name_pinyin
from crm.db import Archive, scalar
from crm.followups.rules import import_may_move
from crm.geography import places_of
from crm.imports import linking
from crm.imports.batches import Change, apply_changes, same_value
from crm.imports.cleaning import display
from crm.imports.extract import Extracted, extract
from crm.imports.masked import is_mask_of
from crm.imports.reader import FileReadError, Workbook, read_workbook
from crm.imports.recognise import CONSTANTS_KEY, Recognition, Unrecognised, header_signature, recognise_sheet
from crm.imports.templates import TEMPLATES
from crm.imports.validation import ERROR, WARNING, CleanSheet, Problem, clean_extracted
from crm.schema import CUSTOMER_COLUMNS

Progress = Callable[[int, int, str], None]


@dataclass
class SheetResult:
    batch_id: int | None
    file: str
    sheet: str
    template: str
    rows_read: int = 0
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    rejected_rows: list[int] = field(default_factory=list)
    skipped_rows: list[int] = field(default_factory=list)  # no record at all (a cancelled order), reported
    fix_rows: list[int] = field(default_factory=list)  # imported with a value left out: in the problems workbook
    extra_columns: list[str] = field(default_factory=list)  # columns no field names, kept as 其他信息
    unused_columns: list[str] = field(default_factory=list)  # columns not kept (this kind of record has no 其他信息)
    column_matches: dict[str, tuple[str, str]] = field(default_factory=dict)  # header → (field's header, why)
    problems: list[Problem] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)  # for the preview: row, key, field, old, new
    row_actions: dict[int, str] = field(default_factory=dict)  # spreadsheet row -> created/updated/duplicate
    header_row: int | None = None  # 0-based index of the sheet's header row (for the rejected-rows file)
    # fields the archive changed after this sheet last set them (crm.provenance): both values, who
    # changed the archive's and when, and whether the sheet's value was taken
    conflicts: list[dict[str, Any]] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        """Rows that added nothing new: already so in the archive, or merged into a customer an
        earlier row of the file created — so that read = created + updated + unchanged +
        duplicates + rejected + skipped."""
        return max(0, self.rows_read - self.created - self.updated - self.duplicates - len(self.rejected_rows)
                   - len(self.skipped_rows))

    def as_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "file": self.file, "sheet": self.sheet, "template": self.template,
                "rows_read": self.rows_read, "created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "duplicates": self.duplicates, "rejected_rows": self.rejected_rows, "skipped_rows": self.skipped_rows,
                "fix_rows": self.fix_rows,
                "extra_columns": self.extra_columns, "unused_columns": self.unused_columns,
                "conflicts": self.conflicts, "problems": [p.as_dict() for p in self.problems]}


@dataclass
class SkippedSheet:
    file: str
    sheet: str
    reason: str
    headers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "sheet": self.sheet, "reason": self.reason}


@dataclass
class ImportReport:
    batches: list[SheetResult] = field(default_factory=list)
    skipped_sheets: list[SkippedSheet] = field(default_factory=list)
    aborted: str | None = None  # strict mode: why nothing was written

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"batches": [b.as_dict() for b in self.batches],
                               "skipped_sheets": [s.as_dict() for s in self.skipped_sheets]}
        if self.aborted:
            out["aborted"] = self.aborted
        return out

    def extend(self, other: "ImportReport") -> None:
        self.batches.extend(other.batches)
        self.skipped_sheets.extend(other.skipped_sheets)
        if other.aborted:
            self.aborted = "; ".join(x for x in (self.aborted, other.aborted) if x)


@dataclass
class _Ctx:
    cur: duckdb.DuckDBPyConnection
    user: str
    today: dt.date
    file: str
    sheet: str
    now: dt.datetime  # stamps what the import creates (created_at, done_at, the batch's time)
    actor: Actor  # whose policy the rows obey (a sales user's sheet touches only their own customers)
    source: str  # the sheet's identity across uploads (crm.provenance.source_of)
    choices: provenance.ConflictChoices  # keep the archive's value or take the sheet's, on conflict
    # the customers' activity summary matched the records when the import began (crm.customers.activity);
    # each sheet keeps it so (fold_in), which lets the duplicate check skip rows newer than it
    summary_current: bool = False


class StrictAbort(Exception):
    pass


TEMPLATE_ORDER = ["T1", "T4", "T2", "T3", "T5", "T6", "T7"]
# Templates whose records keep the columns no field names (积分, 类型, 需求 …) as extra fields
# (customers.extra, transactions.extra), so nothing typed is lost; a row number column is no data.
EXTRA_TEMPLATES = {"T1": "customers", "T2": "transactions"}
_NOT_DATA_HEADER = re.compile(r"^(序号|行号|no\.?|#|编号序列)$", re.IGNORECASE)


def remembered_mappings(cur: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, dict[str, str]]]:
    """Column mappings users confirmed before, by header signature."""
    return {sig: (tpl, json.loads(mapping))
            for sig, tpl, mapping in cur.execute("SELECT signature, template, mapping FROM header_mappings").fetchall()}


def remember_mapping(archive: Archive, headers: list[str], template: str, mapping: dict[str, str], user: str) -> str:
    """Store a confirmed mapping {header as written: field} so the same headers import by themselves."""
    if template not in TEMPLATES:
        raise ValueError(f"未知模板 {template}")
    valid = TEMPLATES[template].field_by_name
    clean: dict[str, Any] = {h: f for h, f in mapping.items() if isinstance(f, str) and f and f in valid}
    constants = {f: v for f, v in (mapping.get(CONSTANTS_KEY) or {}).items() if f in valid and v not in (None, "")}
    if constants:
        clean[CONSTANTS_KEY] = constants
    sig = header_signature(headers)
    with archive.transaction() as cur:
        cur.execute("INSERT OR REPLACE INTO header_mappings (signature, template, mapping, created_by) VALUES (?, ?, ?, ?)",
                    [sig, template, json.dumps(clean, ensure_ascii=False), user])
        audit.record(cur, user, "mapping", "header_mappings", sig, {"template": template, "mapping": clean})
    return sig


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the duration of an import.

    A 100,000-row sheet is a million live cell objects; every few thousand allocations the
    collector walks them all again (measured: cleaning took 3× longer with it on). An import makes
    no reference cycles, so nothing is lost by collecting once afterwards instead.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def import_path(archive: Archive, path: str | os.PathLike[str], user: str = "cli", *, strict: bool = False,
                dry_run: bool = False, today: dt.date | None = None, progress: Progress | None = None,
                file_name: str | None = None, data: bytes | None = None,
                conflicts: provenance.ConflictChoices | None = None) -> ImportReport:
    """Import one file (or upload bytes); raises FileReadError when it cannot be read at all."""
    with gc_paused():
        workbook = read_workbook(data if data is not None else path, file_name=file_name)
        return import_workbook(archive, workbook, user, strict=strict, dry_run=dry_run, today=today, progress=progress,
                               conflicts=conflicts)


def import_workbook(archive: Archive, workbook: Workbook, user: str = "cli", *, strict: bool = False,
                    dry_run: bool = False, today: dt.date | None = None, progress: Progress | None = None,
                    overrides: dict[str, Recognition] | None = None,
                    conflicts: provenance.ConflictChoices | None = None) -> ImportReport:
    """Import every recognised sheet of a workbook in one transaction (rolled back when dry_run).

    `overrides` maps a sheet name to a Recognition built from a user's column mapping; `conflicts`
    says what to do where the archive changed a field after this sheet last set it (default: keep
    the archive's value). The rows obey the importing user's policy, as the profile does.
    """
    actor = actor_for(archive, user)
    if not dry_run:
        policy.require(actor, "imports.write")
    with gc_paused():
        return _import_workbook(archive, workbook, actor, strict=strict, dry_run=dry_run, today=today,
                                progress=progress, overrides=overrides, choices=conflicts or provenance.ConflictChoices())


def _import_workbook(archive: Archive, workbook: Workbook, actor: Actor, *, strict: bool, dry_run: bool,
                     today: dt.date | None, progress: Progress | None,
                     overrides: dict[str, Recognition] | None, choices: provenance.ConflictChoices) -> ImportReport:
    # The import's day also stamps what it creates: an archive imported "as of" a day looks as if
    # it had been imported that day, whatever the machine's clock says (tests pin the day).
    stamp = clock.now() if today is None else dt.datetime.combine(today, clock.now().time())
    today = today or clock.today()
    report = ImportReport()
    if not any(any(c not in (None, "") for c in row) for s in workbook.sheets for row in s.rows):
        raise FileReadError(f"文件「{workbook.file_name}」中没有任何数据（所有工作表都是空的）")
    reader = archive.cursor()
    try:
        remembered = remembered_mappings(reader)
    finally:
        reader.close()
    plans: list[tuple[Recognition, Any, Extracted]] = []
    for sheet in workbook.sheets:
        rec = (overrides or {}).get(sheet.name) or recognise_sheet(sheet, remembered)
        if isinstance(rec, Unrecognised):
            if rec.reason != "工作表为空" or len(workbook.sheets) == 1:
                report.skipped_sheets.append(SkippedSheet(workbook.file_name, sheet.name, rec.reason,
                                                          list(rec.headers.values())))
            continue
        kept = [i for i, h in rec.headers.items() if i not in rec.columns and not _NOT_DATA_HEADER.match(h)] \
            if rec.template.code in EXTRA_TEMPLATES else []
        rows = extract(sheet, rec.header_row, sorted(rec.columns), list(rec.headers.values()), extra=kept)
        if not rows.row_numbers:
            report.skipped_sheets.append(SkippedSheet(workbook.file_name, sheet.name,
                                                      f"只有表头（{rec.template.code} {rec.template.title}），没有数据行"))
            continue
        plans.append((rec, sheet, rows))
    plans.sort(key=lambda p: TEMPLATE_ORDER.index(p[0].template.code))
    if not plans:
        return report
    total = sum(len(rows.row_numbers) for _, _, rows in plans)
    done = 0
    tx = archive.rolled_back() if dry_run else archive.transaction()
    try:
        with tx as cur, activity.kept_current(cur):
            db.mark_changed(cur, db.RECORDS)
            summary_current = activity.is_current(cur)
            for rec, sheet, rows in plans:
                ctx = _Ctx(cur, actor.username, today, workbook.file_name, sheet.name, stamp, actor,
                           provenance.source_of(workbook.file_name, sheet.name), choices, summary_current)
                result = _import_sheet(ctx, rec, rows, dry_run)
                report.batches.append(result)
                done += len(rows.row_numbers)
                if progress:
                    progress(done, total, f"{sheet.name}：已处理 {done}/{total} 行")
            if strict and any(b.rejected_rows for b in report.batches):
                n = sum(len(b.rejected_rows) for b in report.batches)
                raise StrictAbort(f"严格模式：文件「{workbook.file_name}」有 {n} 行被拒绝，整个文件未导入")
            if not dry_run:
                _keep_problems(cur, workbook, report)
    except StrictAbort as exc:
        report.aborted = str(exc)
        for b in report.batches:
            b.batch_id = None
    return report


def _keep_problems(cur: duckdb.DuckDBPyConnection, workbook: Workbook, report: ImportReport) -> None:
    """The rejected-rows workbook of this import, kept with each of its batches (in the import's
    transaction), so the import history can hand it out again days later, from the page or the CLI."""
    if not any(b.rejected_rows or b.fix_rows for b in report.batches):
        return  # the usual case: nothing to keep, and the workbook writer (openpyxl) is not even loaded
    from crm.imports.rejects import rejected_rows_workbook

    data = rejected_rows_workbook(workbook, report)
    name = f"{os.path.splitext(workbook.file_name)[0]}_拒绝行.xlsx"
    for b in report.batches:
        if b.batch_id is not None and (b.rejected_rows or b.fix_rows):
            cur.execute("INSERT OR REPLACE INTO batch_problems VALUES (?, ?, ?)", [b.batch_id, name, data])


def _import_sheet(ctx: _Ctx, rec: Recognition, rows: Extracted, dry_run: bool) -> SheetResult:
    tpl = rec.template
    sheet = clean_extracted(rec, rows)
    for dup in rec.duplicates:
        sheet.problems.insert(0, Problem(None, dup, "", "与另一列表示同一字段，此列未使用", WARNING))
    # A dry run takes a provisional number (negative, rolled back with everything else), so that a
    # preview does not use up batch numbers: the history shows 1, 2, 3 … however often one previews.
    batch_id = int(ctx.cur.execute(
        "SELECT least(coalesce(min(batch_id), 0), 0) - 1 FROM import_batches" if dry_run
        else "SELECT nextval('batch_id_seq')").fetchall()[0][0])
    ctx.cur.execute("INSERT INTO import_batches (batch_id, file, sheet, template, user_name, started_at, source) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)", [batch_id, ctx.file, ctx.sheet, tpl.code, ctx.user, ctx.now, ctx.source])
    result = SheetResult(batch_id, ctx.file, ctx.sheet, tpl.code, rows_read=len(rows.row_numbers),
                         header_row=rec.header_row)
    kept = [c for c in rows.columns if c not in rec.columns]
    result.column_matches = {rec.headers.get(c, str(c)): (tpl.field_by_name[f].header,
                                                          rec.reasons.get(c) or ("按列映射" if rec.via_mapping else ""))
                             for c, f in sorted(rec.columns.items())}
    result.extra_columns = [rec.headers[c] for c in kept if c in rec.headers]
    result.unused_columns = [h for c, h in rec.headers.items() if c not in rec.columns and c not in kept
                             and h not in rec.duplicates]
    WRITERS[tpl.code](ctx, batch_id, sheet, result)
    result.rejected_rows = sorted(sheet.row_numbers[i] for i in sheet.rejected)
    result.skipped_rows = sorted(sheet.row_numbers[i] for i in sheet.skipped - sheet.rejected)
    rejected = set(result.rejected_rows)
    result.fix_rows = sorted({p.row for p in sheet.problems if p.dropped and p.row is not None} - rejected)
    result.problems = sorted(sheet.problems, key=lambda p: (p.row or 0, p.severity != ERROR))
    ctx.cur.execute("UPDATE import_batches SET rows_read = ?, created = ?, updated = ?, rejected = ? WHERE batch_id = ?",
                    [result.rows_read, result.created, result.updated, len(result.rejected_rows), batch_id])
    audit.record(ctx.cur, ctx.user, "import", "batch", batch_id,
                 {"file": ctx.file, "sheet": ctx.sheet, "template": tpl.code, "rows_read": result.rows_read,
                  "created": result.created, "updated": result.updated, "rejected": len(result.rejected_rows),
                  "conflicts": len(result.conflicts)})
    return result


# ------------------------------------------------------------------ helpers
# Tables whose rows carry when they were made (and, for customers, last changed).
_STAMPED = {"customers": ("created_at", "updated_at"), "follow_ups": ("created_at",)}


def _insert(cur: duckdb.DuckDBPyConnection, table: str, columns: dict[str, pa.Array],
            stamp: dt.datetime | None = None) -> None:
    """Bulk insert of column arrays (names come from code, never from users).

    `stamp` is the import's clock: it fills created_at/updated_at of the tables that have them,
    instead of the database's own clock.
    """
    if stamp is not None and columns:
        n = len(next(iter(columns.values())))
        for name in _STAMPED.get(table, ()):
            columns = {**columns, name: pa.array([stamp] * n, pa.timestamp("us"))}
    staged = pa.table(columns)
    cur.register("ins_rows", staged)
    try:
        cols = ", ".join(columns)
        cur.execute(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM ins_rows")
    finally:
        cur.unregister("ins_rows")


def _s(values: list[Any]) -> pa.Array:
    return pa.array(values, pa.string())


def _d(values: list[Any]) -> pa.Array:
    return pa.array(values, pa.date32())


def _f(values: list[Any]) -> pa.Array:
    return pa.array(values, pa.float64())


def _i8(values: list[Any]) -> pa.Array:
    return pa.array(values, pa.int8())


def _i64(values: list[Any]) -> pa.Array:
    return pa.array(values, pa.int64())


def _link_rows(ctx: _Ctx, sheet: CleanSheet, create_with_contact: bool, result: SheetResult,
               batch_id: int, name_alone: bool = False) -> dict[int, str]:
    """Customer id for each accepted row; unresolvable rows are rejected (or, for complaint and
    survey sheets carrying a phone or email, become new customers; for transaction sheets —
    order exports — a name alone is enough: the buyer is created, marked 待跟进 for the missing contact)."""
    ids, names, refs_col = sheet.column("customer_id"), sheet.column("name"), sheet.column("customer_ref")
    phones, emails = sheet.column("contact_phone"), sheet.column("contact_email")
    out: dict[int, str] = {}
    accepted = sheet.accepted()
    known = linking.existing_ids(ctx.cur, [ids[i] for i in accepted if ids[i] is not None])
    idx = []
    for i in accepted:  # the common case, an id already archived, needs no further lookup
        cid = ids[i]
        if cid is not None and cid in known:
            out[i] = cid
        else:
            idx.append(i)
    refs = []
    for i in idx:
        cid, name = ids[i], names[i]
        if refs_col[i] and not cid and not name:
            ref = refs_col[i]
            cid, name = (ref.upper(), ref) if ref[:1].upper() == "C" and ref[1:2].isdigit() else (None, ref)
        refs.append(linking.Ref(cid, name, phones[i], emails[i]))
    links = linking.link_refs(ctx.cur, refs) if refs else []
    to_create: dict[int, linking.Ref] = {}
    for i, ref, link in zip(idx, refs, links):
        header = "customer_id" if ref.customer_id and "customer_id" in sheet.headers else (
            "name" if "name" in sheet.headers else "customer_ref")
        if link.customer_id:
            out[i] = link.customer_id
            if link.warning:
                sheet.warn(i, header, link.warning)
        elif create_with_contact and ref.name and (ref.phone or ref.email or name_alone) \
                and "多位" not in (link.error or ""):
            to_create[i] = ref
        else:
            value = ref.customer_id or ref.name
            sheet.reject(i, header, link.error or "找不到客户", value)
    if to_create:
        out.update(_create_customers_from_refs(ctx, batch_id, sheet, to_create, result))
    _refuse_others_customers(ctx, sheet, out, "customer_id" if "customer_id" in sheet.headers else (
        "name" if "name" in sheet.headers else "customer_ref"))
    return out


def _create_customers_from_refs(ctx: _Ctx, batch_id: int, sheet: CleanSheet, refs: dict[int, linking.Ref],
                                result: SheetResult) -> dict[int, str]:
    """New customers for complaint/survey rows that name someone not yet archived but give a contact."""
    seen: dict[tuple[str, str], str] = {}
    new_rows: list[tuple[str, linking.Ref, int]] = []
    out: dict[int, str] = {}
    addresses = sheet.column("address")
    def key_of(ref: linking.Ref) -> tuple[str, str]:  # the same buyer on several order lines: one customer
        return (ref.customer_id, "") if ref.customer_id else (ref.name or "", ref.phone or ref.email or "")

    for i, ref in refs.items():
        key = key_of(ref)
        if key not in seen:
            seen[key] = ""
            new_rows.append(("", ref, i))
    generated = iter(linking.next_customer_ids(ctx.cur, ctx.today.strftime("%Y%m%d"),
                                               sum(1 for _, ref, _i in new_rows if not ref.customer_id)))
    ids = [ref.customer_id or next(generated) for _, ref, _i in new_rows]  # a member number is kept as the id
    for cid, (_, ref, _i) in zip(ids, new_rows):
        seen[key_of(ref)] = cid
    for i, ref in refs.items():
        out[i] = seen[key_of(ref)]
    rows = [(cid, ref, i) for cid, (_, ref, i) in zip(ids, new_rows)]
    places = places_of([addresses[r[2]] for r in rows])
    _insert(ctx.cur, "customers", {
        "customer_id": _s([r[0] for r in rows]), "name": _s([r[1].name for r in rows]),
        "phone": _s([r[1].phone for r in rows]), "email": _s([r[1].email for r in rows]),
        "address": _s([addresses[r[2]] for r in rows]),
        "region": _s([p[0] for p in places]), "city": _s([p[1] for p in places]),
        "name_pinyin": _s([name_pinyin(r[1].name or "") for r in rows]),
        "name_initials": _s([name_initials(r[1].name or "") for r in rows]),
        "owner": _s([_new_owner(ctx, None)] * len(rows)),
        "batch_id": _i64([batch_id] * len(rows)),
    }, stamp=ctx.now)
    refresh_search_text(ctx.cur, [r[0] for r in rows])
    for cid, ref, i in rows:
        how = "按联系方式" if ref.phone or ref.email else ("按客户编号" if ref.customer_id else "按客户名称")
        sheet.warn(i, "name", f"档案中没有该客户，已{how}新建客户 {cid}"
                              + ("" if ref.phone or ref.email else "（没有联系方式，已标记为待跟进）"), ref.name)
    return out


# The activity summary's column holding each customer's newest date in a table.
_NEWEST_DATE = {"transactions": "last_transaction", "interactions": "last_logged_interaction"}


def _anti_duplicates(cur: duckdb.DuckDBPyConnection, table: str, keys: list[str], staged: pa.Table,
                     summary_current: bool = False) -> list[bool]:
    """For each staged row, whether the archive already holds the same record.

    Identical rows are matched one to one (the n-th copy in the file against the n-th in the
    archive), so re-importing a file adds nothing while two equal purchases in one file both count.
    With a current activity summary, a row dated after its customer's newest record in the table
    (this month's rows, a new customer's) cannot be a copy and is not looked for: a month's sheet
    then reads none of the table's millions of rows; a re-imported file reads only its customers'.
    """
    cur.register("dup_rows", staged)
    try:
        source = "dup_rows"
        if summary_current and table in _NEWEST_DATE:
            cur.execute(f"""
                CREATE OR REPLACE TEMP TABLE dup_candidates AS
                SELECT d.* FROM dup_rows d JOIN customers c ON c.customer_id = d.customer_id
                WHERE d.date <= c.{_NEWEST_DATE[table]}""")
            source = "dup_candidates"
            if not scalar(cur, "SELECT count(*) FROM dup_candidates"):
                return [False] * staged.num_rows
        on = " AND ".join(f"a.{k} IS NOT DISTINCT FROM b.{k}" for k in keys)
        part = ", ".join(keys)
        # a record matches only on its own date: a month's sheet reads only the blocks of that month
        # where the table is stored in date order (DuckDB's min/max per block)
        within = (f" AND date BETWEEN (SELECT min(date) FROM {source}) AND (SELECT max(date) FROM {source})"
                  if "date" in keys else "")
        # the archive's rows are numbered only where they equal some staged row (a semi-join first):
        # numbering every row of the file's customers was most of the check at a million customers
        same = " AND ".join(f"s.{k} IS NOT DISTINCT FROM t.{k}" for k in keys)
        rows = cur.execute(f"""
            WITH a AS (SELECT pos, {part}, row_number() OVER (PARTITION BY {part} ORDER BY pos) AS n FROM {source}),
                 m AS (SELECT {part} FROM {table} t
                       WHERE customer_id IN (SELECT customer_id FROM {source}){within}
                         AND EXISTS (SELECT 1 FROM {source} s WHERE {same})),
                 b AS (SELECT {part}, row_number() OVER (PARTITION BY {part}) AS n FROM m)
            SELECT a.pos FROM a JOIN b ON {on} AND a.n = b.n""").fetchall()
    finally:
        cur.unregister("dup_rows")
        if source != "dup_rows":
            cur.execute("DROP TABLE IF EXISTS dup_candidates")
    dup = [False] * staged.num_rows
    for (pos,) in rows:
        dup[pos] = True
    return dup


def _skip_duplicates(sheet: CleanSheet, idx: list[int], dup: list[bool], field: str, what: str,
                     result: SheetResult) -> list[int]:
    """Positions to keep; each duplicate row is reported (a warning, not a rejection) and marked."""
    keep: list[int] = []
    rows = sheet.row_numbers
    for p, is_dup in enumerate(dup):
        if is_dup:
            sheet.warn(idx[p], field, f"与档案中已有的{what}相同，已跳过", sheet.get(field, idx[p]))
            result.row_actions[rows[idx[p]]] = "duplicate"
        else:
            keep.append(p)
    return keep


def _plan_follow_ups(ctx: _Ctx, batch_id: int, items: list[tuple[int, str, dt.date, str | None, str]],
                     sheet: CleanSheet) -> int:
    """Open follow-ups (row, customer, due, content, origin) unless one is already open for that customer and day."""
    if not items:
        return 0
    unique: dict[tuple[str, dt.date], tuple[int, str, dt.date, str | None, str]] = {}
    for item in items:
        unique.setdefault((item[1], item[2]), item)
    staged = pa.table({"customer_id": _s([k[0] for k in unique]), "due": _d([k[1] for k in unique])})
    ctx.cur.register("fu_new", staged)
    try:
        existing = set(ctx.cur.execute(
            "SELECT f.customer_id, f.due FROM follow_ups f JOIN fu_new n ON f.customer_id = n.customer_id "
            "AND f.due = n.due WHERE f.status = '待跟进'").fetchall())
    finally:
        ctx.cur.unregister("fu_new")
    fresh = [v for k, v in unique.items() if k not in existing]
    if not fresh:
        return 0
    owners = dict(ctx.cur.execute(
        "SELECT customer_id, owner FROM customers WHERE customer_id IN (SELECT unnest(?))",
        [list({v[1] for v in fresh})]).fetchall())
    _insert(ctx.cur, "follow_ups", {
        "customer_id": _s([v[1] for v in fresh]), "due": _d([v[2] for v in fresh]),
        "content": _s([v[3] for v in fresh]), "origin": _s([v[4] for v in fresh]),
        "owner": _s([owners.get(v[1]) for v in fresh]), "status": _s(["待跟进"] * len(fresh)),
        "batch_id": _i64([batch_id] * len(fresh)), "source_row": pa.array([sheet.row_numbers[v[0]] for v in fresh], pa.int32()),
    }, stamp=ctx.now)
    return len(fresh)


# ------------------------------------------------------------------ regions
# ------------------------------------------------------------------ conflicts and policy
@dataclass
class _Candidate:
    """A field a sheet row would change on an existing record, before the conflict rule decides."""
    change: Change
    i: int  # the row's index in the sheet
    row: int  # the spreadsheet row number
    header: str
    customer_id: str
    customer_name: str | None


def _settle_conflicts(ctx: _Ctx, table: str, candidates: list[_Candidate], sheet: CleanSheet,
                      result: SheetResult) -> list[_Candidate]:
    """The changes to apply: those no one else made since this sheet last set the field, and the
    conflicts the user chose to take; the others are listed in `result.conflicts` and kept."""
    if not candidates:
        return []
    histories = provenance.field_histories(ctx.cur, table, sorted({str(c.change.key) for c in candidates}),
                                           sorted({c.change.field for c in candidates}), ctx.source)
    out = []
    for c in candidates:
        history = histories.get((str(c.change.key), c.change.field))
        if not provenance.is_conflict(history, ctx.source, c.change.old):
            out.append(c)
            continue
        assert history is not None
        write = history.last
        take = ctx.choices.takes(str(c.change.key), c.change.field, c.customer_id)
        result.conflicts.append({
            "row": c.row, "key": str(c.change.key), "customer_id": c.customer_id, "customer_name": c.customer_name,
            "field": c.change.field, "header": c.header, "archive": c.change.old, "sheet": c.change.new,
            "changed_by": write.user, "changed_at": write.at, "changed_how": write.description,
            "choice": provenance.TAKE if take else provenance.KEEP})
        if take:
            out.append(c)
        else:
            sheet.warn(c.i, c.change.field, f"档案中的值「{display(c.change.old)}」是{write.description}后的，"
                                            "与表格不同：已保留档案值（可在预览中改为采用表格值）", c.change.new)
    return out


def _customer_names(cur: duckdb.DuckDBPyConnection, ids: Iterable[str]) -> dict[str, str | None]:
    ids = sorted(set(ids))
    if not ids:
        return {}
    return dict(cur.execute("SELECT customer_id, name FROM customers WHERE customer_id IN (SELECT unnest(?))",
                            [ids]).fetchall())


def _names_differ(a: str | None, b: str | None) -> bool:
    """Clearly different names (甲公司 / 乙公司), not one name written shorter (甲公司 / 深圳甲公司)."""
    if not a or not b:
        return False
    a, b = a.replace(" ", ""), b.replace(" ", "")
    return a not in b and b not in a


def _same_customer(candidates: list[tuple[str, str | None]], name: str | None
                   ) -> tuple[str | None, tuple[str, str | None] | None]:
    """Of the customers sharing this row's phone or e-mail: the one it is (same or similar name),
    or none and the one it clashes with — different companies served by one contact person stay
    separate customers instead of merging into one named after the last."""
    for cid, cname in candidates:
        if not _names_differ(cname, name):
            return cid, None
    return None, candidates[0]


def _refusal_for_customer(ctx: _Ctx, customer_id: str, owner: str | None, changes_owner: bool) -> str | None:
    """Why this user's sheet may not change this customer (the profile's rule), or None."""
    if not policy.may_touch_customer(ctx.actor, owner):
        return (f"客户 {customer_id} 的负责人是{owner or '（未分配）'}，销售只能通过导入修改自己负责的客户，此行未导入")
    if changes_owner and not policy.allowed(ctx.actor, "customers.change_owner"):
        return policy.POLICY["customers.change_owner"].refusal + "，此行未导入"
    return None


def _new_owner(ctx: _Ctx, given: str | None) -> str | None:
    """Who owns a customer this sheet creates: as given; a sales user's own when not given."""
    if given is None and not policy.allowed(ctx.actor, "customers.edit_any") and policy.allowed(ctx.actor, "customers.edit_own"):
        return ctx.actor.username
    return given


def _refuse_others_customers(ctx: _Ctx, sheet: CleanSheet, links: dict[int, str], header: str) -> None:
    """A sales user's sheet adds records only for their own customers: other rows are refused."""
    if policy.allowed(ctx.actor, "customers.edit_any") or not links:
        return
    owners = dict(ctx.cur.execute("SELECT customer_id, owner FROM customers WHERE customer_id IN (SELECT unnest(?))",
                                  [sorted(set(links.values()))]).fetchall())
    for i, cid in list(links.items()):
        if not policy.may_touch_customer(ctx.actor, owners.get(cid)):
            sheet.reject(i, header, f"客户 {cid} 的负责人是{owners.get(cid) or '（未分配）'}，"
                                    "销售只能为自己负责的客户导入记录，此行未导入", cid)
            del links[i]


# ------------------------------------------------------------------ T1 customers
_T1_FIELDS = [c for c in CUSTOMER_COLUMNS if c not in ("customer_id", "name_pinyin", "name_initials", "last_interaction",
                                                        "contact_frequency", "tracked_product", "satisfaction",
                                                        "key_issue")]


def _write_customers(ctx: _Ctx, batch_id: int, sheet: CleanSheet, result: SheetResult) -> None:
    """Profiles: one archive per person, merged by id, normalised phone or email, in the file and across imports."""
    cur = ctx.cur
    idx = sheet.accepted()
    ids, phones, emails = sheet.column("customer_id"), sheet.column("phone"), sheet.column("email")
    regions, addresses = sheet.column("region"), sheet.column("address")
    cities = sheet.column("city")
    wanted = [i for i in idx if addresses[i] and (not regions[i] or not cities[i])]
    for i, (province, city) in zip(wanted, places_of([addresses[i] for i in wanted])):
        # region (province) and city derived from the address where the sheet has none
        regions[i] = regions[i] or province
        cities[i] = cities[i] or city
    sheet.values["region"] = regions
    sheet.values["city"] = cities
    names = sheet.column("name")
    # names are looked up only for rows with no other key: a member or company list without contacts
    refs = [linking.Ref(ids[i], None if ids[i] or phones[i] or emails[i] else names[i], phones[i], emails[i]) for i in idx]
    found_ids, by_phone, by_email, by_name = linking.lookup_keys(cur, refs)
    file_name_key: dict[str, str] = {}
    # customers on file without any contact, by name: a row that now brings their phone is them
    # (the problems workbook fixed and uploaded again), not a second customer of the same name
    unreachable: dict[str, list[str]] = {}
    asked = sorted({names[i] for i in idx if names[i] and not ids[i] and (phones[i] or emails[i])})
    if asked:
        for cname, cids in cur.execute(
                "SELECT name, list(customer_id ORDER BY customer_id)[1:2] FROM customers WHERE name IN (SELECT unnest(?)) "
                "AND phone IS NULL AND email IS NULL GROUP BY name", [asked]).fetchall():
            unreachable[cname] = list(cids)

    key_of_row: dict[int, str] = {}
    merged: dict[str, dict[str, Any]] = {}
    first_row: dict[str, int] = {}
    file_ids: dict[str, str] = {}
    file_phone: dict[str, str] = {}
    file_email: dict[str, str] = {}
    new_counter = 0
    for i in idx:
        cid, phone, email = ids[i], phones[i], emails[i]
        key: str | None = None
        if cid:
            key = cid if cid in found_ids else file_ids.get(cid, f"new:{cid}")
            for what, value, table in (("电话", phone, by_phone), ("邮箱", email, by_email)):
                if value and value in table and all(c != cid for c, _ in table[value]):
                    other = table[value][0]
                    sheet.warn(i, "phone" if what == "电话" else "email",
                               f"该{what}已属于另一位客户 {other[1]}（{other[0]}），请核对是否重复建档")
        else:
            name = names[i]
            if phone and phone in by_phone:
                key, other = _same_customer(by_phone[phone], name)
            elif email and email in by_email:
                key, other = _same_customer(by_email[email], name)
            elif phone and phone in file_phone:
                key, other = _same_customer([(file_phone[phone], merged[file_phone[phone]].get("name"))], name)
            elif email and email in file_email:
                key, other = _same_customer([(file_email[email], merged[file_email[email]].get("name"))], name)
            elif (phone or email) and name and len(unreachable.get(name, ())) == 1:
                key, other = unreachable[name][0], None
            elif not phone and not email and name and len(by_name.get(name, ())) == 1:
                key, other = by_name[name][0], None  # a name unique in the archive
            elif not phone and not email and name and name in file_name_key:
                key, other = file_name_key[name], None
            else:
                key, other = None, None
            if key is None:
                new_counter += 1
                key = f"new#{new_counter}"
                if other is not None:  # same phone/e-mail, clearly another name: kept apart, flagged
                    what = "电话" if phone and (phone in by_phone or phone in file_phone) else "邮箱"
                    # the note names the other customer by id (known once new ids are given, below)
                    merged.setdefault(key, {})["__duplicate"] = (other[0], other[1], what)
                    who = other[0] if not other[0].startswith("new") else f"第 {sheet.row_numbers[first_row[other[0]]]} 行"
                    sheet.warn(i, "name", f"与 {who}「{other[1]}」{what}相同，但名称不同：已分别建档并标记为可能重复", name)
            if not phone and not email and name:
                file_name_key.setdefault(name, key)
        key_of_row[i] = key
        record = merged.setdefault(key, {})
        if key in first_row:
            how = "客户编号" if cid else ("电话" if phone and file_phone.get(phone) == key else "邮箱")
            sheet.warn(i, "name", f"与第 {sheet.row_numbers[first_row[key]]} 行是同一客户（{how}相同），已合并为一份档案",
                       sheet.get("name", i))
            _merge_same_file(sheet, i, first_row[key], record)
        else:
            first_row[key] = i
            for name in _T1_FIELDS + ["tags"]:
                value = sheet.get(name, i)
                if value is not None:
                    record[name] = value
            if sheet.extras and sheet.extras[i]:
                record["extra"] = dict(sheet.extras[i])
            record["__row"] = i
        if cid:
            file_ids[cid] = key
        if phone:
            file_phone.setdefault(phone, key)
        if email:
            file_email.setdefault(email, key)

    for key in [k for k in merged if k.startswith("new")]:
        record = merged[key]
        if not record.get("phone") and not record.get("email") and not record.get("wechat") and not record.get("qq"):
            # kept, not thrown away: the profile shows the gap and the customer is 待跟进 for its owner
            sheet.warn(record["__row"], "name", "没有任何联系方式：已建档并标记为待跟进，请负责人补充", record.get("name"))
    rows_of: dict[str, list[int]] = {}
    for i, key in key_of_row.items():
        rows_of.setdefault(key, []).append(i)
    for key in [k for k in merged if k.startswith("new")]:
        record = merged[key]
        i = record["__row"]
        for name, cells in sheet.masked.items():
            for j in rows_of.get(key, ()):
                if j in cells:
                    sheet.warn(j, name, "是脱敏后的显示值（含 *），不会写入档案", cells[j])
        problem = None
        if not record.get("name") and any(i in cells for cells in sheet.masked.values()):
            problem = ("name", "客户姓名是脱敏后的显示值，无法新建客户")
        elif record.get("owner") not in (None, ctx.actor.username) and not policy.allowed(ctx.actor, "customers.change_owner"):
            problem = ("owner", f"销售新建的客户只能由自己负责（表格为「{record.get('owner')}」），此行未导入")
        if problem:
            sheet.reject(i, problem[0], problem[1], sheet.get(problem[0], i))
            del merged[key]
            for j in rows_of.pop(key, ()):
                del key_of_row[j]
        else:
            record["owner"] = _new_owner(ctx, record.get("owner"))
    existing_keys = [k for k in merged if not k.startswith("new")]
    current = linking.customer_rows(cur, existing_keys, _T1_FIELDS)
    for key, record in merged.items():  # extra fields: the sheet's columns added to what the archive keeps
        if isinstance(record.get("extra"), dict):
            before = _extra_of(current[key].get("extra")) if key in current else {}
            record["extra"] = _extra_text({**before, **record["extra"]})
    tags_now = _current_tags(cur, existing_keys)
    candidates: list[_Candidate] = []
    tag_rows: list[tuple[str, str]] = []
    updated_keys: set[str] = set()
    for key in existing_keys:
        record, old = merged[key], current[key]
        row = record["__row"]
        for name, cells in sheet.masked.items():  # a mask of the archive's value is "unchanged"
            for j in rows_of.get(key, ()):
                if j in cells and not is_mask_of(name, cells[j], old.get(name)):
                    sheet.warn(j, name, "是脱敏后的显示值（含 *），与档案不符，未写入档案", cells[j])
        proposed = {name: value for name, value in record.items()
                    if name not in ("__row", "tags") and not same_value(old.get(name), value)}
        new_tags = [t for t in record.get("tags", ()) if t not in tags_now.get(key, set())]
        if proposed or new_tags:
            refusal = _refusal_for_customer(ctx, key, old.get("owner"), "owner" in proposed)
            if refusal:
                sheet.reject(row, "owner" if "owner" in proposed and policy.may_touch_customer(ctx.actor, old.get("owner"))
                             else "name", refusal, sheet.get("name", row) or key)
                for j in rows_of.get(key, ()):
                    sheet.rejected.add(j)
                    key_of_row.pop(j, None)
                continue
        for name, value in proposed.items():
            candidates.append(_Candidate(Change(key, name, old.get(name), value), row, sheet.row_numbers[row],
                                         sheet.headers.get(name, name), key, old.get("name")))
        for tag in new_tags:
            tag_rows.append((key, tag))
            updated_keys.add(key)
    changes: list[Change] = []
    for c in _settle_conflicts(ctx, "customers", candidates, sheet, result):
        key, name, before, value = c.change.key, c.change.field, c.change.old, c.change.new
        changes.append(c.change)
        result.changes.append({"row": c.row, "key": key, "customer_id": key, "customer_name": c.customer_name,
                               "field": name, "header": c.header, "old": before, "new": value})
        if before not in (None, ""):
            sheet.warn(c.i, name, f"与档案不一致：原为「{display(before)}」，已更新为「{display(value)}」", value)
        updated_keys.add(key)
        if name == "name":
            # the search keys follow the name; their old values derive from the old name, so undo restores them
            changes.append(Change(key, "name_pinyin", name_pinyin(before or ""), name_pinyin(value)))
            changes.append(Change(key, "name_initials", name_initials(before or ""), name_initials(value)))
    apply_changes(cur, batch_id, "customers", changes)

    new_keys = [k for k in merged if k.startswith("new")]
    given = [k for k in new_keys if k.startswith("new:")]
    generated = linking.next_customer_ids(cur, ctx.today.strftime("%Y%m%d"), len(new_keys) - len(given))
    gen_iter = iter(generated)
    final_id = {k: (k[4:] if k.startswith("new:") else next(gen_iter)) for k in new_keys}
    for k in new_keys:
        if "__duplicate" in merged[k]:
            other, other_name, what = merged[k].pop("__duplicate")
            merged[k]["duplicate_note"] = (f"与 {final_id.get(other, other)}「{other_name}」{what}相同，但名称不同：可能重复，"
                                           "请核对后合并或保留")
    if new_keys:
        cols: dict[str, list[Any]] = {name: [] for name in _T1_FIELDS}
        for k in new_keys:
            record = merged[k]
            for name in _T1_FIELDS:
                cols[name].append(record.get(name))
        arrays: dict[str, pa.Array] = {"customer_id": _s([final_id[k] for k in new_keys])}
        for name, values in cols.items():
            arrays[name] = pa.array(values, _ARROW_TYPES.get(CUSTOMER_COLUMNS[name], pa.string()))
        arrays["name_pinyin"] = _s([name_pinyin(merged[k].get("name") or "") for k in new_keys])
        arrays["name_initials"] = _s([name_initials(merged[k].get("name") or "") for k in new_keys])
        arrays["batch_id"] = _i64([batch_id] * len(new_keys))
        _insert(cur, "customers", arrays, stamp=ctx.now)
        for k in new_keys:
            for tag in merged[k].get("tags", ()):
                tag_rows.append((final_id[k], tag))
    if tag_rows:
        _insert(cur, "customer_tags", {"customer_id": _s([t[0] for t in tag_rows]), "tag": _s([t[1] for t in tag_rows]),
                                       "batch_id": _i64([batch_id] * len(tag_rows))})
    refresh_search_text(cur, [final_id[k] for k in new_keys] + sorted(updated_keys))
    result.created = len(new_keys)
    result.updated = len(updated_keys)
    for i, key in key_of_row.items():
        row = sheet.row_numbers[i]
        if key.startswith("new"):
            result.row_actions[row] = "created" if merged[key]["__row"] == i else "merged"
        else:
            result.row_actions[row] = "updated" if key in updated_keys else "unchanged"


_ARROW_TYPES = {"DATE": pa.date32(), "DECIMAL(18,2)": pa.float64(), "TINYINT": pa.int8(), "VARCHAR": pa.string()}


def _extra_of(text: str | None) -> dict[str, str]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {"其他信息": text or ""}
    return value if isinstance(value, dict) else {}


def _with_status(sheet: CleanSheet, i: int) -> dict[str, str]:
    """A transaction's extra fields, with its order status as written (交易成功 is read as 购买, and kept)."""
    extra = dict(sheet.extras[i]) if sheet.extras else {}
    raw = sheet.raws["status"][i] if "status" in sheet.raws else None
    if raw not in (None, ""):
        extra[sheet.header("status")] = display(raw)
    return extra


def _extra_text(extra: dict[str, str]) -> str | None:
    """Extra fields as stored: JSON, keys in the order the sheet had them."""
    return json.dumps(extra, ensure_ascii=False) if extra else None


def _merge_same_file(sheet: CleanSheet, i: int, first: int, record: dict[str, Any]) -> None:
    """A second row for the same customer in one file: later values win, differences are reported."""
    for name in _T1_FIELDS:
        value = sheet.get(name, i)
        if value is None:
            continue
        before = record.get(name)
        if before is not None and not same_value(before, value):
            sheet.warn(i, name, f"与第 {sheet.row_numbers[first]} 行是同一客户，但取值不同"
                                f"（「{display(before)}」/「{display(value)}」），采用本行", value)
        record[name] = value
    tags = sheet.get("tags", i)
    if tags:
        record["tags"] = tuple(dict.fromkeys((*record.get("tags", ()), *tags)))
    if sheet.extras and sheet.extras[i]:
        record["extra"] = {**record.get("extra", {}), **sheet.extras[i]}


def _current_tags(cur: duckdb.DuckDBPyConnection, keys: list[str]) -> dict[str, set[str]]:
    if not keys:
        return {}
    out: dict[str, set[str]] = {}
    for cid, tag in cur.execute("SELECT customer_id, tag FROM customer_tags WHERE customer_id IN (SELECT unnest(?))",
                                [keys]).fetchall():
        out.setdefault(cid, set()).add(tag)
    return out


# ------------------------------------------------------------------ T2 transactions
def _write_transactions(ctx: _Ctx, batch_id: int, sheet: CleanSheet, result: SheetResult) -> None:
    # an order export's buyers are often not yet archived: they are created from the row
    links = _link_rows(ctx, sheet, True, result, batch_id, name_alone=True)
    idx = [i for i in sheet.accepted() if i in links]
    kinds, dates, amounts = sheet.column("kind"), sheet.column("date"), sheet.column("amount")
    orders = sheet.column("order_ref")
    phones, emails = sheet.column("contact_phone"), sheet.column("contact_email")
    staged = pa.table({
        "pos": _i64(list(range(len(idx)))),
        "customer_id": _s([links[i] for i in idx]),
        "kind": _s([kinds[i] for i in idx]),
        "date": _d([dates[i] for i in idx]),
        "amount": _f([amounts[i] for i in idx]),
        "order_ref": _s([orders[i] for i in idx]),
    })
    dup = _anti_duplicates(ctx.cur, "transactions", ["customer_id", "kind", "date", "amount", "order_ref"], staged,
                           ctx.summary_current)
    keep = _skip_duplicates(sheet, idx, dup, "kind", "交易记录（客户、类型、日期、金额一致）", result)
    rows = sheet.row_numbers
    kept_rows = [idx[p] for p in keep]
    if keep:
        take = pa.array(keep, pa.int64())
        ratings, notes = sheet.column("rating"), sheet.column("note")
        _insert(ctx.cur, "transactions", {
            "customer_id": staged["customer_id"].take(take), "kind": staged["kind"].take(take),
            "date": staged["date"].take(take), "amount": staged["amount"].take(take),
            "rating": _i8([ratings[i] for i in kept_rows]),
            "contact": _s([(phones[i] + " / " + emails[i] if phones[i] and emails[i] else phones[i] or emails[i])
                           for i in kept_rows]),
            "note": _s([notes[i] for i in kept_rows]),
            "order_ref": staged["order_ref"].take(take),
            "extra": _s([_extra_text(_with_status(sheet, i)) for i in kept_rows]),
            "batch_id": _i64([batch_id] * len(keep)),
            "source_row": pa.array([rows[i] for i in kept_rows], pa.int32()),
        })
        activity.fold_in(ctx.cur, "transactions", batch_id)
    for i in kept_rows:
        result.row_actions[rows[i]] = "created"
    nexts = sheet.column("next_follow_up")
    follow = [(i, links[i], nexts[i], "交易后跟进", "T2") for i in kept_rows if nexts[i]]
    _plan_follow_ups(ctx, batch_id, follow, sheet)
    result.created = len(keep)
    result.duplicates = len(idx) - len(keep)


# ------------------------------------------------------------------ T3 interactions
def _write_interactions(ctx: _Ctx, batch_id: int, sheet: CleanSheet, result: SheetResult) -> None:
    links = _link_rows(ctx, sheet, False, result, batch_id)
    idx = [i for i in sheet.accepted() if i in links]
    plans = [sheet.get("next_plan", i) for i in idx]
    staged = pa.table({
        "pos": _i64(list(range(len(idx)))),
        "customer_id": _s([links[i] for i in idx]),
        "date": _d([sheet.get("date", i) for i in idx]),
        "channel": _s([sheet.get("channel", i) for i in idx]),
        "content": _s([sheet.get("content", i) for i in idx]),
    })
    dup = _anti_duplicates(ctx.cur, "interactions", ["customer_id", "date", "channel", "content"], staged,
                           ctx.summary_current)
    keep = _skip_duplicates(sheet, idx, dup, "date", "互动记录", result)
    if keep:
        take = pa.array(keep, pa.int64())
        _insert(ctx.cur, "interactions", {
            "customer_id": staged["customer_id"].take(take), "date": staged["date"].take(take),
            "channel": staged["channel"].take(take), "content": staged["content"].take(take),
            "product": _s([sheet.get("product", idx[p]) for p in keep]),
            "potential_value": _s([sheet.get("potential_value", idx[p]) for p in keep]),
            "next_plan": _s([plans[p][0] if plans[p] else None for p in keep]),
            "result": _s([sheet.get("result", idx[p]) for p in keep]),
            "note": _s([sheet.get("note", idx[p]) for p in keep]),
            "created_by": _s([ctx.user] * len(keep)),
            "batch_id": _i64([batch_id] * len(keep)),
            "source_row": pa.array([sheet.row_numbers[idx[p]] for p in keep], pa.int32()),
        })
        activity.fold_in(ctx.cur, "interactions", batch_id)
    for p in keep:
        result.row_actions[sheet.row_numbers[idx[p]]] = "created"
    follow = [(idx[p], links[idx[p]], plans[p][1], plans[p][0], "T3") for p in keep if plans[p] and plans[p][1]]
    _plan_follow_ups(ctx, batch_id, follow, sheet)
    result.created = len(keep)
    result.duplicates = len(idx) - len(keep)


# ------------------------------------------------------------------ T4 tracking summary
_T4_FIELDS = ["first_contact", "last_interaction", "contact_frequency", "tracked_product", "satisfaction", "key_issue"]


def _write_tracking(ctx: _Ctx, batch_id: int, sheet: CleanSheet, result: SheetResult) -> None:
    ids = sheet.column("customer_id")
    for i in sheet.accepted():  # contact is required unless the id is already in the archive
        if not sheet.get("contact_phone", i) and not sheet.get("contact_email", i) and not ids[i]:
            sheet.reject(i, "contact_phone", "联系方式必填（未填写客户编号时）")
    links = _link_rows(ctx, sheet, False, result, batch_id)
    idx = [i for i in sheet.accepted() if i in links]
    current = linking.customer_rows(ctx.cur, list(set(links.values())), [*_T4_FIELDS, "name"])
    changes: list[Change] = []
    pending: dict[tuple[str, str], Any] = {}
    first_row: dict[tuple[str, str], int] = {}
    updated: set[str] = set()
    for i in idx:
        cid = links[i]
        for name in _T4_FIELDS:
            value = sheet.get(name, i)
            if value is None:
                continue
            before = pending.get((cid, name), current[cid].get(name))
            if name == "last_interaction" and before is not None and before >= value:
                continue  # keep the latest known contact
            if name == "first_contact" and before is not None and before <= value:
                continue  # keep the earliest
            if same_value(before, value):
                continue
            pending[(cid, name)] = value
            first_row.setdefault((cid, name), i)
    candidates = [_Candidate(Change(cid, name, current[cid].get(name), value), first_row[(cid, name)],
                             sheet.row_numbers[first_row[(cid, name)]], sheet.headers.get(name, name), cid,
                             current[cid].get("name"))
                  for (cid, name), value in pending.items()]
    for c in _settle_conflicts(ctx, "customers", candidates, sheet, result):
        changes.append(c.change)
        updated.add(c.customer_id)
        result.changes.append({"row": c.row, "key": c.customer_id, "customer_id": c.customer_id,
                               "customer_name": c.customer_name, "field": c.change.field, "header": c.header,
                               "old": c.change.old, "new": c.change.new})
    apply_changes(ctx.cur, batch_id, "customers", changes)
    follow = [(i, links[i], sheet.get("next_follow_up", i), sheet.get("key_issue", i), "T4") for i in idx]
    created = _plan_follow_ups(ctx, batch_id, follow, sheet)
    for i in idx:
        result.row_actions[sheet.row_numbers[i]] = "updated" if links[i] in updated else "unchanged"
    result.updated = len(updated)
    result.created = created


# ------------------------------------------------------------------ T5 follow-up plans
def _write_follow_ups(ctx: _Ctx, batch_id: int, sheet: CleanSheet, result: SheetResult) -> None:
    links = _link_rows(ctx, sheet, False, result, batch_id)
    idx = [i for i in sheet.accepted() if i in links]
    status = [sheet.get("status", i) or "待跟进" for i in idx]
    existing: dict[tuple[str, dt.date, str], tuple[int, str]] = {}
    if idx:
        for fid, cid, due, content, st in ctx.cur.execute(
                "SELECT id, customer_id, due, coalesce(content, ''), status FROM follow_ups "
                "WHERE customer_id IN (SELECT unnest(?))", [list({links[i] for i in idx})]).fetchall():
            existing.setdefault((cid, due, content), (fid, st))
    changes: list[Change] = []
    new: list[int] = []
    owners = dict(ctx.cur.execute("SELECT customer_id, owner FROM customers WHERE customer_id IN (SELECT unnest(?))",
                                  [list({links[i] for i in idx})]).fetchall()) if idx else {}
    seen: set[tuple[str, dt.date, str]] = set()
    names = _customer_names(ctx.cur, (links[i] for i in idx))
    candidates: list[_Candidate] = []
    for p, i in enumerate(idx):
        key = (links[i], sheet.get("due", i), sheet.get("content", i) or "")
        row = sheet.row_numbers[i]
        if key in existing:
            fid, st = existing[key]
            if st != status[p] and not import_may_move(st, status[p]):
                result.duplicates += 1
                result.row_actions[row] = "duplicate"
                sheet.warn(i, "status", f"档案中该跟进计划已是「{st}」，状态不会被表格改回「{status[p]}」", status[p])
            elif st != status[p]:
                candidates.append(_Candidate(Change(str(fid), "status", st, status[p]), i, row,
                                             sheet.headers.get("status", "状态"), links[i], names.get(links[i])))
            else:
                result.duplicates += 1
                result.row_actions[row] = "duplicate"
                sheet.warn(i, "due", "档案中已有相同的跟进计划，已跳过", sheet.get("due", i))
            continue
        if key in seen:
            result.duplicates += 1
            sheet.warn(i, "due", "与本表前面一行的跟进计划相同，已跳过", sheet.get("due", i))
            continue
        seen.add(key)
        new.append(p)
        result.row_actions[row] = "created"
    for c in _settle_conflicts(ctx, "follow_ups", candidates, sheet, result):
        changes.append(c.change)
        if c.change.new == "已完成":
            changes.append(Change(c.change.key, "done_at", None, ctx.now))
            changes.append(Change(c.change.key, "completed_by", None, ctx.user))
        result.changes.append({"row": c.row, "key": c.change.key, "customer_id": c.customer_id,
                               "customer_name": c.customer_name, "field": "status", "header": c.header,
                               "old": c.change.old, "new": c.change.new})
        result.updated += 1
        result.row_actions[c.row] = "updated"
    for c in candidates:
        result.row_actions.setdefault(c.row, "duplicate")
    apply_changes(ctx.cur, batch_id, "follow_ups", changes)
    if new:
        now = ctx.now
        _insert(ctx.cur, "follow_ups", {
            "customer_id": _s([links[idx[p]] for p in new]), "due": _d([sheet.get("due", idx[p]) for p in new]),
            "channel": _s([sheet.get("channel", idx[p]) for p in new]),
            "content": _s([sheet.get("content", idx[p]) for p in new]),
            "goal": _s([sheet.get("goal", idx[p]) for p in new]),
            "owner": _s([sheet.get("owner", idx[p]) or owners.get(links[idx[p]]) for p in new]),
            "status": _s([status[p] for p in new]),
            "origin": _s(["T5"] * len(new)),
            "done_at": pa.array([now if status[p] == "已完成" else None for p in new], pa.timestamp("us")),
            "batch_id": _i64([batch_id] * len(new)),
            "source_row": pa.array([sheet.row_numbers[idx[p]] for p in new], pa.int32()),
        }, stamp=ctx.now)
    result.created = len(new)


# ------------------------------------------------------------------ T6 complaints
_T6_FIELDS = ["date", "contact", "address", "kind", "via", "reason", "request", "accepted", "reject_reason", "urgency",
              "promised_by", "resolved_on", "department", "resolution", "loss", "order_ref", "product", "outcome",
              "satisfaction", "handler"]
_T6_TYPES = {"date": pa.date32(), "promised_by": pa.date32(), "resolved_on": pa.date32(), "accepted": pa.bool_(),
             "loss": pa.float64(), "satisfaction": pa.int8()}


# A closed (or refused) complaint stays so: a sheet cannot reopen it by these fields (reported instead).
_T6_STAGE_FIELDS = frozenset({"accepted", "reject_reason", "resolved_on", "resolution", "outcome", "satisfaction"})


def _write_complaints(ctx: _Ctx, batch_id: int, sheet: CleanSheet, result: SheetResult) -> None:
    links = _link_rows(ctx, sheet, True, result, batch_id)
    idx = [i for i in sheet.accepted() if i in links]
    for i in idx:
        phone, email = sheet.get("contact_phone", i), sheet.get("contact_email", i)
        sheet.values.setdefault("contact", [None] * len(sheet))[i] = " / ".join(x for x in (phone, email) if x) or None
    sheet.values.setdefault("accepted", [None] * len(sheet))
    sheet.values.setdefault("urgency", [None] * len(sheet))
    for i in idx:
        if sheet.values["accepted"][i] is None:
            sheet.values["accepted"][i] = True
        if sheet.values["urgency"][i] is None:
            sheet.values["urgency"][i] = "一般"
    given = [sheet.get("complaint_id", i) for i in idx]
    # Without an id, the same customer + date + reason is the same complaint.
    same: dict[tuple[str, dt.date, str], str] = {}
    if idx:
        for cid, day, reason, comp in ctx.cur.execute(
                "SELECT customer_id, date, reason, complaint_id FROM complaints WHERE customer_id IN (SELECT unnest(?))",
                [list({links[i] for i in idx})]).fetchall():
            same.setdefault((cid, day, reason), comp)
    matched = [comp or same.get((links[i], sheet.get("date", i), sheet.get("reason", i))) for i, comp in zip(idx, given)]
    known: dict[str, dict[str, Any]] = {}  # archived complaints this sheet refers to, read in one query
    if any(matched):
        cols = ["complaint_id", "customer_id", "stage", *_T6_FIELDS]
        for row in ctx.cur.execute(f"SELECT {', '.join(cols)} FROM complaints WHERE complaint_id IN (SELECT unnest(?))",
                                   [sorted({m for m in matched if m})]).fetchall():
            known[row[0]] = dict(zip(cols, row))
    changes: list[Change] = []
    new: list[int] = []
    updated: set[str] = set()
    in_file: set[str] = set()
    names = _customer_names(ctx.cur, (c["customer_id"] for c in known.values()))
    candidates: list[_Candidate] = []
    for i, comp in zip(idx, matched):
        row = sheet.row_numbers[i]
        if comp and comp in in_file:
            sheet.warn(i, "complaint_id", "受理编号在本表中重复，已跳过", comp)
            result.duplicates += 1
            continue
        if comp and comp in known:
            in_file.add(comp)
            old = known[comp]
            for name in _T6_FIELDS:
                value = sheet.get(name, i)
                if value is None or same_value(old.get(name), value):
                    continue
                if name in _T6_STAGE_FIELDS and old.get("stage") not in (None, *OPEN_STAGES):
                    sheet.warn(i, name, f"档案中该投诉已是「{old.get('stage')}」，表格中的「{display(value)}」不会改变它"
                                        f"（档案为「{display(old.get(name))}」）", value)
                    continue
                candidates.append(_Candidate(Change(comp, name, old.get(name), value), i, row,
                                             sheet.headers.get(name, name), old["customer_id"], names.get(old["customer_id"])))
            result.row_actions[row] = "duplicate"
            continue
        if comp:
            in_file.add(comp)
        new.append(i)
        result.row_actions[row] = "created"
    for c in _settle_conflicts(ctx, "complaints", candidates, sheet, result):
        changes.append(c.change)
        updated.add(c.change.key)
        result.row_actions[c.row] = "updated"
        result.changes.append({"row": c.row, "key": c.change.key, "customer_id": c.customer_id,
                               "customer_name": c.customer_name, "field": c.change.field, "header": c.header,
                               "old": c.change.old, "new": c.change.new})
    result.duplicates += sum(1 for a in result.row_actions.values() if a == "duplicate")
    apply_changes(ctx.cur, batch_id, "complaints", changes)
    if new:
        missing = [i for i in new if not sheet.get("complaint_id", i)]
        per_day: dict[str, int] = {}
        generated: dict[int, str] = {}
        for i in missing:
            day = (sheet.get("date", i) or ctx.today).strftime("%Y%m%d")
            if day not in per_day:
                row = ctx.cur.execute(
                    "SELECT max(try_cast(substr(complaint_id, 11) AS BIGINT)) FROM complaints "
                    "WHERE starts_with(complaint_id, ?)", [f"TS{day}"]).fetchall()[0]
                per_day[day] = row[0] or 0
            per_day[day] += 1
            generated[i] = f"TS{day}{per_day[day]:03d}"
        arrays: dict[str, pa.Array] = {
            "complaint_id": _s([sheet.get("complaint_id", i) or generated[i] for i in new]),
            "customer_id": _s([links[i] for i in new]),
        }
        for name in _T6_FIELDS:
            arrays[name] = pa.array([sheet.get(name, i) for i in new], _T6_TYPES.get(name, pa.string()))
        arrays["batch_id"] = _i64([batch_id] * len(new))
        arrays["source_row"] = pa.array([sheet.row_numbers[i] for i in new], pa.int32())
        _insert(ctx.cur, "complaints", arrays)
        _complaints_handled(ctx, batch_id, list(arrays["complaint_id"].to_pylist()))
    result.created = len(new)
    result.updated = len(updated)


def _complaints_handled(ctx: _Ctx, batch_id: int, ids: list[str]) -> None:
    """Imported complaints join the handling workflow (crm.complaints.handling.adopt_complaints:
    stage, policy deadline), and a recent open one of a 高价值 customer gets the 24-hour rule's
    follow-up, which belongs to the batch so that undo removes it too."""
    from crm.complaints.handling import adopt_complaints
    from crm.followups.urgent import ensure_urgent_follow_up

    for cid, customer_id, day, accepted, resolved, reason in adopt_complaints(ctx.cur, ctx.user, ctx.now, ctx.today, ids):
        if accepted and resolved is None and (ctx.today - day).days <= 1:
            fid = ensure_urgent_follow_up(ctx.cur, ctx.user, customer_id, f"投诉 {cid}：{reason or ''}"[:80], ctx.now)
            if fid is not None:
                ctx.cur.execute("UPDATE follow_ups SET batch_id = ? WHERE id = ?", [batch_id, fid])


# ------------------------------------------------------------------ T7 surveys
def _write_surveys(ctx: _Ctx, batch_id: int, sheet: CleanSheet, result: SheetResult) -> None:
    from crm.imports.templates import SCORE_FIELDS

    links = _link_rows(ctx, sheet, True, result, batch_id)
    idx = [i for i in sheet.accepted() if i in links]
    cols: dict[str, pa.Array] = {
        "pos": _i64(list(range(len(idx)))),
        "customer_id": _s([links[i] for i in idx]),
        "date": _d([sheet.get("date", i) for i in idx]),
    }
    for name in SCORE_FIELDS:
        cols[name] = _i8([sheet.get(name, i) for i in idx])
    staged = pa.table(cols)
    dup = _anti_duplicates(ctx.cur, "surveys", ["customer_id", "date", *SCORE_FIELDS], staged)
    keep = _skip_duplicates(sheet, idx, dup, "date", "调查记录", result)
    if keep:
        take = pa.array(keep, pa.int64())
        arrays = {name: staged[name].take(take) for name in ("customer_id", "date", *SCORE_FIELDS)}
        arrays["via"] = _s([sheet.get("via", idx[p]) for p in keep])
        arrays["comment"] = _s([sheet.get("comment", idx[p]) for p in keep])
        arrays["batch_id"] = _i64([batch_id] * len(keep))
        arrays["source_row"] = pa.array([sheet.row_numbers[idx[p]] for p in keep], pa.int32())
        _insert(ctx.cur, "surveys", arrays)
        from crm.surveys.analysis import plan_low_score_follow_ups

        plan_low_score_follow_ups(ctx.cur, ctx.today, batch_id)
    for p in keep:
        result.row_actions[sheet.row_numbers[idx[p]]] = "created"
    result.created = len(keep)
    result.duplicates = len(idx) - len(keep)


WRITERS: dict[str, Callable[[_Ctx, int, CleanSheet, SheetResult], None]] = {
    "T1": _write_customers, "T2": _write_transactions, "T3": _write_interactions, "T4": _write_tracking,
    "T5": _write_follow_ups, "T6": _write_complaints, "T7": _write_surveys,
}
