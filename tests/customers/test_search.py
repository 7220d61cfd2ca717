"""客户查询: the search box, its filters, paging and masking, on a small archive built by import."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from conftest import write_xlsx

from crm.auth.personal import PersonalData, actor_for
from crm.customers import search
from crm.customers.search import SearchFilters, filter_options, refresh_search_text, search_customers
from crm.db import Archive, scalar
from crm.imports.pipeline import import_path

TODAY = dt.date(2026, 11, 22)
HEAD = ["客户编号", "客户姓名", "联系电话", "电子邮箱", "公司", "行业", "地区", "负责人", "标签"]
ROWS = [
    ["C001", "张伟", "13812345678", "boss@jia.com", "甲公司", "制造业", "广东", "王磊", "VIP，重点客户"],
    ["C002", "李娜", "13987655678", "lina@yi.cn", "乙公司", "零售", "浙江", "孙丽", "价格敏感"],
    ["C003", "王芳", "0755-26661234", "wf@qq.com", "深圳（南山）科技有限公司", "制造业", "广东", "王磊", None],
    ["C004", "Tom_Lee", "13700001111", "tom@abc.com", "ABC_Trading", "外贸", "上海", "孙丽", "VIP"],
    ["C005", "张伟明", "13600002222", "m@bing.com", "丙公司", "金融", "北京", "王磊", None],
    ["C006", "赵文", "13500003333", "w@ding.com", "100%满意商贸", "零售", "北京", "孙丽", None],
    ["C007", "陈静", "13400004444", "c@wu.com", "戊公司", "教育", "四川", "孙丽", None],
    ["C008", "张伟", "15800008888", "z8@ji.com", "己公司", "制造业", "广东", "孙丽", None],
]


@pytest.fixture
def book(archive: Archive, tmp_path: Path) -> Archive:
    report = import_path(archive, write_xlsx(tmp_path / "p.xlsx", {"客户档案": [HEAD, *ROWS]}), user="cli", today=TODAY)
    assert report.batches[0].created == len(ROWS) and not report.batches[0].rejected_rows
    with archive.transaction() as tx:
        tx.execute("INSERT INTO users (username, role) VALUES ('王磊', '销售'), ('看客', '只读')")
        tx.execute("""INSERT INTO transactions (customer_id, kind, date, amount) VALUES
            ('C001', '购买', DATE '2026-10-01', 60000),
            ('C002', '购买', DATE '2025-01-10', 800),
            ('C003', '购买', DATE '2026-01-05', 300)""")
        tx.execute("INSERT INTO interactions (customer_id, date, channel) VALUES ('C003', DATE '2026-11-01', '电话')")
    return archive


def admin(archive: Archive) -> PersonalData:
    return PersonalData(archive, actor_for(archive, "cli"))


def ids(archive: Archive, text: str, filters: SearchFilters | None = None, **kw) -> list[str]:
    page = search_customers(admin(archive), text, filters or SearchFilters(), as_of=TODAY, **kw)
    assert page.total == len(page.rows) or kw
    return [r["customer_id"] for r in page.rows]


def test_name_pinyin_and_initials(book: Archive) -> None:
    assert ids(book, "张伟") == ["C001", "C008", "C005"]  # exact name matches first, then by id
    assert ids(book, "zhangwei") == ["C001", "C005", "C008"]
    assert ids(book, "ZW") == ["C001", "C005", "C006", "C008"]  # 张伟, 张伟明 (zwm), 赵文
    assert ids(book, "伟明") == ["C005"]


def test_phone_fragments_any_part_and_full_width(book: Archive) -> None:
    assert ids(book, "5678") == ["C001", "C002"]
    assert ids(book, "５６７８") == ["C001", "C002"]
    assert ids(book, "１３８１２３４５６７８") == ["C001"]
    assert ids(book, "138-1234") == ["C001"]  # the digits of the query, anywhere in the phone
    assert ids(book, "26661234") == ["C003"]  # a landline stored with its area code and dash
    assert ids(book, "0755-2666") == ["C003"]


def test_email_company_id_and_tag(book: Archive) -> None:
    assert ids(book, "qq.com") == ["C003"]
    assert ids(book, "乙公司") == ["C002"]
    assert ids(book, "（南山）") == ["C003"]  # full-width brackets in the data and the query
    assert ids(book, "(南山)") == ["C003"]
    assert ids(book, "c004") == ["C004"]
    assert ids(book, "C00")[:2] == ["C001", "C002"] and len(ids(book, "C00")) == 8
    assert ids(book, "重点") == ["C001"]
    assert ids(book, "vip") == ["C001", "C004"]


def test_wildcards_and_quotes_are_literal(book: Archive) -> None:
    assert ids(book, "_") == ["C004"]  # Tom_Lee / ABC_Trading
    assert ids(book, "t_m") == []  # would match "tom" if _ were a wildcard
    assert ids(book, "%") == ["C006"]  # only the company that contains a %
    assert ids(book, "100%满意") == ["C006"]
    assert ids(book, "a%b") == []
    assert ids(book, "\\") == [] and ids(book, "'") == [] and ids(book, '"') == []
    assert ids(book, "\x1f") == ids(book, "")  # the field separator can't be searched for
    assert ids(book, "张伟\x01") == ids(book, "张伟") and ids(book, "张\x00伟") == ids(book, "张 伟")  # nor other controls


def test_exact_name_or_id_first_even_with_nothing_else_known(archive: Archive) -> None:
    with archive.transaction() as tx:
        tx.execute("INSERT INTO customers (customer_id, name) VALUES ('A1', '王二小'), ('A2', '王二'), ('Z9', '王二'), "
                   "('B1', NULL), ('WANG2', 'x'), ('A0', 'xa2y')")
        refresh_search_text(tx, None)
    assert ids(archive, "王二") == ["A2", "Z9", "A1"]
    assert ids(archive, "wang2") == ["WANG2"] and ids(archive, "a") == ["A0", "A1", "A2", "WANG2"]
    assert ids(archive, "a2") == ["A2", "A0"]  # the exact id first, then the name containing it


def test_ids_in_any_case_are_found_and_ordered_as_stored(archive: Archive) -> None:
    with archive.transaction() as tx:  # not how the app stores ids (upper case), but nothing is lost
        tx.execute("INSERT INTO customers (customer_id, name) VALUES ('abc1', '小写'), ('AbC2', '混合'), ('ABC3', '大写')")
        tx.execute("INSERT INTO customer_tags (customer_id, tag) VALUES ('AbC2', '老客户')")
        refresh_search_text(tx, None)
    page = search_customers(admin(archive), "abc", SearchFilters())
    assert page.ids == ["ABC3", "AbC2", "abc1"] and page.rows[1]["tags"] == ["老客户"]


def test_sql_in_the_box_is_just_text(book: Archive) -> None:
    for text in ("'; DROP TABLE customers; --", "' OR 1=1 --", "张伟') OR ('1'='1", "1; DELETE FROM customers"):
        assert ids(book, text) == []
    cur = book.cursor()
    assert scalar(cur, "SELECT count(*) FROM customers") == len(ROWS)


def test_all_words_must_match(book: Archive) -> None:
    assert ids(book, "张伟 138") == ["C001"]
    assert ids(book, "张伟　158") == ["C008"]  # ideographic space separates words too
    assert ids(book, "张伟 乙公司") == []


def test_empty_query_lists_everyone_by_id(book: Archive) -> None:
    page = search_customers(admin(book), "  ", SearchFilters())
    assert page.total == len(ROWS) and [r["customer_id"] for r in page.rows] == [r[0] for r in ROWS]
    first = page.rows[0]
    assert first == {"customer_id": "C001", "name": "张伟", "phone": "13812345678", "email": "boss@jia.com",
                     "company": "甲公司", "owner": "王磊", "region": "广东", "industry": "制造业",
                     "tags": ["VIP", "重点客户"]}


def test_filters(book: Archive) -> None:
    assert ids(book, "", SearchFilters(owner="王磊")) == ["C001", "C003", "C005"]
    assert ids(book, "", SearchFilters(region="北京")) == ["C005", "C006"]
    assert ids(book, "", SearchFilters(industry="制造业")) == ["C001", "C003", "C008"]
    assert ids(book, "", SearchFilters(tag="VIP")) == ["C001", "C004"]
    assert ids(book, "张伟", SearchFilters(owner="王磊")) == ["C001", "C005"]
    assert ids(book, "", SearchFilters(region="广东", industry="制造业", owner="孙丽")) == ["C008"]
    assert ids(book, "", SearchFilters(owner="没有这个人")) == []


def test_stage_and_value_filters_use_the_segments_as_of_a_date(book: Archive) -> None:
    assert ids(book, "", SearchFilters(stage="新成交客户")) == ["C001"]
    assert ids(book, "", SearchFilters(stage="流失风险客户")) == ["C002"]
    assert ids(book, "", SearchFilters(stage="老客户")) == ["C003"]
    assert ids(book, "张伟", SearchFilters(stage="潜在客户")) == ["C008", "C005"]
    assert ids(book, "", SearchFilters(value="高价值")) == ["C001"]
    assert ids(book, "", SearchFilters(stage="新成交客户", value="低价值")) == []
    # as of an earlier day, the labels of then: only C002 had bought, five months before
    early = search_customers(admin(book), "", SearchFilters(stage="老客户"), as_of=dt.date(2025, 6, 30))
    assert early.ids == ["C002"]
    assert search_customers(admin(book), "", SearchFilters(stage="新成交客户"), as_of=dt.date(2025, 6, 30)).ids == []
    with pytest.raises(ValueError, match="没有「VIP」这一分类"):
        search_customers(admin(book), "", SearchFilters(stage="VIP"))


def test_paging_totals_and_the_deep_page_path(archive: Archive, monkeypatch: pytest.MonkeyPatch) -> None:
    with archive.transaction() as tx:
        tx.execute("INSERT INTO customers (customer_id, name, name_pinyin, name_initials, phone) "
                   "SELECT printf('P%03d', i), '测试客户' || i, 'ceshikehu' || i, 'cskh', printf('1390000%04d', i) "
                   "FROM range(1, 121) t(i)")
        tx.execute("INSERT INTO customers (customer_id, name, phone) VALUES ('Z1', '别人', '13300000000')")
        refresh_search_text(tx, None)
    reader = admin(archive)
    pages = [search_customers(reader, "测试", SearchFilters(), page=p, page_size=50) for p in range(4)]
    assert [p.total for p in pages] == [120] * 4 and pages[0].pages == 3
    assert [len(p.rows) for p in pages] == [50, 50, 20, 0]
    big = search_customers(reader, "测试", SearchFilters(), page_size=120)  # fetched in several batches
    assert big.ids == [f"P{i:03d}" for i in range(1, 121)] == [r["customer_id"] for r in big.rows]
    assert pages[0].rows[0]["customer_id"] == "P001" and pages[2].rows[-1]["customer_id"] == "P120"
    assert search_customers(reader, "测试客户7", SearchFilters(), page_size=5).rows[0]["customer_id"] == "P007"  # exact first
    monkeypatch.setattr(search, "TOP_N_CAP", 60)  # pages beyond it take ORDER BY … LIMIT/OFFSET
    deep = [search_customers(reader, "测试", SearchFilters(), page=p, page_size=50) for p in range(4)]
    assert [(d.total, d.ids) for d in deep] == [(p.total, p.ids) for p in pages]
    assert search_customers(reader, "测试客户7", SearchFilters(), page=20, page_size=5).total == 11
    assert search_customers(reader, "", SearchFilters(), page=2, page_size=50).ids[-1] == "Z1"
    with pytest.raises(ValueError):
        search_customers(reader, "", SearchFilters(), page_size=0)


def test_results_are_masked_for_a_viewer_and_for_other_owners_customers(book: Archive) -> None:
    # (a viewer finds a customer by a phone only when it is typed in full: see the scope test below)
    viewer = PersonalData(book, actor_for(book, "看客"))
    rows = [*search_customers(viewer, "13812345678", SearchFilters()).rows,
            *search_customers(viewer, "13987655678", SearchFilters()).rows]
    assert [(r["customer_id"], r["name"], r["phone"], r["email"]) for r in rows] == [
        ("C001", "张*", "138****5678", "b***@jia.com"), ("C002", "李*", "139****5678", "l***@yi.cn")]
    assert rows[0]["company"] == "甲公司" and rows[0]["owner"] == "王磊"
    sales = PersonalData(book, actor_for(book, "王磊"))
    rows = {r["customer_id"]: r for r in [*search_customers(sales, "5678", SearchFilters()).rows,
                                          *search_customers(sales, "13987655678", SearchFilters()).rows]}
    assert rows["C001"]["phone"] == "13812345678" and rows["C002"]["phone"] == "139****5678"


def test_imports_keep_search_text_current(book: Archive, tmp_path: Path) -> None:
    again = [["C002", "李娜娜", None, None, None, None, None, None, "回头客"]]
    import_path(book, write_xlsx(tmp_path / "u.xlsx", {"客户档案": [HEAD, *again]}), user="cli", today=TODAY)
    assert ids(book, "李娜娜") == ["C002"] and ids(book, "linana") == ["C002"] and ids(book, "回头客") == ["C002"]
    complaint = [["受理编号", "受理日期", "客户姓名", "联系方式", "投诉类型", "投诉事由"],
                 ["TS9", "2026-11-01", "欧阳娜娜", "13311112222", "服务", "态度差"]]
    import_path(book, write_xlsx(tmp_path / "c.xlsx", {"投诉登记": complaint}), user="cli", today=TODAY)
    assert len(ids(book, "oyn")) == 1 and ids(book, "1111222") == ids(book, "欧阳")


def test_migration_backfills_and_matches_the_live_definition(book: Archive) -> None:
    cur = book.cursor()
    before = cur.execute("SELECT customer_id, search_text FROM customers ORDER BY 1").fetchall()
    assert before[0][1] == "张伟\x1fc001\x1fzhangwei\x1fzw\x1f13812345678\x1fboss@jia.com\x1f甲公司\x1fvip\x1f重点客户"
    assert dict(before)["C003"].endswith("\x1f0755-26661234\x1f075526661234\x1fwf@qq.com\x1f深圳(南山)科技有限公司")
    cur.execute("UPDATE customers SET search_text = NULL")
    from crm.schema import MIGRATIONS
    cur.execute("ALTER TABLE customers DROP COLUMN search_text")
    cur.execute("DROP INDEX customer_tags_customer")
    MIGRATIONS[2](cur)
    assert cur.execute("SELECT customer_id, search_text FROM customers ORDER BY 1").fetchall() == before


def test_filter_options(book: Archive) -> None:
    options = filter_options(book)
    assert options["owners"] == ["孙丽", "王磊"]
    assert "广东" in options["regions"] and "北京" in options["regions"]
    assert options["industries"] == sorted({r[5] for r in ROWS})
    assert options["tags"] == ["VIP", "价格敏感", "重点客户"]
    assert options["stages"] == ["潜在客户", "新成交客户", "老客户", "流失风险客户"]


def test_filter_options_are_read_again_only_when_the_customers_change(book: Archive, monkeypatch) -> None:
    from crm.auth.personal import Actor
    from crm.customers import search
    from crm.customers.edits import update_customer

    reads: list[int] = []
    real = search._read_filter_options
    monkeypatch.setattr(search, "_read_filter_options", lambda arc: reads.append(1) or real(arc))
    first = filter_options(book)
    first["owners"].append("改了副本")  # a caller's change does not reach the cache
    assert filter_options(book)["owners"] == ["孙丽", "王磊"] and len(reads) <= 1
    cid = book.cursor().execute("SELECT customer_id FROM customers WHERE owner = '王磊' LIMIT 1").fetchone()[0]
    update_customer(book, Actor("admin", "管理员"), cid, {"region": "西藏", "tags": "新标签"})
    options = filter_options(book)
    assert "西藏" in options["regions"] and "新标签" in options["tags"] and len(reads) == 2


def test_outside_a_readers_scope_a_phone_or_email_matches_only_in_full(book: Archive) -> None:
    """A viewer cannot recover a hidden phone digit by digit (C2023… 1391, 13912, …), nor confirm an
    e-mail by its part; a sales user can, for their own customers only; leads and up everywhere."""
    viewer = PersonalData(book, actor_for(book, "看客"))
    assert search_customers(viewer, "1398765").ids == []
    assert search_customers(viewer, "5678").total == 0  # the count does not confirm a fragment
    assert search_customers(viewer, "13987655678").ids == ["C002"]  # typed in full: found, shown masked
    assert search_customers(viewer, "lina@yi.cn").ids == ["C002"]
    assert search_customers(viewer, "lina@").ids == []
    assert search_customers(viewer, "李娜").ids == ["C002"]  # names still search (and show masked)
    sales = PersonalData(book, actor_for(book, "王磊"))
    own = {r["customer_id"] for r in search_customers(sales, "0755").rows}
    assert own == {"C003"}  # 王芳's landline, a customer of 王磊
    assert search_customers(sales, "1398765").ids == []  # 李娜 belongs to 孙丽
    assert ids(book, "1398765") == ["C002"]  # an admin searches every part


def test_a_combined_tag_is_found_as_well_as_its_parts(archive: Archive, tmp_path: Path) -> None:
    from crm.customers.search import normalise_query

    assert normalise_query("制造业-高价值") == ["制造业", "高价值"]
    assert normalise_query("138-1234-5678 a-b@x.cn C2024-01") == ["138-1234-5678", "a-b@x.cn", "c2024-01"]
    import_path(archive, write_xlsx(tmp_path / "t.xlsx", {"客户": [["客户姓名", "手机", "标签"],
                                                               ["甲", "13500000001", "制造业-高价值"],
                                                               ["乙", "13500000002", "制造业"]]}), user="cli", today=TODAY)
    assert len(ids(archive, "制造业-高价值")) == 1 and len(ids(archive, "制造业")) == 2
