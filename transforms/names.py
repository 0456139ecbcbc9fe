"""Person names: pinyin keys for homophone comparison, and masking for anything users read.

pypinyin reads a surname by its commonest reading (单 → dan); in a name the first character
is a surname, so the readings below win there.
"""

from __future__ import annotations

from functools import lru_cache

import polars as pl
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


def mask_name(name: str | None) -> str:
    """王小明 → 王*明, 王明 → 王*: what a report, log or alert shows of a name.

    One star whatever the length, so the mask does not tell the length either.
    """
    if not name:
        return ""
    if len(name) == 1:
        return "*"
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" + name[-1]


def mask_name_expr(expr: pl.Expr) -> pl.Expr:
    """`mask_name` for a whole column."""
    n = expr.str.len_chars()
    return (
        pl.when(n >= 3)
        .then(expr.str.slice(0, 1) + "*" + expr.str.slice(-1, 1))
        .when(n == 2)
        .then(expr.str.slice(0, 1) + "*")
        .when(n == 1)
        .then(pl.lit("*"))
        .otherwise(pl.lit(""))
    )
