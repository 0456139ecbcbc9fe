"""Custom GX expectations for the rules no built-in expectation states.

Each one is a GX map expectation (so GX reports the failing rows by `_row`) backed by a
metric with a vectorised pandas implementation; the row-wise ones also carry a SQLAlchemy
implementation so the same suites can run on the SQL data source (see
`benchmarks/validation.py`).  The household checks need whole-household context: on pandas
they group inside the metric; on SQL the suites use `UnexpectedRowsExpectation` instead
(`household_sql_queries`), because GX puts a map condition in a WHERE clause, where window
functions are not allowed.

The GB 11643 arithmetic follows `transforms.ids` (same weights, check characters, birth-date
bounds); `tests/expectations/test_custom.py` cross-checks it against `transforms.ids.parse_id`.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from great_expectations.compatibility.sqlalchemy import sqlalchemy as sa
from great_expectations.execution_engine import PandasExecutionEngine, SqlAlchemyExecutionEngine
from great_expectations.expectations.expectation import (
    ColumnMapExpectation,
    ColumnPairMapExpectation,
    MulticolumnMapExpectation,
)
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    ColumnPairMapMetricProvider,
    MulticolumnMapMetricProvider,
    column_condition_partial,
    column_pair_condition_partial,
    multicolumn_condition_partial,
)

from transforms.ids import CHECK_CHARS, WEIGHTS

# transforms.ids._valid_birth accepts births from 1880-01-01 to 2030-12-31.
BIRTH_YEAR_MIN, BIRTH_YEAR_MAX = 1880, 2030
HEAD = "户主"
ACTIVE = "正常"
MALE, FEMALE = "男", "女"
# A household is (township_code, household_id); a member whose 乡镇 could not be resolved
# stays in the household (township_code filled from the other rows of the household in the
# same sheet; expectations.run.prepare adds this column to roster frames).
HOUSEHOLD_TOWNSHIP = "_household_township"

_WEIGHTS = np.array(WEIGHTS, dtype=np.int64)
_CHECK_BYTES = np.frombuffer(CHECK_CHARS.encode("ascii"), dtype=np.uint8)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)
_SHAPE = r"[0-9]{17}[0-9X]"
PairIgnore = Literal["both_values_are_missing", "either_value_is_missing", "neither"]


# ---------------------------------------------------------------- vectorised GB 11643 helpers


def _digit_matrix(ids: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Rows shaped like an 18-character ID (mask) and their bytes as an (n, 18) matrix."""
    text = ids.astype("str")
    shaped = text.str.fullmatch(_SHAPE).fillna(False).to_numpy(dtype=bool)
    if not shaped.any():
        return shaped, np.empty((0, 18), dtype=np.uint8)
    joined = "".join(text[shaped].tolist()).encode("ascii")
    return shaped, np.frombuffer(joined, dtype=np.uint8).reshape(-1, 18)


def resident_id_valid(ids: pd.Series) -> np.ndarray:
    """True where the value is an 18-character ID with a real birth date and the right check
    character.  The empty string counts as valid: a blank ID is `required_missing`."""
    shaped, matrix = _digit_matrix(ids)
    valid = np.zeros(len(ids), dtype=bool)
    if len(matrix):
        digits = matrix[:, :17].astype(np.int64) - ord("0")
        check_ok = _CHECK_BYTES[(digits @ _WEIGHTS) % 11] == matrix[:, 17]
        year = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
        month = digits[:, 10] * 10 + digits[:, 11]
        day = digits[:, 12] * 10 + digits[:, 13]
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        days = _DAYS_IN_MONTH[np.clip(month, 0, 12)] + ((month == 2) & leap)
        date_ok = (
            (year >= BIRTH_YEAR_MIN)
            & (year <= BIRTH_YEAR_MAX)
            & (month >= 1)
            & (month <= 12)
            & (day >= 1)
            & (day <= days)
        )
        valid[shaped] = check_ok & date_ok
    valid |= ids.astype("str").to_numpy(dtype=object) == ""
    return valid


def sex_from_resident_id(ids: pd.Series) -> np.ndarray:
    """男/女 from the 17th character of valid IDs, None elsewhere (cf. transforms.ids.sex_of)."""
    valid = resident_id_valid(ids) & (ids.astype("str").str.len() == 18).to_numpy(dtype=bool)
    digit = ids.astype("str").str.slice(16, 17)
    odd = digit.isin(list("13579")).to_numpy(dtype=bool)
    implied = np.full(len(ids), None, dtype=object)
    implied[valid] = np.where(odd[valid], MALE, FEMALE)
    return implied


def _sql_resident_id_valid(column: sa.ColumnElement) -> sa.ColumnElement:
    """The same rule as `resident_id_valid`, in portable SQL (substr/length/CASE)."""
    chars = [sa.func.substr(column, i, 1) for i in range(1, 19)]
    digits = [sa.cast(c, sa.Integer) for c in chars[:17]]
    total = sum((d * w for d, w in zip(digits, WEIGHTS, strict=True)), sa.literal(0))
    expected = sa.func.substr(sa.literal(CHECK_CHARS), total % 11 + 1, 1)
    year = sa.cast(sa.func.substr(column, 7, 4), sa.Integer)
    month = sa.cast(sa.func.substr(column, 11, 2), sa.Integer)
    day = sa.cast(sa.func.substr(column, 13, 2), sa.Integer)
    leap = sa.and_(year % 4 == 0, sa.or_(year % 100 != 0, year % 400 == 0))
    days = sa.case(
        (month == 2, sa.case((leap, 29), else_=28)),
        (month.in_([4, 6, 9, 11]), 30),
        else_=31,
    )
    return sa.or_(
        column == "",
        sa.and_(
            sa.func.length(column) == 18,
            *(c.between("0", "9") for c in chars[:17]),
            sa.or_(chars[17].between("0", "9"), chars[17] == "X"),
            chars[17] == expected,
            year.between(BIRTH_YEAR_MIN, BIRTH_YEAR_MAX),
            month.between(1, 12),
            day.between(1, days),
        ),
    )


# ---------------------------------------------------------------- metrics


class ColumnValuesValidResidentId(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_resident_id"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column: pd.Series, **kwargs: object) -> pd.Series:
        return pd.Series(resident_id_valid(column), index=column.index)

    @column_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(cls, column: sa.ColumnElement, **kwargs: object) -> sa.ColumnElement:
        return _sql_resident_id_valid(column)


class ColumnPairSexMatchesResidentId(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.sex_matches_resident_id"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_A",
        "column_B",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs: object) -> pd.Series:
        implied = sex_from_resident_id(column_A)
        written = column_B.astype("str").to_numpy(dtype=object)
        judged = (implied != None) & np.isin(written, [MALE, FEMALE])  # noqa: E711
        return pd.Series(~judged | (implied == written), index=column_A.index)

    @column_pair_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls, column_A: sa.ColumnElement, column_B: sa.ColumnElement, **kwargs: object
    ) -> sa.ColumnElement:
        odd = sa.func.substr(column_A, 17, 1).in_(list("13579"))
        implied = sa.case((odd, MALE), else_=FEMALE)
        judged = sa.and_(
            column_A != "", _sql_resident_id_valid(column_A), column_B.in_([MALE, FEMALE])
        )
        return sa.or_(sa.not_(judged), implied == column_B)


class ColumnPairVillageInTownship(ColumnPairMapMetricProvider):
    condition_metric_name = "column_pair_values.village_in_township"
    condition_value_keys = ("township_villages",)
    condition_domain_keys = ColumnPairSexMatchesResidentId.condition_domain_keys

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(
        cls,
        column_A: pd.Series,
        column_B: pd.Series,
        township_villages: list[str],
        **kwargs: object,
    ) -> pd.Series:
        key = column_A.astype("str") + "|" + column_B.astype("str")
        return key.isin(township_villages)

    @column_pair_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls,
        column_A: sa.ColumnElement,
        column_B: sa.ColumnElement,
        township_villages: list[str],
        **kwargs: object,
    ) -> sa.ColumnElement:
        return column_A.op("||")("|").op("||")(column_B).in_(township_villages)


class ColumnPairValuesParsed(ColumnPairMapMetricProvider):
    """column_A is the text as written, column_B what the normaliser made of it."""

    condition_metric_name = "column_pair_values.parsed"
    condition_domain_keys = ColumnPairSexMatchesResidentId.condition_domain_keys

    @column_pair_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_A: pd.Series, column_B: pd.Series, **kwargs: object) -> pd.Series:
        return column_A.isna() | column_B.notna()

    @column_pair_condition_partial(engine=SqlAlchemyExecutionEngine)
    def _sqlalchemy(
        cls, column_A: sa.ColumnElement, column_B: sa.ColumnElement, **kwargs: object
    ) -> sa.ColumnElement:
        return sa.or_(column_A.is_(None), column_B.is_not(None))


def _household_frame(column_list: pd.DataFrame) -> tuple[pd.DataFrame, list[pd.Series]]:
    """Active flag and the (township, household_id) grouping keys of roster rows."""
    frame = pd.DataFrame(index=column_list.index)
    status = column_list["person_status"].astype("object")
    frame["active"] = status.isna().to_numpy() | (status == ACTIVE).to_numpy()
    keys = [
        column_list[HOUSEHOLD_TOWNSHIP].astype("object").fillna(""),
        column_list["household_id"].astype("object"),
    ]
    return frame, keys


class MulticolumnHouseholdHasOneHead(MulticolumnMapMetricProvider):
    """Expects the columns HOUSEHOLD_COLUMNS["household_head"]."""

    condition_metric_name = "multicolumn_values.household_has_one_head"
    condition_domain_keys = (
        "batch_id",
        "table",
        "column_list",
        "row_condition",
        "condition_parser",
        "ignore_row_if",
    )

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs: object) -> pd.Series:
        frame, keys = _household_frame(column_list)
        frame["head"] = (
            frame["active"].to_numpy()
            & (column_list["relation"].astype("object") == HEAD).to_numpy()
        )
        grouped = frame.groupby(keys, dropna=False, sort=False)
        active = grouped["active"].transform("sum")
        heads = grouped["head"].transform("sum")
        return column_list["household_id"].isna() | (active == 0) | (heads == 1)


class MulticolumnFamilySizeMatchesMembers(MulticolumnMapMetricProvider):
    """Expects the columns HOUSEHOLD_COLUMNS["family_size_mismatch"].

    家庭人口 may count every member listed or only those still 正常 (clerks differ on whether a
    death is already subtracted); either count is accepted.
    """

    condition_metric_name = "multicolumn_values.family_size_matches_members"
    condition_domain_keys = MulticolumnHouseholdHasOneHead.condition_domain_keys

    @multicolumn_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column_list: pd.DataFrame, **kwargs: object) -> pd.Series:
        frame, keys = _household_frame(column_list)
        frame["size"] = pd.to_numeric(column_list["family_size"], errors="coerce")
        grouped = frame.groupby(keys, dropna=False, sort=False)
        listed = grouped["active"].transform("size")
        active = grouped["active"].transform("sum")
        stated = grouped["size"].transform("max")
        return (
            column_list["household_id"].isna()
            | stated.isna()
            | (stated == listed)
            | (stated == active)
        )


# ---------------------------------------------------------------- expectations


class ExpectColumnValuesToBeValidResidentId(ColumnMapExpectation):
    """Values are GB 11643-1999 resident IDs: 18 characters, a real birth date, the right
    check character.  Apply to the normalised ID (a converted 15-digit ID passes)."""

    map_metric = "column_values.valid_resident_id"
    success_keys = ("mostly",)


class ExpectColumnPairSexToMatchResidentId(ColumnPairMapExpectation):
    """column_B (性别, 男/女) agrees with the sex digit of the valid ID in column_A.  Rows with
    an invalid ID or an unrecognised 性别 are not judged here."""

    map_metric = "column_pair_values.sex_matches_resident_id"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")
    ignore_row_if: PairIgnore = "either_value_is_missing"


class ExpectColumnPairVillageToBeInTownship(ColumnPairMapExpectation):
    """column_B (village) is a village of the township coded in column_A; `township_villages`
    lists the accepted `code|name` pairs (both 珠玑村委会 and 珠玑村)."""

    map_metric = "column_pair_values.village_in_township"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly", "township_villages")
    township_villages: list[str]
    ignore_row_if: PairIgnore = "either_value_is_missing"


class ExpectColumnPairValuesToBeParsed(ColumnPairMapExpectation):
    """Where the cell as written (column_A) is not blank, the normaliser understood it
    (column_B is not null)."""

    map_metric = "column_pair_values.parsed"
    success_keys = ("column_A", "column_B", "ignore_row_if", "mostly")
    ignore_row_if: PairIgnore = "both_values_are_missing"


class ExpectHouseholdToHaveOneHead(MulticolumnMapExpectation):
    """Among the 正常 members of each household exactly one is 户主.
    column_list: HOUSEHOLD_COLUMNS["household_head"]."""

    map_metric = "multicolumn_values.household_has_one_head"
    success_keys = ("mostly",)
    ignore_row_if: Literal["all_values_are_missing", "any_value_is_missing", "never"] = "never"


class ExpectHouseholdFamilySizeToMatchMembers(MulticolumnMapExpectation):
    """家庭人口 equals the members listed under the household (all, or only the 正常 ones).
    column_list: HOUSEHOLD_COLUMNS["family_size_mismatch"]."""

    map_metric = "multicolumn_values.family_size_matches_members"
    success_keys = ("mostly",)
    ignore_row_if: Literal["all_values_are_missing", "any_value_is_missing", "never"] = "never"


HOUSEHOLD_COLUMNS: dict[str, list[str]] = {
    "household_head": [HOUSEHOLD_TOWNSHIP, "household_id", "relation", "person_status"],
    "family_size_mismatch": [HOUSEHOLD_TOWNSHIP, "household_id", "person_status", "family_size"],
}


def household_sql_queries() -> dict[str, str]:
    """The household checks as `UnexpectedRowsExpectation` queries for the SQL data source:
    one row (the household's first) per failing household."""
    groups = f"{HOUSEHOLD_TOWNSHIP}, household_id"
    active = f"COALESCE(person_status, '{ACTIVE}') = '{ACTIVE}'"
    failing = {
        "household_head": f"SUM(CASE WHEN {active} THEN 1 ELSE 0 END) > 0 AND "
        f"SUM(CASE WHEN {active} AND relation = '{HEAD}' THEN 1 ELSE 0 END) <> 1",
        "family_size_mismatch": "MAX(family_size) IS NOT NULL AND MAX(family_size) <> COUNT(*) AND "
        f"MAX(family_size) <> SUM(CASE WHEN {active} THEN 1 ELSE 0 END)",
    }
    return {
        name: f"SELECT MIN(_row) AS _row FROM {{batch}} WHERE household_id IS NOT NULL "
        f"GROUP BY {groups} HAVING {having}"
        for name, having in failing.items()
    }


__all__ = [
    "ExpectColumnValuesToBeValidResidentId",
    "ExpectColumnPairSexToMatchResidentId",
    "ExpectColumnPairVillageToBeInTownship",
    "ExpectColumnPairValuesToBeParsed",
    "ExpectHouseholdToHaveOneHead",
    "ExpectHouseholdFamilySizeToMatchMembers",
    "HOUSEHOLD_COLUMNS",
    "household_sql_queries",
    "resident_id_valid",
    "sex_from_resident_id",
]
