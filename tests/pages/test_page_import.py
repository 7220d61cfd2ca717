"""The 数据导入 page through Streamlit's AppTest (the real app.py, switched to pages/import.py),
plus the page logic in crm.imports.preview that it lays out."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import openpyxl
import pytest
from conftest import write_xlsx
from streamlit.testing.v1 import AppTest

from crm.auth.personal import Actor
from crm.db import Archive, open_archive, scalar
from crm.imports import preview as V
from crm.imports.pipeline import import_path, remembered_mappings
from crm.imports.reader import read_workbook
from crm.imports.recognise import header_signature
from crm.imports.rejects import PROBLEM_COLUMN
from crm.seed import seed_demo

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PROFILE_HEAD = ["客户编号", "客户姓名＊", "联系电话", "公司"]


def q(archive: Archive, sql: str, params: list | None = None):
    cur = archive.cursor()
    try:
        return scalar(cur, sql, params or [])
    finally:
        cur.close()


@pytest.fixture
def page(tmp_path, app_test):
    """open(db) → AppTest on the import page with CRM_DB=db."""
    return lambda db=None: app_test(db or tmp_path / "crm.duckdb", "pages/import.py")


def upload(at: AppTest, *files: tuple[str, bytes]) -> AppTest:
    at.file_uploader(key="imp_upload_0").set_value([(name, data, XLSX) for name, data in files]).run()
    assert not at.exception, at.exception
    return at


def metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def frames(at: AppTest) -> list:
    return [d.value for d in at.dataframe]


def messy(tmp_path: Path, name: str = "客户.xlsx") -> bytes:
    path = write_xlsx(tmp_path / name, {
        "客户档案": [
            ["客户档案登记表"],
            PROFILE_HEAD,
            ["C101", "张三", 13800000001, "甲公司"],
            ["C102", "李四", "12345", "乙公司"],  # bad phone
            ["C103", "王五", "13800000003", "丙公司"],
            ["合计", None, None, None],
        ],
        "我的表": [["甲列", "乙列"], ["赵六", "13800000009"]],  # not recognised: mapping step
        "空": [],
    })
    return path.read_bytes()


# ------------------------------------------------------------------ rendering
def test_renders_on_an_empty_archive(page) -> None:
    at = page()
    assert [t.value for t in at.title] == ["数据导入"]
    assert [h.value for h in at.header] == ["空白模板", "导入历史"]
    (uploader,) = at.file_uploader
    assert uploader.accept_multiple_files
    assert set(uploader.allowed_type) == {".xlsx", ".xlsm", ".xls", ".csv"}
    assert "50 MB" in uploader.label
    assert any("还没有导入记录" in c.value for c in at.caption)
    labels = [b.label for b in at.download_button]
    assert sorted(labels) == sorted(label for _, label, _ in V.TEMPLATE_DOWNLOADS)
    assert "全部模板" in labels and len(labels) == 8
    assert not any(b.key == "imp_confirm" for b in at.button)  # nothing uploaded, nothing to confirm


def test_renders_on_a_seeded_archive(page, tmp_path) -> None:
    db = tmp_path / "seeded.duckdb"
    seed_demo(open_archive(db), customers=40, seed=7, today=dt.date(2026, 11, 1))
    at = page(db)
    texts = [m.value for m in at.markdown]
    assert "演示数据" in texts and "有效" in texts
    assert at.button(key="imp_undo_1").label == "撤销"


# ------------------------------------------------------------------ preview, confirm, undo
def test_upload_previews_without_writing_then_confirm_imports(page, tmp_path) -> None:
    db = tmp_path / "crm.duckdb"
    at = page(db)
    upload(at, ("客户.xlsx", messy(tmp_path)))
    archive = open_archive(db)
    assert q(archive, "SELECT count(*) FROM customers") == 0  # a preview writes nothing
    # the bad phone does not cost the customer: the row lands, its number kept aside and named
    assert metrics(at) == [("新建", "3"), ("更新", "0"), ("拒绝", "0"), ("重复", "0")]
    (fix,) = [f for f in frames(at) if "需修正" in f.columns]
    assert fix.iloc[0]["行号"] == 4 and fix.iloc[0]["列"] == "联系电话" and fix.iloc[0]["值"] == "12345"
    warnings = [w.value for w in at.warning]
    assert any("我的表" in w and "已跳过" in w for w in warnings)
    assert not any("「空」" in w for w in warnings)  # an empty sheet beside others is not worth a word
    assert any(s.label == "按哪个模板导入" for s in at.selectbox)

    at.button(key="imp_confirm").click().run()
    assert not at.exception
    assert q(archive, "SELECT count(*) FROM customers") == 3
    assert any("已导入「客户.xlsx」" in s.value and "新建 3" in s.value for s in at.success)
    (entry,) = at.session_state["imp_entries"].values()
    book = openpyxl.load_workbook(io.BytesIO(entry.rejects))
    ws = book["客户档案"]
    assert [c.value for c in ws[1]] == [*PROFILE_HEAD, PROBLEM_COLUMN]
    assert ws.cell(2, 2).value == "李四"
    assert [b.label for b in at.download_button][0].startswith("下载需修正的行")
    # history lists the batch, undoable by its importer
    assert "客户.xlsx / 客户档案" in [m.value for m in at.markdown]
    # reruns reuse the stored report: no second import, no second dry run
    batches = q(archive, "SELECT count(*) FROM import_batches")
    at.run()
    assert q(archive, "SELECT count(*) FROM import_batches") == batches


def test_update_preview_shows_old_and_new_values(page, tmp_path) -> None:
    db = tmp_path / "crm.duckdb"
    archive = open_archive(db)
    base = write_xlsx(tmp_path / "base.xlsx", {"客户档案": [PROFILE_HEAD, ["C101", "张三", "13800000001", "甲公司"]]})
    import_path(archive, base, user="admin")
    changed = write_xlsx(tmp_path / "new.xlsx", {"客户档案": [PROFILE_HEAD, ["C101", "张三", "13800000001", "新公司"]]})
    at = upload(page(db), ("new.xlsx", changed.read_bytes()))
    assert metrics(at) == [("新建", "0"), ("更新", "1"), ("拒绝", "0"), ("重复", "0")]
    (changes,) = [f for f in frames(at) if "原值" in f.columns]
    assert changes.to_dict("records") == [{"行号": 2, "客户编号": "C101", "客户": "张三", "字段": "公司", "原值": "甲公司",
                                           "新值": "新公司"}]
    assert q(archive, "SELECT company FROM customers WHERE customer_id = 'C101'") == "甲公司"


def test_undo_through_the_confirmation_dialog(page, tmp_path) -> None:
    db = tmp_path / "crm.duckdb"
    at = upload(page(db), ("客户.xlsx", messy(tmp_path)))
    at.button(key="imp_confirm").click().run()
    archive = open_archive(db)
    bid = q(archive, "SELECT max(batch_id) FROM import_batches")
    at.button(key=f"imp_undo_{bid}").click().run()
    assert not at.exception
    assert at.button(key="imp_undo_confirm").label == "确认撤销"
    assert any(f"批次 **{bid}**" in m.value for m in at.markdown)
    assert q(archive, "SELECT count(*) FROM customers") == 3  # the dialog alone changes nothing
    at.button(key="imp_undo_confirm").click().run()
    assert not at.exception
    assert q(archive, "SELECT count(*) FROM customers") == 0
    assert q(archive, "SELECT status FROM import_batches WHERE batch_id = ?", [bid]) == "undone"
    assert any(f"已撤销批次 {bid}" in s.value for s in at.success)
    assert ":gray[已撤销]" in [m.value for m in at.markdown]
    assert not any(b.key == f"imp_undo_{bid}" for b in at.button)
    assert not any(b.key == "imp_undo_confirm" for b in at.button)  # the dialog closed


def test_undo_cancel_closes_the_dialog(page, tmp_path) -> None:
    db = tmp_path / "crm.duckdb"
    at = upload(page(db), ("客户.xlsx", messy(tmp_path)))
    at.button(key="imp_confirm").click().run()
    bid = q(open_archive(db), "SELECT max(batch_id) FROM import_batches")
    at.button(key=f"imp_undo_{bid}").click().run()
    at.button(key="imp_undo_cancel").click().run()
    assert not any(b.key == "imp_undo_confirm" for b in at.button)
    assert q(open_archive(db), "SELECT status FROM import_batches WHERE batch_id = ?", [bid]) == "active"


def test_undo_error_is_shown_in_the_dialog(page, tmp_path) -> None:
    db = tmp_path / "crm.duckdb"
    archive = open_archive(db)
    first = import_path(archive, write_xlsx(tmp_path / "p.xlsx", {"客户档案": [PROFILE_HEAD, ["C101", "张三", "13800000001", "甲"]]}),
                        user="admin")
    import_path(archive, write_xlsx(tmp_path / "t.xlsx", {"交易": [
        ["客户编号", "客户名称", "交易类型", "购买时间", "金额"], ["C101", "张三", "购买", "2026-01-05", 100]]}), user="admin")
    at = page(db)
    bid = first.batches[0].batch_id
    at.button(key=f"imp_undo_{bid}").click().run()
    at.button(key="imp_undo_confirm").click().run()
    assert not at.exception
    assert any("无法撤销" in e.value and "请先撤销" in e.value for e in at.error)
    assert q(archive, "SELECT status FROM import_batches WHERE batch_id = ?", [bid]) == "active"


# ------------------------------------------------------------------ bad input
def test_unreadable_and_oversized_files_get_a_message_naming_them(page, tmp_path, monkeypatch) -> None:
    at = page()
    upload(at, ("坏文件.xlsx", b"this is not a spreadsheet \x00\x01\x02" * 10), ("好文件.xlsx", messy(tmp_path)))
    errors = [e.value for e in at.error]
    assert any("坏文件.xlsx" in e for e in errors)
    assert metrics(at)[:4] == [("新建", "3"), ("更新", "0"), ("拒绝", "0"), ("重复", "0")]  # the good one still previews

    monkeypatch.setenv("CRM_MAX_UPLOAD_MB", "0.001")  # 1 KB
    at2 = page(tmp_path / "other.duckdb")
    upload(at2, ("大文件.xlsx", messy(tmp_path)))
    errors = [e.value for e in at2.error]
    assert any("大文件.xlsx" in e and "超过上限" in e for e in errors), errors
    assert not any(b.key == "imp_confirm" for b in at2.button)


def test_empty_workbook_is_an_error_not_a_traceback(page, tmp_path) -> None:
    empty = write_xlsx(tmp_path / "empty.xlsx", {"Sheet1": []}).read_bytes()
    at = upload(page(), ("empty.xlsx", empty))
    assert any("empty.xlsx" in e.value for e in at.error)


# ------------------------------------------------------------------ column mapping
def test_mapping_step_imports_and_is_remembered_for_the_cli(page, tmp_path) -> None:
    db = tmp_path / "crm.duckdb"
    data = write_xlsx(tmp_path / "odd.xlsx", {"名单": [["姓名X", "号码X", "备忘"], ["赵六", "13800000009", "老客户"]]})
    at = upload(page(db), ("odd.xlsx", data.read_bytes()))
    assert any("名单" in w.value and "已跳过" in w.value for w in at.warning)
    assert not any(b.key == "imp_confirm" for b in at.button)  # nothing to import yet
    (entry,) = at.session_state["imp_entries"].values()
    base = f"imp_map_{entry.key}_名单"
    at.selectbox(key=f"{base}_tpl").set_value("T1")
    at.selectbox(key=f"{base}_T1_col0").set_value("客户姓名＊")
    at.selectbox(key=f"{base}_T1_col1").set_value("联系电话")
    at.selectbox(key=f"{base}_T1_col2").set_value("备注")
    assert at.checkbox(key=f"{base}_T1_remember").value is True
    at.button(key=f"FormSubmitter:{base}_T1_form-应用映射").click().run()
    assert not at.exception, at.exception
    assert metrics(at) == [("新建", "1"), ("更新", "0"), ("拒绝", "0"), ("重复", "0")]
    assert any("已记住该映射" in s.value for s in at.success)
    archive = open_archive(db)
    cur = archive.cursor()
    try:
        remembered = remembered_mappings(cur)
    finally:
        cur.close()
    assert remembered[header_signature(["姓名X", "号码X", "备忘"])] == ("T1", {"姓名X": "name", "号码X": "phone", "备忘": "note"})
    assert header_signature(["姓名X", "号码X", "备忘", PROBLEM_COLUMN]) in remembered  # the rejected-rows file too

    at.button(key="imp_confirm").click().run()
    assert q(archive, "SELECT note FROM customers WHERE name = '赵六'") == "老客户"
    # next time, also from the CLI, the same headers import by themselves
    again = write_xlsx(tmp_path / "odd2.xlsx", {"名单": [["姓名X", "号码X", "备忘"], ["钱七", "13800000010", None]]})
    report = import_path(archive, again, user="cli")
    assert [(b.template, b.created) for b in report.batches] == [("T1", 1)]


def test_mapping_step_gives_a_field_one_value_for_the_sheet(page, tmp_path) -> None:
    db = tmp_path / "crm.duckdb"
    data = write_xlsx(tmp_path / "展会.xlsx", {"登记": [["姓名X", "号码X"], ["赵六", "13800000009"]]})
    at = upload(page(db), ("展会.xlsx", data.read_bytes()))
    (entry,) = at.session_state["imp_entries"].values()
    base = f"imp_map_{entry.key}_登记"
    at.selectbox(key=f"{base}_tpl").set_value("T1")
    at.selectbox(key=f"{base}_T1_col0").set_value("客户姓名＊")
    at.selectbox(key=f"{base}_T1_col1").set_value("联系电话")
    at.selectbox(key=f"{base}_T1_const_field").set_value("客户来源")
    at.text_input(key=f"{base}_T1_const_value").set_value("展会")
    at.button(key=f"FormSubmitter:{base}_T1_form-应用映射").click().run()
    assert not at.exception, at.exception
    at.button(key="imp_confirm").click().run()
    assert q(open_archive(db), "SELECT source FROM customers WHERE name = '赵六'") == "展会"


def test_mapping_with_a_field_twice_is_refused(page, tmp_path) -> None:
    data = write_xlsx(tmp_path / "odd.xlsx", {"名单": [["姓名X", "号码X"], ["赵六", "13800000009"]]})
    at = upload(page(), ("odd.xlsx", data.read_bytes()))
    (entry,) = at.session_state["imp_entries"].values()
    base = f"imp_map_{entry.key}_名单"
    at.selectbox(key=f"{base}_T1_col0").set_value("客户姓名＊")
    at.selectbox(key=f"{base}_T1_col1").set_value("客户姓名＊")
    at.button(key=f"FormSubmitter:{base}_T1_form-应用映射").click().run()
    assert any("同一字段被选给了多列" in e.value for e in at.error)
    assert not at.session_state["imp_entries"][entry.key].overrides


# ------------------------------------------------------------------ crm.imports.preview
def test_build_recognition_and_missing_required() -> None:
    headers = {0: "A", 1: "B", 2: "C"}
    rec = V.build_recognition("T2", 3, headers, {0: "name", 1: None, 2: "date"})
    assert rec.template.code == "T2" and rec.header_row == 3 and rec.columns == {0: "name", 2: "date"}
    assert rec.via_mapping and rec.ignored == ["B"]
    assert V.missing_required("T2", rec.columns.values()) == ["交易类型/金额(元)/订单状态"]
    assert V.missing_required("T1", ["name"]) == []  # a customer may come without any contact
    with pytest.raises(V.MappingError, match="至少"):
        V.build_recognition("T1", 0, headers, {0: None})
    with pytest.raises(V.MappingError, match="未知模板"):
        V.build_recognition("T9", 0, headers, {0: "name"})


def test_suggest_mapping_matches_aliases() -> None:
    from crm.imports.templates import TEMPLATES
    got = V.suggest_mapping(TEMPLATES["T1"], {0: "客户名称", 1: "手机号", 2: "随便", 3: "姓名"})
    assert got == {0: "name", 1: "phone", 2: None, 3: None}  # a field is suggested once


def test_old_values_are_masked_for_a_sales_user_on_others_customers(archive: Archive, tmp_path) -> None:
    head = ["客户编号", "客户姓名", "联系电话", "负责人"]
    import_path(archive, write_xlsx(tmp_path / "a.xlsx", {"客户档案": [head, ["C1", "张小明", "13812345678", "王五"],
                                                                       ["C2", "李小红", "13912345678", "小李"]]}), user="admin")
    wb = read_workbook(write_xlsx(tmp_path / "b.xlsx", {"客户档案": [head, ["C1", "张大明", "13812345670", "王五"],
                                                                     ["C2", "李大红", "13912345670", "小李"]]}))
    entry = V.UploadEntry("k", "b.xlsx", 1, b"", wb)
    V.preview(archive, entry, "小李", V.archive_stamp(archive))
    (batch,) = entry.preview.batches
    sales = V.changes_frame(archive, Actor("小李", "销售"), batch)
    by = {(r["客户编号"], r["字段"]): r for r in sales.to_dict("records")}
    assert by[("C1", "客户姓名")]["客户"] == "张*明" and by[("C2", "客户姓名")]["客户"] == "李小红"
    assert by[("C1", "客户姓名")]["原值"] == "张*明" and by[("C1", "联系电话")]["原值"] == "138****5678"
    assert by[("C2", "客户姓名")]["原值"] == "李小红"  # the user's own customer, in full
    assert by[("C1", "客户姓名")]["新值"] == "张大明"  # their own file
    admin = V.changes_frame(archive, Actor("admin", "管理员"), batch)
    assert "张小明" in set(admin["原值"])


def test_can_write_and_can_undo(archive: Archive) -> None:
    cur = archive.cursor()
    try:
        cur.execute("INSERT INTO users (username, display_name, role) VALUES ('看客', '看客', '只读')")
    finally:
        cur.close()
    assert not V.can_write(archive, Actor("看客", "只读"))
    assert V.can_write(archive, Actor("admin", "只读"))  # not registered yet (fresh archive, no log-in)
    assert V.can_write(archive, Actor("小李", "销售"))
    batch = {"status": "active", "user_name": "小王"}
    assert V.can_undo(Actor("主管A", "主管"), batch, True)
    assert not V.can_undo(Actor("小李", "销售"), batch, True)
    assert V.can_undo(Actor("小王", "销售"), batch, True)
    assert not V.can_undo(Actor("小王", "销售"), batch, False)
    assert not V.can_undo(Actor("主管A", "主管"), dict(batch, status="undone"), True)


def test_blank_template_bytes_open_with_openpyxl() -> None:
    book = openpyxl.load_workbook(io.BytesIO(V.blank_template_bytes("T3")))
    assert book.sheetnames[0] == "客户互动记录表" and "填写说明" in book.sheetnames
    assert len(openpyxl.load_workbook(io.BytesIO(V.blank_template_bytes("all"))).sheetnames) == 8


def test_strict_mode_writes_nothing_but_offers_the_rows_to_fix(page, tmp_path) -> None:
    db = tmp_path / "crm.duckdb"
    book = write_xlsx(tmp_path / "客户.xlsx", {"客户档案": [PROFILE_HEAD, ["C101", "张三", "13800000001", "甲公司"],
                                                       ["C102", None, "13800000002", "乙公司"]]})  # no name
    at = upload(page(db), ("客户.xlsx", book.read_bytes()))
    at.checkbox(key="imp_strict").check()
    at.button(key="imp_confirm").click().run()
    assert not at.exception
    assert q(open_archive(db), "SELECT count(*) FROM customers") == 0
    assert any("严格模式" in e.value and "客户.xlsx" in e.value for e in at.error)
    assert any(b.key.startswith("imp_rejects_") for b in at.download_button)


def test_conflicts_are_listed_kept_by_default_and_taken_by_a_tick(page, tmp_path) -> None:
    """Import → edit in the app → re-import the same file: the preview lists the conflict with both
    values and who changed the archive's; nothing changes unless the user ticks 采用表格值."""
    from crm.customers.edits import update_customer

    db = tmp_path / "crm.duckdb"
    archive = open_archive(db)
    book = write_xlsx(tmp_path / "客户.xlsx", {"客户档案": [PROFILE_HEAD, ["C101", "张三", "13800000001", "甲公司"],
                                                       ["C102", "李四", "13800000002", "乙公司"]]})
    import_path(archive, book, user="admin")
    update_customer(archive, Actor("admin", "管理员"), "C101", {"company": "甲集团"})
    at = upload(page(db), ("客户.xlsx", book.read_bytes()))
    assert metrics(at) == [("新建", "0"), ("更新", "0"), ("拒绝", "0"), ("重复", "0")]
    assert any("与档案冲突的字段（1 处）" in m.value for m in at.markdown)
    entry = next(iter(at.session_state["imp_entries"].values()))
    (conflict,) = entry.preview.batches[0].conflicts
    assert (conflict["archive"], conflict["sheet"]) == ("甲集团", "甲公司")
    # the whole file: take the sheet's values
    at.segmented_control(key=f"imp_conflicts_{entry.key}_客户档案_all").set_value("采用表格值").run()
    assert not at.exception
    assert metrics(at) == [("新建", "0"), ("更新", "1"), ("拒绝", "0"), ("重复", "0")]
    at.button(key="imp_confirm").click().run()
    assert q(archive, "SELECT company FROM customers WHERE customer_id = 'C101'") == "甲公司"


def test_history_offers_a_batchs_rejected_rows_again(page, tmp_path) -> None:
    db = tmp_path / "crm.duckdb"
    archive = open_archive(db)
    report = import_path(archive, tmp_path / "x.xlsx", user="admin", data=messy(tmp_path), file_name="客户.xlsx")
    bid = report.batches[0].batch_id
    assert V.batch_problems_download(archive, bid, Actor("小王", "销售")) is None  # a colleague's rows: not theirs
    name, data = V.batch_problems_download(archive, bid, Actor("admin", "管理员"))
    assert name == "客户_拒绝行.xlsx"
    sheet = openpyxl.load_workbook(io.BytesIO(data)).worksheets[0]
    assert any("李四" in str(c.value) for row in sheet.iter_rows() for c in row)
    at = page(db)
    assert any(b.key == f"imp_kept_rejects_{bid}" for b in at.get("download_button"))
