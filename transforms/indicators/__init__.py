"""Assessment indicators (outputs.md §1, §2): pure polars, frames in, frames out.

Every family function takes an `IndicatorInputs` and returns rows in the long format of the
warehouse `indicator` table (`INDICATOR`): one row per period, level, entity and indicator,
with the value and, where the value is a share or a count out of a base, its numerator and
denominator so that anyone can re-add townships into the city.

Conventions, stated once:
- Counts of people and households are of the roster in force: *active* persons (人员状态 正常)
  and *active* households (at least one active member), as in findings.md.
- Shares are stored as percentages (unit ``%``, 0-100); yes/no facts as 1/0 (unit ``是否``).
- The evaluation date D of a period is its end (H1 → 06-30, H2 and a year → 12-31), or the
  run's as-of date when that comes first (a period still in progress is assessed as of today).
  Findings and issues count as open at D when first_seen ≤ D and they were not resolved on or
  before D.  Insurance is of the period's year; 低保 coverage is at D.
- The whole county (level ``city``) is the `Divisions`' county: its code and name are the
  entity's.  Townships are those of the `Divisions` passed in (南雄市: 18); every township
  gets a row even without data.  Villages are keyed by township and the village name
  without 委会/村民委员会, and take their NBS code where the name matches the divisions list.

Where things live: `catalogue` (names, units, footnotes), `periods`, `targets` (exit targets
and rating), `inputs` (`IndicatorInputs`), `longform` (roll-up and melt), `families` (the
indicator families and `compute_all`) and `accountability` (recurring problems, recall
route).  The names below are the package's surface; import them from here.
"""

from transforms.indicators.accountability import recall_route, recurring_problems
from transforms.indicators.catalogue import (
    INDICATOR,
    INDICATORS,
    LEVELS,
    RATING_CODES,
    VILLAGE_INFRA,
    WORK_GROUP,
    definition,
)
from transforms.indicators.families import compute_all, village_wide
from transforms.indicators.inputs import IndicatorInputs
from transforms.indicators.longform import entity_columns
from transforms.indicators.periods import Period, half_year_ends, parse_period, period_of
from transforms.indicators.targets import (
    rating_code,
    round_half_up,
    target_share,
    targets_from_frame,
    targets_from_policy,
)

__all__ = [
    "INDICATOR",
    "INDICATORS",
    "LEVELS",
    "RATING_CODES",
    "VILLAGE_INFRA",
    "WORK_GROUP",
    "IndicatorInputs",
    "Period",
    "compute_all",
    "definition",
    "entity_columns",
    "half_year_ends",
    "parse_period",
    "period_of",
    "rating_code",
    "recall_route",
    "recurring_problems",
    "round_half_up",
    "target_share",
    "targets_from_frame",
    "targets_from_policy",
    "village_wide",
]
