"""Find the table in a raw grid: where its header is, which column is which field, which rows
are data.  Pure: grids in, layouts and staged frames out.

A header may sit below title rows anywhere in the first 10 rows and may span two rows (a merged
parent such as 家庭情况 above its leaves); its text may carry spaces, line breaks, full-width
brackets and unit suffixes.  Columns are recognised by canonical name or a listed synonym;
anything else is kept (staged as JSON in `extra`) and reported once in `TableLayout.unknown`.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl

from config.schema import FOOTER_MARKERS, ROSTER, Source
from config.settings import Divisions
from transforms.frames import staged_schema

HEADER_SEARCH_ROWS = 10

_SPACES = re.compile(r"[\s\u3000\u00a0\u200b\u200c\u200d\u2060\ufeff]+")
_BRACKETS = str.maketrans(
    {"【": "(", "】": ")", "〔": "(", "〕": ")", "「": "(", "」": ")", "[": "(", "]": ")"}
)
_MARKS = "*★☆※▲△●◆#:："
# A unit at the end of a header: (元), (元/人·年), (%), %, /元, 单位:元 ...
_UNIT_SUFFIXES = (
    re.compile(r"\([^()]*\)$"),
    re.compile(r"[%‰]$"),
    re.compile(r"/(?:元|万元|人|户|年|月|个|%)$"),
    re.compile(r"[,;]?单位[:：]?[^,;]*$"),
)


def normalise_header(text: object) -> str:
    """Header text as compared: NFKC, brackets unified, no spaces or line breaks, no
    required-field marks (`*姓名`)."""
    if text is None:
        return ""
    cleaned = unicodedata.normalize("NFKC", str(text)).translate(_BRACKETS)
    return _SPACES.sub("", cleaned).strip(_MARKS)


def _header_forms(label: str) -> list[str]:
    """The label, then the label with its unit suffixes removed one at a time."""
    forms = [label]
    current = label
    while True:
        for pattern in _UNIT_SUFFIXES:
            stripped = pattern.sub("", current).strip(_MARKS)
            if stripped and stripped != current:
                forms.append(stripped)
                current = stripped
                break
        else:
            return forms


@dataclass
class TableLayout:
    header_rows: list[int]  # grid rows (0-based) holding the header: one, or parent + leaves
    data_start: int  # first grid row below the header
    columns: dict[str, int]  # canonical key -> grid column
    unknown: list[str]  # header labels of columns not recognised (also staged in `extra`)
    title: str  # text of the rows above the header (title, 填报单位, ...)
    extra_columns: dict[str, int] = field(default_factory=dict)  # unknown label -> grid column
    labels: dict[int, str] = field(default_factory=dict)  # grid column -> header label as read
    source: Source | None = None


class MissingColumns(Exception):
    """A required column is absent: the file is rejected as a whole."""

    def __init__(self, columns: list[str], message: str, synonyms: dict[str, tuple[str, ...]]):
        super().__init__(message)
        self.columns = columns  # canonical Chinese names of the missing columns
        self.synonyms = synonyms  # canonical -> every accepted header
        self.message = message


class NamedGrid(Protocol):
    name: str
    grid: pl.DataFrame


def is_hidden(sheet: NamedGrid) -> bool:
    """A sheet the clerk hid (or a reader that does not know: visible).  Hidden sheets hold
    old data: never the roster or the village sheet."""
    return bool(getattr(sheet, "hidden", False))


class HiddenRoster(Exception):
    """The only roster in a workbook is on a hidden sheet."""

    def __init__(self, sheet: str) -> None:
        self.reason = (
            f"花名册只在隐藏的工作表“{sheet}”中。隐藏的工作表视为旧数据，不予读取；"
            "请将本期花名册放在可见的工作表中（或取消隐藏）后重新报送。"
        )
        super().__init__(self.reason)


def _lookup(source: Source) -> dict[str, tuple[str, int]]:
    """normalised accepted header -> (key, priority: 0 canonical, 1 synonym)."""
    lookup: dict[str, tuple[str, int]] = {}
    for f in source.fields:
        lookup.setdefault(normalise_header(f.canonical), (f.key, 0))
    for f in source.fields:
        for synonym in f.synonyms:
            lookup.setdefault(normalise_header(synonym), (f.key, 1))
    return lookup


def _match(label: str, lookup: dict[str, tuple[str, int]]) -> tuple[str, int] | None:
    if not label:
        return None
    for form in _header_forms(label):
        if form in lookup:
            return lookup[form]
    return None


def _assign(labels: Sequence[str], lookup: dict[str, tuple[str, int]]) -> dict[str, int]:
    """key -> column; a canonical name beats a synonym, then the leftmost column wins."""
    best: dict[str, tuple[int, int]] = {}
    for j, label in enumerate(labels):
        hit = _match(label, lookup)
        if hit is None:
            continue
        key, priority = hit
        if key not in best or priority < best[key][0]:
            best[key] = (priority, j)
    return {key: j for key, (_, j) in sorted(best.items(), key=lambda kv: kv[1][1])}


def _column_letter(j: int) -> str:
    letters = ""
    j += 1
    while j:
        j, rem = divmod(j - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def _row_texts(grid: pl.DataFrame, limit: int) -> list[list[str]]:
    rows = grid.head(limit).rows()
    return [["" if v is None else str(v) for v in row] for row in rows]


def locate_table(
    grid: pl.DataFrame, source: Source, context: str = "", divisions: Divisions | None = None
) -> TableLayout:
    """Find the header (one row, or a parent row above its leaves) in the first 10 rows.

    A roster may lack its 乡镇 column when its title or `context` (text around the table, such
    as the file name the township saved it under) names one of the `divisions`' townships;
    without `divisions` it may not.
    """
    lookup = _lookup(source)
    texts = _row_texts(grid, HEADER_SEARCH_ROWS + 1)
    normalised = [[normalise_header(v) for v in row] for row in texts]
    best: tuple[int, int, int] | None = None  # (score, -rows, -start)
    best_labels: list[str] = []
    for r in range(min(HEADER_SEARCH_ROWS, len(normalised))):
        candidates = [(1, normalised[r])]
        if r + 1 < len(normalised):
            merged = [low or up for up, low in zip(normalised[r], normalised[r + 1], strict=True)]
            # A parent row must add recognised names of its own (vertically merged cells);
            # otherwise the lower row alone is the header.
            if len(_assign(merged, lookup)) > len(_assign(normalised[r + 1], lookup)):
                candidates.append((2, merged))
        for n_rows, labels in candidates:
            score = len(_assign(labels, lookup))
            rank = (score, -n_rows, -r)
            if score and (best is None or rank > best):
                best, best_labels = rank, labels
    if best is None:
        raise _missing(source, source.required, title_hint=None, header_found=False)
    _, neg_rows, neg_start = best
    start, n_rows = -neg_start, -neg_rows
    header_rows = list(range(start, start + n_rows))
    data_start = start + n_rows
    columns = _assign(best_labels, lookup)
    title = " ".join(_SPACES.sub(" ", v).strip() for row in texts[:start] for v in row if v.strip())

    missing = [f for f in source.required if f.key not in columns]
    if (
        source is ROSTER
        and any(f.key == "township" for f in missing)
        and divisions is not None
        and (township_from_title(title, divisions) or township_from_title(context, divisions))
    ):
        missing = [f for f in missing if f.key != "township"]
    if missing:
        raise _missing(source, missing, title_hint=title, header_found=True)

    used = set(columns.values())
    extra: dict[str, int] = {}
    for j, label in enumerate(best_labels):
        if j in used:
            continue
        if not label:
            values = grid.get_column(f"c{j}").slice(data_start)
            if values.drop_nulls().str.strip_chars().str.len_chars().sum() == 0:
                continue  # an empty column without a header is nothing
            label = f"列{_column_letter(j)}"
        name, k = label, 2
        while name in extra:
            name, k = f"{label}#{k}", k + 1
        extra[name] = j
    labels_read = {j: label for j, label in enumerate(best_labels) if label}
    return TableLayout(
        header_rows=header_rows,
        data_start=data_start,
        columns=columns,
        unknown=list(extra),
        title=title,
        extra_columns=extra,
        labels=labels_read,
        source=source,
    )


def _missing(
    source: Source, missing: Sequence, title_hint: str | None, header_found: bool
) -> MissingColumns:
    parts = []
    for f in missing:
        accepted = "、".join(f.headers)
        note = "，或在标题行中写明乡镇名称" if (source is ROSTER and f.key == "township") else ""
        parts.append(f"“{f.canonical}”（可接受的列名：{accepted}{note}）")
    prefix = "" if header_found else f"在前{HEADER_SEARCH_ROWS}行中未找到可识别的表头。"
    message = (
        f"{prefix}{source.label}缺少必需列：{'；'.join(parts)}。"
        "请在表头中使用上述列名之一后重新上报。"
    )
    return MissingColumns(
        [f.canonical for f in missing], message, {f.canonical: f.headers for f in missing}
    )


# ---------------------------------------------------------------- sheets


def _has_table(grid: pl.DataFrame, source: Source, divisions: Divisions) -> bool:
    try:
        locate_table(grid, source, divisions=divisions)
    except MissingColumns:
        return False
    return True


def find_roster_sheet(sheets: Sequence[NamedGrid], divisions: Divisions) -> NamedGrid | None:
    """The sheet named 花名册/人员, else the first with a recognisable roster header (one
    whose title names a township of `divisions` may lack the 乡镇 column).

    Hidden sheets are never taken.  When no visible sheet qualifies, the named (or first
    non-empty) visible sheet is returned all the same, so that `locate_table` on it explains
    what is missing; `HiddenRoster` when only a hidden sheet holds a roster.  None only for a
    workbook without visible sheets.
    """
    visible = [s for s in sheets if not is_hidden(s)]
    named = [s for s in visible if "花名册" in s.name or "人员" in s.name]
    others = [s for s in visible if s not in named and not _is_village_sheet(s)]
    for sheet in [*named, *others]:
        if sheet.grid.height and _has_table(sheet.grid, ROSTER, divisions):
            return sheet
    hidden = [s for s in sheets if is_hidden(s) and s.grid.height]
    for sheet in hidden:
        if _has_table(sheet.grid, ROSTER, divisions):
            raise HiddenRoster(sheet.name)
    if named:
        return named[0]
    non_empty = [s for s in visible if s.grid.height]
    return non_empty[0] if non_empty else (visible[0] if visible else None)


def _is_village_sheet(sheet: NamedGrid) -> bool:
    return "村" in sheet.name and "情况" in sheet.name


def find_village_sheet(sheets: Sequence[NamedGrid]) -> NamedGrid | None:
    """The optional 贫困村情况表: a visible sheet whose name contains 村 and 情况."""
    return next((s for s in sheets if _is_village_sheet(s) and not is_hidden(s)), None)


def township_from_title(title: str | None, divisions: Divisions) -> str | None:
    """The township a title names (`南雄市珠玑镇建档立卡…` → 珠玑镇), as its short name."""
    if not title:
        return None
    text = _SPACES.sub("", unicodedata.normalize("NFKC", title))
    hits: list[tuple[int, int, str]] = []
    for code, full in divisions.townships.items():
        short = divisions.short_name(code)
        bare = short.removesuffix("街道").removesuffix("镇").removesuffix("乡")
        for written in {full, short, f"{bare}镇", f"{bare}街道", f"{bare}乡", f"{bare}街"}:
            at = text.find(written)
            if at >= 0:
                hits.append((at, -len(written), code))
    if not hits:
        return None
    return divisions.short_name(min(hits)[2])


# ---------------------------------------------------------------- staging


def _spaced(text: str) -> str:
    """A regex for `text` that tolerates spaces between its characters (`合　计`) and either
    width of colon."""
    parts = ["[:：]" if ch in ":：" else re.escape(ch) for ch in text]
    return r"\s*".join(parts)


_FOOTER = re.compile(
    r"^\s*(?:" + "|".join(_spaced(m) for m in sorted(FOOTER_MARKERS, key=len, reverse=True)) + ")"
)
# Anything but spaces of any width (\s is Unicode-aware: U+3000, NBSP) or zero-width marks.
_NON_BLANK = r"[^\s\u200b\u200c\u200d\u2060\ufeff]"


def stage(
    grid: pl.DataFrame, layout: TableLayout, file_id: int, sheet: str, row_offset: int = 0
) -> pl.DataFrame:
    """The data rows of a located table as `transforms.frames.staged_schema(source)`.

    Every cell stays text as read.  Dropped, as not data: footer rows (first non-blank cell
    starts with 合计, 总计, 小计, 填表人, 审核人, 说明 …), rows with every recognised column
    blank (fully blank rows, pre-numbered empty template rows) and repetitions of the header.
    `row_no` is the Excel row number (CSV: record number).  A batch of a long table is
    staged as its header rows followed by the batch, `row_offset` rows further down.
    """
    source = layout.source
    if source is None:
        raise ValueError("layout has no source; build it with locate_table")
    schema = staged_schema(source)
    if grid.height <= layout.data_start or not layout.columns:
        return pl.DataFrame(schema=schema)
    body = grid.with_row_index("__row").slice(layout.data_start)
    # One pass per column: does the cell hold anything but spaces?
    filled = {c: f"__filled_{c}" for c in grid.columns}
    flags = body.select(
        [pl.col(c).str.contains(_NON_BLANK).fill_null(False).alias(f) for c, f in filled.items()]
    )
    first_text = pl.coalesce([pl.when(pl.col(f)).then(pl.col(c)) for c, f in filled.items()])
    footer = first_text.str.contains(_FOOTER.pattern).fill_null(False)

    known = {key: pl.col(f"c{j}") for key, j in layout.columns.items()}
    all_blank = ~pl.any_horizontal([pl.col(filled[f"c{j}"]) for j in layout.columns.values()])

    # A header repeated below (pages pasted together): most recognised cells read as headers.
    header_texts = _row_texts(grid, layout.data_start)
    header_hits = []
    for key, col in known.items():
        j = layout.columns[key]
        written = {row[j] for row in header_texts[layout.header_rows[0] :] if row[j]}
        names = written | set(source.field(key).headers)
        header_hits.append(col.is_in(sorted(names)).fill_null(False).cast(pl.Int32))
    repeated_header = pl.sum_horizontal(header_hits) >= max(2, math.ceil(len(known) / 2))

    if layout.extra_columns:
        extra_cols = [pl.col(f"c{j}").alias(name) for name, j in layout.extra_columns.items()]
        extra = (
            pl.when(pl.any_horizontal([c.is_not_null() for c in extra_cols]))
            .then(pl.struct(extra_cols).struct.json_encode())
            .otherwise(None)
        )
    else:
        extra = pl.lit(None, dtype=pl.Utf8)

    keep = pl.concat([body, flags], how="horizontal").select(
        ~footer & ~all_blank & ~repeated_header
    )
    staged = body.select(
        pl.lit(file_id, dtype=pl.Int64).alias("file_id"),
        pl.lit(sheet, dtype=pl.Utf8).alias("sheet"),
        (pl.col("__row").cast(pl.Int64) + 1 + row_offset).alias("row_no"),
        *[
            (known[key] if key in known else pl.lit(None, dtype=pl.Utf8)).alias(key)
            for key in source.keys
        ],
        extra.alias("extra"),
    ).filter(keep.to_series())
    return staged.cast(schema)  # type: ignore[arg-type]
