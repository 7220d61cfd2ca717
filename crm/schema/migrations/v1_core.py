"""Schema version 1."""
from __future__ import annotations

from typing import TYPE_CHECKING

from crm.schema.columns import CUSTOMER_COLUMNS_V1 as CUSTOMER_COLUMNS

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
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
