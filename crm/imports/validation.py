"""Checking a sheet's rows against its template: cleaned values per field, and per-row problems
that name the spreadsheet row, the column header as the user wrote it, the value and the reason.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd

from crm.imports import cleaning as C
from crm.imports import templates as T
from crm.imports.extract import Column, Extracted
from crm.imports.recognise import Recognition

ERROR, WARNING = "error", "warning"


@dataclass
class Problem:
    row: int | None
    column: str
    value: str
    message: str
    severity: str = ERROR
    dropped: bool = False  # a warning that left the value out: the row is in the problems workbook to fix

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "value": self.value, "message": self.message,
                "severity": self.severity}

    def __str__(self) -> str:
        where = f"第 {self.row} 行" if self.row else ""
        col = f"「{self.column}」" if self.column else ""
        val = f"（值：{self.value}）" if self.value else ""
        return f"{where}{col}{val}：{self.message}"


@dataclass
class CleanSheet:
    """Cleaned values of one sheet, column-wise. Index i is the i-th data row."""
    template: T.Template
    row_numbers: list[int]
    values: dict[str, list[Any]]
    raws: dict[str, list[Any]]
    headers: dict[str, str]  # field -> header as written
    problems: list[Problem] = field(default_factory=list)
    rejected: set[int] = field(default_factory=set)  # indexes of rejected rows
    skipped: set[int] = field(default_factory=set)  # rows that are no record at all (a cancelled order)
    # field -> {row index: the cell as written}, for cells that are a masked display value
    # (陈*伟, 138****5678, c***@qq.com): never written to the archive, see crm.imports.masked
    masked: dict[str, dict[int, str]] = field(default_factory=dict)
    # per row, the columns no field names, as written ({header: text}); kept as the record's extra fields
    extras: list[dict[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.row_numbers)

    def get(self, name: str, i: int) -> Any:
        col = self.values.get(name)
        return col[i] if col is not None else None

    def column(self, name: str) -> list[Any]:
        return self.values.get(name) or [None] * len(self.row_numbers)

    def header(self, name: str) -> str:
        return self.headers.get(name) or self.template.field_by_name[name].header if name in self.template.field_by_name \
            else self.headers.get(name, name)

    def reject(self, i: int, name: str, message: str, value: Any = None) -> None:
        raw = value if value is not None else (self.raws[name][i] if name in self.raws else None)
        self.problems.append(Problem(self.row_numbers[i], self.header(name) if name else "", C.display(raw), message))
        self.rejected.add(i)

    def warn(self, i: int, name: str, message: str, value: Any = None, dropped: bool = False) -> None:
        raw = value if value is not None else (self.raws[name][i] if name in self.raws else None)
        self.problems.append(Problem(self.row_numbers[i], self.header(name) if name else "", C.display(raw),
                                     message, WARNING, dropped))

    def skip(self, i: int, name: str, message: str, value: Any = None) -> None:
        """Not an error and not a record: reported, counted apart, not imported (an order 已关闭)."""
        self.warn(i, name, message, value)
        self.skipped.add(i)

    def accepted(self) -> list[int]:
        return [i for i in range(len(self.row_numbers)) if i not in self.rejected and i not in self.skipped]


def clean_sheet(rec: Recognition, rows: list[tuple[int, list[Any]]]) -> CleanSheet:
    """Clean rows given as (spreadsheet row number, cells)."""
    width = max(rec.columns) + 1
    transposed = list(zip(*[cells if len(cells) >= width else list(cells) + [None] * (width - len(cells))
                            for _, cells in rows])) if rows else [()] * width
    columns = {}
    for col in rec.columns:
        arr = np.empty(len(rows), dtype=object)
        arr[:] = transposed[col]
        codes, uniques = pd.factorize(arr)
        columns[col] = Column(codes, list(uniques))
    return clean_extracted(rec, Extracted([r for r, _ in rows], columns))


def clean_extracted(rec: Recognition, ext: Extracted) -> CleanSheet:
    """Clean the data rows of a sheet, column by column, each distinct value once."""
    tpl = rec.template
    row_numbers = ext.row_numbers
    values: dict[str, list[Any]] = {}
    raws: dict[str, list[Any]] = {}
    headers: dict[str, str] = {}
    out = CleanSheet(tpl, row_numbers, values, raws, headers)
    for col, name in rec.columns.items():
        f = tpl.field_by_name[name]
        headers[name] = rec.headers.get(col, f.header)
        column = ext.columns[col]
        raws[name] = column.raw()
        column = _set_masked_aside(out, tpl.code, name, column)
        result = C.clean_distinct(column.codes, column.uniques, C.cleaner_for(f, name in tpl.decisive), column.blank)
        values[name] = result.values
        for i, message in result.errors.items():
            # The row is refused only when the value is one its record cannot do without (a required
            # field, the customer's id, what says what the row is) or text that does not fit; any
            # other invalid value is left out with a warning and the row lands (real sheets are messy).
            if f.required or f.kind in (T.CUSTOMER_ID, T.TEXT, T.LONG_TEXT, T.TAGS) or name in tpl.decisive \
                    or name in ("phone", "email"):  # T1's contacts: kept aside by _t1_phone_may_hold_email
                out.reject(i, name, message)
            else:
                out.warn(i, name, message + "，该项未导入", dropped=True)
        for i, message in result.warnings.items():
            out.warn(i, name, message)
    _apply_constants(out, rec, len(row_numbers))
    _collect_extras(out, rec, ext)
    _split_contact(out)
    # Before the required checks: a T1 row rejected only for an email in its phone cell must still
    # be checked for an empty name once that rejection is lifted.
    for rule in RULES_BEFORE_REQUIRED.get(tpl.code, ()):
        rule(out)
    _check_required(out)
    for rule in ROW_RULES.get(tpl.code, ()):
        rule(out)
    out.problems.sort(key=lambda p: (p.row or 0, p.severity != ERROR))
    return out


def _apply_constants(sheet: CleanSheet, rec: Recognition, n: int) -> None:
    """A field the user gave one value for the whole sheet: cleaned like a column holding it on every
    row (an unknown 交易类型 is refused once per row, as a column would be)."""
    tpl = rec.template
    for name, value in rec.constants.items():
        if name in rec.columns.values() or name not in tpl.field_by_name or n == 0:
            continue
        f = tpl.field_by_name[name]
        sheet.headers[name] = f"{f.header}（固定值）"
        column = Column(np.zeros(n, dtype=np.intp), [value], None)
        sheet.raws[name] = column.raw()
        result = C.clean_distinct(column.codes, column.uniques, C.cleaner_for(f, True), column.blank)
        sheet.values[name] = result.values
        for i, message in result.errors.items():
            sheet.reject(i, name, message)
        for i, message in result.warnings.items():
            sheet.warn(i, name, message)


def _collect_extras(sheet: CleanSheet, rec: Recognition, ext: Extracted) -> None:
    """The cells of columns no field names, per row, as the user sees them."""
    extra_cols = [c for c in ext.columns if c not in rec.columns]
    sheet.extras = [{} for _ in range(len(sheet))]
    for c in extra_cols:
        header = rec.headers.get(c, f"第 {c + 1} 列")
        column = ext.columns[c]
        shown = [None if (column.blank is not None and column.blank[k]) else C.display(u).strip() or None
                 for k, u in enumerate(column.uniques)]
        for i, code in enumerate(column.codes):
            if code >= 0 and shown[code]:
                sheet.extras[i][header] = shown[code]


def _set_masked_aside(sheet: CleanSheet, template: str, name: str, column: Column) -> Column:
    """Cells of a personal field that are a masked display value (an export made for a role that
    sees masks) become empty for cleaning and are remembered in `sheet.masked`: an import never
    writes a mask over the real value, and a mask of the archive's value means "unchanged"."""
    from crm.imports.masked import looks_masked, masked_fields

    if name not in masked_fields(template):
        return column
    codes = [k for k, u in enumerate(column.uniques) if looks_masked(name, u)]
    if not codes:
        return column
    hit = np.isin(column.codes, codes)
    sheet.masked[name] = {int(i): str(column.uniques[column.codes[i]]) for i in np.flatnonzero(hit)}
    return Column(np.where(hit, -1, column.codes), column.uniques, column.blank)


def _split_contact(sheet: CleanSheet) -> None:
    """A contact cell becomes contact_phone / contact_email (and T1's phone cell may hold an email)."""
    n = len(sheet)
    if "contact" in sheet.values:
        pairs = sheet.values.pop("contact")
        sheet.values["contact_phone"] = [p[0] if p else None for p in pairs]
        sheet.values["contact_email"] = [p[1] if p else None for p in pairs]
        sheet.headers["contact_phone"] = sheet.headers["contact_email"] = sheet.headers.get("contact", "联系方式")
        sheet.raws["contact_phone"] = sheet.raws["contact_email"] = sheet.raws["contact"]
    elif sheet.template.code != "T1":
        sheet.values["contact_phone"] = [None] * n
        sheet.values["contact_email"] = [None] * n


def _check_required(sheet: CleanSheet) -> None:
    tpl = sheet.template
    for f in tpl.required:
        column = sheet.values.get(f.name)
        # only rows with the value missing need a look (one comprehension, not a loop over every row)
        candidates = range(len(sheet)) if column is None else [i for i, v in enumerate(column) if v is None]
        for i in candidates:
            if i in sheet.rejected:
                continue
            if column is None or column[i] is None:
                if f.name in sheet.raws and not C.is_blank(sheet.raws[f.name][i]):
                    continue  # already reported as invalid
                sheet.reject(i, f.name, "必填项为空" if column is not None else f"缺少必填列「{f.header}」")
    ids = sheet.column("customer_id") if tpl.code == "T1" else None
    for group in tpl.any_of:
        names = [n for n in group]
        present = [sheet.values[n] for n in names if n in sheet.values]
        candidates = [i for i, vs in enumerate(zip(*present)) if all(v is None for v in vs)] if present \
            else range(len(sheet))
        for i in candidates:
            if i in sheet.rejected:
                continue
            if ids is not None and ids[i] is not None:
                continue  # a profile row with an id may update a customer; checked when it creates one
            if all(sheet.get(n, i) is None for n in names):
                if any(n in sheet.raws and not C.is_blank(sheet.raws[n][i]) for n in names):
                    continue
                label = "、".join(sheet.headers.get(n, tpl.field_by_name[n].header) for n in names)
                sheet.reject(i, names[0], f"{label} 至少需要填写一项")


_SEVERAL = re.compile(r"[\\/／、,，;；|\s]+")


def _t1_phone_may_hold_email(sheet: CleanSheet) -> None:
    """Contact cells as real lists hold them: the email in the phone column, two numbers in one cell
    (`13376702886\\15917588328`, `138… / 139…`), or something that is no phone at all (a 7-digit
    landline without area code, a WeChat id). The first number is the phone, every further one is
    kept in 其他联系方式; a value that is no valid phone or email is kept there as written, with a
    warning — the customer still lands (nothing typed is lost)."""
    n = len(sheet)
    others = sheet.values.setdefault("other_contacts", [None] * n)
    sheet.headers.setdefault("other_contacts", "其他联系方式")
    phones = sheet.values.setdefault("phone", [None] * n)
    emails = sheet.values.setdefault("email", [None] * n)
    sheet.headers.setdefault("email", "电子邮箱")

    def keep_aside(i: int, text: str) -> None:
        others[i] = "、".join(x for x in (others[i], text) if x)

    for name in ("phone", "email"):
        raws = sheet.raws.get(name)
        if not raws:
            continue
        header = sheet.headers.get(name)
        for p in [pr for pr in sheet.problems if pr.column == header and pr.severity == ERROR]:
            i = sheet.row_numbers.index(p.row)
            raw = raws[i]
            found_phones, found_emails, unreadable, notes = [], [], [], []
            for part in [x for x in _SEVERAL.split(C.nfkc(str(raw)).strip()) if x] or [str(raw)]:
                try:
                    found = C.clean_contact(part)
                    if isinstance(found, C.Warned):
                        notes.append(found.message)
                        found = found.value
                    phone, email = found
                except C.CellError:
                    unreadable.append(part)
                    continue
                found_phones += [phone] if phone else []
                found_emails += [email] if email else []
            if found_phones and not phones[i]:
                phones[i] = found_phones.pop(0)
            if found_emails and not emails[i]:
                emails[i] = found_emails.pop(0)
            sheet.problems.remove(p)
            for note in notes:
                sheet.warn(i, name, note, raw)
            rest = found_phones + found_emails
            if rest:
                keep_aside(i, "、".join(rest))
                sheet.warn(i, name, f"单元格中另有 {'、'.join(rest)}，已保存到「其他联系方式」", raw)
            if unreadable:
                keep_aside(i, "、".join(unreadable))
                sheet.warn(i, name, f"{p.message}：「{'、'.join(unreadable)}」已原样保存到「其他联系方式」，"
                                    "请负责人补充有效的联系方式", raw, dropped=True)
            if not any(q.row == p.row and q.severity == ERROR for q in sheet.problems):
                sheet.rejected.discard(i)


def _t2_kind_from_status(sheet: CleanSheet) -> None:
    """Order exports have no 交易类型: a row is a purchase, or what its 订单状态 says (a refund is a
    退货; a closed, cancelled or unpaid order is no transaction and is skipped with the reason)."""
    n = len(sheet)
    kinds = sheet.values.setdefault("kind", [None] * n)
    statuses = sheet.column("status")
    for i in range(n):
        if i in sheet.rejected:
            continue
        if statuses[i] == "跳过":
            sheet.skip(i, "status", f"订单状态为「{sheet.raws['status'][i]}」，不是成交的交易，未导入")
        elif kinds[i] is None:
            kinds[i] = "退货" if statuses[i] == "退货" else "购买"


def _t2_amount_rules(sheet: CleanSheet) -> None:
    kinds, amounts = sheet.column("kind"), sheet.column("amount")
    for i in range(len(sheet)):
        if i in sheet.rejected:
            continue
        if kinds[i] == "购买" and amounts[i] is None:
            sheet.reject(i, "amount", "交易类型为 购买 时金额必填")
        elif amounts[i] is not None and amounts[i] < 0 and kinds[i] != "退货":
            sheet.reject(i, "amount", "金额不能为负数（只有 退货 可为负数）")


def _t6_rules(sheet: CleanSheet) -> None:
    accepted, reasons = sheet.column("accepted"), sheet.column("reject_reason")
    promised, resolved, dates = sheet.column("promised_by"), sheet.column("resolved_on"), sheet.column("date")
    for i in range(len(sheet)):
        if i in sheet.rejected:
            continue
        if accepted[i] is False and not reasons[i]:
            sheet.warn(i, "accepted", "不予受理 但未填写不予受理原因")
        if dates[i] and resolved[i] and resolved[i] < dates[i]:
            sheet.warn(i, "resolved_on", "处理完成日期早于受理日期")
        if dates[i] and promised[i] and promised[i] < dates[i]:
            sheet.warn(i, "promised_by", "承诺办理期限早于受理日期")


def _t7_at_least_one_score(sheet: CleanSheet) -> None:
    present = [n for n in T.SCORE_FIELDS if n in sheet.values]
    for i in range(len(sheet)):
        if i in sheet.rejected:
            continue
        if not any(sheet.values[n][i] is not None for n in present):
            if any(not C.is_blank(sheet.raws[n][i]) for n in present):
                continue
            sheet.reject(i, present[0] if present else "", "六项评分至少需要填写一项")


def _customer_ref_required(sheet: CleanSheet) -> None:
    ids, names = sheet.column("customer_id"), sheet.column("name")
    refs = sheet.column("customer_ref")
    for i in range(len(sheet)):
        if i not in sheet.rejected and ids[i] is None and names[i] is None and refs[i] is None:
            sheet.reject(i, "name", "缺少客户：客户编号或客户名称至少填写一项")


RULES_BEFORE_REQUIRED: dict[str, tuple[Callable[[CleanSheet], None], ...]] = {
    "T1": (_t1_phone_may_hold_email,),
}

ROW_RULES: dict[str, tuple[Callable[[CleanSheet], None], ...]] = {
    "T2": (_t2_kind_from_status, _t2_amount_rules),
    "T5": (_customer_ref_required,),
    "T6": (_t6_rules,),
    "T7": (_t7_at_least_one_score,),
}
