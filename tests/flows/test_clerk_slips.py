"""Clerks' slips are rows, not crashes (sources.md): any township workbook of a generated
world, with random slips -- a row typed twice, a 户编号 cell left blank, the columns in another
order, a stray 合计 row, a household cell merged over the rows below -- is read, validated and
reconciled without an exception, every finding and issue has a key, and every row of the
sheet is accounted for (loaded, reported as another township's, or not data: blank, a footer,
a repeated header)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.schema import FOOTER_MARKERS, ROSTER
from config.settings import load_divisions, load_policy
from flows import readers, validation
from flows.ingest import parse
from generator import generate
from tests.flows.resubmit import RawSheet, roster_sheet, write_sheets
from tests.transforms.bound import locate_table, parse_township_workbook
from transforms import intake
from transforms.reconcile import reconcile

AS_OF = date(2018, 6, 30)
HOUSEHOLD_KEYS = [f.key for f in ROSTER.fields if f.household and f.key != "household_id"]


@dataclass(frozen=True)
class World:
    townships: list[Path]
    extracts: dict[str, pl.DataFrame]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    out = tmp_path_factory.mktemp("slips")
    generate(out, scale=0.01, seed=23, as_of=AS_OF)
    inbox = out / "inbox"
    extracts: dict[str, list[pl.DataFrame]] = {}
    for i, (folder, kind) in enumerate(
        (("dibao", "dibao"), ("insurance", "enrolment"), ("claims", "settlement"))
    ):
        for j, path in enumerate(sorted((inbox / folder).iterdir())):
            parsed = parse(folder, path, 100 + 10 * i + j)
            extracts.setdefault(kind, []).append(parsed.canonical[kind])
    frames = {k: pl.concat(v) for k, v in extracts.items()}
    return World(sorted((inbox / "townships").iterdir()), frames)


# ---------------------------------------------------------------- slips on a text grid
def _row(width: int, **cells: str) -> dict[str, str | None]:
    return {f"c{j}": cells.get(f"c{j}") for j in range(width)}


def _insert(grid: pl.DataFrame, at: int, row: pl.DataFrame) -> pl.DataFrame:
    return pl.concat([grid.head(at), row.cast(grid.schema), grid.slice(at)])


def apply_slip(sheet: RawSheet, slip: tuple[str, int, int]) -> RawSheet:
    kind, a, b = slip
    grid = sheet.grid
    layout = locate_table(grid, ROSTER)
    start = layout.data_start
    rows = grid.height - start
    if rows <= 0:
        return sheet
    i = start + a % rows
    if kind == "repeat_row":
        grid = _insert(grid, i + 1, grid.slice(i, 1))
    elif kind == "blank_key" and "household_id" in layout.columns:
        col = grid.columns[layout.columns["household_id"]]
        grid = grid.with_columns(
            pl.when(pl.int_range(pl.len()) == i).then(None).otherwise(pl.col(col)).alias(col)
        )
    elif kind == "shuffle_columns":
        order = list(grid.columns)
        k = a % len(order)
        order = order[k:] + order[:k]
        if b % 2:
            order.reverse()
        grid = grid.select(order).rename(dict(zip(order, grid.columns, strict=True)))
    elif kind == "stray_total":
        marker = sorted(FOOTER_MARKERS)[b % len(FOOTER_MARKERS)]
        grid = _insert(grid, i, pl.DataFrame([_row(grid.width, c0=marker, c1=f"{b}人")]))
    elif kind == "merged_odd":
        key = HOUSEHOLD_KEYS[b % len(HOUSEHOLD_KEYS)]
        if key in layout.columns:
            col = grid.columns[layout.columns[key]]
            below = (pl.int_range(pl.len()) > i) & (pl.int_range(pl.len()) <= i + 1 + b % 4)
            grid = grid.with_columns(pl.when(below).then(None).otherwise(pl.col(col)).alias(col))
    return RawSheet(sheet.name, grid, sheet.hidden)


SLIP = st.tuples(
    st.sampled_from(["repeat_row", "blank_key", "shuffle_columns", "stray_total", "merged_odd"]),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
)


def accounted(sheet: RawSheet, parsed: intake.Parsed) -> tuple[set[int], set[int]]:
    """(rows of the sheet holding something, rows the parse accounts for)."""
    grid = sheet.grid
    layout = locate_table(grid, ROSTER)
    data_rows = set()
    not_data = set()
    headers = {h for f in ROSTER.fields for h in f.headers}
    for i, row in enumerate(grid.iter_rows()):
        if i < layout.data_start:
            continue
        texts = [v.strip() for v in row if v and v.strip()]
        if not texts:
            continue
        data_rows.add(i + 1)
        first = texts[0].replace(" ", "").replace("\u3000", "")
        if (
            any(first.startswith(m) for m in FOOTER_MARKERS)
            or sum(t in headers for t in texts) >= 2
        ):
            not_data.add(i + 1)
    loaded = set(parsed.canonical["roster"]["row_no"].to_list())
    reported = set(parsed.issues.filter(pl.col("kind") == "foreign_township")["row_no"].to_list())
    assert not loaded & reported
    return data_rows, loaded | reported | not_data


@pytest.mark.slow
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(which=st.integers(0, 17), slips=st.lists(SLIP, min_size=1, max_size=4))
def test_any_workbook_with_any_slips_is_read_and_reconciled(
    world: World, tmp_path: Path, which: int, slips: list[tuple[str, int, int]]
) -> None:
    path = world.townships[which % len(world.townships)]
    sheets = readers.read_sheets(path)
    roster = roster_sheet(sheets)
    slipped = roster
    for slip in slips:
        slipped = apply_slip(slipped, slip)
    sent = write_sheets(
        [slipped if s is roster else s for s in sheets], tmp_path / f"{which}_{path.stem}.xlsx"
    )

    parsed = parse_township_workbook(readers.read_sheets(sent), 1, sent.name)
    rows, explained = accounted(slipped, parsed)
    assert rows <= explained, f"rows not accounted for: {sorted(rows - explained)}"

    issues = validation.validate_frames(
        {k: [f] for k, f in parsed.canonical.items() if k in validation.VALIDATED}
    )
    assert issues["key"].null_count() == 0
    data = {"roster": parsed.canonical["roster"], **world.extracts}
    result = reconcile(data, AS_OF, load_policy(), load_divisions(), {1: sent.name})
    assert result.rules.failed == {} and result.rules.keyless == {}
    assert result.findings["key"].null_count() == 0
    assert result.findings["key"].is_unique().all()
