"""The pinyin keys' fast path gives exactly what pypinyin gives for the whole name."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from pypinyin import Style, lazy_pinyin

from crm.customers.search_keys import has_phrase, name_initials, name_pinyin

# Polyphones (长 重 单 曾 行 乐 朴 仇), characters of common phrases (重庆 长沙 银行 公司 建国),
# latin letters, digits, full-width letters, spaces and punctuation.
ALPHABET = "王李张伟芳长重庆沙单曾行乐朴仇银公司建国北京绿叶 ABCxyz019ｆＡ-·（）"


def pypinyin_pinyin(name: str) -> str:
    return "".join(lazy_pinyin(name, errors="default")).lower().replace(" ", "")


def pypinyin_initials(name: str) -> str:
    parts = lazy_pinyin(name, style=Style.FIRST_LETTER, errors=lambda s: list(s))
    return "".join(p[:1] for p in parts if p.strip()).lower()


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=ALPHABET, min_size=1, max_size=12))
def test_the_keys_equal_pypinyins_reading_of_the_whole_name(name):
    assert name_pinyin(name) == pypinyin_pinyin(name)
    assert name_initials(name) == pypinyin_initials(name)


def test_phrases_are_read_as_phrases_and_lone_characters_as_themselves():
    assert has_phrase("重庆公司") and name_pinyin("重庆公司") == "chongqinggongsi"
    assert not has_phrase("长 沙") and name_pinyin("长 沙") == "zhangsha"
    assert name_pinyin("张伟") == "zhangwei" and name_initials("张伟") == "zw"
    assert name_initials("ABC公司 北京") == "abcgsbj"
    assert name_pinyin("") == "" and name_initials("") == ""
