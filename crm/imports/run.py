"""One import as `python -m crm import` runs it, shared by the command line and the hot folder.

The command line imports files directly when it can open the archive; while the dashboard holds
it, the dashboard's hot folder (crm.inbox) imports them instead and the command line prints the
report it gets back. Both must say the same thing with the same exit code, so both go through
here: `import_file` reads and imports one file exactly as the command does; its `as_json` is the
`--json` contract for that file; `merge` joins the files' outputs the way one run over several
files reports them; `emit` prints text or JSON from that output alone (never from live report
objects), which is what makes a report read back from the hot folder print like a direct run.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any, Iterable, TextIO

from crm.db import Archive
from crm.imports.pipeline import ImportReport
from crm.imports.reader import ReadAhead, Workbook

EXIT_OK, EXIT_FAILED = 0, 1


@dataclass
class FileOutcome:
    """What importing one file gave: the report, the workbook read (for the problems workbook),
    what reading noticed, or why the file could not be read at all (`failure`)."""
    report: ImportReport = field(default_factory=ImportReport)
    workbook: Workbook | None = None
    notices: list[dict[str, str]] = field(default_factory=list)
    failure: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The `--json` output of `python -m crm import` for this one file."""
        out = self.report.as_dict()
        if self.notices:
            out["notices"] = list(self.notices)
        return out


def import_file(archive: Archive, path: str | os.PathLike[str], user: str, *, strict: bool = False,
                dry_run: bool = False, on_conflict: str = "keep", hidden: bool = False,
                file_name: str | None = None, read_ahead: ReadAhead | None = None) -> FileOutcome:
    """Read one file (hidden sheets and rows only with `hidden`) and import it as `user`.

    A file that cannot be read is the outcome's `failure` (the command goes on with the next file);
    a refusal by the policy (crm.errors.UserError) is raised, as it ends the whole command.
    `read_ahead`: the file already being read (crm.imports.reader.ReadAhead), used when it is this one."""
    import numpy as np

    from crm.imports.pipeline import SkippedSheet, gc_paused, import_workbook
    from crm.imports.reader import HIDDEN_SHEET, FileReadError, hidden_only_message, left_out_reason, read_workbook
    from crm.provenance import ConflictChoices

    outcome = FileOutcome()
    try:
        # numpy's floating-point warnings (an amount of 1e308 squared while rounding) are not for the
        # user: the cleaning rules already reject such a value with a Chinese reason
        with gc_paused(), np.errstate(all="ignore"):
            if read_ahead is not None and file_name is None and read_ahead.matches(path, hidden):
                workbook = read_ahead.result()
            else:
                workbook = read_workbook(path, file_name=file_name, include_hidden=hidden)
            refusal = hidden_only_message(workbook)
            if refusal:
                raise FileReadError(refusal)
            outcome.workbook = workbook
            outcome.report = import_workbook(archive, workbook, user, strict=strict, dry_run=dry_run,
                                             conflicts=ConflictChoices(on_conflict))
    except FileReadError as exc:
        outcome.failure = str(exc)
        outcome.report = ImportReport()
        return outcome
    outcome.report.skipped_sheets.extend(SkippedSheet(workbook.file_name, s.name, left_out_reason(s))
                                         for s in workbook.left_out)
    outcome.notices = [{"file": workbook.file_name, **n.as_dict()} for n in workbook.notices
                       if n.kind != HIDDEN_SHEET or hidden]
    return outcome


def merge(outputs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The `--json` output of one run over several files, from each file's (ImportReport.extend's rules:
    batches and skipped sheets in file order, the strict-mode refusals joined, then the notices)."""
    batches: list[Any] = []
    skipped: list[Any] = []
    aborted: list[str] = []
    notices: list[Any] = []
    for out in outputs:
        batches.extend(out.get("batches", []))
        skipped.extend(out.get("skipped_sheets", []))
        if out.get("aborted"):
            aborted.append(out["aborted"])
        notices.extend(out.get("notices", []))
    merged: dict[str, Any] = {"batches": batches, "skipped_sheets": skipped}
    if aborted:
        merged["aborted"] = "; ".join(aborted)
    if notices:
        merged["notices"] = notices
    return merged


def json_default(value: Any) -> Any:
    """Dates and times as ISO text, anything else JSON cannot hold as its text."""
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return str(value)


def dumps(out: dict[str, Any]) -> str:
    """The one JSON text of an import's output (the same bytes whether printed or read back)."""
    return json.dumps(out, ensure_ascii=False, default=json_default)


def _problem_text(p: dict[str, Any]) -> str:
    """crm.imports.validation.Problem's str() from its as_dict()."""
    where = f"第 {p.get('row')} 行" if p.get("row") else ""
    col = f"「{p.get('column')}」" if p.get("column") else ""
    val = f"（值：{p.get('value')}）" if p.get("value") else ""
    return f"{where}{col}{val}：{p.get('message')}"


def render_text(out: dict[str, Any], *, on_conflict: str = "keep", dry_run: bool = False) -> list[str]:
    """The lines `python -m crm import` prints without --json, from its JSON output."""
    from crm.provenance import CHOICE_LABELS

    lines: list[str] = []
    for b in out.get("batches", []):
        rejected = len(b["rejected_rows"]) if "rejected_rows" in b else int(b.get("rejected") or 0)
        skipped = f"，不是交易跳过 {len(b['skipped_rows'])}" if b.get("skipped_rows") else ""
        batch_id = b.get("batch_id")
        lines.append(f"[{b['template']}] {b['file']} / {b['sheet']}：读取 {b['rows_read']} 行，新建 {b['created']}，"
                     f"更新 {b['updated']}，未变或合并 {b.get('unchanged', 0)}，重复跳过 {b.get('duplicates', 0)}，"
                     f"拒绝 {rejected}{skipped}" + ("" if batch_id is None or batch_id < 0 else f"（批次 {batch_id}）"))
        if b.get("extra_columns"):
            lines.append(f"  未对应字段的列已作为「其他信息」保存：{'、'.join(b['extra_columns'])}")
        if b.get("unused_columns"):
            lines.append(f"  未使用的列：{'、'.join(b['unused_columns'])}")
        conflicts = b.get("conflicts") or []
        if conflicts:
            lines.append(f"  冲突 {len(conflicts)} 处（档案在该表上次导入后被修改过）：{CHOICE_LABELS[on_conflict]}，"
                         f"可用 --on-conflict {'take' if on_conflict == 'keep' else 'keep'} 改变")
            for c in conflicts[:50]:
                lines.append(f"    第 {c['row']} 行 {c['customer_id']}「{c['header']}」：档案「{c['archive']}」"
                             f"（{c['changed_how']}）/ 表格「{c['sheet']}」")
        problems = b.get("problems") or []
        for p in problems[:200]:
            lines.append(f"  {'错误' if p.get('severity') == 'error' else '提示'} {_problem_text(p)}")
        if len(problems) > 200:
            lines.append(f"  ……另有 {len(problems) - 200} 条")
    for s in out.get("skipped_sheets", []):
        lines.append(f"跳过 {s['file']} / {s['sheet']}：{s['reason']}")
    for n in out.get("notices", []):
        lines.append(f"提示 {n['file']}：{n['message']}")
    if dry_run:
        lines.append("（试运行：未写入任何数据）")
    return lines


def exit_code(out: dict[str, Any], failures: list[str]) -> int:
    """1 when strict mode refused a file or a file could not be read, else 0 (rejected rows included)."""
    return EXIT_FAILED if out.get("aborted") or failures else EXIT_OK


def emit(out: dict[str, Any], failures: list[str], *, as_json: bool, on_conflict: str = "keep",
         dry_run: bool = False, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """Print an import's output as the command does (JSON or text on stdout; the strict-mode refusal,
    else each unreadable file, on stderr) and return its exit code."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    if as_json:
        print(dumps(out), file=stdout)
    else:
        for line in render_text(out, on_conflict=on_conflict, dry_run=dry_run):
            print(line, file=stdout)
    if out.get("aborted"):
        print(out["aborted"], file=stderr)
    else:
        for f in failures:
            print(f, file=stderr)
    return exit_code(out, failures)
