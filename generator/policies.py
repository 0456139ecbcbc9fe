"""Each generated county's policy file (`fupin generate --counties … | --city`): the figures
the generation gave it, the targets of 南雄市's plan in proportion, every rule of the policy it
was generated under.  Written to DIR/policy/<code>.toml, to be installed as
FUPIN_HOME/<code>/policy.toml (docs/operations.md §10)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from config.policy_file import dump_policy
from config.settings import Policy

from .cross import CountyTwin
from .geography import Geography

WORK_GROUPS = "township_work_groups"  # [support_units]: the 驻镇帮扶工作组 of other villages


def _in_proportion(n: int, persons: int, plan_persons: int) -> int:
    """n × persons / plan_persons, rounded half up, in integers (the plan's 15,888 of 15,888
    stays every person)."""
    return (2 * n * persons + plan_persons) // (2 * plan_persons)


def county_policy(
    plan: Policy,
    *,
    households: int,
    persons: int,
    poor_villages: int,
    villages: int,
    townships: int,
    support_units: dict[str, int],
) -> Policy:
    """`plan` (a policy with its county's figures: 南雄市's) with these figures, and each
    year's targets in the plan's proportions of its registered persons (2016: 5,200 of
    15,888; of which 5,000 through 低保; 2018: all); no township targets (the plan's are its
    own townships').  Every rule stays as `plan` has it."""
    base = plan.persons
    if base is None:
        raise ValueError("the plan to scale from carries no figures of its county")

    def scaled(n: int | None) -> int | None:
        return None if n is None else _in_proportion(n, persons, base)

    years = {
        y: replace(
            p,
            target_persons_out=scaled(p.target_persons_out),
            target_via_dibao=scaled(p.target_via_dibao),
            township_targets={},
        )
        for y, p in plan.years.items()
    }
    return replace(
        plan,
        households=households,
        persons=persons,
        poor_villages=poor_villages,
        villages=villages,
        townships=townships,
        support_units=support_units,
        years=years,
    )


def generated_support_units(geo: Geography, plan: Policy) -> dict[str, int]:
    """Poor villages per support-unit type as generated (in the plan's order of types), and
    the township work groups that support the other villages."""
    poor = Counter(v.unit_type for v in geo.villages if v.is_poor)
    types = [t for t in plan.support_units if t != WORK_GROUPS]
    types += sorted(t for t in poor if t not in types)
    groups = len({v.unit for v in geo.villages if not v.is_poor})
    return {**{t: poor.get(t, 0) for t in types}, WORK_GROUPS: groups}


def twin_policy(twin: CountyTwin) -> Policy:
    """The policy of a generated county: its figures as generated."""
    pop, geo, plan = twin.world.pop, twin.world.geo, twin.params.policy
    return county_policy(
        plan,
        households=len(pop.households),
        persons=len(pop.persons),
        poor_villages=sum(v.is_poor for v in geo.villages),
        villages=len(geo.villages),
        townships=len(geo.townships),
        support_units=generated_support_units(geo, plan),
    )


def write_policies(twins: dict[str, CountyTwin], out: Path, seed: int, scale: float) -> list[str]:
    """DIR/policy/<code>.toml for every county generated; the paths relative to DIR."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for code, twin in sorted(twins.items()):
        header = (
            f"Policy of {twin.name} ({code}) in a generated city (fupin generate, seed {seed}, "
            f"scale {scale:g}).",
            "[city] counts and [support_units] as generated; each year's targets in the",
            "proportions of 南雄市's plan (config/policy.toml); every other key as the policy",
            f"the generation ran under.  Install as FUPIN_HOME/{code}/policy.toml",
            "(docs/operations.md §10).",
        )
        path = out / f"{code}.toml"
        path.write_text(dump_policy(twin_policy(twin), header), encoding="utf-8")
        written.append(f"{out.name}/{path.name}")
    return written


__all__ = ["county_policy", "generated_support_units", "twin_policy", "write_policies"]
