"""Who is acting, and what of customers' personal data they may see.

Every read of personal data (search results, profiles, exports) goes through `PersonalData`,
which knows the acting user: masking and scoping live here, in the data layer, so no page can
show what its user may not see by forgetting to hide it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Mapping, Sequence

import duckdb

from crm import tables
from crm.auth import audit, policy
from crm.db import Archive, fetch_one
from crm.vocabulary import ADMIN, ROLES, SYSTEM_USERS, VIEWER

# Personal columns per table, and how each is masked (the table registry).
PERSONAL: dict[str, dict[str, str]] = tables.personal_columns()
# Columns personal only where they name the customer (a company customer's 公司 is its name).
WHEN_NAMING: dict[str, dict[str, str]] = tables.personal_when_naming()
_UNKNOWN_OWNER = object()


@dataclass(frozen=True)
class Actor:
    username: str
    role: str

    @property
    def sees_all(self) -> bool:
        return policy.allowed(self, "customers.see_all_in_full")

    def sees_in_full(self, owner: str | None) -> bool:
        """Admins, managers and leads see everyone; sales see their own customers; viewers nobody."""
        return policy.sees_in_full(self, owner)


def actor_for(archive: Archive, username: str) -> Actor:
    """The actor for a user name: its role from `users`; system users act as admin; unknown → viewer.

    An archive with no users at all (a fresh install) has nobody to grant rights yet: everyone
    acts as admin until the first user is created.
    """
    if username in SYSTEM_USERS:
        return Actor(username, SYSTEM_USERS[username])
    cur = archive.cursor()
    try:
        row = fetch_one(cur, "SELECT role FROM users WHERE username = ? AND active", [username])
        if row is None and not fetch_one(cur, "SELECT 1 FROM users LIMIT 1"):
            return Actor(username, ADMIN)
    finally:
        cur.close()
    return Actor(username, row[0] if row and row[0] in ROLES else VIEWER)


# ------------------------------------------------------------------ masking rules
# The compound surnames in use today (复姓): masking keeps them whole, as a reader expects 欧阳*.
COMPOUND_SURNAMES = frozenset((
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文", "司徒", "夏侯", "轩辕",
    "令狐", "端木", "独孤", "南宫", "西门", "百里", "呼延", "澹台", "公冶", "申屠", "太史", "闻人", "万俟", "赫连",
    "钟离", "宗政", "濮阳", "淳于", "单于", "拓跋", "第五", "鲜于", "闾丘", "司空", "亓官", "司寇", "巫马", "公良"))


def mask_name(name: str | None) -> str | None:
    """张三 → 张*, 张小明 → 张*明; a compound surname is kept whole: 欧阳娜娜 → 欧阳**, 司马懿 → 司马*."""
    if not name:
        return name
    if len(name) > 2 and name[:2] in COMPOUND_SURNAMES:
        return name[:2] + "*" * (len(name) - 2)
    if len(name) <= 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_phone(phone: str | None) -> str | None:
    """13812345678 → 138****5678; 010-12345678 → 010-****5678."""
    if not phone:
        return phone
    digits = re.sub(r"\D", "", phone)
    if len(digits) < 7:
        return "*" * len(phone)
    if "-" in phone:
        area, _, number = phone.partition("-")
        return f"{area}-{'*' * max(len(number) - 4, 0)}{number[-4:]}"
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]


def mask_email(email: str | None) -> str | None:
    """li.ming@x.com → l***@x.com."""
    if not email or "@" not in email:
        return email
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def mask_address(address: str | None) -> str | None:
    """Keep the first 6 characters (province/city), hide the street."""
    if not address:
        return address
    return address[:6] + "****" if len(address) > 6 else address[:2] + "****"


_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+")
# A number as people type one into a note: digits, each group after a single space or dash
# ("138 1234 5678", "+86 138-1234-5678", "0755 1234 5678"), not part of a word, an order number or
# an amount (letters, digits or a decimal point next to it).
_NUMBER_IN_TEXT = re.compile(r"(?<![A-Za-z0-9.¥$])\+?\d(?:[ \-]?\d)+(?![A-Za-z0-9]|\.\d)")
_DATE_FIRST = re.compile(r"((?:19|20)\d\d-\d{1,2}-\d{1,2})(?:[ \-](.*))?$")
_MIN_PHONE_DIGITS = 7  # a local landline number has 7 or 8 digits


def _mask_number(number: str) -> str:
    """A number found in free text, masked when it can be a phone (7 digits or more); a date in
    front of it (2026-11-30 13812345678) stays as it is."""
    date = _DATE_FIRST.match(number)
    if date:
        rest = date.group(2)
        return date.group(1) + (number[len(date.group(1))] + _mask_number(rest) if rest else "")
    if len(re.sub(r"\D", "", number)) < _MIN_PHONE_DIGITS:
        return number
    return mask_phone(number) or number


def mask_contact(text: str | None) -> str | None:
    """Free text (a note, 沟通内容, a complaint's reasons, a survey comment) with every e-mail address
    and every number that can be a phone masked: people type them into any field, and a viewer
    must not read there what the phone and e-mail columns hide."""
    if not text:
        return text
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)) or "", text)
    return _NUMBER_IN_TEXT.sub(lambda m: _mask_number(m.group(0)), text)


MASKS = {"name": mask_name, "phone": mask_phone, "email": mask_email, "address": mask_address,
         "contact": mask_contact, "hide": lambda _v: None}


def _names(value: Any, name: Any) -> bool:
    """Whether `value` (a 公司) names the customer called `name`: equal, or one inside the other
    (苏州通达电子科技股份有限公司 / 通达电子; 张伟律师事务所 / 张伟)."""
    if not isinstance(value, str) or not isinstance(name, str) or len(name.strip()) < 2:
        return False
    value, name = value.strip(), name.strip()
    return name in value or value in name


class PersonalData:
    """The one door to personal data, for one acting user."""

    def __init__(self, archive: Archive, actor: Actor) -> None:
        self.archive = archive
        self.actor = actor

    def select_sql(self, table: str, columns: Sequence[str], alias: str = "t") -> tuple[str, str]:
        """(SELECT list, FROM clause) for `columns` of `table` with the owner attached as `__owner`.

        Column names come from code (crm.schema), never from users.
        """
        cols = ", ".join(f'{alias}."{c}"' for c in columns)
        if table == "customers":
            return f"{cols}, {alias}.owner AS __owner", f"customers {alias}"
        if table in PERSONAL:
            return (f"{cols}, __c.owner AS __owner",
                    f"{table} {alias} LEFT JOIN customers __c ON __c.customer_id = {alias}.customer_id")
        return f"{cols}, NULL AS __owner", f"{table} {alias}"

    def mask_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
        """Rows whose last value is the owner → rows without it, masked where the actor may not see them."""
        personal = PERSONAL.get(table, {})
        rules = [(i, MASKS[personal[c]]) for i, c in enumerate(columns) if c in personal]
        # a column personal only where it names the customer → the position of the name it must
        # match (absent when the name was not read alongside: then it is always masked)
        naming = {i: columns.index(other) for i, c in enumerate(columns)
                  for other in [WHEN_NAMING.get(table, {}).get(c)] if other in columns}
        sees_all = self.actor.sees_all
        for row in rows:
            values = list(row[:-1])
            if rules and not (sees_all or self.actor.sees_in_full(row[-1])):
                for i, mask in rules:
                    j = naming.get(i)
                    if j is not None and not _names(values[i], row[j]):
                        continue  # an individual's employer: not theirs to hide
                    values[i] = mask(values[i])
            yield tuple(values)

    def mask_record(self, table: str, record: Mapping[str, Any], owner: Any = _UNKNOWN_OWNER) -> dict[str, Any]:
        """One row of `table` as {column: value} (a record loaded for a detail view or a form to
        print), masked like `mask_rows`: for when a module reads a whole record itself. The owner is
        looked up by the record's customer_id unless the caller has it."""
        if owner is _UNKNOWN_OWNER:
            cid = record.get("customer_id")
            cur = self.archive.cursor()
            try:
                row = fetch_one(cur, "SELECT owner FROM customers WHERE customer_id = ?", [cid]) if cid else None
            finally:
                cur.close()
            owner = row[0] if row else None
        columns = list(record)
        (masked,) = self.mask_rows(table, columns, [(*record.values(), owner)])
        return dict(zip(columns, masked))

    def query(self, table: str, columns: Sequence[str], where: str = "", params: Sequence[Any] = (),
              order: str = "", limit: int | None = None, offset: int = 0,
              cur: duckdb.DuckDBPyConnection | None = None) -> list[tuple[Any, ...]]:
        """Masked rows of `table`. `where`/`order` are SQL written in crm/ with `?` placeholders."""
        select, source = self.select_sql(table, columns)
        sql = f"SELECT {select} FROM {source}"
        if where:
            sql += f" WHERE {where}"
        if order:
            sql += f" ORDER BY {order}"
        args = list(params)
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        own = cur is None
        cur = cur or self.archive.cursor()
        try:
            return list(self.mask_rows(table, columns, cur.execute(sql, args).fetchall()))
        finally:
            if own:
                cur.close()

    def stream(self, table: str, columns: Sequence[str], order: str = "", chunk: int = 10_000
               ) -> Iterator[list[tuple[Any, ...]]]:
        """The whole table in masked chunks (for exports), never all in memory at once."""
        select, source = self.select_sql(table, columns)
        sql = f"SELECT {select} FROM {source}" + (f" ORDER BY {order}" if order else "")
        cur = self.archive.cursor()
        try:
            cur.execute(sql)
            while True:
                rows = cur.fetchmany(chunk)
                if not rows:
                    return
                yield list(self.mask_rows(table, columns, rows))
        finally:
            cur.close()

    def mask_changes(self, table: str, changes: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Field changes of `table`'s rows ({"key", "field", "old", "new"}, and the "customer_id" and
        "customer_name" they belong to, as an import reports them), with the archive's old value of
        a personal field and the customer's name masked where the reader may not see that customer
        in full; the new value is the reader's own file and is kept."""
        personal = PERSONAL.get(table, {})
        if self.actor.sees_all or not changes:
            return list(changes)
        key = tables.TABLES[table].key

        def customer_of(c: dict[str, Any]) -> str:
            return str(c.get("customer_id") or (c["key"] if table == "customers" else ""))

        missing = sorted({str(c["key"]) for c in changes if not customer_of(c)})
        via_key: dict[str, str] = {}
        cur = self.archive.cursor()
        try:
            if missing and table != "customers":
                via_key = {str(k): cid for k, cid in cur.execute(
                    f"SELECT CAST({key} AS VARCHAR), customer_id FROM {table} WHERE CAST({key} AS VARCHAR) "
                    "IN (SELECT unnest(?))", [missing]).fetchall()}
            ids = sorted({customer_of(c) or via_key.get(str(c["key"]), "") for c in changes} - {""})
            owners: dict[str, str | None] = dict(cur.execute(
                "SELECT customer_id, owner FROM customers WHERE customer_id IN (SELECT unnest(?))", [ids]).fetchall()) \
                if ids else {}
        finally:
            cur.close()
        out = []
        for c in changes:
            cid = customer_of(c) or via_key.get(str(c["key"]), "")
            if not self.actor.sees_in_full(owners.get(cid)):
                rule = personal.get(c.get("field", ""))
                if rule:
                    c = dict(c, old=MASKS[rule](c["old"]) if isinstance(c.get("old"), str) else None)
                if c.get("customer_name"):
                    c = dict(c, customer_name=mask_name(c["customer_name"]))
            out.append(c)
        return out

    def log_reveal(self, customer_id: str, field: str) -> None:
        """Revealing a masked field is an audited action."""
        with self.archive.transaction() as tx:
            audit.record(tx, self.actor, "reveal", "customers", customer_id, field)
