"""Each customer's activity summary: first and last purchase, last transaction, last logged interaction.

Kept on the customer row (columns ACTIVITY_COLUMNS) so that the rules need not read every
transaction and interaction again to know them. Classifying a million customers as of today
then reads only the records inside the rules' windows (crm.segments), and the search's stage
filter reads no record at all. The summary is all-time: as of a date D it is exact for every
customer whose summary dates are on or before D, which is every customer when D is on or after
the archive's newest record (the usual case: today, this month's end). Earlier dates are
computed from the records themselves.

Every write that adds or removes transactions or interactions keeps it current in its own
transaction: `fold_in` for added rows (cheap: only the new rows are read), `recompute` for
removed ones. A stamp of what the summary was computed from (row counts of both tables and
the import batches with their undo marks) is stored beside it; `ensure_current` recomputes
everything when the stamp no longer matches, so data changed by any other route (hand-written
SQL, an archive from an older version) costs one full pass, never a wrong answer.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterable, Iterator

from crm.db import scalar
from crm.vocabulary import PURCHASE_KINDS

if TYPE_CHECKING:
    import duckdb

    from crm.db import Archive


ACTIVITY_COLUMNS: dict[str, str] = {
    "first_purchase": "DATE",  # first 购买/续约 transaction
    "last_purchase": "DATE",  # last 购买/续约 transaction
    "last_transaction": "DATE",  # last transaction of any kind
    "last_logged_interaction": "DATE",  # last row of interactions (not the profile's 最近互动日期)
}

_BUY = ", ".join("'" + k + "'" for k in PURCHASE_KINDS)
STAMP_KEY = "activity_stamp"


# The import batches with their undo marks: an import or an undo moves it. Part of this stamp and
# of crm.segments.data_version.
BATCHES_SIGNATURE_SQL = ("(SELECT concat_ws(':', count(*), max(batch_id), count(undone_at), max(undone_at)) "
                         "FROM import_batches)")


def stamp(cur: "duckdb.DuckDBPyConnection") -> str:
    """What the summary depends on, cheap to read: bare counts come from DuckDB's metadata."""
    return str(scalar(cur, f"""
        SELECT concat_ws('|', (SELECT count(*) FROM transactions), (SELECT count(*) FROM interactions),
            {BATCHES_SIGNATURE_SQL})"""))


def is_current(cur: "duckdb.DuckDBPyConnection") -> bool:
    stored = cur.execute("SELECT value FROM archive_state WHERE key = ?", [STAMP_KEY]).fetchall()
    return bool(stored) and stored[0][0] == stamp(cur)


def mark_current(cur: "duckdb.DuckDBPyConnection") -> None:
    """Record that the summary matches the records; call at the end of the write that kept it so."""
    cur.execute("INSERT OR REPLACE INTO archive_state (key, value) VALUES (?, ?)", [STAMP_KEY, stamp(cur)])


@contextmanager
def kept_current(cur: "duckdb.DuckDBPyConnection") -> Iterator[None]:
    """Around a write (inside its transaction) that keeps the summary itself with fold_in/recompute:
    stamps it current afterwards if it was current before (a stale one stays stale, to be recomputed)."""
    was_current = is_current(cur)
    yield
    if was_current:
        mark_current(cur)


def _aggregate_sql(where_tx: str, where_int: str) -> str:
    return f"""
        SELECT customer_id, min(fb) AS fb, max(lb) AS lb, max(lt) AS lt, max(li) AS li FROM (
            SELECT customer_id, min(date) FILTER (kind IN ({_BUY})) AS fb, max(date) FILTER (kind IN ({_BUY})) AS lb,
                   max(date) AS lt, NULL::DATE AS li
            FROM transactions WHERE {where_tx} GROUP BY customer_id
            UNION ALL
            SELECT customer_id, NULL, NULL, NULL, max(date) FROM interactions WHERE {where_int} GROUP BY customer_id)
        GROUP BY customer_id"""


def fold_in(cur: "duckdb.DuckDBPyConnection", table: str, batch_id: int) -> None:
    """Take the rows of `table` ('transactions' or 'interactions') added by import batch `batch_id`
    into their customers' summary (earliest of the old and the new first date, latest of the last)."""
    if table not in ("transactions", "interactions"):
        raise ValueError(f"no activity in {table!r}")
    where_tx, where_int = ("batch_id = $b", "FALSE") if table == "transactions" else ("FALSE", "batch_id = $b")
    _merge(cur, _aggregate_sql(where_tx, where_int), {"b": batch_id})


def fold_in_interaction(cur: "duckdb.DuckDBPyConnection", customer_id: str, day: object) -> None:
    """One interaction logged by hand."""
    cur.execute("UPDATE customers SET last_logged_interaction = greatest(last_logged_interaction, ?) "
                "WHERE customer_id = ?", [day, customer_id])


def _merge(cur: "duckdb.DuckDBPyConnection", aggregate: str, params: dict[str, object]) -> None:
    # The aggregate is materialised first: UPDATE … FROM (subquery) planned three to four times slower.
    cur.execute(f"CREATE OR REPLACE TEMP TABLE activity_delta AS {aggregate}", params)
    cur.execute("""
        UPDATE customers SET first_purchase = least(customers.first_purchase, a.fb),
                             last_purchase = greatest(customers.last_purchase, a.lb),
                             last_transaction = greatest(customers.last_transaction, a.lt),
                             last_logged_interaction = greatest(customers.last_logged_interaction, a.li)
        FROM activity_delta a WHERE customers.customer_id = a.customer_id""")
    cur.execute("DROP TABLE activity_delta")


def recompute(cur: "duckdb.DuckDBPyConnection", customer_ids: Iterable[str] | None = None) -> None:
    """Compute the summary afresh from the records: for `customer_ids`, or for everyone (None)."""
    params: dict[str, object] = {}
    scope = "TRUE"
    if customer_ids is not None:
        params["ids"] = sorted(set(customer_ids))
        if not params["ids"]:
            return
        scope = "list_contains($ids, customer_id)"
    cur.execute(f"""
        CREATE OR REPLACE TEMP TABLE activity_fresh AS
        SELECT c.customer_id, s.fb, s.lb, s.lt, s.li
        FROM (SELECT customer_id FROM customers WHERE {scope}) c
        LEFT JOIN ({_aggregate_sql(scope, scope)}) s ON s.customer_id = c.customer_id""", params)
    cur.execute("""
        UPDATE customers SET first_purchase = a.fb, last_purchase = a.lb, last_transaction = a.lt,
                             last_logged_interaction = a.li
        FROM activity_fresh a WHERE customers.customer_id = a.customer_id""")
    cur.execute("DROP TABLE activity_fresh")


def ensure_current(archive: "Archive") -> bool:
    """Recompute every customer's summary if the records changed behind its back; True when it did."""
    cur = archive.cursor()
    try:
        if is_current(cur):
            return False
    finally:
        cur.close()
    with archive.transaction() as tx:
        if is_current(tx):  # another session did it meanwhile
            return False
        recompute(tx, None)
        mark_current(tx)
    return True


def newest_activity(cur: "duckdb.DuckDBPyConnection") -> object:
    """The latest date in anyone's summary (None in an archive with no records)."""
    return scalar(cur, "SELECT max(greatest(last_transaction, last_logged_interaction)) FROM customers")
