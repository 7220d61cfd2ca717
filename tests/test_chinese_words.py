"""Chinese everywhere (issue 14), the library side: column names, audit details, the system's own
accounts, unexpected failures and unknown urls each reach the user in Chinese words."""
from __future__ import annotations

import json
import re
from typing import Any

import duckdb
import pytest

from crm import tables
from crm.admin.audit_log import AuditFilter, detail_text, entity_id_text, filter_text
from crm.errors import CONFLICT_MESSAGE, UserError, failure_reason
from crm.vocabulary import SYSTEM_USERS, user_label

ENGLISH = re.compile(r"[A-Za-z]{2,}")


def test_every_column_of_every_table_has_a_chinese_label() -> None:
    """What exports' headers, the import preview and the audit viewer name a column by."""
    from crm.db import open_archive

    archive = open_archive(":memory:")
    cur = archive.cursor()
    try:
        for table in tables.TABLES:
            columns = [c for (c,) in cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]).fetchall()]
            assert columns, table
            unnamed = [c for c in columns if ENGLISH.search(re.sub(r"QQ|ID", "", tables.column_label(table, c)))]
            # the derived search columns are never shown (crm.export leaves them out)
            assert set(unnamed) <= {"name_pinyin", "name_initials", "search_text", "first_purchase", "last_purchase",
                                    "last_transaction", "last_logged_interaction"}, (table, unnamed)
    finally:
        cur.close()
        archive.close()


def test_a_column_reads_as_its_template_header_first() -> None:
    assert tables.column_label("customers", "region") == "地区"
    assert tables.column_label("customers", "city") == "城市"
    assert tables.column_label("import_batches", "status") == "状态"
    assert tables.column_label("complaints", "customer_id") == "客户编号"  # any table's word
    assert tables.column_label("customers", "no_such_column") == "no_such_column"  # what the crawl would catch


@pytest.mark.parametrize(("entity", "detail", "expected"), [
    ("customers", {"changes": {"note": {"old": "旧", "new": "新"}, "priority": {"old": None, "new": "高"}}},
     "修改：（备注：旧 → 新；优先级：（空） → 高）"),
    ("customers", {"owner": {"old": "王磊", "new": None}, "reason": "超过 120 天未联系"},
     "负责人：王磊 → （空）；原因：超过 120 天未联系"),
    ("batch", {"file": "客户.xlsx", "template": "T1", "rows_read": 2, "rejected": 0},
     "文件：客户.xlsx；模板：T1；读取行数：2；拒绝：0"),
    ("import_batches", {"seed": 5, "counts": {"customers": 150, "users": 10, "audit_log": 1}},
     "随机种子：5；数量：（客户：150；用户：10；操作日志：1）"),
    ("audit_log", {"ok": True, "checked": 12}, "校验通过：是；已校验条数：12"),
    ("follow_ups", {"customer_id": "C1", "origin": "manual"}, "客户编号：C1；来源：手工安排"),
    ("header_mappings", {"template": "T1", "mapping": {"姓名": "name"}}, "模板：T1；列对应：（姓名 → 客户姓名）"),
    ("audit_log", {"rows": 3, "filters": {"user": "cli", "action": "export"}},
     "行数：3；筛选：（用户：命令行；操作：导出）"),
])
def test_an_audit_detail_reads_as_a_chinese_sentence(entity: str, detail: dict[str, Any], expected: str) -> None:
    text = detail_text(entity, json.dumps(detail, ensure_ascii=False))
    assert text == expected
    assert not ENGLISH.search(text.replace("T1", "").replace(".xlsx", "")), text


def test_a_text_detail_and_none_stay_as_they_are() -> None:
    assert detail_text("users", "账号已锁定") == "账号已锁定"
    assert detail_text("users", json.dumps("单点登录：账号已停用", ensure_ascii=False)) == "单点登录：账号已停用"
    assert detail_text("users", None) is None


def test_a_setting_entry_names_the_setting_and_filters_read_in_chinese() -> None:
    assert entity_id_text("settings", "followups.pool_release_days") == "跟进规则：公海释放期限"
    assert entity_id_text("customers", "C1") == "C1"
    assert filter_text(AuditFilter(user="system", action="login")) == "用户：系统自动；操作：登录"
    assert filter_text(AuditFilter()) == "全部"


def test_the_systems_own_accounts_have_chinese_names() -> None:
    assert all(not ENGLISH.search(user_label(name) or "") for name in SYSTEM_USERS)
    assert user_label("王磊") == "王磊" and user_label(None) is None


@pytest.mark.parametrize(("exc", "expected"), [
    (duckdb.IOException('IO Error: Could not set lock on file "x.duckdb": Conflicting lock is held'), "另一个程序使用"),
    (duckdb.IOException("IO Error: No space left on device"), "磁盘空间不足"),
    (duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate"), "内存不足"),
    (duckdb.TransactionException("TransactionContext Error: Conflict on update"), CONFLICT_MESSAGE),
    (duckdb.ConstraintException("Constraint Error: Duplicate key"), "编号重复"),
    (duckdb.ConversionException("Conversion Error: Could not convert string"), "格式无法处理"),
    (duckdb.CatalogException("Catalog Error: Table x does not exist"), "档案数据库出错"),
    (PermissionError("[Errno 13] Permission denied: 'backups'"), "没有读写"),
    (KeyError("customer_id"), "程序内部错误"),
])
def test_an_unexpected_failure_is_told_in_chinese(exc: BaseException, expected: str) -> None:
    reason = failure_reason(exc)
    assert expected in reason
    assert not ENGLISH.search(reason), reason


def test_a_user_error_keeps_its_own_message() -> None:
    assert failure_reason(UserError(None, "该客户已被销毁")) == "该客户已被销毁"


def test_an_unknown_url_path_is_taken_from_streamlits_intent(monkeypatch: pytest.MonkeyPatch) -> None:
    """app.unknown_url_path: a path no page has is cleared from the run's intent (so st.navigation
    opens the default page without its English dialog) and returned for the note; a known path, a
    run that names its page by hash and a run without a context are left alone."""
    import app

    class Manager:
        def __init__(self, name: str | None, page_hash: str | None = None) -> None:
            self.intended_page_name, self.intended_page_script_hash = name, page_hash

        def set_script_intent(self, page_hash: str, name: str) -> None:
            self.intended_page_script_hash, self.intended_page_name = page_hash, name

    class Ctx:
        def __init__(self, manager: Manager) -> None:
            self.pages_manager = manager

    import streamlit.runtime.scriptrunner as runner

    def run(manager: Manager | None) -> str | None:
        monkeypatch.setattr(runner, "get_script_run_ctx", lambda: Ctx(manager) if manager else None)
        return app.unknown_url_path({"home", "import", ""})

    unknown = Manager("nope")
    assert run(unknown) == "nope" and unknown.intended_page_name == ""
    known = Manager("import")
    assert run(known) is None and known.intended_page_name == "import"
    assert run(Manager("nope", page_hash="abc")) is None
    assert run(Manager(None)) is None
    assert run(None) is None
