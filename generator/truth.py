"""The expected findings, derived by applying findings.md's rules to the generator's tables.

This is an independent, deliberately plain reading of the rules (Python over a few
thousand roster rows, dictionaries over the sources) on the logical values a correct
pipeline reads back from the files. The injection log says what was meant to happen; a
test checks that the two agree.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache

import polars as pl

from config.schema import LABOUR_CAPABLE
from transforms.ids import EXCEL_MANGLED, parse_id

from .names import pinyin_key
from .roster import Raw, Roster, RosterRow

FINDING_COLUMNS = (
    "rule",
    "key",
    "township_code",
    "village",
    "household_id",
    "person_id",
    "id_as_written",
    "suggested_id",
    "record_key",
)
_SPACES = re.compile(r"\s+")
DANGEROUS = ("C级危房", "D级危房")
DROPOUT = "义务教育阶段辍学"


def norm_name(name: object) -> str:
    return _SPACES.sub("", unicodedata.normalize("NFKC", str(name or "")))


def written_key(id_raw: object) -> tuple[str, str]:
    """(normalised written ID, status) as findings.md wants it, Excel-mangled numbers included."""
    return _written_key(isinstance(id_raw, float), type(id_raw).__qualname__, id_raw)


@lru_cache(maxsize=1 << 18)
def _written_key(number: bool, kind: str, id_raw: object) -> tuple[str, str]:
    """`written_key`, remembered: a timeline asks about the same cells night after night.  The
    type is part of the key, so that a number and a text of equal value never share an entry."""
    if number:
        assert isinstance(id_raw, float)
        text = f"{id_raw:.15g}"  # Excel's 15 significant digits, never int(float)
        parsed = parse_id(text)
        return parsed.normalised, parsed.status if parsed.status != "valid" else EXCEL_MANGLED
    parsed = parse_id(id_raw)
    return parsed.normalised, parsed.status


@dataclass
class Sources:
    """What the 低保 roll and the enrolment extract say, keyed by written (normalised) ID."""

    names: dict[str, set[str]]  # valid ID -> normalised names under it (低保 + enrolment)
    insured_in_year: set[str]  # IDs with 参保缴费 in Y
    subsidy_none: set[str]  # IDs whose Y enrolment (参保缴费) says 资助类别 无
    dead_enrolment: set[str]
    dead_dibao: set[str]  # 停保 with reason 死亡 on or before D
    covered: dict[str, set[str]]  # ID -> categories covering it at D
    families: dict[str, list[dict]]  # 家庭编号 -> rows
    prefix15: dict[str, set[str]] = field(default_factory=dict)


def near_ids(written: str, status: str) -> set[str]:
    """Every ID one slip away from a written 18-character one (substitution or swap)."""
    out: set[str] = set()
    if status == EXCEL_MANGLED or len(written) != 18:
        return out
    for pos in range(18):
        for ch in "0123456789X":
            if ch != written[pos] and (ch != "X" or pos == 17):
                out.add(written[:pos] + ch + written[pos + 1 :])
    for pos in range(17):
        if written[pos] != written[pos + 1]:
            out.add(written[:pos] + written[pos + 1] + written[pos] + written[pos + 2 :])
    return out


def collect_sources(
    dibao: pl.DataFrame, enrolment: pl.DataFrame, as_of: date, wanted: set[str], prefixes: set[str]
) -> Sources:
    """What the sources say about the IDs the rules will ask about (`wanted`, or sharing one
    of the 15-digit `prefixes` of an Excel-mangled ID). `dibao` and `enrolment` carry the
    written IDs normalised (`id_norm`, `id_status`)."""
    year = as_of.year
    asked = pl.col("id_norm").is_in(list(wanted)) | pl.col("id_norm").str.slice(0, 15).is_in(
        list(prefixes)
    )
    ok = pl.col("id_status").is_in(["valid", "legacy15"])
    valid_d = dibao.filter(ok & asked)
    valid_e = enrolment.filter(ok & asked)
    pairs = pl.concat(
        [valid_d.select("id_norm", "name_norm"), valid_e.select("id_norm", "name_norm")]
    ).unique()
    names: dict[str, set[str]] = {}
    for i, n in pairs.iter_rows():
        names.setdefault(i, set()).add(n)
    y = valid_e.filter((pl.col("year") == year) & (pl.col("enrol_status") == "参保缴费"))
    insured = set(y["id_norm"].to_list())
    none = set(y.filter(pl.col("subsidy") == "无")["id_norm"].to_list())
    dead_e = set(valid_e.filter(pl.col("person_status") == "死亡")["id_norm"].to_list())
    dead_d = set(
        valid_d.filter(
            (pl.col("status") == "停保")
            & (pl.col("stop_reason") == "死亡")
            & (pl.col("stop_date") <= as_of)
        )["id_norm"].to_list()
    )
    cov = valid_d.filter(
        (pl.col("status") == "在保")
        & (pl.col("start_date") <= as_of)
        & (pl.col("stop_date").is_null() | (pl.col("stop_date") > as_of))
    )
    covered: dict[str, set[str]] = {}
    for i, c in cov.select("id_norm", "category").iter_rows():
        covered.setdefault(i, set()).add(c)
    families: dict[str, list[dict]] = {}
    for row in dibao.iter_rows(named=True):
        families.setdefault(row["family_id"], []).append(row)
    prefix: dict[str, set[str]] = {}
    for i in names:
        prefix.setdefault(i[:15], set()).add(i)
    return Sources(names, insured, none, dead_e, dead_d, covered, families, prefix)


def candidates(written: str, status: str, name: str, src: Sources) -> list[str]:
    """Valid IDs in the sources one slip away from `written`, held under the same name or sound."""
    if status == EXCEL_MANGLED:
        near = src.prefix15.get(written[:15], set())
    else:
        near = {v for v in near_ids(written, status) if v in src.names}
    key = pinyin_key(name)
    found = set()
    for cand in near:
        names = src.names.get(cand, set())
        if name in names or any(pinyin_key(n) == key for n in names):
            found.add(cand)
    return sorted(found)


@dataclass
class Resolved:
    row: RosterRow
    hh_id: str
    township_code: str
    village: str
    written: str
    status: str
    identity: str | None
    suggestion: str | None
    name: str


def resolve(roster: Roster, src: Sources) -> list[Resolved]:
    out = []
    for rec in roster.records():
        for row in rec.loaded_rows:
            written, status = written_key(row.id_raw)
            name = norm_name(row.name)
            identity = suggestion = None
            if status in ("valid", "legacy15"):
                identity = written
            else:
                cands = candidates(written, status, name, src)
                if len(cands) == 1:
                    identity = suggestion = cands[0]
            out.append(
                Resolved(
                    row,
                    rec.hh_id,
                    rec.township_code,
                    rec.village,
                    written,
                    status,
                    identity,
                    suggestion,
                    name,
                )
            )
    return out


def wanted_ids(roster: Roster) -> tuple[set[str], set[str]]:
    """The IDs (and 15-digit prefixes) the rules will look up for this roster."""
    wanted: set[str] = set()
    prefixes: set[str] = set()
    for row in roster.rows():
        written, status = written_key(row.id_raw)
        if status in ("valid", "legacy15"):
            wanted.add(written)
        elif status == EXCEL_MANGLED:
            prefixes.add(written[:15])
        else:
            wanted |= near_ids(written, status)
    return wanted, prefixes


def resolve_roster(
    roster: Roster, dibao: pl.DataFrame, enrolment: pl.DataFrame, as_of: date
) -> list[Resolved]:
    """The roster's loaded rows with the identity each resolves to (as `derive_findings` does)."""
    wanted, prefixes = wanted_ids(roster)
    return resolve(roster, collect_sources(dibao, enrolment, as_of, wanted, prefixes))


def derive_findings(
    roster: Roster,
    dibao: pl.DataFrame,
    enrolment: pl.DataFrame,
    settlements: pl.DataFrame,
    as_of: date,
    exit_lines: dict[int, float],
    housing_deadline: date,
    own_families: set[str] | None = None,
    registered_elsewhere: set[str] | frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """Apply R01-R15 of findings.md to the roster and the sources as of `as_of`.

    In a city `dibao`, `enrolment` and `settlements` are city-wide (every lookup of a person is
    city-wide); R11 then judges the families of `own_families` (the county's own roll) only,
    and a family is registered if a member is in this roster or in `registered_elsewhere`
    (the identities of every other county's roster)."""
    year = as_of.year
    wanted, prefixes = wanted_ids(roster)
    src = collect_sources(dibao, enrolment, as_of, wanted, prefixes)
    resolved = resolve(roster, src)
    found: dict[tuple[str, str], dict] = {}

    def add(rule: str, key: str, **cols) -> None:
        found.setdefault((rule, key), {"rule": rule, "key": key, **cols})

    def person(r: Resolved, **extra) -> dict:
        return {
            "township_code": r.township_code,
            "village": r.village,
            "household_id": r.hh_id,
            "person_id": r.identity or "",
            "id_as_written": r.written,
            "suggested_id": r.suggestion or "",
            "record_key": "",
            **extra,
        }

    holders: dict[str, list[Resolved]] = {}
    for r in resolved:
        if r.status not in ("valid", "legacy15"):
            if r.suggestion:
                add("R07", r.written, **person(r))
            else:
                add("R08", r.written, **person(r))
        if r.identity is None or not r.row.active:
            continue
        holders.setdefault(r.identity, []).append(r)
        i = r.identity
        dead = i in src.dead_enrolment or i in src.dead_dibao
        if dead:
            add("R05", i, **person(r))
        elif i not in src.insured_in_year:
            add("R01", i, **person(r))
        if i in src.insured_in_year and i in src.subsidy_none:
            add("R02", i, **person(r))
        names = src.names.get(i, set())
        if names and any(n != r.name for n in names):
            add("R09", i, **person(r))
        if r.row.school == DROPOUT:
            add("R15", i, **person(r))
    for i, rows in holders.items():
        if len(rows) > 1:
            add("R06", i, **person(rows[0]))

    by_hh: dict[str, list[Resolved]] = {}
    for r in resolved:
        by_hh.setdefault(r.hh_id, []).append(r)
    records = roster.by_hh()
    for hh_id, rows in by_hh.items():
        rec = records[hh_id]
        active = [r for r in rows if r.row.active]
        capable = any(r.row.labour in LABOUR_CAPABLE for r in active)
        cols = {
            "township_code": rec.township_code,
            "village": rec.village,
            "household_id": hh_id,
            "person_id": "",
            "id_as_written": "",
            "suggested_id": "",
            "record_key": "",
        }
        categories = set()
        for r in active:
            if r.identity:
                categories |= src.covered.get(r.identity, set())
        if active:
            if (
                rec.attribute in ("低保贫困户", "特困供养贫困户") or not capable
            ) and not categories:
                add("R03", hh_id, **cols)
            if categories:
                implied = "特困供养贫困户" if "特困供养" in categories else "低保贫困户"
                if implied != rec.attribute:
                    add("R04", hh_id, **cols)
            if capable and rec.exit_status != "已脱贫" and not norm_name(rec.cadre):
                add("R12", hh_id, **cols)
            if rec.housing in DANGEROUS and as_of > housing_deadline:
                add("R14", hh_id, **cols)
        exit_year = rec.exit_year if isinstance(rec.exit_year, int) else None
        if rec.exit_status == "已脱贫" and exit_year is not None and exit_year <= year:
            income = (
                rec.income
                if isinstance(rec.income, (int, float)) and not isinstance(rec.income, Raw)
                else None
            )
            line = exit_lines.get(exit_year, exit_lines[max(exit_lines)])
            below = capable and income is not None and income < line
            if below or rec.housing in DANGEROUS or any(r.row.school == DROPOUT for r in active):
                add("R10", hh_id, **cols)

    roster_ids = {r.identity for r in resolved if r.identity} | set(registered_elsewhere)
    for fid, family_rows in src.families.items():
        if own_families is not None and fid not in own_families:
            continue
        covered_rural = any(
            r["status"] == "在保"
            and r["category"] in ("农村低保", "特困供养")
            and r["start_date"] is not None
            and r["start_date"] <= as_of
            and (r["stop_date"] is None or r["stop_date"] > as_of)
            and r["id_status"] in ("valid", "legacy15")
            for r in family_rows
        )
        if covered_rural and not any(r["id_norm"] in roster_ids for r in family_rows):
            first = family_rows[0]
            add(
                "R11",
                fid,
                township_code=first["township_code"],
                village=first["village"],
                household_id=fid,
                person_id="",
                id_as_written="",
                suggested_id="",
                record_key="",
            )

    active_ids = {r.identity: r for r in resolved if r.identity and r.row.active}
    if active_ids:
        s = settlements.filter(pl.col("id_norm").is_in(list(active_ids)))
        for sid, i, eligible, basic, serious, assist in s.select(
            "settlement_id",
            "id_norm",
            "eligible_cost",
            "basic_paid",
            "serious_paid",
            "assistance_paid",
        ).iter_rows():
            if eligible is None or basic is None or assist is None:
                continue
            remaining = eligible - basic - (serious or 0.0)
            if remaining > 0 and assist < 0.7 * remaining - 0.5:
                r = active_ids[i]
                add("R13", sid, **{**person(r), "record_key": sid})

    frame = (
        pl.DataFrame(
            list(found.values()), schema={c: pl.Utf8 for c in FINDING_COLUMNS}, orient="row"
        )
        if found
        else pl.DataFrame(schema={c: pl.Utf8 for c in FINDING_COLUMNS})
    )
    return frame.select(FINDING_COLUMNS).sort("rule", "key")
