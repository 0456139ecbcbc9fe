"""Column contracts of the frames that pass between stages.

Staged frames hold every cell as read (text) with its provenance; canonical frames hold
typed, normalised values.  For every value a normaliser can change (IDs, names, dates,
money, integers, yes/no) the canonical frame keeps the text as read in `<column>_raw`, so
a data-quality issue can quote what the clerk typed.  Enumerations hold the canonical value
when the written one is recognised, otherwise the written value trimmed (so an expectation
can report it).

Provenance on every row: `file_id` (warehouse id of the source file), `sheet` (sheet name,
'' for CSV) and `row_no` (the row number a person sees in Excel, 1-based, header rows
counted; for CSV the line number, header = 1).
"""

from __future__ import annotations

import polars as pl

from config.schema import DIBAO, ENROLMENT, ROSTER, SETTLEMENT, VILLAGES, Source
from transforms.evidence import EVIDENCE

PROVENANCE: dict[str, pl.DataType] = {
    "file_id": pl.Int64(),
    "sheet": pl.Utf8(),
    "row_no": pl.Int64(),
}

S, I, F, D, B = pl.Utf8(), pl.Int64(), pl.Float64(), pl.Date(), pl.Boolean()  # noqa: E741


def staged_schema(source: Source) -> dict[str, pl.DataType]:
    """Staged rows: provenance, every known column as text, unknown columns as JSON text."""
    return {**PROVENANCE, **{k: S for k in source.keys}, "extra": S}


ROSTER_PERSON: dict[str, pl.DataType] = {
    **PROVENANCE,
    "township_code": S,  # resolved from the column or the title row; null if unknown
    "township": S,  # as written (or from the title)
    "village": S,
    "household_id": S,
    "name_raw": S,
    "name": S,  # NFKC, no spaces of any width
    "id_raw": S,
    "id_norm": S,  # transforms.ids normalised form
    "id_status": S,  # transforms.ids status constant
    "sex": S,
    "relation": S,
    "labour": S,
    "health": S,
    "school": S,
    "person_status": S,  # 正常 when blank
    # household-level, filled within 户编号
    "attribute": S,
    "family_size": I,
    "family_size_raw": S,
    "income": F,
    "income_raw": S,
    "exit_status": S,
    "exit_year": I,
    "exit_year_raw": S,
    "housing": S,
    "water_safe": B,
    "water_safe_raw": S,
    "support_unit": S,
    "support_cadre": S,
    "phone": S,
}

VILLAGE: dict[str, pl.DataType] = {
    **PROVENANCE,
    "township_code": S,
    "village": S,
    "is_poor": B,
    "registered_population": I,
    "income": F,
    "health_station": B,
    "bus": B,
    "water_safe": B,
    "coverage_4g": B,
    "info_point": B,
    "waste": B,
    "sewage": B,
    "toilet_rate": F,  # percent, 0-100
    "support_unit": S,
    "unit_type": S,
    "first_secretary": S,
}

DIBAO_ROW: dict[str, pl.DataType] = {
    **PROVENANCE,
    "township": S,
    "village": S,
    "family_id": S,
    "name_raw": S,
    "name": S,
    "id_raw": S,
    "id_norm": S,
    "id_status": S,
    "relation": S,
    "category": S,
    "family_size": I,
    "family_size_raw": S,
    "monthly_amount": F,
    "monthly_amount_raw": S,
    "status": S,
    "start_date": D,
    "start_date_raw": S,
    "stop_date": D,
    "stop_date_raw": S,
    "stop_reason": S,
}

ENROLMENT_ROW: dict[str, pl.DataType] = {
    **PROVENANCE,
    "insured_key": S,
    "name_raw": S,
    "name": S,
    "id_raw": S,
    "id_norm": S,
    "id_status": S,
    "sex": S,
    "birth_date": D,
    "birth_date_raw": S,
    "year": I,
    "year_raw": S,
    "enrol_status": S,
    "person_status": S,
    "subsidy": S,
    "township": S,
    "village": S,
}

SETTLEMENT_ROW: dict[str, pl.DataType] = {
    **PROVENANCE,
    "settlement_id": S,
    "id_raw": S,
    "id_norm": S,
    "id_status": S,
    "name_raw": S,
    "name": S,
    "settle_date": D,
    "settle_date_raw": S,
    "institution": S,
    "total_cost": F,
    "total_cost_raw": S,
    "eligible_cost": F,
    "eligible_cost_raw": S,
    "basic_paid": F,
    "basic_paid_raw": S,
    "serious_paid": F,
    "serious_paid_raw": S,
    "assistance_paid": F,
    "assistance_paid_raw": S,
}

CANONICAL: dict[str, dict[str, pl.DataType]] = {
    "roster": ROSTER_PERSON,
    "village": VILLAGE,
    "dibao": DIBAO_ROW,
    "enrolment": ENROLMENT_ROW,
    "settlement": SETTLEMENT_ROW,
}
STAGED_SOURCES: dict[str, Source] = {
    "roster": ROSTER,
    "village": VILLAGES,
    "dibao": DIBAO,
    "enrolment": ENROLMENT,
    "settlement": SETTLEMENT,
}

# Findings and data-quality issues as frames (what rules and suites return).
FINDING: dict[str, pl.DataType] = {
    "rule": S,
    "key": S,  # stable: rule + entity (see findings.md "Keys")
    "township_code": S,
    "village": S,
    "household_id": S,
    "person_id": S,
    "id_as_written": S,
    "suggested_id": S,
    "record_key": S,
    "detail": S,
    "evidence": EVIDENCE,  # the source rows it was seen on (transforms.evidence)
}

ISSUE: dict[str, pl.DataType] = {
    "kind": S,  # see config.schema ISSUE_KINDS
    "key": S,  # stable: kind + file sha + sheet + row + column (or household)
    "source": S,
    "file_id": I,
    "sheet": S,
    "row_no": I,
    "column": S,  # Chinese canonical header
    "township_code": S,
    "village": S,
    "household_id": S,
    "value": S,  # the offending value, masked when personal
    "message": S,  # Chinese
    "suggested_fix": S,  # Chinese
}


def empty(schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(schema=schema)


INSURED = "参保缴费"  # the 参保状态 of an enrolment row that insures its person in its year


def insured_in(year: int) -> pl.Expr:
    """Enrolment rows that insure their person in `year`: the one definition of "insured"
    (rules, indicators, and the warehouse's `insured_in` read the same)."""
    return (pl.col("year") == year) & (pl.col("enrol_status") == INSURED)


def conform(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Select and cast to a contract, adding missing columns as nulls."""
    if frame.width == 0:
        return empty(schema)
    return frame.select(
        [
            (pl.col(c) if c in frame.columns else pl.lit(None)).cast(t).alias(c)
            for c, t in schema.items()
        ]
    )
