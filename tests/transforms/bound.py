"""The transforms that take the divisions and the policy's [values], bound to the shipped ones
as the flows pass them (`config.settings.load_divisions`, `load_policy().values`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from functools import partial

import polars as pl

from config.schema import Source
from config.settings import POLICY_TOML, load_divisions, load_policy
from transforms import headers, intake
from transforms import normalise as n

DIVISIONS = load_divisions()
LIMITS = load_policy(POLICY_TOML).values

normalise_roster = partial(n.normalise_roster, divisions=DIVISIONS, limits=LIMITS)
normalise_villages = partial(n.normalise_villages, divisions=DIVISIONS)
normalise_dibao = partial(n.normalise_dibao, limits=LIMITS)
normalise_enrolment = partial(n.normalise_enrolment, limits=LIMITS)
normalise_settlement = partial(n.normalise_settlement, limits=LIMITS)


def township_from_title(title: str | None) -> str | None:
    return headers.township_from_title(title, DIVISIONS)


def find_roster_sheet(sheets: Sequence[headers.NamedGrid]) -> headers.NamedGrid | None:
    return headers.find_roster_sheet(sheets, DIVISIONS)


def locate_table(grid: pl.DataFrame, source: Source, context: str = "") -> headers.TableLayout:
    return headers.locate_table(grid, source, context, DIVISIONS)


def parse_township_workbook(
    sheets: Sequence[headers.NamedGrid], file_id: int, file_name: str = ""
) -> intake.Parsed:
    return intake.parse_township_workbook(
        sheets, file_id, file_name, divisions=DIVISIONS, limits=LIMITS
    )


def extract_batches(
    folder: str,
    batches: Iterable[tuple[pl.DataFrame, int]],
    layout: headers.TableLayout,
    file_id: int,
    sheet: str = "",
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    return intake.extract_batches(folder, batches, layout, file_id, sheet, limits=LIMITS)
