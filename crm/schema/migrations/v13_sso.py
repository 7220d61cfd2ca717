"""Schema version 13: single sign-on.

An account may carry the e-mail its identity provider vouches for (`users.email`, kept in lower
case, one account per address), which is how an OIDC log-in (st.login) finds the local user and
role. A session opened that way keeps a digest of the identity it came from (`sessions.identity`):
Streamlit's identity cookie outlives a page refresh, so a refresh resumes the session it opened,
and once that session has ended (log-out, idle or absolute expiry, a disabled account) the same
identity opens nothing until the user signs in at the provider again.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    cur.execute("ALTER TABLE users ADD COLUMN email VARCHAR")
    cur.execute("ALTER TABLE sessions ADD COLUMN identity VARCHAR")
