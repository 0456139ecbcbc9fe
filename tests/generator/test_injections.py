"""Injected data-quality issues are visible in what the clerk's file says, as the recorded kind."""

from __future__ import annotations

from datetime import date

import pytest

from generator.inject import Injector
from generator.inject.base import _mistype
from generator.roster import build_roster
from transforms import ids


@pytest.mark.parametrize("swap", [False, True])
def test_a_mistyped_id_never_reads_as_excel_damage(swap) -> None:
    # A valid ID ending in 000: a slip in the sequence digits used to leave `…000` text with
    # a real birth date and a wrong check character, which reads as excel_mangled_id.
    identity = ids.make_id("440282", date(1972, 4, 21), 400)
    assert identity.endswith("000") and ids.parse_id(identity).status == ids.VALID
    for pick in range(40):
        typo = _mistype(identity, pick, swap)
        assert ids.parse_id(typo).status in (ids.BAD_DATE, ids.BAD_CHECK), (pick, typo)
        assert typo[16:] == identity[16:]  # the sex digit is never touched


def test_household_head_issue_is_visible_among_active_members(small_world) -> None:
    """Households whose second member died: the check counts 正常 members only, so the
    two_heads variant must not crown that member (seed 11: 南亩镇 440282109206004)."""
    roster = build_roster(small_world.pop)
    inj = Injector(small_world, roster, small_world.params, styles={})
    inj._records = [h for h in roster.records() if len(h.rows) > 2][:4]
    for h in inj._records:
        h.rows[1].status = "死亡"  # the roster's copy only; the twin is shared
    assert len(inj._records) == 4
    inj.issue_count = lambda kind: 2 if kind == "household_head" else 0  # this kind only
    inj._household_issues()
    injected = [e for e in inj.log if e.code == "household_head"]
    assert {e.variant for e in injected} == {"no_head", "two_heads"}
    by_id = roster.by_hh()
    for e in injected:
        rows = by_id[e.household_id].rows
        heads = sum(r.active and r.relation == "户主" for r in rows)
        assert heads != 1, (e.variant, [(r.relation, r.status) for r in rows])
