"""Regions from real addresses: every province and city, not a hand-kept list of 36 cities."""
from __future__ import annotations

import pytest

from crm.geography import place_of, places_of


@pytest.mark.parametrize("address, place", [
    ("湛江市霞山区人民大道1号", ("广东", "湛江")),
    ("徐州市/鼓楼区", ("江苏", "徐州")),
    ("金华市金东区", ("浙江", "金华")),
    ("广西壮族自治区南宁市青秀区", ("广西", "南宁")),
    ("北京市朝阳区建国路", ("北京", "北京")),
    ("内蒙古呼和浩特市新城区", ("内蒙古", "呼和浩特")),
    ("没有地名的一段话", (None, None)),
    ("", (None, None)),
])
def test_place_of_an_address(address: str, place: tuple) -> None:
    assert place_of(address) == place


def test_many_addresses_at_once_match_one_by_one() -> None:
    addresses = ["深圳市南山区", None, "深圳市南山区", "杭州市西湖区"]
    assert places_of(addresses) == [place_of("深圳市南山区"), (None, None), place_of("深圳市南山区"),
                                    place_of("杭州市西湖区")]
