"""What civil affairs and medical insurance send month after month.

Civil affairs sends the whole 低保/特困 roll every month: households found uncovered get
covered (应保未保 resolves), deaths stop people's support (死亡未销号 appears until the
township marks them), a family outside the register gets support (疑似漏评) and another one
stops, and the export now and then fixes or gains a bad cell.  Medical insurance sends the
current year's enrolment in some months: uninsured poor persons enrolled (应参未参 resolves),
full subsidies set (参保未资助 resolves), deaths recorded, someone's enrolment suspended.

No edit touches a person, household or family of the townships `frozen` that night (those
whose submission that night must leave their truth as it was: a held or a duplicate
workbook); only a bad cell of the export, which changes no finding, may come or go anywhere.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from .clerks import may_die
from .extracts import enrolment_frames
from .inforce import DibaoRoll, EnrolmentTag, EnrolmentYear, InForce
from .params import GenParams
from .roster import HouseholdRecord, RosterRow
from .truth import written_key
from .world import DibaoRow, World

# 低保 text column of an issue -> what the export fixes when it corrects the cell
DIBAO_TEXT = {
    "停保日期": "stop_date",
    "月保障金额": "monthly_amount",
    "保障类别": "category",
    "停保原因": "stop_reason",
    "姓名": "name",
}
BAD_STOP_DATES = ("2018-02-30", "20181301", "2018年13月1日", "2018.2.30")


@dataclass
class Outcome:
    """What one delivery changed, for the arrival's note."""

    done: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, n: int = 1) -> None:
        if n:
            self.done[what] = self.done.get(what, 0) + n

    def note(self) -> str:
        return "; ".join(f"{k} {v}" for k, v in self.done.items()) or "no change in the data"


Member = tuple[str, HouseholdRecord, RosterRow]


def roster_members(state: InForce, frozen: set[str]) -> list[Member]:
    """Active persons of the rosters in force whose row is plain (their own valid ID and
    name, no issue): the ones a bureau's news can be about."""
    out = []
    for code in sorted(state.townships):
        if code in frozen:
            continue
        for rec in state.townships[code].own:
            for r in rec.loaded_rows:
                if (
                    r.active
                    and not r.duplicate
                    and not r.issues
                    and r.id_raw == r.person.identity
                    and r.name == r.person.name
                    and written_key(r.id_raw)[1] == "valid"
                ):
                    out.append((code, rec, r))
    return out


class Bureaus:
    def __init__(self, world: World, params: GenParams):
        self.params = params
        self.people = world.people
        self.geo = world.geo
        self.pid_of = dict(
            zip(world.people["identity"].to_list(), world.people["pid"].to_list(), strict=True)
        )
        self.family_seq = dict(world.next_family_seq)
        self.next_uid = max((r.uid for r in world.dibao), default=0) + 1
        self.deceased: dict[int, date] = {}  # pid -> date of death a bureau recorded

    # ------------------------------------------------------------ 低保

    def next_roll(
        self,
        roll: DibaoRoll,
        state: InForce,
        findings: pl.DataFrame,
        as_of: date,
        previous: date,
        rng: np.random.Generator,
        frozen: set[str],
    ) -> tuple[list[DibaoRow], Outcome]:
        rows = [dataclasses.replace(r, text=dict(r.text), issues=list(r.issues)) for r in roll.rows]
        out = Outcome()
        month_start = as_of.replace(day=1)

        def open_findings(rule: str) -> list[tuple[str, str]]:
            f = findings.filter(
                (pl.col("rule") == rule) & ~pl.col("township_code").is_in(list(frozen))
            )
            return sorted(f.select("key", "township_code").iter_rows())

        # 应保未保: the households of 低保/特困 attribute get a family of their own
        records = {
            h.hh_id: h for code in sorted(state.townships) for h in state.townships[code].own
        }
        due = [
            records[k]
            for k, _ in open_findings("R03")
            if k in records and records[k].attribute in ("低保贫困户", "特困供养贫困户")
        ]
        for i in rng.permutation(len(due))[: self.params.count(3)]:
            rec = due[int(i)]
            category = "特困供养" if rec.attribute == "特困供养贫困户" else "农村低保"
            members = [r.person for r in rec.loaded_rows if r.active and not r.duplicate]
            fid = self._family_id(category, rec.township_code)
            for p in members:
                rows.append(
                    self._row(
                        fid,
                        rec.township_code,
                        rec.household.village.township,
                        rec.village,
                        p.pid,
                        p.name,
                        p.identity,
                        p.relation,
                        category,
                        len(members),
                        month_start,
                        rng,
                        poor=True,
                    )
                )
            out.add("households covered (应保未保 resolved)")

        # deaths: the support of a listed person stops with 停保原因 死亡
        covered = {r.pid: r for r in rows if r.covered_on(as_of)}
        candidates = [
            (c, h, r)
            for c, h, r in roster_members(state, frozen)
            if r.person.pid in covered and r.person.pid not in self.deceased and may_die(h, r)
        ]
        for i in rng.permutation(len(candidates))[: self.params.count(3)]:
            _, _, row = candidates[int(i)]
            d = covered[row.person.pid]
            span = max((as_of - previous).days - 1, 1)
            stop = max(
                as_of - timedelta(days=int(rng.integers(0, span))), d.start_date + timedelta(days=1)
            )
            d.status, d.stop_date, d.stop_reason = "停保", stop, "死亡"
            self.deceased[row.person.pid] = stop
            out.add("deaths recorded (死亡未销号 until the township marks them)")

        # a rural family outside the register gets support (疑似漏评)
        if rng.random() < 0.5:
            got = self._resident_family(rows, frozen, month_start, rng)
            if got:
                rows.extend(got)
                out.add("new rural family outside the register (R11)")

        # a family outside the register stops (收入超标)
        r11 = open_findings("R11")
        if r11 and rng.random() < 0.35:
            fid = r11[int(rng.integers(len(r11)))][0]
            for d in rows:
                if d.family_id == fid and d.status == "在保":
                    d.status, d.stop_reason = "停保", "收入超标"
                    d.stop_date = max(month_start, d.start_date + timedelta(days=1))
            out.add("R11 family stopped")

        # the export fixes a bad cell, or gains one
        tagged = [d for d in rows if d.issues]
        if tagged and rng.random() < 0.3:
            d = tagged[int(rng.integers(len(tagged)))]
            kind, col = d.issues[0]
            if col == "证件号码":
                d.id_written = ""
            else:
                d.text.pop(DIBAO_TEXT.get(col, ""), None)
            d.issues.remove((kind, col))
            out.add(f"{kind} fixed")
        spare = [
            d
            for d in rows
            if not d.poor
            and d.status == "停保"
            and d.stop_date is not None
            and not d.text
            and not d.issues
        ]
        if spare and rng.random() < 0.3:
            d = spare[int(rng.integers(len(spare)))]
            d.text["stop_date"] = BAD_STOP_DATES[int(rng.integers(len(BAD_STOP_DATES)))]
            d.issues.append(("bad_date", "停保日期"))
            out.add("bad_date new")
        return rows, out

    def _family_id(self, category: str, township_code: str) -> str:
        kind = {"农村低保": "NB", "城市低保": "CB", "特困供养": "TK"}[category]
        prefix = kind + township_code[-3:]
        self.family_seq[prefix] = self.family_seq.get(prefix, 0) + 1
        return f"{prefix}-{self.family_seq[prefix]:05d}"

    def _row(
        self,
        fid: str,
        township_code: str,
        township: str,
        village: str,
        pid: int,
        name: str,
        identity: str,
        relation: str,
        category: str,
        size: int,
        start: date,
        rng: np.random.Generator,
        poor: bool,
    ) -> DibaoRow:
        uid = self.next_uid
        self.next_uid += 1
        amount = {"农村低保": (260, 420), "特困供养": (760, 980)}[category]
        return DibaoRow(
            uid=uid,
            family_id=fid,
            township_code=township_code,
            township=township,
            village=village,
            pid=pid,
            name=name,
            identity=identity,
            relation=relation,
            category=category,
            family_size=size,
            monthly_amount=float(rng.integers(*amount)),
            status="在保",
            start_date=start,
            poor=poor,
        )

    def _resident_family(
        self, rows: list[DibaoRow], frozen: set[str], start: date, rng: np.random.Generator
    ) -> list[DibaoRow]:
        listed = {d.pid for d in rows}
        villages = [
            (v.township_code, v.short) for v in self.geo.villages if v.township_code not in frozen
        ]
        places = pl.DataFrame(
            {"township_code": [c for c, _ in villages], "village": [s for _, s in villages]},
            schema={"township_code": pl.Utf8, "village": pl.Utf8},
        )
        pool = (
            self.people.filter(
                (pl.col("kind") == "resident")
                & pl.col("death_date").is_null()
                & pl.col("id_text").is_null()
                & pl.col("name_text").is_null()
            )
            .join(places, on=["township_code", "village"], how="semi")
            .filter(~pl.col("pid").is_in(list(listed)))
        )
        if not pool.height:
            return []
        p = pool.row(int(rng.integers(pool.height)), named=True)
        fid = self._family_id("农村低保", p["township_code"])
        return [
            self._row(
                fid,
                p["township_code"],
                p["township"],
                p["village"],
                p["pid"],
                p["name"],
                p["identity"],
                "户主",
                "农村低保",
                1,
                start,
                rng,
                poor=False,
            )
        ]

    # ------------------------------------------------------------ enrolment

    def next_enrolment(
        self,
        state: InForce,
        findings: pl.DataFrame,
        as_of: date,
        rng: np.random.Generator,
        frozen: set[str],
    ) -> tuple[pl.DataFrame, list[EnrolmentTag], Outcome]:
        """This year's enrolment rows as the bureau now exports them, and their issues."""
        year = as_of.year
        out = Outcome()
        if year in state.enrolment:
            base = state.enrolment[year].rows
            tags = list(state.enrolment[year].tags)
        else:  # a new insurance year: everyone alive enrolled again
            last = state.enrolment[max(y for y in state.enrolment if y < year)]
            base = last.rows.filter(pl.col("person_status") == "正常").with_columns(
                year=pl.lit(year, pl.Int16), enrol_status=pl.lit("参保缴费")
            )
            tags = [t for t in last.tags if t.year is None]
            out.add(f"insurance year {year} opened")
        rows = {p: i for i, p in enumerate(base["pid"].to_list())}
        status = base["enrol_status"].to_list()
        person = base["person_status"].to_list()
        subsidy = base["subsidy"].to_list()
        added: list[dict] = []

        def open_pids(rule: str) -> list[int]:
            f = findings.filter(
                (pl.col("rule") == rule) & ~pl.col("township_code").is_in(list(frozen))
            )
            keys = sorted(set(f["key"].to_list()))
            return [self.pid_of[k] for k in keys if k in self.pid_of]

        base_of = self._people_of(open_pids("R01") + open_pids("R02"))
        r01 = open_pids("R01")
        for i in rng.permutation(len(r01))[: max(1, len(r01) // 2) if r01 else 0]:
            pid = r01[int(i)]
            if pid in rows:
                status[rows[pid]] = "参保缴费"
            else:
                added.append(
                    {
                        "pid": pid,
                        "year": year,
                        "enrol_status": "参保缴费",
                        "person_status": "正常",
                        "subsidy": base_of.get(pid, ("poor", "建档立卡贫困人口"))[1],
                    }
                )
            out.add("enrolled (应参未参 resolved)")
        r02 = [p for p in open_pids("R02") if base_of.get(p, ("", ""))[0] == "poor" and p in rows]
        for i in rng.permutation(len(r02))[: max(1, len(r02) // 2) if r02 else 0]:
            pid = r02[int(i)]
            subsidy[rows[pid]] = base_of[pid][1]
            out.add("subsidy set (参保未资助 resolved)")

        for pid, day in sorted(self.deceased.items()):
            if day.year == year and pid in rows and person[rows[pid]] != "死亡":
                person[rows[pid]] = "死亡"
                out.add("deaths of the 低保 roll recorded")
        covered = {d.pid for d in state.dibao.rows if d.covered_on(as_of)}
        members = [
            (c, h, r)
            for c, h, r in roster_members(state, frozen)
            if r.person.pid not in covered
            and r.person.pid not in self.deceased
            and r.person.pid in rows
            and status[rows[r.person.pid]] == "参保缴费"
            and person[rows[r.person.pid]] == "正常"
        ]
        picked = [int(i) for i in rng.permutation(len(members))[: self.params.count(3) + 1]]
        for i in picked[:-1]:
            _, h, r = members[i]
            if may_die(h, r):
                person[rows[r.person.pid]] = "死亡"
                self.deceased[r.person.pid] = as_of
                out.add("deaths recorded (死亡未销号 until the township marks them)")
        if picked and rng.random() < 0.5:
            _, _, r = members[picked[-1]]
            status[rows[r.person.pid]] = "暂停参保"
            out.add("enrolment suspended (应参未参)")

        fixable = [
            t for t in tags if t.year == year and t.kind == "invalid_value" and t.pid in rows
        ]
        if fixable and rng.random() < 0.5:
            t = fixable[int(rng.integers(len(fixable)))]
            status[rows[t.pid]] = "参保缴费"
            tags.remove(t)
            out.add("invalid_value fixed")

        frame = base.with_columns(
            enrol_status=pl.Series(status, dtype=pl.Utf8),
            person_status=pl.Series(person, dtype=pl.Utf8),
            subsidy=pl.Series(subsidy, dtype=pl.Utf8),
        )
        if added:
            frame = pl.concat([frame, pl.DataFrame(added, schema=frame.schema)])
        return frame, tags, out

    def _people_of(self, pids: list[int]) -> dict[int, tuple[str, str]]:
        """pid -> (kind, subsidy_base)."""
        if not pids:
            return {}
        sub = self.people.filter(pl.col("pid").is_in(pids)).select("pid", "kind", "subsidy_base")
        return {p: (k, s) for p, k, s in sub.iter_rows()}

    def enrolment_year(
        self, frame: pl.DataFrame, tags: list[EnrolmentTag], rel: str, night: int, year: int
    ) -> tuple[EnrolmentYear, pl.DataFrame]:
        """(the year in force once the file is accepted, the file's text)."""
        logical, text = enrolment_frames(self.people, frame, first_line=2)
        return EnrolmentYear(rel, night, year, frame, logical, tags), text
