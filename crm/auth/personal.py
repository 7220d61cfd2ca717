"""Who is acting, and what of customers' personal data they may see.

Every read of personal data (search results, profiles, exports) goes through `PersonalData`,
which knows the acting user: masking and scoping live here, in the data layer, so no page can
show what its user may not see by forgetting to hide it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Iterator, Sequence

import duckdb

from crm import tables
from crm.auth import audit, policy
from crm.db import Archive, fetch_one
from crm.vocabulary import ADMIN, ROLES, SYSTEM_USERS, VIEWER

# Personal columns per table, and how each is masked (the table registry).
PERSONAL: dict[str, dict[str, str]] = tables.personal_columns()


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
def mask_name(name: str | None) -> str | None:
    """张三 → 张*, 张小明 → 张*明, 欧阳娜娜 → 欧**娜."""
    if not name:
        return name
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


_PHONE_IN_TEXT = re.compile(r"(?:\+?\d[\d\-]{6,}\d)")
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+")


def mask_contact(text: str | None) -> str | None:
    if not text:
        return text
    text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)) or "", text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(m.group(0)) or "", text)


MASKS = {"name": mask_name, "phone": mask_phone, "email": mask_email, "address": mask_address,
         "contact": mask_contact, "hide": lambda _v: None}


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
        rules = [(i, MASKS[PERSONAL.get(table, {})[c]]) for i, c in enumerate(columns) if c in PERSONAL.get(table, {})]
        sees_all = self.actor.sees_all
        for row in rows:
            values = list(row[:-1])
            if rules and not (sees_all or self.actor.sees_in_full(row[-1])):
                for i, mask in rules:
                    values[i] = mask(values[i])
            yield tuple(values)

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
