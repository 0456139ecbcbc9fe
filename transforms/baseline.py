"""The exact-join baseline: reconciliation as if IDs were only ever joined as written.

A roster person's identity is the normalised written ID when it is valid (a correct
15-digit ID converted to 18 included) and nothing otherwise: no typo repair, no Excel
prefix. `naive_identities` goes one step further down, to what a spreadsheet VLOOKUP on
证件号码 gives (the written ID whatever it is). Both exist to be measured against
`transforms.reconcile.reconcile`, so that what repair buys is a number
(benchmarks/reconcile.py), not a claim.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from config.settings import Divisions, Policy
from transforms import identity, ids
from transforms.reconcile import findings_of, rule_inputs


def exact_identities(roster: pl.DataFrame) -> pl.DataFrame:
    """`resolve_roster` with nothing to repair from: tiers exact, legacy15 and none only.

    An empty reference leaves every invalid ID without candidates, so R07 never fires and
    every invalid written ID is an R08.
    """
    return identity.resolve_roster(roster, identity.reference_ids())


def naive_identities(roster: pl.DataFrame) -> pl.DataFrame:
    """A VLOOKUP on the written ID: the normalised written ID is the identity even when it
    is invalid (blank excepted). Not what findings.md says; measured to show why not."""
    return exact_identities(roster).with_columns(
        identity=pl.when(pl.col("id_status") != ids.BLANK).then(pl.col("id_norm"))
    )


def reconcile_exact(
    data: dict[str, pl.DataFrame],
    as_of: date,
    policy: Policy,
    divisions: Divisions,
    file_names: dict[int, str],
    rules: list[str] | None = None,
    naive: bool = False,
) -> pl.DataFrame:
    """Findings of R01-R15 (with severity) on exact identities (`naive`: on written IDs,
    valid or not); same inputs as `reconcile`."""
    persons = naive_identities(data["roster"]) if naive else exact_identities(data["roster"])
    return findings_for(persons, data, as_of, policy, divisions, file_names, rules)


def findings_for(
    persons: pl.DataFrame,
    data: dict[str, pl.DataFrame],
    as_of: date,
    policy: Policy,
    divisions: Divisions,
    file_names: dict[int, str],
    rules: list[str] | None = None,
) -> pl.DataFrame:
    """The rules of `reconcile` on roster persons resolved by someone else."""
    inputs = rule_inputs(persons, data, as_of, policy, file_names)
    return findings_of(inputs, data, divisions, rules).findings
