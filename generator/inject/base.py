"""The injector's common ground: the log records, target picking, and lookups into the
twin that several kinds of injection need."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from config.schema import COMPULSORY_GRADES
from transforms.ids import EXCEL_MANGLED, parse_id

from .. import names
from ..extracts import ClaimEdits, EnrolmentEdits
from ..mess import Style
from ..params import HARD_NEGATIVE_COUNTS, ISSUE_COUNTS, RULE_COUNTS, RULE_MINIMUM, GenParams
from ..population import Person
from ..roster import HouseholdRecord, Roster, RosterRow
from ..world import DibaoRow, World

COMPULSORY = COMPULSORY_GRADES


@dataclass
class Injection:
    kind: str  # finding | issue | hard_negative
    code: str  # rule (R01 …), issue kind, or hard-negative name
    variant: str
    township_code: str = ""
    household_id: str = ""
    person_id: str = ""
    expect: list[tuple[str, str]] = field(default_factory=list)  # (rule, key) that must be found
    absent: list[tuple[str, str]] = field(
        default_factory=list
    )  # (rule, key) that must not be found
    note: str = ""


@dataclass
class IssueRef:
    """A data-quality issue pointing at a logical cell; resolved to file/sheet/row later."""

    kind: str
    column: str  # canonical Chinese header ('' for household-level kinds)
    township_code: str
    household_id: str = ""
    row: RosterRow | None = None
    record: HouseholdRecord | None = None
    source: str = "townships"  # or dibao / insurance / claims
    # DibaoRow.uid (dibao), (pid, year|None) (insurance) or settlement_id (claims)
    source_ref: int | tuple[int, int | None] | str | None = None


def _mistype(identity: str, pick: int, swap: bool) -> str:
    """One substituted digit, or two neighbours swapped; never a valid ID (GB 11643 catches both).

    The slip stays clear of the sex digit (the 17th), so that a reader who compares 性别
    with a written ID, even an invalid one, finds no extra sex_mismatch.  Nor may it leave
    text that reads as an ID Excel turned into a number (`…000`, real birth date, wrong check
    character): the file could not tell that typo (invalid_id) from excel_mangled_id, so the
    next pick is taken instead.
    """
    for k in range(pick, pick + 20):  # a slip in the year's first digits always ends the loop
        typo = _slip(identity, k, swap)
        if parse_id(typo).status != EXCEL_MANGLED:
            return typo
    raise ValueError(f"no slip of {identity[:6]}… that reads as a typo")


def _slip(identity: str, pick: int, swap: bool) -> str:
    if swap:
        positions = [i for i in range(15) if identity[i] != identity[i + 1]]
        i = positions[pick % len(positions)]
        return identity[:i] + identity[i + 1] + identity[i] + identity[i + 2 :]
    i = 6 + pick % 10  # in the birth date or the first sequence digits, where slips happen
    digit = str((int(identity[i]) + 1 + pick % 8) % 10)
    return identity[:i] + digit + identity[i + 1 :]


class InjectorBase:
    """Picks targets (each household used by one rule injection only) and keeps the log."""

    def __init__(self, world: World, roster: Roster, params: GenParams, styles: dict[str, Style]):
        self.world = world
        self.roster = roster
        self.params = params
        self.styles = styles
        self.rng = params.rng("inject")
        self.log: list[Injection] = []
        self.issues: list[IssueRef] = []
        self.enrol = EnrolmentEdits()
        self.claims = ClaimEdits()
        self.used_hh: set[str] = set()
        self.touched_pids: set[int] = set()
        self.year = params.year
        self.as_of = params.as_of
        self.line = params.policy.year(params.year).exit_line
        self._names: dict[str, str] | None = None
        self._prefix: dict[str, list[str]] | None = None
        self._dibao_index: dict[int, list[DibaoRow]] | None = None
        self._residents_cache: pl.DataFrame | None = None
        self._records: list[HouseholdRecord] | None = None  # loaded households never change
        self.next_uid = 10_000_000
        self.next_pid = world.people.height + 1_000_000

    # ------------------------------------------------------------ lookups

    @property
    def id_names(self) -> dict[str, str]:
        if self._names is None:
            self._names = dict(
                zip(
                    self.world.people["identity"].to_list(),
                    self.world.people["name"].to_list(),
                    strict=True,
                )
            )
        return self._names

    @property
    def prefix15(self) -> dict[str, list[str]]:
        if self._prefix is None:
            out: dict[str, list[str]] = {}
            for i in self.id_names:
                out.setdefault(i[:15], []).append(i)
            self._prefix = out
        return self._prefix

    def dibao_of(self, hh: HouseholdRecord) -> list[DibaoRow]:
        if self._dibao_index is None:
            index: dict[int, list[DibaoRow]] = {}
            for r in self.world.dibao:
                if r.poor:
                    index.setdefault(r.pid, []).append(r)
            self._dibao_index = index
        return [r for p in hh.household.members for r in self._dibao_index.get(p.pid, [])]

    def covered_rows(self, hh: HouseholdRecord) -> list[DibaoRow]:
        return [r for r in self.dibao_of(hh) if r.covered_on(self.as_of)]

    def own_prefix(self, identity: str) -> bool:
        """Whether no other county of a city can hold an ID with these first 15 digits (born
        in this county: only it mints that block); always true without a city."""
        return not self.params.city or identity[:6] == self.params.county

    def exited(self, rec: HouseholdRecord) -> bool:
        return (
            rec.exit_status == "已脱贫"
            and isinstance(rec.exit_year, int)
            and rec.exit_year <= self.year
        )

    # ------------------------------------------------------------ picking targets

    def households(
        self, predicate: Callable[[HouseholdRecord], bool], n: int, reserve: bool = True
    ) -> list[HouseholdRecord]:
        """Up to n unused households satisfying predicate, in a seeded random order."""
        if self._records is None:
            self._records = self.roster.records()
        records = self._records
        chosen: list[HouseholdRecord] = []
        if n <= 0:
            return chosen
        for i in self.rng.permutation(len(records)):
            h = records[int(i)]
            if h.hh_id not in self.used_hh and predicate(h):
                chosen.append(h)
                if len(chosen) == n:
                    break
        if reserve:
            self.used_hh.update(h.hh_id for h in chosen)
        return chosen

    def rows(
        self, predicate: Callable[[RosterRow, HouseholdRecord], bool], n: int, reserve: bool = True
    ) -> list[tuple[RosterRow, HouseholdRecord]]:
        """Up to n rows, one per household."""
        chosen = []
        for rec in self.households(lambda h: any(predicate(r, h) for r in h.rows), n, reserve):
            candidates = [r for r in rec.rows if predicate(r, rec)]
            row = candidates[int(self.rng.integers(len(candidates)))]
            self.touched_pids.add(row.person.pid)
            chosen.append((row, rec))
        return chosen

    def count(self, rule: str) -> int:
        return max(self.params.count(RULE_COUNTS[rule]), RULE_MINIMUM.get(rule, 1))

    def issue_count(self, kind: str) -> int:
        return self.params.count(ISSUE_COUNTS[kind])

    def hard_count(self, name: str) -> int:
        return max(
            self.params.count(HARD_NEGATIVE_COUNTS[name]), 2 if name == "id_written_variants" else 1
        )

    @staticmethod
    def variants(options: tuple[str, ...], n: int) -> list[str]:
        return [options[i % len(options)] for i in range(n)]

    def record(
        self,
        kind: str,
        code: str,
        variant: str,
        rec: HouseholdRecord | None = None,
        person: Person | None = None,
        expect: list[tuple[str, str]] | None = None,
        absent: list[tuple[str, str]] | None = None,
        note: str = "",
    ) -> Injection:
        inj = Injection(
            kind,
            code,
            variant,
            township_code=rec.township_code if rec else "",
            household_id=rec.hh_id if rec else "",
            person_id=person.identity if person else "",
            expect=expect or [],
            absent=absent or [],
            note=note,
        )
        self.log.append(inj)
        return inj

    def issue(
        self,
        kind: str,
        column: str,
        rec: HouseholdRecord,
        row: RosterRow | None = None,
        household_level: bool = False,
    ) -> None:
        self.issues.append(
            IssueRef(
                kind,
                column,
                rec.township_code if not rec.foreign_copy else self._workbook_of(rec),
                household_id=rec.hh_id,
                row=row,
                record=None if row is not None else rec,
            )
        )
        if household_level:
            self.issues[-1].column = ""

    def _workbook_of(self, rec: HouseholdRecord) -> str:
        for code, records in self.roster.workbooks.items():
            if any(r is rec for r in records):
                return code
        return rec.township_code

    @staticmethod
    def plain_row(r: RosterRow) -> bool:
        """An active, untouched row whose ID is still the person's own."""
        return (
            r.active
            and not r.duplicate
            and r.loaded
            and r.id_raw == r.person.identity
            and r.name == r.person.name
        )

    def ordinary(self, rec: HouseholdRecord) -> bool:
        """An active 一般贫困户 household, labour-capable, with no 低保 coverage at all."""
        return (
            rec.attribute == "一般贫困户"
            and rec.household.labour_capable
            and not self.dibao_of(rec)
            and all(self.plain_row(r) or not r.active for r in rec.rows)
        )

    def tail(self, rec: HouseholdRecord) -> list[tuple[str, str]]:
        """Findings that follow from touching a household that exited (R10 for housing or dropout)."""
        return [("R10", rec.hh_id)] if self.exited(rec) else []

    def _new_family(
        self,
        rec: HouseholdRecord,
        category: str,
        in_force: bool,
        reason: str = "",
        stop: date | None = None,
    ) -> str:
        """A 低保 family for the active members of a roster household (a new 家庭编号)."""
        fam_seq = self.world.next_family_seq
        prefix = self.params.family_prefix(
            {"农村低保": "NB", "特困供养": "TK"}[category], rec.township_code
        )
        fam_seq[prefix] = fam_seq.get(prefix, 0) + 1
        fid = f"{prefix}-{fam_seq[prefix]:05d}"
        members = [r.person for r in rec.rows if r.active and not r.duplicate]
        start = (self.as_of - timedelta(days=int(self.rng.integers(200, 700)))).replace(day=1)
        for p in members:
            self.next_uid += 1
            self.world.dibao.append(
                DibaoRow(
                    uid=self.next_uid,
                    family_id=fid,
                    township_code=rec.township_code,
                    township=rec.household.village.township,
                    village=rec.village,
                    pid=p.pid,
                    name=p.name,
                    identity=p.identity,
                    relation=p.relation,
                    category=category,
                    family_size=len(members),
                    monthly_amount=float(self.rng.integers(260, 420)),
                    status="在保" if in_force else "停保",
                    start_date=start,
                    stop_date=stop,
                    stop_reason=reason,
                    poor=True,
                )
            )
        self._dibao_index = None
        return fid

    def _insured_residents(self) -> pl.DataFrame:
        """Living residents insured (参保缴费) in Y with no bills: safe to point at."""
        if self._residents_cache is None:
            with_bills = self.world.settlements.select("pid").unique()
            y = self.world.enrolment.filter(
                (pl.col("year") == self.year) & (pl.col("enrol_status") == "参保缴费")
            ).select("pid")
            res = self.world.people.filter(
                (pl.col("kind") == "resident") & pl.col("death_date").is_null()
            )
            res = res.join(y, on="pid", how="semi").join(with_bills, on="pid", how="anti")
            self._residents_cache = res.sample(
                n=min(res.height, 5000), seed=int(self.rng.integers(1 << 31))
            )
        return self._residents_cache

    def _insured_resident(
        self, sex: str | None = None, exclude_sound: str | None = None
    ) -> dict | None:
        for cand in self._insured_residents().iter_rows(named=True):
            if cand["pid"] in self.touched_pids or (sex and cand["sex"] != sex):
                continue
            if exclude_sound is not None and names.pinyin_key(cand["name"]) == exclude_sound:
                continue
            self.touched_pids.add(cand["pid"])
            return cand
        return None

    def _sound_candidates(self, written: str, name: str, prefix: bool) -> list[str]:
        key = names.pinyin_key(name)
        if prefix:
            near = self.prefix15.get(written[:15], [])
        else:
            near = []
            for pos in range(18):
                for ch in "0123456789X":
                    if ch != written[pos] and (ch != "X" or pos == 17):
                        v = written[:pos] + ch + written[pos + 1 :]
                        if v in self.id_names:
                            near.append(v)
            for pos in range(17):
                if written[pos] != written[pos + 1]:
                    v = written[:pos] + written[pos + 1] + written[pos] + written[pos + 2 :]
                    if v in self.id_names:
                        near.append(v)
        return sorted(
            {
                c
                for c in near
                if self.id_names[c] == name or names.pinyin_key(self.id_names[c]) == key
            }
        )

    def _rename(self, row: RosterRow, new: str) -> None:
        """Change a person's real name everywhere (roster, 低保 roll, insurance)."""
        p = row.person
        p.name = new
        row.name = new
        for d in self.world.dibao:
            if d.pid == p.pid:
                d.name = new
        self.enrol.person_text.setdefault(p.pid, {})["name"] = new
        self.id_names[p.identity] = new

    def _free_rows(
        self, predicate: Callable[[RosterRow, HouseholdRecord], bool], n: int
    ) -> list[tuple[RosterRow, HouseholdRecord]]:
        """Rows of households no rule touched (issues must not change findings)."""
        return self.rows(
            lambda r, h: (
                self.plain_row(r) and r.person.pid not in self.touched_pids and predicate(r, h)
            ),
            n,
        )

    def _untouched(self, h: HouseholdRecord) -> bool:
        return all(self.plain_row(r) or not r.active for r in h.rows)


def rec_ok(h: HouseholdRecord) -> bool:
    return bool(h.household.active_members)
