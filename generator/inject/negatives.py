"""Hard negatives: cases a careless matcher reports and the rules do not (the log lists the
findings that must stay absent)."""

from __future__ import annotations

from datetime import timedelta

from ..roster import HouseholdRecord, RosterRow
from .base import Injection, InjectorBase


class HardNegatives(InjectorBase):
    """Correct 15-digit IDs, namesakes, past 低保, exits at the line, spaced names …"""

    # ------------------------------------------------------------ hard negatives

    def hard_negatives(self) -> None:
        for row, rec in self.rows(
            lambda r, h: (
                self.plain_row(r) and r.person.birth.year < 2000 and r.person.identity[6:8] == "19"
            ),
            self.hard_count("legacy15_text") + self.hard_count("legacy15_number"),
        ):
            p = row.person
            legacy = p.identity[:6] + p.identity[8:17]
            number = len([x for x in self.log if x.code == "legacy15_number"]) < self.hard_count(
                "legacy15_number"
            )
            row.id_raw = int(legacy) if number else legacy
            code = "legacy15_number" if number else "legacy15_text"
            self.record(
                "hard_negative",
                code,
                "correct_15_digit_id",
                rec,
                p,
                absent=[
                    ("R01", p.identity),
                    ("R07", p.identity),
                    ("R08", p.identity),
                    ("R08", legacy),
                ],
            )

        for rec in self.households(
            lambda h: (
                self.exited(h)
                and h.household.labour_capable
                and all(self.plain_row(r) or not r.active for r in h.rows)
            ),
            self.hard_count("exit_at_line"),
        ):
            rec.income = float(self.line)
            self.record(
                "hard_negative",
                "exit_at_line",
                "income_equals_line",
                rec,
                absent=[("R10", rec.hh_id)],
                note=f"收入恰为{self.line:.0f}元",
            )

        for rec in self.households(
            lambda h: self.ordinary(h) and not self.dibao_of(h),
            self.hard_count("dibao_stopped_income"),
        ):
            stop = self.as_of - timedelta(days=int(self.rng.integers(60, 500)))
            fid = self._new_family(rec, "农村低保", in_force=False, reason="收入超标", stop=stop)
            self.record(
                "hard_negative",
                "dibao_stopped_income",
                "poor_household_past_dibao",
                rec,
                absent=[("R04", rec.hh_id), ("R11", fid)],
                note="低保已因收入超标停保",
            )

        for rec in self.households(
            lambda h: (
                (self.exited(h) and h.household.labour_capable) or not h.household.labour_capable
            ),
            self.hard_count("no_cadre_not_required"),
        ):
            rec.cadre = ""
            self.record(
                "hard_negative",
                "no_cadre_not_required",
                "exited" if self.exited(rec) else "not_labour_capable",
                rec,
                absent=[("R12", rec.hh_id)],
            )

        self._same_names()
        self._width_variants()
        self._id_variants()
        urban = [
            f for f in self.world.families if f.attribute == "城市低保" and f.exit_status == "在保"
        ][:3]
        for fam in urban:
            self.log.append(
                Injection(
                    "hard_negative",
                    "urban_dibao_not_registered",
                    "城市低保",
                    fam.township_code,
                    fam.dibao_family,
                    absent=[("R11", fam.dibao_family)],
                )
            )

    def _same_names(self) -> None:
        """Two different people of one township with one name: not a duplicate."""
        n = self.hard_count("same_name_two_people")
        by_township: dict[str, list[tuple[RosterRow, HouseholdRecord]]] = {}
        for h in self.roster.records():
            if h.hh_id in self.used_hh:
                continue
            for r in h.rows:
                if self.plain_row(r) and r.person.pid not in self.touched_pids:
                    by_township.setdefault(h.township_code, []).append((r, h))
        done = 0
        for rows in by_township.values():
            if done >= n:
                break
            for a, ha in rows:
                b_pair = next(
                    (
                        (b, hb)
                        for b, hb in rows
                        if hb is not ha
                        and b.sex == a.sex
                        and b.person.birth.year // 10 == a.person.birth.year // 10
                        and b.name != a.name
                    ),
                    None,
                )
                if b_pair is None:
                    continue
                b, hb = b_pair
                self._rename(b, a.name)
                self.used_hh.update({ha.hh_id, hb.hh_id})
                self.touched_pids.update({a.person.pid, b.person.pid})
                self.record(
                    "hard_negative",
                    "same_name_two_people",
                    "same_township",
                    ha,
                    a.person,
                    absent=[
                        ("R06", a.person.identity),
                        ("R06", b.person.identity),
                        ("R09", a.person.identity),
                        ("R09", b.person.identity),
                    ],
                    note=f"{a.name}: {ha.hh_id} and {hb.hh_id}",
                )
                done += 1
                break

    def _width_variants(self) -> None:
        n = self.hard_count("name_width_variant")
        for i, (row, rec) in enumerate(
            self.rows(lambda r, h: self.plain_row(r) and len(r.name) == 3, n, reserve=False)
        ):
            p = row.person
            if i % 2 == 0:
                row.cell_overrides["name"] = p.name[0] + "\u3000" + p.name[1:]
            else:
                row.cell_overrides["name"] = " " + p.name[:2] + " " + p.name[2] + "\u3000"
            variant = "roster_spaces"
            for d in self.dibao_of(rec):
                if d.pid == p.pid and i % 3 == 0:
                    d.name_written = p.name[0] + "\u3000" + p.name[1:]
                    variant = "roster_and_dibao_spaces"
            self.record(
                "hard_negative", "name_width_variant", variant, rec, p, absent=[("R09", p.identity)]
            )

    def _id_variants(self) -> None:
        """Valid IDs typed the ways clerks type them: lowercase x, full-width, spaced, apostrophe."""
        n = self.hard_count("id_written_variants")
        kinds = ("lowercase_x", "fullwidth", "spaced", "apostrophe", "trailing_space")
        for i in range(n):
            kind = kinds[i % len(kinds)]

            # a def rather than a lambda: mypy cannot infer a lambda with default arguments
            def written_as(r: RosterRow, h: HouseholdRecord, kind: str = kind) -> bool:
                return self.plain_row(r) and (
                    kind != "lowercase_x" or r.person.identity.endswith("X")
                )

            picked = self.rows(written_as, 1, reserve=False)
            if not picked:
                continue
            row, rec = picked[0]
            ident = row.person.identity
            text = {
                "lowercase_x": ident[:-1] + "x",
                "fullwidth": ident.translate(
                    str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")
                ),
                "spaced": f"{ident[:6]} {ident[6:14]} {ident[14:]}",
                "apostrophe": "'" + ident,
                "trailing_space": ident + " 　",
            }[kind]
            row.cell_overrides["id_number"] = text
            self.record(
                "hard_negative",
                "id_written_variants",
                kind,
                rec,
                row.person,
                absent=[("R01", ident), ("R07", ident), ("R08", ident)],
            )
