"""crm.imports.cleaning: cells as users type them → clean values, or a reason in Chinese why not."""
from __future__ import annotations

import datetime as dt
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.imports import cleaning as C
from crm.imports import templates as T
from crm.imports.cleaning import CellError, Warned


def error_of(clean, raw) -> str:
    with pytest.raises(CellError) as info:
        clean(raw)
    return str(info.value)


# ---------------------------------------------------------------- dates
@pytest.mark.parametrize("raw", [
    dt.date(2024, 5, 10),
    dt.datetime(2024, 5, 10, 14, 30),
    "2024-05-10",
    "2024/5/10",
    "2024年5月10日",
    "2024 年 5 月 10 日",
    "2024.05.10",
    "20240510",
    20240510,
    "２０２４-０５-１０",
    "２０２４年５月１０日",
    "2024-05-10 14:30",
    "2024/05/10 14:30:59",
    " 2024-5-10 ",
    "2024-5-10",
])
def test_date_forms(raw) -> None:
    assert C.clean_date(raw) == dt.date(2024, 5, 10)


def test_date_from_excel_serial() -> None:
    assert C.clean_date(45413) == dt.date(2024, 5, 1)
    assert C.clean_date(45413.0) == dt.date(2024, 5, 1)
    assert C.clean_date(45413.75) == dt.date(2024, 5, 1)  # the time part is dropped
    assert C.clean_date("45413") == dt.date(2024, 5, 1)  # a serial that arrived as text (CSV)


def test_date_returns_a_plain_date_not_a_datetime() -> None:
    value = C.clean_date(dt.datetime(2024, 5, 10, 23, 59))
    assert type(value) is dt.date


def test_invalid_calendar_date_is_an_error_quoting_the_value() -> None:
    message = error_of(C.clean_date, "2024-02-30")
    assert "不存在的日期" in message and "2024-02-30" in message
    assert "不存在的日期" in error_of(C.clean_date, "2023-02-29")  # not a leap year
    assert C.clean_date("2024-02-29") == dt.date(2024, 2, 29)


def test_ambiguous_day_month_is_an_error() -> None:
    message = error_of(C.clean_date, "05/06/2024")
    assert "无法区分" in message and "2024" in message


def test_unambiguous_day_month_orders() -> None:
    assert C.clean_date("25/12/2024") == dt.date(2024, 12, 25)
    assert C.clean_date("12/25/2024") == dt.date(2024, 12, 25)


@pytest.mark.parametrize("raw", ["1800-01-01", "2101-01-01", dt.date(1800, 1, 1), "18991231"])
def test_year_out_of_range(raw) -> None:
    message = error_of(C.clean_date, raw)
    assert "年份" in message and "1900" in message and "2100" in message


def test_tiny_excel_serial_is_not_a_date_before_1900() -> None:
    # serial 1 would be 1899-12-31: outside the accepted years
    assert "年份" in error_of(C.clean_date, 1)


def test_time_only_values_are_errors() -> None:
    assert "只有时间" in error_of(C.clean_date, dt.time(14, 30))
    assert "不是可识别的日期" in error_of(C.clean_date, "14:30")
    assert "不是可识别的日期" in error_of(C.clean_date, 0.6)  # a time-of-day fraction


@pytest.mark.parametrize("raw", ["明天", "2024-13", "abc", "2024-05", -5, True])
def test_unrecognisable_dates(raw) -> None:
    with pytest.raises(CellError):
        C.clean_date(raw)


def test_text_or_date() -> None:
    assert C.clean_text_or_date(dt.date(2024, 5, 1)) == "2024-05-01"
    assert C.clean_text_or_date(45413.0) == "2024-05-01"
    assert C.clean_text_or_date("两周内") == "两周内"


def test_plan_with_and_without_a_date() -> None:
    assert C.clean_plan("2024-05-20 电话回访") == ("2024-05-20 电话回访", dt.date(2024, 5, 20))
    assert C.clean_plan("5月底前 电话回访") == ("5月底前 电话回访", None)
    assert C.clean_plan(dt.datetime(2024, 5, 20, 9, 0)) == ("2024-05-20", dt.date(2024, 5, 20))
    warned = C.clean_plan("2024-02-30 回访")
    assert isinstance(warned, Warned) and warned.value == ("2024-02-30 回访", None)
    assert "不存在的日期" in warned.message


# ---------------------------------------------------------------- amounts
@pytest.mark.parametrize("raw, expected", [
    (1200, 1200.0),
    (1200.456, 1200.46),
    ("1200", 1200.0),
    ("¥1,200.50", 1200.5),
    ("1,200元", 1200.0),
    ("1，200元", 1200.0),
    ("1.2万", 12000.0),
    ("1.2万元", 12000.0),
    ("3千", 3000.0),
    ("(300)", -300.0),
    ("（300）", -300.0),
    ("-300", -300.0),
    ("￥ 88", 88.0),
    ("RMB 1,000", 1000.0),
    ("人民币500元", 500.0),
    ("０.５", 0.5),
])
def test_amounts(raw, expected) -> None:
    assert C.clean_amount(raw) == expected


@pytest.mark.parametrize("raw", ["abc", "12元左右", "万", True])
def test_bad_amounts(raw) -> None:
    assert "金额" in error_of(C.clean_amount, raw)


@pytest.mark.parametrize("raw", [math.nan, math.inf, -math.inf, "inf", "nan", 1e16])
def test_non_finite_amounts(raw) -> None:
    assert "超出范围" in error_of(C.clean_amount, raw)


# ---------------------------------------------------------------- phones
@pytest.mark.parametrize("raw", [
    13812345678,
    13812345678.0,
    "13812345678",
    "138 1234 5678",
    "138-1234-5678",
    "+86 138-1234-5678",
    "+8613812345678",
    "8613812345678",
    "008613812345678",
    "0086 138 1234 5678",
    "１３８１２３４５６７８",
    "1.3812345678E+10",
    "1.3812345678e10",
    "13812345678.0",  # a CSV written from a float column
])
def test_mobile_forms(raw) -> None:
    assert C.clean_phone(raw) == "13812345678"


def test_scientific_notation_that_lost_digits() -> None:
    message = error_of(C.clean_phone, "1.38123E+10")
    assert "科学计数法" in message


@pytest.mark.parametrize("raw, expected", [
    ("010-12345678", "010-12345678"),
    ("01012345678", "010-12345678"),
    ("(0755)12345678", "0755-12345678"),
    ("（0755）12345678", "0755-12345678"),
    ("0755 1234 5678", "0755-12345678"),
    ("02112345678", "021-12345678"),
    ("021-1234-5678", "021-12345678"),
    ("+86 10 1234 5678", "010-12345678"),
    ("+86 21 12345678", "021-12345678"),
])
def test_landlines(raw, expected) -> None:
    assert C.clean_phone(raw) == expected


def test_landline_without_area_code() -> None:
    assert "区号" in error_of(C.clean_phone, "1234567")
    assert "区号" in error_of(C.clean_phone, "12345678")


@pytest.mark.parametrize("raw, words", [
    ("12345", "5 位"),
    ("12812345678", "号段"),
    ("138123456789", "12 位"),
    ("138abc45678", "非数字"),
    (13812345678.5, "小数"),
    (True, "不是电话"),
])
def test_bad_phones(raw, words) -> None:
    assert words in error_of(C.clean_phone, raw)


def test_service_numbers() -> None:
    assert C.clean_phone("4001234567") == "400-123-4567"
    assert C.clean_phone("400-123-4567") == "400-123-4567"
    assert C.clean_phone("800 123 4567") == "800-123-4567"


def test_foreign_numbers_in_e164() -> None:
    assert C.clean_phone("+1 650 253 0000") == "+16502530000"
    assert C.clean_phone("+44 20 7946 0958") == "+442079460958"
    assert "国际" in error_of(C.clean_phone, "+1 123")


# ---------------------------------------------------------------- emails
@pytest.mark.parametrize("raw, expected", [
    ("Li@X.com", "li@x.com"),
    ("  ZHANG.San@Example.COM ", "zhang.san@example.com"),
    ("mailto:a@b.cn", "a@b.cn"),
    ("MAILTO:A@B.CN", "a@b.cn"),
    ("a＠b.cn", "a@b.cn"),
    ("ａ@ｂ.ｃｎ", "a@b.cn"),
    ("<a@b.cn>", "a@b.cn"),
])
def test_emails(raw, expected) -> None:
    assert C.clean_email(raw) == expected


def test_bad_emails_say_why() -> None:
    assert "缺少 @" in error_of(C.clean_email, "abc")
    assert "域名" in error_of(C.clean_email, "a@b")  # has an @, the domain is incomplete
    assert "邮箱" in error_of(C.clean_email, "a b@c.cn")
    assert "邮箱" in error_of(C.clean_email, "a@@b.cn")


# ---------------------------------------------------------------- contact cells
@pytest.mark.parametrize("raw, expected", [
    ("13812345678 / Li@X.com", ("13812345678", "li@x.com")),
    ("电话：13812345678 邮箱：a@b.cn", ("13812345678", "a@b.cn")),
    ("手机:138-1234-5678，Email: A@B.cn", ("13812345678", "a@b.cn")),
    ("a@b.cn", (None, "a@b.cn")),
    ("13812345678", ("13812345678", None)),
    (13812345678.0, ("13812345678", None)),
    ("010-12345678", ("010-12345678", None)),
    ("邮箱a@b.cn", (None, "a@b.cn")),
    ("张经理 13812345678", ("13812345678", None)),
])
def test_contact_cells(raw, expected) -> None:
    assert C.clean_contact(raw) == expected


def test_contact_errors() -> None:
    assert "既不是电话也不是邮箱" in error_of(C.clean_contact, "找前台")
    assert "科学计数法" in error_of(C.clean_contact, "1.38123E+10")
    assert "区号" in error_of(C.clean_contact, "1234567")


# ---------------------------------------------------------------- scores
@pytest.mark.parametrize("raw, expected", [
    (5, 5), (4.0, 4), (1, 1), ("3", 3), ("五星", 5), ("三星", 3), ("5星", 5), ("5颗星", 5),
    ("★★★", 3), ("★★★☆☆", 3), ("4分", 4), ("４分", 4), ("五", 5),
    ("非常满意", 5), ("满意", 4), ("一般", 3), ("不满意", 2), ("非常不满意", 1),
])
def test_scores(raw, expected) -> None:
    assert C.clean_score(raw) == expected


@pytest.mark.parametrize("raw", [6, 0, 3.5, "6星", "☆☆", "挺好", True, -1])
def test_bad_scores(raw) -> None:
    with pytest.raises(CellError):
        C.clean_score(raw)


def test_score_messages() -> None:
    assert "1–5" in error_of(C.clean_score, 6)
    assert "整数" in error_of(C.clean_score, 3.5)
    assert "非常满意" in error_of(C.clean_score, "挺好")


# ---------------------------------------------------------------- enumerations
def test_required_enum_variants_and_unknown() -> None:
    kind = C.enum_cleaner("transaction_kind", required=True)
    assert kind("采购") == "购买"
    assert kind("购买") == "购买"
    assert kind("续费") == "续约"
    assert kind(" 退款 ") == "退货"
    message = error_of(kind, "赠送")
    assert "不是可识别的值" in message and "购买/咨询/投诉/退货/续约" in message


def test_optional_enum_unknown_is_warned_not_dropped_silently() -> None:
    gender = C.enum_cleaner("gender", required=False)
    assert gender("女性") == "女"
    assert gender("Male") == "男"
    assert gender("女士") == "女"
    warned = gender("中性")
    assert isinstance(warned, Warned) and warned.value is None
    assert "男/女/未知" in warned.message


def test_enum_matching_ignores_width_and_case() -> None:
    level = C.enum_cleaner("level", required=False)
    assert level("HIGH") == "高"
    assert level("ｈｉｇｈ") == "高"
    assert level("一般") == "中"


def test_open_enum_keeps_unknown_text() -> None:
    channel = C.enum_cleaner("channel", required=True)
    assert channel("腾讯会议") == "线上会议"
    assert channel("电话沟通") == "电话"
    assert channel("飞书群聊") == "飞书群聊"


def test_bool_enum() -> None:
    accepted = C.bool_cleaner("accepted")
    assert accepted("受理") is True
    assert accepted("是") is True
    assert accepted("不予受理") is False
    assert accepted("否") is False
    warned = accepted("待定")
    assert isinstance(warned, Warned) and warned.value is None


def test_cleaner_for_registry_fields() -> None:
    assert C.cleaner_for(T.T2.field_by_name["kind"])("采购") == "购买"
    assert C.cleaner_for(T.T1.field_by_name["phone"]) is C.clean_phone
    assert C.cleaner_for(T.T2.field_by_name["date"]) is C.clean_date
    with pytest.raises(CellError):
        C.cleaner_for(T.T6.field_by_name["kind"])("天气")  # required enum
    assert isinstance(C.cleaner_for(T.T6.field_by_name["urgency"])("天气"), Warned)  # optional enum


# ---------------------------------------------------------------- tags, text
@pytest.mark.parametrize("raw, expected", [
    ("制造业-高价值-紧急需求", ("制造业", "高价值", "紧急需求")),
    ("VIP，老客户,华东、制造业/重点;大单；复购", ("VIP", "老客户", "华东", "制造业", "重点", "大单", "复购")),
    ("VIP, VIP、老客户", ("VIP", "老客户")),
    ("单个标签", ("单个标签",)),
    (" a ,, b ", ("a", "b")),
])
def test_tags(raw, expected) -> None:
    assert C.clean_tags(raw) == expected


def test_overlong_tag() -> None:
    assert "过长" in error_of(C.clean_tags, "标" * 31)


def test_text() -> None:
    assert C.clean_text("  张三  ") == "张三"
    assert C.clean_text(1234.0) == "1234"
    assert C.clean_text(12.5) == "12.5"
    assert C.clean_text(dt.datetime(2024, 5, 1)) == "2024-05-01"


def test_long_text_over_the_limit_names_its_length() -> None:
    message = error_of(C.clean_long_text, "长" * 100_000)
    assert "100000" in message and "过长" in message and str(C.MAX_LONG_TEXT) in message
    message = error_of(C.clean_text, "x" * (C.MAX_TEXT + 1))
    assert str(C.MAX_TEXT + 1) in message
    assert C.clean_long_text("x" * C.MAX_LONG_TEXT) == "x" * C.MAX_LONG_TEXT


@pytest.mark.parametrize("raw", ["#REF!", "#VALUE!", "#DIV/0!", "#NAME?", "#NUM!", "#NULL!", "#ref!"])
def test_formula_error_values(raw) -> None:
    assert "公式错误" in error_of(C.clean_text, raw)


def test_formula_error_in_other_kinds() -> None:
    with pytest.raises(CellError):
        C.clean_date("#REF!")
    with pytest.raises(CellError):
        C.clean_phone("#REF!")
    with pytest.raises(CellError):
        C.clean_amount("#VALUE!")


def test_customer_id() -> None:
    assert C.clean_customer_id(" c 001 ") == "C001"
    assert C.clean_customer_id("Ｃ２０２４０５０１００１") == "C20240501001"
    assert C.clean_customer_id(1001.0) == "1001"


def test_display() -> None:
    assert C.display(13812345678.0) == "13812345678"
    assert C.display(1.5) == "1.5"
    assert C.display(dt.datetime(2024, 5, 1)) == "2024-05-01"
    assert C.display(dt.datetime(2024, 5, 1, 9, 5)) == "2024-05-01 09:05"
    assert C.display(None) == ""
    assert C.display("x" * 100).endswith("…") and len(C.display("x" * 100)) == 58


# ---------------------------------------------------------------- blanks, clean_column
@pytest.mark.parametrize("raw", ["", None, "  ", "\u3000", "-", "—", "/", "无", "N/A", "#N/A", math.nan])
def test_blanks(raw) -> None:
    assert C.is_blank(raw)


@pytest.mark.parametrize("raw", ["0", 0, 0.0, "张三", False, dt.date(2024, 1, 1)])
def test_not_blank(raw) -> None:
    assert not C.is_blank(raw)


def test_clean_column_blanks_are_none_without_problems() -> None:
    result = C.clean_column(["", None, "  ", "-", math.nan], C.clean_phone)
    assert result.values == [None] * 5
    assert result.errors == {} and result.warnings == {}


def test_clean_column_errors_and_warnings_by_index() -> None:
    gender = C.enum_cleaner("gender", required=False)
    result = C.clean_column(["男", None, "中性", "女士"], gender)
    assert result.values == ["男", None, None, "女"]
    assert result.errors == {}
    assert set(result.warnings) == {2} and "男/女/未知" in result.warnings[2]

    result = C.clean_column(["13812345678", "12345", None, "13812345678"], C.clean_phone)
    assert result.values == ["13812345678", None, None, "13812345678"]
    assert set(result.errors) == {1} and "5 位" in result.errors[1]


def test_clean_column_computes_each_distinct_value_once() -> None:
    calls: list[object] = []

    def counting(raw):
        calls.append(raw)
        return C.clean_phone(raw)

    result = C.clean_column(["13812345678"] * 10_000, counting)
    assert len(calls) == 1
    assert result.values == ["13812345678"] * 10_000 and not result.errors

    calls.clear()
    raws = ["13812345678", 13812345678.0, "13812345678", "bad", "bad", None]
    result = C.clean_column(raws, counting)
    assert len(calls) == 3  # the text, the float (a different type), "bad"
    assert result.values[:3] == ["13812345678"] * 3
    assert set(result.errors) == {3, 4}


def test_clean_column_remembers_errors_too() -> None:
    calls = []

    def counting(raw):
        calls.append(raw)
        return C.clean_date(raw)

    result = C.clean_column(["2024-02-30"] * 500, counting)
    assert len(calls) == 1 and len(result.errors) == 500
    assert all("不存在的日期" in m for m in result.errors.values())


def test_clean_column_turns_library_errors_into_cell_errors() -> None:
    def explode(raw):
        raise ValueError("boom")

    result = C.clean_column(["x"], explode)
    assert result.values == [None] and "无法识别" in result.errors[0] and "boom" in result.errors[0]


def test_clean_column_handles_unhashable_cells() -> None:
    result = C.clean_column([["a"]], lambda raw: "ok")
    assert result.values == ["ok"]


_EMAIL_CHARS = "abcXYZ019._+-@!#~'中é "
_DOMAINS = ["qq.com", "163.COM", "example.com", "a.b", "localhost", "x..com", "-a.com", "a-.com", "b.test",
            "xn--fiqs8s.cn", "中国.cn", "1.2.3.4", "a_b.com", "[1.2.3.4]", "com", "a.c", "example.invalid"]


@settings(max_examples=400, deadline=None)
@given(local=st.text(alphabet=_EMAIL_CHARS, min_size=0, max_size=70), domain=st.sampled_from(_DOMAINS) | st.text(
    alphabet="abc.-09_中", min_size=0, max_size=12))
def test_the_plain_address_shortcut_answers_as_email_validator(local: str, domain: str) -> None:
    """_plain_email checks a domain once per domain; whenever it answers, it is validate_email's answer."""
    from email_validator import EmailNotValidError, validate_email

    from crm.imports.cleaning import _plain_email

    text = f"{local}@{domain}"
    fast = _plain_email(text)
    if fast is None:
        return
    try:
        full = validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise AssertionError(f"{text!r}: shortcut accepted {fast!r}, email-validator refused: {exc}") from None
    assert fast == full
