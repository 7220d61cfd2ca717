"""Real spreadsheets go in (issue 18): a corpus of the layouts teams actually keep — shop lists with
a 联系人, member lists without phones, order exports with status columns and refunds, two header
rows, one phone serving several companies, cells with two numbers — each with its counts, its
warnings, and the check that every typed value is in the archive or in the problems workbook."""
from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from conftest import write_xlsx

from crm.db import Archive
from crm.imports.cleaning import is_blank
from crm.imports.pipeline import ImportReport, import_path
from crm.imports.reader import read_workbook
from crm.imports.rejects import rejected_rows_workbook

TODAY = dt.date(2026, 12, 1)


def q(archive: Archive, sql: str, params: list | None = None) -> list[tuple]:
    cur = archive.cursor()
    try:
        return cur.execute(sql, params or []).fetchall()
    finally:
        cur.close()


def run(archive: Archive, path: Path, **kw: Any) -> ImportReport:
    return import_path(archive, path, user="cli", today=TODAY, **kw)


def _texts_of(archive: Archive) -> str:
    """Everything the archive holds as text (for 'nothing typed is lost')."""
    parts: list[str] = []
    for table in ("customers", "transactions", "interactions", "follow_ups", "complaints", "surveys", "customer_tags"):
        for row in q(archive, f"SELECT * FROM {table}"):
            for v in row:
                if v is None:
                    continue
                parts.append(v.isoformat() if isinstance(v, (dt.date, dt.datetime)) else str(v))
                if isinstance(v, str) and v.startswith("{"):
                    parts.extend(str(x) for x in json.loads(v).values())
    return "\n".join(parts)


def _problem_texts(path: Path, report: ImportReport) -> str:
    data = rejected_rows_workbook(read_workbook(path), report)
    book = openpyxl.load_workbook(io.BytesIO(data))
    return "\n".join(str(c.value) for ws in book.worksheets for row in ws.iter_rows() for c in row if c.value is not None)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def assert_nothing_lost(archive: Archive, path: Path, report: ImportReport, header_rows: int = 1,
                        ignore: tuple[str, ...] = ()) -> None:
    """Every non-empty data cell of every imported sheet is in the archive (as typed, as digits for a
    phone, as a date or an amount) or in the problems workbook."""
    held, problems = _texts_of(archive), _problem_texts(path, report)
    digits = _digits(held)
    book = openpyxl.load_workbook(path)
    for b in report.batches:
        ws = book[b.sheet]
        first = (b.header_row or 0) + 2
        for number, row in enumerate(ws.iter_rows(min_row=first, values_only=True), start=first):
            if number in b.skipped_rows:
                continue  # no record at all (a closed order): reported with its reason
            for v in row:
                if v is None or is_blank(v) or (isinstance(v, str) and v.strip() in ignore):
                    continue  # 无 / - / 空 are how sheets say "nothing"
                if isinstance(v, (dt.date, dt.datetime)):
                    assert v.date().isoformat() if isinstance(v, dt.datetime) else v.isoformat() in held, v
                    continue
                text = str(v).strip()
                if text.startswith("合计"):
                    continue
                found = text in held or text in problems or (_digits(text) and _digits(text) in digits)
                if not found and re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}", text):
                    found = text[:10] in held  # an order's time of day: the archive keeps the day
                if not found and isinstance(v, (int, float)):
                    found = f"{float(v):.2f}" in held or str(int(v)) in held
                assert found, f"「{text}」（{b.sheet}）is neither in the archive nor in the problems workbook"


# ------------------------------------------------------------------ customer lists
def test_a_shop_list_with_contact_person_wechat_and_unknown_columns(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "门店名单.xlsx", {"门店": [
        ["店名", "联系人", "联系电话", "职位", "微信", "地址", "类型", "需求"],
        ["好又多超市", "刘强", "13800000001", "店长", "liuqiang88", "广东省湛江市霞山区人民大道1号", "连锁", "收银系统"],
        ["便民小卖部", "陈芳", "13800000002", "老板", "cf_2020", "浙江省金华市金东区", "个体", None],
    ]})
    report = run(archive, path)
    (b,) = report.batches
    assert (b.template, b.created, b.rejected_rows) == ("T1", 2, [])
    row = q(archive, "SELECT name, contact_person, title, wechat, extra FROM customers WHERE name = '好又多超市'")[0]
    assert row[:4] == ("好又多超市", "刘强", "店长", "liuqiang88")
    assert json.loads(row[4]) == {"类型": "连锁", "需求": "收银系统"}
    # region and city from an address the old hand-kept table did not know
    assert sorted(q(archive, "SELECT region, city FROM customers")) == [("广东", "湛江"), ("浙江", "金华")]
    assert_nothing_lost(archive, path, report)


def test_a_b2b_account_list(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "客户账户.xlsx", {"Sheet1": [
        ["账户名称", "联系人", "手机号码", "邮箱", "所属行业", "QQ"],
        ["深圳甲科技有限公司", "王总", "13900000001", "wang@jia.cn", "制造业", "12345678"],
        ["杭州乙贸易有限公司", "李经理", "0571-88886666", None, "零售", None],
    ]})
    report = run(archive, path)
    assert report.batches[0].created == 2
    assert q(archive, "SELECT phone, qq FROM customers ORDER BY name") == [("0571-88886666", None),
                                                                          ("13900000001", "12345678")]
    assert_nothing_lost(archive, path, report)


def test_a_telesales_list_keeps_intent_as_extra(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "电销.xlsx", {"名单": [
        ["客户名", "客户手机号", "意向", "备注"],
        ["赵先生", "13700000001", "高", "下周再打"], ["钱女士", "13700000002", "无", None],
    ]})
    report = run(archive, path)
    assert report.batches[0].created == 2
    assert json.loads(q(archive, "SELECT extra FROM customers WHERE name = '赵先生'")[0][0]) == {"意向": "高"}
    assert_nothing_lost(archive, path, report)


def test_a_member_list_without_phones_files_every_member_as_pending(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "会员.xlsx", {"会员": [
        ["会员编号", "会员姓名", "积分", "等级", "注册日期"],
        ["M0001", "周杰", 1200, "金卡", "2025-03-01"], ["M0002", "吴昊", 80, "普通", "2025-04-02"],
    ]})
    report = run(archive, path)
    b = report.batches[0]
    assert (b.created, b.rejected_rows) == (2, [])
    assert q(archive, "SELECT customer_id, first_contact FROM customers ORDER BY 1") == [
        ("M0001", dt.date(2025, 3, 1)), ("M0002", dt.date(2025, 4, 2))]
    assert sum("没有任何联系方式" in p.message for p in b.problems) == 2
    from crm.customers.gaps import data_gaps

    (row,) = q(archive, "SELECT phone, email, wechat, qq, product_need FROM customers WHERE customer_id = 'M0001'")
    gaps = data_gaps(dict(zip(("phone", "email", "wechat", "qq", "product_need"), row)))
    assert any(g.follow_up and "联系方式" in g.label for g in gaps)
    assert_nothing_lost(archive, path, report)


def test_a_member_list_again_updates_the_same_members(archive: Archive, tmp_path: Path) -> None:
    head = ["会员卡号", "会员姓名", "手机"]
    run(archive, write_xlsx(tmp_path / "会员.xlsx", {"会员": [head, ["K1", "周杰", None], ["K2", "吴昊", None]]}))
    report = run(archive, write_xlsx(tmp_path / "会员.xlsx", {"会员": [head, ["K1", "周杰", "13600000001"],
                                                                      ["K2", "吴昊", None]]}))
    b = report.batches[0]
    assert (b.created, b.updated, b.unchanged) == (0, 1, 1)
    assert b.rows_read == b.created + b.updated + b.unchanged + b.duplicates + len(b.rejected_rows) + len(b.skipped_rows)
    assert q(archive, "SELECT phone FROM customers WHERE customer_id = 'K1'") == [("13600000001",)]


def test_one_contact_person_serving_three_companies_keeps_three_customers(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "代理商.xlsx", {"客户": [
        ["公司名称", "联系人", "手机"],
        ["甲建材公司", "老张", "13500000001"], ["乙装饰公司", "老张", "13500000001"], ["丙五金店", "老张", "13500000001"],
    ]})
    report = run(archive, path)
    b = report.batches[0]
    assert b.created == 3
    notes = q(archive, "SELECT name, duplicate_note FROM customers ORDER BY name")
    assert [n for n, note in notes if note] == ["丙五金店", "乙装饰公司"]
    assert all("可能重复" in note for _, note in notes if note)
    assert_nothing_lost(archive, path, report)


def test_the_same_company_written_shorter_is_one_customer(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "客户.xlsx", {"客户": [
        ["客户名称", "联系电话", "行业"], ["深圳甲公司", "13500000002", "制造业"], ["甲公司", "13500000002", None]]})
    b = run(archive, path).batches[0]
    assert b.created == 1 and q(archive, "SELECT count(*) FROM customers") == [(1,)]


def test_cells_with_two_numbers_keep_both(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "客户.xlsx", {"客户": [
        ["客户姓名", "联系电话"], ["孙丽", "13376702886\\15917588328"], ["周涛", "13812345678 / 13912345678"]]})
    report = run(archive, path)
    assert q(archive, "SELECT name, phone, other_contacts FROM customers ORDER BY phone") == [
        ("孙丽", "13376702886", "15917588328"), ("周涛", "13812345678", "13912345678")]
    assert_nothing_lost(archive, path, report)


def test_a_local_landline_or_a_wechat_id_in_the_phone_column_does_not_cost_the_customer(archive: Archive,
                                                                                         tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "客户.xlsx", {"客户": [
        ["客户姓名", "电话", "地址"], ["老字号饭店", "3177312", "湛江市霞山区"], ["花店", "wx_flower99", "徐州市鼓楼区"]]})
    report = run(archive, path)
    b = report.batches[0]
    assert (b.created, b.rejected_rows, b.fix_rows) == (2, [], [2, 3])
    assert q(archive, "SELECT other_contacts, address FROM customers ORDER BY other_contacts") == [
        ("3177312", "湛江市霞山区"), ("wx_flower99", "徐州市鼓楼区")]
    assert_nothing_lost(archive, path, report)


def test_two_header_rows_and_title_rows_above(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "导出.xlsx", {"客户": [
        ["某某公司客户资料导出"], ["导出时间：2026-11-30"],
        ["基本信息", None, "联系方式", None],
        ["客户名称", "行业", "手机", "邮箱"],
        ["甲公司", "教育", "13100000001", "a@jia.cn"], ["乙公司", "零售", "13100000002", None],
        ["合计", None, None, None],
    ]})
    report = run(archive, path)
    b = report.batches[0]
    assert (b.template, b.header_row, b.created) == ("T1", 3, 2)
    assert_nothing_lost(archive, path, report)


def test_a_gbk_csv_member_list(archive: Archive, tmp_path: Path) -> None:
    path = tmp_path / "会员.csv"
    path.write_bytes("会员姓名,手机号码,消费金额\n林峰,13200000001,560\n何静,13200000002,88\n".encode("gb18030"))
    b = run(archive, path).batches[0]
    assert (b.template, b.created) == ("T1", 2)
    assert json.loads(q(archive, "SELECT extra FROM customers WHERE name = '林峰'")[0][0]) == {"消费金额": "560"}


# ------------------------------------------------------------------ order exports
TAOBAO = ["订单编号", "买家会员名", "买家实际支付金额", "订单状态", "收货人姓名", "联系手机", "收货地址", "订单创建时间"]


def taobao(tmp_path: Path) -> Path:
    return write_xlsx(tmp_path / "淘宝订单.xlsx", {"订单": [
        TAOBAO,
        ["T1001", "tb_小美", 199.0, "交易成功", "李美", "13000000001", "上海市浦东新区", "2026-11-01 10:00:00"],
        ["T1002", "tb_小美", 59.9, "退款成功", "李美", "13000000001", "上海市浦东新区", "2026-11-02 11:00:00"],
        ["T1003", "tb_阿强", 88.0, "交易关闭", "王强", "13000000002", "北京市朝阳区", "2026-11-03 12:00:00"],
        ["T1004", "tb_阿强", 120.0, "卖家已发货", "王强", "13000000002", "北京市朝阳区", "2026-11-04 09:30:00"],
    ]})


def test_a_taobao_order_export_goes_in_as_transactions(archive: Archive, tmp_path: Path) -> None:
    path = taobao(tmp_path)
    report = run(archive, path)
    (b,) = report.batches
    assert b.template == "T2"
    assert (b.created, b.skipped_rows, b.rejected_rows) == (3, [4], [])
    assert b.rows_read == b.created + b.updated + b.unchanged + b.duplicates + len(b.rejected_rows) + len(b.skipped_rows)
    rows = q(archive, "SELECT order_ref, kind, CAST(amount AS DOUBLE), date FROM transactions ORDER BY order_ref")
    assert rows == [("T1001", "购买", 199.0, dt.date(2026, 11, 1)), ("T1002", "退货", 59.9, dt.date(2026, 11, 2)),
                    ("T1004", "购买", 120.0, dt.date(2026, 11, 4))]
    # the buyers were not archived: created from the rows, one customer per buyer
    assert q(archive, "SELECT name, phone FROM customers ORDER BY phone") == [("tb_小美", "13000000001"),
                                                                            ("tb_阿强", "13000000002")]
    assert any("交易关闭" in p.message and p.row == 4 for p in b.problems)
    assert json.loads(q(archive, "SELECT extra FROM transactions WHERE order_ref = 'T1001'")[0][0])["订单状态"] == "交易成功"
    assert_nothing_lost(archive, path, report)


def test_reimporting_an_order_export_adds_nothing(archive: Archive, tmp_path: Path) -> None:
    path = taobao(tmp_path)
    run(archive, path)
    b = run(archive, path).batches[0]
    assert (b.created, b.duplicates) == (0, 3)
    assert q(archive, "SELECT count(*) FROM transactions") == [(3,)]


def test_an_erp_export_with_document_numbers_and_cancelled_orders(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "销售单.xlsx", {"销售单": [
        ["单据编号", "客户名称", "下单日期", "金额", "状态", "业务员"],
        ["XS-001", "华南电器", "2026-10-10", 5000, "已完成", "小王"],
        ["XS-002", "华南电器", "2026-10-12", 800, "已取消", "小王"],
        ["XS-003", "东方五金", "2026-10-15", 1200, "已完成", "小李"],
    ]})
    report = run(archive, path)
    b = report.batches[0]
    assert (b.template, b.created, b.skipped_rows) == ("T2", 2, [3])
    assert q(archive, "SELECT order_ref FROM transactions ORDER BY 1") == [("XS-001",), ("XS-003",)]
    assert json.loads(q(archive, "SELECT extra FROM transactions WHERE order_ref = 'XS-001'")[0][0])["业务员"] == "小王"


def test_order_lines_of_one_order_stay_separate_rows(archive: Archive, tmp_path: Path) -> None:
    path = write_xlsx(tmp_path / "订单明细.xlsx", {"明细": [
        ["订单号", "客户名称", "付款时间", "实付金额", "商品名称"],
        ["D1", "张三", "2026-11-05", 30, "毛巾"], ["D1", "张三", "2026-11-05", 30, "牙刷"],
        ["D2", "张三", "2026-11-05", 30, "毛巾"],
    ]})
    report = run(archive, path)
    assert report.batches[0].created == 3
    assert q(archive, "SELECT order_ref, count(*) FROM transactions GROUP BY 1 ORDER BY 1") == [("D1", 2), ("D2", 1)]
    assert_nothing_lost(archive, path, report)


@pytest.mark.parametrize("head", [["客户名称", "成交日期", "成交金额"], ["会员姓名", "消费时间", "消费金额"],
                                  ["客户", "签单日期", "签单金额"], ["单位名称", "提单时间", "订单金额"]])
def test_sales_records_without_a_kind_are_purchases(archive: Archive, tmp_path: Path, head: list[str]) -> None:
    path = write_xlsx(tmp_path / "记录.xlsx", {"S": [head, ["客户甲", "2026-09-01", 100], ["客户乙", "2026-09-02", 200]]})
    b = run(archive, path).batches[0]
    assert (b.template, b.created) == ("T2", 2), [p.message for p in b.problems]
    assert q(archive, "SELECT DISTINCT kind FROM transactions") == [("购买",)]


def test_a_dry_run_uses_no_batch_number(archive: Archive, tmp_path: Path) -> None:
    path = taobao(tmp_path)
    preview = run(archive, path, dry_run=True)
    assert preview.batches[0].batch_id < 0
    real = run(archive, path)
    assert real.batches[0].batch_id == 1


def test_a_sheet_that_says_it_holds_transactions_but_lacks_the_date_says_so(archive: Archive, tmp_path: Path) -> None:
    report = run(archive, write_xlsx(tmp_path / "x.xlsx", {"S": [["客户名称", "交易类型", "金额"], ["甲", "购买", 1]]}))
    (skipped,) = report.skipped_sheets
    assert "T2" in skipped.reason and "购买时间" in skipped.reason and skipped.reason.count("购买时间") == 1


def test_the_preview_says_why_each_column_was_matched(tmp_path: Path) -> None:
    from crm.imports.recognise import recognise_sheet

    book = read_workbook(taobao(tmp_path))
    rec = recognise_sheet(book.sheets[0])
    why = {rec.headers[i]: r for i, r in rec.reasons.items()}
    assert why["买家会员名"] == "「客户名称」的常见写法"
    assert why["订单创建时间"] == "列名含「创建时间」"
    assert why["买家实际支付金额"] == "列名含「金额」"


def test_a_mapping_may_give_a_field_one_value_for_the_whole_sheet(archive: Archive, tmp_path: Path) -> None:
    """A list the recogniser cannot place (no header it knows), mapped by hand: 客户来源 = 展会 for all,
    remembered with the mapping, so the CLI imports the next such sheet the same way."""
    from crm.imports.preview import build_recognition, missing_required, save_mapping
    from crm.imports.recognise import Recognition, recognise_sheet

    rows = [["甲列", "乙列"], ["展会客户一", "13900000011"], ["展会客户二", "13900000012"]]
    path = write_xlsx(tmp_path / "展会.xlsx", {"登记": rows})
    book = read_workbook(path)
    assert not isinstance(recognise_sheet(book.sheets[0]), Recognition)
    rec = build_recognition("T1", 0, {0: "甲列", 1: "乙列"}, {0: "name", 1: "phone"}, {"source": "展会"})
    assert missing_required("T1", [*rec.columns.values(), *rec.constants]) == []
    save_mapping(archive, ["甲列", "乙列"], rec, "cli")
    b = run(archive, path).batches[0]
    assert b.created == 2
    assert q(archive, "SELECT DISTINCT source FROM customers") == [("展会",)]
    with pytest.raises(ValueError, match="已对应了表格中的列"):
        build_recognition("T1", 0, {0: "甲列", 1: "乙列"}, {0: "name", 1: "source"}, {"source": "展会"})


def test_an_unknown_constant_of_a_closed_list_refuses_every_row(archive: Archive, tmp_path: Path) -> None:
    from crm.imports.pipeline import import_workbook
    from crm.imports.preview import build_recognition

    path = write_xlsx(tmp_path / "t.xlsx", {"S": [["甲", "乙", "丙"], ["张三", "2026-10-01", 10]]})
    rec = build_recognition("T2", 0, {0: "甲", 1: "乙", 2: "丙"}, {0: "name", 1: "date", 2: "amount"}, {"kind": "赠送"})
    b = import_workbook(archive, read_workbook(path), "cli", today=TODAY, overrides={"S": rec}).batches[0]
    assert b.rejected_rows == [2] and any("交易类型（固定值）" == p.column for p in b.problems)
