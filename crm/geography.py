"""Where an address is: province and city from China's full administrative divisions.

A hand-kept table of a few dozen cities left 湛江市霞山区…, 徐州市/鼓楼区, 金华市金东区… without a
region, so the 客户区域分析表 missed them. cpca (MIT, data from the national administrative codes)
knows every province, city and district and reads addresses written without the province
(深圳南山 → 广东 深圳). The archive keeps the province short (广东, 内蒙古, 北京), as the
classification and the region reports group by it, and the city (深圳, 北京 for a municipality).
"""
from __future__ import annotations

from functools import lru_cache
from typing import Iterable

_SUFFIXES = ("特别行政区", "维吾尔自治区", "壮族自治区", "回族自治区", "自治区", "省", "市")


def _short(province: str) -> str:
    for suffix in _SUFFIXES:
        if province.endswith(suffix) and len(province) > len(suffix):
            return province[: -len(suffix)]
    return province


@lru_cache(maxsize=200_000)
def place_of(address: str | None) -> tuple[str | None, str | None]:
    """(province short, city short) of an address; (None, None) when it names no known place."""
    if not address or not address.strip():
        return None, None
    return places_of([address])[0]


def places_of(addresses: Iterable[str | None]) -> list[tuple[str | None, str | None]]:
    """place_of for many addresses in one pass (each distinct address read once)."""
    import cpca  # imported on first use: loading the divisions takes a tenth of a second

    items = list(addresses)
    distinct = sorted({a.strip() for a in items if isinstance(a, str) and a.strip()})
    if not distinct:
        return [(None, None)] * len(items)
    frame = cpca.transform(distinct)
    found: dict[str, tuple[str | None, str | None]] = {}
    for text, province, city in zip(distinct, frame["省"], frame["市"]):
        p = _short(province) if isinstance(province, str) else None
        c = city if isinstance(city, str) else None
        if c in ("市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"):
            c = province if isinstance(province, str) else None
        found[text] = (p, _short(c) if c else None)
    return [found.get(a.strip(), (None, None)) if isinstance(a, str) else (None, None) for a in items]
