"""A county's reconciliation inside a city, as pure steps over frames (flows.city wires them).

The city-wide extracts are large (every county's residents) and a county needs few of their
rows: those of its roster's identities, and of the IDs one slip away from its invalid ones
(the candidates of R07/R08, `transforms.identity`).  `wanted` is that set, small enough to
broadcast to every part of an extract; `matching` filters a lazy scan with it, so the rows a
county's rules see are exactly those they could ever join -- the findings equal those of a
run over the whole extract (tests/transforms/test_city.py shows it).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms import identity, ids

__all__ = ["Wanted", "matching", "resolve", "wanted"]


@dataclass(frozen=True)
class Wanted:
    """IDs an extract row must hold (exactly, or by its first 15 characters) to matter."""

    ids: pl.Series
    prefixes: pl.Series


def wanted(roster: pl.DataFrame) -> Wanted:
    """What of the city extracts a roster can join: its valid IDs, every ID one substituted
    character or one swap away from an invalid 18-character ID, and the 15 surviving digits
    of the IDs Excel destroyed."""
    status, written = pl.col("id_status"), pl.col("id_norm")
    valid = roster.filter(status.is_in([ids.VALID, ids.LEGACY15]))["id_norm"]
    typo = roster.filter(
        ~status.is_in([ids.VALID, ids.LEGACY15, ids.BLANK, ids.EXCEL_MANGLED])
        & (written.str.len_chars() == 18)
    )["id_norm"]
    variants = [
        v for w in typo.drop_nulls().unique().to_list() for v in identity.one_edit_variants(w)
    ]
    mangled = roster.filter(status == ids.EXCEL_MANGLED)["id_norm"].drop_nulls().str.slice(0, 15)
    every = pl.concat([valid.drop_nulls(), pl.Series("id_norm", variants, pl.Utf8)])
    return Wanted(every.unique(), mangled.unique())


def matching(rows: pl.LazyFrame, want: Wanted) -> pl.LazyFrame:
    """The rows of an extract (lazy: a scan of its Parquet parts) a county can join."""
    written = pl.col("id_norm")
    return rows.filter(
        written.is_in(want.ids.implode()) | written.str.slice(0, 15).is_in(want.prefixes.implode())
    )


def resolve(roster: pl.DataFrame, dibao: pl.DataFrame, enrolment: pl.DataFrame) -> pl.DataFrame:
    """The roster resolved to identities against the city's 低保 rolls and enrolment."""
    reference = identity.reference_ids(
        identity.source_identity(dibao), identity.source_identity(enrolment)
    )
    return identity.resolve_roster(roster, reference)
