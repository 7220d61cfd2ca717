"""Schema version 12: what real spreadsheets carry beyond the seven templates.

Customers keep a contact person with 微信 and QQ (B2B lists), every further phone or e-mail a cell
held, the city, the columns the archive has no field for (JSON, shown under 其他信息 and exported
back) and why they may duplicate another customer. Transactions keep the order number of an order
export and their own unknown columns.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from crm.schema.columns import CUSTOMER_COLUMNS_V12

if TYPE_CHECKING:
    import duckdb


def apply(cur: "duckdb.DuckDBPyConnection") -> None:
    for name, sql_type in CUSTOMER_COLUMNS_V12.items():
        cur.execute(f"ALTER TABLE customers ADD COLUMN {name} {sql_type}")
    cur.execute("ALTER TABLE transactions ADD COLUMN order_ref VARCHAR")
    cur.execute("ALTER TABLE transactions ADD COLUMN extra VARCHAR")
