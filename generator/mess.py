"""How each township's clerk types the roster: one `Style` per township.

Variants are dealt round-robin over the townships (in an order drawn from the seed), so
every variant of sources.md appears in every generation, even at a tiny scale: title rows,
two-row merged headers, synonyms and decorated header text, household columns on every
row / on the head's row only / merged over the household, unknown extra columns, footers
and blank rows, yes/no, money and date spellings, full-width digits, ideographic spaces,
lowercase x, and one township that still sends `.xls`.

Formatting never changes a value: whatever a cell says, a correct parser reads back the
logical value (or, for injected problems, exactly the problem the truth records).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from config.schema import ROSTER, VILLAGES

FULLWIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
IDEOGRAPHIC_SPACE = "\u3000"

YES_NO = (("是", "否"), ("有", "无"), ("√", "×"), ("Y", "N"), (1, 0), ("1", "0"))
MONEY = ("number", "comma", "yuan", "decimal", "text", "fullwidth")
DATE_STYLES = ("iso", "slash", "compact", "dot", "chinese", "excel")
FILL = ("all", "head", "merged")

# Canonical column order of the roster, then the unknown extras a clerk may add.
ROSTER_ORDER = (
    "township",
    "village",
    "household_id",
    "name",
    "id_number",
    "sex",
    "relation",
    "labour",
    "health",
    "school",
    "person_status",
    "attribute",
    "family_size",
    "income",
    "exit_status",
    "exit_year",
    "housing",
    "water_safe",
    "support_unit",
    "support_cadre",
    "phone",
)
EXTRAS = {
    "seq": "序号",
    "birth": "出生日期",
    "education": "文化程度",
    "cause": "主要致贫原因",
    "ethnicity": "民族",
    "note": "备注",
}
GROUPS = {
    "基本情况": (
        "township",
        "village",
        "household_id",
        "name",
        "id_number",
        "sex",
        "relation",
        "labour",
        "health",
        "school",
        "person_status",
        "birth",
        "education",
        "ethnicity",
    ),
    "家庭情况": (
        "attribute",
        "family_size",
        "income",
        "exit_status",
        "exit_year",
        "housing",
        "water_safe",
        "cause",
    ),
    "帮扶情况": ("support_unit", "support_cadre", "phone"),
}
HOUSEHOLD_KEYS = tuple(f.key for f in ROSTER.fields if f.household and f.key != "household_id") + (
    "cause",
)
# Decorations a header may carry (unit suffixes, explanations in brackets).
SUFFIXES = {
    "income": ("（元）", "(元)", "（元/人·年）"),
    "family_size": ("（人）", "(人)"),
    "exit_year": ("（年）",),
    "id_number": ("（18位）",),
}
FILE_PATTERNS = (
    "{t}_花名册.xlsx",
    "{t}建档立卡贫困人口花名册（{ym}）.xlsx",
    "附件2：{t}贫困户花名册.xlsx",
    "{t}精准扶贫对象名册_{ymd}.xlsx",
    "{code}_{t}.xlsx",
    "（{t}）建档立卡贫困户人员信息表.xlsx",
)
SHEETS = ("花名册", "贫困人口花名册", "人员信息", "Sheet1", "建档立卡人员花名册")
VILLAGE_SHEETS = ("贫困村情况表", "村基本情况", "贫困村情况")


@dataclass
class ColumnSpec:
    key: str
    header: str
    parent: str | None = None


@dataclass
class Style:
    township_code: str
    township: str
    file_name: str
    fmt: str  # xlsx or xls
    sheet: str
    preface_sheet: bool
    title_rows: list[str]
    two_row_header: bool
    columns: list[ColumnSpec]
    fill: str
    township_form: str  # short (珠玑镇) or bare (珠玑)
    village_form: str  # short (珠玑村) or full (珠玑村委会)
    yes_no: tuple
    money: str
    date_style: str
    synonyms_in_values: bool
    exit_yes_no: bool
    numbers_as_text: bool
    hh_id_numeric: bool
    status_blank: bool
    fullwidth_rate: float
    spaced_names_rate: float
    id_noise_rate: float
    blank_between_villages: bool
    subtotals: bool
    footer: list[str]
    village_sheet: str | None
    village_columns: list[ColumnSpec] = field(default_factory=list)

    @property
    def has_township_column(self) -> bool:
        return any(c.key == "township" for c in self.columns)

    def header_of(self, key: str) -> str:
        for c in self.columns:
            if c.key == key:
                return c.header
        raise KeyError(key)


def fullwidth(text: str) -> str:
    return text.translate(FULLWIDTH)


def _deal(rng: np.random.Generator, options: tuple | list, n: int) -> list:
    """Every option at least once when n allows, in a random order."""
    reps = (n + len(options) - 1) // len(options)
    pool = list(options) * reps
    order = rng.permutation(len(pool))
    return [pool[int(i)] for i in order[:n]]


def _header_text(key: str, rng: np.random.Generator, fancy: bool) -> str:
    fld = ROSTER.field(key) if key in ROSTER.keys else None
    if fld is None:
        return EXTRAS[key]
    choices = fld.headers
    text = choices[int(rng.integers(len(choices)))] if rng.random() < 0.45 else fld.canonical
    if not fancy:
        return text
    x = rng.random()
    if key in SUFFIXES and x < 0.6:
        text += SUFFIXES[key][int(rng.integers(len(SUFFIXES[key])))]
    elif x < 0.75 and len(text) >= 4:
        cut = len(text) // 2
        text = text[:cut] + "\n" + text[cut:]
    elif x < 0.9 and len(text) == 2:
        text = text[0] + "  " + text[1]
    text = text.replace("(", "（").replace(")", "）") if rng.random() < 0.5 else text
    return text


def _columns(
    rng: np.random.Generator, with_township: bool, extras: list[str], fancy: bool
) -> list[ColumnSpec]:
    keys = [k for k in ROSTER_ORDER if with_township or k != "township"]
    if "phone" in keys and rng.random() < 0.25:
        keys.remove("phone")
    for optional in ("health", "water_safe", "sex"):
        if rng.random() < 0.12:
            keys.remove(optional)
    if rng.random() < 0.35:  # some clerks put the name before the household number
        i, j = keys.index("household_id"), keys.index("name")
        keys[i], keys[j] = keys[j], keys[i]
    if "seq" in extras:
        keys.insert(0, "seq")
    for extra in extras:
        if extra == "seq":
            continue
        if extra == "birth":
            keys.insert(keys.index("id_number") + 1, extra)
        elif extra in ("education", "ethnicity"):
            keys.insert(keys.index("relation") + 1, extra)
        elif extra == "cause":
            keys.insert(keys.index("income") + 1, extra)
        else:
            keys.append(extra)
    used: set[str] = set()
    out = []
    for k in keys:
        header = _header_text(k, rng, fancy)
        if header.replace("\n", "").replace(" ", "") in used:  # e.g. two columns both called 村
            header = ROSTER.field(k).canonical if k in ROSTER.keys else header
        used.add(header.replace("\n", "").replace(" ", ""))
        parent = next((g for g, members in GROUPS.items() if k in members), None)
        out.append(ColumnSpec(k, header, parent))
    return out


def _village_columns(rng: np.random.Generator) -> list[ColumnSpec]:
    out = []
    for f in VILLAGES.fields:
        header = f.canonical
        if f.synonyms and rng.random() < 0.4:
            header = f.synonyms[int(rng.integers(len(f.synonyms)))]
        if f.key == "income" and rng.random() < 0.6:
            header += "（元）"
        if f.key == "toilet_rate" and rng.random() < 0.5:
            header += "（%）"
        out.append(ColumnSpec(f.key, header))
    return out


def choose_styles(
    townships: dict[str, str], has_poor_villages: dict[str, bool], params
) -> dict[str, Style]:
    """One style per township; the variants are dealt so that all of them occur."""
    rng = params.rng("styles")
    codes = sorted(townships)
    n = len(codes)
    fills = _deal(rng, FILL, n)
    two_rows = _deal(rng, (True, False), n)
    yes_nos = _deal(rng, YES_NO, n)
    monies = _deal(rng, MONEY, n)
    dates = _deal(rng, DATE_STYLES, n)
    patterns = _deal(rng, FILE_PATTERNS, n)
    sheets = _deal(rng, SHEETS, n)
    with_township = _deal(rng, (True, True, False), n)
    xls_index = int(rng.integers(n))
    hh_numeric_index = (xls_index + 1 + int(rng.integers(n - 1))) % n
    styles = {}
    for i, code in enumerate(codes):
        t = townships[code]
        ymd = f"{params.as_of:%Y%m%d}"
        name = patterns[i].format(
            t=t, code=code, ym=f"{params.as_of.year}年{params.as_of.month}月", ymd=ymd
        )
        fmt = "xls" if i == xls_index else "xlsx"
        if fmt == "xls":
            name = name[: -len(".xlsx")] + ".xls"
        extras = [e for e in EXTRAS if rng.random() < 0.45]
        if i % 3 == 0 and "birth" not in extras:
            extras.append("birth")
        fancy = bool(rng.random() < 0.65)
        title = _title_rows(t, params, rng)
        if (
            not with_township[i] and not title
        ):  # without a 乡镇 column the title must name the township
            title = _title_rows(t, params, rng, at_least_one=True)
        footer = [f for f in ("合计", "填表人", "说明") if rng.random() < 0.6]
        styles[code] = Style(
            township_code=code,
            township=t,
            file_name=name,
            fmt=fmt,
            sheet=sheets[i],
            preface_sheet=bool(rng.random() < 0.25),
            title_rows=title,
            two_row_header=two_rows[i],
            columns=_columns(rng, with_township[i], extras, fancy),
            fill=fills[i],
            township_form="bare" if rng.random() < 0.3 else "short",
            village_form="full" if rng.random() < 0.4 else "short",
            yes_no=yes_nos[i],
            money=monies[i],
            date_style=dates[i] if fmt == "xlsx" or dates[i] != "excel" else "iso",
            synonyms_in_values=bool(rng.random() < 0.5),
            exit_yes_no=bool(rng.random() < 0.35),
            numbers_as_text=bool(rng.random() < 0.4),
            hh_id_numeric=i == hh_numeric_index,
            status_blank=bool(rng.random() < 0.6),
            fullwidth_rate=float(rng.choice([0.0, 0.0, 0.03, 0.08])),
            spaced_names_rate=float(rng.choice([0.0, 0.05, 0.2])),
            id_noise_rate=float(rng.choice([0.0, 0.04, 0.1])),
            blank_between_villages=bool(rng.random() < 0.4),
            subtotals=bool(rng.random() < 0.2),
            footer=footer,
            village_sheet=VILLAGE_SHEETS[i % len(VILLAGE_SHEETS)]
            if has_poor_villages.get(code)
            else None,
            village_columns=_village_columns(rng),
        )
    return styles


def _title_rows(
    township: str, params, rng: np.random.Generator, at_least_one: bool = False
) -> list[str]:
    d = params.as_of
    stamp = params.stamp
    options = [
        f"{params.county_name}{township}建档立卡贫困人口花名册（截至{d.year}年{d.month}月{d.day}日）",
        f"填报单位：{township}人民政府（扶贫办）    填报日期：{stamp.year}年{stamp.month}月{stamp.day}日",
        f"{township}新时期精准扶贫精准脱贫对象花名册",
        f"（{d.year}年动态调整后）",
    ]
    k = int(rng.integers(1 if at_least_one else 0, 4))
    if k == 0:
        return []
    if k == 1:
        return [options[0]]
    if k == 2:
        return [options[0], options[1]]
    return [options[2], options[3], options[1]]


# ---------------------------------------------------------------- cell values


class CellFormatter:
    """Turns logical roster values into what a clerk of this style types."""

    def __init__(self, style: Style, rng: np.random.Generator):
        self.style = style
        self.rng = rng

    def _maybe_fullwidth(self, text: str) -> str:
        return fullwidth(text) if self.rng.random() < self.style.fullwidth_rate else text

    def number(self, value: int | str | None) -> object:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        if self.style.numbers_as_text:
            return self._maybe_fullwidth(str(int(value)))
        return int(value)

    def money(self, value: float | str | None) -> object:
        if value is None or isinstance(value, str):
            return value
        v = float(value)
        style = self.style.money
        if self.rng.random() < 0.1:
            style = MONEY[int(self.rng.integers(len(MONEY)))]
        whole = v == int(v)
        if style == "number":
            return int(v) if whole else v
        if style == "comma":
            return f"{v:,.0f}" if whole else f"{v:,.2f}"
        if style == "yuan":
            return f"{v:.0f}元" if whole else f"{v:.2f}元"
        if style == "decimal":
            return f"{v:.2f}"
        if style == "fullwidth":
            return fullwidth(f"{v:.0f}" if whole else f"{v:.2f}")
        return f"{v:.0f}" if whole else f"{v:.2f}"

    def yes_no(self, value: bool | None) -> object:
        if value is None:
            return None
        yes, no = self.style.yes_no
        return yes if value else no

    def enum(self, value: str, table: Mapping[str, tuple[str, ...]]) -> str:
        if not self.style.synonyms_in_values or value not in table or not table[value]:
            return value
        if self.rng.random() < 0.5:
            syns = table[value]
            return syns[int(self.rng.integers(len(syns)))]
        return value

    def labour(self, value: str) -> str:
        preferred = {
            "普通劳动力": "有劳动能力",
            "丧失劳动力": "丧失劳动能力",
            "无劳动力": "无劳动能力",
        }
        if self.style.synonyms_in_values and value in preferred and self.rng.random() < 0.5:
            return preferred[value]
        return value

    def attribute(self, value: str) -> str:
        preferred = {"低保贫困户": "低保户", "特困供养贫困户": "五保户"}
        if self.style.synonyms_in_values and value in preferred and self.rng.random() < 0.6:
            return preferred[value]
        return value

    def exit_status(self, value: str) -> str:
        if self.style.exit_yes_no and value in ("已脱贫", "未脱贫"):
            return "是" if value == "已脱贫" else "否"
        return value

    def name(self, value: str) -> str:
        if len(value) == 2 and self.rng.random() < self.style.spaced_names_rate:
            return value[0] + IDEOGRAPHIC_SPACE + value[1]
        if self.rng.random() < self.style.spaced_names_rate / 3:
            return value + " "
        return value

    def id_text(self, value: str) -> str:
        if self.rng.random() >= self.style.id_noise_rate:
            return value
        x = self.rng.random()
        if value.endswith("X") and x < 0.5:
            return value[:-1] + "x"
        if x < 0.4:
            return fullwidth(value)
        if x < 0.7:
            return value + " "
        return f"{value[:6]} {value[6:14]} {value[14:]}"

    def date(self, day: date, style: str | None = None) -> object:
        style = style or self.style.date_style
        if self.rng.random() < 0.15:
            style = DATE_STYLES[
                int(self.rng.integers(len(DATE_STYLES) - (0 if self.style.fmt == "xlsx" else 1)))
            ]
        return format_date(day, style)


def format_date(day: date, style: str) -> object:
    """One of the spellings of sources.md; `excel` gives a real date cell (a datetime)."""
    if style == "iso":
        return f"{day:%Y-%m-%d}"
    if style == "slash":
        return f"{day.year}/{day.month}/{day.day}"
    if style == "compact":
        return f"{day:%Y%m%d}"
    if style == "dot":
        return f"{day.year}.{day.month}.{day.day}"
    if style == "chinese":
        return f"{day.year}年{day.month}月{day.day}日"
    if style == "month":
        return f"{day:%Y%m}"
    if style == "excel":
        return datetime(day.year, day.month, day.day)
    raise ValueError(style)
