"""Nanxiong's townships and villages, which of them are poor, and who supports them.

The 68 poor villages lean to the mountain towns of the north (百顺, 澜河, 帽子峰, 坪田 …) and
the 油山 range in the south; the subdistrict 雄州街道 has none or almost none. Each poor
village gets its own support unit in the plan's split (12 provincial, 47 Dongguan, 9
Shaoguan) and a named first secretary; the 140 others are looked after by their township's
work group.
"""

from __future__ import annotations

import csv
import zlib
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from config.settings import (
    CITY_DIVISIONS_CSV,
    DIVISIONS_CSV,
    HOME_COUNTY,
    load_divisions,
    village_short,
)

from . import names
from .params import GenParams

# Relative weight of poor villages by township (terrain), and of poor households.
MOUNTAIN = ("百顺镇", "澜河镇", "帽子峰镇", "坪田镇", "油山镇", "界址镇")
PLAIN = ("珠玑镇", "水口镇", "湖口镇")
SUBDISTRICT = "雄州街道"

# The plan's "by end of 2018" village indicators: (column key, share done by end 2018).
VILLAGE_INDICATORS = (
    ("health_station", 1.0),
    ("bus", 1.0),
    ("water_safe", 1.0),
    ("coverage_4g", 1.0),
    ("info_point", 1.0),
    ("waste", 0.93),
    ("sewage", 0.84),
)


@dataclass
class VillageInfo:
    code: str
    name: str  # 珠玑村委会
    township_code: str
    township: str  # 珠玑镇 / 雄州街道
    is_poor: bool = False
    unit: str = ""
    unit_type: str = "驻镇帮扶工作组"
    first_secretary: str = ""
    population: int = 0
    income_2015: float = 0.0
    income_now: float = 0.0
    indicators: dict[str, bool] = field(default_factory=dict)
    toilet_rate: float = 0.0
    cadres: list[str] = field(default_factory=list)

    @property
    def short(self) -> str:
        return village_short(self.name)


@dataclass
class Community:
    """An urban 居委会: home of 城市低保 families and of many insured residents."""

    code: str
    name: str
    township_code: str
    township: str


@dataclass
class Geography:
    townships: dict[str, str]  # code -> short name (雄州街道, 珠玑镇 …)
    villages: list[VillageInfo]
    communities: list[Community]

    def villages_of(self, township_code: str) -> list[VillageInfo]:
        return [v for v in self.villages if v.township_code == township_code]

    @property
    def by_code(self) -> dict[str, VillageInfo]:
        return {v.code: v for v in self.villages}


def terrain_weight(township: str, code: str = "", county: str = HOME_COUNTY) -> float:
    """Weight of a township's villages in the choice of poor villages.  Nanxiong's follow its
    terrain; another county's 街道 weigh as 雄州街道, its towns one of the three weights,
    drawn from the township code (stable, whatever else is generated)."""
    if county != HOME_COUNTY:
        if township.endswith("街道"):
            return 0.02
        return (1.0, 0.62, 0.42)[zlib.crc32(code.encode()) % 3]
    if township in MOUNTAIN:
        return 1.0
    if township in PLAIN:
        return 0.42
    if township == SUBDISTRICT:
        return 0.02
    return 0.62


def _largest_remainder(
    weights: np.ndarray, total: int, caps: np.ndarray | None = None
) -> np.ndarray:
    """Integer shares of `total` proportional to `weights`, never above `caps`."""
    weights = np.asarray(weights, dtype=float)
    out = np.zeros(len(weights), dtype=int)
    caps = np.full(len(weights), total) if caps is None else np.asarray(caps)
    remaining = total
    active = weights > 0
    while remaining > 0 and active.any():
        w = np.where(active, weights, 0.0)
        exact = w / w.sum() * remaining
        add = np.minimum(np.floor(exact).astype(int), caps - out)
        out += add
        remaining -= int(add.sum())
        if remaining <= 0:
            break
        frac = np.where(active & (out < caps), exact - np.floor(exact), -1.0)
        order = np.argsort(-frac, kind="stable")
        for i in order[:remaining]:
            if frac[i] < 0:
                break
            out[i] += 1
            remaining -= 1
        active = active & (out < caps)
    return out


def build_geography(params: GenParams) -> Geography:
    divisions = load_divisions(None if params.county == HOME_COUNTY else params.county)
    townships = {code: divisions.short_name(code) for code in divisions.townships}
    villages = [
        VillageInfo(v.code, v.name, v.township_code, townships[v.township_code])
        for v in divisions.villages
    ]
    if params.county != HOME_COUNTY:
        # a 街道 made only of 居委会 keeps no register of poor villages: it sends no roster
        with_villages = {v.township_code for v in villages}
        townships = {c: t for c, t in townships.items() if c in with_villages}
    communities = _communities(townships, params.county)
    rng = params.rng("geography")
    _choose_poor_villages(villages, params, rng)
    _assign_units(villages, params, rng)
    _village_statistics(villages, params, rng)
    return Geography(townships, villages, communities)


def _communities(townships: dict[str, str], county: str = HOME_COUNTY) -> list[Community]:
    out = []
    path = DIVISIONS_CSV if county == HOME_COUNTY else CITY_DIVISIONS_CSV
    with path.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            code = row["township_code"]
            if code in townships and row["village_name"].endswith("居委会"):
                out.append(
                    Community(row["village_code"], row["village_name"], code, townships[code])
                )
    return out


def _choose_poor_villages(
    villages: list[VillageInfo], params: GenParams, rng: np.random.Generator
) -> None:
    codes = sorted({v.township_code for v in villages})
    counts = np.array([sum(v.township_code == c for v in villages) for c in codes])
    names_ = [next(v.township for v in villages if v.township_code == c) for c in codes]
    weights = np.array(
        [terrain_weight(n, c, params.county) for n, c in zip(names_, codes, strict=True)]
    )
    per_township = _largest_remainder(
        weights * counts, params.poor_villages, caps=np.ceil(counts * 0.75).astype(int)
    )
    for code, k in zip(codes, per_township, strict=True):
        members = [v for v in villages if v.township_code == code]
        for i in rng.choice(len(members), size=int(k), replace=False):
            members[int(i)].is_poor = True


def _assign_units(villages: list[VillageInfo], params: GenParams, rng: np.random.Generator) -> None:
    poor = [v for v in villages if v.is_poor]
    split = params.policy.support_units
    f = params.county_factor
    types = (
        ["省直/中直驻粤"] * int(round(split.get("省直/中直驻粤", 12) * f))
        + ["东莞市"] * int(round(split.get("东莞市", 47) * f))
        + ["韶关市直/省直驻韶"] * int(round(split.get("韶关市直/省直驻韶", 9) * f))
    )
    types = (types + ["东莞市"] * len(poor))[: len(poor)]
    order = rng.permutation(len(poor))
    pools = {
        "省直/中直驻粤": list(names.PROVINCIAL_UNITS),
        "东莞市": list(names.DONGGUAN_UNITS),
        "韶关市直/省直驻韶": list(names.SHAOGUAN_UNITS),
    }
    used = {t: 0 for t in pools}
    for village_index, unit_type in zip(order, types, strict=False):
        v = poor[int(village_index)]
        pool = pools[unit_type]
        v.unit_type = unit_type
        v.unit = pool[used[unit_type] % len(pool)]
        used[unit_type] += 1
    secretaries = _people_names(rng, len(poor), adult=True)
    for v, name in zip(poor, secretaries, strict=True):
        v.first_secretary = name
    for v in villages:
        if not v.is_poor:
            v.unit = f"{params.county_name}驻{v.township}帮扶工作组"
            v.unit_type = "驻镇帮扶工作组"


def _people_names(rng: np.random.Generator, n: int, adult: bool = True) -> list[str]:
    sexes = np.where(rng.random(n) < 0.7, "男", "女")
    years = rng.integers(1965, 1992, size=n)
    return names.random_names(rng, sexes, years)


def _village_statistics(
    villages: list[VillageInfo], params: GenParams, rng: np.random.Generator
) -> None:
    """Population, incomes and the infrastructure indicators as of the as-of date.

    Indicators are 'done' once their completion date has passed; the plan wants them all
    done by the end of 2018, so completion dates fall between mid-2016 and end 2018 (a
    few, for waste and sewage, later).
    """
    start = date(2016, 6, 1)
    end = date(2018, 12, 31)
    span = (end - start).days
    line = params.policy.year(2018).village_exit_line
    for v in villages:
        v.population = int(rng.integers(1400, 4200))
        if v.is_poor:
            v.income_2015 = float(rng.integers(5600, 7950))
            target = float(rng.integers(int(line) + 80, int(line) + 2600))
        else:
            v.income_2015 = float(rng.integers(8200, 12500))
            target = v.income_2015 * 1.28
        progress = min(
            max((params.as_of - date(2015, 12, 31)).days / (end - date(2015, 12, 31)).days, 0.0),
            1.0,
        )
        v.income_now = round(v.income_2015 + (target - v.income_2015) * progress)
        for key, share in VILLAGE_INDICATORS:
            if not v.is_poor:
                v.indicators[key] = bool(rng.random() < 0.9)
                continue
            late = rng.random() > share
            done_on = (
                end + timedelta(days=int(rng.integers(30, 400)))
                if late
                else start + timedelta(days=int(rng.integers(0, span)))
            )
            v.indicators[key] = done_on <= params.as_of
        base = float(rng.uniform(70, 88))
        v.toilet_rate = round(base + (float(rng.uniform(97, 100)) - base) * progress, 1)


def assign_cadres(
    villages: list[VillageInfo], households_per_village: dict[str, int], params: GenParams
) -> None:
    """A pool of 帮扶责任人 per village, about one per four households."""
    rng = params.rng("cadres")
    for v in villages:
        n = households_per_village.get(v.code, 0)
        if n:
            v.cadres = _people_names(rng, max(1, (n + 3) // 4))
