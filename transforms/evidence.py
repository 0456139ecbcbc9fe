"""A finding's evidence: the source rows it was seen on, as a list of structs.

Every finding names the rows a clerk can look up — roster, 低保, enrolment or settlement rows —
so that a township finds them in its workbook and the alerts can tell its own rows from the
bureaus'.  In frames the evidence is an `EVIDENCE` column built with expressions; only the
warehouse turns it into text when it stores it (`warehouse.bulk`), and back when it reads it.
Evidence is where a problem was last seen, never part of its key (`transforms.issue_identity`).
"""

from __future__ import annotations

import polars as pl

SOURCE_ROW = pl.Struct(
    {
        "source": pl.Utf8(),  # roster, dibao, enrolment, settlement
        "file_id": pl.Int64(),
        "sheet": pl.Utf8(),  # '' for CSV, and for the 低保/insurance rows of R05 and R09
        "row_no": pl.Int64(),
    }
)
EVIDENCE = pl.List(SOURCE_ROW)


def source_row(source: str | pl.Expr, prefix: str = "", sheet: pl.Expr | None = None) -> pl.Expr:
    """One source row from the `{prefix}file_id`, `{prefix}sheet` and `{prefix}row_no` columns
    (or `sheet`).  Inside `group_by().agg` it is the list of the group's rows, in order."""
    return pl.struct(
        source=pl.lit(source, pl.Utf8) if isinstance(source, str) else source,
        file_id=pl.col(f"{prefix}file_id").cast(pl.Int64),
        sheet=(pl.col(f"{prefix}sheet") if sheet is None else sheet).cast(pl.Utf8).fill_null(""),
        row_no=pl.col(f"{prefix}row_no").cast(pl.Int64),
    )


def evidence_of(*rows: pl.Expr) -> pl.Expr:
    """The evidence of one finding per frame row: the given source rows, in order."""
    return pl.concat_list(rows)
