"""Resident ID numbers for everyone at once, unique and valid (GB 11643).

All people of a generation, poor and not, get their numbers in one vectorised pass so that
no two share a number: within one (area, birth date, sex) the sequence numbers are a
permutation, odd for men and even for women, as the standard says.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.ids import CHECK_CHARS, WEIGHTS

NANXIONG = "440282"
# In-married spouses and migrants: neighbouring Guangdong counties and southern Jiangxi.
OTHER_AREAS = (
    "440281",
    "440222",
    "440224",
    "440229",
    "440203",
    "440204",
    "441621",
    "441481",
    "360702",
    "360722",
    "360723",
    "360724",
    "360725",
    "360728",
    "360733",
    "360781",
)


def _check_chars(body: np.ndarray) -> np.ndarray:
    """Check characters for 17-digit bodies held as int64."""
    total = np.zeros(len(body), dtype=np.int64)
    rest = body.copy()
    for weight in reversed(WEIGHTS):
        total += (rest % 10) * weight
        rest //= 10
    return np.array(list(CHECK_CHARS), dtype=object)[total % 11]


# In a city, the sequence numbers of one (area, birth date, sex) are shared out so that no two
# counties can mint the same ID: k < OWN_BLOCK for people born in the county generating them
# (only that county mints its own area's k), and a block of GUEST_BLOCK per county (by its
# place in the city's list) for people it has from elsewhere.  500 = OWN_BLOCK + 10 × GUEST_BLOCK.
OWN_BLOCK = 300
GUEST_BLOCK = 20


def assign_ids(
    areas: np.ndarray,
    births: np.ndarray,
    sexes: np.ndarray,
    rng: np.random.Generator,
    county: tuple[str, int] | None = None,
) -> np.ndarray:
    """One valid, unique 18-character ID per person (areas as 6-char strings, births as datetime64[D]).

    `county` (code, place in the city's list) mints within that county's blocks only (see
    OWN_BLOCK), so that the counties of a city never share an ID; None: the whole range."""
    n = len(areas)
    births = births.astype("datetime64[D]")
    area_int = np.asarray(areas).astype(np.int64)
    ymd = (
        (births.astype("datetime64[Y]").astype(np.int64) + 1970) * 10_000
        + (births.astype("datetime64[M]").astype(np.int64) % 12 + 1) * 100
        + ((births - births.astype("datetime64[M]")).astype(np.int64) + 1)
    )
    male = (np.asarray(sexes) == "男").astype(np.int64)
    frame = pl.DataFrame(
        {"i": np.arange(n), "area": area_int, "ymd": ymd, "male": male, "r": rng.random(n)}
    ).sort("r")
    frame = frame.with_columns(rank=pl.int_range(pl.len()).over(["area", "ymd", "male"]))
    frame = frame.sort("i")
    rank = frame["rank"].to_numpy().astype(np.int64)
    offset = (ymd * 37 + area_int * 11 + male * 101) % 500
    if county is None:
        if rank.max(initial=0) >= 500:
            raise ValueError("more than 500 people share an area, birth date and sex")
        k = (offset + rank * 7) % 500
    else:
        own = area_int == int(county[0])
        size = np.where(own, OWN_BLOCK, GUEST_BLOCK)
        base = np.where(own, 0, OWN_BLOCK + GUEST_BLOCK * county[1])
        if (rank >= size).any():
            raise ValueError("too many people share an area, birth date and sex in one county")
        k = base + (offset + rank * 7) % size
    seq = 2 * k + male
    body = area_int * 100_000_000_000 + ymd * 1000 + seq
    checks = _check_chars(body)
    ids = pl.Series(body).cast(pl.Utf8).str.zfill(17) + pl.Series(checks.astype(str))
    return ids.to_numpy().astype(object)


def may_mint(identity: str, county: tuple[str, int] | None) -> bool:
    """Whether `county` (as in `assign_ids`) may mint this ID: always without a city."""
    if county is None:
        return True
    k = int(identity[14:17]) // 2
    if identity[:6] == county[0]:
        return k < OWN_BLOCK
    first = OWN_BLOCK + GUEST_BLOCK * county[1]
    return first <= k < first + GUEST_BLOCK


def other_areas(county: str = NANXIONG) -> tuple[str, ...]:
    """Where the county's in-married spouses and migrants come from: Nanxiong's neighbours
    and southern Jiangxi; for another county the same list with Nanxiong instead of itself."""
    if county == NANXIONG:
        return OTHER_AREAS
    return tuple(a for a in (NANXIONG, *OTHER_AREAS) if a != county)


def choose_areas(
    rng: np.random.Generator, n: int, local_share: float, county: str = NANXIONG
) -> np.ndarray:
    """Area codes: the county's own (Nanxiong by default) for most, a neighbour for the rest."""
    areas = other_areas(county)
    local = rng.random(n) < local_share
    others = np.array(areas, dtype=object)[rng.integers(0, len(areas), size=n)]
    return np.where(local, county, others).astype(object)
