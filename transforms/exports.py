"""Export contracts (findings.md "Export contract"): frames shaped for the CSV users open."""

from __future__ import annotations

import polars as pl

from config.rules import CITY_RULES, RULES

FINDINGS_EXPORT_COLUMNS = [
    "rule",
    "rule_name",
    "severity",
    "status",
    "township_code",
    "township",
    "village",
    "household_id",
    "person_id",
    "id_as_written",
    "suggested_id",
    "record_key",
    "first_seen",
    "last_seen",
    "detail",
]
ISSUES_EXPORT_COLUMNS = [
    "kind",
    "kind_name",
    "status",
    "township_code",
    "township",
    "village",
    "household_id",
    "file",
    "sheet",
    "row_no",
    "column",
    "value",
    "message",
    "suggested_fix",
    "first_seen",
    "last_seen",
]


def _township_names(townships: dict[str, str]) -> pl.Expr:
    return pl.col("township_code").replace_strict(townships, default=None, return_dtype=pl.Utf8)


def findings_export(findings: pl.DataFrame, townships: dict[str, str]) -> pl.DataFrame:
    """One row per finding, in rule then township order, with the contract's columns first."""
    names = {c: r.name_zh for c, r in RULES.items()}
    out = findings.with_columns(
        rule_name=pl.col("rule").replace_strict(names, default=None, return_dtype=pl.Utf8),
        township=_township_names(townships),
        first_seen=pl.col("first_seen").cast(pl.Utf8),
        last_seen=pl.col("last_seen").cast(pl.Utf8),
        key=pl.col("key").str.replace(r"^R\d\d:", ""),
    )
    extra: list[str] = [c for c in ("resolved_on", "key") if c in out.columns]
    return out.select(FINDINGS_EXPORT_COLUMNS + extra).sort(
        "rule", "township_code", "village", "key", nulls_last=True
    )


def issues_export(
    issues: pl.DataFrame, townships: dict[str, str], files: dict[int, str]
) -> pl.DataFrame:
    from config.schema import ISSUE_KINDS

    kinds = {k: v[0] for k, v in ISSUE_KINDS.items()}
    out = issues.with_columns(
        kind_name=pl.col("kind").replace_strict(kinds, default=None, return_dtype=pl.Utf8),
        township=_township_names(townships),
        file=pl.col("file_id").replace_strict(files, default=None, return_dtype=pl.Utf8),
        first_seen=pl.col("first_seen").cast(pl.Utf8),
        last_seen=pl.col("last_seen").cast(pl.Utf8),
    )
    return out.select(ISSUES_EXPORT_COLUMNS).sort(
        "township_code", "file", "sheet", "row_no", "kind", nulls_last=True
    )


def city_export(per_county: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Several counties' export frames as one, `county_code` first, in county order.  A
    finding judged across counties (R16) is one finding shown to every county involved: the
    city's export lists it once, under the lowest county code (findings.md)."""
    frames = [
        frame.select(pl.lit(code, pl.Utf8).alias("county_code"), pl.all())
        for code, frame in sorted(per_county.items())
    ]
    if not frames:
        return pl.DataFrame({"county_code": []}, schema={"county_code": pl.Utf8})
    every = pl.concat(frames, how="diagonal_relaxed")
    if "rule" not in every.columns:
        return every
    across = pl.col("rule").is_in(CITY_RULES)
    key = "key" if "key" in every.columns else "person_id"
    once = every.filter(across).unique(["rule", key], keep="first", maintain_order=True)
    return pl.concat([every.filter(~across), once]).sort(
        "county_code", "rule", "township_code", "village", key, nulls_last=True, maintain_order=True
    )
