"""`generate`: build the twin, spoil it, write the inbox, derive and write the truth."""

from __future__ import annotations

import json
import shutil
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from multiprocessing import get_context
from pathlib import Path

import polars as pl

from . import layout, mess
from .extracts import Extracts, write_extracts
from .inject import Injection, Injector, IssueRef, inject_all
from .params import (
    GENERATOR_VERSION,
    HARD_NEGATIVE_COUNTS,
    ISSUE_COUNTS,
    RULE_COUNTS,
    SINGLE_NIGHT,
    GenParams,
)
from .roster import Roster, build_roster
from .truth import derive_findings, norm_name, wanted_ids, written_key
from .world import World, build_world
from .writers import WorkbookJob, write_csv, write_workbook

ISSUE_COLUMNS = ("kind", "township_code", "file", "sheet", "row_no", "column", "household_id")
ISSUE_TRUTH_SCHEMA: dict[str, type[pl.DataType]] = {
    c: pl.Int64 if c == "row_no" else pl.Utf8 for c in ISSUE_COLUMNS
}
INJECTION_COLUMNS = (
    "injection",
    "kind",
    "code",
    "variant",
    "township_code",
    "household_id",
    "person_id",
    "expect",
    "absent",
    "note",
)


@dataclass
class Generated:
    """One night's twin in memory: what `generate` wrote into the inbox, and what the truth
    (and a timeline of later nights) is derived from."""

    params: GenParams
    world: World
    roster: Roster
    styles: dict[str, mess.Style]
    injector: Injector
    jobs: list[WorkbookJob]  # the township workbooks as laid out (sheets and row numbers)
    extracts: Extracts
    township_files: list[str]


def generate(
    out_dir: Path, scale: float = 1.0, seed: int = 20161010, as_of: date = SINGLE_NIGHT
) -> dict:
    """Write `out_dir/inbox/` (sources.md layout) and `out_dir/truth/`; return a summary."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    params = GenParams(scale=scale, seed=seed, as_of=as_of)
    inbox, truth_dir = out_dir / "inbox", out_dir / "truth"
    for d in (inbox, truth_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    gen = build_inbox(params, inbox)
    counts = write_truth(gen, truth_dir)
    return {**counts, "seconds": round(time.perf_counter() - started, 2), "out_dir": str(out_dir)}


def build_inbox(params: GenParams, inbox: Path) -> Generated:
    """Build the twin, spoil it and write `inbox` (an existing, empty folder)."""
    world = build_world(params)
    roster = build_roster(world.pop)
    has_poor = {
        code: any(v.is_poor for v in world.geo.villages_of(code)) for code in world.geo.townships
    }
    styles = mess.choose_styles(world.geo.townships, has_poor, params)
    injector = inject_all(world, roster, params, styles)
    jobs = layout_townships(world, roster, styles, inbox)
    township_files = [f"townships/{job.path.name}" for job in jobs]
    with writer_pool(params.scale) as pool:
        written = [pool.submit(write_workbook, job) for job in jobs]
        extracts = write_extracts(world, inbox, injector.enrol, injector.claims, wanted_ids(roster))
        for future in written:
            future.result()
    return Generated(params, world, roster, styles, injector, jobs, extracts, township_files)


def write_truth(gen: Generated, truth_dir: Path) -> dict:
    """Derive the truth of a generation and write it to `truth_dir`; returns the counts."""
    params, world, roster = gen.params, gen.world, gen.roster
    injector, extracts = gen.injector, gen.extracts
    findings = derive_findings(
        roster,
        extracts.dibao,
        extracts.enrolment,
        extracts.settlements,
        params.as_of,
        params.policy.exit_lines(),
        params.policy.housing_deadline,
    )
    issues = resolve_issues(injector.issues, extracts)
    agreement = check_agreement(findings, injector)
    write_csv(findings, truth_dir / "findings.csv", "utf-8-sig")
    write_csv(issues, truth_dir / "issues.csv", "utf-8-sig")
    write_csv(injection_frame(injector), truth_dir / "injections.csv", "utf-8-sig")
    write_csv(expected_roster(roster), truth_dir / "roster_expected.csv", "utf-8-sig")
    counts = _counts(world, roster, gen.township_files, extracts, findings, issues)
    counts["truth_agreement"] = {k: len(v) for k, v in agreement.items()}
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "seed": params.seed,
        "scale": params.scale,
        "as_of": params.as_of.isoformat(),
        "counts": counts,
        "rates": {
            "rules_at_scale_1": RULE_COUNTS,
            "issues_at_scale_1": ISSUE_COUNTS,
            "hard_negatives_at_scale_1": HARD_NEGATIVE_COUNTS,
        },
        "injected": _injected(injector),
        "files": {"townships": gen.township_files, **extracts.files},
        "conventions": {
            "row_no": "Excel row number, 1-based, title and header rows counted; CSV: line number, header = 1",
            "household_cells": "issues on household-level cells point at the household's first row",
            "family_size": "家庭人口 counts active members; left blank for households with a member 死亡/迁出/清退",
            "excel_mangled_key": "15 surviving digits + 000, from the cell's 15-significant-digit text",
            "invalid_ids": "an Excel-mangled ID is excel_mangled_id only; any other invalid ID is invalid_id",
            "sex_mismatch": "性别 is compared with valid written IDs only (typos never touch the sex digit)",
            "foreign_township": "one issue per pasted row, column 乡镇, township_code of the workbook",
            "claims_issues": "township_code empty (the settlement extract names no township)",
            "household_kinds": "household_head and family_size_mismatch: household_id only, no row or column",
        },
    }
    (truth_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8"
    )
    return counts


def layout_townships(
    world: World, roster: Roster, styles: dict[str, mess.Style], inbox: Path, folder: str = ""
) -> list[WorkbookJob]:
    """Lay every township workbook out (this numbers the rows); writing comes later.
    `folder` ("440281/" in a city) goes before `townships/` in the paths."""
    params = world.params
    (inbox / folder / "townships").mkdir(parents=True, exist_ok=True)
    jobs = []
    for code, records in roster.workbooks.items():
        style = styles[code]
        rng = params.rng(f"layout-{code}")
        rel = f"{folder}townships/{style.file_name}"
        sheets = []
        if style.preface_sheet:
            sheets.append(layout.preface_sheet(style))
        sheets.append(layout.roster_sheet(style, records, rel, params.as_of, rng))
        if style.village_sheet:
            fmt = mess.CellFormatter(style, rng)
            sheets.append(
                layout.village_sheet(style, world.geo.villages_of(code), fmt, params.county_name)
            )
        title = f"{style.township}建档立卡贫困人口花名册"
        if params.city:
            title = params.county_name + title
        jobs.append(
            WorkbookJob(inbox / rel, style.fmt, sheets, params.stamp, title, params.county_name)
        )
    return jobs


class _Inline:
    """An executor that runs each job at once (small scales: no process start-up cost)."""

    def submit(self, fn, *args) -> Future:
        future: Future = Future()
        future.set_result(fn(*args))
        return future

    def __enter__(self) -> _Inline:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def writer_pool(scale: float) -> ProcessPoolExecutor | _Inline:
    """Workbooks are written by xlsxwriter, pure Python: from scale 0.5 up, two worker
    processes write them while this one builds the extracts."""
    if scale < 0.5:
        return _Inline()
    return ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn"))


def resolve_issues(refs: list[IssueRef], extracts: Extracts) -> pl.DataFrame:
    rows = []
    for ref in refs:
        if ref.source == "insurance":
            assert isinstance(ref.source_ref, tuple)
            pid, year = ref.source_ref
            lines = extracts.enrol_row_no.get(pid, {})
            for y, line in sorted(lines.items()):
                if year is None or y == year:
                    rows.append(
                        {
                            "kind": ref.kind,
                            "township_code": ref.township_code,
                            "file": extracts.enrol_files.get(y, extracts.files["insurance"]),
                            "sheet": "",
                            "row_no": line,
                            "column": ref.column,
                            "household_id": "",
                        }
                    )
            continue
        file = sheet = ""
        row_no: int | None = None
        if ref.source == "townships":
            if ref.row is not None:
                file, sheet, row_no = ref.row.file, ref.row.sheet, ref.row.row_no
            elif ref.record is not None:
                file, sheet = ref.record.file, ref.record.sheet
                row_no = ref.record.first_row if ref.column else None
        elif ref.source == "dibao":
            assert isinstance(ref.source_ref, int)
            file, row_no = extracts.files["dibao"], extracts.dibao_row_no[ref.source_ref]
        elif ref.source == "claims":
            assert isinstance(ref.source_ref, str)
            file, sheet, row_no = extracts.claim_row[ref.source_ref]
        rows.append(
            {
                "kind": ref.kind,
                "township_code": ref.township_code,
                "file": file,
                "sheet": sheet,
                "row_no": row_no,
                "column": ref.column,
                "household_id": ref.household_id,
            }
        )
    schema = ISSUE_TRUTH_SCHEMA
    frame = pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)
    return frame.unique().sort(
        "file", "sheet", "row_no", "column", "kind", "household_id", nulls_last=True
    )


def check_agreement(findings: pl.DataFrame, injector: Injector) -> dict[str, list[tuple[str, str]]]:
    """Derived truth against the injection log: what was meant but not derived, what was
    derived but not meant, and what a hard negative forbids but was derived anyway."""
    derived = set(findings.select("rule", "key").iter_rows())
    expected = {e for inj in injector.log for e in inj.expect}
    forbidden = {a for inj in injector.log for a in inj.absent}
    return {
        "missing": sorted(expected - derived),
        "unexplained": sorted(derived - expected),
        "forbidden_found": sorted(forbidden & derived),
    }


def expected_roster(roster: Roster) -> pl.DataFrame:
    """The roster a perfect reader gets from the workbooks: one row per sheet row, canonical
    values, household values filled within 户编号, IDs in their normalised written form."""
    rows = []
    for code, records in roster.workbooks.items():
        for rec in records:
            for r in rec.rows:
                written, status = written_key(r.id_raw)
                rows.append(
                    {
                        "file": r.file,
                        "sheet": r.sheet,
                        "row_no": r.row_no,
                        "township_code": code,
                        "loaded": r.loaded,
                        "household_id": rec.hh_id,
                        "village": r.village,
                        "name": norm_name(r.name),
                        "id_as_written": written,
                        "id_status": status,
                        "sex": r.sex,
                        "relation": r.relation,
                        "labour": r.labour,
                        "health": r.health,
                        "school": r.school,
                        "person_status": r.status or "正常",
                        "attribute": rec.attribute,
                        "family_size": _text(rec.family_size),
                        "income": _text(rec.income),
                        "exit_status": rec.exit_status,
                        "exit_year": _text(rec.exit_year),
                        "housing": rec.housing,
                        "water_safe": ""
                        if rec.water_safe is None
                        else ("是" if rec.water_safe else "否"),
                        "support_unit": rec.support_unit,
                        "support_cadre": norm_name(rec.cadre),
                    }
                )
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.sort("file", "row_no")


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)


def injection_frame(injector: Injector) -> pl.DataFrame:
    return log_frame(injector.log)


def log_frame(log: list[Injection]) -> pl.DataFrame:
    """The injection log as `truth/injections.csv` holds it."""
    rows = []
    for i, inj in enumerate(log, start=1):
        rows.append(
            {
                "injection": i,
                "kind": inj.kind,
                "code": inj.code,
                "variant": inj.variant,
                "township_code": inj.township_code,
                "household_id": inj.household_id,
                "person_id": inj.person_id,
                "expect": ";".join(f"{r}:{k}" for r, k in inj.expect),
                "absent": ";".join(f"{r}:{k}" for r, k in inj.absent),
                "note": inj.note,
            }
        )
    schema = {c: pl.Utf8 for c in INJECTION_COLUMNS} | {"injection": pl.Int64}
    return pl.DataFrame(rows, schema=schema) if rows else pl.DataFrame(schema=schema)


def _injected(injector: Injector) -> dict[str, dict[str, int]]:
    """How many injections of each code and variant this generation made."""
    out: dict[str, dict[str, int]] = {}
    for inj in injector.log:
        key = f"{inj.kind}:{inj.code}"
        out.setdefault(key, {})
        out[key][inj.variant] = out[key].get(inj.variant, 0) + 1
    return dict(sorted(out.items()))


def _counts(
    world: World,
    roster: Roster,
    township_files: list[str],
    extracts: Extracts,
    findings: pl.DataFrame,
    issues: pl.DataFrame,
) -> dict:
    pop = world.pop
    return {
        "households": len(pop.households),
        "persons": len(pop.persons),
        "roster_rows": sum(len(h.rows) for h in roster.records(include_foreign=True)),
        "poor_villages": sum(v.is_poor for v in world.geo.villages),
        "villages": len(world.geo.villages),
        "townships": len(world.geo.townships),
        "persons_out": sum(len(h.members) for h in pop.households if h.exit_status == "已脱贫"),
        "people_in_sources": world.people.height,
        "residents": world.people.filter(pl.col("kind") == "resident").height,
        "files": len(township_files) + sum(len(v.split(";")) for v in extracts.files.values()),
        "rows": {
            "townships": sum(len(h.rows) for h in roster.records(include_foreign=True)),
            **extracts.rows,
        },
        "findings": dict(sorted(Counter(findings["rule"].to_list()).items())),
        "issues": dict(sorted(Counter(issues["kind"].to_list()).items())),
    }
