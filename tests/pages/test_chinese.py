"""Chinese everywhere (issue 14): a crawl of every page, every view of its segmented controls and
tabs, on a seeded and on an empty archive, logged in as admin, fails on any ASCII word of two or
more letters a user can read that is not a data value, a unit or a listed term.

What counts as read is tests/pages/visible_text.py: titles, markdown, captions, alerts, metric
labels, values and help, widget labels, help texts, placeholders (Streamlit's own "Choose an
option" when a selectbox or multiselect has none) and options, button and link labels, tab,
expander and dialog labels, dataframe headers and cells, chart titles, axis titles, legends and
value labels. Data values are the words of the archive's own text (names, e-mail addresses, file
names, user names: `data_words`); inline code (`python -m crm backup`) is a command the user types.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Iterator

import pytest
from visible_text import markdown_text, page_texts

from crm import clock
from crm.db import Archive, open_archive
from crm.seed import DEMO_PASSWORDS, seed_demo
from crm.vocabulary import SYSTEM_USERS

TODAY = dt.date(2026, 12, 1)
NOW = dt.datetime(2026, 12, 1, 10, 0)
EMPTY_ADMIN = "管理员甲"  # the demo admin password may not contain the user name "admin"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The listed terms: what Chinese users read as they are. Short on purpose: a new English word on a
# page fails the test, and belongs here only when there is no Chinese word for it.
TERMS = {"RFM", "QQ", "Excel", "CSV", "ID", "WPS"}
PINYIN = {"zhangwei", "zw"}  # the search box's examples of typing a name in pinyin and its initials
UNITS = {"MB", "KB", "GB"}
EXTENSIONS = {"xlsx", "xlsm", "xls", "csv", "json", "duckdb"}
ENVIRONMENT = re.compile(r"^CRM_[A-Z_]+$")  # the settings' environment variables (README, config)
# An ASCII word: two or more letters (with digits or _ inside: CRM_BACKUP_DIR, R1 is one letter).
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# Archive columns holding codes the app must translate before a user reads them (never data words).
CODE_COLUMNS = {"status", "origin", "template", "role", "action", "entity", "password_hash", "source", "detail",
                "prev_hash", "row_hash", "detail_sha", "name_pinyin", "name_initials", "search_text", "extra"}
DATA_TABLES = ("customers", "interactions", "transactions", "complaints", "surveys", "follow_ups", "import_batches",
               "users", "customer_tags")


@pytest.fixture(autouse=True)
def pinned() -> Iterator[None]:
    with clock.pinned(NOW):
        yield


def english(text: str, allowed: set[str]) -> list[str]:
    """The words of `text` a Chinese user would not read as Chinese, a unit, a term or data."""
    out = []
    for word in WORD.findall(text):
        letters = re.sub(r"[^A-Za-z]", "", word)
        if len(letters) < 2 or re.fullmatch(r"[A-Za-z]\d+", word):
            continue
        if word in TERMS or word in UNITS or word.lower() in EXTENSIONS or ENVIRONMENT.match(word):
            continue
        if word.lower() in allowed or word in PINYIN:
            continue
        out.append(word)
    return out


def data_words(archive: Archive) -> set[str]:
    """The ASCII words of the archive's own text (lower case): names, addresses, e-mails, ids, file
    and user names, typed notes. Code columns (statuses, origins, actions …) are left out: their
    words must be translated."""
    cur = archive.cursor()
    words: set[str] = set()
    try:
        for table in DATA_TABLES:
            columns = [c for (c,) in cur.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? AND data_type = 'VARCHAR'",
                [table]).fetchall() if c not in CODE_COLUMNS]
            for column in columns:
                for (value,) in cur.execute(f'SELECT DISTINCT "{column}" FROM "{table}" WHERE "{column}" IS NOT NULL'
                                            ).fetchall():
                    words.update(w.lower() for w in WORD.findall(str(value)))
    finally:
        cur.close()
    words.update(w.lower() for w in WORD.findall(Path(str(archive.path)).stem))  # the archive's file (its backups' names)
    return words - set(SYSTEM_USERS)  # the system's own accounts (cli, seed, system) are named in Chinese


class Crawl:
    """An AppTest walked through the pages; `found` lists every English word with where it was."""

    def __init__(self, at: Any, allowed: set[str]) -> None:
        self.at, self.allowed = at, allowed
        self.found: dict[tuple[str, str], str] = {}  # (element kind, word) → where, in which text
        self.views: list[str] = []
        self.typed: set[str] = set()

    def look(self, where: str) -> None:
        at = self.at
        assert not at.exception, (where, [e.message for e in at.exception])
        self.views.append(where)
        for item in page_texts(at):
            if item.data and item.text in self.typed:
                continue
            for word in english(item.text, self.allowed):
                self.found.setdefault((item.kind, word), f"{where} · {item.kind}: {word!r} in {item.text.strip()[:120]!r}")

    def page(self, path: str, where: str, query: dict[str, str] | None = None, **session: Any) -> Any:
        at = self.at
        at.query_params.clear()
        for key, value in (query or {}).items():
            at.query_params[key] = value
        for key, value in session.items():
            at.session_state[key] = value
        at.switch_page(path).run()
        self.look(where)
        return at

    def set(self, widget: Any, value: Any, where: str) -> None:
        if isinstance(value, str):
            self.typed.add(value)
        widget.set_value(value).run()
        self.look(where)

    def views_of(self, key: str) -> list[str]:
        return list(next(b for b in self.at.button_group if b.key == key).options)


def crawl(c: Crawl, upload: bytes | None = None) -> None:
    """Every page of an admin, every view of the segmented controls on 跟进队列 / 投诉分析 / 系统管理,
    every tab of 客户分类, a profile and a complaint record when there are some, an upload's preview."""
    from crm.followups import rules

    c.look("档案概况")
    at = c.page("pages/customers.py", "客户查询")
    if at.text_input(key="cus_q"):
        c.set(at.text_input(key="cus_q"), "王", "客户查询「王」")
    archive = open_archive(c.at_db)  # type: ignore[attr-defined]
    cur = archive.cursor()
    try:
        first = cur.execute("SELECT min(customer_id) FROM customers").fetchall()[0][0]
        complaint = cur.execute("SELECT min(complaint_id) FROM complaints").fetchall()[0][0]
    finally:
        cur.close()
    if first:
        c.page("pages/customers.py", f"客户360 {first}", query={"id": first})

    at = c.page("pages/follow-ups.py", "跟进队列")
    for view in c.views_of("fu_view"):
        c.set(at.button_group(key="fu_view"), view, f"跟进队列 · {view}")
        if view == "待办队列":
            for bucket in ["全部", *rules.BUCKETS]:
                c.set(at.button_group(key="fu_bucket"), bucket, f"跟进队列 · 待办队列 · {bucket}")

    at = c.page("pages/complaints.py", "投诉分析")
    for view in c.views_of("cp_view"):
        c.set(at.button_group(key="cp_view"), view, f"投诉分析 · {view}")
        if view == "投诉处理" and complaint:
            c.set(at.radio(key="cp_scope"), "全部", "投诉分析 · 投诉处理 · 全部")
    if complaint:
        c.page("pages/complaints.py", f"投诉记录 {complaint}", query={"id": complaint}, cp_view="投诉处理")

    for tab in ["分类分布", "RFM 分群", "标签组合", "客户迁移", "分析报表"]:
        c.page("pages/segments.py", f"客户分类 · {tab}", seg_tab=tab, seg_as_of=TODAY)
    c.page("pages/segments.py", "客户分类 · 明细", seg_drill={"kind": "value", "labels": ["高价值"], "title": "高价值",
                                                           "source": "seg_chart_value", "before": None}, seg_drill_page=0)

    at = c.page("pages/import.py", "数据导入")
    if upload is not None:  # an update's preview, and a sheet no template recognises (the mapping form)
        at.file_uploader(key="imp_upload_0").set_value([("客户资料更新.xlsx", upload, XLSX),
                                                        ("杂表.xlsx", _odd_sheet(), XLSX)]).run()
        c.look("数据导入 · 预览")
        assert any("列映射" in e.label for e in at.expander), [e.label for e in at.expander]
    undo = [b for b in at.button if (b.key or "").startswith("imp_undo_") and b.key[9:].isdigit() and not b.disabled]
    if undo:  # the confirmation dialog
        undo[0].click().run()
        c.look("数据导入 · 撤销确认")
        assert any(b.key == "imp_undo_confirm" for b in at.button)

    at = c.page("pages/admin.py", "系统管理")
    for view in c.views_of("adm_view"):
        c.set(at.button_group(key="adm_view"), view, f"系统管理 · {view}")


# ------------------------------------------------------------------ the archives
def _update_sheet(archive: Archive, addresses: tuple[str, str] = ("湖北省武汉市洪山区珞喻路1号", "四川省成都市武侯区人民南路4段"),
                  note: str = "已核对地址") -> bytes:
    """A T1 sheet that updates two archived customers: a new address (so a new 地区 too) and a note."""
    import io

    import openpyxl

    cur = archive.cursor()
    try:
        rows = cur.execute("SELECT customer_id, name FROM customers ORDER BY customer_id LIMIT 2").fetchall()
    finally:
        cur.close()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户档案"
    ws.append(["客户编号", "客户姓名", "地址", "备注"])
    for (cid, name), address in zip(rows, addresses):
        ws.append([cid, name, address, note])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def _odd_sheet() -> bytes:
    """A sheet whose headers name no template's columns: the import page asks for a mapping."""
    import io

    import openpyxl

    wb = openpyxl.Workbook()
    wb.active.title = "杂项"  # a sheet's name is the user's data (openpyxl's default would be "Sheet")
    wb.active.append(["甲栏", "乙栏", "丙栏"])
    wb.active.append(["张三", "13800000000", "备注"])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A demo archive, worked a little through the app's own writers so every view has rows: an
    import that updates customers, a profile edit, a follow-up completed, a complaint moved, a
    setting changed, a backup."""
    from crm.admin import backup
    from crm.auth.personal import actor_for
    from crm.customers.edits import update_customer
    from crm.followups import actions
    from crm.imports.pipeline import import_path
    from crm.settings import set_follow_up_setting

    db = tmp_path_factory.mktemp("chinese") / "crm.duckdb"
    with clock.pinned(NOW):
        archive = open_archive(db)
        seed_demo(archive, customers=150, seed=5, today=TODAY)
        admin = actor_for(archive, "admin")
        sheet = db.with_name("客户资料更新.xlsx")
        sheet.write_bytes(_update_sheet(archive))
        import_path(archive, sheet, user="admin", today=TODAY)
        cur = archive.cursor()
        try:
            cid = cur.execute("SELECT min(customer_id) FROM customers").fetchall()[0][0]
            fid, version = cur.execute("SELECT id, version FROM follow_ups WHERE status = '待跟进' ORDER BY id LIMIT 1"
                                       ).fetchall()[0]
        finally:
            cur.close()
        update_customer(archive, admin, cid, {"note": "电话回访后更新", "priority": "高"})
        actions.complete_follow_up(archive, admin, fid, channel="电话", content="已联系", result="满意", date=TODAY,
                                   expected_version=version)
        set_follow_up_setting(archive, admin, "pool_release_days", 120)
        backup.create_backup(archive, admin)
        archive.close()
    return db


@pytest.fixture(scope="module")
def empty(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new archive with one admin account and nothing else."""
    from crm.auth import accounts

    db = tmp_path_factory.mktemp("chinese_empty") / "crm.duckdb"
    archive = open_archive(db)
    accounts.add_user(archive, "cli", EMPTY_ADMIN, "管理员", DEMO_PASSWORDS["管理员"])
    archive.close()
    return db


def _crawl(db: Path, app_test: Any, upload: bytes | None = None, user: str = "admin") -> Crawl:
    at = app_test(db, user=user, timeout=120)
    archive = open_archive(db)
    c = Crawl(at, data_words(archive))
    c.at_db = db  # type: ignore[attr-defined]
    crawl(c, upload)
    return c


def test_the_seeded_archive_reads_in_chinese(seeded: Path, app_test: Any) -> None:
    archive = open_archive(seeded)
    later = _update_sheet(archive, ("江苏省南京市鼓楼区中山路8号", "福建省厦门市思明区鹭江道2号"), "再次核对")
    c = _crawl(seeded, app_test, upload=later)
    assert len(c.views) > 25, c.views  # the crawl reached every view
    assert not c.found, "\n".join(c.found.values())


def test_the_empty_archive_reads_in_chinese(empty: Path, app_test: Any) -> None:
    c = _crawl(empty, app_test, user=EMPTY_ADMIN)
    assert not c.found, "\n".join(c.found.values())


# ------------------------------------------------------------------ the checker itself
def test_the_checker_finds_english_and_passes_terms_units_and_data() -> None:
    allowed = {"lihaiqi1965", "qq", "com"}
    assert english("Choose an option", allowed) == ["Choose", "an", "option"]
    assert english("字段 region 已更新", allowed) == ["region"]
    assert english("RFM 分群 · 单个文件不超过 50 MB · .xlsx · CRM_BACKUP_DIR · R1·F2 · C000123", allowed) == []
    assert english("邮箱 lihaiqi1965@qq.com", allowed) == []
    text, codes = markdown_text("运行 `python -m crm backup` :material/info: :gray[已撤销] [打开](/customers?id=C1)")
    assert english(text, allowed) == [] and codes == ("python -m crm backup",)


def test_a_selectbox_without_placeholder_is_read_as_streamlits_english() -> None:
    from streamlit.proto.MultiSelect_pb2 import MultiSelect

    class Node:
        type = "multiselect"
        value: list[str] = []

        def __init__(self, placeholder: str, options: list[str]) -> None:
            self.proto = MultiSelect(label="标签", placeholder=placeholder, options=options)

    from visible_text import shown

    def placeholder(node: Node) -> list[str]:
        return [s.text for s in shown(node) if "placeholder" in s.kind]

    assert placeholder(Node("", ["VIP"])) == ["Choose options"]
    assert placeholder(Node("", [])) == ["No options to select"]
    assert placeholder(Node("请选择", ["VIP"])) == ["请选择"]
