"""Finding life cycles across consecutive nightly runs over a changing inbox: a finding is
resolved when the sources stop showing it, reopened with its history when they show it
again, and never deleted."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from config.schema import ENROLMENT
from flows.nightly import run_nightly
from flows.readers import read_csv_table
from generator import generate
from warehouse import db


def _enrolment_file(inbox: Path, year: int, add_identity: str | None, name: str, out: Path) -> None:
    """A new insurance extract holding `year` only: the original rows, plus one for the identity."""
    source = next((inbox / "insurance").iterdir())
    sheet, layout = read_csv_table(source, ENROLMENT)
    grid = sheet.grid
    header = [grid.row(r) for r in layout.header_rows][-1]
    data = grid.slice(layout.data_start)
    year_col = f"c{layout.columns['year']}"
    rows = data.filter(pl.col(year_col).str.strip_chars() == str(year))
    if add_identity:
        extra = rows.head(1).with_columns(
            pl.lit(add_identity).alias(f"c{layout.columns['id_number']}"),
            pl.lit(name).alias(f"c{layout.columns['name']}"),
            pl.lit("参保缴费").alias(f"c{layout.columns['enrol_status']}"),
            pl.lit("正常").alias(f"c{layout.columns['person_status']}"),
        )
        rows = pl.concat([rows, extra])
    named = rows.rename({c: (h or c) for c, h in zip(rows.columns, header, strict=False)})
    named.write_csv(out, include_bom=True)


@pytest.mark.slow
def test_resolved_then_reopened_with_history(harness, tmp_path):
    gen = tmp_path / "gen"
    generate(gen, scale=0.01, seed=99, as_of=date(2018, 6, 30))
    inbox = gen / "inbox"
    url = f"sqlite:///{tmp_path / 'fupin.db'}"

    def run(day: str) -> None:
        run_nightly(str(inbox), day, url, str(tmp_path / "home"), send=False)

    run("2018-06-30")
    engine = db.connect(url)
    findings = db.read_frame(engine, "finding")
    r01 = findings.filter(pl.col("rule") == "R01").row(0, named=True)
    persons = db.current(engine, "roster").filter(pl.col("id_norm") == r01["person_id"])
    name = persons["name"][0]

    originals = sorted((inbox / "insurance").iterdir())
    _enrolment_file(inbox, 2018, r01["person_id"], name, tmp_path / "insured.csv")
    _enrolment_file(inbox, 2018, None, name, tmp_path / "uninsured.csv")

    shutil.copy(tmp_path / "insured.csv", inbox / "insurance" / "参保名册_2018补充.csv")
    run("2018-07-15")
    after = db.read_frame(engine, "finding").filter(pl.col("key") == r01["key"]).row(0, named=True)
    assert after["status"] == "resolved" and after["resolved_on"] == date(2018, 7, 15)
    others = db.read_frame(engine, "finding").filter(
        (pl.col("key") != r01["key"]) & (pl.col("status") == "resolved")
    )
    assert others.is_empty(), "only the fixed finding may resolve"

    shutil.copy(tmp_path / "uninsured.csv", inbox / "insurance" / "参保名册_2018再次补充.csv")
    run("2018-08-01")
    again = db.read_frame(engine, "finding").filter(pl.col("key") == r01["key"]).row(0, named=True)
    assert again["status"] == "open"
    assert again["first_seen"] == date(2018, 6, 30) and again["last_seen"] == date(2018, 8, 1)
    assert again["reopened"] == 1
    events = (
        db.read_frame(engine, "finding_event")
        .filter(pl.col("finding_id") == again["id"])
        .sort("id")
    )
    assert events["event"].to_list() == ["opened", "resolved", "reopened"]
    assert events["on_date"].to_list() == [date(2018, 6, 30), date(2018, 7, 15), date(2018, 8, 1)]
    assert len(originals) == 1
