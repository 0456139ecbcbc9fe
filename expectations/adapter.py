"""Turn GX results into data-quality issue rows (transforms.frames.ISSUE).

GX tells us which rows (`_row`) failed which expectation; everything a township clerk reads
(the row, the column's Chinese header, the value as written, a concrete message and what to
do) is built here from our own frame, vectorised in polars.  Personal values are masked
(`transforms.privacy`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import polars as pl

from config.settings import ValueLimits, load_divisions, value_limits
from expectations.context import ROW
from expectations.custom import HOUSEHOLD_TOWNSHIP
from expectations.suites import EXIT_YEARS, SOURCES, Check, Suite
from transforms import ids
from transforms.cells import parse_date, parse_int
from transforms.frames import ISSUE, conform, empty
from transforms.issue_identity import issue_key
from transforms.privacy import mask_id, mask_name, mask_phone
from transforms.values import amount_as_written

ROW_KEY_COLUMNS = ("file_id", "sheet", "row_no")
_ID_REASON = {
    ids.BAD_FORMAT: "位数或字符不对（应为18位，最后一位可以是X）",
    ids.BAD_DATE: "中的出生日期不存在",
    ids.BAD_CHECK: "校验码不符（可能有一位录错，或相邻两位颠倒）",
}
_ROW_TEXT = pl.format("第{}行", pl.col("row_no"))


# ---------------------------------------------------------------- masking


def _masker(field_key: str) -> Any:
    if field_key == "id_number":
        return lambda v: mask_id(ids.strip_invisible(v).strip())
    if field_key == "phone":
        return mask_phone
    return mask_name


# ---------------------------------------------------------------- GX result → hits


def hits_from_result(result: Any, suite: Suite) -> dict[str, list[int]]:
    """Failing `_row`s per check.  A check GX could not evaluate is an error, not a pass."""
    hits: dict[str, list[int]] = {}
    for item in result.results:
        name = item.expectation_config.meta["check"]
        if item.exception_info and item.exception_info.get("raised_exception"):
            raise RuntimeError(
                f"expectation {name} of the {suite.kind} suite failed to run: "
                f"{item.exception_info.get('exception_message')}"
            )
        if item.success:
            continue
        res = item.result or {}
        rows: list[int] = []
        if "details" in res:  # UnexpectedRowsExpectation (SQL data source only)
            rows = [int(r[ROW]) for r in res["details"]["unexpected_rows"]]
            if res.get("observed_value", 0) > len(rows):
                raise RuntimeError(
                    f"GX returned {len(rows)} of {res['observed_value']} failing rows of {name}; "
                    "UnexpectedRowsExpectation caps its result, so issues would be lost"
                )
        else:
            for entry in res.get("unexpected_index_list") or []:
                rows.extend(
                    int(r) for r in (entry[ROW] if isinstance(entry[ROW], list) else [entry[ROW]])
                )
        hits[name] = rows
    return hits


# ---------------------------------------------------------------- issues


def _header(suite: Suite, field_key: str) -> str:
    source = SOURCES[suite.kind]
    try:
        return source.field(field_key).canonical
    except KeyError:
        return {"township": "乡镇"}.get(field_key, field_key)


def _personal(suite: Suite, field_key: str) -> bool:
    try:
        return SOURCES[suite.kind].field(field_key).personal
    except KeyError:
        return False


def _listing(values: Iterable[str], limit: int = 8) -> str:
    values = list(values)
    shown = "、".join(values[:limit])
    return shown + ("、…" if len(values) > limit else "")


def _text(column: str | None) -> pl.Expr:
    if column is None:
        return pl.lit("")
    return pl.col(column).cast(pl.Utf8).fill_null("")


def _message(check: Check, header: str) -> tuple[pl.Expr, pl.Expr]:
    """(message, suggested_fix) for a row-level check, as expressions over the failing rows."""
    h = pl.lit(header)
    v = pl.col("value")
    kind, name = check.issue, check.name
    if kind == "required_missing":
        if name == "township.required":
            county = load_divisions()
            towns = [county.short_name(c) for c in county.townships if c[-3] == "1"]
            example = (
                "珠玑镇" if "珠玑镇" in towns else (towns or list(county.townships.values()))[0]
            )
            return (
                pl.format("{}「乡镇」为空，标题行中也没有乡镇名称", _ROW_TEXT),
                pl.lit(
                    "填写乡镇名称，或在标题行写明乡镇"
                    f"（如“{county.county_name}{example}建档立卡贫困人口花名册”）"
                ),
            )
        what = "为空或无法识别" if check.unparsed_possible else "为空，此项必须填写"
        fix = f"补填「{header}」" + ("（户级信息，填在户主所在行即可）" if check.household else "")
        return pl.format("{}「{}」{}", _ROW_TEXT, h, pl.lit(what)), pl.lit(fix)
    if kind == "invalid_value":
        if name.endswith(".in_set"):
            allowed = _listing(check.allowed)
            return (
                pl.format(
                    "{}「{}」填写为“{}”，不在允许取值内（{}）", _ROW_TEXT, h, v, pl.lit(allowed)
                ),
                pl.lit(f"改为以下取值之一：{'、'.join(check.allowed)}"),
            )
        if name.endswith(".between") and check.bounds:
            low, high = (int(b) if float(b).is_integer() else b for b in check.bounds)
            return (
                pl.format(
                    "{}「{}」填写为“{}”，超出合理范围（{}–{}）",
                    _ROW_TEXT,
                    h,
                    v,
                    pl.lit(low),
                    pl.lit(high),
                ),
                pl.lit(f"核实后更正「{header}」"),
            )
        if name == "township.parsed":
            return (
                pl.format(
                    f"{{}}「乡镇」填写为“{{}}”，不是{load_divisions().county_name}的乡镇（街道）",
                    _ROW_TEXT,
                    v,
                ),
                pl.lit("填写本乡镇的名称，如“珠玑镇”；其他乡镇的人员由所属乡镇填报"),
            )
        return (
            pl.format("{}「{}」填写为“{}”，无法识别为“是”或“否”", _ROW_TEXT, h, v),
            pl.lit(f"「{header}」填写“是”或“否”"),
        )
    if kind == "invalid_id":
        reason = pl.col("id_status").replace_strict(_ID_REASON, default="不是有效的公民身份号码")
        return (
            pl.format("{}「证件号码」“{}”{}", _ROW_TEXT, v, reason),
            pl.lit("对照户口簿或身份证核对后重新填写证件号码"),
        )
    if kind == "excel_mangled_id":
        return (
            pl.format(
                "{}「证件号码」被Excel存成了数字（显示为“{}”），后几位数字已丢失，无法从该单元格恢复",
                _ROW_TEXT,
                v,
            ),
            pl.lit("将该列单元格设为“文本”格式，对照身份证或户口簿重新录入完整的18位号码"),
        )
    if kind == "bad_number":
        unit = "整数" if check.field == "family_size" else "数字（单位：元，如 7365）"
        return (
            pl.format("{}「{}」填写为“{}”，无法识别为数字", _ROW_TEXT, h, v),
            pl.lit(f"「{header}」只填写{unit}"),
        )
    if kind == "bad_date":
        if check.field == "exit_year":
            what, fix = "年份", f"填写四位年份，如 {EXIT_YEARS[0] + 1}"
        else:
            what, fix = "日期", "按“2016-05-01”的格式填写日期"
        return pl.format("{}「{}」填写为“{}”，无法识别为{}", _ROW_TEXT, h, v, pl.lit(what)), pl.lit(
            fix
        )
    if kind in ("implausible_income", "implausible_amount"):
        why = _amount_reason(check, value_limits())
        fix = (
            "核实该户年人均可支配收入（元/人·年）后更正"
            if kind == "implausible_income"
            else f"核实后更正「{header}」（单位：元）"
        )
        return (
            pl.format("{}「{}」填写为“{}”，{}，明显不合理，未用于核查和统计", _ROW_TEXT, h, v, why),
            pl.lit(fix),
        )
    if kind == "implausible_date":
        why = _date_reason(check, value_limits())
        if check.field == "exit_year":
            fix = f"填写四位年份（{EXIT_YEARS[0]}–{EXIT_YEARS[1]}）"
        else:
            fix = "核实后按“2016-05-01”的格式填写正确的日期"
        return (
            pl.format("{}「{}」填写为“{}”，{}，明显不合理，未用于核查", _ROW_TEXT, h, v, why),
            pl.lit(fix),
        )
    if kind == "invisible_chars":
        return (
            pl.format(
                "{}「证件号码」“{}”中夹有看不见的字符（如零宽空格、文字方向控制符），"
                "本系统已去掉后核对，但其他系统按原样比对时会对不上",
                _ROW_TEXT,
                v,
            ),
            pl.lit("清空该单元格后手工重新输入证件号码（不要从网页、聊天记录中复制粘贴）"),
        )
    if kind == "sex_mismatch":
        implied = (
            pl.when(pl.col("id_norm").str.slice(16, 1).is_in(list("13579")))
            .then(pl.lit("男"))
            .otherwise(pl.lit("女"))
        )
        return (
            pl.format("{}「性别」填写为“{}”，但证件号码第17位表示{}性", _ROW_TEXT, v, implied),
            pl.lit("对照身份证核对性别和证件号码，更正填错的一项"),
        )
    if kind == "village_not_in_township":
        return (
            pl.format(
                "{}「行政村」填写为“{}”，{}没有这个行政村", _ROW_TEXT, v, pl.col("_township_name")
            ),
            pl.lit(
                "填写本乡镇行政村的名称（如“珠玑村”或“珠玑村委会”）；其他乡镇的人员由所属乡镇填报"
            ),
        )
    if kind == "exit_year_missing":
        return (
            pl.format(
                "{}户编号{}标记为已脱贫，但未填写「脱贫年度」",
                _ROW_TEXT,
                pl.col("household_id").fill_null(""),
            ),
            pl.lit(f"补填该户的脱贫年度（{EXIT_YEARS[0]}–{EXIT_YEARS[1]}）"),
        )
    raise ValueError(f"no message for issue kind {kind}")


def _amount_reason(check: Check, limits: ValueLimits) -> pl.Expr:
    """Why an amount as written cannot be right: negative, not a number, or above the
    ceiling of its column (policy.toml [values])."""
    if check.field == "income":
        ceiling = f"每人每年{limits.income_max:,.0f}元"
    elif check.field == "monthly_amount":
        ceiling = f"每月{limits.dibao_monthly_max:,.0f}元"
    else:
        ceiling = f"单笔{limits.settlement_max:,.0f}元"
    amount = amount_as_written(pl.col(check.value or check.field))
    return (
        pl.when(amount.is_nan() | amount.is_infinite())
        .then(pl.lit("不是有效的数值"))
        .when(amount < 0)
        .then(pl.lit("为负数"))
        .otherwise(pl.lit(f"超过{ceiling}"))
    )


def _date_reason(check: Check, limits: ValueLimits) -> pl.Expr:
    """Why a date (or 脱贫年度) as written cannot be right: too early, or too far ahead of the
    day the file was read (transforms.values)."""
    text = pl.col(check.value or check.field)
    earliest = limits.earliest_date
    if check.field == "exit_year":
        early = parse_int(text) < earliest.year
        early_text = f"早于{earliest.year}年"
    else:
        early = parse_date(text) < earliest
        early_text = f"早于{earliest.year}年{earliest.month}月{earliest.day}日"
    return (
        pl.when(early)
        .then(pl.lit(early_text))
        .otherwise(pl.lit(f"晚于读入该文件之日{limits.years_ahead}年以上"))
    )


def _township_names(codes: pl.Series) -> pl.Series:
    divisions = load_divisions()
    return codes.replace_strict(
        {c: divisions.short_name(c) for c in divisions.townships},
        default="本乡镇",
        return_dtype=pl.Utf8,
    )


def _township_codes(names: pl.Series) -> pl.Series:
    divisions = load_divisions()
    lookup = {n: divisions.township_code(n) for n in names.drop_nulls().unique().to_list()}
    return names.replace_strict(lookup, default=None, return_dtype=pl.Utf8)


def _owner(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """township_code, village, household_id of each row: who the issue is sent to."""
    if kind in ("roster", "village"):
        codes = frame["township_code"]
    elif "township" in frame.columns:
        codes = _township_codes(frame["township"])
    else:
        codes = pl.Series([None] * frame.height, dtype=pl.Utf8)
    household = {"roster": "household_id", "dibao": "family_id"}.get(kind)
    return pl.DataFrame(
        {
            "township_code": codes,
            "village": frame["village"]
            if "village" in frame.columns
            else pl.Series([None] * frame.height, dtype=pl.Utf8),
            "household_id": frame[household]
            if household
            else pl.Series([None] * frame.height, dtype=pl.Utf8),
        }
    )


def _row_issues(suite: Suite, check: Check, rows: pl.DataFrame) -> pl.DataFrame:
    header = _header(suite, check.field)
    value = _text(check.value)
    frame = rows.with_columns(value=value)
    if _personal(suite, check.field) and frame.height:
        mask = _masker(check.field)
        frame = frame.with_columns(pl.col("value").map_elements(mask, return_dtype=pl.Utf8))
    if check.issue == "invalid_id":
        frame = frame.filter(pl.col("id_status").fill_null("") != ids.EXCEL_MANGLED)
    if check.issue == "village_not_in_township":
        frame = frame.with_columns(_township_name=_township_names(frame["township_code"]))
    if check.household:
        frame = (
            frame.sort("row_no")
            .with_columns(
                _hh=pl.concat_str(
                    [
                        pl.col(c).cast(pl.Utf8).fill_null("")
                        for c in ("file_id", "sheet", HOUSEHOLD_TOWNSHIP, "household_id")
                    ],
                    separator="\x1f",
                )
            )
            .filter(pl.col("household_id").is_null() | pl.col("_hh").is_first_distinct())
        )
    message, fix = _message(check, header)
    return frame.with_columns(
        kind=pl.lit(check.issue),
        column=pl.lit(header),
        message=message,
        suggested_fix=fix,
    ).with_columns(key=issue_key(suite.kind, household_level=check.household))


def _household_stats(frame: pl.DataFrame) -> pl.DataFrame:
    active = pl.col("person_status").fill_null("正常") == "正常"
    return (
        frame.filter(pl.col("household_id").is_not_null())
        .sort(ROW)
        .group_by(HOUSEHOLD_TOWNSHIP, "household_id", maintain_order=True)
        .agg(
            pl.first(ROW).alias("_first"),
            pl.len().alias("_listed"),
            active.sum().alias("_active"),
            (active & (pl.col("relation") == "户主")).sum().alias("_heads"),
            pl.col("family_size").max().alias("_size"),
        )
    )


def _household_issues(
    suite: Suite, check: Check, rows: pl.DataFrame, frame: pl.DataFrame
) -> pl.DataFrame:
    keys = [HOUSEHOLD_TOWNSHIP, "household_id"]
    failing = rows.select(keys).unique()
    stats = _household_stats(frame).join(failing, on=keys, how="semi", nulls_equal=True)
    first = frame.select(pl.all().gather(stats["_first"])).with_columns(
        pl.col(HOUSEHOLD_TOWNSHIP).alias("township_code")
    )
    heads, size = pl.col("_heads"), pl.col("_size")
    hh, row = pl.col("household_id"), pl.col("row_no")
    if check.issue == "household_head":
        message = (
            pl.when(heads == 0)
            .then(
                pl.format(
                    "户编号{}（第{}行起）的在册成员中没有户主（户主已死亡或迁出时须重新指定）",
                    hh,
                    row,
                )
            )
            .otherwise(
                pl.format("户编号{}（第{}行起）登记了{}名户主，应有且只有1名", hh, row, heads)
            )
        )
        fix = "在「与户主关系」中为该户指定一名户主，其余成员填写与户主的关系"
        value = heads.cast(pl.Utf8)
    else:
        message = pl.format(
            "户编号{}（第{}行起）「家庭人口」填写为{}人，但花名册列出{}人（其中人员状态正常{}人）",
            hh,
            row,
            size.cast(pl.Int64),
            pl.col("_listed"),
            pl.col("_active"),
        )
        fix = "按实际家庭成员更正「家庭人口」，或补录漏登的成员"
        value = size.cast(pl.Int64).cast(pl.Utf8)
    return (
        pl.concat([first, stats.select("_listed", "_active", "_heads", "_size")], how="horizontal")
        .with_columns(
            kind=pl.lit(check.issue),
            column=pl.lit(_header(suite, check.field)),
            value=value,
            message=message,
            suggested_fix=pl.lit(fix),
        )
        .with_columns(key=issue_key("roster", household_level=True))
    )


def issues_from_hits(
    suite: Suite, hits: Mapping[str, list[int]], frame: pl.DataFrame
) -> pl.DataFrame:
    """Issue rows for the failing `_row`s of each check; `frame` is the prepared frame.
    Keys say what is wrong where in the register (`transforms.issue_identity`)."""
    if not any(hits.values()):
        return empty(ISSUE)
    frame = pl.concat(
        [
            frame.drop("township_code", "village", "household_id", strict=False),
            _owner(suite.kind, frame),
        ],
        how="horizontal",
    )
    parts = []
    for name, rows in hits.items():
        if not rows:
            continue
        check = suite.checks[name]
        failing = frame.select(pl.all().gather(sorted(set(rows))))
        if check.issue in ("household_head", "family_size_mismatch"):
            parts.append(_household_issues(suite, check, failing, frame))
        else:
            parts.append(_row_issues(suite, check, failing))
    issues = pl.concat([p.select(_OUTPUT) for p in parts], how="vertical_relaxed")
    issues = issues.with_columns(source=pl.lit(suite.kind))
    return conform(issues, ISSUE).sort(
        "file_id", "sheet", "row_no", "column", "kind", nulls_last=True
    )


_OUTPUT = [
    "kind",
    "key",
    "file_id",
    "sheet",
    "row_no",
    "column",
    "township_code",
    "village",
    "household_id",
    "value",
    "message",
    "suggested_fix",
]
