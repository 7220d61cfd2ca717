"""The archive's tables and the migrations that build them.

Migrations are an ordered list applied on open, each in its own transaction, and recorded in
`meta.schema_version`; a file made by an older version of the app upgrades in place. Never edit
a released migration: append a new one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    import duckdb

    from crm.db import Archive

# Customer columns and their SQL types. The import pipeline, undo and the profile all use this
# one list, so a field added here is known everywhere (undo restores by these types).
CUSTOMER_COLUMNS: dict[str, str] = {
    "customer_id": "VARCHAR",
    "name": "VARCHAR",
    "gender": "VARCHAR",
    "birth_date": "DATE",
    "phone": "VARCHAR",
    "email": "VARCHAR",
    "company": "VARCHAR",
    "title": "VARCHAR",
    "industry": "VARCHAR",
    "company_size": "VARCHAR",
    "region": "VARCHAR",
    "address": "VARCHAR",
    "source": "VARCHAR",
    "owner": "VARCHAR",
    "decision_maker": "VARCHAR",
    "product_need": "VARCHAR",
    "service_need": "VARCHAR",
    "price_sensitivity": "VARCHAR",
    "due_expectation": "VARCHAR",
    "priority": "VARCHAR",
    "credit_level": "VARCHAR",
    "credit_limit": "DECIMAL(18,2)",
    "first_contact": "DATE",
    "note": "VARCHAR",
    # T4 tracking summary, kept on the customer
    "last_interaction": "DATE",
    "contact_frequency": "VARCHAR",
    "tracked_product": "VARCHAR",
    "satisfaction": "TINYINT",
    "key_issue": "VARCHAR",
    # derived search columns (kept in step by crm.search_keys on every write)
    "name_pinyin": "VARCHAR",
    "name_initials": "VARCHAR",
}

# Columns a user or an import may change; the rest are keys or derived.
CUSTOMER_EDITABLE = [c for c in CUSTOMER_COLUMNS if c not in ("customer_id", "name_pinyin", "name_initials")]


def _v1(cur: "duckdb.DuckDBPyConnection") -> None:
    cols = ",\n    ".join(f"{name} {sql}" for name, sql in CUSTOMER_COLUMNS.items() if name != "customer_id")
    cur.execute(
        f"""
        CREATE TABLE customers (
            customer_id VARCHAR PRIMARY KEY,
            {cols},
            batch_id BIGINT,
            created_at TIMESTAMP DEFAULT current_timestamp,
            updated_at TIMESTAMP DEFAULT current_timestamp
        )"""
    )
    cur.execute("CREATE SEQUENCE row_id_seq START 1")
    cur.execute("CREATE SEQUENCE batch_id_seq START 1")
    cur.execute(
        """
        CREATE TABLE customer_tags (
            customer_id VARCHAR NOT NULL,
            tag VARCHAR NOT NULL,
            batch_id BIGINT
        )"""
    )
    cur.execute(
        """
        CREATE TABLE transactions (
            id BIGINT DEFAULT nextval('row_id_seq'),
            customer_id VARCHAR NOT NULL,
            kind VARCHAR NOT NULL,
            date DATE NOT NULL,
            amount DECIMAL(18,2),
            rating TINYINT,
            contact VARCHAR,
            note VARCHAR,
            batch_id BIGINT,
            source_row INTEGER
        )"""
    )
    cur.execute(
        """
        CREATE TABLE interactions (
            id BIGINT DEFAULT nextval('row_id_seq'),
            customer_id VARCHAR NOT NULL,
            date DATE NOT NULL,
            channel VARCHAR NOT NULL,
            content VARCHAR,
            product VARCHAR,
            potential_value VARCHAR,
            next_plan VARCHAR,
            result VARCHAR,
            note VARCHAR,
            created_by VARCHAR,
            batch_id BIGINT,
            source_row INTEGER
        )"""
    )
    cur.execute(
        """
        CREATE TABLE follow_ups (
            id BIGINT DEFAULT nextval('row_id_seq'),
            customer_id VARCHAR NOT NULL,
            due DATE NOT NULL,
            channel VARCHAR,
            content VARCHAR,
            goal VARCHAR,
            owner VARCHAR,
            status VARCHAR NOT NULL DEFAULT '待跟进',
            origin VARCHAR,
            created_at TIMESTAMP DEFAULT current_timestamp,
            done_at TIMESTAMP,
            batch_id BIGINT,
            source_row INTEGER
        )"""
    )
    cur.execute(
        """
        CREATE TABLE complaints (
            complaint_id VARCHAR PRIMARY KEY,
            customer_id VARCHAR NOT NULL,
            date DATE NOT NULL,
            contact VARCHAR,
            address VARCHAR,
            kind VARCHAR NOT NULL,
            via VARCHAR,
            reason VARCHAR NOT NULL,
            request VARCHAR,
            accepted BOOLEAN NOT NULL DEFAULT TRUE,
            reject_reason VARCHAR,
            urgency VARCHAR NOT NULL DEFAULT '一般',
            promised_by DATE,
            resolved_on DATE,
            department VARCHAR,
            resolution VARCHAR,
            loss DECIMAL(18,2),
            order_ref VARCHAR,
            product VARCHAR,
            outcome VARCHAR,
            satisfaction TINYINT,
            handler VARCHAR,
            batch_id BIGINT,
            source_row INTEGER
        )"""
    )
    cur.execute(
        """
        CREATE TABLE surveys (
            id BIGINT DEFAULT nextval('row_id_seq'),
            customer_id VARCHAR NOT NULL,
            date DATE NOT NULL,
            via VARCHAR,
            service_quality TINYINT,
            service_attitude TINYINT,
            efficiency TINYINT,
            professionalism TINYINT,
            product_quality TINYINT,
            packaging TINYINT,
            comment VARCHAR,
            batch_id BIGINT,
            source_row INTEGER
        )"""
    )
    cur.execute(
        """
        CREATE TABLE import_batches (
            batch_id BIGINT PRIMARY KEY,
            file VARCHAR NOT NULL,
            sheet VARCHAR,
            template VARCHAR NOT NULL,
            user_name VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            rows_read INTEGER NOT NULL DEFAULT 0,
            created INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            status VARCHAR NOT NULL DEFAULT 'active',
            undone_at TIMESTAMP,
            undone_by VARCHAR
        )"""
    )
    # One row per field a batch changed on an existing record, so undo can put it back.
    cur.execute(
        """
        CREATE TABLE batch_changes (
            batch_id BIGINT NOT NULL,
            table_name VARCHAR NOT NULL,
            row_key VARCHAR NOT NULL,
            field VARCHAR NOT NULL,
            old_value VARCHAR,
            new_value VARCHAR
        )"""
    )
    cur.execute(
        """
        CREATE TABLE audit_log (
            id BIGINT DEFAULT nextval('row_id_seq'),
            occurred_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            user_name VARCHAR NOT NULL,
            action VARCHAR NOT NULL,
            entity VARCHAR,
            entity_id VARCHAR,
            detail VARCHAR
        )"""
    )
    cur.execute(
        """
        CREATE TABLE users (
            username VARCHAR PRIMARY KEY,
            display_name VARCHAR,
            role VARCHAR NOT NULL,
            password_hash VARCHAR,
            active BOOLEAN NOT NULL DEFAULT TRUE,
            created_at TIMESTAMP DEFAULT current_timestamp
        )"""
    )


def _v2(cur: "duckdb.DuckDBPyConnection") -> None:
    """Remembered column mappings (by header signature) and rule settings."""
    cur.execute(
        """
        CREATE TABLE header_mappings (
            signature VARCHAR PRIMARY KEY,
            template VARCHAR NOT NULL,
            mapping VARCHAR NOT NULL,
            created_by VARCHAR,
            created_at TIMESTAMP DEFAULT current_timestamp
        )"""
    )
    cur.execute("CREATE TABLE settings (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")


def _v3(cur: "duckdb.DuckDBPyConnection") -> None:
    """One stored, normalised search column, so the search box is a single `contains()` scan;
    and an index to read a page's tags by customer.

    The backfill below is this version's definition, frozen like the rest of the migration;
    crm.search.refresh_search_text keeps the column current on every write from then on.
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


def _v4(cur: "duckdb.DuckDBPyConnection") -> None:
    """Cached segment results (crm.segments): one run per reference date, data version and thresholds.

    A run's members are every customer of the archive as of that date with their labels (as codes,
    see crm.segments) and the figures the reasons quote. Month-end runs are the segment history the
    migration charts compare; other dates are a short-lived cache. Nothing here is source data:
    any run can be deleted and is recomputed from the dated records on demand.
    """
    cur.execute("CREATE SEQUENCE segment_run_seq START 1")
    cur.execute(
        """
        CREATE TABLE segment_runs (
            run_id BIGINT PRIMARY KEY,
            as_of DATE NOT NULL,
            month_end BOOLEAN NOT NULL,
            data_version VARCHAR NOT NULL,
            settings_version VARCHAR NOT NULL,
            customers BIGINT NOT NULL,
            stats VARCHAR NOT NULL,
            computed_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            seconds DOUBLE,
            used_at TIMESTAMP NOT NULL DEFAULT current_timestamp,
            UNIQUE (as_of, data_version, settings_version)
        )"""
    )
    cur.execute(
        """
        CREATE TABLE segment_members (
            run_id BIGINT NOT NULL,
            customer_id VARCHAR NOT NULL,
            owner VARCHAR,
            region VARCHAR,
            industry VARCHAR,
            stage UTINYINT NOT NULL,
            value UTINYINT NOT NULL,
            behaviour UTINYINT NOT NULL,
            rfm UTINYINT,
            r UTINYINT,
            f UTINYINT,
            m UTINYINT,
            revenue DECIMAL(18,2) NOT NULL,
            revenue_recent DECIMAL(18,2) NOT NULL,
            revenue_before DECIMAL(18,2) NOT NULL,
            purchases INTEGER NOT NULL,
            monetary DECIMAL(18,2) NOT NULL,
            interactions_recent INTEGER NOT NULL,
            first_contact DATE,
            first_buy DATE,
            last_buy DATE,
            last_contact DATE,
            last_interaction DATE,
            last_complaint DATE
        )"""
    )


def _v5(cur: "duckdb.DuckDBPyConnection") -> None:
    """Each customer's activity summary (crm.activity) and a small key/value table for the
    archive's own bookkeeping (the summary's stamp). The columns start empty and unstamped:
    crm.activity.ensure_current fills them on first use, so this step stays quick on a big file.
    """
    for name, sql_type in (("first_purchase", "DATE"), ("last_purchase", "DATE"), ("last_transaction", "DATE"),
                           ("last_logged_interaction", "DATE")):
        cur.execute(f"ALTER TABLE customers ADD COLUMN {name} {sql_type}")
    cur.execute("CREATE TABLE archive_state (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")


def _v6(cur: "duckdb.DuckDBPyConnection") -> None:
    """segment_members with its customer id stored uncompressed: a run writes a million distinct
    ids, and analysing them for compression was half the cost of storing a run (≈ 12 MB a run on
    disk instead of ≈ 6). The runs are a cache, so the table is simply made again, empty."""
    columns = cur.execute(
        "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
        "WHERE table_name = 'segment_members' ORDER BY ordinal_position").fetchall()
    cur.execute("DELETE FROM segment_runs")
    cur.execute("DROP TABLE segment_members")
    spec = ", ".join(f"{name} {sql_type}" + (" USING COMPRESSION uncompressed" if name == "customer_id" else "")
                     + ("" if nullable == "YES" else " NOT NULL") for name, sql_type, nullable in columns)
    cur.execute(f"CREATE TABLE segment_members ({spec})")


MIGRATIONS: list[Callable[["duckdb.DuckDBPyConnection"], None]] = [_v1, _v2, _v3, _v4, _v5, _v6]
CURRENT_VERSION = len(MIGRATIONS)


def schema_version(cur: "duckdb.DuckDBPyConnection") -> int:
    exists = cur.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    row = cur.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchall()
    row = row[0] if row else None
    return int(row[0]) if row else 0


def migrate(archive: "Archive") -> int:
    """Bring the file up to CURRENT_VERSION; returns the version it was at before."""
    cur = archive.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    before = schema_version(cur)
    cur.close()
    if before > CURRENT_VERSION:
        raise RuntimeError(
            f"数据库版本 {before} 比本程序支持的版本 {CURRENT_VERSION} 新，请升级程序后再打开。"
        )
    for version in range(before + 1, CURRENT_VERSION + 1):
        with archive.transaction() as tx:
            MIGRATIONS[version - 1](tx)
            tx.execute(
                "INSERT OR REPLACE INTO meta (key, value) VALUES ('schema_version', ?)", [str(version)]
            )
    return before
