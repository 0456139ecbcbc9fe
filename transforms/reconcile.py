"""Reconciliation as one pure step: data in force → identity links and findings."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

import polars as pl

from config.rules import RULES
from config.settings import Divisions, Policy
from transforms import identity
from transforms.rules import RuleInputs, RulesRun, run_rules

LINK_COLUMNS = {
    "source": pl.Utf8,
    "file_id": pl.Int64,
    "sheet": pl.Utf8,
    "row_no": pl.Int64,
    "id_norm": pl.Utf8,
    "identity": pl.Utf8,
    "tier": pl.Utf8,
    "score": pl.Float64,
    "evidence": pl.Utf8,
}


@dataclass
class Reconciled:
    persons: pl.DataFrame  # roster in force with identity columns
    links: pl.DataFrame  # identity_link rows (roster and 低保 rows)
    rules: RulesRun  # findings (FINDING contract + severity), which rules ran, which failed
    inputs: RuleInputs

    @property
    def findings(self) -> pl.DataFrame:
        return self.rules.findings


def reconcile(
    data: dict[str, pl.DataFrame],
    as_of: date,
    policy: Policy,
    divisions: Divisions,
    file_names: dict[int, str],
    rules: list[str] | None = None,
    *,
    county: str | None = None,
    city_registered: pl.Series | None = None,
    persons: pl.DataFrame | None = None,
) -> Reconciled:
    """With `county` (a county of a city): `data` holds that county's roster and villages,
    every county's 低保 roll (with `county_code`) and the city extracts (or the parts of them
    it can join, `transforms.city`); `city_registered` the identities of every county's
    roster (R11).  `persons`: `resolve_persons` of `data`, when the caller kept it."""
    if persons is None:
        persons = resolve_persons(data["roster"], data["dibao"], data["enrolment"])
    inputs = rule_inputs(persons, data, as_of, policy, file_names)
    inputs.county, inputs.city_registered = county, city_registered
    found = findings_of(inputs, data, divisions, rules)
    return Reconciled(persons, identity_links(persons, inputs.dibao), found, inputs)


def resolve_persons(
    roster: pl.DataFrame, dibao: pl.DataFrame, enrolment: pl.DataFrame
) -> pl.DataFrame:
    """The roster resolved to identities against the 低保 roll(s) and the enrolment."""
    reference = identity.reference_ids(
        identity.source_identity(dibao), identity.source_identity(enrolment)
    )
    return identity.resolve_roster(roster, reference)


def rule_inputs(
    persons: pl.DataFrame,
    data: dict[str, pl.DataFrame],
    as_of: date,
    policy: Policy,
    file_names: dict[int, str],
) -> RuleInputs:
    """What the rules read: roster persons resolved by any resolver that fills identity,
    suggested_id and candidates as `resolve_roster` does, and the extracts in force."""
    return RuleInputs(
        persons=persons,
        dibao=identity.source_identity(data["dibao"]),
        enrolment=identity.source_identity(data["enrolment"]),
        settlements=identity.source_identity(data["settlement"]),
        as_of=as_of,
        exit_lines={y: float(line) for y, line in policy.exit_lines().items()},
        housing_deadline=policy.housing_deadline,
        assistance_share=policy.medical_assistance_share,
        assistance_tolerance=policy.medical_assistance_tolerance,
        file_names=file_names,
    )


def findings_of(
    inputs: RuleInputs,
    data: dict[str, pl.DataFrame],
    divisions: Divisions,
    rules: list[str] | None = None,
) -> RulesRun:
    """R01-R15 (or the named rules) with severity; R11's township from the written name."""
    written = data["dibao"]["township"].drop_nulls().unique().to_list()
    codes = {name: code for name in written if (code := divisions.township_code(name))}
    severity = {c: r.severity for c, r in RULES.items()}
    run = run_rules(inputs, rules, codes)
    findings = run.findings.with_columns(
        severity=pl.col("rule").replace_strict(severity, default=None, return_dtype=pl.Utf8)
    )
    return dataclasses.replace(run, findings=findings)


def identity_links(persons: pl.DataFrame, dibao: pl.DataFrame) -> pl.DataFrame:
    """How every roster and 低保 row was resolved, with the reason (tier) and what agreed."""
    roster = persons.select(
        source=pl.lit("roster"),
        file_id="file_id",
        sheet="sheet",
        row_no="row_no",
        id_norm="id_norm",
        identity="identity",
        tier="tier",
        score="match_score",
        evidence=pl.struct(
            name="name_agreement",
            village="village_agrees",
            candidates=pl.col("candidates").list.join(","),
        ).struct.json_encode(),
    )
    extract = dibao.select(
        source=pl.lit("dibao"),
        file_id="file_id",
        sheet="sheet",
        row_no="row_no",
        id_norm="id_norm",
        identity="identity",
        tier=pl.when(pl.col("identity").is_not_null())
        .then(pl.lit(identity.EXACT))
        .otherwise(pl.lit(identity.NONE)),
        score=pl.when(pl.col("identity").is_not_null()).then(1.0).otherwise(0.0),
        evidence=pl.lit(None, pl.Utf8),
    )
    return pl.concat([roster, extract]).cast(LINK_COLUMNS)  # type: ignore[arg-type]
