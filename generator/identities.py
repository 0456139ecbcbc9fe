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


def assign_ids(
    areas: np.ndarray, births: np.ndarray, sexes: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """One valid, unique 18-character ID per person (areas as 6-char strings, births as datetime64[D])."""
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
    if rank.max(initial=0) >= 500:
        raise ValueError("more than 500 people share an area, birth date and sex")
    offset = (ymd * 37 + area_int * 11 + male * 101) % 500
    k = (offset + rank * 7) % 500
    seq = 2 * k + male
    body = area_int * 100_000_000_000 + ymd * 1000 + seq
    checks = _check_chars(body)
    ids = pl.Series(body).cast(pl.Utf8).str.zfill(17) + pl.Series(checks.astype(str))
    return ids.to_numpy().astype(object)


def choose_areas(rng: np.random.Generator, n: int, local_share: float) -> np.ndarray:
    """Area codes: Nanxiong for most, a neighbouring county for the rest."""
    local = rng.random(n) < local_share
    others = np.array(OTHER_AREAS, dtype=object)[rng.integers(0, len(OTHER_AREAS), size=n)]
    return np.where(local, NANXIONG, others).astype(object)
