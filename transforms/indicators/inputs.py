"""What the indicators read (`IndicatorInputs`): the data in force at the evaluation date,
households keyed to their village, and the open findings and issues."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property

import polars as pl

from config.rules import RULES
from config.schema import UNIT_TYPE
from config.settings import Divisions, Policy, village_short
from transforms import ids
from transforms.frames import (
    DIBAO_ROW,
    ENROLMENT_ROW,
    ROSTER_PERSON,
    SETTLEMENT_ROW,
    conform,
    insured_in,
)
from transforms.indicators.catalogue import _HEALTH_KEYS, _LABOUR_KEYS, S
from transforms.indicators.periods import Period, parse_period
from transforms.rules import ACTIVE, DROPOUT, ENROLMENT_READ, RuleInputs


def bare_village(expr: pl.Expr) -> pl.Expr:
    """珠玑村委会 / 珠玑村民委员会 / ' 珠玑村 ' → 珠玑村: how a village is keyed."""
    return expr.str.replace_all(r"[\s\u3000]", "").str.replace(r"(村民委员会|村委会|委会)$", "村")


def open_at(day: date) -> pl.Expr:
    """A finding or issue open on `day`: seen by then and not resolved on or before it."""
    return (pl.col("first_seen") <= day) & (
        pl.col("resolved_on").is_null() | (pl.col("resolved_on") > day)
    )


def overdue_at(day: date, overdue_days: int) -> pl.Expr:
    """Open on `day` and first seen more than `overdue_days` days before it."""
    return open_at(day) & (pl.col("first_seen") < day - timedelta(days=overdue_days))


def _with_identity(frame: pl.DataFrame) -> pl.DataFrame:
    if "identity" in frame.columns:
        return frame
    valid = pl.col("id_status").is_in([ids.VALID, ids.LEGACY15])
    return frame.with_columns(identity=pl.when(valid).then(pl.col("id_norm")))


def _lifecycle(frame: pl.DataFrame | None, extra: Mapping[str, pl.DataType]) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {
        "township_code": S,
        "village": S,
        "status": S,
        "first_seen": pl.Date(),
        "last_seen": pl.Date(),
        "resolved_on": pl.Date(),
        **extra,
    }
    if frame is None:
        return pl.DataFrame(schema=schema)
    return frame.with_columns(
        [pl.lit(None).cast(t).alias(c) for c, t in schema.items() if c not in frame.columns]
    )


@dataclass
class IndicatorInputs:
    """What the indicators read: the data in force and the finding/issue life cycles.

    `persons` follow `transforms.frames.ROSTER_PERSON` (an `identity` column, as
    `transforms.identity.resolve_roster` adds it, is used when present; otherwise the valid
    written ID is the identity).  `findings` and `issues` are the warehouse tables (`finding`,
    `dq_issue`) or any frame with township_code, village, status, first_seen, resolved_on and,
    for findings, rule (severity is filled from config.rules when absent).
    """

    persons: pl.DataFrame
    villages: pl.DataFrame
    period: Period
    policy: Policy
    divisions: Divisions
    as_of: date | None = None
    dibao: pl.DataFrame | None = None
    enrolment: pl.DataFrame | None = None
    findings: pl.DataFrame | None = None
    issues: pl.DataFrame | None = None
    targets: pl.DataFrame | None = None

    def __post_init__(self) -> None:
        self.period = parse_period(self.period)

    @property
    def day(self) -> date:
        return self.period.evaluation_date(self.as_of)

    @property
    def year(self) -> int:
        return self.period.year

    @cached_property
    def rule_inputs(self) -> RuleInputs:
        """The rules' view of the same data at D, so households are derived exactly once."""
        return RuleInputs(
            persons=_with_identity(_complete(self.persons, ROSTER_PERSON)),
            dibao=_with_identity(conform_or_empty(self.dibao, DIBAO_ROW)),
            enrolment=_with_identity(
                conform_or_empty(self.enrolment, {c: ENROLMENT_ROW[c] for c in ENROLMENT_READ})
            ),
            settlements=_with_identity(conform_or_empty(None, SETTLEMENT_ROW)),
            as_of=self.day,
            exit_lines=self.policy.exit_lines(),
            housing_deadline=self.policy.housing_deadline,
            assistance_share=self.policy.medical_assistance_share,
            assistance_tolerance=self.policy.medical_assistance_tolerance,
        )

    @cached_property
    def village_names(self) -> pl.DataFrame:
        """(township_code, village_key) → NBS code and short name, from the divisions list."""
        rows = [(v.township_code, village_short(v.name), v.code) for v in self.divisions.villages]
        frame = pl.DataFrame(
            rows, schema={"township_code": S, "vname": S, "village_code": S}, orient="row"
        )
        return frame.with_columns(village_key=bare_village(pl.col("vname"))).select(
            "township_code", "village_key", "village_code"
        )

    @cached_property
    def households(self) -> pl.DataFrame:
        """Active households with what the indicators need, keyed to their village."""
        x = self.rule_inputs
        p = x.persons.filter(pl.col("person_status") == ACTIVE).with_columns(
            insured=pl.col("identity").is_in(self._insured_ids.implode()).fill_null(False)
        )
        members = p.group_by("household_id").agg(
            persons=pl.len(),
            water_safe=pl.col("water_safe").drop_nulls().first(),
            **{
                f"persons_labour_{k}": (pl.col("labour") == v).sum()
                for v, k in _LABOUR_KEYS.items()
            },
            **{
                f"persons_health_{k}": (pl.col("health") == v).sum()
                for v, k in _HEALTH_KEYS.items()
            },
            dropouts=(pl.col("school") == DROPOUT).sum(),
            insured=pl.col("insured").sum(),
        )
        return (
            x.households.filter(pl.col("active"))
            .join(members, on="household_id", how="left")
            .with_columns(village_key=bare_village(pl.col("village")))
        )

    @cached_property
    def _insured_ids(self) -> pl.Series:
        e = self.rule_inputs.enrolment
        return e.filter(pl.col("identity").is_not_null() & insured_in(self.year))[
            "identity"
        ].unique()

    @cached_property
    def open_findings(self) -> pl.DataFrame:
        f = _lifecycle(self.findings, {"rule": S, "severity": S})
        severity = {c: r.severity for c, r in RULES.items()}
        f = f.with_columns(
            severity=pl.coalesce(
                pl.col("severity"),
                pl.col("rule").replace_strict(severity, default=None, return_dtype=S),
            )
        )
        return self._problems(f)

    @cached_property
    def open_issues(self) -> pl.DataFrame:
        return self._problems(_lifecycle(self.issues, {"kind": S}))

    def _problems(self, frame: pl.DataFrame) -> pl.DataFrame:
        d = self.day
        return frame.filter(open_at(d)).with_columns(
            village_key=bare_village(pl.col("village")),
            overdue=overdue_at(d, self.policy.overdue_days),
            days_open=(pl.lit(d) - pl.col("first_seen")).dt.total_days(),
        )

    @cached_property
    def village_sheet(self) -> pl.DataFrame:
        """One row per village of the villages sheets in force, with its support unit."""
        v = self.villages
        if v is None or v.height == 0:
            return pl.DataFrame(
                schema={"township_code": S, "village_key": S, "support_unit": S, "unit_type": S}
            )
        return (
            v.with_columns(
                village_key=bare_village(pl.col("village")),
                unit_type=_unit_type(pl.col("unit_type")),
            )
            .filter(pl.col("village_key").is_not_null() & (pl.col("village_key") != ""))
            .unique(["township_code", "village_key"], keep="first", maintain_order=True)
        )

    def township_name(self, code: str | None) -> str | None:
        if code is None or code not in self.divisions.townships:
            return None
        return self.divisions.short_name(code)


def _complete(frame: pl.DataFrame, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Add the contract's missing columns as nulls, keeping any extra ones (identity)."""
    return frame.with_columns(
        [pl.lit(None).cast(t).alias(c) for c, t in schema.items() if c not in frame.columns]
    )


def conform_or_empty(frame: pl.DataFrame | None, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    if frame is None:
        return conform(pl.DataFrame(), schema)
    return _complete(frame, schema)


def _unit_type(expr: pl.Expr) -> pl.Expr:
    """A written unit type mapped to its canonical name (省直 → 省直/中直驻粤)."""
    lookup = {syn: canon for canon, syns in UNIT_TYPE.items() for syn in (canon, *syns)}
    cleaned = expr.str.replace_all(r"[\s\u3000]", "")
    return cleaned.replace_strict(lookup, default=cleaned, return_dtype=S)
