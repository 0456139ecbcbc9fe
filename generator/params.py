"""Run parameters, random-number streams and the injection rates of one generation.

Every random choice draws from a stream named after the component that makes it, so a
change in one component does not shift the numbers of another, and one seed reproduces
every byte.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np

from config.settings import HOME_COUNTY, Policy, city_counties, load_policy

# Bumped whenever the same seed can give different files or truth: 1.1.0 = a bad 健康状况 only
# where the column exists; typos never read as Excel damage; head issues on active members.
# 1.2.0 = settlement bills with implausible amounts and dates and invisible marks in IDs.
GENERATOR_VERSION = "1.2.0"

# The night a single generation is as of, and the first night of a timeline, by default.
SINGLE_NIGHT = date(2018, 6, 30)
TIMELINE_START = date(2018, 1, 31)

# Scale-1 sizes (policy.md and sources.md).
RESIDENTS_PER_YEAR = 420_000  # enrolment rows per year, poor persons included

# Findings injected at scale 1 (scaled, at least 1 each where a target exists).
RULE_COUNTS: dict[str, int] = {
    "R01": 40,
    "R02": 30,
    "R03": 30,
    "R04": 30,
    "R05": 26,
    "R06": 26,
    "R07": 48,
    "R08": 26,
    "R09": 30,
    "R10": 30,
    "R11": 26,
    "R12": 30,
    "R13": 40,
    "R14": 26,
    "R15": 22,
}

# At any scale at least this many, so that a tiny test inbox still shows every variant.
RULE_MINIMUM: dict[str, int] = {
    "R07": 4,
    "R08": 2,
    "R09": 3,
    "R10": 3,
    "R03": 3,
    "R04": 2,
    "R06": 2,
    "R05": 2,
}

# Data-quality issues injected at scale 1 (besides the invalid IDs the rules bring).
ISSUE_COUNTS: dict[str, int] = {
    "required_missing": 30,
    "invalid_value": 30,
    "invalid_id": 24,  # in the 低保 and enrolment extracts; the roster's come from R07/R08
    "excel_mangled_id": 0,  # only those of R07/R08
    "bad_date": 30,
    "bad_number": 30,
    "implausible_income": 22,
    "implausible_amount": 20,  # settlement amounts: negative, 1e15 (bills of non-poor residents)
    "implausible_date": 20,  # settlement dates years ahead
    "invisible_chars": 20,  # zero-width and direction marks inside settlement IDs
    "sex_mismatch": 30,
    "village_not_in_township": 22,
    "foreign_township": 10,  # households copied into a neighbour's workbook (one issue per row)
    "exit_year_missing": 22,
    "household_head": 24,
    "family_size_mismatch": 30,
}

# Hard negatives at scale 1: cases a careless matcher gets wrong and the truth says are fine.
HARD_NEGATIVE_COUNTS: dict[str, int] = {
    "legacy15_text": 15,
    "legacy15_number": 10,
    "same_name_two_people": 15,
    "dibao_stopped_income": 20,
    "exit_at_line": 15,
    "assistance_at_tolerance": 15,
    "no_cadre_not_required": 15,
    "name_width_variant": 25,
    "id_written_variants": 20,
}


@dataclass(frozen=True)
class GenParams:
    """What one call of `generate` was asked for, plus the policy it follows."""

    scale: float = 1.0
    seed: int = 20161010
    as_of: date = SINGLE_NIGHT
    policy: Policy = field(default_factory=load_policy)
    # The county this twin is of, and whether it is one county of a generated city (`city`):
    # then its IDs, 家庭编号, 个人编号 and 结算流水号 are minted so that no two counties share
    # one, and `county_factor` (villages / Nanxiong's 208) sizes its poor villages.  The
    # defaults are the single-county Nanxiong of `generate`, unchanged.
    county: str = HOME_COUNTY
    county_name: str = "南雄市"
    city: bool = False
    county_factor: float = 1.0

    @property
    def year(self) -> int:
        return self.as_of.year

    @property
    def years(self) -> list[int]:
        """Insurance years in the extract: 2016 up to the as-of year."""
        return list(range(2016, max(self.year, 2016) + 1))

    @property
    def stamp(self) -> datetime:
        """The only 'time' written into files: derived from the as-of date, never the clock."""
        return datetime(self.as_of.year, self.as_of.month, self.as_of.day, 8, 30, 0)

    def scaled(self, n: float, minimum: int = 0) -> int:
        return max(minimum, int(round(n * self.scale)))

    def count(self, base: int) -> int:
        """An injection count: scaled, at least one."""
        return max(1, int(round(base * self.scale))) if base else 0

    def plan(self, figure: str, year: int | None = None) -> int:
        """A figure of the plan the generation scales from (the policy's [city] `figure`, or
        with `year` that year's `target_persons_out`): Nanxiong's, of the configured policy.
        A policy without its county's figures cannot be generated from."""
        value = getattr(self.policy.year(year) if year else self.policy, figure)
        if value is None:
            raise ValueError(
                f"the policy carries no {figure}: a generation scales a plan's figures"
            )
        return int(value)

    @property
    def poor_villages(self) -> int:
        """Poor villages of this county: Nanxiong's 68, others in proportion to their villages."""
        return max(1, int(round(self.plan("poor_villages") * self.county_factor)))

    @property
    def id_slot(self) -> int | None:
        """In a city, the county's place in the city's county list (its block of ID sequence
        numbers for people born elsewhere); None for the single-county twin."""
        if not self.city:
            return None
        return sorted(city_counties()).index(self.county)

    @property
    def id_county(self) -> tuple[str, int] | None:
        """(county, slot) for `identities.assign_ids`; None for the single-county twin."""
        slot = self.id_slot
        return None if slot is None else (self.county, slot)

    def family_prefix(self, kind: str, township_code: str) -> str:
        """The 家庭编号 prefix (NB, CB, TK + township): in a city the county's digits too."""
        return kind + (township_code[4:] if self.city else township_code[-3:])

    def insured_key(self, pid: int, extra: bool = False) -> str:
        """个人编号 of the enrolment extract (`extra`: people the injections add)."""
        return f"{self.insured_prefix(extra)}{pid:07d}"

    def insured_prefix(self, extra: bool = False) -> str:
        head = self.county if self.city else "440282"
        return f"{head}{9 if extra else 0}"

    @property
    def settlement_tag(self) -> str:
        """Put after the date in a 结算流水号, so that counties never share one."""
        return self.county[2:] if self.city else ""

    def rng(self, stream: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(stream.encode())])

    def random(self, stream: str) -> random.Random:
        return random.Random(self.seed * 1_000_003 + zlib.crc32(stream.encode()))
