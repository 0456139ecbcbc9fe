"""What only appears across the counties of a city, injected after each county's own
injections (so that none of those can undo it) into people and households they left alone.

Each county A is paired with the next county B of the city (by code, cyclically), and gives:
- `duplicate_across_counties`: a person of A, active in A's roster, also listed, active, in a
  household of B (R16 for the identity, shown to A and B; no R06, no R01);
- `insured_elsewhere`: a poor person of A whose enrolment rows name a village of B (insured:
  no R01);
- `died_elsewhere`: a poor person of A, active in A's roster, stopped in B's 低保 roll with
  停保原因 死亡 (R05 in A).
The persons of A come from households no injection touched (`ordinary`: 一般贫困户,
labour-capable, no 低保 at all), so that nothing else follows from them; where a small county
has none left, from any household, a person no injection touched (what follows from a person
of these cases is about that person only).  A guest listed in B is never in school dropout or
covered by 低保, and labour-capable only when no other person is left and then only in a
labour-capable household, so that the host household's R03, R04, R10 and R12 stay as they
were whichever household hosts it (an untouched one when there is one).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import timedelta

from config.schema import LABOUR_CAPABLE

from .extracts import CROSS_UID
from .inject import Injection, Injector
from .inject.base import rec_ok
from .params import GenParams
from .roster import HouseholdRecord, Roster, RosterRow, row_of_person
from .world import DibaoRow, World

# At scale 1 per county (as the county whose person it is); scaled, at least one each.
CROSS_COUNTS: dict[str, int] = {
    "duplicate_across_counties": 12,
    "insured_elsewhere": 15,
    "died_elsewhere": 8,
}


@dataclass
class CountyTwin:
    """One county of a generated city, built and spoiled on its own (`core.build_inbox`'s
    first half), before anything is written."""

    code: str
    name: str
    params: GenParams
    world: World
    roster: Roster
    styles: dict
    injector: Injector
    # pid -> (township_code, township, village) its enrolment rows name (insured elsewhere)
    enrol_place: dict[int, tuple[str, str, str]] = field(default_factory=dict)
    guests: set[str] = field(default_factory=set)  # identities of other counties listed here


@dataclass
class CrossInjection:
    """An injection that involves two counties; `county` is where its findings are expected."""

    county: str
    other: str
    injection: Injection


def pairs(codes: list[str]) -> list[tuple[str, str]]:
    """(A, B): each county with the next one by code, cyclically; one pair for two counties
    would leave the second county without cases of its own, so two counties give (A, B), (B, A)."""
    codes = sorted(codes)
    return [(codes[i], codes[(i + 1) % len(codes)]) for i in range(len(codes))]


def inject_cross(twins: dict[str, CountyTwin]) -> list[CrossInjection]:
    """Every cross-county case, in a fixed order (A by code, then the kinds in order).

    Every county's persons are picked first, then the other county's part of each case (host
    household, village, roll row): which persons a county gives therefore depends on that
    county alone, not on the county it is paired with."""
    log: list[CrossInjection] = []
    work = [_Pair(twins[a], twins[b], log) for a, b in pairs(list(twins))]
    for pair in work:
        pair.pick()
    for pair in work:
        pair.apply()
    return log


class _Pair:
    def __init__(self, a: CountyTwin, b: CountyTwin, log: list[CrossInjection]):
        self.a, self.b, self.log = a, b, log
        # A's choices depend on A alone; B's (host household, village) on B and the pair.
        self.rng_a = a.params.rng("cross-persons")
        self.rng_b = b.params.rng(f"cross-host-{a.code}")

    def pick(self) -> None:
        """A's persons for every case (A's random stream and households only)."""
        n = {k: self.a.params.count(v) for k, v in CROSS_COUNTS.items()}
        self.guests = [self.person_of_a(guest=True) for _ in range(n["duplicate_across_counties"])]
        self.insured = [self.person_of_a() for _ in range(n["insured_elsewhere"])]
        self.dead = [self.person_of_a(adult=True) for _ in range(n["died_elsewhere"])]

    def apply(self) -> None:
        for picked in self.guests:
            if picked is not None:
                self.duplicate(picked)
        for picked in self.insured:
            if picked is not None:
                self.insured_elsewhere(picked)
        for picked in self.dead:
            if picked is not None:
                self.died_elsewhere(picked)

    # ------------------------------------------------------------ picking

    def person_of_a(
        self, adult: bool = False, guest: bool = False
    ) -> tuple[RosterRow, HouseholdRecord] | None:
        """An active, plain row no injection touched: of an untouched ordinary household of A
        (reserved, so that one household gives one case), else of any household.  `guest`:
        a person who may be listed in another household (see the module's note)."""
        inj = self.a.injector
        as_of = self.a.params.as_of
        busy = _busy(inj)

        def ok(r: RosterRow, h: HouseholdRecord, resting: bool = True) -> bool:
            return (
                inj.plain_row(r)
                and r.person.pid not in inj.touched_pids
                and r.person.pid not in busy.pids
                and r.person.identity not in busy.identities
                and r.person.identity not in self.a.guests
                and (not adult or r.person.age_on(as_of) >= 18)
                and (
                    not guest
                    or (
                        (r.labour not in LABOUR_CAPABLE or not resting)
                        and r.school != "义务教育阶段辍学"
                        and not any(d.pid == r.person.pid for d in inj.dibao_of(h))
                    )
                )
            )

        inj.rng = self.rng_a
        picked = inj.rows(lambda r, h: ok(r, h) and inj.ordinary(h) and rec_ok(h), 1)
        if picked:
            return picked[0]
        for resting in (True, False) if guest else (True,):
            for rec in _shuffled(inj, self.rng_a):
                rows = [r for r in rec.rows if ok(r, rec, resting)]
                if rows:
                    row = rows[int(self.rng_a.integers(len(rows)))]
                    inj.touched_pids.add(row.person.pid)
                    return row, rec
        return None

    def host_of_b(self, working_guest: bool = False) -> HouseholdRecord | None:
        """An active household of B whose 家庭人口 is a number (labour-capable for a guest who
        is): an untouched one if any is left."""
        inj = self.b.injector
        inj.rng = self.rng_b

        def ok(h: HouseholdRecord) -> bool:
            return (
                rec_ok(h)
                and isinstance(h.family_size, int)
                and not isinstance(h.family_size, bool)
                and (not working_guest or _capable(h))
            )

        picked = inj.households(lambda h: ok(h) and inj._untouched(h), 1)
        if picked:
            return picked[0]
        return next((h for h in _shuffled(inj, self.rng_b) if ok(h)), None)

    def record(
        self,
        county: str,
        code: str,
        rec: HouseholdRecord,
        row: RosterRow,
        expect: list[tuple[str, str]],
        absent: list[tuple[str, str]],
        note: str,
        host: bool = False,
    ) -> None:
        injection = Injection(
            "finding" if expect else "hard_negative",
            code,
            "cross_county_host" if host else "cross_county",
            township_code=rec.township_code,
            household_id=rec.hh_id,
            person_id=row.person.identity,
            expect=expect,
            absent=absent,
            note=note,
        )
        other = self.b.code if county == self.a.code else self.a.code
        self.log.append(CrossInjection(county, other, injection))

    # ------------------------------------------------------------ the cases

    def duplicate(self, picked: tuple[RosterRow, HouseholdRecord]) -> None:
        host = self.host_of_b(working_guest=picked[0].labour in LABOUR_CAPABLE)
        if host is None:
            return
        row, rec = picked
        p = row.person
        extra = copy.copy(row)  # what A's clerk wrote about the person, in B's village
        model = row_of_person(p, host.household)
        extra.village, extra.township, extra.relation = model.village, model.township, "其他"
        extra.cell_overrides, extra.issues = {}, []
        host.rows.append(extra)
        self.b.guests.add(p.identity)
        assert isinstance(host.family_size, int)
        host.family_size += 1  # 家庭人口 counts the active members, the guest included
        i = p.identity
        note = f"{self.a.name}的贫困人口同时在{self.b.name}{host.household.village.township}户{host.hh_id}正常在册"
        self.record(self.a.code, "R16", rec, row, [("R16", i)], [("R06", i), ("R01", i)], note)
        self.record(
            self.b.code, "R16", host, extra, [("R16", i)], [("R06", i), ("R01", i)], note, True
        )

    def insured_elsewhere(self, picked: tuple[RosterRow, HouseholdRecord]) -> None:
        row, rec = picked
        villages = self.b.world.geo.villages
        v = villages[int(self.rng_b.integers(len(villages)))]
        self.a.enrol_place[row.person.pid] = (v.township_code, v.township, v.short)
        self.record(
            self.a.code,
            "insured_elsewhere",
            rec,
            row,
            [],
            [("R01", row.person.identity)],
            f"医保参保地为{self.b.name}{v.township}{v.short}：已参保，不应报应参未参",
        )

    def died_elsewhere(self, picked: tuple[RosterRow, HouseholdRecord]) -> None:
        row, rec = picked
        p = row.person
        world_b, params_b = self.b.world, self.b.params
        villages = world_b.geo.villages
        v = villages[int(self.rng_b.integers(len(villages)))]
        prefix = params_b.family_prefix("NB", v.township_code)
        seq = world_b.next_family_seq
        seq[prefix] = seq.get(prefix, 0) + 1
        fid = f"{prefix}-{seq[prefix]:05d}"
        as_of = params_b.as_of
        stop = as_of - timedelta(days=int(self.rng_b.integers(20, 160)))
        start = (stop - timedelta(days=int(self.rng_b.integers(200, 900)))).replace(day=1)
        uid = CROSS_UID + sum(1 for d in world_b.dibao if d.uid >= CROSS_UID)
        world_b.dibao.append(
            DibaoRow(
                uid=uid,
                family_id=fid,
                township_code=v.township_code,
                township=v.township,
                village=v.short,
                pid=p.pid,
                name=p.name,
                identity=p.identity,
                relation="户主",
                category="农村低保",
                family_size=1,
                monthly_amount=float(self.rng_b.integers(260, 420)),
                status="停保",
                start_date=start,
                stop_date=stop,
                stop_reason="死亡",
            )
        )
        self.record(
            self.a.code,
            "R05",
            rec,
            row,
            [("R05", p.identity)],
            [("R01", p.identity)],
            f"{self.b.name}低保名册{fid}记其停保原因为死亡，{self.a.name}花名册仍正常在册",
        )


def _shuffled(inj: Injector, rng) -> list[HouseholdRecord]:
    """Every loaded household of a county (used by an injection or not), in a seeded order."""
    records = inj.roster.records()
    return [records[int(i)] for i in rng.permutation(len(records))]


@dataclass
class _Busy:
    pids: set[int]
    identities: set[str]


def _busy(inj: Injector) -> _Busy:
    """People an injection of the county is about: listed twice, or named in the log."""
    pids = {
        r.person.pid
        for rec in inj.roster.records(include_foreign=True)
        for r in rec.rows
        if r.duplicate
    }
    identities = {i.person_id for i in inj.log} | {
        k for i in inj.log for _, k in (*i.expect, *i.absent)
    }
    return _Busy(pids, identities)


def _capable(h: HouseholdRecord) -> bool:
    """Labour-capable as the roster says (what the rules read), not as the household truly is."""
    return any(r.loaded and r.active and r.labour in LABOUR_CAPABLE for r in h.rows)
