"""crm.imports.recognise: the header row and the template of a sheet, from the headers alone; the data rows
under it."""
from __future__ import annotations

import pytest

from crm.imports import templates as T
from crm.imports.reader import RawSheet
from crm.imports.recognise import Recognition, Unrecognised, data_rows, header_signature, recognise_sheet


def canonical(code: str) -> list[str]:
    return [f.header for f in T.TEMPLATES[code].fields]


def recognise(rows: list[list], name: str = "Sheet1", **kw) -> Recognition:
    rec = recognise_sheet(RawSheet(name, rows), **kw)
    assert isinstance(rec, Recognition), getattr(rec, "reason", rec)
    return rec


def unrecognised(rows: list[list], name: str = "Sheet1") -> Unrecognised:
    rec = recognise_sheet(RawSheet(name, rows))
    assert isinstance(rec, Unrecognised), f"recognised as {rec.template.code}"
    return rec


# ---------------------------------------------------------------- canonical headers
@pytest.mark.parametrize("code", list(T.TEMPLATES))
def test_every_template_from_its_canonical_headers(code: str) -> None:
    headers = canonical(code)
    rec = recognise([headers])
    assert rec.template.code == code
    assert rec.header_row == 0
    # every column is mapped, to the field it names, in order
    assert rec.columns == {i: f.name for i, f in enumerate(T.TEMPLATES[code].fields)}
    assert rec.headers == dict(enumerate(headers))
    assert rec.ignored == [] and rec.duplicates == [] and not rec.via_mapping


@pytest.mark.parametrize("code", list(T.TEMPLATES))
def test_every_template_from_its_required_headers_only(code: str) -> None:
    tpl = T.TEMPLATES[code]
    names = [f.name for f in tpl.fields if f.required or f.name in tpl.signature]
    names += [group[0] for group in tpl.any_of if not set(group) & set(names)]
    if len(names) < 2:  # a header is a row of at least two known columns (T1 needs only the name)
        names.append(next(f.name for f in tpl.fields if f.name not in names and f.name != "customer_id"))
    rec = recognise([[tpl.field_by_name[n].header for n in names]])
    assert rec.template.code == code
    assert set(rec.columns.values()) == set(names)


@pytest.mark.parametrize("code", list(T.TEMPLATES))
def test_every_template_from_its_first_aliases(code: str) -> None:
    # every field named by its first alias where it has one
    tpl = T.TEMPLATES[code]
    headers = [f.aliases[0] if f.aliases else f.header for f in tpl.fields]
    rec = recognise([headers])
    assert rec.template.code == code
    for i, name in rec.columns.items():
        assert T.field_for_header(tpl, headers[i]) == name
    assert {f.name for f in tpl.required} <= set(rec.columns.values())
    assert len(rec.columns) >= len(tpl.fields) - 2


def test_alias_headers_map_to_their_fields() -> None:
    rec = recognise([["客户ID", "客户名称", "手机号", "Email", "所属行业", "客户地址", "分类标签", "建档日期"]])
    assert rec.template.code == "T1"
    assert list(rec.columns.values()) == ["customer_id", "name", "phone", "email", "industry", "address", "tags",
                                          "first_contact"]


# ---------------------------------------------------------------- header variants
@pytest.mark.parametrize("name_header, phone_header", [
    ("客户姓名*", "联系电话（必填）"),
    ("*客户姓名", "联系电话(必填)"),
    ("客户\n姓名", "联系\r\n电话"),
    ("客户姓名  ", "联系电话\u3000"),
    ("\u3000客户姓名", " 联系电话 "),
    ("客户姓名★", "联系电话：（必填）"),
    ("客户姓名（必填）*", "联系电话 * "),
    ("客户姓名", "ＥＭＡＩＬ"),
])
def test_header_variants(name_header: str, phone_header: str) -> None:
    rec = recognise([[name_header, phone_header, "备注"]])
    assert rec.template.code == "T1"
    assert rec.columns[0] == "name" and rec.columns[1] in ("phone", "email") and rec.columns[2] == "note"
    assert rec.headers[0] == name_header.strip()  # as written (trimmed)


def test_amount_with_unit_in_brackets() -> None:
    for amount in ("金额（元）", "金额(元)", "金额（元）*", "交易金额（元）", "金额 (元)"):
        rec = recognise([["客户名称", "交易类型", "交易日期", amount]])
        assert rec.template.code == "T2" and rec.columns[3] == "amount", amount


def test_full_width_brackets_in_a_slash_header() -> None:
    rec = recognise([["客户ID", "客户名称", "互动类型", "互动日期", "关联产品／服务"]])
    assert rec.template.code == "T3" and rec.columns[4] == "product"


# ---------------------------------------------------------------- where the header row is
def test_header_under_two_title_rows() -> None:
    rows = [
        ["客户关系管理记录及分析表", None, None, None],
        ["制表日期：2024-05-01", None, None, None],
        ["客户名称", "交易类型", "购买时间", "金额(元)"],
        ["张三", "购买", "2024-05-10", "100"],
    ]
    rec = recognise(rows)
    assert rec.template.code == "T2" and rec.header_row == 2
    assert data_rows(RawSheet("s", rows), rec) == [(4, ["张三", "购买", "2024-05-10", "100"])]


def test_header_under_blank_rows_and_a_merged_banner() -> None:
    # a merged banner arrives as its text in the first cell and empty cells after it
    rows = [
        [None, None, None],
        ["", "", ""],
        ["客户档案（2024 年度）", "", ""],
        ["客户姓名", "联系电话", "电子邮箱"],
        ["张三", "13812345678", None],
    ]
    rec = recognise(rows)
    assert rec.template.code == "T1" and rec.header_row == 3
    assert data_rows(RawSheet("s", rows), rec)[0][0] == 5


def test_header_in_later_columns() -> None:
    rows = [[None, None, "客户姓名", "联系电话"], [None, None, "张三", "13812345678"]]
    rec = recognise(rows)
    assert rec.columns == {2: "name", 3: "phone"}
    assert data_rows(RawSheet("s", rows), rec) == [(2, [None, None, "张三", "13812345678"])]


def test_header_beyond_the_scan_window_is_not_found() -> None:
    rows = [["标题"]] * 30 + [["客户姓名", "联系电话"]]
    assert "未找到" in unrecognised(rows).reason


# ---------------------------------------------------------------- telling templates apart
def test_t4_tracking_sheet_is_not_taken_for_t1() -> None:
    rec = recognise([canonical("T4")])
    assert rec.template.code == "T4"
    # even without the optional columns, and named like a customer sheet
    rec = recognise([["客户编号", "客户姓名", "联系方式", "首次接触日期", "最后一次互动", "产品/服务", "下次跟进日期"]],
                    name="客户档案")
    assert rec.template.code == "T4"


def test_t2_and_t3_are_told_apart() -> None:
    t2 = recognise([["客户编号", "客户名称", "联系方式", "交易类型", "日期", "金额", "备注"]])
    t3 = recognise([["客户编号", "客户名称", "联系方式", "沟通方式", "沟通时间", "沟通内容", "备注"]])
    assert t2.template.code == "T2" and t3.template.code == "T3"
    assert t2.columns[4] == "date" and t3.columns[4] == "date"
    assert t3.columns[3] == "channel" and t3.columns[5] == "content"


def test_t5_t6_t7_are_not_taken_for_t1() -> None:
    for code in ("T5", "T6", "T7"):
        assert recognise([canonical(code)], name="客户档案").template.code == code


def test_plain_customer_list_is_t1() -> None:
    rec = recognise([["姓名", "手机", "公司", "职务", "备注"]])
    assert rec.template.code == "T1"


def test_unknown_columns_are_ignored_and_reported() -> None:
    rec = recognise([["序号", "客户姓名", "联系电话", "微信号", None, "内部代码"]])
    assert rec.template.code == "T1"
    assert rec.columns == {1: "name", 2: "phone", 3: "wechat"}
    assert rec.ignored == ["序号", "内部代码"]


def test_two_columns_naming_one_field() -> None:
    rec = recognise([["客户姓名", "手机", "电话", "邮箱"]])
    assert rec.columns == {0: "name", 1: "phone", 3: "email"}
    assert rec.duplicates == ["电话"]


# ---------------------------------------------------------------- unrecognised sheets
def test_unrecognised_sheet_names_closest_template_and_missing_column() -> None:
    rows = [["客户名称", "交易类型", "金额"], ["张三", "购买", "100"]]
    rec = unrecognised(rows)
    assert "T2" in rec.reason and "客户关系管理记录表" in rec.reason
    assert "缺少列" in rec.reason and "购买时间" in rec.reason
    assert rec.header_row == 0 and rec.headers == {0: "客户名称", 1: "交易类型", 2: "金额"}


def test_a_profile_list_without_phone_or_email_is_still_a_customer_list() -> None:
    """Real lists often have no contact column (a company list, a member list): still T1."""
    rec = recognise([["客户姓名", "公司", "职位", "行业"]])
    assert rec.template.code == "T1" and set(rec.columns.values()) == {"name", "company", "title", "industry"}


def test_sheet_with_no_known_header() -> None:
    rec = unrecognised([["库存盘点"], ["货号", "单价", 2024.0], ["A-1", 1.5, 3]])
    assert "未找到可识别的表头" in rec.reason
    # the likely header row is still offered, for the column-mapping step
    assert rec.header_row == 1 and rec.headers == {0: "货号", 1: "单价", 2: "2024"}


@pytest.mark.parametrize("rows", [[], [[]], [[None, None], ["", "  "]], [[None]] * 5])
def test_empty_sheet(rows: list[list]) -> None:
    assert unrecognised(rows).reason == "工作表为空"


# ---------------------------------------------------------------- data rows
def test_data_rows_skip_blanks_totals_repeated_headers_and_stop_at_notes() -> None:
    rows = [
        ["客户交易记录"],                                      # row 1: title
        [],                                                    # row 2
        ["客户名称", "交易类型", "购买时间", "金额(元)"],     # row 3: header
        ["张三", "购买", "2024-05-10", 100],                   # row 4
        [None, None, None, None],                              # row 5: blank
        ["", "  ", None],                                      # row 6: blank, short
        ["李四", "咨询", "2024-05-11", None],                  # row 7
        ["客户名称", "交易类型", "购买时间", "金额(元)"],     # row 8: header again
        ["王五", "续约", "2024-05-12", 300],                   # row 9
        ["合计", None, None, 400],                             # row 10: total
        ["总 计", None, None, 400],                            # row 11: total
        [None, None, None, None],                              # row 12
        ["填写说明：", None, None, None],                      # row 13: notes start
        ["1. 客户名称必填", None, None, None],                  # row 14
        ["赵六", "购买", "2024-05-13", 1],                     # row 15: inside the notes block
    ]
    sheet = RawSheet("交易", rows)
    rec = recognise(rows)
    out = data_rows(sheet, rec)
    assert [r for r, _ in out] == [4, 7, 9]
    assert out[0][1] == ["张三", "购买", "2024-05-10", 100]
    assert out[1][1] == ["李四", "咨询", "2024-05-11", None]  # short rows are padded


def test_notes_block_in_an_unmapped_column_stops_the_table() -> None:
    rows = [
        [None, "客户姓名", "联系电话"],
        [None, "张三", "13812345678"],
        ["说明：本表由系统导出", None, None],
        [None, "李四", "13987654321"],
    ]
    rec = recognise(rows)
    assert [r for r, _ in data_rows(RawSheet("s", rows), rec)] == [2]


def test_total_row_in_a_later_column() -> None:
    rows = [["序号", "客户名称", "交易类型", "购买时间", "金额"],
            [1, "张三", "购买", "2024-05-10", 100],
            [None, "小计", None, None, 100]]
    rec = recognise(rows)
    assert [r for r, _ in data_rows(RawSheet("s", rows), rec)] == [2]


@pytest.mark.parametrize("note", ["说明", "说明：以下为示例", "填写说明", "填表说明：", "注：带*为必填", "注意事项",
                                  "备注：", "注1. 日期格式"])
def test_notes_heading_in_a_mapped_column_stops_the_table(note: str) -> None:
    rows = [["客户姓名", "联系电话"], ["张三", "13812345678"], [note, None], ["李四", "13987654321"]]
    rec = recognise(rows)
    assert [r for r, _ in data_rows(RawSheet("s", rows), rec)] == [2]


def test_a_customer_called_like_a_note_word_is_data() -> None:
    rows = [["客户姓名", "联系电话"], ["说明书印刷厂", "13812345678"], ["注意力科技", "13987654321"]]
    rec = recognise(rows)
    assert [r for r, _ in data_rows(RawSheet("s", rows), rec)] == [2, 3]


def test_row_numbers_follow_the_spreadsheet() -> None:
    rows = [["标题"], ["副标题"], canonical("T5")] + [["C001", None, None, None, f"2024-06-{d:02d}"] for d in range(1, 6)]
    rec = recognise(rows)
    assert rec.header_row == 2
    out = data_rows(RawSheet("s", rows), rec)
    assert [r for r, _ in out] == [4, 5, 6, 7, 8]
    assert out[2][1][4] == "2024-06-03"


def test_header_only_sheet_has_no_data_rows() -> None:
    rows = [canonical("T1"), [None] * 5]
    assert data_rows(RawSheet("s", rows), recognise(rows)) == []


# ---------------------------------------------------------------- signatures and remembered mappings
def test_header_signature_is_stable_under_whitespace_width_and_order() -> None:
    base = header_signature(["名字", "手机号码啊", "备注说明"])
    assert header_signature(["名字 ", "手机号码啊\u3000", "备注\n说明"]) == base
    assert header_signature(["备注说明", "名字", "手机号码啊"]) == base
    assert header_signature(["名字*", "手机号码啊（必填）", "备注说明"]) == base
    assert header_signature(["ｎａｍｅ", "x"]) == header_signature(["NAME", "X"])
    assert header_signature(["名字", "手机号码啊", "备注说明", ""]) == base
    assert header_signature(["名字", "手机号码", "备注说明"]) != base
    assert len(base) == 40


def test_remembered_mapping_is_applied_to_unknown_headers() -> None:
    headers = ["名字", "手机号码啊", "下单日", "钱", "类别", "乱七八糟"]
    rows = [["某某公司交易表"], headers, ["张三", "13812345678", "2024-05-10", "100", "购买", "x"]]
    assert isinstance(recognise_sheet(RawSheet("s", rows)), Unrecognised)
    mapping = {"名字": "name", "手机号码啊": "contact", "下单日": "date", "钱": "amount", "类别": "kind"}
    remembered = {header_signature(headers): ("T2", mapping)}
    rec = recognise(rows, remembered=remembered)
    assert rec.template.code == "T2" and rec.via_mapping
    assert rec.header_row == 1
    assert rec.columns == {0: "name", 1: "contact", 2: "date", 3: "amount", 4: "kind"}
    assert rec.ignored == ["乱七八糟"]
    assert data_rows(RawSheet("s", rows), rec) == [(3, ["张三", "13812345678", "2024-05-10", "100", "购买"])]


def test_remembered_mapping_survives_whitespace_changes_in_the_headers() -> None:
    stored = ["名字", "手机号码啊"]
    remembered = {header_signature(stored): ("T1", {"名字": "name", "手机号码啊": "phone"})}
    rows = [["名 字", "手机号码啊\u3000"], ["张三", "13812345678"]]
    rec = recognise(rows, remembered=remembered)
    assert rec.via_mapping and rec.columns == {0: "name", 1: "phone"}


def test_remembered_mapping_with_a_numeric_header_cell() -> None:
    # the headers the user saw (and mapped) include a number; the signature must match again
    headers_seen = ["名字", "手机号码啊", "2024"]
    remembered = {header_signature(headers_seen): ("T1", {"名字": "name", "手机号码啊": "phone"})}
    rows = [["名字", "手机号码啊", 2024.0], ["张三", "13812345678", 5]]
    unrec = recognise_sheet(RawSheet("s", rows))
    assert isinstance(unrec, Unrecognised) and list(unrec.headers.values()) == headers_seen
    rec = recognise(rows, remembered=remembered)
    assert rec.via_mapping and rec.columns == {0: "name", 1: "phone"}


def test_remembered_mapping_for_other_headers_is_not_applied() -> None:
    remembered = {header_signature(["甲", "乙"]): ("T1", {"甲": "name", "乙": "phone"})}
    rec = recognise([["客户名称", "交易类型", "购买时间"]], remembered=remembered)
    assert rec.template.code == "T2" and not rec.via_mapping
