"""Schema version 3."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    """One stored, normalised search column, so the search box is a single `contains()` scan;
    and an index to read a page's tags by customer.

    The backfill below is this version's definition, frozen like the rest of the migration;
    crm.customers.search.refresh_search_text keeps the column current on every write from then on.
    """
    # Stored uncompressed: about 100 bytes a customer on disk, but the column is unique per row and
    # decompressing it (FSST) made every search scan two to three times slower.
    cur.execute("ALTER TABLE customers ADD COLUMN search_text VARCHAR USING COMPRESSION uncompressed")
    full = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
    half = "".join(chr(c) for c in range(0x21, 0x7F)) + " "
    cur.execute(
        """
        UPDATE customers SET search_text = lower(translate(concat_ws(chr(31),
            coalesce(customers.name, ''), customers.customer_id, customers.name_pinyin, customers.name_initials,
            customers.phone,
            CASE WHEN regexp_replace(customers.phone, '[^0-9]', '', 'g') NOT IN ('', customers.phone)
                 THEN regexp_replace(customers.phone, '[^0-9]', '', 'g') END,
            customers.email, customers.company, t.tags), ?, ?))
        FROM (SELECT customer_id, string_agg(tag, chr(31) ORDER BY tag) AS tags
              FROM customer_tags GROUP BY customer_id) t
        WHERE customers.customer_id = t.customer_id""",
        [full, half],
    )
    cur.execute(
        """
        UPDATE customers SET search_text = lower(translate(concat_ws(chr(31),
            coalesce(name, ''), customer_id, name_pinyin, name_initials, phone,
            CASE WHEN regexp_replace(phone, '[^0-9]', '', 'g') NOT IN ('', phone)
                 THEN regexp_replace(phone, '[^0-9]', '', 'g') END,
            email, company), ?, ?))
        WHERE search_text IS NULL""",
        [full, half],
    )
    # A page of search results (and a profile) reads the tags of a few customers: through this
    # index rather than a scan of every tag row.
    cur.execute("CREATE INDEX customer_tags_customer ON customer_tags (customer_id)")
