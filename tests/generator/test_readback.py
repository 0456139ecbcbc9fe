"""Read the township workbooks back with a plain reader (headers by synonym, footers skipped,
household cells filled within 户编号, synonyms mapped) and get exactly the expected roster:
the mess never changes a value."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import polars as pl
import pytest
from python_calamine import CalamineWorkbook

from config.schema import (
    ATTRIBUTE,
    EXIT_STATUS,
    FOOTER_MARKERS,
    HOUSING,
    LABOUR,
    RELATION,
    ROSTER,
    SCHOOL,
)
from transforms.ids import parse_id

YES = {"是", "有", "√", "Y", "1", "1.0"}
NO = {"否", "无", "×", "N", "0", "0.0"}


def _norm(text: object) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", "" if text is None else str(text)))


def _canonical(value: str, table: dict[str, tuple[str, ...]]) -> str:
    for canon, synonyms in table.items():
        if value == canon or value in synonyms:
            return canon
    return value


def _number_text(cell: object) -> str:
    if isinstance(cell, float) and cell == int(cell):
        return str(int(cell))
    text = _norm(cell).replace(",", "").removesuffix("元")
    if re.fullmatch(r"-?\d+\.\d+", text) and float(text) == int(float(text)):
        return str(int(float(text)))
    return text


def _id_text(cell: object) -> str:
    if isinstance(cell, float) and cell > 1e16:
        return parse_id(f"{cell:.15g}").normalised
    if isinstance(cell, float):
        return parse_id(str(int(cell))).normalised
    return parse_id(cell).normalised


def _headers(rows: list[list[object]]) -> tuple[int, dict[str, int]]:
    lookup = {}
    for f in ROSTER.fields:
        for h in f.headers:
            lookup[_norm(h)] = f.key
    for i, row in enumerate(rows[:10]):
        keys = {}
        for c, cell in enumerate(row):
            text = _norm(cell) or (_norm(rows[i - 1][c]) if i else "")
            bare = re.sub(r"\([^)]*\)$", "", text)
            key = lookup.get(text) or lookup.get(bare)
            if key:
                keys[key] = c
        if "name" in keys and "household_id" in keys:
            return i, keys
    raise AssertionError("header not found")


def _read(path: Path) -> list[dict]:
    wb = CalamineWorkbook.from_path(str(path))
    name = next((n for n in wb.sheet_names if "花名册" in n or "人员" in n), None)
    if name is None:
        name = next(n for n in wb.sheet_names if n not in ("填表说明",) and "情况" not in n)
    rows = wb.get_sheet_by_name(name).to_python()
    h, cols = _headers(rows)
    out = []
    for i, row in enumerate(rows[h + 1 :], start=h + 2):
        cells = [_norm(c) for c in row]
        first = next((c for c in cells if c), "")
        if not first or first.startswith(FOOTER_MARKERS):
            continue
        rec = {"sheet": name, "row_no": i}
        for key, c in cols.items():
            rec[key] = row[c]
        out.append(rec)
    household = {}
    for rec in out:
        hh = _number_text(rec["household_id"])
        rec["household_id"] = hh
        fill = household.setdefault(hh, {})
        for f in ROSTER.fields:
            if f.household and f.key in rec and _norm(rec[f.key]) and f.key not in fill:
                fill[f.key] = rec[f.key]
    for rec in out:
        for key, value in household[rec["household_id"]].items():
            rec[key] = value
    return out


@pytest.fixture(scope="module")
def expected(small: tuple[Path, dict]) -> pl.DataFrame:
    return pl.read_csv(small[0] / "truth" / "roster_expected.csv", infer_schema=False).fill_null("")


def test_workbooks_read_back_to_the_expected_roster(
    small: tuple[Path, dict], expected: pl.DataFrame
) -> None:
    inbox = small[0] / "inbox"
    by_file = {f: g for (f,), g in expected.group_by("file")}
    for file, exp in by_file.items():
        got = {r["row_no"]: r for r in _read(inbox / file)}
        assert len(got) == exp.height, file
        for e in exp.iter_rows(named=True):
            g = got[int(e["row_no"])]
            where = f"{file} row {e['row_no']}"
            assert g["household_id"] == e["household_id"], where
            assert _norm(g["name"]) == e["name"], where
            assert _id_text(g["id_number"]) == e["id_as_written"], where
            assert _canonical(_norm(g["relation"]), RELATION) == e["relation"], where
            assert _canonical(_norm(g["labour"]), LABOUR) == e["labour"], where
            assert _canonical(_norm(g.get("attribute")), ATTRIBUTE) == e["attribute"], where
            assert _canonical(_norm(g.get("exit_status")), EXIT_STATUS) == e["exit_status"], where
            assert _number_text(g.get("exit_year")) == e["exit_year"], where
            assert _number_text(g.get("income")) == e["income"], where
            assert _canonical(_norm(g.get("housing")), HOUSING) == e["housing"], where
            assert (_norm(g.get("person_status")) or "正常") == e["person_status"], where
            if "school" in g:
                assert _canonical(_norm(g["school"]), SCHOOL) == e["school"], where
            if "family_size" in g:
                assert _number_text(g["family_size"]) == e["family_size"], where
            if "water_safe" in g:
                w = _number_text(g["water_safe"])
                assert ("是" if w in YES else "否" if w in NO else w) == e["water_safe"], where
            if "sex" in g:
                assert _norm(g["sex"]) == e["sex"], where
            if "support_cadre" in g:
                assert _norm(g["support_cadre"]) == e["support_cadre"], where
