"""Break the clean twin on purpose, at known rates, and log every break.

Each rule injection picks a household no other rule injection has touched, changes the
roster or a source so that exactly the intended findings follow, and records them in the
log: what it did, which (rule, key) findings must result and, for hard negatives, which must
not. Data-quality issues are injected where they cannot change a finding. The truth itself
is derived independently (`truth`), and a test checks that the two agree.
"""

from __future__ import annotations

from ..mess import Style
from ..params import GenParams
from ..roster import Roster
from ..world import World
from .base import Injection, IssueRef
from .issues import IssueInjections
from .negatives import HardNegatives
from .rules import RuleInjections

__all__ = ["Injection", "Injector", "IssueRef", "inject_all"]


class Injector(RuleInjections, HardNegatives, IssueInjections):
    """All injections over one twin; see the mixins for each family."""


def inject_all(
    world: World, roster: Roster, params: GenParams, styles: dict[str, Style]
) -> Injector:
    """All injections in a fixed order (the order is part of what the seed reproduces)."""
    inj = Injector(world, roster, params, styles)
    inj.r07_typos()
    inj.r08_invalid()
    inj.r09_name_mismatch()
    inj.r06_duplicates()
    inj.r05_deceased()
    inj.r03_dibao_missing()
    inj.r04_attribute_mismatch()
    inj.r10_exit_below()
    inj.r14_unsafe_housing()
    inj.r15_dropout()
    inj.r12_no_cadre()
    inj.r13_medical_short()
    inj.r11_not_registered()
    inj.r01_uninsured()
    inj.r02_unsubsidized()
    inj.hard_negatives()
    inj.roster_issues()
    inj.extract_issues()
    return inj
