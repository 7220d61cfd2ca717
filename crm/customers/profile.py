"""The 客户360 profile: everything known about one customer, as of a date, in one object.

The page renders what `load_profile` returns and computes nothing itself, so the figures it shows
(purchase habits, complaint deadlines, segments and their reasons, data-quality gaps) are the
ones tested here. Each section is one SQL statement filtered on the customer id; only that
customer's rows come back, never more than a bounded number of them (a longer history is summed
by DuckDB instead, see _history), which keeps a profile fast on a million-customer archive.

Personal data is read through `PersonalData`, so a viewer or a salesperson looking at someone
else's customer gets the masked values from the same call the owner gets the real ones from.
"""
from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Callable, Sequence

import duckdb

from crm import clock
from crm.auth.personal import PersonalData
from crm.customers.edits import can_edit
from crm.customers.gaps import GAP_RULES, Gap, data_gaps  # noqa: F401 - GAP_RULES re-exported
from crm.db import fetch_one
from crm.imports import templates as T
from crm.schema import CUSTOMER_COLUMNS
from crm.segments import Segment, cached_run, customer_segments
from crm.settings import SegmentSettings, segment_settings
from crm.vocabulary import COMPLAINT_KIND, FOLLOW_UP_OPEN, PURCHASE_KINDS, RETURN_KIND

# ------------------------------------------------------------------ rule thresholds
# Every threshold is the archive's setting in force (crm.settings, read per profile), the same
# the segments engine and the search filters use, so an admin's change reaches all three.
# Window conventions, the same as crm.segments: "in the last N" is (D − N, D]; "nothing for N"
# means the last one is on or before D − N; "first purchase within N months" includes D − N months.

# Page sizes: a profile shows the newest rows of a long history, with the total beside them.
INTERACTION_LIMIT = 100
TRANSACTION_LIMIT = 100
COMPLAINT_LIMIT = 100
PAST_FOLLOW_UP_LIMIT = 50
OPEN_FOLLOW_UP_LIMIT = 100
OPEN_STATUS = FOLLOW_UP_OPEN
FOLLOW_UP_CAP = 5000  # follow-ups read per customer, open ones first
# A history of up to this many transactions (or interactions) is read whole and summed in Python;
# a longer one is summed by DuckDB (see _history).
HISTORY_CAP = 5000

# Which customer columns each section of the page shows, in display order.
BASIC_FIELDS = ("customer_id", "name", "gender", "birth_date", "phone", "email", "contact_person", "wechat", "qq",
                "other_contacts", "address", "region", "city", "source", "owner", "priority", "first_contact", "note",
                "duplicate_note", "extra")
NEEDS_FIELDS = ("product_need", "service_need", "price_sensitivity", "due_expectation")
BACKGROUND_FIELDS = ("industry", "company_size", "decision_maker", "company", "title")
TRACKING_FIELDS = ("last_interaction", "contact_frequency", "tracked_product", "satisfaction", "key_issue")
CREDIT_FIELDS = ("credit_level", "credit_limit")
PROFILE_COLUMNS = tuple(c for c in CUSTOMER_COLUMNS if c not in ("name_pinyin", "name_initials"))


def extra_text(stored: str | None) -> str | None:
    """A customer's extra fields (JSON {header: value}) as the profile reads them: 积分：120；类型：批发."""
    import json

    if not stored:
        return None
    try:
        values = json.loads(stored)
    except ValueError:
        return stored
    if not isinstance(values, dict):
        return str(values)
    return "；".join(f"{k}：{v}" for k, v in values.items()) or None


def _labels() -> dict[str, str]:
    labels = {f.name: f.header for f in T.T1.fields}
    for f in T.T4.fields:
        labels.setdefault(f.name, f.header)
    labels["duplicate_note"] = "可能重复"
    labels["extra"] = "其他信息"  # the sheet's columns the archive has no field for
    return labels


# Chinese label of every customer field (the T1/T4 template headers, so the page and the
# spreadsheets use the same words).
FIELD_LABELS: dict[str, str] = _labels()

SURVEY_LABELS: dict[str, str] = {name: T.T7.field_by_name[name].header for name in T.SCORE_FIELDS}

# Complaint SLA states: code → label. Codes are stable for the page and tests; labels are for people.
SLA_KEPT, SLA_BREACHED, SLA_OPEN_LATE, SLA_OPEN, SLA_NO_DEADLINE, SLA_NOT_ACCEPTED = (
    "kept", "breached", "open_late", "open", "no_deadline", "not_accepted")
SLA_LABELS = {SLA_KEPT: "按期办结", SLA_BREACHED: "超期办结", SLA_OPEN_LATE: "已逾期未办结", SLA_OPEN: "处理中（未到期）",
              SLA_NO_DEADLINE: "无承诺期限", SLA_NOT_ACCEPTED: "不予受理"}


# ------------------------------------------------------------------ the profile
@dataclass(frozen=True)
class InteractionItem:
    id: int
    date: dt.date
    channel: str
    content: str | None
    product: str | None
    potential_value: str | None
    result: str | None
    next_plan: str | None
    note: str | None
    created_by: str | None


@dataclass(frozen=True)
class TransactionItem:
    id: int
    date: dt.date
    kind: str
    amount: float | None
    rating: int | None
    contact: str | None  # masked for readers who may not see this customer in full
    note: str | None


@dataclass(frozen=True)
class PurchaseHabits:
    purchases: int  # transactions of PURCHASE_KINDS up to D
    first_purchase: dt.date | None
    last_purchase: dt.date | None
    active_months: float | None  # first → last purchase, in months of 30.44 days, at least 1
    per_month: float | None  # purchases / active_months
    avg_interval_days: float | None  # mean days between consecutive purchases (needs two)
    lifetime_revenue: float  # purchases net of returns up to D (as crm.segments counts revenue)
    revenue_12m: float  # the same in the value window (SegmentSettings.value_window_months)
    avg_rating: float | None  # T2 评价等级, all kinds
    rating_count: int
    kind_counts: list[tuple[str, int]]  # every transaction kind, most frequent first
    top_notes: list[tuple[str, int]]  # most frequent purchase notes (T2 has no product column)
    top_products: list[tuple[str, int]]  # most frequent 关联产品 of interactions
    preferred_channel: str | None  # most used interaction channel
    channel_counts: list[tuple[str, int]]


@dataclass(frozen=True)
class ComplaintItem:
    complaint_id: str
    date: dt.date
    kind: str
    via: str | None
    reason: str
    request: str | None
    accepted: bool
    reject_reason: str | None
    urgency: str
    promised_by: dt.date | None
    resolved_on: dt.date | None
    department: str | None
    resolution: str | None
    loss: float | None
    product: str | None
    order_ref: str | None
    outcome: str | None
    satisfaction: int | None
    handler: str | None
    contact: str | None  # masked like the customer's own contact details
    address: str | None
    status: str  # 处理中 / 已办结 / 不予受理
    sla: str  # one of the SLA_* codes
    sla_label: str
    days_late: int | None  # breached: days past the promise; open_late: days overdue so far


@dataclass(frozen=True)
class ComplaintSummary:
    total: int
    open: int
    kept: int
    breached: int
    open_late: int
    loss: float
    last_date: dt.date | None


@dataclass(frozen=True)
class Satisfaction:
    survey_count: int
    last_survey: dt.date | None
    dimensions: dict[str, float | None]  # SURVEY_LABELS label → average score (None: never answered)
    overall: float | None  # mean of the dimension averages that have a value
    comments: list[tuple[dt.date, str]]  # newest first, at most 5
    recorded: int | None  # the customer's 客户满意度 field (T4)
    avg_rating: float | None  # T2 评价等级
    rating_count: int
    complaint_satisfaction: float | None  # T6 客户满意度评价 after handling


@dataclass(frozen=True)
class FollowUpItem:
    id: int
    due: dt.date
    channel: str | None
    content: str | None
    goal: str | None
    owner: str | None
    status: str
    origin: str | None
    created_at: dt.datetime | None
    done_at: dt.datetime | None
    completed_by: str | None
    outcome: str | None
    overdue_days: int  # open ones: days past due as of D (0 when not yet due); past ones: 0


@dataclass
class Profile:
    customer_id: str
    as_of: dt.date
    masked: bool  # personal fields are masked for this reader
    editable: bool  # the reader may edit, log interactions and plan follow-ups (crm.customers.edits.can_edit)
    owner: str | None
    customer: dict[str, Any]  # every PROFILE_COLUMNS value (masked where the reader may not see it)
    basic: dict[str, Any]  # BASIC_FIELDS → value; FIELD_LABELS gives the Chinese label
    needs: dict[str, Any]
    background: dict[str, Any]
    tracking: dict[str, Any]
    credit: dict[str, Any]
    tags: list[str]
    interactions: list[InteractionItem]  # newest first, at most INTERACTION_LIMIT
    interaction_count: int
    transactions: list[TransactionItem]  # newest first, at most TRANSACTION_LIMIT
    transaction_count: int
    habits: PurchaseHabits
    complaints: list[ComplaintItem]  # newest first
    complaint_summary: ComplaintSummary
    satisfaction: Satisfaction
    open_follow_ups: list[FollowUpItem]  # earliest due first
    past_follow_ups: list[FollowUpItem]  # most recent first
    segments: list[Segment]
    gaps: list[Gap]
    last_contact: dt.date | None  # latest interaction up to D (interactions or the T4 field)
    last_activity: dt.date | None  # latest interaction or transaction up to D
    facts: "Facts" = field(repr=False)

    @property
    def pending(self) -> bool:
        """待跟进: a key field is missing, so the owner has to go back to the customer."""
        return any(g.follow_up for g in self.gaps)

    def labelled(self, section: dict[str, Any]) -> list[tuple[str, Any]]:
        """A section as (Chinese label, value) pairs, ready for a two-column table."""
        return [(FIELD_LABELS.get(k, k), v) for k, v in section.items()]


# ------------------------------------------------------------------ dates
def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (31 March − 1 month → 28/29 February)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    month += 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _days(a: dt.date, b: dt.date) -> int:
    return (a - b).days


def _f(value: Any) -> float | None:
    if value is None:
        return None
    return float(value) if isinstance(value, (Decimal, int, float)) else value


def _money(value: float) -> str:
    return f"{value:,.2f}"


# ------------------------------------------------------------------ segments
@dataclass(frozen=True)
class Facts:
    """What the segment rules look at, all as of `as_of` (rows dated after it are ignored), and the
    thresholds in force."""
    as_of: dt.date
    settings: SegmentSettings = SegmentSettings()
    first_contact: dt.date | None = None
    first_purchase: dt.date | None = None
    last_purchase: dt.date | None = None
    last_transaction: dt.date | None = None  # any kind
    last_interaction: dt.date | None = None  # interactions table or the T4 field, whichever is later
    interactions_in_window: int = 0  # within high_frequency_days
    complaints_12m: int = 0  # T6 complaints plus T2 投诉 rows within complaint_months
    last_complaint: dt.date | None = None
    open_complaints: tuple[tuple[str, dt.date, dt.date | None], ...] = ()  # (id, date, promised_by)
    unvisited_complaints: tuple[tuple[str, dt.date], ...] = ()  # closed, no interaction since: (id, resolved_on)
    revenue_12m: float = 0.0
    revenue_recent: float = 0.0  # the last rising_window_days
    revenue_before: float = 0.0  # the same number of days before those

    @property
    def last_activity(self) -> dt.date | None:
        dates = [d for d in (self.last_interaction, self.last_transaction) if d is not None]
        return max(dates) if dates else None


def stage_segment(f: Facts) -> Segment:
    """需求阶段: exactly one of 潜在客户 / 新成交客户 / 老客户 / 流失风险客户, by crm.segments' rule.

    流失风险 outranks 新成交/老客户: it is the one that needs action.
    """
    D = f.as_of
    if f.first_purchase is None:
        since = f"，建档 {f.first_contact}" if f.first_contact else ""
        return Segment("需求阶段", "潜在客户", f"截至 {D} 尚无购买记录{since}")
    months = f.settings.churn_risk_months
    last = f.last_activity
    if last is not None and last <= months_before(D, months):
        return Segment("需求阶段", "流失风险客户",
                       f"最近互动或交易 {last}，已 {_days(D, last)} 天无往来（{months} 个月以上）；"
                       f"最近购买 {f.last_purchase}")
    months = f.settings.new_customer_months
    if f.first_purchase >= months_before(D, months):
        return Segment("需求阶段", "新成交客户",
                       f"首次购买 {f.first_purchase}，距今 {_days(D, f.first_purchase)} 天（{months} 个月内）")
    return Segment("需求阶段", "老客户",
                   f"首次购买 {f.first_purchase}，已超过 {months} 个月；最近购买 {f.last_purchase}")


def high_frequency_segment(f: Facts) -> Segment | None:
    days, least = f.settings.high_frequency_days, f.settings.high_frequency_min
    if f.interactions_in_window >= least:
        return Segment("行为特征", "高频互动", f"近 {days} 天互动 {f.interactions_in_window} 次（≥ {least} 次）")
    return None


def sleeping_segment(f: Facts) -> Segment | None:
    """No interaction and no transaction for sleeping_months (a customer who bought last month is
    not sleeping); a customer with neither counts from the day on file."""
    D, months = f.as_of, f.settings.sleeping_months
    cutoff = months_before(D, months)
    last = f.last_activity
    if last is not None:
        if last <= cutoff:
            return Segment("行为特征", "沉睡客户",
                           f"最近互动或交易 {last}，已 {_days(D, last)} 天既无互动也无交易"
                           f"（{months} 个月以上）")
        return None
    if f.first_contact is not None and f.first_contact <= cutoff:
        return Segment("行为特征", "沉睡客户",
                       f"没有互动或交易记录，建档 {f.first_contact}，已 {_days(D, f.first_contact)} 天"
                       f"（{months} 个月以上）")
    return None


def complainer_segment(f: Facts) -> Segment | None:
    if f.complaints_12m > 0 and f.last_complaint is not None:
        return Segment("行为特征", "投诉客户",
                       f"近 {f.settings.complaint_months} 个月投诉 {f.complaints_12m} 次，最近一次 {f.last_complaint}")
    return None


def attention_segment(f: Facts) -> Segment | None:
    """重点关注 while a complaint is open, and after it is closed until someone has visited the customer."""
    D = f.as_of
    if f.open_complaints:
        cid, day, promised = f.open_complaints[0]
        text = f"投诉 {cid}（{day} 受理）尚未办结"
        if promised is not None:
            text += (f"，已超过承诺期限 {promised} {_days(D, promised)} 天" if promised < D
                     else f"，承诺 {promised} 前办结")
        more = len(f.open_complaints) - 1
        if more:
            text += f"；另有 {more} 起未办结"
        return Segment("服务标记", "重点关注", text)
    if f.unvisited_complaints:
        cid, resolved = f.unvisited_complaints[0]
        return Segment("服务标记", "重点关注", f"投诉 {cid} 已于 {resolved} 办结，此后尚未回访")
    return None


def value_segment(f: Facts) -> Segment | None:
    """The parts of 客户价值 one customer's own figures decide, by crm.segments' rule.

    高价值 by the revenue floor, else 潜力客户. The top-10 % part of 高价值 and the 中/低 split rank
    the customer against the whole archive (over a second on a million customers): that is the
    segments page's job, so a customer decided only by rank gets no value label here.
    """
    months, floor = f.settings.value_window_months, f.settings.high_value_floor
    if f.revenue_12m > 0 and f.revenue_12m >= floor:
        return Segment("客户价值", "高价值", f"近 {months} 个月消费 {_money(f.revenue_12m)} 元（≥ {floor:,} 元）")
    days, factor = f.settings.rising_window_days, f.settings.rising_factor
    if f.revenue_recent > 0 and f.revenue_recent >= factor * f.revenue_before:
        return Segment("客户价值", "潜力客户",
                       f"近 {days} 天消费 {_money(f.revenue_recent)} 元，此前 {days} 天 {_money(f.revenue_before)} 元"
                       f"（≥ {factor} 倍）")
    return None


def follow_up_segment(gaps: Sequence[Gap]) -> Segment | None:
    key = [g.label for g in gaps if g.follow_up]
    if key:
        return Segment("服务标记", "待跟进", f"缺少关键信息：{'、'.join(key)}")
    return None


def compute_segments(f: Facts, gaps: Sequence[Gap] = ()) -> list[Segment]:
    """Every segment the profile can decide on its own, each with the reason it applies."""
    out = [stage_segment(f)]
    for rule in (value_segment, high_frequency_segment, sleeping_segment, complainer_segment, attention_segment):
        seg = rule(f)
        if seg is not None:
            out.append(seg)
    seg = follow_up_segment(gaps)
    if seg is not None:
        out.append(seg)
    return out


# ------------------------------------------------------------------ complaints
def complaint_sla(accepted: bool, promised_by: dt.date | None, resolved_on: dt.date | None,
                  as_of: dt.date) -> tuple[str, int | None]:
    """(SLA code, days late). A resolution dated after `as_of` is not known yet: still open."""
    if not accepted:
        return SLA_NOT_ACCEPTED, None
    done = resolved_on is not None and resolved_on <= as_of
    if promised_by is None:
        return SLA_NO_DEADLINE, None
    if done:
        late = _days(resolved_on, promised_by)  # type: ignore[arg-type]
        return (SLA_KEPT, None) if late <= 0 else (SLA_BREACHED, late)
    late = _days(as_of, promised_by)
    return (SLA_OPEN_LATE, late) if late > 0 else (SLA_OPEN, None)


def complaint_status(accepted: bool, resolved_on: dt.date | None, as_of: dt.date) -> str:
    if not accepted:
        return "不予受理"
    return "已办结" if resolved_on is not None and resolved_on <= as_of else "处理中"


# ------------------------------------------------------------------ loading
_CUSTOMER_COLS = list(PROFILE_COLUMNS)
_TX_COLS = ["id", "date", "kind", "amount", "rating", "contact", "note"]
_COMPLAINT_COLS = ["complaint_id", "date", "kind", "via", "reason", "request", "accepted", "reject_reason", "urgency",
                   "promised_by", "resolved_on", "department", "resolution", "loss", "product", "order_ref", "outcome",
                   "satisfaction", "handler", "contact", "address"]
_INTERACTION_COLS = ["id", "date", "channel", "content", "product", "potential_value", "result", "next_plan", "note",
                     "created_by"]
_FOLLOW_COLS = ["id", "due", "channel", "content", "goal", "owner", "status", "origin", "created_at", "done_at",
                "completed_by", "outcome"]


def load_profile(reader: PersonalData, customer_id: str, as_of: dt.date | None = None) -> Profile | None:
    """The customer's profile as `reader` may see it, as of `as_of` (default today); None if unknown.

    One statement per table, each scanning that table once (no table is indexed on the customer
    id, so every statement costs a scan). See _history for where the figures are summed.
    """
    D = as_of or clock.today()
    settings = segment_settings(reader.archive)
    params = _params(D, customer_id, settings)
    cur = reader.archive.cursor()
    try:
        select, source = reader.select_sql("customers", _CUSTOMER_COLS)
        raw = cur.execute(f"SELECT {select} FROM {source} WHERE t.customer_id = ?", [customer_id]).fetchall()
        if not raw:
            return None
        owner = raw[0][-1]
        values = next(reader.mask_rows("customers", _CUSTOMER_COLS, raw))
        customer = {k: _f(v) if k == "credit_limit" else v for k, v in zip(_CUSTOMER_COLS, values)}
        tags = _tags(cur, customer_id)
        tx_list, tx_agg = _transactions(cur, reader, owner, params)
        int_list, int_agg = _interactions(cur, params)
        # phones and e-mails typed into the notes are masked like the fields themselves
        int_list = [InteractionItem(*r) for r in reader.mask_rows(
            "interactions", _INTERACTION_COLS, [(*dataclasses.astuple(i), owner) for i in int_list])]
        complaints, c_summary, c_facts = _complaints(cur, reader, owner, params, visit=int_agg["last"])
        surveys = _one(cur, _SURVEY_SQL, params)
        open_fu, past_fu = _follow_ups(cur, params)
    finally:
        cur.close()

    t4_last = customer.get("last_interaction")
    if t4_last is not None and t4_last > D:
        t4_last = None
    last_interaction = max([d for d in (int_agg["last"], t4_last) if d is not None], default=None)
    facts = Facts(
        as_of=D, settings=settings, first_contact=customer.get("first_contact"),
        first_purchase=tx_agg["first_purchase"], last_purchase=tx_agg["last_purchase"],
        last_transaction=tx_agg["last_tx"], last_interaction=last_interaction,
        interactions_in_window=int_agg["in_window"],
        complaints_12m=c_facts["n12"] + tx_agg["complaints_12m"],
        last_complaint=max([d for d in (c_facts["last12"], tx_agg["last_complaint_12m"]) if d], default=None),
        open_complaints=c_facts["open"], unvisited_complaints=c_facts["unvisited"],
        revenue_12m=tx_agg["revenue_12m"], revenue_recent=tx_agg["revenue_recent"],
        revenue_before=tx_agg["revenue_before"],
    )
    gaps = data_gaps(customer)

    def free(table: str, column: str, text: Any) -> Any:
        """Free text of the customer's own records as this reader may see it (a phone typed into a
        survey comment, a follow-up or a purchase note is masked like the phone field)."""
        return next(reader.mask_rows(table, [column], [(text, owner)]))[0]

    open_fu = [replace(f, content=free("follow_ups", "content", f.content)) for f in open_fu]
    past_fu = [replace(f, content=free("follow_ups", "content", f.content),
                       outcome=free("follow_ups", "outcome", f.outcome)) for f in past_fu]
    notes = [(free("transactions", "note", k), n) for k, n in tx_agg["notes"]]
    habits = PurchaseHabits(
        purchases=tx_agg["purchases"], first_purchase=tx_agg["first_purchase"], last_purchase=tx_agg["last_purchase"],
        active_months=tx_agg["active_months"], per_month=tx_agg["per_month"],
        avg_interval_days=tx_agg["avg_interval"], lifetime_revenue=tx_agg["revenue"],
        revenue_12m=tx_agg["revenue_12m"], avg_rating=tx_agg["avg_rating"], rating_count=tx_agg["rating_count"],
        kind_counts=tx_agg["kinds"], top_notes=notes, top_products=int_agg["products"],
        preferred_channel=int_agg["channels"][0][0] if int_agg["channels"] else None,
        channel_counts=int_agg["channels"],
    )
    return Profile(
        customer_id=customer_id, as_of=D, masked=not reader.actor.sees_in_full(owner),
        editable=can_edit(reader.actor, owner), owner=owner,
        customer=customer,
        basic={k: (extra_text(customer.get(k)) if k == "extra" else customer.get(k)) for k in BASIC_FIELDS},
        needs={k: customer.get(k) for k in NEEDS_FIELDS},
        background={k: customer.get(k) for k in BACKGROUND_FIELDS},
        tracking={k: customer.get(k) for k in TRACKING_FIELDS},
        credit={k: customer.get(k) for k in CREDIT_FIELDS},
        tags=tags, interactions=int_list, interaction_count=int_agg["count"],
        transactions=tx_list, transaction_count=tx_agg["count"], habits=habits,
        complaints=complaints, complaint_summary=c_summary,
        satisfaction=_satisfaction(surveys, customer.get("satisfaction"), tx_agg, c_facts["sat"],
                                   lambda c: free("surveys", "comment", c)),
        open_follow_ups=open_fu, past_follow_ups=past_fu,
        segments=_ranked(compute_segments(facts, gaps), reader, customer_id, D, settings), gaps=gaps,
        last_contact=last_interaction, last_activity=facts.last_activity, facts=facts,
    )


def _ranked(own: list[Segment], reader: PersonalData, customer_id: str, D: dt.date,
            settings: SegmentSettings) -> list[Segment]:
    """The profile's own segments, with 客户价值 and RFM 分群 from the 客户分类 run as of D when one is
    already computed (they rank the customer against the whole archive, which one profile cannot
    afford to do); without one, 客户价值 only where the customer's own figures decide it."""
    run = cached_run(reader.archive, D, settings)
    ranked = {seg.dimension: seg for seg in customer_segments(reader.archive, run, customer_id, ranked=False)} if run else {}
    if not ranked:
        return own
    out = [seg for seg in own if seg.dimension != "客户价值"]
    out.insert(1, ranked["客户价值"])
    if "RFM 分群" in ranked:
        out.insert(2, ranked["RFM 分群"])
    return out


def _params(D: dt.date, customer_id: str, s: SegmentSettings) -> dict[str, Any]:
    """The customer and every rule's cut-off date, bound by name into the section queries."""
    return {
        "cid": customer_id, "d": D,
        "rev12": months_before(D, s.value_window_months),
        "c12": months_before(D, s.complaint_months),
        "hf": D - dt.timedelta(days=s.high_frequency_days),
        "r1": D - dt.timedelta(days=s.rising_window_days),
        "r2": D - dt.timedelta(days=2 * s.rising_window_days),
        "buy": list(PURCHASE_KINDS), "ret": RETURN_KIND, "complaint": COMPLAINT_KIND,
    }


_PARAM = re.compile(r"\$([a-z_0-9]+)")


def _one(cur: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> tuple:
    """The one row of an aggregate query with named `$params`, read to its end so the cursor is
    free again. Only the names the SQL uses are bound: DuckDB rejects extra ones."""
    used = set(_PARAM.findall(sql))
    return cur.execute(sql, {k: v for k, v in params.items() if k in used}).fetchall()[0]


def _tags(cur: duckdb.DuckDBPyConnection, customer_id: str) -> list[str]:
    row = fetch_one(cur, "SELECT list(DISTINCT tag ORDER BY tag) FROM customer_tags WHERE customer_id = ?",
                    [customer_id])
    return list(row[0] or []) if row else []


def _counts(histogram: dict[str, int] | None, top: int | None = None) -> list[tuple[str, int]]:
    """A DuckDB histogram as (value, count), most frequent first, ties in value order."""
    items = sorted((histogram or {}).items(), key=lambda kv: (-kv[1], kv[0]))
    return [(k, int(n)) for k, n in items[:top]]


def _history(cur: duckdb.DuckDBPyConnection, table: str, cols: Sequence[str], params: dict[str, Any],
             aggregate_sql: str, page: int) -> tuple[list[tuple], tuple | None]:
    """(newest rows — at least `page` of them —, DuckDB aggregates or None) of the customer's rows in `table`.

    A DuckDB statement pays a fixed cost for every aggregate in it — a dozen FILTERed aggregates
    cost ~10 ms on 200 rows, several times the scan — while Python sums a few hundred rows in
    well under a millisecond. So a history of up to HISTORY_CAP rows comes back whole (one scan)
    and is summed in Python; a longer one (a rare, very large account) is summed by
    `aggregate_sql` in DuckDB, so memory and time stay bounded whatever the history. Both paths
    give the same figures (tests/test_profile.py runs every fixture through both).
    """
    rows = cur.execute(
        f"SELECT {', '.join(cols)} FROM {table} WHERE customer_id = ? ORDER BY date DESC, id DESC LIMIT ?",
        [params["cid"], max(HISTORY_CAP, page) + 1]).fetchall()
    if len(rows) <= HISTORY_CAP:
        return rows, None
    return rows, _one(cur, aggregate_sql, params)


def _in(day: dt.date, after: dt.date | None, upto: dt.date) -> bool:
    """`day` in the window (after, upto]."""
    return day <= upto and (after is None or day > after)


_BUY = "list_contains($buy, kind) AND date <= $d"
# Revenue as crm.segments counts it: purchases and renewals, minus returns whatever their sign.
_MONEY = "CASE WHEN list_contains($buy, kind) THEN amount WHEN kind = $ret THEN -abs(amount) END"
_TX_SQL = f"""
    SELECT
        count(*),
        count(*) FILTER ({_BUY}),
        min(date) FILTER ({_BUY}),
        max(date) FILTER ({_BUY}),
        max(date) FILTER (date <= $d),
        coalesce(sum({_MONEY}) FILTER (date <= $d), 0),
        coalesce(sum({_MONEY}) FILTER (date <= $d AND date > $rev12), 0),
        coalesce(sum({_MONEY}) FILTER (date <= $d AND date > $r1), 0),
        coalesce(sum({_MONEY}) FILTER (date <= $r1 AND date > $r2), 0),
        avg(rating),
        count(rating),
        count(*) FILTER (kind = $complaint AND date <= $d AND date > $c12),
        max(date) FILTER (kind = $complaint AND date <= $d AND date > $c12),
        histogram(kind),
        histogram(note) FILTER ({_BUY} AND trim(note) <> '')
    FROM transactions WHERE customer_id = $cid
    """


def _tx_sums(rows: list[tuple], p: dict[str, Any]) -> tuple:
    """_TX_SQL's row, computed from the customer's transactions (columns as _TX_COLS)."""
    D, buy, ret = p["d"], set(p["buy"]), p["ret"]
    zero = Decimal(0)
    count = len(rows)
    buys = [r[1] for r in rows if r[2] in buy and r[1] <= D]
    past = [r[1] for r in rows if r[1] <= D]
    revenue = rev12 = recent = before = zero
    ratings = [r[4] for r in rows if r[4] is not None]
    complaints = [r[1] for r in rows if r[2] == p["complaint"] and _in(r[1], p["c12"], D)]
    kinds: dict[str, int] = {}
    notes: dict[str, int] = {}
    for _, day, kind, amount, _, _, note in rows:
        kinds[kind] = kinds.get(kind, 0) + 1
        if kind in buy and day <= D and note is not None and note.strip(" "):
            notes[note] = notes.get(note, 0) + 1
        if amount is None or day > D:
            continue
        money = amount if kind in buy else -abs(amount) if kind == ret else None
        if money is None:
            continue
        revenue += money
        if day > p["rev12"]:
            rev12 += money
        if day > p["r1"]:
            recent += money
        elif day > p["r2"]:
            before += money
    return (count, len(buys), min(buys, default=None), max(buys, default=None), max(past, default=None),
            revenue, rev12, recent, before, sum(ratings) / len(ratings) if ratings else None, len(ratings),
            len(complaints), max(complaints, default=None), kinds, notes)


def _transactions(cur: duckdb.DuckDBPyConnection, reader: PersonalData, owner: str | None, params: dict[str, Any]
                  ) -> tuple[list[TransactionItem], dict[str, Any]]:
    rows, sums = _history(cur, "transactions", _TX_COLS, params, _TX_SQL, TRANSACTION_LIMIT)
    (count, purchases, first, last, last_tx, revenue, rev12, recent, before, avg_rating, rating_count,
     compl12, last_compl, kinds, notes) = sums or _tx_sums(rows, params)
    active = per_month = interval = None
    if purchases:
        span = _days(last, first)
        active = max(span / 30.4375, 1.0)
        per_month = purchases / active
        if purchases >= 2:
            interval = span / (purchases - 1)
    agg = {"count": int(count), "purchases": int(purchases), "first_purchase": first, "last_purchase": last,
           "last_tx": last_tx, "revenue": float(revenue), "revenue_12m": float(rev12),
           "revenue_recent": float(recent), "revenue_before": float(before),
           "avg_rating": _f(avg_rating), "rating_count": int(rating_count),
           "complaints_12m": int(compl12), "last_complaint_12m": last_compl,
           "kinds": _counts(kinds), "notes": _counts(notes, 3),
           "active_months": active, "per_month": per_month, "avg_interval": interval}
    page = [r + (owner,) for r in rows[:TRANSACTION_LIMIT]]
    items = [TransactionItem(id=r[0], date=r[1], kind=r[2], amount=_f(r[3]), rating=r[4], contact=r[5], note=r[6])
             for r in reader.mask_rows("transactions", _TX_COLS, page)]
    return items, agg


_INTERACTION_SQL = """
    SELECT
        count(*),
        max(date) FILTER (date <= $d),
        count(*) FILTER (date <= $d AND date > $hf),
        histogram(channel),
        histogram(product) FILTER (trim(product) <> '')
    FROM interactions WHERE customer_id = $cid
    """


def _interaction_sums(rows: list[tuple], p: dict[str, Any]) -> tuple:
    """_INTERACTION_SQL's row, computed from the customer's interactions (columns as _INTERACTION_COLS)."""
    D = p["d"]
    past = [r[1] for r in rows if r[1] <= D]
    channels: dict[str, int] = {}
    products: dict[str, int] = {}
    for r in rows:
        channels[r[2]] = channels.get(r[2], 0) + 1
        if r[4] is not None and r[4].strip(" "):
            products[r[4]] = products.get(r[4], 0) + 1
    return (len(rows), max(past, default=None), sum(1 for d in past if d > p["hf"]), channels, products)


def _interactions(cur: duckdb.DuckDBPyConnection, params: dict[str, Any]
                  ) -> tuple[list[InteractionItem], dict[str, Any]]:
    rows, sums = _history(cur, "interactions", _INTERACTION_COLS, params, _INTERACTION_SQL, INTERACTION_LIMIT)
    count, last, in_window, channels, products = sums or _interaction_sums(rows, params)
    agg = {"count": int(count), "last": last, "in_window": int(in_window), "channels": _counts(channels),
           "products": _counts(products, 3)}
    return [InteractionItem(*r) for r in rows[:INTERACTION_LIMIT]], agg


def _complaints(cur: duckdb.DuckDBPyConnection, reader: PersonalData, owner: str | None, params: dict[str, Any],
                visit: dt.date | None) -> tuple[list[ComplaintItem], ComplaintSummary, dict[str, Any]]:
    """Every complaint of the customer (a handful, even for the worst) with its SLA state.

    The summary is counted from the same complaint_sla verdicts the list shows, so the two can
    never disagree.
    """
    D, c12 = params["d"], params["c12"]
    rows = cur.execute(
        f"SELECT {', '.join(_COMPLAINT_COLS)}, ? AS __owner FROM complaints WHERE customer_id = ? "
        "ORDER BY date DESC, complaint_id DESC", [owner, params["cid"]]).fetchall()
    items: list[ComplaintItem] = []
    for r in reader.mask_rows("complaints", _COMPLAINT_COLS, rows):
        rec = dict(zip(_COMPLAINT_COLS, r))
        sla, late = complaint_sla(rec["accepted"], rec["promised_by"], rec["resolved_on"], D)
        rec["loss"] = _f(rec["loss"])
        items.append(ComplaintItem(**rec, status=complaint_status(rec["accepted"], rec["resolved_on"], D), sla=sla,
                                   sla_label=SLA_LABELS[sla], days_late=late))
    current = [c for c in items if c.date <= D]
    still_open = [c for c in current if c.accepted and c.status == "处理中"]
    recent = [c.date for c in current if c.date > c12]
    unvisited = [c for c in current if c.accepted and c.resolved_on is not None and c12 < c.resolved_on <= D
                 and (visit is None or visit < c.resolved_on)]
    scores = [c.satisfaction for c in items if c.satisfaction is not None]
    summary = ComplaintSummary(
        total=len(items), open=len(still_open),
        kept=sum(c.sla == SLA_KEPT for c in items), breached=sum(c.sla == SLA_BREACHED for c in items),
        open_late=sum(c.sla == SLA_OPEN_LATE for c in still_open),
        loss=float(sum(c.loss or 0 for c in items)), last_date=max((c.date for c in items), default=None))
    facts = {
        "n12": len(recent), "last12": max(recent, default=None),
        "sat": sum(scores) / len(scores) if scores else None,
        "open": tuple((c.complaint_id, c.date, c.promised_by)
                      for c in sorted(still_open, key=lambda c: (c.date, c.complaint_id))),
        "unvisited": tuple((c.complaint_id, c.resolved_on)
                           for c in sorted(unvisited, key=lambda c: (-c.resolved_on.toordinal(), c.complaint_id))),
    }
    return items[:COMPLAINT_LIMIT], summary, facts


_SURVEY_SQL = f"""
    SELECT count(*), max(date), [{', '.join(f'avg({c})' for c in T.SCORE_FIELDS)}],
           list({{'date': date, 'comment': comment}} ORDER BY date DESC, id DESC) FILTER (trim(comment) <> '')[1:5]
    FROM surveys WHERE customer_id = $cid
    """


def _satisfaction(row: tuple, recorded: Any, tx_agg: dict[str, Any], complaint_sat: float | None,
                  shown: Callable[[str], str]) -> Satisfaction:
    """The satisfaction summary; `shown` is how a comment may be read (masked for this reader)."""
    count, last, avgs, comments = row
    dims = {SURVEY_LABELS[c]: (round(float(v), 2) if v is not None else None) for c, v in zip(T.SCORE_FIELDS, avgs)}
    present = [v for v in dims.values() if v is not None]
    return Satisfaction(
        survey_count=int(count), last_survey=last, dimensions=dims,
        overall=round(sum(present) / len(present), 2) if present else None,
        comments=[(x["date"], shown(x["comment"])) for x in (comments or [])],
        recorded=int(recorded) if recorded is not None else None,
        avg_rating=tx_agg["avg_rating"], rating_count=tx_agg["rating_count"],
        complaint_satisfaction=complaint_sat,
    )


def _follow_ups(cur: duckdb.DuckDBPyConnection, params: dict[str, Any]
                ) -> tuple[list[FollowUpItem], list[FollowUpItem]]:
    """(open ones, earliest due first; past ones, most recent first), each cut to its page size.

    One plain fetch, open ones first (so FOLLOW_UP_CAP can only ever cut old past ones), sorted
    here: two ordered lists in SQL would cost more than the scan.
    """
    D = params["d"]
    rows = cur.execute(
        f"SELECT {', '.join(_FOLLOW_COLS)} FROM follow_ups WHERE customer_id = ? "
        f"ORDER BY status = '{OPEN_STATUS}' DESC, due DESC, id DESC LIMIT ?",
        [params["cid"], FOLLOW_UP_CAP]).fetchall()
    open_rows = sorted((r for r in rows if r[6] == OPEN_STATUS), key=lambda r: (r[1], r[0]))
    past_rows = sorted((r for r in rows if r[6] != OPEN_STATUS),
                       key=lambda r: ((r[9].date() if r[9] else r[1]), r[0]), reverse=True)
    open_items = [FollowUpItem(*r, overdue_days=max(_days(D, r[1]), 0)) for r in open_rows[:OPEN_FOLLOW_UP_LIMIT]]
    past_items = [FollowUpItem(*r, overdue_days=0) for r in past_rows[:PAST_FOLLOW_UP_LIMIT]]
    return open_items, past_items
