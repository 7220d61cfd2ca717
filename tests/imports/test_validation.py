"""crm.imports.validation: a recognised sheet's rows → cleaned columns and per-row problems that name the
spreadsheet row, the header as written, the raw value and the reason."""
from __future__ import annotations

import datetime as dt

import pytest

from crm.imports.reader import RawSheet
from crm.imports.recognise import Recognition, data_rows, recognise_sheet
from crm.imports.validation import ERROR, WARNING, CleanSheet, Problem, clean_sheet


def check(rows: list[list], expect: str | None = None) -> CleanSheet:
    sheet = RawSheet("Sheet1", rows)
    rec = recognise_sheet(sheet)
    assert isinstance(rec, Recognition), getattr(rec, "reason", rec)
    if expect:
        assert rec.template.code == expect
    return clean_sheet(rec, data_rows(sheet, rec))


def rejected_rows(sheet: CleanSheet) -> list[int]:
    return sorted(sheet.row_numbers[i] for i in sheet.rejected)


def problems_of(sheet: CleanSheet, row: int, severity: str | None = None) -> list[Problem]:
    return [p for p in sheet.problems if p.row == row and (severity is None or p.severity == severity)]


def only_error(sheet: CleanSheet, row: int) -> Problem:
    errors = problems_of(sheet, row, ERROR)
    assert len(errors) == 1, errors
    return errors[0]


# ---------------------------------------------------------------- T1
T1_HEAD = ["客户编号", "客户姓名*", "联系电话（必填）", "电子邮箱", "性别", "标签", "首次接触日期"]


def test_t1_clean_values() -> None:
    sheet = check([
        ["客户档案"],
        T1_HEAD,
        ["c001", "张三", 13812345678.0, "ZS@Example.com", "男性", "VIP、制造业", "2024/5/10"],
        [None, "李四", "+86 139-8765-4321", None, None, None, 45413.0],
    ], "T1")
    assert sheet.row_numbers == [3, 4]
    assert sheet.rejected == set() and sheet.problems == []
    assert sheet.column("customer_id") == ["C001", None]
    assert sheet.column("phone") == ["13812345678", "13987654321"]
    assert sheet.column("email") == ["zs@example.com", None]
    assert sheet.column("gender") == ["男", None]
    assert sheet.column("tags") == [("VIP", "制造业"), None]
    assert sheet.column("first_contact") == [dt.date(2024, 5, 10), dt.date(2024, 5, 1)]
    assert sheet.headers["name"] == "客户姓名*" and sheet.headers["phone"] == "联系电话（必填）"
    assert sheet.accepted() == [0, 1] and len(sheet) == 2


def test_required_field_empty_is_rejected_with_the_header_as_written() -> None:
    sheet = check([T1_HEAD, ["C001", None, "13812345678", None, None, None, None],
                   ["C002", "王五", "13812345679", None, None, None, None]], "T1")
    assert rejected_rows(sheet) == [2]
    problem = only_error(sheet, 2)
    assert problem.message == "必填项为空"
    assert problem.column == "客户姓名*"
    assert problem.value == ""
    assert str(problem) == "第 2 行「客户姓名*」：必填项为空"


def test_blank_like_values_count_as_empty() -> None:
    sheet = check([T1_HEAD, ["C001", "-", "13812345678", None, None, None, None],
                   ["C002", "  ", "13812345679", None, None, None, None]])
    assert rejected_rows(sheet) == [2, 3]
    assert all(p.message == "必填项为空" for p in sheet.problems)


def test_t1_without_phone_or_email_lands() -> None:
    """Many real lists have no contact at all: the row is kept (the pipeline files the customer as 待跟进)."""
    sheet = check([T1_HEAD,
                   [None, "张三", None, None, None, None, None],
                   [None, "李四", None, "li@x.cn", None, None, None],
                   ["", "赵六", "", "", "", "", ""]])  # empty cells as calamine delivers them
    assert rejected_rows(sheet) == []
    assert check([["客户姓名", "手机"], ["张三", None]], "T1").rejected == set()


def test_t1_phone_cell_holding_an_email_is_accepted() -> None:
    sheet = check([T1_HEAD,
                   ["C001", "张三", "ZS@Example.com", None, None, None, None],
                   ["C002", "李四", "13812345678 / Li@X.com", None, None, None, None],
                   ["C003", "王五", "电话：13912345678 邮箱：ww@b.cn", "other@b.cn", None, None, None]])
    assert sheet.rejected == set()
    assert [p for p in sheet.problems if p.severity == ERROR] == []
    assert sheet.column("phone") == [None, "13812345678", "13912345678"]
    assert sheet.column("email") == ["zs@example.com", "li@x.com", "other@b.cn"]  # the email column wins


def test_t1_phone_cell_holding_an_email_without_an_email_column() -> None:
    sheet = check([["客户姓名", "联系方式"], ["张三", "zs@b.cn"]], "T1")
    assert sheet.rejected == set()
    assert sheet.column("email") == ["zs@b.cn"] and sheet.column("phone") == [None]


def test_t1_phone_cell_with_an_email_does_not_excuse_a_missing_name() -> None:
    sheet = check([T1_HEAD,
                   ["C001", None, "zs@b.cn", None, None, None, None],
                   ["C002", "李四", "li@b.cn", None, None, None, "2024-02-30"]])
    assert rejected_rows(sheet) == [2]
    assert only_error(sheet, 2).message == "必填项为空" and only_error(sheet, 2).column == "客户姓名*"
    (late,) = [p for p in sheet.problems if p.row == 3]  # an optional date: left out, the row lands
    assert late.severity == WARNING and late.dropped and "不存在的日期" in late.message


def test_t1_invalid_phone_is_kept_aside_with_a_warning_and_the_row_lands() -> None:
    sheet = check([T1_HEAD, ["C001", "张三", "12345", "zs@b.cn", None, None, None],
                   ["C002", "李四", "1.38123E+10", None, None, None, None],
                   ["C003", "王五", "3177312", None, None, None, None]])
    assert rejected_rows(sheet) == []
    assert sheet.column("phone") == [None, None, None]
    assert sheet.column("other_contacts") == ["12345", "1.38123E+10", "3177312"]
    notes = {p.row: p for p in sheet.problems}
    assert notes[2].severity == WARNING and notes[2].value == "12345" and "5 位" in notes[2].message
    assert "科学计数法" in notes[3].message and "其他联系方式" in notes[3].message
    assert "缺少区号" in notes[4].message


def test_t1_two_numbers_in_one_cell_keep_both() -> None:
    sheet = check([T1_HEAD, ["C001", "张三", "13376702886\\15917588328", None, None, None, None],
                   ["C002", "李四", "13812345678 / 13912345678、li@x.cn", None, None, None, None]])
    assert sheet.rejected == set()
    assert sheet.column("phone") == ["13376702886", "13812345678"]
    assert sheet.column("other_contacts") == ["15917588328", "13912345678"]
    assert sheet.column("email") == [None, "li@x.cn"]


def test_t1_unknown_optional_enum_is_a_warning() -> None:
    sheet = check([T1_HEAD, ["C001", "张三", "13812345678", None, "中性", None, None]])
    assert sheet.rejected == set()
    [problem] = sheet.problems
    assert problem.severity == WARNING and problem.column == "性别" and problem.value == "中性"
    assert "男/女/未知" in problem.message
    assert sheet.column("gender") == [None]


def test_t1_formula_error_and_overlong_text_reject_the_row() -> None:
    head = ["客户姓名", "联系电话", "公司", "备注"]
    sheet = check([head, ["张三", "13812345678", "#REF!", None],
                   ["李四", "13812345679", None, "长" * 100_000],
                   ["王五", "13812345670", "甲公司", "短"]])
    assert rejected_rows(sheet) == [2, 3]
    assert "公式错误" in only_error(sheet, 2).message and only_error(sheet, 2).column == "公司"
    problem = only_error(sheet, 3)
    assert problem.column == "备注" and "100000" in problem.message
    assert problem.value.endswith("…") and len(problem.value) <= 60  # the raw value, shortened


# ---------------------------------------------------------------- T2
T2_HEAD = ["客户名称", "联系方式", "交易类型", "交易日期", "金额（元）", "满意度"]


def test_t2_purchase_without_amount_is_rejected() -> None:
    sheet = check([T2_HEAD,
                   ["张三", "13812345678", "购买", "2024-05-10", None, None],
                   ["李四", None, "咨询", "2024-05-10", None, None],
                   ["王五", None, "采购", "2024-05-10", "¥1,200.50", "五星"]], "T2")
    assert rejected_rows(sheet) == [2]
    problem = only_error(sheet, 2)
    assert problem.column == "金额（元）" and "购买" in problem.message and "必填" in problem.message
    assert sheet.column("kind") == ["购买", "咨询", "购买"]
    assert sheet.get("amount", 2) == 1200.5 and sheet.get("rating", 2) == 5
    assert sheet.column("contact_phone") == ["13812345678", None, None]


def test_t2_negative_amount_only_for_returns() -> None:
    sheet = check([T2_HEAD,
                   ["张三", None, "退货", "2024-05-10", -300, None],
                   ["李四", None, "退款", "2024-05-10", "(300)", None],
                   ["王五", None, "购买", "2024-05-10", -300, None],
                   ["赵六", None, "续约", "2024-05-10", "-1", None]])
    assert rejected_rows(sheet) == [4, 5]
    assert "负数" in only_error(sheet, 4).message and only_error(sheet, 4).value == "-300"
    assert sheet.column("amount")[:2] == [-300.0, -300.0]


def test_t2_unknown_kind_and_bad_date_are_rejected_with_their_values() -> None:
    sheet = check([T2_HEAD,
                   ["张三", None, "赠送", "2024-05-10", 1, None],
                   ["李四", None, "购买", "下周", 1, None],
                   ["王五", None, None, "2024-05-10", 1, None]])
    assert rejected_rows(sheet) == [2, 3]  # a row without a kind is a purchase (order exports have none)
    p = only_error(sheet, 2)
    assert (p.column, p.value) == ("交易类型", "赠送") and "购买/咨询/投诉/退货/续约" in p.message
    p = only_error(sheet, 3)
    assert (p.column, p.value) == ("交易日期", "下周") and "日期" in p.message
    assert sheet.column("kind")[2] == "购买"


def test_t2_bad_optional_contact_is_a_warning_and_the_row_stays() -> None:
    sheet = check([T2_HEAD, ["张三", "找前台", "咨询", "2024-05-10", None, None]])
    assert sheet.rejected == set()
    [problem] = sheet.problems
    assert problem.severity == WARNING and problem.column == "联系方式" and problem.value == "找前台"
    assert "未导入" in problem.message
    assert sheet.column("contact_phone") == [None] and sheet.column("contact_email") == [None]


def test_t2_contact_with_phone_and_email() -> None:
    sheet = check([T2_HEAD, ["张三", "13812345678 / Li@X.com", "咨询", "2024-05-10", None, None]])
    assert sheet.column("contact_phone") == ["13812345678"]
    assert sheet.column("contact_email") == ["li@x.com"]
    assert sheet.headers["contact_phone"] == "联系方式"


def test_sheet_without_contact_column_has_empty_contact_values() -> None:
    sheet = check([["客户名称", "交易类型", "购买时间", "金额"], ["张三", "咨询", "2024-05-10", None]])
    assert sheet.column("contact_phone") == [None] and sheet.column("contact_email") == [None]


# ---------------------------------------------------------------- T3, T4, T5
def test_t3_open_channel_keeps_the_text() -> None:
    sheet = check([["客户ID", "客户名称", "沟通方式", "沟通时间", "下次联系计划"],
                   ["C001", "张三", "飞书", "2024-05-10", "2024-05-20 电话回访"],
                   ["C002", "李四", None, "2024-05-10", None]], "T3")
    assert rejected_rows(sheet) == [3]
    assert only_error(sheet, 3).column == "沟通方式"
    assert sheet.get("channel", 0) == "飞书"
    assert sheet.get("next_plan", 0) == ("2024-05-20 电话回访", dt.date(2024, 5, 20))


def test_t4_missing_required_column_rejects_every_row() -> None:
    sheet = check([["客户编号", "客户姓名", "首次接触日期", "最后一次互动", "下次跟进日期"],
                   ["C001", "张三", "2024-01-01", "2024-05-01", "2024-06-01"]], "T4")
    assert rejected_rows(sheet) == [2]
    assert only_error(sheet, 2).message == "缺少必填列「产品/服务」"


def test_t5_needs_a_customer() -> None:
    sheet = check([["客户编号", "客户名称", "跟进时间", "状态"],
                   [None, None, "2024-06-01", "进行中"],
                   ["C001", None, "2024-06-01", "完成"]], "T5")
    assert rejected_rows(sheet) == [2]
    problem = only_error(sheet, 2)
    assert "至少需要填写一项" in problem.message and "客户编号" in problem.message and "客户名称" in problem.message
    assert sheet.get("status", 1) == "已完成"


# ---------------------------------------------------------------- T6
T6_HEAD = ["受理日期", "客户姓名", "投诉类型", "投诉事由", "投诉受理", "不予受理原因", "实际处理期限"]


def test_t6_refused_without_reason_is_a_warning_not_a_rejection() -> None:
    sheet = check([T6_HEAD,
                   ["2024-05-10", "张三", "服务", "态度差", "不予受理", None, None],
                   ["2024-05-10", "李四", "商品", "破损", "不予受理", "超过保修期", None],
                   ["2024-05-10", "王五", "产品质量", "异响", None, None, "2024-05-01"]], "T6")
    assert sheet.rejected == set()
    [warning] = problems_of(sheet, 2)
    assert warning.severity == WARNING and "不予受理原因" in warning.message
    assert warning.column == "投诉受理" and warning.value == "不予受理"
    assert problems_of(sheet, 3) == []
    [warning] = problems_of(sheet, 4)
    assert warning.severity == WARNING and "早于受理日期" in warning.message and warning.column == "实际处理期限"
    assert sheet.column("accepted") == [False, False, None]
    assert sheet.column("kind") == ["服务", "商品", "商品"]


def test_t6_required_fields() -> None:
    sheet = check([T6_HEAD, ["2024-05-10", "张三", "天气", "态度差", None, None, None],
                   ["2024-05-10", "李四", "服务", None, None, None, None]])
    assert rejected_rows(sheet) == [2, 3]
    assert only_error(sheet, 2).column == "投诉类型"
    assert only_error(sheet, 3).column == "投诉事由" and only_error(sheet, 3).message == "必填项为空"


# ---------------------------------------------------------------- T7
T7_HEAD = ["客户名称", "调查日期", "服务质量", "服务态度", "产品质量", "意见建议"]


def test_t7_needs_at_least_one_score() -> None:
    sheet = check([T7_HEAD,
                   ["张三", "2024-05-10", None, None, None, "无"],
                   ["李四", "2024-05-10", None, "满意", None, None],
                   ["王五", "2024-05-10", "非常满意", 4, "★★★", None]], "T7")
    assert rejected_rows(sheet) == [2]
    problem = only_error(sheet, 2)
    assert "至少需要填写一项" in problem.message and problem.column == "服务质量"
    assert sheet.get("service_attitude", 1) == 4
    assert [sheet.get(n, 2) for n in ("service_quality", "service_attitude", "product_quality")] == [5, 4, 3]


def test_t7_invalid_score_is_rejected_for_the_score_not_for_missing_scores() -> None:
    sheet = check([T7_HEAD, ["张三", "2024-05-10", 6, None, None, None]])
    assert rejected_rows(sheet) == [2]
    problem = only_error(sheet, 2)
    assert problem.column == "服务质量" and problem.value == "6" and "1–5" in problem.message


# ---------------------------------------------------------------- problems in general
def test_problems_carry_row_header_and_raw_value_and_are_sorted() -> None:
    rows = [
        ["客户关系管理记录表"],
        [],
        ["客户名称", "联系方式", "交易类型", "购买\n时间", "金额(元)", "评价等级"],
        ["张三", "13812345678", "购买", "2024-02-30", 100, None],     # row 4
        ["李四", None, "购买", "2024-05-10", "abc", "七星"],            # row 5
        ["合计", None, None, None, 100, None],                          # row 6: not data
        ["王五", "找前台", "咨询", 45413.0, None, None],                # row 7
    ]
    sheet = check(rows, "T2")
    assert sheet.row_numbers == [4, 5, 7]
    assert rejected_rows(sheet) == [4, 5]
    p = only_error(sheet, 4)
    assert (p.row, p.column, p.value) == (4, "购买\n时间", "2024-02-30")
    by_column = {p.column: p for p in problems_of(sheet, 5)}
    assert by_column["金额(元)"].value == "abc" and "金额" in by_column["金额(元)"].message
    assert by_column["评价等级"].value == "七星"
    [p] = problems_of(sheet, 7)
    assert p.severity == WARNING and p.value == "找前台"
    assert [p.row for p in sheet.problems] == sorted(p.row for p in sheet.problems)
    assert sheet.get("date", 2) == dt.date(2024, 5, 1)
    assert p.as_dict() == {"row": 7, "column": "联系方式", "value": "找前台", "message": p.message,
                           "severity": WARNING}


def test_errors_come_before_warnings_within_a_row() -> None:
    sheet = check([T1_HEAD, ["C001", None, "13812345678", None, "中性", None, None]])
    assert [p.severity for p in sheet.problems] == [ERROR, WARNING]


def test_empty_rows_list() -> None:
    sheet = RawSheet("s", [T1_HEAD])
    rec = recognise_sheet(sheet)
    out = clean_sheet(rec, [])
    assert len(out) == 0 and out.problems == [] and out.accepted() == []


@pytest.mark.parametrize("value, shown", [(13812345678.0, "13812345678"), (dt.datetime(2024, 2, 1, 9, 30), "2024-02-01 09:30")])
def test_problem_value_is_displayed_as_the_user_sees_it(value, shown) -> None:
    sheet = check([["客户名称", "交易类型", "购买时间", "金额"], ["张三", value, "2024-05-10", 1]])
    assert only_error(sheet, 2).value == shown


def test_each_distinct_value_is_cleaned_once_per_column(monkeypatch: pytest.MonkeyPatch) -> None:
    from crm.imports import cleaning as C

    calls: dict[str, int] = {}
    real = C.cleaner_for

    def counting_cleaner_for(f, strict=False):
        clean = real(f, strict)

        def wrapper(raw):
            calls[f.name] = calls.get(f.name, 0) + 1
            return clean(raw)
        return wrapper

    monkeypatch.setattr(C, "cleaner_for", counting_cleaner_for)
    rows = [["客户姓名", "联系电话", "首次接触日期"]] + [[f"客户{i % 3}", "13812345678", "2024-05-10"]
                                                        for i in range(10_000)]
    sheet = check(rows, "T1")
    assert len(sheet) == 10_000 and sheet.rejected == set()
    assert calls == {"name": 3, "phone": 1, "first_contact": 1}
    assert sheet.column("phone") == ["13812345678"] * 10_000
    assert sheet.row_numbers[-1] == 10_001


def test_a_stray_letter_or_a_label_around_a_phone_is_not_silent() -> None:
    """`13800000031x` is no phone (kept aside, named); `TEL:13800000030` is, with a note."""
    sheet = check([T1_HEAD, ["C001", "张三", "13800000031x", None, None, None, None],
                   ["C002", "李四", "TEL:13800000030", None, None, None, None]])
    assert sheet.rejected == set()
    assert sheet.column("phone") == [None, "13800000030"]
    assert sheet.column("other_contacts")[0] == "13800000031x"
    notes = {p.row: p.message for p in sheet.problems}
    assert "非数字字符" in notes[2] and "13800000031x" in notes[2] and "已去掉号码前的「TEL:」" in notes[3]
