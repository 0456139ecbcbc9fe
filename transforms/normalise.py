"""Staged rows (text as read) → canonical frames (typed, normalised) of transforms.frames.

Nothing is dropped and nothing is "repaired" here: a value that can't be read becomes null
with its text kept in `<column>_raw` (or, for enumerations, the trimmed written value), so the
expectation suites can report file, sheet, row and column.  So does a value that cannot be
right (`transforms.values`: a negative, non-finite or absurd amount, a date before 1900 or more
than a year after the file is read): it is read, kept as written, and not used.

Invisible format characters (zero-width spaces, direction marks, the BOM, soft hyphens:
Unicode category Cf) are removed from IDs and names; the text as read stays in `*_raw`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date

import polars as pl

from config import schema as cfg
from config.settings import Divisions, ValueLimits
from transforms import ids
from transforms.cells import (
    clean_label,
    is_blank,
    normalise_enum,
    normalise_name,
    parse_date,
    parse_int,
    parse_money,
    parse_percent,
    parse_yes_no,
    trimmed,
)
from transforms.frames import (
    DIBAO_ROW,
    ENROLMENT_ROW,
    ROSTER_PERSON,
    SETTLEMENT_ROW,
    VILLAGE,
    conform,
    staged_schema,
)
from transforms.values import amount_as_written, plausible_amount, plausible_date, plausible_year

Parser = Callable[[pl.Expr], pl.Expr]


def _by_value(frame: pl.DataFrame, specs: list[tuple[str, str, Parser]]) -> pl.DataFrame:
    """Apply `(input column, output column, parser)` once per distinct input value and join
    the result back: an enrolment file has 1.3M rows but a few thousand distinct dates and a
    handful of statuses.  An output may replace its input column.

    Only the key column takes part in each join (joining the whole frame would copy every
    column once per parsed column).
    """
    by_input: dict[str, list[tuple[str, Parser]]] = {}
    for column, out, parser in specs:
        by_input.setdefault(column, []).append((out, parser))
    parsed: list[pl.Series] = []
    for column, outputs in by_input.items():
        table = frame.select(pl.col(column).unique()).with_columns(
            [parser(pl.col(column)).alias(f"__{out}") for out, parser in outputs]
        )
        joined = frame.select(column).join(
            table, on=column, how="left", nulls_equal=True, maintain_order="left"
        )
        parsed.extend(joined.get_column(f"__{out}").alias(out) for out, _ in outputs)
    return frame.with_columns(parsed)


def _enum(mapping: Mapping[str, Sequence[str]]) -> Parser:
    return lambda expr: normalise_enum(expr, mapping)


def _name(expr: pl.Expr) -> pl.Expr:
    """`normalise_name` of the text without invisible format characters (category Cf)."""
    return normalise_name(expr.cast(pl.Utf8).str.replace_all(ids.INVISIBLE, ""))


class _Plausible:
    """Readers of amounts and dates that leave out what cannot be right (`transforms.values`):
    the bounds of the policy file, the latest date a year after the day the file is read."""

    def __init__(self, limits: ValueLimits, read_on: date | None) -> None:
        self.limits = limits
        self.latest = self.limits.latest_date(read_on or date.today())

    def amount(self, ceiling: float) -> Parser:
        return lambda expr: plausible_amount(amount_as_written(expr), ceiling)

    def day(self, expr: pl.Expr) -> pl.Expr:
        return plausible_date(parse_date(expr), self.limits.earliest_date, self.latest)

    def year(self, expr: pl.Expr) -> pl.Expr:
        return plausible_year(parse_int(expr), self.limits.earliest_date, self.latest)


def _with_ids(frame: pl.DataFrame) -> pl.DataFrame:
    """`id_norm` / `id_status` for `id_raw`.

    IDs already in canonical form (18 characters, valid date and check character) — nearly
    every row of a system extract — are recognised by one vectorised pass; only the others go
    through `transforms.ids.parse_id`, once per distinct value.  Both paths give the same
    answer (tests/transforms/test_normalise.py checks it against parse_id).
    """
    canonical = canonical_id_mask(frame, "id_raw")
    others = frame.filter(~canonical).select(pl.col("id_raw").unique())
    table = ids.parse_id_column(others, "id_raw", prefix="id")
    joined = (
        frame.select("id_raw")
        .join(table, on="id_raw", how="left", nulls_equal=True, maintain_order="left")
        .with_columns(canonical.alias("canonical"))
    )
    is_canonical = pl.col("canonical")
    return frame.with_columns(
        joined.select(
            pl.when(is_canonical).then(pl.col("id_raw")).otherwise("id_norm").alias("id_norm"),
            pl.when(is_canonical).then(pl.lit(ids.VALID)).otherwise("id_status").alias("id_status"),
        ).get_columns()
    )


def canonical_id_mask(frame: pl.DataFrame, column: str) -> pl.Series:
    """True where the text is exactly a valid 18-character ID, as parse_id would store it.

    Stricter than parse_id is harmless (the rest goes through parse_id); looser is not.
    Integer arithmetic on the first 17 digits, each intermediate computed once: this runs on
    every row of a 1.3M-row extract.
    """
    raw = pl.col(column)
    parts = frame.select(
        raw.str.slice(0, 17).cast(pl.Int64, strict=False).alias("body"),  # null unless digits
        raw.str.slice(17, 1).alias("last"),
        raw.str.len_bytes().alias("length"),
    )
    body, last = pl.col("body"), pl.col("last")
    total = pl.sum_horizontal(
        [(body // 10 ** (16 - i)) % 10 * w for i, w in enumerate(ids.WEIGHTS)]
    )
    # CHECK_CHARS = "10X98765432": position k holds digit (12 - k) % 11, and X sits at k = 2.
    expected = pl.when(last == "X").then(2).otherwise((12 - last.cast(pl.Int64, strict=False)) % 11)
    born = (body // 1000) % 100_000_000
    parts = parts.select(
        ((pl.col("length") == 18) & (body >= 10**16) & (total % 11 == expected)).alias("shape"),
        (born // 10_000).alias("year"),
        (born // 100 % 100).alias("month"),
        (born % 100).alias("day"),
    )
    year, month, day = pl.col("year"), pl.col("month"), pl.col("day")
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_days = (
        pl.when(month == 2)
        .then(28 + leap.cast(pl.Int64))
        .when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )
    valid = (
        pl.col("shape")
        & (year * 10_000 + month * 100 + day).is_between(18800101, 20301231)
        & month.is_between(1, 12)
        & day.is_between(1, month_days)
    )
    return parts.select(valid.fill_null(False)).to_series()


def _township_codes(frame: pl.DataFrame, divisions: Divisions) -> pl.DataFrame:
    written = frame.get_column("township").drop_nulls().unique().to_list()
    codes = {name: divisions.township_code(name) for name in written}
    known = {name: code for name, code in codes.items() if code is not None}
    return frame.with_columns(
        pl.col("township")
        .replace_strict(list(known), list(known.values()), default=None, return_dtype=pl.Utf8)
        .alias("township_code")
    )


def _resolve_township_hint(hint: str | None, divisions: Divisions) -> tuple[str | None, str | None]:
    """(code, short name) of the township a workbook is for, given a code or a name."""
    if not hint:
        return None, None
    code = hint if hint in divisions.townships else divisions.township_code(hint)
    if code is None:
        return None, None
    return code, divisions.short_name(code)


def _as_staged(staged: pl.DataFrame, source: cfg.Source) -> pl.DataFrame:
    """The staged contract, whatever subset of its columns the caller built."""
    return conform(staged, staged_schema(source))


def _keep_raw(frame: pl.DataFrame, pairs: dict[str, str]) -> pl.DataFrame:
    return frame.with_columns([pl.col(src).alias(raw) for src, raw in pairs.items()])


# ---------------------------------------------------------------- roster


_NO_HOUSEHOLD = "\x00"
_HOUSEHOLD_KEYS = [f.key for f in cfg.ROSTER.fields if f.household and f.key != "household_id"]


def _fill_households(frame: pl.DataFrame) -> pl.DataFrame:
    """Household columns written once per household (on the head's row only, or as a merged
    cell whose value sits in its top row) belong to every member.

    1. A blank 户编号 continues the household above (a merged cell), unless the row is a
       household head (与户主关系 = 户主), which starts a household of its own -- except a
       head's row typed twice (the same name and ID as the head row right above it).
    2. Within a run of consecutive rows of one household a blank household cell takes the
       value above; any still blank then takes the household's first non-blank value.
    A member's own written value is never overwritten.
    """
    group = ["file_id", "sheet"]
    is_head = normalise_enum(pl.col("relation"), cfg.RELATION).eq("户主").fill_null(False)
    household = clean_label(pl.col("household_id"))
    who = pl.concat_str(
        [normalise_name(pl.col("name")), pl.col("id_number").str.replace_all(r"\s", "")],
        separator="|",
    )
    repeated = is_head & is_head.shift(1).over(group) & who.eq(who.shift(1).over(group))
    # A head without 户编号 interrupts the fill: its members must not join the household above.
    new_head = household.is_null() & is_head & ~repeated.fill_null(False)
    breaks = pl.when(new_head).then(pl.lit(_NO_HOUSEHOLD)).otherwise(household)
    frame = frame.sort([*group, "row_no"]).with_columns(
        breaks.forward_fill().over(group).replace(_NO_HOUSEHOLD, None).alias("household_id")
    )
    hh = pl.col("household_id")
    frame = frame.with_columns(hh.ne_missing(hh.shift(1)).cum_sum().over(group).alias("__run"))
    own = {k: pl.when(is_blank(pl.col(k))).then(None).otherwise(pl.col(k)) for k in _HOUSEHOLD_KEYS}
    frame = frame.with_columns(
        [
            pl.when(hh.is_null())
            .then(own[k])
            .otherwise(own[k].forward_fill().over([*group, "__run"]))
            .alias(k)
            for k in _HOUSEHOLD_KEYS
        ]
    )
    frame = frame.with_columns(
        [
            pl.when(hh.is_null())
            .then(pl.col(k))
            .otherwise(
                pl.col(k).fill_null(pl.col(k).drop_nulls().first().over([*group, "household_id"]))
            )
            .alias(k)
            for k in _HOUSEHOLD_KEYS
        ]
    )
    return frame.drop("__run")


def normalise_roster(
    staged: pl.DataFrame,
    township_code: str | None,
    *,
    divisions: Divisions,
    limits: ValueLimits,
    read_on: date | None = None,
) -> pl.DataFrame:
    """Staged roster rows → `transforms.frames.ROSTER_PERSON`.

    `township_code` is the township the workbook is for (a code, or a name such as the title's
    `珠玑镇`); it fills a blank 乡镇 cell.  A written 乡镇 is kept and resolved on its own, so a
    row naming another township stays visible as such, resolved against `divisions`.
    `limits` (the policy's [values]) and `read_on` (default: today) bound 年人均可支配收入
    and 脱贫年度.
    """
    _, hint_name = _resolve_township_hint(township_code, divisions)
    plausible = _Plausible(limits, read_on)
    frame = _fill_households(_as_staged(staged, cfg.ROSTER))
    frame = _keep_raw(
        frame,
        {
            "name": "name_raw",
            "id_number": "id_raw",
            "family_size": "family_size_raw",
            "income": "income_raw",
            "exit_year": "exit_year_raw",
            "water_safe": "water_safe_raw",
        },
    )
    frame = frame.with_columns(
        pl.coalesce(clean_label(pl.col("township")), pl.lit(hint_name, dtype=pl.Utf8)).alias(
            "township"
        ),
        _name(pl.col("name")).alias("name"),
    )
    frame = _by_value(
        frame,
        [
            ("village", "village", clean_label),
            ("sex", "sex", _enum(cfg.SEX)),
            ("relation", "relation", _enum(cfg.RELATION)),
            ("labour", "labour", _enum(cfg.LABOUR)),
            ("health", "health", _enum(cfg.HEALTH)),
            ("school", "school", _enum(cfg.SCHOOL)),
            (
                "person_status",
                "person_status",
                lambda e: normalise_enum(e, cfg.PERSON_STATUS).fill_null("正常"),
            ),
            ("attribute", "attribute", _enum(cfg.ATTRIBUTE)),
            ("family_size", "family_size", parse_int),
            ("income", "income", plausible.amount(plausible.limits.income_max)),
            ("exit_status", "exit_status", _enum(cfg.EXIT_STATUS)),
            ("exit_year", "exit_year", plausible.year),
            ("housing", "housing", _enum(cfg.HOUSING)),
            ("water_safe", "water_safe", parse_yes_no),
            ("support_unit", "support_unit", trimmed),
            ("support_cadre", "support_cadre", normalise_name),
            ("phone", "phone", clean_label),
        ],
    )
    frame = _with_ids(_township_codes(frame, divisions))
    return conform(frame.sort(["file_id", "sheet", "row_no"]), ROSTER_PERSON)


# ---------------------------------------------------------------- villages

_VILLAGE_FLAGS = (
    "is_poor",
    "health_station",
    "bus",
    "water_safe",
    "coverage_4g",
    "info_point",
    "waste",
    "sewage",
)


def normalise_villages(
    staged: pl.DataFrame, township_code: str | None, *, divisions: Divisions
) -> pl.DataFrame:
    """Staged 贫困村情况表 rows → `VILLAGE`.  The sheet has no 乡镇 column: the workbook's
    township (`township_code`, a code or a name) applies to every row."""
    code, _ = _resolve_township_hint(township_code, divisions)
    frame = _as_staged(staged, cfg.VILLAGES).with_columns(
        pl.lit(code, dtype=pl.Utf8).alias("township_code"),
        clean_label(pl.col("village")).alias("village"),
        *[parse_yes_no(pl.col(k)).alias(k) for k in _VILLAGE_FLAGS],
        parse_int(pl.col("registered_population")).alias("registered_population"),
        parse_money(pl.col("income")).alias("income"),
        parse_percent(pl.col("toilet_rate")).alias("toilet_rate"),
        trimmed(pl.col("support_unit")).alias("support_unit"),
        normalise_enum(pl.col("unit_type"), cfg.UNIT_TYPE).alias("unit_type"),
        normalise_name(pl.col("first_secretary")).alias("first_secretary"),
    )
    return conform(frame, VILLAGE)


# ---------------------------------------------------------------- 低保, enrolment, settlements


def normalise_dibao(
    staged: pl.DataFrame, *, limits: ValueLimits, read_on: date | None = None
) -> pl.DataFrame:
    """Staged 低保/特困 rows → `DIBAO_ROW` (月保障金额 and the dates bounded as in
    `normalise_roster`)."""
    plausible = _Plausible(limits, read_on)
    frame = _keep_raw(
        _as_staged(staged, cfg.DIBAO),
        {
            "name": "name_raw",
            "id_number": "id_raw",
            "start_date": "start_date_raw",
            "stop_date": "stop_date_raw",
            "family_size": "family_size_raw",
            "monthly_amount": "monthly_amount_raw",
        },
    )
    frame = frame.with_columns(
        _name(pl.col("name")).alias("name"),
        clean_label(pl.col("family_id")).alias("family_id"),
    )
    frame = _by_value(
        frame,
        [
            ("township", "township", clean_label),
            ("village", "village", clean_label),
            ("relation", "relation", _enum(cfg.RELATION)),
            ("category", "category", _enum(cfg.DIBAO_CATEGORY)),
            ("family_size", "family_size", parse_int),
            (
                "monthly_amount",
                "monthly_amount",
                plausible.amount(plausible.limits.dibao_monthly_max),
            ),
            ("status", "status", _enum(cfg.DIBAO_STATUS)),
            ("start_date", "start_date", plausible.day),
            ("stop_date", "stop_date", plausible.day),
            ("stop_reason", "stop_reason", _enum(cfg.STOP_REASON)),
        ],
    )
    return conform(_with_ids(frame), DIBAO_ROW)


def normalise_enrolment(
    staged: pl.DataFrame, *, limits: ValueLimits, read_on: date | None = None
) -> pl.DataFrame:
    """Staged enrolment rows → `ENROLMENT_ROW` (≈420k rows a year, several years a file):
    every parser runs once per distinct value, nothing row by row in Python.  出生日期 is
    bounded as in `normalise_roster`."""
    plausible = _Plausible(limits, read_on)
    frame = _keep_raw(
        _as_staged(staged, cfg.ENROLMENT),
        {
            "name": "name_raw",
            "id_number": "id_raw",
            "birth_date": "birth_date_raw",
            "year": "year_raw",
        },
    )
    frame = frame.with_columns(
        _name(pl.col("name")).alias("name"),
        trimmed(pl.col("insured_key")).alias("insured_key"),
    )
    frame = _by_value(
        frame,
        [
            ("sex", "sex", _enum(cfg.SEX)),
            ("birth_date", "birth_date", plausible.day),
            ("year", "year", parse_int),
            ("enrol_status", "enrol_status", _enum(cfg.ENROL_STATUS)),
            ("person_status", "person_status", _enum(cfg.PERSON_STATUS)),
            ("subsidy", "subsidy", _enum(cfg.SUBSIDY)),
            ("township", "township", clean_label),
            ("village", "village", clean_label),
        ],
    )
    return conform(_with_ids(frame), ENROLMENT_ROW)


def normalise_settlement(
    staged: pl.DataFrame, *, limits: ValueLimits, read_on: date | None = None
) -> pl.DataFrame:
    """Staged settlement rows → `SETTLEMENT_ROW` (amounts and 结算日期 bounded as in
    `normalise_roster`)."""
    plausible = _Plausible(limits, read_on)
    amount = plausible.amount(plausible.limits.settlement_max)
    money = ("total_cost", "eligible_cost", "basic_paid", "serious_paid", "assistance_paid")
    frame = _keep_raw(
        _as_staged(staged, cfg.SETTLEMENT),
        {
            "name": "name_raw",
            "id_number": "id_raw",
            "settle_date": "settle_date_raw",
            **{k: f"{k}_raw" for k in money},
        },
    )
    frame = frame.with_columns(
        _name(pl.col("name")).alias("name"),
        clean_label(pl.col("settlement_id")).alias("settlement_id"),
        *[amount(pl.col(k)).alias(k) for k in money],
    )
    frame = _by_value(
        frame,
        [
            ("settle_date", "settle_date", plausible.day),
            ("institution", "institution", trimmed),
        ],
    )
    return conform(_with_ids(frame), SETTLEMENT_ROW)
