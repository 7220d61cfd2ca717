"""Rule thresholds kept in the archive (`settings` table), one registry for every area.

Each area (segments: the classification thresholds of PRODUCT.md; followups: the queue's
neglect, pool and next-follow-up rules) is a tuple of `SettingSpec`s and a frozen dataclass of
its values; every value is one row of `settings` under the area's prefix (`segments.`,
`followups.`), and a key that is not stored has its default. Readers call `segment_settings()` each time they need the values, so an admin
who changes one (`set_segment_setting`) changes every result from the next computation on, with
no restart. `SegmentSettings.signature` names a set of values: cached segment results are kept
per signature (crm.segments), so results computed under old thresholds are never reused.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from typing import TYPE_CHECKING, Any, Callable

from crm.auth import audit, policy
from crm.auth.personal import Actor
from crm.errors import UserError

if TYPE_CHECKING:
    import duckdb

    from crm.db import Archive

PREFIX = "segments."
FOLLOW_UP_PREFIX = "followups."
COMPLAINT_PREFIX = "complaints."
SECURITY_PREFIX = "security."



@dataclass(frozen=True)
class SettingSpec:
    name: str  # field of the area's dataclass; stored as the area's prefix + name
    label: str
    default: int | float
    kind: type  # int or float
    minimum: float
    maximum: float
    unit: str
    help: str
    prefix: str = PREFIX

    @property
    def key(self) -> str:
        return self.prefix + self.name


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec("new_customer_months", "新成交客户期限", 3, int, 1, 36, "个月",
                "首次购买距参考日不超过此期限（含当天）为新成交客户，超过为老客户"),
    SettingSpec("churn_risk_months", "流失风险期限", 6, int, 1, 60, "个月",
                "曾购买，但最近一次互动或交易距参考日已达此期限，为流失风险客户"),
    SettingSpec("value_window_months", "客户价值统计期", 12, int, 1, 60, "个月",
                "高/中/低价值按此期间内的消费（购买、续约减退货）计算"),
    SettingSpec("high_value_top_percent", "高价值前百分比", 10, float, 0, 100, "%",
                "统计期消费位列前此百分比（并列者同进）的客户为高价值"),
    SettingSpec("high_value_floor", "高价值消费下限", 50_000, float, 0, 1e12, "元",
                "统计期消费不低于此金额的客户，无论排名都是高价值"),
    SettingSpec("rising_window_days", "潜力客户比较期", 90, int, 7, 365, "天",
                "比较最近此天数与之前同样天数的消费"),
    SettingSpec("rising_factor", "潜力客户增长倍数", 1.5, float, 1, 100, "倍",
                "最近一期消费不低于前一期的此倍数（且大于 0）为潜力客户"),
    SettingSpec("high_frequency_days", "高频互动统计期", 30, int, 1, 365, "天",
                "统计最近此天数内的互动次数"),
    SettingSpec("high_frequency_min", "高频互动次数", 3, int, 1, 1000, "次",
                "统计期内互动达到此次数为高频互动"),
    SettingSpec("sleeping_months", "沉睡期限", 3, int, 1, 60, "个月",
                "最近一次互动和最近一次交易距参考日都已达此期限为沉睡客户"),
    SettingSpec("complaint_months", "投诉统计期", 12, int, 1, 60, "个月",
                "此期限内有投诉的客户为投诉客户"),
    SettingSpec("rfm_window_months", "RFM 统计期", 12, int, 1, 120, "个月",
                "F（购买次数）和 M（消费金额）按此期间统计；R 为距最近一次购买的天数"),
    SettingSpec("rfm_min_customers", "RFM 最少客户数", 5, int, 5, 1_000_000, "位",
                "有购买记录的客户少于此数时不做五分位打分"),
)
SPEC_BY_NAME = {s.name: s for s in SPECS}
SPEC_BY_KEY = {s.key: s for s in SPECS}


@dataclass(frozen=True)
class SegmentSettings:
    """The thresholds in force; the defaults are PRODUCT.md's."""
    new_customer_months: int = 3
    churn_risk_months: int = 6
    value_window_months: int = 12
    high_value_top_percent: float = 10
    high_value_floor: float = 50_000
    rising_window_days: int = 90
    rising_factor: float = 1.5
    high_frequency_days: int = 30
    high_frequency_min: int = 3
    sleeping_months: int = 3
    complaint_months: int = 12
    rfm_window_months: int = 12
    rfm_min_customers: int = 5

    @property
    def signature(self) -> str:
        """A stable text naming these values (part of the key of cached results)."""
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    def replace(self, **changes: Any) -> "SegmentSettings":
        values = asdict(self)
        for name, value in changes.items():
            values[name] = _validate(SPEC_BY_NAME[name], value)
        return SegmentSettings(**values)


def _check_area(cls: type, specs: tuple[SettingSpec, ...]) -> None:
    """An area's dataclass and its specs name the same fields with the same defaults."""
    assert [f.name for f in fields(cls)] == [s.name for s in specs]
    assert all(getattr(cls(), s.name) == s.default for s in specs)


def _specs_of(prefix: str) -> Any:
    """SettingSpec with an area's prefix: (name, label, default, kind, minimum, maximum, unit, help)."""
    return lambda *values: SettingSpec(*values, prefix)


_check_area(SegmentSettings, SPECS)


_f = _specs_of(FOLLOW_UP_PREFIX)


FOLLOW_UP_SPECS: tuple[SettingSpec, ...] = (
    _f("neglect_days_high_value", "高价值客户联系间隔", 30, int, 1, 3650, "天",
       "高价值客户最近一次联系（记录的互动）距今达到此天数、且没有待跟进任务时，列为久未联系"),
    _f("neglect_days_other", "其他客户联系间隔", 90, int, 1, 3650, "天",
       "其他客户最近一次联系距今达到此天数、且没有待跟进任务时，列为久未联系"),
    _f("next_follow_up_days", "下次跟进间隔", 7, int, 1, 365, "天",
       "「完成并安排下次」默认把下次跟进安排在完成日之后的天数"),
    _f("urgent_hours", "紧急跟进时限", 24, int, 1, 168, "小时",
       "高价值客户出现紧急事件（投诉、标记为紧急的互动）时，自动安排在此时限内到期的跟进"),
    _f("pool_release_days", "公海释放期限", 0, int, 0, 3650, "天",
       "负责人超过此天数未联系的客户释放到客户公海；0 表示不释放（默认关闭）"),
    _f("pool_claim_limit", "每日领取上限", 20, int, 1, 10000, "位",
       "每位员工每天最多从客户公海领取的客户数"),
)


@dataclass(frozen=True)
class FollowUpSettings:
    """The follow-up queue's settings in force."""
    neglect_days_high_value: int = 30
    neglect_days_other: int = 90
    next_follow_up_days: int = 7
    urgent_hours: int = 24
    pool_release_days: int = 0
    pool_claim_limit: int = 20


_check_area(FollowUpSettings, FOLLOW_UP_SPECS)


_c = _specs_of(COMPLAINT_PREFIX)


COMPLAINT_SPECS: tuple[SettingSpec, ...] = (
    _c("days_special", "特急投诉办理时限", 1, int, 1, 365, "个工作日", "紧急程度为「特急」的投诉，自受理日起的办理期限"),
    _c("days_urgent", "急件投诉办理时限", 3, int, 1, 365, "个工作日", "紧急程度为「急」的投诉，自受理日起的办理期限"),
    _c("days_normal", "一般投诉办理时限", 7, int, 1, 365, "个工作日", "紧急程度为「一般」的投诉，自受理日起的办理期限"),
    _c("repeat_window_days", "重复投诉统计期", 180, int, 7, 3650, "天", "在此滚动期间内投诉达到下限次数的客户为重复投诉客户"),
    _c("repeat_min", "重复投诉次数", 2, int, 2, 100, "次", "统计期内投诉达到此次数为重复投诉客户"),
    _c("low_score", "满意度偏低分数", 2, int, 1, 4, "分", "满意度调查任一维度不高于此分数时，为负责人安排跟进"),
    _c("min_n", "比例显示最少样本", 5, int, 1, 1000, "份", "样本少于此数时不显示满意/不满意比例"),
)


@dataclass(frozen=True)
class ComplaintSettings:
    """Complaint deadlines and analysis settings in force."""
    days_special: int = 1
    days_urgent: int = 3
    days_normal: int = 7
    repeat_window_days: int = 180
    repeat_min: int = 2
    low_score: int = 2
    min_n: int = 5

    def policy_days(self, urgency: str | None) -> int:
        return {"特急": self.days_special, "急": self.days_urgent}.get(urgency or "一般", self.days_normal)


_check_area(ComplaintSettings, COMPLAINT_SPECS)


_s = _specs_of(SECURITY_PREFIX)


SECURITY_SPECS: tuple[SettingSpec, ...] = (
    _s("idle_minutes", "空闲退出时间", 30, int, 5, 1440, "分钟", "登录后超过此时间没有操作，需要重新登录"),
    _s("absolute_hours", "登录有效期", 12, int, 1, 168, "小时", "自登录起超过此时间，无论是否在操作都需要重新登录"),
    _s("lockout_failures", "锁定前失败次数", 5, int, 3, 50, "次", "在统计期内密码错误达到此次数，账号被锁定"),
    _s("lockout_window_minutes", "失败统计期", 15, int, 1, 1440, "分钟", "连续失败在此时间内累计"),
    _s("lockout_minutes", "锁定时长", 15, int, 1, 1440, "分钟", "账号锁定后，在此时间内不能登录（管理员可解锁）"),
    _s("min_password_length", "密码最短长度", 10, int, 8, 128, "位", "新密码至少需要的字符数"),
)


@dataclass(frozen=True)
class SecuritySettings:
    """Log-in, session and lock-out settings in force."""
    idle_minutes: int = 30
    absolute_hours: int = 12
    lockout_failures: int = 5
    lockout_window_minutes: int = 15
    lockout_minutes: int = 15
    min_password_length: int = 10


_check_area(SecuritySettings, SECURITY_SPECS)


class SettingError(UserError, ValueError):
    """A value that is not acceptable for a setting (the message says why, in Chinese)."""

    def __init__(self, message: str) -> None:
        super().__init__(None, message)


def _validate(spec: SettingSpec, value: Any) -> int | float:
    if isinstance(value, bool):
        raise SettingError(f"{spec.label}必须是数字")
    try:
        number = float(str(value).strip().replace(",", "").replace("，", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise SettingError(f"{spec.label}必须是数字，收到：{value!r}") from None
    if not math.isfinite(number):
        raise SettingError(f"{spec.label}必须是有限的数字")
    if spec.kind is int:
        if number != int(number):
            raise SettingError(f"{spec.label}必须是整数，收到：{value}")
        number = int(number)
    if not spec.minimum <= number <= spec.maximum:
        raise SettingError(f"{spec.label}必须在 {spec.minimum:g} 到 {spec.maximum:g} {spec.unit}之间，收到：{value}")
    return number


def _read(cur: "duckdb.DuckDBPyConnection", prefix: str) -> dict[str, str]:
    rows = cur.execute("SELECT key, value FROM settings WHERE starts_with(key, ?)", [prefix]).fetchall()
    return dict(rows)


def _read_area(source: "Archive | duckdb.DuckDBPyConnection", specs: tuple[SettingSpec, ...], cls: type) -> Any:
    """An area's values stored in the archive; a missing or unreadable value falls back to its default."""
    own = hasattr(source, "cursor") and hasattr(source, "transaction")
    cur = source.cursor() if own else source  # type: ignore[union-attr]
    try:
        stored = _read(cur, specs[0].prefix)
    finally:
        if own:
            cur.close()
    values: dict[str, Any] = {}
    for spec in specs:
        raw = stored.get(spec.key)
        if raw is None:
            continue
        try:
            values[spec.name] = _validate(spec, raw)
        except SettingError:
            continue  # a value written by hand that no longer validates: the default applies
    return cls(**values)


def segment_settings(source: "Archive | duckdb.DuckDBPyConnection") -> SegmentSettings:
    """The classification thresholds stored in the archive (defaults for what is not stored)."""
    return _read_area(source, SPECS, SegmentSettings)


def follow_up_settings(source: "Archive | duckdb.DuckDBPyConnection") -> "FollowUpSettings":
    """The follow-up queue's settings stored in the archive (defaults for what is not stored)."""
    return _read_area(source, FOLLOW_UP_SPECS, FollowUpSettings)


def security_settings(source: "Archive | duckdb.DuckDBPyConnection") -> "SecuritySettings":
    """Log-in, session and lock-out settings stored in the archive (defaults for what is not stored)."""
    return _read_area(source, SECURITY_SPECS, SecuritySettings)


def complaint_settings(source: "Archive | duckdb.DuckDBPyConnection") -> "ComplaintSettings":
    """Complaint deadlines and analysis settings stored in the archive (defaults for what is not stored)."""
    return _read_area(source, COMPLAINT_SPECS, ComplaintSettings)


def _require_admin(actor: Actor) -> None:
    policy.require(actor, "settings.change", "只有管理员可以修改规则设置")


def _spec(name: str, specs: tuple[SettingSpec, ...], what: str) -> SettingSpec:
    spec = next((s for s in specs if name in (s.name, s.key)), None)
    if spec is None:
        raise SettingError(f"没有名为 {name} 的{what}")
    return spec


def set_segment_setting(archive: "Archive", actor: Actor, name: str, value: Any) -> tuple[Any, Any]:
    """Store one threshold (by field name, e.g. "high_value_floor"); returns (old, new). Admins only; audited."""
    return _store(archive, actor, _spec(name, SPECS, "分类阈值"), value, segment_settings)


def set_follow_up_setting(archive: "Archive", actor: Actor, name: str, value: Any) -> tuple[Any, Any]:
    """Store one follow-up setting (by field name, e.g. "pool_release_days"); admins only; audited."""
    return _store(archive, actor, _spec(name, FOLLOW_UP_SPECS, "跟进设置"), value, follow_up_settings)


def set_complaint_setting(archive: "Archive", actor: Actor, name: str, value: Any) -> tuple[Any, Any]:
    """Store one complaint setting (by field name, e.g. "days_normal"); admins only; audited."""
    return _store(archive, actor, _spec(name, COMPLAINT_SPECS, "投诉设置"), value, complaint_settings)


def set_security_setting(archive: "Archive", actor: Actor, name: str, value: Any) -> tuple[Any, Any]:
    """Store one log-in, session or lock-out setting (by field name, e.g. "idle_minutes"); admins only;
    audited. Sessions already open are held to the new idle limit from their next page."""
    return _store(archive, actor, _spec(name, SECURITY_SPECS, "登录与安全设置"), value, security_settings)


def _store(archive: "Archive", actor: Actor, spec: SettingSpec, value: Any, read: Any) -> tuple[Any, Any]:
    _require_admin(actor)
    new = _validate(spec, value)
    with archive.transaction() as tx:
        old = getattr(read(tx), spec.name)
        tx.execute("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", [spec.key, str(new)])
        audit.record(tx, actor, "setting", "settings", spec.key, {"old": old, "new": new})
    return old, new


def reset_segment_setting(archive: "Archive", actor: Actor, name: str) -> tuple[Any, Any]:
    """Back to the PRODUCT.md default (the row is removed); returns (old, default). Admins only; audited."""
    _require_admin(actor)
    spec = _spec(name, SPECS, "分类阈值")
    with archive.transaction() as tx:
        old = getattr(segment_settings(tx), spec.name)
        tx.execute("DELETE FROM settings WHERE key = ?", [spec.key])
        audit.record(tx, actor, "setting", "settings", spec.key, {"old": old, "new": spec.default, "reset": True})
    return old, spec.default


@dataclass(frozen=True)
class Area:
    """One settings area: what the 系统管理 page loops over to edit every setting in one place."""
    name: str
    label: str
    specs: tuple[SettingSpec, ...]
    read: Callable[[Any], Any]  # archive or cursor → the area's values
    store: Callable[["Archive", Actor, str, Any], tuple[Any, Any]]  # validated, admins only, audited


AREAS: dict[str, Area] = {a.name: a for a in (
    Area("segments", "客户分类阈值", SPECS, segment_settings, set_segment_setting),
    Area("followups", "跟进规则", FOLLOW_UP_SPECS, follow_up_settings, set_follow_up_setting),
    Area("complaints", "投诉处理与满意度", COMPLAINT_SPECS, complaint_settings, set_complaint_setting),
    Area("security", "登录与安全", SECURITY_SPECS, security_settings, set_security_setting),
)}


def settings_rows(archive: "Archive", area: str = "segments") -> list[dict[str, Any]]:
    """Every setting of an area with its label, value, default, unit and meaning (for a page or a caption)."""
    specs, current = AREAS[area].specs, AREAS[area].read(archive)
    return [{"name": s.name, "key": s.key, "label": s.label, "value": getattr(current, s.name), "default": s.default,
             "unit": s.unit, "help": s.help} for s in specs]


__all__ = [
    "AREAS", "Area", "COMPLAINT_SPECS", "ComplaintSettings", "complaint_settings", "set_complaint_setting", "SECURITY_SPECS",
    "SecuritySettings", "security_settings", "set_security_setting", "FOLLOW_UP_SPECS", "FollowUpSettings", "follow_up_settings", "set_follow_up_setting", "SPECS", "SegmentSettings", "SettingError", "SettingSpec", "reset_segment_setting", "segment_settings",
    "set_segment_setting", "settings_rows",
]
