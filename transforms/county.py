"""How a user-facing text names the county it is about (the county a run works for).

Every report, alert, notice and archive title says which county it is about.  The wording
comes from the county's name in the divisions of the run (`Divisions.county_name`), passed
down as plain data: `County.of(divisions)` at the call site.  For the home county, 南雄市,
every word is the one the texts have always used, so its outputs stay byte for byte the same.

The words a county-level unit uses of itself follow the last character of its name: a 市
(县级市) says 全市, 市直, 本市, 市委办; a 县 (and an 自治县) says 全县, 县直, 本县, 县委办; a 区
says 全区, 区直, 本区, 区委办.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from config.settings import HOME_COUNTY, HOME_COUNTY_NAME, Divisions

# 乳源瑶族自治县 → 乳源: an autonomous county's short name drops its people and 自治县.
_SUFFIX = re.compile(r"(?:(?:瑶|畲|壮|苗|黎|回|满|侗|土家|蒙古)族)*自治[县旗]$|[市县区旗]$")
# The plan the reports cite is 南雄市's own document; another county's plan is cited without a
# title of its own (see `County.plan`).
HOME_PLAN = "《南雄市新时期精准扶贫精准脱贫三年攻坚实施方案》"
PLAN_WORDS = "精准扶贫精准脱贫三年攻坚实施方案"


@dataclass(frozen=True)
class County:
    """A county-level unit as the texts name it: `code` (440282) and `name` (南雄市)."""

    code: str
    name: str

    @classmethod
    def of(cls, divisions: Divisions) -> County:
        return cls(divisions.county_code, divisions.county_name)

    @property
    def level(self) -> str:
        """市, 县 or 区: what the county calls itself (自治县 → 县)."""
        last = self.name[-1:] if self.name else "县"
        return last if last in "市县区" else "县"

    @property
    def short(self) -> str:
        """南雄市 → 南雄, 乳源瑶族自治县 → 乳源 (as in 驻南雄各帮扶单位)."""
        return _SUFFIX.sub("", self.name) or self.name

    @property
    def whole(self) -> str:
        """全市 / 全县 / 全区: the whole county."""
        return "全" + self.level

    @property
    def own(self) -> str:
        """本市 / 本县 / 本区."""
        return "本" + self.level

    @property
    def direct(self) -> str:
        """市直 / 县直 / 区直: the county's own departments, as in 市直单位."""
        return self.level + "直"

    @property
    def direct_units(self) -> str:
        """南雄市直: the unit type of the county's own departments on the villages sheet."""
        return self.name + "直"

    @property
    def plan(self) -> str:
        """The plan a report cites.  南雄市's is its own 2016 plan, the source of the policy
        numbers (policy.md).  Another county's plan is not titled here: its real title is not
        known to the system, and a 通报 must not cite a document under an invented title, so
        it reads 本县精准扶贫精准脱贫三年攻坚实施方案 (本市 / 本区), without 书名号."""
        return HOME_PLAN if self.code == HOME_COUNTY else self.own + PLAN_WORDS

    @property
    def office(self) -> str:
        """南雄市扶贫开发办公室."""
        return self.name + "扶贫开发办公室"

    @property
    def office_short(self) -> str:
        """市扶贫办 / 县扶贫办 / 区扶贫办: the office as the county's own texts call it."""
        return self.level + "扶贫办"

    def direct_types(self, policy_types: tuple[str, ...]) -> tuple[str, ...]:
        """The unit types recalled directly in this county: the policy's (written for
        南雄市: 南雄市直, 驻镇帮扶工作组) with the home county's own units read as this
        county's (乐昌市直)."""
        home = f"{HOME_COUNTY_NAME}直"
        return tuple(self.direct_units if t == home else t for t in policy_types)


__all__ = ["HOME_PLAN", "PLAN_WORDS", "County"]
