"""Person names: pinyin keys for homophone comparison (masking is `transforms.privacy`).

pypinyin reads a surname by its commonest reading (单 → dan); in a name the first character
is a surname, so the readings below win there.
"""

from __future__ import annotations

from functools import lru_cache

from pypinyin import Style, lazy_pinyin

SURNAME_READINGS = {
    "单": "shan",
    "曾": "zeng",
    "解": "xie",
    "区": "ou",
    "仇": "qiu",
    "朴": "piao",
    "查": "zha",
    "乐": "yue",
    "覃": "qin",
    "尉": "yu",
    "缪": "miao",
    "盖": "ge",
    "华": "hua",
    "任": "ren",
    "员": "yun",
    "种": "chong",
    "秘": "bi",
    "冼": "xian",
    "长": "zhang",
    "翟": "zhai",
    "藏": "zang",
    "宓": "mi",
}


@lru_cache(maxsize=200_000)
def pinyin_key(name: str | None) -> str:
    """Tone-less pinyin of a normalised name, surname read as a surname: 单小明 → shan xiao ming."""
    if not name:
        return ""
    head, rest = name[0], name[1:]
    first = SURNAME_READINGS.get(head) or " ".join(lazy_pinyin(head, style=Style.NORMAL))
    tail = lazy_pinyin(rest, style=Style.NORMAL) if rest else []
    return " ".join([first, *tail]).lower()


def same_pinyin(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and pinyin_key(a) == pinyin_key(b)
