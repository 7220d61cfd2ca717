"""The import pipeline end to end: each template, linking, duplicates, conflicts, undo, strictness."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import write_xlsx

from crm.customers import activity
from crm.db import Archive, scalar
from crm.imports.batches import UndoError, undo_batch
from crm.imports.pipeline import import_path, remember_mapping
from crm.imports.reader import FileReadError

TODAY = dt.date(2026, 11, 22)
T1_HEAD = ["客户编号", "客户姓名", "联系电话", "电子邮箱", "公司", "地址", "负责人", "标签", "首次接触日期", "信用额度"]


def q(archive: Archive, sql: str, params: list | None = None) -> list[tuple]:
    cur = archive.cursor()
    try:
        return cur.execute(sql, params or []).fetchall()
    finally:
        cur.close()


def profiles(tmp_path: Path, rows: list[list], name: str = "p.xlsx") -> Path:
    return write_xlsx(tmp_path / name, {"客户档案": [T1_HEAD, *rows]})


def run(archive: Archive, path: Path, **kw):
    kw.setdefault("today", TODAY)
    return import_path(archive, path, user="tester", **kw)


@pytest.fixture
def three_customers(archive: Archive, tmp_path: Path) -> Archive:
    run(archive, profiles(tmp_path, [
        ["C001", "张伟", "13812345678", "zw@example.com", "甲公司", "广东省深圳市南山区", "王销售", "VIP", "2024-01-05", "¥50,000"],
        [None, "李娜", "13912345678", None, "乙公司", "杭州市西湖区", "王销售", None, None, None],
        [None, "王芳", None, "wf@qq.com", None, None, None, None, None, None],
    ], "base.xlsx"))
    return archive


def test_profiles_create_customers_with_clean_values(three_customers: Archive) -> None:
    rows = q(three_customers, "SELECT customer_id, name, phone, email, region, credit_limit, first_contact, name_initials "
                              "FROM customers ORDER BY name")
    by_name = {r[1]: r for r in rows}
    assert set(by_name) == {"张伟", "李娜", "王芳"}
    assert by_name["张伟"][0] == "C001"
    assert by_name["张伟"][4] == "广东" and by_name["李娜"][4] == "浙江"  # region derived from the address
    assert float(by_name["张伟"][5]) == 50000.0
    assert by_name["张伟"][6] == dt.date(2024, 1, 5)
    assert by_name["李娜"][0] == "C20261122001"  # generated: C + import day + sequence
    assert by_name["王芳"][0] == "C20261122002"
    assert by_name["张伟"][7] == "zw"
    assert q(three_customers, "SELECT tag FROM customer_tags WHERE customer_id = 'C001'") == [("VIP",)]


def test_same_customer_by_phone_or_email_updates_one_archive(three_customers: Archive, tmp_path: Path) -> None:
    report = run(three_customers, profiles(tmp_path, [
        [None, "李娜", "+86 139 1234 5678", "lina@163.com", "丙公司", None, None, None, None, None],  # same phone
        [None, "王芳", None, "WF@QQ.COM", "丁公司", None, None, None, None, None],  # same email, other case
    ]))
    b = report.batches[0]
    assert (b.created, b.updated) == (0, 2)
    assert q(three_customers, "SELECT count(*) FROM customers")[0][0] == 3
    assert q(three_customers, "SELECT email, company FROM customers WHERE name = '李娜'") == [("lina@163.com", "丙公司")]
    # overwriting a non-empty value is reported, not silent
    conflict = [p for p in b.problems if "原为「乙公司」" in p.message]
    assert conflict and conflict[0].severity == "warning" and conflict[0].row == 2
    old_new = {(c["field"], c["old"], c["new"]) for c in b.changes}
    assert ("company", "乙公司", "丙公司") in old_new and ("email", None, "lina@163.com") in old_new


def test_duplicates_inside_one_file_are_merged_and_differences_reported(archive: Archive, tmp_path: Path) -> None:
    report = run(archive, profiles(tmp_path, [
        [None, "赵强", "13700001111", None, "甲公司", None, None, None, None, None],
        [None, "赵强", "137-0000-1111", "zq@x.com", "乙公司", None, None, None, None, None],
    ]))
    b = report.batches[0]
    assert b.created == 1
    assert q(archive, "SELECT email, company FROM customers") == [("zq@x.com", "乙公司")]
    messages = " ".join(p.message for p in b.problems)
    assert "与第 2 行是同一客户" in messages and "甲公司" in messages


def test_undo_restores_updated_fields_and_removes_created_rows(three_customers: Archive, tmp_path: Path) -> None:
    report = run(three_customers, profiles(tmp_path, [
        ["C001", "张伟", None, None, "新公司", None, None, "紧急需求", None, None],
        [None, "新客户", "13600001111", None, None, None, None, None, None, None],
    ]))
    batch = report.batches[0].batch_id
    assert q(three_customers, "SELECT company FROM customers WHERE customer_id = 'C001'") == [("新公司",)]
    result = undo_batch(three_customers, batch, "tester")
    assert result.restored >= 1 and result.deleted.get("customers") == 1
    assert q(three_customers, "SELECT company FROM customers WHERE customer_id = 'C001'") == [("甲公司",)]
    assert q(three_customers, "SELECT count(*) FROM customers WHERE name = '新客户'")[0][0] == 0
    assert q(three_customers, "SELECT tag FROM customer_tags WHERE customer_id = 'C001'") == [("VIP",)]
    assert q(three_customers, "SELECT status, undone_by FROM import_batches WHERE batch_id = ?", [batch]) == [("undone", "tester")]
    with pytest.raises(UndoError, match="已经撤销"):
        undo_batch(three_customers, batch, "tester")


def test_undo_keeps_a_value_changed_again_later(three_customers: Archive, tmp_path: Path) -> None:
    first = run(three_customers, profiles(tmp_path, [["C001", "张伟", None, None, "二号公司", None, None, None, None, None]], "a.xlsx"))
    run(three_customers, profiles(tmp_path, [["C001", "张伟", None, None, "三号公司", None, None, None, None, None]], "b.xlsx"))
    result = undo_batch(three_customers, first.batches[0].batch_id, "tester")
    assert result.kept and q(three_customers, "SELECT company FROM customers WHERE customer_id='C001'") == [("三号公司",)]


def test_undo_refuses_when_later_data_depends_on_created_customers(archive: Archive, tmp_path: Path) -> None:
    created = run(archive, profiles(tmp_path, [[None, "周杰", "13500002222", None, None, None, None, None, None, None]]))
    run(archive, write_xlsx(tmp_path / "t.xlsx", {"交易": [
        ["客户名称", "联系方式", "交易类型", "购买时间", "金额"], ["周杰", "13500002222", "购买", "2026-10-01", 100]]}))
    with pytest.raises(UndoError, match="已被后续数据引用"):
        undo_batch(archive, created.batches[0].batch_id, "tester")
    assert q(archive, "SELECT count(*) FROM customers")[0][0] == 1


def test_transactions_link_by_id_phone_email_and_unique_name(three_customers: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "t.xlsx", {"交易记录": [
        ["客户关系管理记录及分析表"],
        ["客户编号", "客户名称", "联系方式", "交易类型", "购买时间", "金额(元)", "评价等级", "下次跟进日期"],
        ["C001", "张伟", None, "购买", dt.date(2026, 10, 1), "¥1,200.50", "五星", "2026-12-01"],
        [None, "李娜（采购部）", "13912345678", "采购", "2026.10.02", 300, None, None],
        [None, "王芳", "wf@qq.com", "续约", 46298, 800, "★★★", None],
        [None, "王芳", None, "咨询", "2026年10月4日", None, None, None],
        ["C999", "无名", None, "购买", "2026-10-05", 10, None, None],
        [None, "不存在的人", None, "购买", "2026-10-05", 10, None, None],
        [None, "合计", None, None, None, 2310.5, None, None],
    ]})
    b = run(three_customers, path).batches[0]
    assert b.template == "T2" and b.rows_read == 6 and b.created == 6
    # buyers not yet archived are created from the row (an order export's customers), and said so
    assert b.rejected_rows == []
    by_row = {p.row: p for p in b.problems if p.severity == "warning"}
    assert "按客户编号新建客户 C999" in by_row[7].message
    assert "按客户名称新建客户" in by_row[8].message and "待跟进" in by_row[8].message
    assert q(three_customers, "SELECT count(*) FROM customers WHERE customer_id = 'C999' OR name = '不存在的人'")[0][0] == 2
    warning = [p for p in b.problems if p.row == 4 and p.severity == "warning"]
    assert warning and "李娜" in warning[0].message  # linked by phone although the name differs
    rows = q(three_customers, "SELECT customer_id, kind, date, amount, rating FROM transactions ORDER BY source_row")
    assert rows[0][0] == "C001" and float(rows[0][3]) == 1200.5 and rows[0][4] == 5
    assert rows[1][1] == "购买" and rows[2][2] == dt.date(2026, 10, 3) and rows[2][4] == 3
    assert q(three_customers, "SELECT customer_id, due, status, origin FROM follow_ups") == [
        ("C001", dt.date(2026, 12, 1), "待跟进", "T2")]


def test_reimporting_the_same_transactions_adds_nothing(three_customers: Archive, tmp_path: Path) -> None:
    rows = [["客户编号", "客户名称", "交易类型", "购买时间", "金额"],
            ["C001", "张伟", "购买", "2026-10-01", 100], ["C001", "张伟", "购买", "2026-10-01", 100]]
    first = run(three_customers, write_xlsx(tmp_path / "t.xlsx", {"交易": rows})).batches[0]
    assert first.created == 2  # two equal purchases in one file are both real
    again = run(three_customers, write_xlsx(tmp_path / "t2.xlsx", {"交易": rows + [["C001", "张伟", "购买", "2026-10-01", 100]]})).batches[0]
    assert (again.created, again.duplicates) == (1, 2)
    assert q(three_customers, "SELECT count(*) FROM transactions")[0][0] == 3


@pytest.mark.parametrize("summary", ["current", "stale"])
def test_copies_are_found_whatever_newer_records_and_the_summarys_state(three_customers: Archive, tmp_path: Path,
                                                                       summary: str) -> None:
    """The duplicate check skips rows newer than the customer's newest record only while the
    activity summary is current; copies of older records are found either way, and a sheet of new
    months adds everything."""
    activity.ensure_current(three_customers)  # as the app and the command line do on opening
    head = ["客户编号", "客户名称", "交易类型", "购买时间", "金额"]
    october = [head, ["C001", "张伟", "购买", "2026-10-01", 100], ["C001", "张伟", "退货", "2026-10-03", -20]]
    run(three_customers, write_xlsx(tmp_path / "oct.xlsx", {"交易": october}))
    run(three_customers, write_xlsx(tmp_path / "nov.xlsx", {"交易": [head, ["C001", "张伟", "购买", "2026-11-20", 300]]}))
    if summary == "stale":  # a record written behind the app's back: the summary no longer matches
        with three_customers.transaction() as cur:
            cur.execute("INSERT INTO transactions (customer_id, kind, date, amount) VALUES ('C001', '咨询', '2026-12-24', NULL)")
    cur = three_customers.cursor()
    assert activity.is_current(cur) is (summary == "current")
    cur.close()
    again = run(three_customers, write_xlsx(tmp_path / "oct2.xlsx", {"交易": october + [
        ["C001", "张伟", "购买", "2026-12-28", 50]]})).batches[0]
    assert (again.created, again.duplicates) == (1, 2)
    nov_again = run(three_customers, write_xlsx(tmp_path / "nov2.xlsx", {"交易": [
        head, ["C001", "张伟", "购买", "2026-11-20", 300]]})).batches[0]
    assert (nov_again.created, nov_again.duplicates) == (0, 1)


def test_ambiguous_name_is_rejected_with_reason(archive: Archive, tmp_path: Path) -> None:
    run(archive, profiles(tmp_path, [[None, "张伟", "13812345678", None, None, None, None, None, None, None],
                                     [None, "张伟", "13812345679", None, None, None, None, None, None, None]]))
    b = run(archive, write_xlsx(tmp_path / "t.xlsx", {"交易": [
        ["客户名称", "交易类型", "购买时间", "金额"], ["张伟", "购买", "2026-10-01", 1]]})).batches[0]
    assert b.rejected_rows == [2] and "多位" in b.problems[0].message


def test_interactions_plan_follow_ups_from_plan_text(three_customers: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "i.xlsx", {"互动": [
        ["客户ID", "客户名称", "联系信息", "互动内容", "沟通方式", "互动日期", "下次联系计划", "结果"],
        ["C001", "张伟", None, "介绍新品", "电话沟通", "2026-11-01", "2026-11-20 电话回访", "有意向"],
        ["C001", "张伟", None, "上门", "上门拜访", "2026-11-02", "再约", None],
        ["C001", "张伟", None, "发资料", "飞鸽传书", "2026-11-03", None, None],
    ]})
    b = run(three_customers, path).batches[0]
    assert b.template == "T3" and b.created == 3 and not b.rejected_rows
    assert q(three_customers, "SELECT channel FROM interactions ORDER BY date") == [("电话",), ("拜访",), ("飞鸽传书",)]
    assert q(three_customers, "SELECT due, content, origin FROM follow_ups") == [
        (dt.date(2026, 11, 20), "2026-11-20 电话回访", "T3")]


def test_tracking_sheet_updates_customer_and_plans_one_follow_up(three_customers: Archive, tmp_path: Path) -> None:
    rows = [["客户编号", "客户姓名", "联系方式", "首次接触日期", "最后一次互动", "互动频率", "产品/服务", "客户满意度",
             "关键问题", "下次跟进日期"],
            ["C001", "张伟", None, "2023-12-01", "2026-11-10", "每周", "ERP", "满意", "价格", "2026-11-25"]]
    b = run(three_customers, write_xlsx(tmp_path / "k.xlsx", {"客户跟踪表": rows})).batches[0]
    assert b.template == "T4" and b.updated == 1 and b.created == 1
    row = q(three_customers, "SELECT first_contact, last_interaction, contact_frequency, tracked_product, satisfaction "
                             "FROM customers WHERE customer_id = 'C001'")[0]
    assert row == (dt.date(2023, 12, 1), dt.date(2026, 11, 10), "每周", "ERP", 4)
    again = run(three_customers, write_xlsx(tmp_path / "k2.xlsx", {"客户跟踪表": rows})).batches[0]
    assert again.created == 0  # no second follow-up for the same customer and day
    assert q(three_customers, "SELECT count(*) FROM follow_ups")[0][0] == 1


def test_follow_up_plan_statuses_and_reimport_updates_status(three_customers: Archive, tmp_path: Path) -> None:
    head = ["客户", "跟进时间", "跟进方式", "跟进内容", "跟进目标", "负责人", "状态"]
    b = run(three_customers, write_xlsx(tmp_path / "f.xlsx", {"跟进计划": [
        head, ["C001", "2026-11-30", "电话", "报价", "达成合作", None, None],
        ["李娜", "2026-12-01", "面谈", "演示", None, "赵主管", "进行中"]]})).batches[0]
    assert b.template == "T5" and b.created == 2
    assert q(three_customers, "SELECT owner, status FROM follow_ups ORDER BY due") == [("王销售", "待跟进"), ("赵主管", "待跟进")]
    again = run(three_customers, write_xlsx(tmp_path / "f2.xlsx", {"跟进计划": [
        head, ["C001", "2026-11-30", "电话", "报价", "达成合作", None, "已完成"]]})).batches[0]
    assert (again.created, again.updated) == (0, 1)
    assert q(three_customers, "SELECT status, done_at IS NOT NULL FROM follow_ups WHERE content = '报价'") == [("已完成", True)]
    undo_batch(three_customers, again.batch_id, "tester")
    assert q(three_customers, "SELECT status FROM follow_ups WHERE content = '报价'") == [("待跟进",)]


def test_complaints_create_unknown_customer_with_contact_and_update_by_id(three_customers: Archive, tmp_path: Path) -> None:
    head = ["受理编号", "受理日期", "客户姓名", "联系方式", "客户地址", "投诉类型", "投诉事由", "投诉受理", "不予受理原因",
            "紧急程度", "承诺办理期限", "实际处理期限", "损失金额", "客户满意度评价"]
    b = run(three_customers, write_xlsx(tmp_path / "c.xlsx", {"投诉登记": [
        ["客户投诉登记表"], head,
        ["TS001", "2026-11-01", "张伟", None, None, "产品质量", "屏幕坏了", None, None, "紧急", "2026-11-05", None, "1,000", None],
        [None, "2026-11-02", "陈新", "13300003333", "上海市浦东新区", "服务", "态度差", "不予受理", None, None, None, None, None, None],
        [None, "2026-11-03", "没联系方式", None, None, "服务", "x", None, None, None, None, None, None, None],
    ]})).batches[0]
    assert b.template == "T6" and b.created == 2 and b.rejected_rows == [5]
    assert any("新建客户" in p.message for p in b.problems)
    assert any(p.row == 4 and p.severity == "warning" and "不予受理原因" in p.message for p in b.problems)
    new_customer = q(three_customers, "SELECT customer_id, phone, region FROM customers WHERE name = '陈新'")
    assert new_customer and new_customer[0][1:] == ("13300003333", "上海")
    rows = q(three_customers, "SELECT complaint_id, kind, accepted, urgency, loss FROM complaints ORDER BY date")
    assert rows[0] == ("TS001", "商品", True, "急", 1000) and rows[1][0] == "TS20261102001" and rows[1][2] is False
    upd = run(three_customers, write_xlsx(tmp_path / "c2.xlsx", {"投诉": [
        ["受理编号", "受理日期", "客户姓名", "投诉类型", "投诉事由", "实际处理期限", "处理方式"],
        ["TS001", "2026-11-01", "张伟", "商品", "屏幕坏了", "2026-11-04", "换货"]]})).batches[0]
    assert (upd.created, upd.updated) == (0, 1)
    assert q(three_customers, "SELECT resolved_on, resolution FROM complaints WHERE complaint_id='TS001'") == [
        (dt.date(2026, 11, 4), "换货")]


def test_surveys_scores_in_words_and_numbers(three_customers: Archive, tmp_path: Path) -> None:
    b = run(three_customers, write_xlsx(tmp_path / "s.xlsx", {"客户意见调查表": [
        ["客户名称", "调查日期", "调查方式", "服务质量", "服务态度", "办事效率", "服务人员的专业水平", "产品质量", "包装设计", "意见建议"],
        ["张伟", "2026-11-01", "问卷", "非常满意", "满意", 3, "一般", "不满意", "非常不满意", "包装太大"],
        ["李娜", "2026-11-01", "电话", None, None, None, None, None, None, None],
    ]})).batches[0]
    assert b.template == "T7" and b.created == 1 and b.rejected_rows == [3]
    assert q(three_customers, "SELECT via, service_quality, service_attitude, efficiency, professionalism, product_quality, "
                              "packaging FROM surveys") == [("问卷", 5, 4, 3, 3, 2, 1)]


def test_multi_sheet_workbook_links_sheets_in_one_go(archive: Archive, tmp_path: Path) -> None:
    # the transaction sheet comes first in the workbook but refers to customers of the profile sheet
    path = write_xlsx(tmp_path / "all.xlsx", {
        "交易": [["客户编号", "客户名称", "交易类型", "购买时间", "金额"], ["C100", "孙丽", "购买", "2026-09-09", 99]],
        "档案": [["客户编号", "客户姓名", "手机"], ["C100", "孙丽", "13800001234"]],
        "说明": [["本工作簿用于……"]],
    })
    report = run(archive, path)
    assert [b.template for b in report.batches] == ["T1", "T2"]
    assert [b.created for b in report.batches] == [1, 1]
    assert [s.sheet for s in report.skipped_sheets] == ["说明"]


def test_strict_mode_writes_nothing_when_a_row_is_rejected(archive: Archive, tmp_path: Path) -> None:
    path = profiles(tmp_path, [[None, "好", "13800001234", None, None, None, None, None, None, None],
                               [None, None, "13800001235", None, "坏公司", None, None, None, None, None]])  # no name
    report = run(archive, path, strict=True)
    assert report.aborted and "严格模式" in report.aborted
    assert q(archive, "SELECT count(*) FROM customers")[0][0] == 0
    assert q(archive, "SELECT count(*) FROM import_batches")[0][0] == 0


def test_dry_run_reports_but_writes_nothing(archive: Archive, tmp_path: Path) -> None:
    report = run(archive, profiles(tmp_path, [[None, "好", "13800001234", None, None, None, None, None, None, None]]),
                 dry_run=True)
    assert report.batches[0].created == 1
    assert q(archive, "SELECT count(*) FROM customers")[0][0] == 0
    assert q(archive, "SELECT count(*) FROM audit_log")[0][0] == 0


def test_headers_only_and_unrecognised_sheets_are_skipped_with_reason(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "h.xlsx", {"档案": [T1_HEAD], "其他": [["序号", "品名", "规格"], [1, "a", "b"]]})
    report = run(archive, path)
    assert not report.batches
    reasons = {s.sheet: s.reason for s in report.skipped_sheets}
    assert "只有表头" in reasons["档案"] and "未找到可识别的表头" in reasons["其他"]


def test_empty_workbook_is_a_read_error(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "empty.xlsx", {"Sheet1": []})
    with pytest.raises(FileReadError, match="empty.xlsx.*没有任何数据"):
        run(archive, path)


def test_huge_cell_and_formula_cells(archive: Archive, tmp_path: Path) -> None:
    path = profiles(tmp_path, [[None, "长备注", "13800001234", None, "x" * 100_000, None, None, None, None, None],
                               [None, "公式", "13800001235", None, "=A1", None, None, None, None, None]])
    b = run(archive, path).batches[0]
    assert b.rejected_rows == [2]
    # an .xlsx cell holds at most 32,767 characters, so that is what arrives
    assert "内容过长（32767 字，上限 500 字）" == b.problems[0].message and b.problems[0].column == "公司"
    # an uncomputed formula arrives without its value: the company stays empty, the row is kept
    assert q(archive, "SELECT name, company FROM customers") == [("公式", None)]


def test_remembered_mapping_imports_unknown_headers(archive: Archive, tmp_path: Path) -> None:
    rows = [["名字", "手机号码啊", "备注说明"], ["钱多", "13800001234", "老客户"]]
    path = write_xlsx(tmp_path / "odd.xlsx", {"Sheet1": rows})
    assert not run(archive, path).batches
    remember_mapping(archive, rows[0], "T1", {"名字": "name", "手机号码啊": "phone", "备注说明": "note"}, "tester")
    b = run(archive, path).batches[0]
    assert b.template == "T1" and b.created == 1
    assert q(archive, "SELECT name, phone, note FROM customers") == [("钱多", "13800001234", "老客户")]


def test_every_batch_is_audited(three_customers: Archive) -> None:
    rows = q(three_customers, "SELECT user_name, action, entity FROM audit_log")
    assert rows == [("tester", "import", "batch")]
    assert scalar(three_customers.cursor(), "SELECT user_name FROM import_batches") == "tester"


def test_csv_cell_of_100k_characters_is_rejected_with_its_length(archive: Archive, tmp_path: Path) -> None:
    path = tmp_path / "long.csv"
    path.write_text("客户姓名,联系电话,备注\n甲,13800001234," + "长" * 100_000 + "\n乙,13800001235,短\n", encoding="utf-8")
    b = run(archive, path).batches[0]
    assert b.rejected_rows == [2] and b.problems[0].message == "内容过长（100000 字，上限 5000 字）"
    assert q(archive, "SELECT name FROM customers") == [("乙",)]


def test_gb18030_csv_imports(archive: Archive, tmp_path: Path) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes("客户姓名,手机,地址\n欧阳娜娜,13800001234,北京市朝阳区\n".encode("gb18030"))
    b = run(archive, path).batches[0]
    assert b.created == 1
    assert q(archive, "SELECT name, region FROM customers") == [("欧阳娜娜", "北京")]


def test_undo_keeps_search_in_step(three_customers: Archive, tmp_path: Path) -> None:
    from crm.auth.personal import PersonalData, actor_for
    from crm.customers.search import search_customers

    reader = PersonalData(three_customers, actor_for(three_customers, "cli"))
    batch = run(three_customers, profiles(tmp_path, [["C001", "张伟", None, None, "独角兽公司", None, None, "新标签", None, None]]))
    assert [r["customer_id"] for r in search_customers(reader, "独角兽").rows] == ["C001"]
    assert [r["customer_id"] for r in search_customers(reader, "新标签").rows] == ["C001"]
    undo_batch(three_customers, batch.batches[0].batch_id, "tester")
    assert search_customers(reader, "独角兽").rows == [] and search_customers(reader, "新标签").rows == []
    assert [r["customer_id"] for r in search_customers(reader, "甲公司").rows] == ["C001"]


def test_undo_of_a_rename_restores_the_pinyin_search_keys(three_customers: Archive, tmp_path: Path) -> None:
    report = run(three_customers, profiles(tmp_path, [["C001", "李雷", None, None, None, None, None, None, None, None]]))
    assert q(three_customers, "SELECT name, name_initials FROM customers WHERE customer_id = 'C001'") == [("李雷", "ll")]
    undo_batch(three_customers, report.batches[0].batch_id, "tester")
    assert q(three_customers, "SELECT name, name_pinyin, name_initials FROM customers WHERE customer_id = 'C001'") == [
        ("张伟", "zhangwei", "zw")]
