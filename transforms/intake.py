"""From raw grids to staged and canonical frames, per source: the pure half of ingest.

`flows.ingest` reads files into grids and stores what this returns; everything between
(which sheet, which header, which township, which rows belong elsewhere) is decided here.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from config.schema import DIBAO, ENROLMENT, ROSTER, SETTLEMENT, VILLAGES, Source
from config.settings import Divisions, ValueLimits
from transforms import headers, normalise, submissions
from transforms.frames import ISSUE, conform, empty
from transforms.issue_identity import SEP, file_key, issue_key
from transforms.privacy import mask_id_expr
from transforms.submissions import data_digest
from transforms.text import fmt

EXTRACTS: dict[str, tuple[str, Source]] = {
    "dibao": ("dibao", DIBAO),
    "insurance": ("enrolment", ENROLMENT),
    "claims": ("settlement", SETTLEMENT),
}
# What each inbox folder (source_file.source) contributes, by canonical kind.
FOLDER_KINDS: dict[str, tuple[str, ...]] = {
    "townships": ("roster", "village"),
    **{folder: (kind,) for folder, (kind, _) in EXTRACTS.items()},
}
NORMALISERS = {
    "dibao": normalise.normalise_dibao,
    "enrolment": normalise.normalise_enrolment,
    "settlement": normalise.normalise_settlement,
}


@dataclass
class Parsed:
    """What one accepted file contributes: staged and canonical frames per kind."""

    staged: dict[str, pl.DataFrame] = field(default_factory=dict)
    canonical: dict[str, pl.DataFrame] = field(default_factory=dict)
    # Found while reading (rows naming another township, hidden sheets), contract ISSUE.
    issues: pl.DataFrame = field(default_factory=lambda: empty(ISSUE))
    township_code: str | None = None
    notes: dict[str, object] = field(default_factory=dict)  # sheets used, unknown columns
    claimed_date: date | None = None  # the date its title or file name says it is as of

    @property
    def rows_loaded(self) -> int:
        return sum(f.height for k, f in self.canonical.items() if k != "household")

    @property
    def rows_reported(self) -> int:
        return int((self.issues["kind"] == "foreign_township").sum())

    def digest(self) -> str:
        """What the file says (`submissions.data_digest`): equal for the same data in new bytes."""
        return data_digest({**self.canonical, "_read_issues": self.issues})


class EmptyWorkbook(Exception):
    def __init__(self) -> None:
        super().__init__("工作簿中没有工作表。")
        self.reason = str(self)


class WrongTownship(Exception):
    """A workbook whose township cannot be told from its title or its rows."""

    def __init__(self) -> None:
        super().__init__("无法确定花名册所属乡镇：标题行和“乡镇”列均未写明本市乡镇名称。")
        self.reason = str(self)


def _file_township(roster: pl.DataFrame, title_code: str | None) -> str | None:
    """The township a workbook belongs to: its title, else the township most of its rows name."""
    if title_code:
        return title_code
    counts = (
        roster.drop_nulls("township_code")
        .group_by("township_code")
        .len()
        .sort("len", descending=True)
    )
    return counts["township_code"][0] if counts.height else None


def parse_township_workbook(
    sheets: Sequence[headers.NamedGrid],
    file_id: int,
    file_name: str = "",
    *,
    divisions: Divisions,
    limits: ValueLimits,
) -> Parsed:
    """A township's workbook: its roster sheet, and its village sheet when there is one.

    The township is the one of `divisions` its 乡镇 column or title names; failing both, the
    one its file name names (`（乌迳镇）建档立卡贫困户人员信息表.xlsx`).  `limits`: the
    policy's [values].
    """
    roster_sheet = headers.find_roster_sheet(sheets, divisions)  # HiddenRoster: only a hidden one
    if roster_sheet is None:
        raise EmptyWorkbook()
    name, grid = roster_sheet.name, roster_sheet.grid
    layout = headers.locate_table(grid, ROSTER, context=file_name, divisions=divisions)
    hint = headers.township_from_title(layout.title, divisions) or headers.township_from_title(
        file_name, divisions
    )
    title_code = divisions.township_code(hint) if hint else None
    staged = headers.stage(grid, layout, file_id, name)
    roster = normalise.normalise_roster(staged, title_code, divisions=divisions, limits=limits)
    code = _file_township(roster, title_code)
    if code is None:
        raise WrongTownship()
    roster = roster.with_columns(pl.col("township_code").fill_null(code))
    foreign = roster.filter(pl.col("township_code") != code)
    roster = roster.filter(pl.col("township_code") == code)
    out = Parsed(
        township_code=code,
        notes={"roster_sheet": name, "unknown_columns": layout.unknown},
        claimed_date=submissions.claimed_date(layout.title, file_name),
    )
    out.staged["roster"] = staged
    out.canonical["roster"] = roster
    out.canonical["household"] = households(roster)
    hidden = [s for s in sheets if headers.is_hidden(s) and s.grid.height]
    out.issues = pl.concat(
        [
            foreign_township_issues(foreign, code, divisions),
            hidden_sheet_issues(hidden, file_id, code),
        ]
    )
    if hidden:
        out.notes["hidden_sheets"] = [s.name for s in hidden]

    village_sheet = headers.find_village_sheet(sheets)
    if village_sheet is not None:
        vname, vgrid = village_sheet.name, village_sheet.grid
        vlayout = headers.locate_table(vgrid, VILLAGES)
        vstaged = headers.stage(vgrid, vlayout, file_id, vname)
        out.staged["village"] = vstaged
        out.canonical["village"] = normalise.normalise_villages(vstaged, code, divisions=divisions)
        out.notes["village_sheet"] = vname
        out.notes["village_unknown_columns"] = vlayout.unknown
    return out


def parse_extract(
    folder: str,
    grid: pl.DataFrame,
    layout: headers.TableLayout,
    file_id: int,
    sheet: str = "",
    file_name: str = "",
    *,
    limits: ValueLimits,
) -> Parsed:
    """A 低保 roll, enrolment extract or settlement extract whose table was located
    (`limits`: the policy's [values])."""
    kind, _ = EXTRACTS[folder]
    staged = headers.stage(grid, layout, file_id, sheet)
    out = Parsed(
        notes={"unknown_columns": layout.unknown},
        claimed_date=submissions.claimed_date(layout.title, file_name),
    )
    out.staged[kind] = staged
    out.canonical[kind] = normalise_in_slices(kind, staged, limits=limits)
    return out


def extract_batches(
    folder: str,
    batches: Iterable[tuple[pl.DataFrame, int]],
    layout: headers.TableLayout,
    file_id: int,
    sheet: str = "",
    *,
    limits: ValueLimits,
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """`parse_extract` a batch of the grid at a time (`flows.readers.stream_csv_table`): the
    staged and canonical rows of each batch, whose concatenations are `parse_extract`'s.
    Every step judges a row by its own cells; a batch below the first is staged under the
    header rows, at its place in the file."""
    kind, _ = EXTRACTS[folder]
    header: pl.DataFrame | None = None
    for grid, offset in batches:
        if header is None:
            header = grid.head(layout.data_start)
            staged = headers.stage(grid, layout, file_id, sheet)
        else:
            below = pl.concat([header, grid], how="vertical")
            staged = headers.stage(below, layout, file_id, sheet, offset - layout.data_start)
        yield staged, normalise_in_slices(kind, staged, limits=limits)


# Extracts are normalised a slice of rows at a time: every normaliser of an extract judges a
# row by its own cells (parsers run per distinct value, then joined back by value), so the
# result is the same, and the intermediate columns of the city's 12.6M-row enrolment extract
# (2.8 GB at once) are a twelfth of that.
SLICE_ROWS = 1_000_000


def normalise_in_slices(
    kind: str, staged: pl.DataFrame, rows: int = 0, *, limits: ValueLimits
) -> pl.DataFrame:
    rows = rows or SLICE_ROWS
    normaliser = NORMALISERS[kind]
    if staged.height <= rows:
        return normaliser(staged, limits=limits)
    parts = [
        normaliser(staged.slice(offset, rows), limits=limits)
        for offset in range(0, staged.height, rows)
    ]
    return pl.concat(parts, how="vertical")


def households(roster: pl.DataFrame) -> pl.DataFrame:
    """One row per household of a workbook (the `roster_household` table)."""
    head_first = roster.sort(pl.col("relation") != "户主", "row_no")
    return head_first.group_by("household_id", maintain_order=True).agg(
        pl.col("file_id").first(),
        pl.col("township_code").first(),
        pl.col("village").first(),
        *[
            pl.col(c).drop_nulls().first()
            for c in (
                "attribute",
                "family_size",
                "income",
                "exit_status",
                "exit_year",
                "housing",
                "water_safe",
                "support_unit",
                "support_cadre",
                "phone",
            )
        ],
        members=pl.len().cast(pl.Int64),
        first_row_no=pl.col("row_no").min(),
    )


def foreign_township_issues(rows: pl.DataFrame, owner: str, divisions: Divisions) -> pl.DataFrame:
    """Rows naming another township: reported to the submitting township, not loaded."""
    names = divisions.townships
    if rows.is_empty():
        return empty(ISSUE)
    out = rows.with_columns(
        kind=pl.lit("foreign_township"), column=pl.lit("乡镇"), township_code=pl.lit(owner)
    ).select(
        kind="kind",
        key=issue_key("roster"),
        source=pl.lit("roster"),
        file_id="file_id",
        sheet="sheet",
        row_no="row_no",
        column="column",
        township_code="township_code",
        village="village",
        household_id="household_id",
        value=pl.col("township"),
        message=fmt(
            "第{}行“乡镇”填写为“{}”，不属于本乡镇（{}）；该行未导入。证件号码{}。",
            pl.col("row_no"),
            pl.col("township"),
            pl.lit(names.get(owner, owner)),
            mask_id_expr(pl.col("id_norm")),
        ),
        suggested_fix=pl.lit(
            "该人员如属其他乡镇，请由所属乡镇在本乡镇花名册中登记；如属本乡镇，请更正“乡镇”列。"
        ),
    )
    return conform(out, ISSUE)


def hidden_sheet_issues(
    hidden: Sequence[headers.NamedGrid], file_id: int, owner: str
) -> pl.DataFrame:
    """One issue per hidden sheet with content: never read (old data), and the clerk is told."""
    if not hidden:
        return empty(ISSUE)
    out = pl.DataFrame(
        {
            "sheet": [s.name for s in hidden],
            "rows": [s.grid.height for s in hidden],
        },
        schema={"sheet": pl.Utf8, "rows": pl.Int64},
    ).with_columns(kind=pl.lit("hidden_sheet"), township_code=pl.lit(owner))
    out = out.with_columns(
        key=pl.concat_str([file_key("roster"), pl.col("sheet")], separator=SEP),
        source=pl.lit("roster"),
        file_id=pl.lit(file_id, pl.Int64),
        value=pl.col("sheet"),
        message=fmt(
            "工作簿中有隐藏的工作表“{}”（{}行）。隐藏的工作表视为旧数据，未读取。",
            pl.col("sheet"),
            pl.col("rows"),
        ),
        suggested_fix=pl.lit("确认该表为旧数据后删除；如其中有本期数据，请移到可见的花名册中。"),
    )
    return conform(out, ISSUE)
