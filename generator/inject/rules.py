"""Rule injections R01-R15: each breaks one household (or one 低保 family, or one bill) so that
exactly the logged findings follow."""

from __future__ import annotations

import copy
from datetime import timedelta

import polars as pl

from config.schema import LABOUR_CAPABLE
from transforms.ids import EXCEL_MANGLED

from .. import names
from ..identities import may_mint
from ..population import Person
from ..roster import HouseholdRecord, RosterRow
from ..truth import written_key
from .base import COMPULSORY, Injection, InjectorBase, _mistype


class RuleInjections(InjectorBase):
    """One method per rule; variants rotate so that every variant appears."""

    # ------------------------------------------------------------ R01 R02 R05: insurance

    def r01_uninsured(self) -> None:
        """Not insured in Y: the Y row is missing, suspended or terminated."""
        targets = self.rows(lambda r, h: self.plain_row(r), self.count("R01"))
        for (row, rec), variant in zip(
            targets,
            self.variants(("dropped", "suspended", "terminated"), len(targets)),
            strict=True,
        ):
            p = row.person
            if variant == "dropped":
                self.enrol.drop.add((p.pid, self.year))
            else:
                self.enrol.set_fields[(p.pid, self.year)] = {
                    "enrol_status": "暂停参保" if variant == "suspended" else "终止参保"
                }
            self.record("finding", "R01", variant, rec, p, expect=[("R01", p.identity)])

    def r02_unsubsidized(self) -> None:
        targets = self.rows(lambda r, h: self.plain_row(r), self.count("R02"))
        for row, rec in targets:
            p = row.person
            self.enrol.set_fields[(p.pid, self.year)] = {"subsidy": "无"}
            self.record("finding", "R02", "subsidy_none", rec, p, expect=[("R02", p.identity)])

    def r05_deceased(self) -> None:
        """Dead according to insurance (this year or last) or to the 低保 roll, still 正常 on the roster."""
        n = self.count("R05")
        n_dibao = n // 3
        pairs = self.rows(lambda r, h: self.plain_row(r), n - n_dibao)
        for i, (row, rec) in enumerate(pairs):
            p = row.person
            if i % 2 == 0 or self.year == 2016:
                self.enrol.set_fields[(p.pid, self.year)] = {"person_status": "死亡"}
                variant = "enrolment_dead_this_year"
            else:
                self.enrol.set_fields[(p.pid, self.year - 1)] = {"person_status": "死亡"}
                self.enrol.drop.add((p.pid, self.year))
                variant = "enrolment_dead_last_year"
            self.record(
                "finding",
                "R05",
                variant,
                rec,
                p,
                expect=[("R05", p.identity)],
                absent=[("R01", p.identity)],
            )
        for row, rec in self.rows(
            lambda r, h: (
                self.plain_row(r)
                and len(self.covered_rows(h)) >= 2
                and any(
                    d.pid == r.person.pid and d.covered_on(self.as_of) for d in self.dibao_of(h)
                )
            ),
            n_dibao,
        ):
            p = row.person
            d = next(d for d in self.dibao_of(rec) if d.pid == p.pid)
            d.status, d.stop_reason = "停保", "死亡"
            d.stop_date = max(
                d.start_date, self.as_of - timedelta(days=int(self.rng.integers(20, 200)))
            )
            self.record(
                "finding", "R05", "dibao_stopped_dead", rec, p, expect=[("R05", p.identity)]
            )

    # ------------------------------------------------------------ R03 R04: 低保 coverage

    def r03_dibao_missing(self) -> None:
        n = self.count("R03")
        kinds = self.variants(("family_missing", "family_stopped", "incapable_general"), n)
        for variant in kinds:
            if variant == "incapable_general":
                picked = self.households(lambda h: self.ordinary(h) and not self.exited(h), 1)
                if not picked:
                    continue
                rec = picked[0]
                for r in rec.rows:
                    if r.active and r.labour in LABOUR_CAPABLE:
                        r.labour = "丧失劳动力"
                self.record(
                    "finding",
                    "R03",
                    variant,
                    rec,
                    expect=[("R03", rec.hh_id)],
                    note="全部劳动力因病丧失劳动能力，未纳入低保",
                )
                continue
            picked = self.households(
                lambda h: h.attribute != "一般贫困户" and bool(self.covered_rows(h)), 1
            )
            if not picked:
                continue
            rec = picked[0]
            rows = self.dibao_of(rec)
            if variant == "family_missing":
                gone = {d.uid for d in rows}
                self.world.dibao = [d for d in self.world.dibao if d.uid not in gone]
                self._dibao_index = None
            else:
                stop = self.as_of - timedelta(days=int(self.rng.integers(30, 300)))
                for d in rows:
                    if d.status == "在保":
                        d.status, d.stop_reason, d.stop_date = (
                            "停保",
                            "其他",
                            max(stop, d.start_date + timedelta(days=1)),
                        )
            self.record("finding", "R03", variant, rec, expect=[("R03", rec.hh_id)])

    def r04_attribute_mismatch(self) -> None:
        n = self.count("R04")
        for variant in self.variants(
            ("general_covered", "dibao_member_tekun", "tekun_as_dibao", "attribute_typed_general"),
            n,
        ):
            if variant == "general_covered":
                picked = self.households(self.ordinary, 1)
                if picked:
                    rec = picked[0]
                    self._new_family(rec, "农村低保", in_force=True)
            elif variant == "dibao_member_tekun":
                picked = self.households(
                    lambda h: h.attribute == "低保贫困户" and bool(self.covered_rows(h)), 1
                )
                if picked:
                    rec = picked[0]
                    self.covered_rows(rec)[0].category = "特困供养"
            elif variant == "tekun_as_dibao":
                picked = self.households(
                    lambda h: h.attribute == "特困供养贫困户" and bool(self.covered_rows(h)), 1
                )
                if picked:
                    rec = picked[0]
                    for d in self.dibao_of(rec):
                        d.category = "农村低保"
            else:
                picked = self.households(
                    lambda h: h.attribute == "低保贫困户" and bool(self.covered_rows(h)), 1
                )
                if picked:
                    rec = picked[0]
                    rec.attribute = "一般贫困户"
            if picked:
                self.record("finding", "R04", variant, rec, expect=[("R04", rec.hh_id)])

    # ------------------------------------------------------------ R06 R09: identity held twice / under another name

    def r06_duplicates(self) -> None:
        n = self.count("R06")
        for variant in self.variants(("same_household", "other_household", "other_township"), n):
            src = self.households(
                lambda h: (
                    self.ordinary(h)
                    and any(
                        self.plain_row(r)
                        and r.labour not in LABOUR_CAPABLE
                        and r.relation != "户主"
                        for r in h.rows
                    )
                ),
                1,
            )
            if not src:
                continue
            rec = src[0]
            row = next(
                r
                for r in rec.rows
                if self.plain_row(r) and r.labour not in LABOUR_CAPABLE and r.relation != "户主"
            )
            dup = copy.copy(row)
            dup.duplicate = True
            dup.cell_overrides = {}
            if variant == "same_household":
                rec.rows.insert(rec.rows.index(row) + 1, dup)
                target = rec
            else:
                same = variant == "other_household"
                home = rec.township_code

                # a def rather than a lambda: mypy cannot infer a lambda with default arguments
                def placed(h: HouseholdRecord, home: str = home, same: bool = same) -> bool:
                    return self.ordinary(h) and (h.township_code == home) == same

                found = self.households(placed, 1)
                if not found:
                    rec.rows.insert(rec.rows.index(row) + 1, dup)
                    target = rec
                else:
                    target = found[0]
                    dup.relation = "其他"
                    # listed where the target lives, so the row belongs to the target's workbook
                    dup.township = target.household.village.township
                    dup.village = target.village
                    target.rows.append(dup)
            if isinstance(target.family_size, int):
                target.family_size += 1
            self.record(
                "finding",
                "R06",
                variant,
                rec,
                row.person,
                expect=[("R06", row.person.identity)],
                note=f"also listed in {target.hh_id}",
            )

    def r09_name_mismatch(self) -> None:
        n = self.count("R09")
        for variant in self.variants(("homophone", "other_persons_id", "sibling_id"), n):
            if variant == "homophone":
                for row, rec in self.rows(
                    lambda r, h: self.plain_row(r) and names.homophone_of(r.name, 0.37) is not None,
                    1,
                ):
                    row.name = names.homophone_of(row.name, 0.37) or row.name
                    self.record(
                        "finding",
                        "R09",
                        variant,
                        rec,
                        row.person,
                        expect=[("R09", row.person.identity)],
                        note="same pinyin",
                    )
            elif variant == "other_persons_id":
                self._borrowed_id()
            else:
                self._sibling_id()

    def _borrowed_id(self) -> None:
        """A resident's ID typed into a poor person's row: R09 (different sound) and R02 (无 subsidy)."""
        picked = self.rows(
            lambda r, h: self.plain_row(r) and self.ordinary(h) and r.relation != "户主", 1
        )
        if not picked:
            return
        row, rec = picked[0]
        p = row.person
        cand = self._insured_resident(p.sex, exclude_sound=names.pinyin_key(p.name))
        if cand is None:
            return
        row.id_raw = cand["identity"]
        self.record(
            "finding",
            "R09",
            "other_persons_id",
            rec,
            p,
            expect=[("R09", cand["identity"]), ("R02", cand["identity"])],
            absent=[("R01", p.identity)],
            note="ID of another resident; also 参保未资助",
        )

    def _sibling_id(self) -> None:
        """A brother's (or sister's) ID copied into the next row: R06 and R09 on that ID."""

        def pair(h: HouseholdRecord) -> tuple[RosterRow, RosterRow] | None:
            kids = [
                r
                for r in h.rows
                if self.plain_row(r) and r.relation in ("之子", "之女", "之孙子", "之孙女")
            ]
            for a in kids:
                for b in kids:
                    if (
                        a is not b
                        and a.sex == b.sex
                        and names.pinyin_key(a.name) != names.pinyin_key(b.name)
                    ):
                        return a, b
            return None

        picked = self.households(lambda h: self.ordinary(h) and pair(h) is not None, 1)
        if not picked:
            return
        rec = picked[0]
        a, b = pair(rec)  # type: ignore[misc]
        b.id_raw = a.person.identity
        self.touched_pids.update({a.person.pid, b.person.pid})
        self.record(
            "finding",
            "R09",
            "sibling_id",
            rec,
            b.person,
            expect=[("R09", a.person.identity), ("R06", a.person.identity)],
            note="sibling's ID copied",
        )

    # ------------------------------------------------------------ R07 R08: written IDs

    def r07_typos(self) -> None:
        """Mistyped IDs that one candidate in the sources explains (the suggestion is the person)."""
        n = self.count("R07")
        options = (
            "excel",
            "substitution",
            "swap",
            "homophone_typo",
            "substitution",
            "swap",
            "excel",
        )
        done = attempts = 0
        while done < n and attempts < 4 * n + 10:
            variant = options[done % len(options)]
            attempts += 1
            if self._r07_one(variant, attempts):
                done += 1

    def _r07_one(self, variant: str, k: int) -> bool:
        def ok(r: RosterRow, h: HouseholdRecord) -> bool:
            return self.plain_row(r) and (
                variant != "excel"
                or (
                    r.person.identity[-1] != "X"
                    and not r.person.identity.endswith("000")
                    and self.own_prefix(r.person.identity)
                )
            )

        picked = self.rows(ok, 1, reserve=False)
        if not picked:
            return False
        row, rec = picked[0]
        p = row.person
        if variant == "excel":
            value = float(p.identity[:15] + "000")
            written, _ = written_key(value)
            if self._sound_candidates(written, p.name, prefix=True) != [p.identity]:
                return False
            self.used_hh.add(rec.hh_id)
            row.id_raw = value
            self.issue("excel_mangled_id", "证件号码", rec, row)
            self.record(
                "finding",
                "R07",
                variant,
                rec,
                p,
                expect=[("R07", written)],
                absent=[("R01", p.identity)],
                note="ID typed as a number; found by the 15 surviving digits and the name",
            )
            return True
        typo = _mistype(p.identity, k * 7 + 3, swap=variant == "swap")
        if written_key(typo)[1] in ("valid", "legacy15"):
            return False
        name = p.name
        if variant == "homophone_typo":
            name = names.homophone_of(p.name, 0.61) or ""
            if not name:
                return False
        if self._sound_candidates(typo, name, prefix=False) != [p.identity]:
            return False
        self.used_hh.add(rec.hh_id)
        row.id_raw = typo
        row.name = name
        expect = [("R07", typo)] + ([("R09", p.identity)] if variant == "homophone_typo" else [])
        self.issue("invalid_id", "证件号码", rec, row)
        self.record(
            "finding",
            "R07",
            variant,
            rec,
            p,
            expect=expect,
            absent=[("R01", p.identity)],
            note="insured under the true ID: R07 with the suggestion, not R01",
        )
        return True

    def r08_invalid(self) -> None:
        """Invalid IDs nothing explains: two slips, a dropped digit, two same-named candidates, or a
        person no source knows."""
        n = self.count("R08")
        options = ("two_typos", "ambiguous_excel", "truncated", "not_in_sources")
        done = attempts = 0
        while done < n and attempts < 4 * n + 10:
            attempts += 1
            if self._r08_one(options[done % len(options)], attempts):
                done += 1

    def _r08_one(self, variant: str, k: int) -> bool:
        # An ID nobody can resolve also unlinks the person from a 低保 family (R03, R11):
        # keep to households without 低保 so that R08 is the only consequence.
        if variant == "ambiguous_excel":
            picked = self.rows(
                lambda r, h: (
                    self.plain_row(r)
                    and self.ordinary(h)
                    and r.person.identity[-1] != "X"
                    and not r.person.identity.endswith("000")
                    and int(r.person.identity[15]) < 9
                    and self.own_prefix(r.person.identity)
                ),
                1,
                reserve=False,
            )
        else:
            picked = self.rows(
                lambda r, h: self.plain_row(r) and self.ordinary(h), 1, reserve=False
            )
        if not picked:
            return False
        row, rec = picked[0]
        p = row.person
        if variant == "ambiguous_excel":
            if self._twin_with_same_prefix(p) is None:
                return False
            value = float(p.identity[:15] + "000")
            written, _ = written_key(value)
            self.used_hh.add(rec.hh_id)
            row.id_raw = value
            self.issue("excel_mangled_id", "证件号码", rec, row)
            self.record(
                "finding",
                "R08",
                variant,
                rec,
                p,
                expect=[("R08", written)],
                absent=[("R01", p.identity)],
                note=f"two people named {p.name} share the 15 surviving digits",
            )
            return True
        if variant == "two_typos":
            typo = _mistype(_mistype(p.identity, k + 1, swap=False), k + 5, swap=True)
            typo = typo[:9] + str((int(typo[9]) + 3) % 10) + typo[10:]
        elif variant == "truncated":
            typo = p.identity[:10] + p.identity[11:]
        else:
            typo = _mistype(p.identity, k + 2, swap=False)
        written, status = written_key(typo)
        # two_typos' third slip may leave `…000` text that reads as Excel's damage (cf. _mistype)
        if status in ("valid", "legacy15", EXCEL_MANGLED):
            return False
        if (
            variant != "not_in_sources"
            and len(written) == 18
            and self._sound_candidates(written, p.name, prefix=False)
        ):
            return False
        if variant == "not_in_sources":
            for y in self.params.years:
                self.enrol.drop.add((p.pid, y))
            self.id_names.pop(p.identity, None)
            if self._prefix is not None:
                self._prefix[p.identity[:15]] = [
                    i for i in self._prefix.get(p.identity[:15], []) if i != p.identity
                ]
            if self._sound_candidates(written, p.name, prefix=False):
                return False
        self.used_hh.add(rec.hh_id)
        row.id_raw = typo
        self.issue("invalid_id", "证件号码", rec, row)
        self.record(
            "finding",
            "R08",
            variant,
            rec,
            p,
            expect=[("R08", written)],
            absent=[("R01", p.identity)],
            note="never enrolled: no identity, so no R01 either"
            if variant == "not_in_sources"
            else "",
        )
        return True

    def _twin_with_same_prefix(self, p: Person) -> str | None:
        """A second insured person with the same name whose ID shares the first 15 digits."""
        male = p.sex == "男"
        for tail in range(10, 99):
            seq_last = tail * 10 % 100 + tail // 10
            digits = p.identity[:15] + f"{seq_last:02d}"
            if (int(digits[16]) % 2 == 1) != male:
                continue
            from transforms.ids import check_char

            cand = digits + check_char(digits)
            if (
                cand in self.id_names
                or cand == p.identity
                or not may_mint(cand, self.params.id_county)
            ):
                continue
            pid = self.next_pid
            self.next_pid += 1
            village = self.world.geo.villages[int(self.rng.integers(len(self.world.geo.villages)))]
            self.enrol.extra_rows.append(
                {
                    "pid": pid,
                    "name": p.name,
                    "sex": p.sex,
                    "birth": p.birth,
                    "area": p.identity[:6],
                    "township_code": village.township_code,
                    "township": village.township,
                    "village": village.short,
                    "kind": "resident",
                    "death_date": None,
                    "gone_date": None,
                    "subsidy_base": "无",
                    "dibao_now": False,
                    "identity": cand,
                    "insured_key": self.params.insured_key(pid, extra=True),
                    "years": self.params.years,
                }
            )
            self.id_names[cand] = p.name
            if self._prefix is not None:
                self._prefix.setdefault(cand[:15], []).append(cand)
            return cand
        return None

    # ------------------------------------------------------------ R10 R12 R14 R15: household state

    def r10_exit_below(self) -> None:
        n = self.count("R10")
        for variant in self.variants(
            ("income_below", "income_below", "still_dangerous", "dropout_member"), n
        ):
            if variant == "income_below":
                picked = self.households(
                    lambda h: (
                        self.exited(h)
                        and h.household.labour_capable
                        and all(self.plain_row(r) or not r.active for r in h.rows)
                    ),
                    1,
                )
                if picked:
                    rec = picked[0]
                    rec.income = float(self.line - int(self.rng.integers(40, 1400)))
                    self.record("finding", "R10", variant, rec, expect=[("R10", rec.hh_id)])
            elif variant == "still_dangerous":
                # labour-capable too, so that R10 follows however the rule's clauses are read
                picked = self.households(lambda h: self.exited(h) and h.household.labour_capable, 1)
                if picked:
                    rec = picked[0]
                    rec.housing = "C级危房" if self.rng.random() < 0.6 else "D级危房"
                    extra = (
                        [("R14", rec.hh_id)]
                        if self.as_of > self.params.policy.housing_deadline
                        else []
                    )
                    self.record("finding", "R10", variant, rec, expect=[("R10", rec.hh_id), *extra])
            else:
                picked_rows = self.rows(
                    lambda r, h: (
                        self.exited(h)
                        and h.household.labour_capable
                        and self.plain_row(r)
                        and r.school in COMPULSORY
                    ),
                    1,
                )
                if picked_rows:
                    row, rec = picked_rows[0]
                    row.school = "义务教育阶段辍学"
                    self.record(
                        "finding",
                        "R10",
                        variant,
                        rec,
                        row.person,
                        expect=[("R10", rec.hh_id), ("R15", row.person.identity)],
                    )

    def r12_no_cadre(self) -> None:
        picked = self.households(
            lambda h: (
                h.household.labour_capable
                and h.exit_status != "已脱贫"
                and bool(h.household.active_members)
                and all(self.plain_row(r) or not r.active for r in h.rows)
            ),
            self.count("R12"),
        )
        for i, rec in enumerate(picked):
            rec.cadre = ("", " ", "\u3000")[i % 3]
            self.record(
                "finding",
                "R12",
                ("blank", "space", "ideographic_space")[i % 3],
                rec,
                expect=[("R12", rec.hh_id)],
            )

    def r14_unsafe_housing(self) -> None:
        if self.as_of <= self.params.policy.housing_deadline:
            return
        picked = self.households(
            lambda h: not self.exited(h) and bool(h.household.active_members), self.count("R14")
        )
        for i, rec in enumerate(picked):
            rec.housing = ("C级危房", "D级危房")[i % 2]
            self.record("finding", "R14", rec.housing, rec, expect=[("R14", rec.hh_id)])

    def r15_dropout(self) -> None:
        n = self.count("R15")
        picked = self.rows(
            lambda r, h: not self.exited(h) and self.plain_row(r) and r.school in COMPULSORY, n
        )
        if len(picked) < n:
            picked += self.rows(
                lambda r, h: (
                    self.plain_row(r) and r.school in COMPULSORY and h.household.labour_capable
                ),
                n - len(picked),
            )
        for row, rec in picked:
            row.school = "义务教育阶段辍学"
            self.record(
                "finding",
                "R15",
                "dropout",
                rec,
                row.person,
                expect=[("R15", row.person.identity), *self.tail(rec)],
            )

    # ------------------------------------------------------------ R11 R13

    def r11_not_registered(self) -> None:
        n = self.count("R11")
        stopped = [
            f
            for f in self.world.families
            if f.attribute == "农村低保"
            and f.exit_status == "停保"
            and all(m.status != "死亡" for m in f.members)
        ]
        order = self.rng.permutation(len(stopped))
        for i in order[:n]:
            fam = stopped[int(i)]
            for d in self.world.dibao:
                if d.family_id == fam.dibao_family:
                    d.status, d.stop_date, d.stop_reason = "在保", None, ""
            fam.exit_status = "在保"
            self.log.append(
                Injection(
                    "finding",
                    "R11",
                    "rural_family_in_force",
                    township_code=fam.township_code,
                    household_id=fam.dibao_family,
                    expect=[("R11", fam.dibao_family)],
                )
            )

    def r13_medical_short(self) -> None:
        n = self.count("R13")
        bills = self._poor_bills()
        used = bills[: n + self.hard_count("assistance_at_tolerance")]
        self.used_hh.update(rec.hh_id for _, _, _, rec in used)
        self.touched_pids.update(pid for _, _, pid, _ in used)
        for i, (sid, remaining, pid, rec) in enumerate(bills[:n]):
            share = (0.0, 0.5, 0.65)[i % 3]
            pay = round(remaining * share, 2) if share else 0.0
            if pay >= 0.7 * remaining - 0.5:
                pay = max(round(0.7 * remaining - 5, 2), 0.0)
            self.claims.set_fields[sid] = {"assistance_paid": pay}
            self.record(
                "finding",
                "R13",
                f"assistance_{int(share * 100)}pct",
                rec,
                self.world.person(pid),
                expect=[("R13", sid)],
            )
        for sid, remaining, pid, rec in bills[n : n + self.hard_count("assistance_at_tolerance")]:
            pay = round(0.7 * remaining - 0.45, 2)
            while pay < 0.7 * remaining - 0.5:
                pay = round(pay + 0.01, 2)
            self.claims.set_fields[sid] = {"assistance_paid": pay}
            self.record(
                "hard_negative",
                "assistance_at_tolerance",
                "within_half_yuan",
                rec,
                self.world.person(pid),
                absent=[("R13", sid)],
                note="医疗救助 = 70% − 0.45 元：在容差内",
            )

    def _poor_bills(self) -> list[tuple[str, float, int, HouseholdRecord]]:
        """Settlements of untouched active poor persons with something left to assist."""
        rows = {
            r.person.pid: (r, h)
            for h in self.roster.records()
            for r in h.rows
            if self.plain_row(r) and not r.duplicate
        }
        s = (
            self.world.settlements.filter(pl.col("pid").is_in(list(rows)))
            .with_columns(
                remaining=pl.col("eligible_cost") - pl.col("basic_paid") - pl.col("serious_paid")
            )
            .filter(pl.col("remaining") > 20)
        )
        s = (
            s.sample(fraction=1.0, shuffle=True, seed=int(self.rng.integers(1 << 31)))
            if s.height
            else s
        )
        out, seen = [], set()
        for sid, rem, pid in s.select("settlement_id", "remaining", "pid").iter_rows():
            rec = rows[pid][1]
            if pid in seen or rec.hh_id in self.used_hh:
                continue
            seen.add(pid)
            out.append((sid, float(rem), pid, rec))
        return out
