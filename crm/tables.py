"""The table registry: per archive table, the facts other modules would otherwise each keep a list of.

For each table: its Chinese name, its key, which columns hold personal data and how each is
masked (crm.auth.personal), which columns an import batch may update in place with their SQL
types (crm.imports.batches restores them on undo), whether batches create its rows (undo deletes
them, children before parents), whether a user may export it (crm.export) and which templates
name its columns. A table added to the archive is described here once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from crm.schema import CUSTOMER_COLUMNS

# How a personal column is masked (crm.auth.personal.MASKS): name → 张*明, phone → 138****5678, …,
# hide → not shown at all.
NAME, PHONE, EMAIL, ADDRESS, CONTACT, HIDE = "name", "phone", "email", "address", "contact", "hide"


@dataclass(frozen=True)
class Table:
    name: str
    label: str
    key: str
    personal: dict[str, str] = field(default_factory=dict)
    updatable: dict[str, str] = field(default_factory=dict)  # column → SQL type
    created_by_batches: bool = False
    customer_child: bool = False  # rows belong to one customer (customer_id)
    exportable: bool = False
    templates: tuple[str, ...] = ()
    # column → the column it must name to be personal: a customer's 公司 is masked only where it is
    # the customer's own name (a company customer), while an individual's employer is shown
    personal_when_naming: dict[str, str] = field(default_factory=dict)


_COMPLAINT_COLUMNS = {
    "customer_id": "VARCHAR", "date": "DATE", "contact": "VARCHAR", "address": "VARCHAR", "kind": "VARCHAR",
    "via": "VARCHAR", "reason": "VARCHAR", "request": "VARCHAR", "accepted": "BOOLEAN",
    "reject_reason": "VARCHAR", "urgency": "VARCHAR", "promised_by": "DATE", "resolved_on": "DATE",
    "department": "VARCHAR", "resolution": "VARCHAR", "loss": "DECIMAL(18,2)", "order_ref": "VARCHAR",
    "product": "VARCHAR", "outcome": "VARCHAR", "satisfaction": "TINYINT", "handler": "VARCHAR"}

# In dependency order: children before their parents (undo deletes in this order).
TABLES: dict[str, Table] = {t.name: t for t in (
    Table("customer_tags", "客户标签", "customer_id", created_by_batches=True, customer_child=True),
    Table("transactions", "交易记录", "id", {"contact": CONTACT, "note": CONTACT}, created_by_batches=True, customer_child=True,
          exportable=True, templates=("T2",)),
    Table("interactions", "互动记录", "id",
          {"content": CONTACT, "result": CONTACT, "next_plan": CONTACT, "note": CONTACT},
          created_by_batches=True, customer_child=True, exportable=True, templates=("T3",)),
    Table("follow_ups", "跟进计划", "id", {"content": CONTACT, "outcome": CONTACT},
          {"status": "VARCHAR", "owner": "VARCHAR", "channel": "VARCHAR", "goal": "VARCHAR", "done_at": "TIMESTAMP",
           "completed_by": "VARCHAR"},
          created_by_batches=True, customer_child=True, exportable=True, templates=("T5",)),
    Table("complaints", "投诉登记", "complaint_id",
          {"contact": CONTACT, "address": ADDRESS, "reason": CONTACT, "request": CONTACT, "outcome": CONTACT,
           "reject_reason": CONTACT},
          _COMPLAINT_COLUMNS,
          created_by_batches=True, customer_child=True, exportable=True, templates=("T6",)),
    Table("surveys", "满意度调查", "id", {"comment": CONTACT}, created_by_batches=True, customer_child=True, exportable=True,
          templates=("T7",)),
    Table("customers", "客户档案", "customer_id",
          {"name": NAME, "phone": PHONE, "email": EMAIL, "address": ADDRESS, "birth_date": HIDE,
           "name_pinyin": HIDE, "name_initials": HIDE, "search_text": HIDE, "note": CONTACT, "key_issue": CONTACT,
           "contact_person": NAME, "wechat": PHONE, "qq": PHONE, "other_contacts": CONTACT, "extra": CONTACT,
           "company": NAME},
          CUSTOMER_COLUMNS, created_by_batches=True, exportable=True, templates=("T1", "T4"),
          personal_when_naming={"company": "name"}),
    Table("import_batches", "导入批次", "batch_id", exportable=True),
    Table("audit_log", "操作日志", "id", exportable=True),
    Table("destructions", "销毁记录", "id"),
)}


def customer_children() -> tuple[str, ...]:
    """Tables whose rows belong to one customer (by customer_id), children before their parents."""
    return tuple(t.name for t in TABLES.values() if t.customer_child)


def personal_columns() -> dict[str, dict[str, str]]:
    """table → {column: mask} for every table whose rows belong to a customer, and the customers."""
    return {t.name: dict(t.personal) for t in TABLES.values() if t.customer_child or t.name == "customers"}


def personal_when_naming() -> dict[str, dict[str, str]]:
    """table → {column: the column it must name to be personal} (see Table.personal_when_naming)."""
    return {t.name: dict(t.personal_when_naming) for t in TABLES.values() if t.personal_when_naming}


def updatable() -> dict[str, tuple[str, dict[str, str]]]:
    """table → (key, {column: SQL type}) for the tables an import may update in place."""
    return {t.name: (t.key, dict(t.updatable)) for t in TABLES.values() if t.updatable}


def created_by_batches() -> tuple[str, ...]:
    """Tables holding rows created by import batches, children before parents."""
    return tuple(t.name for t in TABLES.values() if t.created_by_batches)


def exportable() -> dict[str, str]:
    """table → Chinese name, for the tables a user may export (the customers first, as users look for them)."""
    tables = sorted((t for t in TABLES.values() if t.exportable), key=lambda t: t.name != "customers")
    return {t.name: t.label for t in tables}


def template_codes() -> dict[str, tuple[str, ...]]:
    """table → the templates whose headers name its columns."""
    return {t.name: t.templates for t in TABLES.values() if t.templates}


def column_label(table: str, column: str) -> str:
    """The word users read for an archive column: the header of the template that names it (what
    their own sheets call it), else crm.vocabulary.COLUMN_LABELS (the table's, then any table's);
    the column's own name only when neither knows it (tests/pages/test_chinese.py and
    tests/test_export.py fail where a page or an export would show it)."""
    from crm.imports.templates import TEMPLATES
    from crm.vocabulary import COLUMN_LABELS

    for code in TABLES[table].templates if table in TABLES else ():
        field = TEMPLATES[code].field_by_name.get(column)
        if field is not None:
            return field.header
    return COLUMN_LABELS.get(table, {}).get(column) or COLUMN_LABELS["*"].get(column) or column
