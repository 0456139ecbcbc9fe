"""A county's reconciliation inside a city, as pure steps over frames (flows.city wires them).

The city-wide extracts are large (every county's residents) and a county needs few of their
rows: those of its roster's identities, and of the IDs one slip away from its invalid ones
(the candidates of R07/R08, `transforms.identity`).  `wanted` is that set, small enough to
broadcast to every part of an extract; `matching` filters a lazy scan with it, so the rows a
county's rules see are exactly those they could ever join -- the findings equal those of a
run over the whole extract (tests/transforms/test_city.py shows it).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date

import polars as pl

from config.rules import CITY_RULES, RULES
from config.settings import Divisions, Policy
from transforms import identity, ids
from transforms.evidence import source_row
from transforms.frames import FINDING, conform
from transforms.reconcile import Reconciled, reconcile
from transforms.rules import ACTIVE, RULE_FUNCTIONS, RulesRun, _where, _who
from transforms.text import fmt

__all__ = [
    "CITY_RULES",
    "NEEDS_EVERY_COUNTY",
    "Wanted",
    "judge",
    "matching",
    "r16_duplicate_across_counties",
    "wanted",
]


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


def r16_duplicate_across_counties(
    persons: pl.DataFrame, county_names: dict[str, str], file_names: dict[int, str]
) -> pl.DataFrame:
    """跨县重复登记: an identity active on the rosters of two or more counties.  `persons`:
    every county's resolved roster rows, with `county_code`.  One row per (identity, county
    involved), all with the same key, each on that county's first row (by file, then row):
    the finding is one, shown to every county; its evidence and detail cite every row."""
    files = pl.DataFrame(
        {"file_id": list(file_names), "file": list(file_names.values())},
        schema={"file_id": pl.Int64, "file": pl.Utf8},
    )
    names = pl.DataFrame(
        {"county_code": list(county_names), "county": list(county_names.values())},
        schema={"county_code": pl.Utf8, "county": pl.Utf8},
    )
    rows = (
        persons.filter((pl.col("person_status") == ACTIVE) & pl.col("identity").is_not_null())
        .join(files, on="file_id", how="left")
        .join(names, on="county_code", how="left")
        .sort("county_code", "file_id", "row_no")
        .with_columns(
            place=fmt(
                "{}《{}》第{}行",
                pl.col("county").fill_null(pl.col("county_code")),
                pl.col("file").fill_null("?"),
                pl.col("row_no"),
            )
        )
    )
    spans = (
        rows.group_by("identity", maintain_order=True)
        .agg(
            counties=pl.col("county_code").n_unique(),
            places=pl.col("place").str.join("、"),
            evidence=source_row("roster"),
            first_name=pl.col("name").first(),
        )
        .filter(pl.col("counties") > 1)
    )
    firsts = rows.unique(["identity", "county_code"], keep="first", maintain_order=True)
    found = firsts.join(spans, on="identity", how="inner").select(
        "county_code",
        rule=pl.lit("R16"),
        key="identity",
        township_code="township_code",
        village="village",
        household_id="household_id",
        person_id="identity",
        id_as_written="id_norm",
        detail=fmt(
            "{}在{}均为正常在册，跨县重复登记。请相关县（市、区）核实户籍和实际居住地后只保留一处。",
            _who("first_name"),
            pl.col("places"),
        ),
        evidence="evidence",
    )
    return pl.concat(
        [found.select("county_code"), conform(found.drop("county_code"), FINDING)], how="horizontal"
    )


def city_rules(
    persons: pl.DataFrame, county_names: dict[str, str], file_names: dict[int, str]
) -> RulesRun:
    """The rules judged across counties (R16), each on its own as `run_rules` runs them:
    one that raises is reported, not raised.  Findings carry `county_code` and severity."""
    try:
        found = r16_duplicate_across_counties(persons, county_names, file_names)
    except Exception as exc:  # one rule's defect must not cost the counties their night
        return RulesRun(_empty_city(), [], {"R16": _where(exc)}, {})
    found = found.with_columns(
        key=pl.col("rule") + ":" + pl.col("key"), severity=pl.lit(RULES["R16"].severity)
    )
    return RulesRun(found, ["R16"], {}, {})


def _empty_city() -> pl.DataFrame:
    return pl.concat(
        [pl.DataFrame(schema={"county_code": pl.Utf8}), conform(pl.DataFrame(), FINDING)],
        how="horizontal",
    ).with_columns(severity=pl.lit(None, pl.Utf8))


# The rules that need every county's identities: R11 (a 低保 family registered in no
# county) and the rules across counties.  Without one county's, they are not judged.
NEEDS_EVERY_COUNTY = ("R11", *CITY_RULES)


def judge(
    county: str,
    data: dict[str, pl.DataFrame],
    persons: dict[str, pl.DataFrame],
    as_of: date,
    policy: Policy,
    divisions: Divisions,
    file_names: dict[int, str],
    county_names: dict[str, str],
    unresolved: dict[str, str] | None = None,
) -> Reconciled:
    """A county's reconciliation in a city: R01-R15 on its roster with every lookup
    city-wide (`data`: its roster and villages, every county's 低保 roll, the extract rows it
    can join), and its part of R16 over `persons`, every county's resolved roster.

    `unresolved`: the counties whose identities are missing tonight (code -> why).  Then the
    rules of NEEDS_EVERY_COUNTY are reported failed, not judged on part of the city: their
    findings stay as they were, rather than be resolved or raised for want of a roster."""
    registered = pl.concat([p["identity"] for p in persons.values()]).drop_nulls().unique()
    held = NEEDS_EVERY_COUNTY if unresolved else ()
    result = reconcile(
        data,
        as_of,
        policy,
        divisions,
        file_names,
        [code for code in RULE_FUNCTIONS if code not in held],
        county=county,
        city_registered=registered,
    )
    run = result.rules
    if unresolved:
        why = "、".join(county_names.get(c, c) for c in sorted(unresolved)) + "身份比对未完成"
        merged = dataclasses.replace(run, failed={**run.failed, **dict.fromkeys(held, why)})
    else:
        every = pl.concat(list(persons.values()), how="diagonal_relaxed")
        city = city_rules(every, county_names, file_names)
        mine = city.findings.filter(pl.col("county_code") == county).drop("county_code")
        merged = RulesRun(
            pl.concat([run.findings, mine.select(run.findings.columns)]),
            run.ran + city.ran,
            {**run.failed, **city.failed},
            {**run.keyless, **city.keyless},
        )
    # Each county records the links of its own rows (another county's 低保 rows are that
    # county's to record, and its warehouse holds their files).
    dibao = data["dibao"]
    theirs = dibao.filter(pl.col("county_code") != county)["file_id"].unique()
    links = result.links.filter(
        (pl.col("source") != "dibao") | ~pl.col("file_id").is_in(theirs.implode())
    )
    return dataclasses.replace(result, rules=merged, links=links)
