"""What each township's clerk holds: the roster as written, before any formatting.

The true population (`population`) never changes after it is built; the roster is a copy
that injections may spoil (a mistyped ID, a homophone name, a missing cadre …). Values are
logical: a canonical enumeration value, a number, or `Raw` text that no parser can read
(`不详`). `mess` decides later how each value is typed into a cell; the truth is derived
from these values, since they are what a correct pipeline reads back.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from config.settings import village_short

from .population import Household, Person, Population


class Raw(str):
    """Text written instead of a value, that a parser cannot read (e.g. 家庭人口 `不详`)."""


@dataclass
class RosterRow:
    person: Person
    village: str  # as written (short or full name; a wrong one for village_not_in_township)
    name: str
    id_raw: object  # str as typed, float for an ID Excel turned into a number, int for a 15-digit number
    sex: str
    relation: str
    labour: str
    health: str
    school: str
    status: str  # '' means blank (counts as 正常)
    township: str = ""  # as written in the 乡镇 column; another township's name for foreign rows
    loaded: bool = True  # False: a row of another township, reported and not loaded
    duplicate: bool = False  # an extra row of a person already listed (R06)
    cell_overrides: dict[str, object] = field(default_factory=dict)  # column key -> exact cell text
    # data-quality issues this row carries, (kind, column): kept by the timeline with the data
    issues: list[tuple[str, str]] = field(default_factory=list)
    # filled by the layout
    file: str = ""
    sheet: str = ""
    row_no: int = 0

    @property
    def active(self) -> bool:
        return self.status in ("", "正常")


@dataclass
class HouseholdRecord:
    hh_id: str
    household: Household
    township_code: str  # the household's own township
    attribute: str
    family_size: int | Raw | None  # None means blank
    income: float | Raw
    exit_status: str
    exit_year: int | None
    housing: str
    water_safe: bool | None
    support_unit: str
    cadre: str
    phone: str
    cause: str
    rows: list[RosterRow] = field(default_factory=list)
    foreign_copy: bool = False  # listed in a neighbour's workbook, not loaded
    issues: list[tuple[str, str]] = field(default_factory=list)  # household-level (kind, column)
    first_row: int = 0  # filled by the layout
    file: str = ""
    sheet: str = ""

    @property
    def village(self) -> str:
        return village_short(self.household.village.name)

    @property
    def loaded_rows(self) -> list[RosterRow]:
        return [r for r in self.rows if r.loaded]


@dataclass
class Roster:
    """Households per township workbook, in the order the clerk lists them."""

    workbooks: dict[str, list[HouseholdRecord]]

    def records(self, include_foreign: bool = False) -> list[HouseholdRecord]:
        return [
            h for hs in self.workbooks.values() for h in hs if include_foreign or not h.foreign_copy
        ]

    def by_hh(self) -> dict[str, HouseholdRecord]:
        return {h.hh_id: h for h in self.records()}

    def rows(self) -> list[RosterRow]:
        return [r for h in self.records() for r in h.rows if r.loaded]


def record_of(hh: Household) -> HouseholdRecord:
    rec = HouseholdRecord(
        hh_id=hh.hh_id,
        household=hh,
        township_code=hh.township_code,
        attribute=hh.attribute,
        family_size=len(hh.active_members) if all(p.active for p in hh.members) else None,
        income=hh.income,
        exit_status=hh.exit_status,
        exit_year=hh.exit_year if hh.exit_status in ("已脱贫", "返贫") else None,
        housing=hh.housing,
        water_safe=hh.water_safe,
        support_unit=hh.support_unit,
        cadre=hh.cadre,
        phone=hh.phone,
        cause=hh.cause,
    )
    for p in hh.members:
        rec.rows.append(row_of_person(p, hh))
    return rec


def row_of_person(p: Person, hh: Household) -> RosterRow:
    return RosterRow(
        person=p,
        village=village_short(hh.village.name),
        name=p.name,
        id_raw=p.identity,
        sex=p.sex,
        relation=p.relation,
        labour=p.labour,
        health=p.health,
        school=p.school,
        status=p.status,
        township=hh.village.township,
    )


def build_roster(pop: Population) -> Roster:
    """One workbook per township; households by village then household number."""
    workbooks: dict[str, list[HouseholdRecord]] = {}
    for hh in sorted(pop.households, key=lambda h: h.hh_id):
        workbooks.setdefault(hh.township_code, []).append(record_of(hh))
    return Roster(dict(sorted(workbooks.items())))


def foreign_copy(rec: HouseholdRecord) -> HouseholdRecord:
    """A neighbour's household copied into this workbook by mistake: kept out of the load."""
    clone = copy.copy(rec)
    clone.rows = [copy.copy(r) for r in rec.rows]
    for r in clone.rows:
        r.loaded = False
        r.cell_overrides = dict(r.cell_overrides)
    clone.foreign_copy = True
    return clone
