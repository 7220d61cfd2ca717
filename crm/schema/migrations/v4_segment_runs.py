"""Schema version 4."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
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
