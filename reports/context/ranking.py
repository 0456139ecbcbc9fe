"""The decisions a report announces, as pure functions over plain rows and frames: when a
figure meets its standard, which townships are summoned, which villages' cadres are recalled
and by which route, and in which order townships, support units and overdue problems are
listed (ties share a place).

Kept apart from the wording so each rule can be read and tested on its own."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

import polars as pl

from config.schema import UNIT_TYPE

Row = dict[str, Any]
UNIT_TYPES = tuple(UNIT_TYPE)
DIRECT_RECALL = "直接召回"
TOLERANCE = 1e-9  # shares are computed in floating point: 99.9999999999 is 100%


# ------------------------------------------------------------------------ standards
def is_full(value: float) -> bool:
    """A share of 100% (参保率, 低保应保尽保率, 住房 and 饮水安全)."""
    return value >= 100 - TOLERANCE


def is_none(value: float) -> bool:
    """A count of zero (辍学, 脱贫不达标, 逾期问题)."""
    return value <= 0


def standard_status(value: float | None, meets: Callable[[float], bool] | None) -> str:
    """达标 / 未达标 against a standard; empty without a standard or a value."""
    if meets is None or value is None:
        return ""
    return "达标" if meets(value) else "未达标"


def reaches(value: float | None, target: float) -> bool | None:
    """Whether a share reaches `target`; None without a value."""
    return None if value is None else float(value or 0) >= target - TOLERANCE


# ------------------------------------------------------------------------ townships
def by_rank(rows: Iterable[Row]) -> list[Row]:
    """Townships by their rank (unranked last), then by name."""
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["township"]))


def shortfall(target: float | None, persons_out: float | None) -> float | None:
    """How far a township falls short of its cumulative exit target: it is summoned (at half
    year, reminded) when it does.  None when it does not, or has no target or no count."""
    if not target or persons_out is None or persons_out >= target:
        return None
    return target - persons_out


def by_progress(rows: Iterable[Row]) -> list[Row]:
    """Furthest behind first (no progress counts as 0), then by name."""
    return sorted(
        rows, key=lambda r: (r["progress"] if r["progress"] is not None else 0, r["township"])
    )


# --------------------------------------------------------------------------- recall
def unit_type_rank(unit_type: str | None) -> int:
    """The order of unit types in config.schema.UNIT_TYPE; unknown types last."""
    return UNIT_TYPES.index(unit_type) if unit_type in UNIT_TYPES else 99


def recall_villages(
    recurring: pl.DataFrame, min_streak: int, township: str | None = None
) -> pl.DataFrame:
    """The villages of `recurring` (transforms.indicators.recurring_problems) whose problems
    lasted `min_streak` assessments or more, in `township` if one is given."""
    rec = recurring.filter(pl.col("streak") >= min_streak)
    if township:
        rec = rec.filter(pl.col("township_code") == township)
    return rec


def split_recalls(rows: Iterable[Row]) -> tuple[list[Row], list[Row]]:
    """(直接召回, 召回建议函) by each row's route, each by unit type, unit, township, village."""
    direct: list[Row] = []
    letters: list[Row] = []
    for r in rows:
        (direct if r["route"] == DIRECT_RECALL else letters).append(r)

    def key(r: Row) -> tuple[Any, ...]:
        return (unit_type_rank(r["unit_type"]), r["unit"], r["township"], r["village"])

    return sorted(direct, key=key), sorted(letters, key=key)


# ----------------------------------------------------------------------------- league
def shared_ranks(keys: Sequence[Hashable]) -> list[int]:
    """Competition ranks of already ordered keys: equal neighbours share a place and the
    next place skips (1, 2, 2, 4)."""
    ranks: list[int] = []
    prev: Hashable = None
    rank = 0
    for i, k in enumerate(keys, start=1):
        if i == 1 or k != prev:
            rank, prev = i, k
        ranks.append(rank)
    return ranks


def rank_league(rows: Iterable[Row]) -> list[Row]:
    """Support units by exit share (highest first, none last), then fewer overdue problems,
    then name; each row gets its `rank`, tied on exit share and overdue problems."""
    ordered = sorted(
        rows,
        key=lambda r: (
            -(float(r["exit_share"]) if r["exit_share"] is not None else -1.0),
            r["overdue"],
            r["unit"],
        ),
    )
    for r, rank in zip(
        ordered, shared_ranks([(r["exit_share"], r["overdue"]) for r in ordered]), strict=True
    ):
        r["rank"] = rank
    return ordered


# ---------------------------------------------------------------- overdue problems
def by_first_seen(items: Iterable[Row]) -> list[Row]:
    """Overdue problems, the earliest found first (then by township, village and key)."""
    return sorted(
        items,
        key=lambda it: (
            it["first_seen"],
            it["township_code"] or "",
            it["village_key"] or "",
            it["key"],
        ),
    )


def oldest_first(rows: Iterable[Row], *names: str) -> list[Row]:
    """Groups of overdue problems: the oldest first, then the larger, then by `names`."""
    return sorted(rows, key=lambda r: (r["oldest"], -r["total"], *(r[n] for n in names)))


def first_per(items: Iterable[Row], group: str, limit: int) -> list[Row]:
    """The first `limit` items of each `group`, in the order given."""
    shown: list[Row] = []
    seen: Counter[Any] = Counter()
    for it in items:
        if seen[it[group]] < limit:
            shown.append(it)
            seen[it[group]] += 1
    return shown
