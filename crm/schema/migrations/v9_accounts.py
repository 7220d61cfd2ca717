"""Schema version 9: local accounts and server-side sessions.

Users keep their failed log-ins, a lock and when the password last changed; a session is a random
token with its start, last activity, absolute expiry and, once ended, when and why (log-out,
disabled account, expiry). Passwords are only ever stored as argon2id hashes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    for name, sql_type in (("failed_logins", "INTEGER DEFAULT 0"), ("first_failed_at", "TIMESTAMP"),
                           ("locked_until", "TIMESTAMP"), ("password_changed_at", "TIMESTAMP")):
        cur.execute(f"ALTER TABLE users ADD COLUMN {name} {sql_type}")
    cur.execute("""
        CREATE TABLE sessions (
            token VARCHAR PRIMARY KEY,
            username VARCHAR NOT NULL,
            created_at TIMESTAMP NOT NULL,
            last_seen TIMESTAMP NOT NULL,
            expires_at TIMESTAMP NOT NULL,
            ended_at TIMESTAMP,
            ended_reason VARCHAR
        )""")
