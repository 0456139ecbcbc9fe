"""What changed between two submissions of a township's roster.

Persons are matched on the normalised written ID (what the clerk typed, repaired of width
and case only); rows without a usable ID are matched on 户编号 + name.
"""

from __future__ import annotations

import polars as pl

from transforms.ids import mask_id_expr
from transforms.names import mask_name_expr

COMPARED = {
    "village": "行政村",
    "household_id": "户编号",
    "relation": "与户主关系",
    "labour": "劳动技能",
    "health": "健康状况",
    "school": "在校生状况",
    "person_status": "人员状态",
    "attribute": "贫困户属性",
    "income": "年人均可支配收入",
    "exit_status": "脱贫状态",
    "exit_year": "脱贫年度",
    "housing": "住房安全",
    "support_cadre": "帮扶责任人",
}
CHANGES_SCHEMA = {
    "change": pl.Utf8,  # 新增 / 删除 / 变更
    "person": pl.Utf8,  # match key
    "household_id": pl.Utf8,
    "name_masked": pl.Utf8,
    "id_masked": pl.Utf8,
    "row_before": pl.Int64,
    "row_after": pl.Int64,
    "fields": pl.Utf8,  # 字段：旧值→新值；…
}


def _keyed(frame: pl.DataFrame) -> pl.DataFrame:
    usable = pl.col("id_norm").is_not_null() & (pl.col("id_norm") != "")
    key = (
        pl.when(usable)
        .then(pl.col("id_norm"))
        .otherwise(pl.col("household_id") + "/" + pl.col("name"))
    )
    out = frame.with_columns(person=key).unique("person", keep="first", maintain_order=True)
    return out.with_columns(pl.col(c).cast(pl.Utf8) for c in COMPARED)


def roster_changes(previous: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """Added, removed and changed persons, with every changed field as old→new."""
    before, after = _keyed(previous), _keyed(current)
    cols = ["person", "name", "id_norm", "row_no", *COMPARED]
    joined = before.select(cols).join(
        after.select(cols), on="person", how="full", coalesce=True, suffix="_new"
    )
    diffs = [
        pl.when(pl.col(c).fill_null("") != pl.col(f"{c}_new").fill_null("")).then(
            pl.format(
                "{}：{}→{}",
                pl.lit(label),
                pl.col(c).fill_null("（空）"),
                pl.col(f"{c}_new").fill_null("（空）"),
            )
        )
        for c, label in COMPARED.items()
    ]
    change = (
        pl.when(pl.col("row_no").is_null())
        .then(pl.lit("新增"))
        .when(pl.col("row_no_new").is_null())
        .then(pl.lit("删除"))
        .otherwise(pl.lit("变更"))
    )
    out = joined.with_columns(
        change=change,
        fields=pl.concat_list(diffs).list.drop_nulls().list.join("；"),
        name=pl.coalesce("name_new", "name"),
        id_norm=pl.coalesce("id_norm_new", "id_norm"),
        household_id=pl.coalesce("household_id_new", "household_id"),
    ).filter((pl.col("change") != "变更") | (pl.col("fields") != ""))
    return out.select(
        "change",
        "person",
        "household_id",
        name_masked=mask_name_expr(pl.col("name")),
        id_masked=mask_id_expr(pl.col("id_norm")),
        row_before=pl.col("row_no").cast(pl.Int64),
        row_after=pl.col("row_no_new").cast(pl.Int64),
        fields=pl.when(pl.col("change") == "变更").then(pl.col("fields")),
    ).sort("change", "household_id", "person")
