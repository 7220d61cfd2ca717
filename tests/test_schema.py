"""Schema migrations: a file made by an older version upgrades in place; a newer one is refused."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from crm import schema
from crm.db import open_archive, scalar


def test_fresh_archive_is_at_current_version(tmp_path: Path) -> None:
    archive = open_archive(tmp_path / "a.duckdb")
    try:
        assert scalar(archive.cursor(), "SELECT value FROM meta WHERE key = 'schema_version'") == str(schema.CURRENT_VERSION)
    finally:
        archive.close()


def test_version_one_file_upgrades_in_place_keeping_data(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    schema.MIGRATIONS[0](con)
    con.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    con.execute("INSERT INTO customers (customer_id, name, phone) VALUES ('C1', '老客户', '13800001234')")
    con.close()
    archive = open_archive(path)
    try:
        cur = archive.cursor()
        assert scalar(cur, "SELECT value FROM meta WHERE key = 'schema_version'") == str(schema.CURRENT_VERSION)
        assert scalar(cur, "SELECT name FROM customers WHERE customer_id = 'C1'") == "老客户"
        assert scalar(cur, "SELECT count(*) FROM header_mappings") == 0  # added by migration 2
    finally:
        archive.close()


def test_newer_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)")
    con.execute("INSERT INTO meta VALUES ('schema_version', '999')")
    con.close()
    with pytest.raises(RuntimeError, match="请升级程序"):
        open_archive(path)
