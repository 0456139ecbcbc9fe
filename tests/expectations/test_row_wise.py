"""Row-wise checks validated on distinct value tuples (`run.run_pandas`) find exactly the rows
one GX run of the full suite on the full frame finds (`run.run_whole`).

The frames are the defect cases of test_roster / test_sources, each row repeated in three
copies (a person enrolled three years, a household listed again), so tuples repeat as they do
in the real extracts, with nulls, bad and Excel-mangled IDs, unparsed cells and floats.
"""

from __future__ import annotations

import polars as pl
import pytest
from great_expectations.expectations.row_conditions import Column

from config import schema
from expectations import adapter, context, run, suites
from tests.expectations import test_roster, test_sources
from tests.expectations.builders import frame

S = test_sources
BAD_CHECK = S.ID_B[:17] + ("0" if S.ID_B[17] != "0" else "1")
EXCEL = "4.40282195006010E+17"


def _copies(base: pl.DataFrame, n: int = 3) -> pl.DataFrame:
    """`n` copies of the frame, told apart only by row_no."""
    return pl.concat([base.with_columns(pl.col("row_no") + 1000 * k) for k in range(n)])


def _roster() -> pl.DataFrame:
    return _copies(test_roster._combined()[0])


def _dibao() -> pl.DataFrame:
    rows = [
        S.dibao_row(),
        S.dibao_row(row_no=3, category="低保户口", start_date=None, start_date_raw="五月"),
        S.dibao_row(row_no=4, family_id=" ", id_raw=BAD_CHECK),
        S.dibao_row(row_no=5, stop_date=None, stop_date_raw="2017.13.45", status="停保"),
        S.dibao_row(row_no=6, id_raw=EXCEL, family_size=None, family_size_raw="三"),
        S.dibao_row(row_no=7, id_raw=None, name=None, monthly_amount=-0.0),
        S.dibao_row(row_no=8, monthly_amount=None, monthly_amount_raw="叁佰", stop_reason="其它"),
    ]
    return _copies(frame("dibao", rows))


def _enrolment() -> pl.DataFrame:
    rows = [
        S.enrolment_row(),
        S.enrolment_row(row_no=3, enrol_status="已参保"),
        S.enrolment_row(row_no=4, id_raw=EXCEL),
        S.enrolment_row(row_no=5, name=None, name_raw=None, township="乌迳"),
        S.enrolment_row(row_no=6, id_raw="440282500601151"),
        S.enrolment_row(row_no=7, id_raw=BAD_CHECK, subsidy="其他"),
        S.enrolment_row(row_no=8, year=None, year_raw="明年", birth_date=None),
        S.enrolment_row(row_no=9, birth_date=None, birth_date_raw="1950.13.1", enrol_status=None),
        S.enrolment_row(row_no=10, person_status="失踪", id_raw=""),
    ]
    return pl.concat(
        [
            frame("enrolment", rows).with_columns(pl.col("row_no") + 1000 * k, pl.col("year") + k)
            for k in range(3)
        ]
    )


def _settlement() -> pl.DataFrame:
    rows = [
        S.settlement_row(),
        S.settlement_row(row_no=3, eligible_cost=None, eligible_cost_raw="八百"),
        S.settlement_row(row_no=4, basic_paid=None, settlement_id=None, id_raw=EXCEL),
        S.settlement_row(
            row_no=5, settle_date=None, settle_date_raw="2017-02-30", id_raw=BAD_CHECK
        ),
        S.settlement_row(row_no=6, total_cost=-0.0, total_cost_raw="-0", serious_paid=0.0),
    ]
    return _copies(frame("settlement", rows))


def _village() -> pl.DataFrame:
    rows = [
        S.village_row(),
        S.village_row(row_no=5, village="乌迳村委会", toilet_rate=130.0),
        S.village_row(row_no=6, village="聪辈村委会", unit_type="省委", is_poor=None),
        S.village_row(row_no=7, income=-0.0, toilet_rate=float("nan")),
        S.village_row(row_no=8, income=250_000.0, toilet_rate=None, village=None),
    ]
    return _copies(frame("village", rows))


FRAMES = {
    "roster": _roster,
    "dibao": _dibao,
    "enrolment": _enrolment,
    "settlement": _settlement,
    "village": _village,
}


@pytest.mark.parametrize("kind", sorted(FRAMES))
def test_deduplicated_run_finds_the_rows_of_the_full_run(kind: str) -> None:
    suite = suites.build(kind)
    prepared = run.prepare(kind, FRAMES[kind]())
    expected = run.run_whole(suite, prepared)

    every = run.run_pandas(suite, prepared, every_group=True, dedupe_below=2)
    default = run.run_pandas(suite, prepared)
    never = run.run_pandas(suite, prepared, dedupe_below=0)
    assert every == expected
    assert default == expected
    assert never == expected
    assert all(rows == sorted(rows) for rows in every.values())
    assert adapter.issues_from_hits(suite, every, prepared).equals(
        adapter.issues_from_hits(suite, expected, prepared)
    )
    # Not vacuous: several checks fail, a costly (deduplicated by default) one among them,
    # and every row-wise group has repeated tuples.
    assert len(expected) >= 3, expected
    costly = {name for g in suite.row_groups if g.costly for name in g.checks}
    assert costly & set(expected), expected
    for group in suite.row_groups:
        distinct = run._distinct(prepared, group.columns, 2)
        assert distinct is not None
        assert distinct[0].height < prepared.height, group.columns
        if group.costly:
            assert run._distinct(prepared, group.columns, run.DEDUPE_BELOW) is not None


def test_distinct_keeps_nulls_nans_and_signed_zeros_apart() -> None:
    income = [0.0, -0.0, float("nan"), None, 0.0, None, -0.0, float("nan"), 5.0]
    prepared = pl.DataFrame(
        {
            context.ROW: [10 * i for i in range(len(income))],
            "income": income,
            "sex": ["男", "男", "男", None, "男", None, "男", "男", "男"],
        },
        schema_overrides={"income": pl.Float64, context.ROW: pl.Int64},
    )
    distinct = run._distinct(prepared, ("income", "sex"), 2)
    assert distinct is not None
    tuples, rows = distinct
    assert rows.to_list() == [[0, 40], [10, 60], [20, 70], [30, 50], [80]]
    assert tuples[context.ROW].to_list() == [0, 1, 2, 3, 4]
    signs = [None if v is None else str(v) for v in tuples["income"].to_list()]
    assert signs == ["0.0", "-0.0", "nan", None, "5.0"]
    # dtypes GX sees do not change: the float column keeps its NaN/None as pandas NaN
    full = prepared.select("income", "sex").to_pandas()
    assert (tuples.to_pandas().drop(columns=context.ROW).dtypes == full.dtypes).all()
    assert run._distinct(prepared, ("income", "sex"), 0.5) is None  # 5 of 9: does not pay


@pytest.mark.parametrize("engine", ["pandas", "sql"])
def test_household_checks_run_on_the_whole_frame(engine: suites.Engine) -> None:
    suite = suites.build("roster", engine)
    household = {"household.head", "household.size"}
    assert suite.whole is not None
    assert {e.meta["check"] for e in suite.whole.expectations} == household
    assert not any(suite.checks[name].row_wise for name in household)
    grouped = {name for group in suite.row_groups for name in group.checks}
    assert grouped.isdisjoint(household)
    # every other roster check is row-wise, household-level fields (income, ...) included:
    # the adapter, not GX, reports those once per household
    assert grouped == set(suite.checks) - household
    assert suite.checks["income.required"].household and suite.checks["income.required"].row_wise


@pytest.mark.parametrize("kind", sorted(suites.SUITES))
def test_sub_suites_split_the_suite_into_fresh_copies(kind: str) -> None:
    suite = suites.build(kind)
    full = {e.meta["check"]: e for e in suite.suite.expectations}
    assert list(full) == list(suite.checks)
    seen: list[str] = []
    for group in suite.row_groups:
        for e in group.suite.expectations:
            name = e.meta["check"]
            seen.append(name)
            assert e is not full[name]
            assert e.configuration == full[name].configuration
            assert set(suite.checks[name].columns) == set(group.columns)
    whole = [e.meta["check"] for e in suite.whole.expectations] if suite.whole else []
    assert sorted(seen + whole) == sorted(full)
    costly = {n for g in suite.row_groups if g.costly for n in g.checks}
    rest = [e.meta["check"] for e in suite.rest.expectations] if suite.rest else []
    assert sorted(rest + list(costly)) == sorted(full)
    if "id_number.valid" in full:
        assert "id_number.valid" in costly


def test_columns_must_be_what_a_row_wise_expectation_reads() -> None:
    import great_expectations as gx

    b = suites._Builder(schema.ROSTER, "pandas")
    conditional = gx.expectations.ExpectColumnValuesToNotBeNull(
        column="exit_year_raw", row_condition=Column("exit_status") == "已脱贫"
    )
    with pytest.raises(ValueError, match="exit_status"):
        b.add(
            "x.required", "required_missing", "exit_year", conditional, columns=("exit_year_raw",)
        )
    between = gx.expectations.ExpectColumnValuesToBeBetween(column="income", min_value=0)
    with pytest.raises(ValueError, match="income_raw"):
        b.add("x.between", "invalid_value", "income", between, columns=("income", "income_raw"))
    # not known to be row-wise (uniqueness compares rows; mostly < 1 counts them): whole frame
    unique = gx.expectations.ExpectColumnValuesToBeUnique(column="id_norm")
    b.add("x.unique", "invalid_id", "id_number", unique, columns=("id_norm",))
    mostly = gx.expectations.ExpectColumnValuesToNotBeNull(column="name", mostly=0.9)
    b.add("x.mostly", "required_missing", "name", mostly, columns=("name",))
    assert [c.row_wise for c in b.checks] == [False, False]


def test_gx_does_not_fingerprint_pandas_batches() -> None:
    """Skipping the fingerprint is most of the speed-up; a GX upgrade must not undo it."""
    suite = suites.build("enrolment")
    prepared = run.prepare("enrolment", _enrolment())
    batch = context.pandas_batch("enrolment", run.to_pandas(prepared, suite.columns))
    result = batch.validate(suite.suite, result_format=context.result_format("pandas"))
    assert "ge_load_time" in result.meta["batch_markers"]
    assert "pandas_data_fingerprint" not in result.meta["batch_markers"]


def test_validate_output_is_unchanged_by_deduplication() -> None:
    enrolment = _enrolment()
    issues = run.validate("enrolment", enrolment)
    suite = suites.build("enrolment")
    prepared = run.prepare("enrolment", enrolment)
    reference = adapter.issues_from_hits(suite, run.run_whole(suite, prepared), prepared)
    assert issues.height >= 9
    assert issues.equals(reference)


@pytest.mark.parametrize("kind", sorted(FRAMES))
def test_a_frame_validated_in_slices_has_the_issues_of_the_whole(kind: str) -> None:
    """Suites of row-wise checks only run on slices of a big frame (`run.SLICE_ROWS`): the
    issues are those of the whole frame; a suite with checks across rows (the roster's
    household checks) is never sliced."""
    frame = FRAMES[kind]()
    whole = run.validate(kind, frame)
    assert whole.height > 0
    columns = whole.columns
    for size in (1, 4, 7):
        sliced = run.validate(kind, frame, slice_rows=size)
        assert sliced.sort(columns).equals(whole.sort(columns)), (kind, size)
    sliceable = suites.build(kind).whole is None
    assert sliceable == (kind != "roster")
