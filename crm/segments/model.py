"""What a run is (one classification of every customer as of a date) and the page's filters on it."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from crm.settings import SegmentSettings


# ------------------------------------------------------------------ a run
@dataclass(frozen=True)
class SegmentRun:
    """The classification of every customer as of `as_of`, stored as `segment_members` rows of `run_id`."""
    run_id: int
    as_of: dt.date
    month_end: bool
    customers: int
    stats: dict[str, Any]
    settings: SegmentSettings
    computed: bool = False  # computed by this call (False: taken from the cache)
    seconds: float | None = None

    @property
    def rfm_scored(self) -> bool:
        return bool(self.stats.get("rfm"))


@dataclass(frozen=True)
class SegmentFilters:
    """The page's filters: each None means all. UNKNOWN selects customers with the field empty."""
    owner: str | None = None
    region: str | None = None
    industry: str | None = None
    tag: str | None = None

    def sql(self, alias: str = "sm") -> tuple[str, list[Any]]:
        """(condition, params) on a segment_members alias; "TRUE" with no filter."""
        parts: list[str] = []
        params: list[Any] = []
        for column in ("owner", "region", "industry"):
            value = getattr(self, column)
            if value is not None:
                parts.append(f"{alias}.{column} = ?")  # stored with empty values as UNKNOWN
                params.append(value)
        if self.tag is not None:
            parts.append(f"{alias}.customer_id IN (SELECT customer_id FROM customer_tags WHERE tag = ?)")
            params.append(self.tag)
        return (" AND ".join(parts) or "TRUE"), params

    def named_sql(self, alias: str = "sm", prefix: str = "filter") -> tuple[str, dict[str, Any]]:
        """The same condition with named parameters ($filter0, …), for queries that bind by name."""
        condition, values = self.sql(alias)
        names = [f"{prefix}{i}" for i in range(len(values))]
        for name in names:
            condition = condition.replace("?", f"${name}", 1)
        return condition, dict(zip(names, values))

    def lines(self) -> list[str]:
        """The filters in words, for an export's header."""
        return [f"负责人：{self.owner or '全部'}", f"地区：{self.region or '全部'}",
                f"行业：{self.industry or '全部'}", f"标签：{self.tag or '全部'}"]

    @property
    def active(self) -> bool:
        return any(v is not None for v in (self.owner, self.region, self.industry, self.tag))


