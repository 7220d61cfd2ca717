"""crm.seed: the demo archive must be valid data, reproducible, and populate every segment.

Segments are recomputed here with plain SQL and the default thresholds of PRODUCT.md, so the
test does not depend on (and cannot be fooled by) the app's own classification code.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

import phonenumbers
import pytest
from email_validator import validate_email

from crm.customers.search_keys import name_initials, name_pinyin
from crm.db import open_archive
from crm.seed import seed_demo

TODAY = date(2026, 11, 22)
N = 2000
TABLES = ("customers", "customer_tags", "transactions", "interactions", "follow_ups", "complaints", "surveys")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    archive = open_archive(tmp_path_factory.mktemp("seed") / "a.duckdb")
    counts = seed_demo(archive, customers=N, seed=42, today=TODAY, user="测试员")
    yield archive, counts
    archive.close()


def rows(archive, sql: str, params: list | None = None) -> list[tuple]:
    cur = archive.cursor()
    try:
        return cur.execute(sql, params or []).fetchall()
    finally:
        cur.close()


def one(archive, sql: str, params: list | None = None):
    return rows(archive, sql, params)[0][0]


def customer_rows(archive) -> list[tuple]:
    # created_at/updated_at are wall-clock stamps, not generated data
    return rows(archive, "SELECT * EXCLUDE (created_at, updated_at) FROM customers ORDER BY customer_id")


# -- counts, batch, audit -------------------------------------------------------------------
def test_every_table_is_filled_and_counts_are_true(seeded):
    archive, counts = seeded
    assert counts["customers"] == N
    for table in TABLES:
        assert counts[table] > 0, table
        assert one(archive, f"SELECT count(*) FROM {table}") == counts[table], table
    assert 8 <= counts["transactions"] / N <= 12  # about ten per customer
    assert one(archive, "SELECT count(*) FROM users") == counts["users"] == 10  # one account per role, a viewer too


def test_batch_and_audit_rows(seeded):
    archive, _ = seeded
    (batch,) = rows(archive, "SELECT batch_id, file, sheet, template, user_name, rows_read, created, status "
                             "FROM import_batches")
    batch_id = batch[0]
    assert batch[1:] == ("演示数据", None, "SEED", "测试员", N, N, "active")
    for table in TABLES:
        assert one(archive, f"SELECT count(*) FROM {table} WHERE batch_id IS DISTINCT FROM ?", [batch_id]) == 0
    assert rows(archive, "SELECT user_name, action, entity_id FROM audit_log") == [("测试员", "seed", str(batch_id))]


def test_users_and_owners(seeded):
    archive, _ = seeded
    roles = dict(rows(archive, "SELECT username, role FROM users"))
    assert roles["admin"] == "管理员"
    assert sorted(r for r in roles.values() if r != "销售") == ["主管", "只读", "管理员", "经理"]
    assert list(roles.values()).count("销售") >= 4
    # every demo account can log in with its role's documented password; only hashes are stored
    assert one(archive, "SELECT count(*) FROM users WHERE NOT starts_with(password_hash, '$argon2id$')") == 0
    # every owner is a sales user; the book is skewed, not evenly split
    owners = dict(rows(archive, "SELECT owner, count(*) FROM customers WHERE owner IS NOT NULL GROUP BY owner"))
    assert set(owners) <= {u for u, r in roles.items() if r == "销售"}
    assert max(owners.values()) > 1.5 * min(owners.values())


def test_seeding_twice_is_refused(seeded):
    archive, _ = seeded
    with pytest.raises(ValueError, match="档案库已有客户数据"):
        seed_demo(archive, customers=10, today=TODAY)
    assert one(archive, "SELECT count(*) FROM customers") == N
    assert one(archive, "SELECT count(*) FROM import_batches") == 1


# -- reproducibility ------------------------------------------------------------------------
def test_same_seed_same_data_different_seed_different(tmp_path):
    def build(name: str, seed: int) -> list[tuple]:
        archive = open_archive(tmp_path / name)
        seed_demo(archive, customers=300, seed=seed, today=TODAY)
        data = customer_rows(archive)
        txs = rows(archive, "SELECT customer_id, kind, date, amount FROM transactions ORDER BY ALL")
        archive.close()
        return data + txs

    first, again, other = build("a.duckdb", 7), build("b.duckdb", 7), build("c.duckdb", 8)
    assert first == again
    assert first != other


# -- identities and contact data ------------------------------------------------------------
def test_customer_ids_unique_and_follow_first_contact(seeded):
    archive, _ = seeded
    ids = rows(archive, "SELECT customer_id, first_contact FROM customers")
    assert len({i for i, _ in ids}) == N
    per_day: dict[date, list[int]] = {}
    for cid, first in ids:
        m = re.fullmatch(r"C(\d{8})(\d{3,})", cid)
        assert m, cid
        assert m.group(1) == first.strftime("%Y%m%d")
        per_day.setdefault(first, []).append(int(m.group(2)))
    for seqs in per_day.values():  # 001, 002, … without gaps
        assert sorted(seqs) == list(range(1, len(seqs) + 1))


def test_phones_are_valid_unique_mobiles(seeded):
    archive, _ = seeded
    phones = [p for (p,) in rows(archive, "SELECT phone FROM customers WHERE phone IS NOT NULL")]
    assert 0.9 * N < len(phones) < N  # a few customers have no phone
    assert len(set(phones)) == len(phones)
    for p in phones:
        assert re.fullmatch(r"1\d{10}", p), p
        assert phonenumbers.is_valid_number(phonenumbers.parse(p, "CN")), p
    assert len({p[:3] for p in phones}) >= 15


def test_emails_are_valid_lower_case_and_unique(seeded):
    archive, _ = seeded
    emails = [e for (e,) in rows(archive, "SELECT email FROM customers WHERE email IS NOT NULL")]
    assert 0.5 * N < len(emails) < 0.9 * N  # many customers have no e-mail
    assert len(set(emails)) == len(emails)
    for e in emails:
        assert e == e.lower()
        validate_email(e, check_deliverability=False)
    domains = {e.split("@")[1] for e in emails}
    assert {"qq.com", "163.com", "126.com"} <= domains
    assert len(domains) > 20  # company domains too
    assert one(archive, "SELECT count(*) FROM customers WHERE phone IS NULL AND email IS NULL") == 0


def test_names_pinyin_and_mix_of_people_and_companies(seeded):
    archive, _ = seeded
    data = rows(archive, "SELECT name, name_pinyin, name_initials, gender FROM customers")
    for name, py, ini, _ in data:
        assert py == name_pinyin(name) and ini == name_initials(name), name
    companies = [n for n, *_ in data if n.endswith("公司")]
    assert 0.03 * N < len(companies) < 0.15 * N
    assert len(set(companies)) == len(companies)
    people = [(n, g) for n, _, _, g in data if not n.endswith("公司")]
    assert all(2 <= len(n) <= 4 and g in ("男", "女") for n, g in people)
    surnames = {}
    for n, _ in people:
        surnames[n[0]] = surnames.get(n[0], 0) + 1
    top = sorted(surnames.values(), reverse=True)
    assert top[0] > 5 * top[min(30, len(top) - 1)]  # 王/李/张 far ahead of the tail


def test_regions_industries_addresses_and_gaps(seeded):
    archive, _ = seeded
    regions = rows(archive, "SELECT region, count(*) FROM customers WHERE region IS NOT NULL "
                            "GROUP BY 1 ORDER BY 2 DESC")
    assert len(regions) >= 20 and regions[0][1] > 5 * regions[-1][1]
    assert {"广东", "浙江", "江苏", "北京", "上海"} <= {r for r, _ in regions}
    # addresses name the customer's own province or municipality
    bad = one(archive, "SELECT count(*) FROM customers WHERE address IS NOT NULL AND NOT starts_with(address, region)")
    assert bad == 0
    industries = {r for (r,) in rows(archive, "SELECT DISTINCT industry FROM customers WHERE industry IS NOT NULL")}
    assert {"制造业", "零售", "互联网", "金融", "教育", "医疗", "建筑", "物流"} <= industries
    missing_need = one(archive, "SELECT avg((product_need IS NULL)::INT) FROM customers")
    assert 0.04 < missing_need < 0.12
    for col in ("source", "priority", "price_sensitivity", "credit_level", "company_size"):
        assert one(archive, f"SELECT count(DISTINCT {col}) FROM customers") >= 3, col
    assert one(archive, "SELECT count(DISTINCT tag) FROM customer_tags") >= 8


# -- the shape of the history ---------------------------------------------------------------
def test_history_is_in_the_past_and_shaped(seeded):
    archive, _ = seeded
    for table in ("transactions", "interactions", "complaints", "surveys"):
        assert one(archive, f"SELECT max(date) FROM {table}") <= TODAY, table
    assert one(archive, "SELECT min(date) FROM transactions") >= TODAY - timedelta(days=731)
    kinds = dict(rows(archive, "SELECT kind, count(*) FROM transactions GROUP BY 1"))
    assert set(kinds) == {"购买", "咨询", "续约", "退货", "投诉"}
    assert kinds["购买"] > 0.7 * sum(kinds.values())
    assert one(archive, "SELECT count(*) FROM transactions WHERE kind = '退货' AND amount >= 0") == 0
    assert one(archive, "SELECT count(*) FROM transactions WHERE kind IN ('购买', '续约') AND NOT amount > 0") == 0
    assert one(archive, "SELECT count(*) FROM transactions WHERE rating NOT BETWEEN 1 AND 5") == 0
    assert 0 < one(archive, "SELECT avg((rating IS NOT NULL)::INT) FROM transactions") < 0.6
    # seasonality: February is quiet, the year end busy
    per_day = dict(rows(archive, """SELECT month(date), count(*) / count(DISTINCT date) FROM transactions
                                    WHERE kind = '购买' GROUP BY 1"""))
    assert per_day[2] < 0.75 * min(per_day[11], per_day[12], per_day[1])
    # long tail: the top 1% of customers carry a large share of revenue
    top_share = one(archive, """
        WITH r AS (SELECT customer_id, sum(amount) AS s FROM transactions GROUP BY 1)
        SELECT sum(s) FILTER (WHERE s >= (SELECT quantile_cont(s, 0.99) FROM r)) / sum(s) FROM r""")
    assert top_share > 0.08


def test_follow_ups_complaints_surveys(seeded):
    archive, _ = seeded
    fu = dict(rows(archive, "SELECT status, count(*) FROM follow_ups GROUP BY 1"))
    assert fu.get("待跟进", 0) > 0 and fu.get("已完成", 0) > 0
    assert one(archive, "SELECT count(*) FROM follow_ups WHERE origin IS DISTINCT FROM 'seed'") == 0
    assert one(archive, "SELECT count(*) FROM follow_ups WHERE status = '已完成' AND (done_at IS NULL OR due > ?)",
               [TODAY]) == 0
    open_due = [d for (d,) in rows(archive, "SELECT due FROM follow_ups WHERE status = '待跟进'")]
    assert any(d < TODAY for d in open_due)
    assert any(d == TODAY for d in open_due)
    assert any(TODAY < d <= TODAY + timedelta(days=6) for d in open_due)

    ids = [i for (i,) in rows(archive, "SELECT complaint_id FROM complaints")]
    assert all(re.fullmatch(r"TS\d{8}\d{3,}", i) for i in ids)
    assert one(archive, "SELECT count(*) FROM complaints WHERE complaint_id <> "
                        "'TS' || strftime(date, '%Y%m%d') || right(complaint_id, 3)") == 0
    c = rows(archive, """SELECT
        count(*) FILTER (WHERE resolved_on IS NULL),
        count(*) FILTER (WHERE resolved_on > promised_by),
        count(*) FILTER (WHERE resolved_on <= promised_by),
        count(*) FILTER (WHERE NOT accepted),
        count(*) FILTER (WHERE NOT accepted AND reject_reason IS NULL),
        count(*) FILTER (WHERE loss > 0),
        count(DISTINCT kind), count(DISTINCT urgency), count(DISTINCT department)
        FROM complaints""")[0]
    open_, late, on_time, rejected, rejected_without_reason, with_loss, kinds, urgencies, depts = c
    assert open_ > 0 and late > 0 and on_time > late and rejected > 0 and with_loss > 0
    assert rejected_without_reason == 0
    assert kinds == 3 and urgencies == 3 and depts >= 5
    assert one(archive, "SELECT count(*) FROM complaints c LEFT JOIN customers USING (customer_id) "
                        "WHERE customers.customer_id IS NULL") == 0

    share = one(archive, "SELECT count(DISTINCT customer_id) / ? FROM surveys", [N])
    assert 0.07 < share < 0.13
    cols = "service_quality, service_attitude, efficiency, professionalism, product_quality, packaging"
    assert one(archive, f"SELECT count(*) FROM surveys WHERE least({cols}) < 1 OR greatest({cols}) > 5") == 0
    assert one(archive, "SELECT corr(service_quality, product_quality) FROM surveys") > 0.4


# -- every segment of the classification rules is populated --------------------------------
SEGMENTS_SQL = """
WITH tx AS (
    SELECT customer_id,
           min(date) FILTER (WHERE kind IN ('购买', '续约') AND amount > 0) AS first_buy,
           max(date) AS last_tx,
           coalesce(sum(amount) FILTER (WHERE date > $d - INTERVAL 12 MONTH), 0) AS rev12,
           coalesce(sum(amount) FILTER (WHERE date > $d - INTERVAL 90 DAY), 0) AS rev90,
           coalesce(sum(amount) FILTER (WHERE date > $d - INTERVAL 180 DAY
                                          AND date <= $d - INTERVAL 90 DAY), 0) AS prev90
    FROM transactions GROUP BY customer_id),
it AS (
    SELECT customer_id, max(date) AS last_int,
           count(*) FILTER (WHERE date > $d - INTERVAL 30 DAY) AS n30
    FROM interactions GROUP BY customer_id),
cp AS (SELECT DISTINCT customer_id FROM complaints WHERE date > $d - INTERVAL 12 MONTH),
c AS (
    SELECT customers.customer_id, first_buy, coalesce(rev12, 0) AS rev12, coalesce(rev90, 0) AS rev90,
           coalesce(prev90, 0) AS prev90, coalesce(n30, 0) AS n30,
           greatest(last_int, last_interaction) AS last_int,
           greatest(last_tx, last_int, last_interaction) AS last_activity,
           cp.customer_id IS NOT NULL AS complained
    FROM customers LEFT JOIN tx USING (customer_id) LEFT JOIN it USING (customer_id)
                   LEFT JOIN cp USING (customer_id)),
q AS (SELECT quantile_cont(rev12, 0.9) AS p90, quantile_cont(rev12, 0.5) AS p50 FROM c WHERE rev12 > 0),
high AS (SELECT customer_id FROM c, q WHERE rev12 >= q.p90 OR rev12 >= 50000)
SELECT
    count(*) FILTER (WHERE first_buy IS NULL),
    count(*) FILTER (WHERE first_buy > $d - INTERVAL 3 MONTH),
    count(*) FILTER (WHERE first_buy <= $d - INTERVAL 3 MONTH AND last_activity >= $d - INTERVAL 6 MONTH),
    count(*) FILTER (WHERE first_buy IS NOT NULL AND last_activity < $d - INTERVAL 6 MONTH),
    count(*) FILTER (WHERE customer_id IN (SELECT customer_id FROM high)),
    count(*) FILTER (WHERE rev12 >= 50000),
    count(*) FILTER (WHERE rev12 >= p50 AND customer_id NOT IN (SELECT customer_id FROM high)),
    count(*) FILTER (WHERE rev12 > 0 AND rev12 < p50),
    count(*) FILTER (WHERE prev90 > 0 AND rev90 >= 2 * prev90
                     AND customer_id NOT IN (SELECT customer_id FROM high)),
    count(*) FILTER (WHERE n30 >= 3),
    count(*) FILTER (WHERE last_int < $d - INTERVAL 3 MONTH),
    count(*) FILTER (WHERE complained)
FROM c, q
"""
SEGMENTS = ("潜在客户", "新成交客户", "老客户", "流失风险客户", "高价值", "高价值(≥5万)", "中价值", "低价值", "潜力客户",
            "高频互动", "沉睡客户", "投诉客户")


def test_every_segment_is_populated(seeded):
    archive, _ = seeded
    cur = archive.cursor()
    try:
        values = cur.execute(SEGMENTS_SQL, {"d": TODAY}).fetchall()[0]
    finally:
        cur.close()
    counts = dict(zip(SEGMENTS, values))
    for segment, n in counts.items():
        assert n > 0, (segment, counts)
    # plausible proportions, not just non-empty
    assert 0.08 * N < counts["潜在客户"] < 0.16 * N
    assert 0.03 * N < counts["新成交客户"] < 0.12 * N
    assert 0.05 * N < counts["流失风险客户"] < 0.2 * N
    assert counts["老客户"] > N / 2
    assert counts["高价值"] < 0.15 * N
    assert counts["投诉客户"] < 0.1 * N
