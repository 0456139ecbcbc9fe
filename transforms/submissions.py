"""Submissions over time: which one is new data, which would gut the register, what changed.

A source is sent again and again: re-saved, renamed, re-encoded, corrected, sometimes wrong.
These pure functions decide, from the rows read and the rows in force, what a new submission
is (`data_digest`: the same data in new bytes; `hold_reasons`: a roster that would gut the
township's register, or one older than the roster in force) and what it changes
(`roster_changes`).  Persons are matched on the normalised written ID (what the clerk typed,
repaired of width and case only); rows without a usable ID are matched on 户编号 + name.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from datetime import date

import polars as pl

from config.settings import HoldLimits
from transforms import ids
from transforms.privacy import mask_id_expr, mask_name_expr

# --- the same data in new bytes -------------------------------------------------------------


def data_digest(frames: Mapping[str, pl.DataFrame]) -> str:
    """SHA-256 of what a file says, not of its bytes: every frame's values at their sheet and
    row, without the file id.  A workbook re-saved in Excel or WPS, renamed, converted
    between .xls and .xlsx or a CSV re-encoded (GB18030 <-> UTF-8) has the same digest; a
    changed cell or a moved row changes it.  CSV text is the encoding: stable across polars
    releases, unlike `hash_rows`.  `DataDigest` computes the same a batch at a time."""
    digest = DataDigest()
    for kind in sorted(frames):
        digest.add(kind, [frames[kind]])
    return digest.hexdigest()


class DataDigest:
    """`data_digest` fed kind by kind (in sorted order), each kind's rows in one frame or in
    batches (a big extract streamed): the kind and its columns, its rows as CSV, then its
    row count -- at the end, so that a stream need not know it beforehand."""

    VERSION = b"fupin data digest 2\n"

    def __init__(self) -> None:
        self._sha = hashlib.sha256(self.VERSION)
        self._kind: str | None = None
        self._columns: list[str] = []
        self._rows = 0

    def add(self, kind: str, batches: Iterable[pl.DataFrame]) -> None:
        for batch in batches:
            self.update(kind, batch)
        self.end_kind()

    def update(self, kind: str, batch: pl.DataFrame) -> None:
        """More rows of `kind` (the batches of a kind share their columns)."""
        frame = batch.drop("file_id", strict=False)
        if self._kind != kind:
            self.end_kind()
            self._kind, self._columns, self._rows = kind, frame.columns, 0
            self._sha.update(f"{kind}:{','.join(frame.columns)}\n".encode())
        elif frame.columns != self._columns:
            raise ValueError(f"a batch of {kind} has other columns than the first")
        if frame.height == 0:
            return
        for part in csv_parts(frame, first=self._rows == 0):
            self._sha.update(part)
        self._rows += frame.height

    def end_kind(self) -> None:
        if self._kind is None:
            return
        if self._rows == 0:  # the header alone, as `write_csv` gives it for no rows
            empty_frame = pl.DataFrame(schema=dict.fromkeys(self._columns, pl.Utf8))
            self._sha.update(empty_frame.write_csv().encode())
        self._sha.update(f"{self._kind}:{self._rows}\n".encode())
        self._kind = None

    def hexdigest(self) -> str:
        self.end_kind()
        return self._sha.hexdigest()


DIGEST_SLICE_ROWS = 250_000


def csv_parts(
    frame: pl.DataFrame, rows: int = DIGEST_SLICE_ROWS, first: bool = True
) -> Iterator[bytes]:
    """`frame.write_csv()` as UTF-8, a slice of rows at a time (the same bytes in order):
    the whole text of a 12.6M-row extract at once took 4 GB on top of the frame.  `first`:
    with the header line (a later batch of the same rows has none)."""
    if frame.height == 0:
        yield frame.write_csv(include_header=first).encode()
        return
    for offset in range(0, frame.height, rows):
        part = frame.slice(offset, rows)
        yield part.write_csv(include_header=first and offset == 0).encode()


# --- the date a submission says it is as of -------------------------------------------------

_DATE = r"(20\d{2})\s*[年\-/.]\s*(\d{1,2})\s*(?:[月\-/.]\s*(\d{1,2})\s*日?)?"
_AS_OF = re.compile(r"(?:截至|截止|截止到|截至到)\s*" + _DATE)
_FILLED = re.compile(r"填报(?:日期|时间)\s*[:：]?\s*" + _DATE)
_ANY = re.compile(_DATE)
_COMPACT = re.compile(r"(?<!\d)(20\d{2})(\d{2})(\d{2})?(?!\d)")
_MONTH_RANGE = re.compile(r"(20\d{2})\s*年\s*\d{1,2}\s*[-－~至]\s*(\d{1,2})\s*月")


def _day(year: str, month: str, day: str | None) -> date | None:
    """A date from its parts; a month alone means its last day."""
    y, m = int(year), int(month)
    if not 1 <= m <= 12:
        return None
    last = calendar.monthrange(y, m)[1]
    d = int(day) if day else last
    return date(y, m, d) if 1 <= d <= last else None


def claimed_date(title: str | None, file_name: str) -> date | None:
    """The date a submission says its data is as of: in its title rows the 截至 date, else
    the 填报日期, else any date; else a date in its file name (`_201806`, `2018-06-30`,
    `2018年6月`, `2018年1-6月` → 2018-06-30; a month means its last day).  None when neither
    says (a year alone, or a range of years, is not a date)."""
    text = unicodedata.normalize("NFKC", title or "")
    for pattern in (_AS_OF, _FILLED, _ANY):
        for m in pattern.finditer(text):
            if found := _day(*m.groups()):
                return found
    name = unicodedata.normalize("NFKC", file_name)
    if months := _MONTH_RANGE.search(name):
        return _day(months.group(1), months.group(2), None)
    for pattern in (_ANY, _COMPACT):
        for m in pattern.finditer(name):
            if found := _day(*m.groups()):
                return found
    return None


# --- a roster that would gut the register ---------------------------------------------------


def gutting_reasons(
    current: pl.DataFrame,
    foreign_rows: int,
    in_force: pl.DataFrame | None,
    limits: HoldLimits,
    noun: str = "花名册",
) -> list[str]:
    """Why a township's new roster (`current`: its canonical rows; `foreign_rows`: rows naming
    another township, not loaded) would gut the register if it replaced `in_force` (the roster
    in force; None for a first submission); empty when it would not.  Chinese sentences, the
    list called `noun` (a 低保 roll passes 低保名册)."""
    reasons: list[str] = []
    total = current.height + foreign_rows
    if total and foreign_rows / total > limits.foreign_share:
        reasons.append(
            f"{foreign_rows}/{total} 行（{foreign_rows / total:.0%}）填写的是其他乡镇，"
            "疑似报错了乡镇的花名册"
        )
    if current.height:
        status = current["id_status"].fill_null(ids.BLANK)
        unusable = int(status.is_in([ids.BLANK, ids.BAD_FORMAT]).sum())
        if unusable / current.height > limits.unusable_id_share:
            reasons.append(
                f"{unusable}/{current.height} 行（{unusable / current.height:.0%}）证件号码为空"
                "或不是证件号码，无法据此核查"
            )
    if in_force is not None and in_force.height:
        before = set(in_force.select(_person())["person"].to_list())
        after = set(current.select(_person())["person"].to_list())
        removed = len(before - after)
        if removed / len(before) > limits.removed_share:
            reasons.append(
                f"在用{noun}的 {len(before)} 人中有 {removed} 人（{removed / len(before):.0%}）"
                f"不在新报送的{noun}中"
            )
    return reasons


def older_reason(
    claimed: date | None, in_force_claimed: date | None, limits: HoldLimits
) -> str | None:
    """Why a submission that says it is older than the one in force is held: probably an old
    file sent again, which must not replace newer data without a person deciding."""
    if not limits.older_than_in_force or claimed is None or in_force_claimed is None:
        return None
    if claimed >= in_force_claimed:
        return None
    return (
        f"文件所载日期（{claimed.isoformat()}）早于在用版本的日期"
        f"（{in_force_claimed.isoformat()}），疑似旧文件"
    )


# --- what changed ---------------------------------------------------------------------------

COMPARED = {
    "village": "行政村",
    "household_id": "户编号",
    "relation": "与户主关系",
    "labour": "劳动技能",
    "health": "健康状况",
    "school": "在校生状况",
    "person_status": "人员状态",
    "attribute": "贫困户属性",
    "income": "年人均可支配收入",
    "exit_status": "脱贫状态",
    "exit_year": "脱贫年度",
    "housing": "住房安全",
    "support_cadre": "帮扶责任人",
}
CHANGES_SCHEMA = {
    "change": pl.Utf8,  # 新增 / 删除 / 变更
    "person": pl.Utf8,  # match key
    "household_id": pl.Utf8,
    "name_masked": pl.Utf8,
    "id_masked": pl.Utf8,
    "row_before": pl.Int64,
    "row_after": pl.Int64,
    "fields": pl.Utf8,  # 字段：旧值→新值；…
}


def _person() -> pl.Expr:
    """Who a row is, across submissions: the written ID, else 户编号/name."""
    usable = pl.col("id_norm").is_not_null() & (pl.col("id_norm") != "")
    return (
        pl.when(usable)
        .then(pl.col("id_norm"))
        .otherwise(pl.col("household_id") + "/" + pl.col("name"))
        .alias("person")
    )


def _keyed(frame: pl.DataFrame) -> pl.DataFrame:
    out = frame.with_columns(_person()).unique("person", keep="first", maintain_order=True)
    return out.with_columns(pl.col(c).cast(pl.Utf8) for c in COMPARED)


def roster_changes(previous: pl.DataFrame, current: pl.DataFrame) -> pl.DataFrame:
    """Added, removed and changed persons, with every changed field as old→new."""
    before, after = _keyed(previous), _keyed(current)
    cols = ["person", "name", "id_norm", "row_no", *COMPARED]
    joined = before.select(cols).join(
        after.select(cols), on="person", how="full", coalesce=True, suffix="_new"
    )
    diffs = [
        pl.when(pl.col(c).fill_null("") != pl.col(f"{c}_new").fill_null("")).then(
            pl.format(
                "{}：{}→{}",
                pl.lit(label),
                pl.col(c).fill_null("（空）"),
                pl.col(f"{c}_new").fill_null("（空）"),
            )
        )
        for c, label in COMPARED.items()
    ]
    change = (
        pl.when(pl.col("row_no").is_null())
        .then(pl.lit("新增"))
        .when(pl.col("row_no_new").is_null())
        .then(pl.lit("删除"))
        .otherwise(pl.lit("变更"))
    )
    out = joined.with_columns(
        change=change,
        fields=pl.concat_list(diffs).list.drop_nulls().list.join("；"),
        name=pl.coalesce("name_new", "name"),
        id_norm=pl.coalesce("id_norm_new", "id_norm"),
        household_id=pl.coalesce("household_id_new", "household_id"),
    ).filter((pl.col("change") != "变更") | (pl.col("fields") != ""))
    return out.select(
        "change",
        "person",
        "household_id",
        name_masked=mask_name_expr(pl.col("name")),
        id_masked=mask_id_expr(pl.col("id_norm")),
        row_before=pl.col("row_no").cast(pl.Int64),
        row_after=pl.col("row_no_new").cast(pl.Int64),
        fields=pl.when(pl.col("change") == "变更").then(pl.col("fields")),
    ).sort("change", "household_id", "person")
