"""The customers table's columns, shared by the migrations that build it and the code that reads it."""
from __future__ import annotations

# Customer columns and their SQL types. The import pipeline, undo and the profile all use this
# one list, so a field added here is known everywhere (undo restores by these types).
CUSTOMER_COLUMNS_V1: dict[str, str] = {
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
    # derived search columns (kept in step by crm.customers.search_keys on every write)
    "name_pinyin": "VARCHAR",
    "name_initials": "VARCHAR",
}

# Added by schema v12 (real spreadsheets): the contact person of a company customer and their
# 微信 / QQ, every further phone or e-mail a cell held, the city, columns the archive has no field
# for (JSON {header: value}), and why the customer may duplicate another (可能重复).
CUSTOMER_COLUMNS_V12: dict[str, str] = {
    "contact_person": "VARCHAR",
    "wechat": "VARCHAR",
    "qq": "VARCHAR",
    "other_contacts": "VARCHAR",
    "city": "VARCHAR",
    "extra": "VARCHAR",
    "duplicate_note": "VARCHAR",
}
CUSTOMER_COLUMNS: dict[str, str] = {**CUSTOMER_COLUMNS_V1, **CUSTOMER_COLUMNS_V12}

# Columns a user or an import may change; the rest are keys or derived.
CUSTOMER_EDITABLE = [c for c in CUSTOMER_COLUMNS if c not in ("customer_id", "name_pinyin", "name_initials")]
