"""The clean twin is believable and clean: valid unique IDs, families that make sense, the
plan's exit targets, and no finding before anything is injected."""

from __future__ import annotations

from collections import Counter
from datetime import date

import polars as pl

from config.schema import LABOUR_CAPABLE
from generator.extracts import (
    ClaimEdits,
    EnrolmentEdits,
    _apply_enrolment_edits,
    dibao_frame,
    enrolment_frames,
    settlement_frames,
)
from generator.roster import build_roster
from generator.truth import derive_findings
from transforms.ids import birth_date_of, parse_id, sex_of


def test_every_id_valid_unique_and_consistent(small_world) -> None:
    people = small_world.people
    ids = people["identity"].to_list()
    assert len(set(ids)) == len(ids)
    assert all(parse_id(i).status == "valid" for i in ids)
    for row in people.sample(n=3000, seed=1).iter_rows(named=True):
        assert sex_of(row["identity"]) == row["sex"]
        assert birth_date_of(row["identity"]) == row["birth"]
    poor = [p for p in small_world.pop.persons]
    assert sum(p.identity.startswith("440282") for p in poor) / len(poor) > 0.85
    assert any(not p.identity.startswith("440282") for p in poor)  # in-married spouses


def test_families_make_sense(small_world) -> None:
    as_of = small_world.params.as_of
    for hh in small_world.pop.households:
        head = hh.members[0]
        assert head.relation == "户主"
        assert sum(p.relation == "户主" for p in hh.members) == 1
        assert head.age_on(as_of) >= 18
        for p in hh.members:
            if p.relation in ("之子", "之女"):
                assert p.birth > head.birth
            if p.relation in ("之父", "之母"):
                assert p.birth < head.birth
            age = p.age_on(as_of)
            if 6 <= age <= 15:
                assert p.school in (
                    "小学一年级",
                    "小学二年级",
                    "小学三年级",
                    "小学四年级",
                    "小学五年级",
                    "小学六年级",
                    "七年级",
                    "八年级",
                    "九年级",
                ), (age, p.school)
            if age < 16:
                assert p.labour not in LABOUR_CAPABLE
    capable = Counter(hh.attribute for hh in small_world.pop.households if not hh.labour_capable)
    assert capable["一般贫困户"] == 0  # households without labour are 低保/特困


def test_exits_follow_the_plan(small_world) -> None:
    """By 2018-06-30: 11,200 out by end 2017 plus half of 2018's 4,888 (scaled)."""
    pop = small_world.pop
    s = small_world.params.scale
    total = sum(len(h.members) for h in pop.households)
    assert total == round(15888 * s)
    assert len(pop.households) == round(6289 * s)
    out_by = Counter()
    for h in pop.households:
        if h.exit_date is not None:
            out_by[h.exit_date.year] += len(h.members)
    assert abs(out_by[2016] - 5200 * s) <= 0.02 * 5200 * s + 10
    assert abs(out_by[2016] + out_by[2017] - 11200 * s) <= 0.02 * 11200 * s + 10
    exited_now = sum(
        len(h.members) for h in pop.households if h.exit_date and h.exit_date <= date(2018, 6, 30)
    )
    expected = (11200 + 4888 * 181 / 365) * s
    assert abs(exited_now - expected) < 0.03 * expected
    dibao_2016 = sum(
        len(h.members)
        for h in pop.households
        if h.exit_date and h.exit_date.year == 2016 and h.attribute != "一般贫困户"
    )
    assert dibao_2016 >= 0.9 * 5000 * s


def test_poor_villages_and_units(small_world) -> None:
    villages = small_world.geo.villages
    poor = [v for v in villages if v.is_poor]
    assert len(villages) == 208 and len(poor) == 68
    assert Counter(v.unit_type for v in poor) == {
        "东莞市": 47,
        "省直/中直驻粤": 12,
        "韶关市直/省直驻韶": 9,
    }
    assert len({v.unit for v in poor}) == 68 and all(v.first_secretary for v in poor)
    assert sum(v.township == "雄州街道" for v in poor) <= 1
    mountain = sum(
        v.township in ("百顺镇", "澜河镇", "帽子峰镇", "坪田镇", "油山镇", "界址镇") for v in poor
    )
    assert mountain >= 20


def test_insurance_covers_the_city(small_world) -> None:
    per_year = small_world.enrolment.group_by("year").len()
    assert per_year.height == 3
    for n in per_year["len"].to_list():
        assert abs(n - 42_000) < 0.03 * 42_000


def test_clean_twin_has_no_findings(small_world) -> None:
    """Before injection the rules find nothing: every finding in the truth is one we put there."""
    w = small_world
    roster = build_roster(w.pop)
    people, enrol = _apply_enrolment_edits(w, EnrolmentEdits())
    enrol_logical, _ = enrolment_frames(people, enrol)
    claims, _ = settlement_frames(w, people, ClaimEdits())
    findings = derive_findings(
        roster,
        dibao_frame(w.dibao),
        enrol_logical,
        claims,
        w.params.as_of,
        w.params.policy.exit_lines(),
        w.params.policy.housing_deadline,
    )
    assert findings.height == 0, findings.head(10)
    assert isinstance(findings, pl.DataFrame)


def test_family_numbers_continue_the_roll(small_world) -> None:
    """Families added later (injections) continue each 家庭编号 sequence instead of reusing it."""
    used: dict[str, int] = {}
    for row in small_world.dibao:
        prefix, seq = row.family_id.split("-")
        used[prefix] = max(used.get(prefix, 0), int(seq))
    assert small_world.next_family_seq == used
