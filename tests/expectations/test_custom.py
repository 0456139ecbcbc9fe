"""The vectorised GB 11643 check agrees with transforms.ids; masks; the SQL engine agrees with
the pandas one."""

from __future__ import annotations

import sqlite3
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl

from expectations import adapter, run, suites
from expectations.custom import resident_id_valid, sex_from_resident_id
from tests.expectations.builders import HEAD_ID, LEGACY15, clean_rows, person, roster
from transforms import ids


def _variants(rng: np.random.Generator, n: int) -> list[str]:
    """Valid IDs and their one-character slips, swaps, bad dates and odd shapes."""
    out: list[str] = []
    for _ in range(n):
        born = date(1900, 1, 1) + timedelta(days=int(rng.integers(0, 45_000)))
        good = ids.make_id("440282", born, int(rng.integers(0, 1000)))
        out.append(good)
        i = int(rng.integers(0, 18))
        out.append(good[:i] + str(rng.integers(0, 10)) + good[i + 1 :])
        j = int(rng.integers(0, 17))
        out.append(good[:j] + good[j + 1] + good[j] + good[j + 2 :])
        out.append(good[:10] + "0230" + good[14:])
        out.append(good[:17])
    return out + ["", "44028219900101123X", "4402821990010112ＸX", "ABCDEFGHIJKLMNOPQR"]


def test_valid_resident_id_matches_transforms_ids() -> None:
    values = _variants(np.random.default_rng(7), 400)
    expected = [
        v == "" or (ids.parse_id(v).status == ids.VALID and ids.parse_id(v).normalised == v)
        for v in values
    ]
    assert resident_id_valid(pd.Series(values)).tolist() == expected


def test_sex_from_id() -> None:
    converted = ids.parse_id(LEGACY15).normalised
    implied = sex_from_resident_id(pd.Series([HEAD_ID, converted, HEAD_ID[:17] + "0"]))
    assert implied.tolist() == [ids.sex_of(HEAD_ID), ids.sex_of(converted), None]


def test_masks_are_privacys() -> None:
    """GX results show what every other output shows: 欧阳小明 → 欧*明, not 欧**明."""
    assert adapter._masker("name")("欧阳小明") == "欧*明"
    assert adapter._masker("head_name")("王明") == "王*"
    assert adapter._masker("phone")("13812345678") == "138****5678"
    assert adapter._masker("id_number")(" 11010519491231002X\u200b") == "110105********002X"


def _stage(prepared: pl.DataFrame, path: Path, table: str) -> None:
    data = prepared.with_columns(pl.col(pl.Date).cast(pl.Utf8), pl.col(pl.Boolean).cast(pl.Int64))
    con = sqlite3.connect(path)
    cols = ", ".join(f'"{c}"' for c in prepared.columns)
    con.execute(f'CREATE TABLE "{table}" ({cols})')
    con.executemany(
        f'INSERT INTO "{table}" VALUES ({", ".join("?" * len(prepared.columns))})', data.iter_rows()
    )
    con.commit()
    con.close()


def test_sql_engine_reports_the_same_issues(tmp_path: Path) -> None:
    rows = clean_rows()
    rows[1] = {**rows[1], "labour": "劳力", "relation": "户主", "sex": "男"}
    rows.append(
        person(
            row_no=9,
            household_id="H9",
            id_raw=HEAD_ID[:17] + "0",
            village="乌迳村",
            family_size=2,
            family_size_raw="2",
            income=-1.0,
            income_raw="-1",
        )
    )
    frame = roster(rows)
    expected = run.validate("roster", frame)
    _stage(run.prepare("roster", frame), tmp_path / "w.db", "roster_person")
    got = run.validate_sql("roster", frame, f"sqlite:///{tmp_path / 'w.db'}", "roster_person")
    assert expected.height >= 6
    assert got.sort("key").equals(expected.sort("key"))


def test_every_issue_kind_of_the_suites_is_a_known_kind() -> None:
    from config.schema import ISSUE_KINDS

    for kind in suites.SUITES:
        for check in suites.build(kind).checks.values():
            assert check.issue in ISSUE_KINDS, check.name
