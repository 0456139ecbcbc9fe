"""Assessment periods (2018H1, 2018H2, 2018) and the half-year dates they are held on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

_PERIOD = re.compile(r"^(\d{4})(?:H([12]))?$")


@dataclass(frozen=True, slots=True)
class Period:
    """`2018H1`, `2018H2` or `2018`; H2 and the year both end on 12-31."""

    label: str
    year: int
    half: int | None

    @property
    def start(self) -> date:
        return date(self.year, 7, 1) if self.half == 2 else date(self.year, 1, 1)

    @property
    def end(self) -> date:
        return date(self.year, 6, 30) if self.half == 1 else date(self.year, 12, 31)

    @property
    def is_year_end(self) -> bool:
        return self.half != 1

    @property
    def zh(self) -> str:
        if self.half is None:
            return f"{self.year}年度"
        return f"{self.year}年{'上' if self.half == 1 else '下'}半年"

    def evaluation_date(self, as_of: date | None) -> date:
        """D: the period's end, or the run's as-of date when the period is still running."""
        return self.end if as_of is None else min(self.end, as_of)


def parse_period(text: str | Period) -> Period:
    if isinstance(text, Period):
        return text
    match = _PERIOD.match(str(text).strip().upper())
    if not match:
        raise ValueError(f"period {text!r}: write 2018H1, 2018H2 or 2018")
    half = int(match.group(2)) if match.group(2) else None
    return Period(str(text).strip().upper(), int(match.group(1)), half)


def period_of(day: date) -> str:
    """The half-year a date falls in: 2018-05-01 → 2018H1."""
    return f"{day.year}H{1 if day.month <= 6 else 2}"


def half_year_ends(until: date, count: int) -> list[date]:
    """The `count` half-year ends on or before `until`, latest first."""
    out: list[date] = []
    y, m = until.year, until.month
    cur = (
        date(y, 12, 31)
        if (m, until.day) == (12, 31)
        else (date(y, 6, 30) if (m, until.day) >= (6, 30) else date(y - 1, 12, 31))
    )
    while len(out) < count:
        out.append(cur)
        cur = date(cur.year, 6, 30) if cur.month == 12 else date(cur.year - 1, 12, 31)
    return out
