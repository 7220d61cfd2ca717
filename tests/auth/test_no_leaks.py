"""The test that must never go red: for each role, a crawl of every page it can open and of every
file those pages hand out finds no unmasked phone, e-mail, address or name of a customer outside
the role's scope.

The archive is a small demo seed on a pinned day, with leak bait planted through the app's own
writers: a phone and an e-mail of a colleague's customer typed into free text everywhere users type
(备注, 沟通内容, 跟进内容, 投诉事由 / 客户要求 / 处理结果, 意见建议, 交易备注), a follow-up of that customer
handed to the sales user (so it is in their own queue), customers released to the 客户公海, and a
company customer (whose name is its 公司). Rendered output is every string in every element's
protobuf (markdown, captions, metrics, widget labels and options, chart specs, dataframe cells read
back from Arrow); files are the bytes the download buttons would serve (their data callables,
captured from Streamlit's media file manager) read back as workbooks.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pytest
from downloads import Downloads

from crm import clock
from crm.auth.personal import Actor, actor_for
from crm.db import Archive, open_archive
from crm.followups import rules
from crm.seed import seed_demo
from crm.segments.labels import VALUES
from crm.vocabulary import ADMIN, LEAD, MANAGER, SALES, VIEWER

TODAY = dt.date(2026, 12, 1)
NOW = dt.datetime(2026, 12, 1, 10, 0)
USERS = {ADMIN: "admin", MANAGER: "周涛", LEAD: "孙丽", SALES: "王磊", VIEWER: "访客"}
COLLEAGUE = "李娜"  # another sales user: her customers are outside 王磊's scope


@pytest.fixture(autouse=True)
def pinned() -> Iterator[None]:
    with clock.pinned(NOW):
        yield


# ------------------------------------------------------------------ the archive and its bait
@dataclass
class Bait:
    """The customers the crawl visits on purpose (ids), and what was planted on them."""

    other: str  # an individual customer of COLLEAGUE, with bait in every free-text field
    company: str  # a company customer (name = 公司) outside the sales user's scope
    own: str  # a customer of the sales user
    complaint: str  # the complaint registered for `other`
    phone: str  # `other`'s phone, e-mail and name
    email: str
    name: str
    company_name: str  # `company`'s name (and 公司)


def _one(archive: Archive, sql: str, params: list[Any] | None = None) -> tuple[Any, ...]:
    cur = archive.cursor()
    try:
        rows = cur.execute(sql, params or []).fetchall()
    finally:
        cur.close()
    assert rows, sql
    return rows[0]


def _plant(archive: Archive) -> Bait:
    """Bait through the writers a user's clicks reach (profile edit, contact, follow-up, complaint),
    and by SQL where the app has no form (a survey, a transaction note: they come from imports)."""
    from crm.complaints.handling import register_complaint
    from crm.customers.edits import add_interaction, update_customer
    from crm.followups import pool
    from crm.followups.actions import plan_follow_up
    from crm.settings import set_follow_up_setting

    admin = actor_for(archive, "admin")
    other, name, phone, email = _one(archive, """
        SELECT customer_id, name, phone, email FROM customers
        WHERE owner = ? AND phone IS NOT NULL AND email IS NOT NULL AND coalesce(company, '') <> name
        ORDER BY customer_id LIMIT 1""", [COLLEAGUE])
    company, company_name = _one(archive, """
        SELECT customer_id, name FROM customers WHERE company = name AND owner IS NOT NULL AND owner <> ?
        ORDER BY customer_id LIMIT 1""", [USERS[SALES]])
    (own,) = _one(archive, "SELECT customer_id FROM customers WHERE owner = ? AND phone IS NOT NULL "
                           "ORDER BY customer_id LIMIT 1", [USERS[SALES]])
    dashed, spaced = f"{phone[:3]}-{phone[3:7]}-{phone[7:]}", f"{phone[:3]} {phone[3:7]} {phone[7:]}"
    update_customer(archive, admin, other, {"note": f"客户换了新号 {dashed}，邮箱 {email}"})
    add_interaction(archive, admin, other, TODAY - dt.timedelta(days=3), "电话",
                    f"客户留了手机 {spaced}，资料发到 {email}", result=f"已回电 {phone}")
    plan_follow_up(archive, admin, other, TODAY, channel="电话", content=f"回电 +86 {phone}（{email}）",
                   owner=USERS[SALES])
    complaint = register_complaint(archive, admin, {
        "date": TODAY - dt.timedelta(days=2), "kind": "商品", "urgency": "一般", "via": "电话",
        "reason": f"客户来电 {phone} 投诉包装破损", "request": f"处理结果发邮件到 {email}"}, customer_id=other)
    with archive.transaction() as cur:
        cur.execute("UPDATE complaints SET outcome = ? WHERE complaint_id = ?", [f"已电话 {dashed} 说明", complaint])
        cur.execute("""INSERT INTO surveys (customer_id, date, via, service_quality, service_attitude, efficiency,
                                            professionalism, product_quality, packaging, comment)
                       VALUES (?, ?, '电话', 1, 1, 1, 1, 1, 1, ?)""",
                    [other, TODAY - dt.timedelta(days=5), f"很不满意，请打 {spaced} 或写信 {email}"])
        cur.execute("INSERT INTO transactions (customer_id, kind, date, amount, note) VALUES (?, '购买', ?, 880, ?)",
                    [other, TODAY - dt.timedelta(days=20), f"送货前联系 {phone}"])
    # the 客户公海: customers long without contact lose their owner (everyone's scope but leads')
    set_follow_up_setting(archive, admin, "pool_release_days", 120)
    assert pool.release_due(archive, TODAY) > 0
    return Bait(other, company, own, complaint, phone, email, name, company_name)


def _plant_rejected_import(archive: Archive, bait: Bait) -> None:
    """A colleague's import whose rejected row (a date that is not one) carries her customer's phone."""
    from conftest import write_xlsx

    from crm.imports.pipeline import import_path

    sheet = write_xlsx(Path(str(archive.path)).with_name("互动记录.xlsx"), {"互动记录": [
        ["客户ID", "客户名称", "联系信息", "最近互动", "互动类型", "互动日期"],
        [bait.other, bait.name, bait.phone, f"约好回电 {bait.phone}", "电话", "下周二"],
        [bait.other, bait.name, bait.phone, "寄样品", "电话", (TODAY - dt.timedelta(days=1)).isoformat()]]})
    report = import_path(archive, sheet, user=COLLEAGUE, today=TODAY)
    assert any(b.rejected_rows for b in report.batches), report


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Bait]:
    db = tmp_path_factory.mktemp("no_leaks") / "crm.duckdb"
    with clock.pinned(NOW):
        archive = open_archive(db)
        seed_demo(archive, customers=150, seed=5, today=TODAY)
        bait = _plant(archive)
        archive.close()
    return db, bait


# ------------------------------------------------------------------ what must not be seen
@dataclass
class Secrets:
    """The values of the customers outside one role's scope that must never be shown in full."""

    digits: dict[str, str] = field(default_factory=dict)  # phone digits → customer id
    texts: dict[str, str] = field(default_factory=dict)  # e-mail (lower case), address, name → customer id

    def __bool__(self) -> bool:
        return bool(self.digits or self.texts)


_DIGIT_RUN = re.compile(r"\+?\d[\d \-]*\d")


def secrets_for(archive: Archive, actor: Actor) -> Secrets:
    """Phones (as digits), e-mails, addresses and names of every customer `actor` may not see in full.

    A name is only a secret when it cannot be shown for another reason: it is not also the name of a
    customer in scope, nor part of a staff name or of a company shown as someone's employer (an
    individual's 公司 is not personal data), so the check never fires on a legitimate value.
    """
    cur = archive.cursor()
    try:
        people = cur.execute("""SELECT customer_id, owner, name, phone, email, address, company, contact_person,
                                       wechat, qq FROM customers""").fetchall()
        contacts = cur.execute("SELECT c.customer_id, k.contact, k.address FROM complaints k "
                               "JOIN customers c USING (customer_id)").fetchall()
        staff = [v for row in cur.execute("SELECT username, display_name FROM users").fetchall() for v in row if v]
    finally:
        cur.close()
    hidden = {r[0] for r in people if not actor.sees_in_full(r[1])}
    shown_names = [r[2] for r in people if r[0] not in hidden and r[2]]
    legit = " ".join([*shown_names, *staff, *(r[6] for r in people if r[6] and r[6] != r[2])])
    out = Secrets()
    for cid, _owner, name, phone, email, address, _company, contact_person, wechat, qq in people:
        if cid not in hidden:
            continue
        for number in (phone, wechat, qq):
            if number and len(re.sub(r"\D", "", number)) >= 7:
                out.digits[re.sub(r"\D", "", number)] = cid
        if email:
            out.texts[email.lower()] = cid
        if address and len(address) > 6:
            out.texts[address.lower()] = cid
        for person in (name, contact_person):
            if person and len(person) >= 2 and person not in legit:
                out.texts[person.lower()] = cid
    for cid, contact, address in contacts:
        if cid in hidden:
            for part in re.split(r"\s+", contact or ""):
                if "@" in part:
                    out.texts[part.lower()] = cid
                elif len(re.sub(r"\D", "", part)) >= 7:
                    out.digits[re.sub(r"\D", "", part)] = cid
            if address and len(address) > 6:
                out.texts[address.lower()] = cid
    return out


def leaks(secrets: Secrets, where: str, texts: list[str]) -> list[str]:
    """Each secret found in `texts`, as 「where: value (customer) in '…text…'」."""
    found = []
    for text in texts:
        low = text.lower()
        for secret, cid in secrets.texts.items():
            if secret in low:
                found.append(f"{where}: {secret} ({cid}) in {text[:160]!r}")
        for run in _DIGIT_RUN.findall(text):
            digits = re.sub(r"\D", "", run)
            for secret, cid in secrets.digits.items():
                if secret in digits:
                    found.append(f"{where}: {secret} ({cid}) in {text[:160]!r}")
    return found


# ------------------------------------------------------------------ reading what was rendered
def _leaves(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            out.append(str(k))
            _leaves(v, out)
    elif isinstance(value, list):
        for v in value:
            _leaves(v, out)
    elif value is not None:
        out.append(str(value))


def _from_string(text: str, out: list[str]) -> None:
    out.append(text)
    if text[:1] in "{[":  # a chart spec or another JSON payload: its strings, unescaped
        try:
            _leaves(json.loads(text), out)
        except ValueError:
            pass


def _from_bytes(data: bytes, out: list[str]) -> None:
    import pyarrow as pa

    try:  # a dataframe's or a chart's data travels as an Arrow stream
        table = pa.ipc.open_stream(pa.py_buffer(data)).read_all()
    except Exception:  # noqa: BLE001 - not Arrow: read it as text
        out.append(data.decode("utf-8", "ignore"))
        return
    out.extend(str(c) for c in table.column_names)
    for column in table.columns:
        out.extend(str(v) for v in column.to_pylist() if v is not None)


def _from_proto(message: Any, out: list[str]) -> None:
    from google.protobuf.message import Message

    for descriptor, value in message.ListFields():
        is_map = descriptor.message_type is not None and descriptor.message_type.GetOptions().map_entry
        if is_map:
            items: list[Any] = [x for kv in value.items() for x in kv]
        elif isinstance(value, (str, bytes, Message)) or not hasattr(value, "__iter__"):
            items = [value]
        else:
            items = list(value)
        for item in items:
            if isinstance(item, Message):
                _from_proto(item, out)
            elif isinstance(item, str):
                _from_string(item, out)
            elif isinstance(item, bytes):
                _from_bytes(item, out)


def rendered(at: Any, typed: set[str]) -> list[str]:
    """Every string the app sent to the browser in its last run (the sidebar included), and every
    widget's current value, less what the test itself typed into a widget."""
    from google.protobuf.message import Message

    out: list[str] = []

    def walk(node: Any) -> None:
        proto = getattr(node, "proto", None)
        if isinstance(proto, Message):
            _from_proto(proto, out)
        if getattr(node, "type", None) not in (None, "block") and hasattr(type(node), "value"):
            try:
                value = node.value
            except Exception:  # noqa: BLE001 - a widget without a value in this run
                value = None
            if hasattr(value, "to_numpy") and hasattr(value, "columns"):  # a dataframe: every cell
                out.extend(str(v) for v in [*value.columns, *value.to_numpy().ravel()] if v is not None)
            else:
                _leaves(value, out)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return [t for t in out if t not in typed]


def workbook_texts(data: bytes) -> list[str]:
    """Every cell value and sheet name of an .xlsx."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    out = list(book.sheetnames)
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            out.extend(str(v) for v in row if v is not None)
    return out


# ------------------------------------------------------------------ the crawl
class Crawl:
    """One logged-in AppTest walked through a role's pages; `seen` collects every leak found."""

    def __init__(self, at: Any, downloads: Downloads, secrets: Secrets) -> None:
        self.at, self.downloads, self.secrets = at, downloads, secrets
        self.typed: set[str] = set()
        self.leaks: list[str] = []
        self.views: list[str] = []
        self.files: list[str] = []
        self.seen: list[str] = []

    def saw(self, text: str) -> bool:
        """Whether `text` was on screen or in a file somewhere in the crawl."""
        return any(text in t for t in self.seen)

    def look(self, where: str) -> None:
        at = self.at
        assert not at.exception, (where, at.exception)
        texts = rendered(at, self.typed)
        self.seen += texts
        self.views.append(where)
        self.leaks += leaks(self.secrets, where, texts)
        for label, data in self.downloads.files(at):
            self.files.append(f"{where} ▸ {label}")
            body = workbook_texts(data) if data[:2] == b"PK" else [data.decode("utf-8", "ignore")]
            self.seen += body
            self.leaks += leaks(self.secrets, f"{where} ▸ {label}", body)

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


def _options(at: Any, key: str) -> list[str]:
    return list(next(b for b in at.button_group if b.key == key).options)


def crawl(at: Any, crawler: Crawl, role: str, bait: Bait) -> None:
    """Every page the role has, every view of its segmented controls, the planted records opened."""
    from app import allowed_pages

    c = crawler
    c.look("档案概况")
    pages = {url for _, _, _, url in allowed_pages(Actor(USERS[role], role))}

    # 客户查询: the first page, searches that find the bait, the profiles outside the scope
    at = c.page("pages/customers.py", "客户查询")
    for query in (bait.phone, bait.email, bait.name, bait.company_name):
        c.set(at.text_input(key="cus_q"), query, f"客户查询「{query}」")
    for cid in (bait.other, bait.company, bait.own):
        c.page("pages/customers.py", f"客户360 {cid}", query={"id": cid})

    if "follow-ups" in pages:
        at = c.page("pages/follow-ups.py", "跟进队列")
        for view in _options(at, "fu_view"):
            c.set(at.button_group(key="fu_view"), view, f"跟进队列 · {view}")
            if view == "待办队列":
                for bucket in ["全部", *rules.BUCKETS]:
                    c.set(at.button_group(key="fu_bucket"), bucket, f"跟进队列 · 待办队列 · {bucket}")

    at = c.page("pages/complaints.py", "投诉分析")
    for view in _options(at, "cp_view"):
        c.set(at.button_group(key="cp_view"), view, f"投诉分析 · {view}")
        if view == "投诉处理":
            c.set(at.radio(key="cp_scope"), "全部", "投诉分析 · 投诉处理 · 全部")
            c.set(at.selectbox(key="cp_pick"), bait.complaint, f"投诉分析 · 投诉处理 · {bait.complaint}")
        elif view == "登记投诉":
            for query in (bait.phone, bait.name):
                c.set(at.text_input(key="cp_find"), query, f"投诉分析 · 登记投诉「{query}」")
        elif view == "投诉分析":
            for label in list(at.selectbox(key="cp_drill_label").options):
                c.set(at.selectbox(key="cp_drill_label"), label, f"投诉分析 · 明细 · {label}")
    c.page("pages/complaints.py", f"投诉记录 {bait.complaint}", query={"id": bait.complaint}, cp_view="投诉处理")

    tabs = ["分类分布", "RFM 分群", "标签组合", "客户迁移", "分析报表"]
    for tab in tabs:
        c.page("pages/segments.py", f"客户分类 · {tab}", seg_tab=tab, seg_as_of=TODAY)
    for kind, label in [*(("value", v) for v in VALUES), ("stage", "潜在客户")]:
        drill = {"kind": kind, "labels": [label], "title": label, "source": f"seg_chart_{kind}", "before": None}
        c.page("pages/segments.py", f"客户分类 · 明细 {label}", seg_drill=drill, seg_drill_page=0)

    if "import" in pages:
        c.page("pages/import.py", "数据导入")
    if "admin" in pages:
        at = c.page("pages/admin.py", "系统管理")
        for view in _options(at, "adm_view"):
            c.set(at.button_group(key="adm_view"), view, f"系统管理 · {view}")


def _crawler(db: Path, role: str, app_test: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Crawl, Actor]:
    downloads = Downloads(monkeypatch)
    at = app_test(db, user=USERS[role], timeout=120)
    archive = open_archive(db)  # the app's own (one archive per path and process)
    actor = actor_for(archive, USERS[role])
    return at, Crawl(at, downloads, secrets_for(archive, actor)), actor


# The files every role's crawl must have read (a crawl that silently lost a view would pass).
FILES = ["下载投诉处理通知单", "下载投诉处理报告表", "导出分析表（Excel）", "导出标签组合（.xlsx）", "导出迁移矩阵（.xlsx）",
         "导出客户增减分析表（.xlsx）", "导出客户区域分析表（.xlsx）", "导出全部"]
FILES_BY_ROLE = {LEAD: ["导出逾期清单和负责人统计（Excel）"], MANAGER: ["导出逾期清单和负责人统计（Excel）"],
                 ADMIN: ["导出逾期清单和负责人统计（Excel）", "导出操作日志（Excel）"]}


@pytest.mark.parametrize("role", [VIEWER, SALES, LEAD, MANAGER, ADMIN],
                         ids=["viewer", "sales", "lead", "manager", "admin"])
def test_no_role_sees_a_customer_outside_its_scope(world: tuple[Path, Bait], role: str, app_test: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from crm.auth.personal import mask_name, mask_phone

    db, bait = world
    at, crawler, actor = _crawler(db, role, app_test, monkeypatch)
    crawl(at, crawler, role, bait)
    assert not crawler.leaks, "\n".join(dict.fromkeys(crawler.leaks))
    # the crawl reached the bait and read every file: the bait's phone and the company customer's
    # name are on screen, in full for the roles that see everyone, masked for the others
    full = actor.sees_all
    assert crawler.saw(bait.phone if full else mask_phone(bait.phone)), crawler.views
    assert crawler.saw(bait.company_name if full else mask_name(bait.company_name)), crawler.views
    files = " ".join(crawler.files)
    assert all(label in files for label in FILES + FILES_BY_ROLE.get(role, [])), crawler.files
    if full:
        assert not crawler.secrets
    else:  # the bait is among the secrets the crawl looked for
        assert {bait.phone} <= set(crawler.secrets.digits)
        assert {bait.email, bait.name.lower(), bait.company_name.lower()} <= set(crawler.secrets.texts)


def test_a_colleagues_rejected_rows_are_not_handed_to_a_sales_user(
        world: tuple[Path, Bait], tmp_path: Path, app_test: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    db, bait = world
    copy = tmp_path / "crm.duckdb"
    shutil.copy(db, copy)
    archive = open_archive(copy)
    _plant_rejected_import(archive, bait)
    at, crawler, _ = _crawler(copy, SALES, app_test, monkeypatch)
    crawler.page("pages/import.py", "数据导入")
    assert not crawler.leaks, "\n".join(dict.fromkeys(crawler.leaks))
    # the colleague's batch is in the history, but its problems workbook is not offered to a sales user
    from crm.imports.preview import batch_problems_download

    (bid,) = archive.cursor().execute("SELECT max(batch_id) FROM batch_problems").fetchone()
    from crm.auth.personal import Actor

    assert bid is not None and batch_problems_download(archive, bid, Actor(USERS[SALES], SALES)) is None
