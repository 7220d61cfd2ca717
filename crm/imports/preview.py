"""What the 数据导入 page shows and does, without Streamlit: pages/import.py only lays it out.

An uploaded file becomes an `UploadEntry` kept in the session: its bytes, the workbook read from
them (or the reason it cannot be read), the user's column mappings, the dry-run report the preview
is drawn from and, once confirmed, the real report and the rejected-rows workbook. The dry run is
redone only when the archive changed since (`archive_stamp`) or the mappings changed, so reruns
of the page cost nothing.
"""
from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from crm.auth import policy
from crm.auth.personal import Actor, PersonalData
from crm.db import Archive, fetch_one
from crm.errors import failure_reason
from crm.imports.batches import UndoResult, list_batches
from crm.imports.blank_templates import resolve_codes, write_blank_templates
from crm.imports.cleaning import display, is_blank
from crm.imports.pipeline import (
    ImportReport,
    Progress,
    SheetResult,
    SkippedSheet,
    import_workbook,
    remember_mapping,
    remembered_mappings,
)
from crm.imports.reader import (
    HIDDEN_SHEET,
    FileReadError,
    Notice,
    Workbook,
    hidden_only_message,
    leave_out_hidden,
    left_out_reason,
    read_everything,
)
from crm.imports.recognise import CONSTANTS_KEY, Recognition, Unrecognised, recognise_sheet
from crm.imports.rejects import PROBLEM_COLUMN, has_rejections, rejected_rows_workbook
from crm.imports.templates import TEMPLATES, Template, field_for_header
from crm.imports.validation import ERROR
from crm.provenance import KEEP, TAKE, ConflictChoices
from crm.tables import column_label
from crm.vocabulary import BATCH_ACTIVE

IGNORE = "忽略"
SKIP_REASONS_WITHOUT_MAPPING = ("工作表为空", "只有表头")
COUNT_LABELS = ("新建", "更新", "拒绝", "重复")
BATCH_STATUS = {"active": "有效", "undone": "已撤销"}
TABLE_LABELS = {"customers": "客户", "transactions": "交易记录", "interactions": "互动记录", "follow_ups": "跟进计划",
                "complaints": "投诉", "surveys": "满意度调查", "customer_tags": "客户标签"}
# Which table a template's updates land in (SheetResult.changes keys are that table's keys).
UPDATED_TABLE = {"T1": "customers", "T4": "customers", "T5": "follow_ups", "T6": "complaints"}


# ------------------------------------------------------------------ one uploaded file
@dataclass
class UploadEntry:
    key: str  # the uploader's file id
    name: str
    size: int
    data: bytes = field(repr=False)
    workbook: Workbook | None = field(default=None, repr=False)  # what is imported (hidden parts left out unless chosen)
    full: Workbook | None = field(default=None, repr=False)  # the whole file as read, hidden parts included
    include_hidden: bool = False  # the user ticked 导入隐藏的工作表和行
    hidden_only: str | None = None  # every sheet with data is hidden and left out: why nothing is previewed
    tasks: tuple[Any, dict[str, Any]] | None = field(default=None, repr=False)  # (preview_stamp, mapping tasks)
    error: str | None = None  # the file cannot be read or previewed: shown as is
    overrides: dict[str, Recognition] = field(default_factory=dict)
    preview: ImportReport | None = None
    preview_stamp: tuple[Any, ...] | None = None
    result: ImportReport | None = None  # after 确认导入
    rejects: bytes | None = field(default=None, repr=False)
    import_error: str | None = None
    # what to do where the archive changed a field after this sheet last set it (crm.provenance)
    choices: ConflictChoices = field(default_factory=ConflictChoices)

    @property
    def imported(self) -> bool:
        return self.result is not None

    @property
    def rows_to_import(self) -> int:
        return sum(b.rows_read for b in self.preview.batches) if self.preview else 0

    @property
    def ready(self) -> bool:
        """Can be imported: readable, previewed, not yet imported, something to import."""
        return self.error is None and not self.imported and self.preview is not None and bool(self.preview.batches)

    @property
    def rejects_name(self) -> str:
        return f"{Path(self.name).stem}_拒绝行.xlsx"


def load_upload(key: str, name: str, data: bytes, max_bytes: int | None = None) -> UploadEntry:
    """Read an upload; a file that cannot be read gets a message naming it (never an exception)."""
    entry = UploadEntry(key, name, len(data), data)
    try:
        entry.full = read_everything(data, file_name=name, max_bytes=max_bytes)
        entry.workbook = leave_out_hidden(entry.full)
    except FileReadError as exc:
        entry.error = str(exc)
    except Exception as exc:  # anything else a broken file provokes: still a message, not a traceback
        entry.error = f"文件「{name}」无法读取：{failure_reason(exc)}"
    return entry


def set_include_hidden(entry: UploadEntry, include: bool) -> None:
    """The user's choice for the file's hidden sheets and rows; the preview is redone with it."""
    if entry.full is None or include == entry.include_hidden:
        return
    entry.include_hidden = include
    entry.workbook = entry.full if include else leave_out_hidden(entry.full)


def reading_notices(entry: UploadEntry) -> list[Notice]:
    """What reading found that the user should see beside the preview: hidden rows (and sheets, when
    imported: left-out sheets are listed with the skipped sheets), NULs removed."""
    if entry.workbook is None:
        return []
    return [n for n in entry.workbook.notices if n.kind != HIDDEN_SHEET or entry.include_hidden]


def _with_left_out(entry: UploadEntry, report: ImportReport) -> ImportReport:
    """The report with each hidden sheet left out listed as skipped, with the reason."""
    if entry.workbook is not None:
        report.skipped_sheets.extend(SkippedSheet(entry.name, s.name, left_out_reason(s)) for s in entry.workbook.left_out)
    return report


def archive_stamp(archive: Archive) -> tuple[Any, ...]:
    """Changes whenever the archive does: every write leaves an audit row."""
    cur = archive.cursor()
    try:
        row = fetch_one(cur, "SELECT max(id), count(*) FROM audit_log")
    finally:
        cur.close()
    return tuple(row or ())


def _overrides_stamp(entry: UploadEntry) -> tuple[Any, ...]:
    mapping = tuple(sorted((sheet, rec.template.code, rec.header_row, tuple(sorted(rec.columns.items())),
                            tuple(sorted(rec.constants.items())))
                           for sheet, rec in entry.overrides.items()))
    c = entry.choices
    return (mapping, c.default, tuple(sorted(c.customers.items())), tuple(sorted(c.fields.items())),
            entry.include_hidden)


def needs_preview(entry: UploadEntry, stamp: tuple[Any, ...]) -> bool:
    return (entry.error is None and not entry.imported and entry.workbook is not None
            and entry.preview_stamp != (stamp, _overrides_stamp(entry)))


def preview(archive: Archive, entry: UploadEntry, user: str, stamp: tuple[Any, ...],
            progress: Progress | None = None, today: dt.date | None = None) -> None:
    """Dry-run the file (everything rolled back) and keep the report for the preview."""
    assert entry.workbook is not None
    entry.hidden_only = hidden_only_message(entry.workbook)
    try:
        if entry.hidden_only:
            entry.preview = _with_left_out(entry, ImportReport())
        else:
            with np.errstate(all="ignore"):  # see crm.cli: numpy's warnings are not for the user
                entry.preview = _with_left_out(entry, import_workbook(
                    archive, entry.workbook, user, dry_run=True, overrides=entry.overrides or None,
                    progress=progress, today=today, conflicts=entry.choices))
    except FileReadError as exc:
        entry.error = str(exc)
        entry.preview = None
    except Exception as exc:
        entry.error = f"文件「{entry.name}」预览失败：{failure_reason(exc)}"
        entry.preview = None
    entry.preview_stamp = (stamp, _overrides_stamp(entry))


def run_import(archive: Archive, entries: Sequence[UploadEntry], user: str,
               progress: Callable[[int, int, str], None] | None = None, strict: bool = False,
               today: dt.date | None = None) -> None:
    """Import each ready file for real (one transaction per file), feeding one overall progress
    `progress(rows done, rows in all files, file name)`."""
    ready = [e for e in entries if e.ready]
    total = sum(e.rows_to_import for e in ready) or 1
    done_before = 0
    for entry in ready:
        assert entry.workbook is not None

        def step(done: int, _total: int, _text: str, base: int = done_before, name: str = entry.name) -> None:
            if progress:
                progress(min(base + done, total), total, name)

        try:
            with np.errstate(all="ignore"):
                report = _with_left_out(entry, import_workbook(
                    archive, entry.workbook, user, strict=strict, overrides=entry.overrides or None,
                    progress=step, today=today, conflicts=entry.choices))
        except FileReadError as exc:
            entry.import_error = str(exc)
        except Exception as exc:  # the transaction rolled back: nothing of this file was written
            entry.import_error = f"文件「{entry.name}」导入失败，未写入任何数据：{failure_reason(exc)}"
        else:
            entry.result = report
            if has_rejections(report):  # also when strict mode wrote nothing: the rows to fix
                entry.rejects = rejected_rows_workbook(entry.workbook, report)  # type: ignore[assignment]
        done_before += entry.rows_to_import
        if progress:
            progress(min(done_before, total), total, entry.name)


# ------------------------------------------------------------------ preview tables
def template_label(code: str | None) -> str:
    if code == "SEED":
        return "演示数据"
    tpl = TEMPLATES.get(code or "")
    return f"{tpl.code} {tpl.title}" if tpl else str(code or "")


def counts(batch: SheetResult) -> dict[str, int]:
    return {"新建": batch.created, "更新": batch.updated, "拒绝": len(batch.rejected_rows), "重复": batch.duplicates}


def report_counts(report: ImportReport) -> dict[str, int]:
    total = dict.fromkeys(COUNT_LABELS, 0)
    for b in report.batches:
        for k, v in counts(b).items():
            total[k] += v
    return total


def fmt(value: Any) -> str:
    """A value for a preview cell (text: Arrow-safe whatever the type)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (tuple, list, set)):
        return "、".join(fmt(v) for v in value)
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        return display(value) if value.is_integer() else f"{value:,.2f}"
    if isinstance(value, dt.datetime):
        return display(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    return display(value)


DROPPED = "dropped"  # problems_frame: warnings that left a value out (the row lands, the value needs fixing)


def problems_frame(batch: SheetResult, severity: str = ERROR) -> pd.DataFrame:
    """The sheet's problems of one kind: errors (rows refused), DROPPED (values left out), other warnings."""
    label = {ERROR: "原因", DROPPED: "需修正"}.get(severity, "说明")
    rows = [{"行号": p.row, "列": p.column, "值": p.value, label: p.message} for p in batch.problems
            if (p.dropped if severity == DROPPED else p.severity == severity and not p.dropped)]
    cols = ["行号", "列", "值", label]
    frame = pd.DataFrame(rows, columns=cols)
    frame["行号"] = frame["行号"].astype("Int64")
    return frame


def field_word(table: str | None, change: dict[str, Any]) -> str:
    """The column a change is about, as the user reads it: the sheet's header when the sheet had the
    column, else the field's word (地区 and 城市 come from an address, not from a column of their own)."""
    header, name = change.get("header"), str(change.get("field"))
    return header if header and header != name else column_label(table or "customers", name)


def changes_frame(archive: Archive, actor: Actor, batch: SheetResult) -> pd.DataFrame:
    """Rows that update an existing record: old → new of each changed field.

    Old values come from the archive, so personal fields of customers the actor may not see in
    full are masked, as everywhere else (crm.auth.personal); new values are the user's own file.
    """
    table = UPDATED_TABLE.get(batch.template)
    changes = PersonalData(archive, actor).mask_changes(table, batch.changes) if table else list(batch.changes)
    own_key = table in (None, "customers")
    rows = [{"行号": c.get("row"), "客户编号": c.get("customer_id") or "", "客户": c.get("customer_name") or "",
             **({} if own_key else {"记录编号": str(c.get("key", ""))}),
             "字段": field_word(table, c), "原值": fmt(c.get("old")), "新值": fmt(c.get("new"))}
            for c in changes]
    cols = ["行号", "客户编号", "客户", *([] if own_key else ["记录编号"]), "字段", "原值", "新值"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["行号"] = frame["行号"].astype("Int64")
    return frame


CONFLICT_COLUMNS = ["行号", "客户编号", "客户", "字段", "档案值", "档案值来自", "表格值", "采用表格值"]


def conflicts_frame(archive: Archive, actor: Actor, batch: SheetResult) -> pd.DataFrame:
    """The sheet's conflicts, one row per field: the archive's value and who set it when, the
    sheet's value, and whether the sheet's is taken (the column a user ticks). Masked like changes."""
    table = UPDATED_TABLE.get(batch.template)
    shown = [dict(c, old=c["archive"]) for c in batch.conflicts]
    if table:
        shown = PersonalData(archive, actor).mask_changes(table, shown)
    rows = [{"行号": c["row"], "客户编号": c["customer_id"], "客户": c.get("customer_name") or "",
             "字段": field_word(table, c), "档案值": fmt(c["old"]), "档案值来自": c["changed_how"], "表格值": fmt(c["sheet"]),
             "采用表格值": c["choice"] == TAKE} for c in shown]
    frame = pd.DataFrame(rows, columns=CONFLICT_COLUMNS)
    frame["行号"] = frame["行号"].astype("Int64")
    return frame


def set_conflict_choice(entry: UploadEntry, batch: SheetResult, index: int, take: bool) -> None:
    """The user ticked (or cleared) 采用表格值 on the index-th conflict of a sheet."""
    c = batch.conflicts[index]
    entry.choices.fields[(str(c["key"]), c["field"])] = TAKE if take else KEEP


def set_sheet_choice(entry: UploadEntry, take: bool, customers: Sequence[str] = ()) -> None:
    """The file's default for conflicts, and the customers whose every conflict takes the sheet's value;
    a new default clears the per-field ticks, as a user expects of "all"."""
    default = TAKE if take else KEEP
    if default != entry.choices.default:
        entry.choices.fields.clear()
    entry.choices = ConflictChoices(default, {cid: TAKE for cid in customers}, dict(entry.choices.fields))


def batch_problems_download(archive: Archive, batch_id: int, actor: Actor) -> tuple[str, bytes] | None:
    """The rejected-rows workbook an import kept for this batch (file name, bytes), if it had any and
    the reader may have it: it holds the file's rows as typed, names and phones in clear, so only
    the user who imported it and those who see every customer in full get it."""
    cur = archive.cursor()
    try:
        row = fetch_one(cur, "SELECT p.file_name, p.workbook, b.user_name FROM batch_problems p "
                             "JOIN import_batches b USING (batch_id) WHERE p.batch_id = ?", [batch_id])
    finally:
        cur.close()
    if row is None or not may_have_problems(actor, row[2]):
        return None
    return row[0], bytes(row[1])


def may_have_problems(actor: Actor, importer: str | None) -> bool:
    """Whether a batch's problems workbook may go to this reader (its importer, or leads and up)."""
    return actor.username == importer or policy.allowed(actor, "customers.see_all_in_full")


# ------------------------------------------------------------------ column mapping
@dataclass
class MappingTask:
    """A sheet the user may map by hand: its header row and headers, and why it needs mapping.

    `headers` are the columns offered for mapping: all of them, or for a wide sheet the recognised
    ones and the first others up to MAPPING_COLUMNS (a form of 16,384 selectboxes stops a browser
    tab); `all_headers` is the whole header row, whose signature remembers a mapping."""
    sheet: str
    header_row: int
    headers: dict[int, str]  # column index -> header as written
    reason: str
    current: Recognition | None = None  # what applies now (recognised, remembered or mapped)
    all_headers: dict[int, str] | None = None

    @property
    def header_list(self) -> list[str]:
        return list((self.all_headers or self.headers).values())

    @property
    def more_columns(self) -> int:
        """Columns of the header row not offered for mapping."""
        return len(self.all_headers or self.headers) - len(self.headers)


MAPPING_COLUMNS = 60


def columns_note(task: MappingTask) -> str | None:
    """For a wide sheet: how many columns are recognised and how many more are left out of the form."""
    if not task.more_columns:
        return None
    mapped = len(task.current.columns) if task.current else 0
    return (f"工作表「{task.sheet}」共 {len(task.header_list):,} 列：识别了 {mapped} 列，列映射中列出前 {len(task.headers)} 列，"
            f"另有 {task.more_columns:,} 列未列出（未识别的列不导入）")


def _offered(headers: dict[int, str], keep: set[int]) -> dict[int, str]:
    """The columns a mapping form offers: every recognised one, then the others in order, up to MAPPING_COLUMNS."""
    if len(headers) <= MAPPING_COLUMNS:
        return headers
    room = max(0, MAPPING_COLUMNS - len(keep))
    others = [c for c in headers if c not in keep][:room]
    chosen = keep | set(others)
    return {c: h for c, h in headers.items() if c in chosen}


def _header_row(sheet: Any, header_row: int) -> dict[int, str]:
    row = sheet.rows[header_row] if header_row < len(sheet.rows) else []
    return {i: display(c).strip() for i, c in enumerate(row) if not is_blank(c)}


def mapping_tasks(archive: Archive, entry: UploadEntry) -> dict[str, MappingTask]:
    """Each sheet whose columns can be mapped by hand, by sheet name: the sheets skipped because
    their headers were not recognised (`current` None) and the imported ones (to correct them)."""
    if entry.workbook is None or entry.preview is None:
        return {}
    if entry.tasks is not None and entry.tasks[0] == entry.preview_stamp:
        return entry.tasks[1]  # recognising a 16,384-column sheet again on every rerun costs a third of a second
    skipped = {s.sheet: s.reason for s in entry.preview.skipped_sheets}
    imported = {b.sheet for b in entry.preview.batches}
    cur = archive.cursor()
    try:
        remembered = remembered_mappings(cur)
    finally:
        cur.close()
    tasks: dict[str, MappingTask] = {}
    for sheet in entry.workbook.sheets:
        if sheet.name in skipped:
            if skipped[sheet.name].startswith(SKIP_REASONS_WITHOUT_MAPPING):
                continue
        elif sheet.name not in imported:
            continue
        rec = entry.overrides.get(sheet.name) or recognise_sheet(sheet, remembered)
        if isinstance(rec, Unrecognised):
            if rec.header_row is not None and rec.headers:
                every = _header_row(sheet, rec.header_row)
                keep = {c for c, h in every.items() if any(field_for_header(t, h) for t in TEMPLATES.values())} \
                    if len(every) > MAPPING_COLUMNS else set()
                tasks[sheet.name] = MappingTask(sheet.name, rec.header_row, _offered(every, keep),
                                                skipped.get(sheet.name, ""), all_headers=every)
        else:
            every = _header_row(sheet, rec.header_row)
            tasks[sheet.name] = MappingTask(sheet.name, rec.header_row, _offered(every, set(rec.columns)),
                                            skipped.get(sheet.name, ""), rec, all_headers=every)
    entry.tasks = (entry.preview_stamp, tasks)
    return tasks


def field_options(template: Template) -> list[str]:
    """Selectbox options for a column: 忽略, then each field as 'header（name）'."""
    return [IGNORE] + [field_label(template, f.name) for f in template.fields]


def field_label(template: Template, name: str) -> str:
    f = template.field_by_name[name]
    return f"{f.header}{'＊' if f.required else ''}"


def field_from_label(template: Template, label: str) -> str | None:
    if label == IGNORE:
        return None
    for f in template.fields:
        if field_label(template, f.name) == label:
            return f.name
    return None


def suggest_mapping(template: Template, headers: dict[int, str], current: Recognition | None = None) -> dict[int, str | None]:
    """A starting point: the current mapping when it is for this template, else headers matched by alias."""
    if current is not None and current.template.code == template.code:
        return {c: current.columns.get(c) for c in headers}
    out: dict[int, str | None] = {}
    used: set[str] = set()
    for c, h in headers.items():
        name = field_for_header(template, h)
        out[c] = name if name and name not in used else None
        if name:
            used.add(name)
    return out


class MappingError(ValueError):
    """The mapping cannot be applied; the message says why, in Chinese."""


def build_recognition(template_code: str, header_row: int, headers: dict[int, str],
                      choice: dict[int, str | None], constants: dict[str, str] | None = None) -> Recognition:
    """The Recognition for a user's mapping {column index: field name or None (忽略)}, and the fields
    given one value for the whole sheet (`constants`: an order export without 交易类型 → 购买)."""
    if template_code not in TEMPLATES:
        raise MappingError(f"未知模板 {template_code}")
    tpl = TEMPLATES[template_code]
    columns = {c: f for c, f in choice.items() if f}
    constants = {f: str(v).strip() for f, v in (constants or {}).items() if f and str(v or "").strip()}
    if not columns:
        raise MappingError("请至少为一列选择字段")
    clash = [tpl.field_by_name[f].header for f in constants if f in columns.values()]
    if clash:
        raise MappingError(f"「{'、'.join(clash)}」已对应了表格中的列，不能再指定固定值")
    unknown_constant = [f for f in constants if f not in tpl.field_by_name]
    if unknown_constant:
        raise MappingError(f"模板 {tpl.code} 没有字段：{'、'.join(unknown_constant)}")
    unknown = [f for f in columns.values() if f not in tpl.field_by_name]
    if unknown:
        raise MappingError(f"模板 {tpl.code} 没有字段：{'、'.join(unknown)}")
    seen: dict[str, int] = {}
    twice: list[str] = []
    for c, f in sorted(columns.items()):
        if f in seen:
            twice.append(f"「{tpl.field_by_name[f].header}」（{headers.get(seen[f], '')} 与 {headers.get(c, '')}）")
        seen.setdefault(f, c)
    if twice:
        raise MappingError("同一字段被选给了多列：" + "；".join(twice))
    ignored = [h for c, h in headers.items() if c not in columns]
    return Recognition(tpl, header_row, columns, dict(headers), ignored, via_mapping=True, constants=constants)


def missing_required(template_code: str, fields: Sequence[str]) -> list[str]:
    """Required fields (and 'at least one of' groups) the mapping leaves out: every row would be rejected."""
    tpl = TEMPLATES[template_code]
    have = set(fields)
    out = [f.header for f in tpl.required if f.name not in have]
    for group in tpl.any_of:
        if not have & set(group):
            out.append("/".join(tpl.field_by_name[n].header for n in group))
    return out


def save_mapping(archive: Archive, headers: Sequence[str], rec: Recognition, user: str) -> str:
    """Remember a confirmed mapping for these headers, so the same sheet imports by itself next time
    (in the app and from the CLI) — also as it comes back in the rejected-rows file, whose header
    row is the same plus the 问题 column."""
    mapping: dict[str, Any] = {rec.headers[c]: f for c, f in rec.columns.items()}
    if rec.constants:
        mapping[CONSTANTS_KEY] = dict(rec.constants)
    sig = remember_mapping(archive, list(headers), rec.template.code, mapping, user)
    if PROBLEM_COLUMN not in headers:
        remember_mapping(archive, [*headers, PROBLEM_COLUMN], rec.template.code, mapping, user)
    return sig


def sample_values(entry: UploadEntry, sheet_name: str, header_row: int, column: int, n: int = 3) -> list[str]:
    """The first few non-empty values under a header, shown beside its selectbox."""
    if entry.workbook is None:
        return []
    sheet = next((s for s in entry.workbook.sheets if s.name == sheet_name), None)
    out: list[str] = []
    for row in (sheet.rows[header_row + 1:header_row + 40] if sheet else []):
        if column < len(row) and not is_blank(row[column]):
            out.append(display(row[column]))
            if len(out) == n:
                break
    return out


# ------------------------------------------------------------------ history, undo, templates
def can_write(archive: Archive, actor: Actor) -> bool:
    """Registered 只读 users cannot import or undo. Until log-in arrives a user name the archive
    does not know (e.g. the default admin of a fresh, unseeded archive) may: it is read as a viewer
    for masking, but refusing it would leave a new archive with no way to get data in."""
    if policy.allowed(actor, "imports.write"):
        return True
    cur = archive.cursor()
    try:
        row = fetch_one(cur, "SELECT role FROM users WHERE username = ? AND active", [actor.username])
    finally:
        cur.close()
    return row is None


def can_undo(actor: Actor, batch: dict[str, Any], writer: bool) -> bool:
    """Leads, managers and admins undo any active batch; everyone else who may write (`writer`,
    from can_write), their own."""
    if batch.get("status") != BATCH_ACTIVE or not writer:
        return False
    return policy.allowed(actor, "imports.undo_any") or batch.get("user_name") == actor.username


def batch_history(archive: Archive, limit: int = 200) -> list[dict[str, Any]]:
    out = []
    cur = archive.cursor()
    try:
        kept = {b for (b,) in cur.execute("SELECT batch_id FROM batch_problems").fetchall()}
    finally:
        cur.close()
    for b in list_batches(archive, limit=limit):
        started = b.get("started_at")
        out.append(dict(b, has_problems=b["batch_id"] in kept, template_label=template_label(b.get("template")),
                        status_label=BATCH_STATUS.get(b.get("status"), b.get("status")),
                        when=started.strftime("%Y-%m-%d %H:%M") if isinstance(started, dt.datetime) else fmt(started)))
    return out


def undo_message(result: UndoResult) -> str:
    deleted = "、".join(f"{TABLE_LABELS.get(t, t)} {n} 条" for t, n in result.deleted.items()) or "无新建记录"
    text = f"已撤销批次 {result.batch_id}：删除 {deleted}；恢复 {result.restored} 个被更新的字段"
    if result.kept:
        text += f"；{len(result.kept)} 个字段之后又被修改过，保留了较新的值"
    if result.kept_customers:
        shown = "；".join(f"{cid}：{why}" for cid, why in list(result.kept_customers.items())[:5])
        more = f"等 {len(result.kept_customers)} 位" if len(result.kept_customers) > 5 else ""
        text += f"；保留了本批次新建、之后又被使用的客户{more}（{shown}）"
    return text + "。"


TEMPLATE_DOWNLOADS: list[tuple[str, str, str]] = (
    [(code, f"{code} {tpl.title}", f"{tpl.code}_{tpl.title}.xlsx") for code, tpl in TEMPLATES.items()]
    + [("all", "全部模板", "客户档案_全部模板.xlsx")]
)


def blank_template_bytes(code: str) -> bytes:
    """A blank template workbook (crm.imports.blank_templates) as bytes, for a download button."""
    resolve_codes(code)  # a clear ValueError for an unknown code, before touching the disk
    with tempfile.TemporaryDirectory() as tmp:
        path = write_blank_templates([code], Path(tmp) / "template.xlsx")
        return path.read_bytes()



__all__ = [
    "IGNORE", "MAPPING_COLUMNS", "MappingError", "MappingTask", "TEMPLATE_DOWNLOADS", "UploadEntry", "archive_stamp",
    "columns_note", "reading_notices", "set_include_hidden",
    "batch_history", "blank_template_bytes", "build_recognition", "can_undo", "can_write", "changes_frame", "counts",
    "field_from_label", "field_label", "field_options", "fmt", "load_upload", "mapping_tasks", "missing_required",
    "needs_preview", "preview", "problems_frame", "report_counts", "run_import", "sample_values",
    "save_mapping", "suggest_mapping", "template_label", "undo_message",
]
