"""客户查询: the search box and its filters, answered by DuckDB.

Every customer carries `search_text`, a lower-cased, width-folded concatenation of everything
the box searches (id, name, its pinyin and initials, phone and its digits, email, company,
tags), kept current by `refresh_search_text` on every write. A query is then one `contains()`
scan of one column, whatever the archive's size. Fields are joined with U+001F, which no query
can contain, so a word never matches across two fields.

One search is two statements in one snapshot: a single pass over the matches that counts them
and keeps the ids of the first page (in order), then a fetch of that page's rows by id. pandas
and Python never see more than a page.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Callable

import duckdb

from crm import clock, segments
from crm.auth.personal import PersonalData
from crm.db import Archive, scalar
from crm.vocabulary import SALES

SEPARATOR = "\x1f"
# Full-width ASCII forms and the ideographic space, folded in SQL the way NFKC folds the query
# (DuckDB has no NFKC; names and companies are stored as typed, often with full-width brackets).
_FULL_WIDTH = "".join(chr(c) for c in range(0xFF01, 0xFF5F)) + "\u3000"
_HALF_WIDTH = "".join(chr(c) for c in range(0x21, 0x7F)) + " "

# The name opens the text, always followed by a separator (an unknown name is empty), so an exact
# name match is a prefix test.
_SEARCH_TEXT_SQL = """
    lower(translate(concat_ws(chr(31),
        coalesce(c.name, ''), c.customer_id, c.name_pinyin, c.name_initials, c.phone,
        CASE WHEN regexp_replace(c.phone, '[^0-9]', '', 'g') NOT IN ('', c.phone)
             THEN regexp_replace(c.phone, '[^0-9]', '', 'g') END,
        c.email, c.company, t.tags), ?, ?))"""

RESULT_COLUMNS = ["customer_id", "name", "phone", "email", "company", "owner", "region", "industry"]
MAX_PAGE_SIZE = 500
# Up to this many leading matches (offset + page size) of a text search are kept in one
# aggregate pass; deeper pages fall back to a count plus ORDER BY … LIMIT/OFFSET, a second scan.
TOP_N_CAP = 10_000
FETCH_BATCH = 50
_PHONE_LIKE = re.compile(r"^[\d\-+().]*\d[\d\-+().]*$")


def refresh_search_text(cur: duckdb.DuckDBPyConnection, customer_ids: list[str] | None) -> None:
    """Recompute `search_text` for these customers (None: all) after their fields or tags changed.

    Set-based, so an import of 100,000 customers costs one UPDATE, not 100,000.
    """
    if customer_ids is not None and not customer_ids:
        return
    where, tag_where, params = "", "", []
    if customer_ids is not None:
        ids = list(dict.fromkeys(customer_ids))
        where, tag_where = "WHERE c.customer_id IN (SELECT unnest(?))", "WHERE customer_id IN (SELECT unnest(?))"
        params = [ids, ids]
    cur.execute(
        f"""
        UPDATE customers SET search_text = s.search_text
        FROM (
            SELECT c.customer_id, {_SEARCH_TEXT_SQL} AS search_text
            FROM customers c
            LEFT JOIN (SELECT customer_id, string_agg(tag, chr(31) ORDER BY tag) AS tags
                       FROM customer_tags {tag_where} GROUP BY customer_id) t ON t.customer_id = c.customer_id
            {where}
        ) s
        WHERE customers.customer_id = s.customer_id""",
        [_FULL_WIDTH, _HALF_WIDTH, *params],
    )


def normalise_query(text: str | None) -> list[str]:
    """The words of a query as search_text stores text: NFKC (full-width → ASCII), lower case.

    Control characters (among them the field separator) become spaces, so no word can span two
    fields; nothing else is special — `%`, `_`, `\\`, quotes and SQL are just characters.
    """
    folded = unicodedata.normalize("NFKC", text or "")
    folded = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in folded)
    # a combined tag as users write it (制造业-高价值, 制造业、高价值) is its parts, as the archive keeps
    # them; a dash between digits or letters (a phone, an id, an e-mail) stays part of its word
    folded = _TAG_JOINER.sub(" ", folded)
    return [w.lower() for w in folded.split()]


_TAG_JOINER = re.compile(r"(?<=[\u4e00-\u9fff])[-、，,;；/](?=[\u4e00-\u9fff])")


@dataclass
class SearchFilters:
    owner: str | None = None
    stage: str | None = None
    value: str | None = None
    region: str | None = None
    industry: str | None = None
    tag: str | None = None


@dataclass
class SearchPage:
    rows: list[dict[str, Any]]
    total: int
    page: int
    page_size: int
    ids: list[str] = field(default_factory=list)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.page_size))


# search_text without the phone and e-mail it holds: what a reader may search outside their scope
_TEXT_WITHOUT_CONTACT = ("replace(replace(replace(c.search_text, coalesce(lower(c.email), chr(0)), ''), "
                         "coalesce(lower(c.phone), chr(0)), ''), coalesce(regexp_replace(c.phone, '[^0-9]', '', 'g'), chr(0)), '')")


def is_contact_fragment(word: str) -> bool:
    """A word that could be part of a phone (three digits or more) or of an e-mail address."""
    return "@" in word or bool(_PHONE_LIKE.match(word) and len(re.sub(r"\D", "", word)) >= 3)


def _contact_scope(reader: PersonalData) -> tuple[str, list[Any]] | None:
    """Where a reader may search phones and e-mails by a part of them: None for everyone (leads and
    up), a sales user's own customers, nobody for a viewer. Outside it a phone or an address matches
    only when typed in full, so a hidden number cannot be recovered digit by digit."""
    actor = reader.actor
    if actor.sees_all:
        return None
    if actor.role == SALES:
        return "c.owner = ?", [actor.username]
    return "FALSE", []


def _where(words: list[str], filters: SearchFilters, run: Callable[[], segments.SegmentRun],
           scope: tuple[str, list[Any]] | None = None) -> tuple[list[str], list[Any]]:
    """SQL conditions on `customers c` and their parameters; user values only ever as parameters.

    Stage and value filters read the segments engine's run (`run()`, asked for only when one of
    them is set): the labels the 客户分类 page shows, by the thresholds in force, from its cache.
    `scope` (see _contact_scope) limits where a part of a phone or e-mail finds a customer.
    """
    conds: list[str] = []
    params: list[Any] = []
    for word in words:
        digits = re.sub(r"\D", "", word)
        if scope is not None and is_contact_fragment(word):
            inside, inside_params = scope
            conds.append(f"(({inside}) AND (contains(c.search_text, ?) OR contains(c.search_text, ?)) "
                         f"OR c.phone = ? OR regexp_replace(c.phone, '[^0-9]', '', 'g') = ? OR lower(c.email) = ? "
                         f"OR contains({_TEXT_WITHOUT_CONTACT}, ?))")
            params += [*inside_params, word, digits or word, word, digits or word, word, word]
        elif _PHONE_LIKE.match(word) and digits != word:
            # 138-1234-5678, (0755)1234: the digits may sit anywhere in the stored phone
            conds.append("(contains(c.search_text, ?) OR contains(c.search_text, ?))")
            params += [word, digits]
        else:
            conds.append("contains(c.search_text, ?)")
            params.append(word)
    for column in ("owner", "region", "industry"):
        value = getattr(filters, column)
        if value:
            conds.append(f"c.{column} = ?")
            params.append(value)
    if filters.tag:
        conds.append("c.customer_id IN (SELECT customer_id FROM customer_tags WHERE tag = ?)")
        params.append(filters.tag)
    for column, label, labels in (("stage", filters.stage, segments.STAGES), ("value", filters.value, segments.VALUES)):
        if label:
            if label not in labels:
                raise ValueError(f"没有「{label}」这一分类")
            conds.append(f"c.customer_id IN (SELECT customer_id FROM segment_members WHERE run_id = ? AND {column} = ?)")
            params += [run().run_id, labels.index(label)]
    return conds, params


def _page_ids(cur: duckdb.DuckDBPyConnection, words: list[str], conds: list[str], params: list[Any],
              offset: int, limit: int) -> tuple[int, list[str]]:
    """(number of matches, ids of matches offset … offset+limit in result order)."""
    where = f"WHERE {' AND '.join(conds)}" if conds else ""
    phrase = " ".join(words)
    # exact name: the text opens with "<phrase>\x1f"; exact id: ids are stored upper case
    exact = "(starts_with(c.search_text, ?) OR c.customer_id = ? OR c.customer_id = ?)"
    exact_params = [phrase + SEPARATOR, phrase.upper(), phrase]
    n = offset + limit
    if words and n <= TOP_N_CAP:
        key = f"CASE WHEN {exact} THEN '0' ELSE '1' END || c.customer_id"
        total, keys = cur.execute(f"SELECT count(*), min({key}, ?) FROM customers c {where}",
                                  [*exact_params, n, *params]).fetchall()[0]
        return int(total), [k[1:] for k in (keys or [])[offset:]]
    # No text, or a page deep down: a count (from the table's metadata when nothing is filtered)
    # and a top-N sort, rather than carrying that many ids through an aggregate.
    total = int(cur.execute(f"SELECT count(*) FROM customers c {where}", params).fetchall()[0][0])
    order = f"CASE WHEN {exact} THEN 0 ELSE 1 END, c.customer_id" if words else "c.customer_id"
    order_params = exact_params if words else []
    ids = cur.execute(f"SELECT c.customer_id FROM customers c {where} ORDER BY {order} LIMIT ? OFFSET ?",
                      [*params, *order_params, limit, offset]).fetchall()
    return total, [r[0] for r in ids]


def search_customers(reader: PersonalData, text: str, filters: SearchFilters | None = None, page: int = 0,
                     page_size: int = 50, as_of: date | None = None) -> SearchPage:
    """One page of customers matching every word of `text` and every filter that is set.

    Order: exact customer-id or name matches first, then by customer id. Personal fields are
    masked for the acting user by `reader`. `as_of` is the date the stage/value filters use.
    """
    if page < 0:
        raise ValueError("页码不能为负数")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"每页条数须在 1–{MAX_PAGE_SIZE} 之间")
    filters = filters or SearchFilters()
    words = normalise_query(text)
    conds, params = _where(words, filters, lambda: segments.segment_run(reader.archive, as_of or clock.today()),
                           _contact_scope(reader))
    with reader.archive.rolled_back() as cur:  # one snapshot for the count and the rows; reads only
        total, ids = _page_ids(cur, words, conds, params, page * page_size, page_size)
        rows = _fetch(reader, cur, ids)
    return SearchPage(rows, total, page, page_size, ids)


def _fetch(reader: PersonalData, cur: duckdb.DuckDBPyConnection, ids: list[str]) -> list[dict[str, Any]]:
    """The result columns and tags of these customers, masked, in the order given.

    Customers and their tags come back from one UNION ALL (part 0: the customer, part 1: one row
    per tag), at a million customers cheaper than a join or two statements. Ids go in batches
    of FETCH_BATCH: DuckDB pushes an IN list of up to 50 values into the scan (zone maps), a
    longer one becomes a join over the whole table, ten times slower.
    """
    select, source = reader.select_sql("customers", RESULT_COLUMNS, alias="c")
    blanks = ", ".join(["NULL"] * len(RESULT_COLUMNS))  # the other columns and the owner of a tag row
    sql = f"""
        SELECT 0 AS part, NULL AS tag, {select} FROM {source} WHERE c.customer_id IN (SELECT unnest(?))
        UNION ALL
        SELECT 1, g.tag, g.customer_id, {blanks} FROM customer_tags g WHERE g.customer_id IN (SELECT unnest(?))"""
    raw: list[tuple[Any, ...]] = []
    for i in range(0, len(ids), FETCH_BATCH):
        batch = ids[i:i + FETCH_BATCH]
        raw += cur.execute(sql, [batch, batch]).fetchall()
    tags: dict[str, list[str]] = {}
    people = []
    for row in raw:
        if row[0]:
            tags.setdefault(row[2], []).append(row[1])
        else:
            people.append(row[2:])
    by_id: dict[str, dict[str, Any]] = {}
    for original, values in zip(people, reader.mask_rows("customers", RESULT_COLUMNS, people)):
        record = dict(zip(RESULT_COLUMNS, values))
        record["tags"] = sorted(tags.get(original[0], []))
        by_id[original[0]] = record  # keyed by the unmasked id (ids are not personal data)
    return [by_id[i] for i in ids if i in by_id]


# The filter boxes' choices per archive, with the fingerprint they were read under: four DISTINCT
# passes over a million customers were an eighth of every 客户查询 run (bench/bench_load.py).
_OPTIONS_VERSION_SQL = ("SELECT concat_ws('|', (SELECT count(*) FROM customers), (SELECT max(updated_at) FROM customers), "
                        "(SELECT count(*) FROM customer_tags))")
_options_cache: dict[str, tuple[str, dict[str, list[str]]]] = {}


def filter_options(archive: Archive) -> dict[str, list[str]]:
    """Choices for the filter boxes: the distinct owners, regions, industries and tags in use,
    plus the stage and value labels the rules can give. Read again only when the customers'
    fingerprint moved (a customer added or removed, any edit or import sets updated_at, a tag
    more or less); a copy is returned, so a caller may change it."""
    cur = archive.cursor()
    try:
        version = str(scalar(cur, _OPTIONS_VERSION_SQL))
    finally:
        cur.close()
    key = str(archive.path)
    cached = _options_cache.get(key)
    if cached is None or cached[0] != version:
        cached = _options_cache[key] = (version, _read_filter_options(archive))
    return {k: list(v) for k, v in cached[1].items()}


def _read_filter_options(archive: Archive) -> dict[str, list[str]]:
    cur = archive.cursor()
    try:
        out: dict[str, list[str]] = {}
        for key, sql in (
            ("owners", "SELECT DISTINCT owner FROM customers WHERE owner IS NOT NULL ORDER BY 1"),
            ("regions", "SELECT DISTINCT region FROM customers WHERE region IS NOT NULL ORDER BY 1"),
            ("industries", "SELECT DISTINCT industry FROM customers WHERE industry IS NOT NULL ORDER BY 1"),
            ("tags", "SELECT DISTINCT tag FROM customer_tags ORDER BY 1"),
        ):
            out[key] = [r[0] for r in cur.execute(sql).fetchall()]
        out["stages"] = list(segments.STAGES)
        out["values"] = list(segments.VALUES)
        return out
    finally:
        cur.close()
