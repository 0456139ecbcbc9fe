"""`generate_city`: several counties of 韶关市 at once, with the city-wide extracts.

Each county is a full twin like Nanxiong's (`core.build_inbox`'s first half), built on its own
divisions with a seed derived from (seed, county code), so that what a county holds does not
depend on which other counties are generated; then the cross-county cases (`cross`) are
injected and everything is written in the multi-county layout of sources.md:

```
DIR/inbox/<code>/townships/*.xlsx     DIR/inbox/<code>/dibao/<县名>城乡低保特困供养人员名册_YYYYMM.csv
DIR/inbox/insurance/韶关市城乡居民医保参保名册_<year>.csv  (every county's residents, a 参保年度 per file)
DIR/inbox/claims/医疗费用结算明细_YYYY.csv, …_Y年1-M月.xlsx  (every county's settlements)
DIR/truth/findings.csv, issues.csv, injections.csv, roster_expected.csv  (county_code first)
DIR/truth/manifest.json
DIR/policy/<code>.toml                (each county's policy: its figures as generated)
```
Sizes: Nanxiong is `scale` × its own size; another county `scale` × Nanxiong's size × its
number of villages / 208 (households, persons, residents, injections and poor villages alike).
The truth follows common semantics: every lookup of a person is city-wide, R06 and R11's
families stay within a county, R16 is listed once per identity under the lowest county.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl

from config.settings import HOME_COUNTY, city_counties, load_divisions

from . import mess
from .core import (
    ISSUE_TRUTH_SCHEMA,
    expected_roster,
    layout_townships,
    log_frame,
    resolve_issues,
    writer_pool,
)
from .cross import CountyTwin, CrossInjection, inject_cross
from .extracts import (
    Extracts,
    _apply_enrolment_edits,
    _write_claims,
    dibao_frame,
    dibao_text,
    settlement_frames,
    write_enrolment_by_year,
)
from .inject import inject_all
from .params import GENERATOR_VERSION, SINGLE_NIGHT, GenParams
from .policies import write_policies
from .roster import build_roster
from .truth import FINDING_COLUMNS, Resolved, derive_findings, resolve_roster, wanted_ids
from .world import build_world
from .writers import write_csv, write_workbook

CITY_CODE = "440200"
CITY_NAME = "韶关市"
PID_STRIDE = 10_000_000  # global pid = county code × stride + the county's own pid


def county_seed(seed: int, county: str) -> int:
    """The seed of one county of a city: a function of (seed, county) only."""
    return int.from_bytes(hashlib.sha256(f"{seed}:{county}".encode()).digest()[:7], "big")


def county_params(county: str, scale: float, seed: int, as_of: date) -> GenParams:
    divisions = load_divisions(None if county == HOME_COUNTY else county)
    factor = len(divisions.villages) / len(load_divisions().villages)
    return GenParams(
        scale=scale * factor,
        seed=county_seed(seed, county),
        as_of=as_of,
        county=county,
        county_name=divisions.county_name,
        city=True,
        county_factor=factor,
    )


def build_county(params: GenParams) -> CountyTwin:
    world = build_world(params)
    roster = build_roster(world.pop)
    has_poor = {
        code: any(v.is_poor for v in world.geo.villages_of(code)) for code in world.geo.townships
    }
    styles = mess.choose_styles(world.geo.townships, has_poor, params)
    injector = inject_all(world, roster, params, styles)
    return CountyTwin(params.county, params.county_name, params, world, roster, styles, injector)


def generate_city(
    out_dir: Path,
    counties: list[str],
    scale: float = 1.0,
    seed: int = 20161010,
    as_of: date = SINGLE_NIGHT,
) -> dict:
    """Write `out_dir/inbox/` (one folder per county, city-wide extracts), `out_dir/truth/`
    and `out_dir/policy/` (each county's policy file, `generator.policies`)."""
    started = time.perf_counter()
    known = city_counties()
    codes = sorted(set(counties))
    unknown = [c for c in codes if c not in known]
    if unknown or len(codes) < 2:
        raise ValueError(
            f"需要至少两个韶关市的县级区划代码（未知：{'、'.join(unknown) or '无'}；"
            f"可用：{'、'.join(known)}）"
        )
    out_dir = Path(out_dir)
    inbox, truth_dir, policy_dir = out_dir / "inbox", out_dir / "truth", out_dir / "policy"
    for d in (inbox, truth_dir, policy_dir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    twins = {c: build_county(county_params(c, scale, seed, as_of)) for c in codes}
    cross = inject_cross(twins)
    written = _write_inbox(twins, inbox)
    policies = write_policies(twins, policy_dir, seed, scale)
    counts = _write_truth(twins, cross, written, truth_dir, scale, seed, as_of)
    return {
        **counts,
        "policies": policies,
        "seconds": round(time.perf_counter() - started, 2),
        "out_dir": str(out_dir),
    }


# ---------------------------------------------------------------- the inbox


class _Written:
    """What writing the inbox leaves for the truth: per-county extract views and files."""

    def __init__(self) -> None:
        self.extracts: dict[str, Extracts] = {}
        self.township_files: dict[str, list[str]] = {}
        self.dibao: pl.DataFrame = pl.DataFrame()  # the union of every county's roll
        self.own_families: dict[str, set[str]] = {}
        self.enrolment: pl.DataFrame = pl.DataFrame()
        self.settlements: pl.DataFrame = pl.DataFrame()
        self.files: dict[str, str] = {}
        self.rows: dict[str, int] = {}


def _write_inbox(twins: dict[str, CountyTwin], inbox: Path) -> _Written:
    out = _Written()
    first = next(iter(twins.values())).params
    jobs = []
    for code, t in twins.items():
        county_jobs = layout_townships(t.world, t.roster, t.styles, inbox, folder=f"{code}/")
        out.township_files[code] = [str(j.path.relative_to(inbox)) for j in county_jobs]
        jobs += county_jobs
    with writer_pool(sum(t.params.scale for t in twins.values())) as pool:
        futures = [pool.submit(write_workbook, job) for job in jobs]
        dibao_files = _write_dibao(twins, inbox, out)
        people, enrol, edited = _city_people(twins)
        wanted: set[str] = set()
        prefixes: set[str] = set()
        for t in twins.values():
            w, p = wanted_ids(t.roster)
            wanted |= w
            prefixes |= p
        keep = (
            pl.col("id_norm").is_in(list(wanted))
            | pl.col("id_norm").str.slice(0, 15).is_in(list(prefixes))
            | pl.col("pid").is_in(list(edited))
        )
        years = first.years
        (inbox / "insurance").mkdir()
        enrol_names = {y: f"insurance/{CITY_NAME}城乡居民医保参保名册_{y}.csv" for y in years}
        out.enrolment, out.rows["insurance"] = write_enrolment_by_year(
            people, enrol, {y: inbox / name for y, name in enrol_names.items()}, keep
        )
        del enrol
        claim_files, claim_row = _write_city_claims(twins, people, inbox, out)
        for future in futures:
            future.result()
    out.files = {"insurance": ";".join(enrol_names.values()), "claims": ";".join(claim_files)}
    lines = out.enrolment.filter(pl.col("pid").is_in(list(edited))).select("pid", "year", "line")
    for code, t in twins.items():
        base = int(code) * PID_STRIDE
        enrol_row_no: dict[int, dict[int, int]] = {}
        mine = lines.filter((pl.col("pid") >= base) & (pl.col("pid") < base + PID_STRIDE))
        for pid, year, line in mine.iter_rows():
            enrol_row_no.setdefault(pid - base, {})[int(year)] = int(line)
        dibao_name, dibao_line = dibao_files[code]
        out.extracts[code] = Extracts(
            dibao=pl.DataFrame(),
            enrolment=pl.DataFrame(),
            settlements=pl.DataFrame(),
            files={"dibao": dibao_name, **out.files},
            rows={"dibao": len(t.world.dibao)},
            dibao_row_no=dibao_line,
            enrol_row_no=enrol_row_no,
            enrol_files=enrol_names,
            claim_row=claim_row,
        )
    return out


def _write_dibao(
    twins: dict[str, CountyTwin], inbox: Path, out: _Written
) -> dict[str, tuple[str, dict[int, int]]]:
    """Each county's 低保/特困 roll in its own folder; the union of the logical frames."""
    files: dict[str, tuple[str, dict[int, int]]] = {}
    frames = []
    for code, t in twins.items():
        (inbox / code / "dibao").mkdir(parents=True, exist_ok=True)
        frame = dibao_frame(t.world.dibao)
        text, line = dibao_text(t.world.dibao, t.params)
        name = f"{code}/dibao/{t.name}城乡低保特困供养人员名册_{t.params.as_of:%Y%m}.csv"
        write_csv(text, inbox / name, "gb18030")
        files[code] = (name, line)
        out.own_families[code] = set(frame["family_id"].to_list())
        frames.append(frame.with_columns(county_code=pl.lit(code)))
    out.dibao = pl.concat(frames)
    out.rows["dibao"] = out.dibao.height
    return files


def _city_people(twins: dict[str, CountyTwin]) -> tuple[pl.DataFrame, pl.DataFrame, set[int]]:
    """Every county's people and enrolment after its injections, pids made city-wide, and the
    (city-wide) pids whose enrolment rows an issue points at."""
    peoples, enrols = [], []
    edited: set[int] = set()
    for code, t in twins.items():
        base = int(code) * PID_STRIDE
        people, enrol = _apply_enrolment_edits(t.world, t.injector.enrol)
        # the city-wide frames replace the county's: at scale 1 each enrolment is ~1.3M rows
        t.world.people, t.world.enrolment = people, enrol.clear()
        if t.enrol_place:
            place = pl.DataFrame(
                {
                    "pid": list(t.enrol_place),
                    "_tc": [v[0] for v in t.enrol_place.values()],
                    "_t": [v[1] for v in t.enrol_place.values()],
                    "_v": [v[2] for v in t.enrol_place.values()],
                },
                schema_overrides={"pid": people.schema["pid"]},
            )
            people = (
                people.join(place, on="pid", how="left")
                .with_columns(
                    township_code=pl.coalesce("_tc", "township_code"),
                    township=pl.coalesce("_t", "township"),
                    village=pl.coalesce("_v", "village"),
                )
                .drop("_tc", "_t", "_v")
            )
        peoples.append(people.with_columns(pl.col("pid").cast(pl.Int64) + base))
        enrols.append(enrol.with_columns(pl.col("pid").cast(pl.Int64) + base))
        inj = t.injector.enrol
        local = {p for p, _ in inj.drop} | {p for p, _ in inj.set_fields} | set(inj.person_text)
        edited |= {p + base for p in local}
    return pl.concat(peoples, how="vertical_relaxed"), pl.concat(enrols), edited


def _write_city_claims(
    twins: dict[str, CountyTwin], people: pl.DataFrame, inbox: Path, out: _Written
) -> tuple[list[str], dict[str, tuple[str, str, int]]]:
    logicals, texts = [], []
    edited: set[str] = set()
    for code, t in twins.items():
        base = int(code) * PID_STRIDE
        mine = people.filter(
            (pl.col("pid") >= base) & (pl.col("pid") < base + PID_STRIDE)
        ).with_columns(pl.col("pid") - base)
        logical, text = settlement_frames(t.world, mine.cast({"pid": pl.Int64}), t.injector.claims)
        logicals.append(logical)
        texts.append(text)
        edited |= set(t.injector.claims.text) | set(t.injector.claims.set_fields)
    out.settlements = pl.concat(logicals, how="vertical_relaxed")
    text = pl.concat(texts)
    text = text.sort(text.columns[3], text.columns[0])  # 结算日期, then 结算流水号
    out.rows["claims"] = text.height
    (inbox / "claims").mkdir()
    first = next(iter(twins.values())).params
    return _write_claims(text, inbox, first, edited, region=CITY_NAME)


# ---------------------------------------------------------------- the truth


def _write_truth(
    twins: dict[str, CountyTwin],
    cross: list[CrossInjection],
    w: _Written,
    truth_dir: Path,
    scale: float,
    seed: int,
    as_of: date,
) -> dict:
    resolved = {
        code: resolve_roster(t.roster, w.dibao, w.enrolment, as_of) for code, t in twins.items()
    }
    ids = {code: {r.identity for r in rs if r.identity} for code, rs in resolved.items()}
    stored: dict[str, pl.DataFrame] = {}  # the findings as each county stores them
    for code, t in twins.items():
        policy = t.params.policy
        elsewhere = set().union(*(v for c, v in ids.items() if c != code))
        stored[code] = derive_findings(
            t.roster,
            w.dibao,
            w.enrolment,
            w.settlements,
            as_of,
            policy.exit_lines(),
            policy.housing_deadline,
            own_families=w.own_families[code],
            registered_elsewhere=elsewhere,
        )
    r16_stored, r16_truth = duplicates_across_counties(resolved)
    for code in twins:
        extra = r16_stored.get(code)
        if extra is not None:
            stored[code] = pl.concat([stored[code], extra]).sort("rule", "key")
    findings = pl.concat(
        [
            f.filter(pl.col("rule") != "R16").select(pl.lit(code).alias("county_code"), pl.all())
            for code, f in stored.items()
        ]
        + [r16_truth]
    ).select("county_code", *FINDING_COLUMNS)
    findings = findings.sort("county_code", "rule", "key")
    issues = pl.concat(
        [_county_issues(code, t, w) for code, t in twins.items()], how="vertical_relaxed"
    ).sort(
        "county_code", "file", "sheet", "row_no", "column", "kind", "household_id", nulls_last=True
    )
    agreement = check_city_agreement(stored, twins, cross)
    write_csv(findings, truth_dir / "findings.csv", "utf-8-sig")
    write_csv(issues, truth_dir / "issues.csv", "utf-8-sig")
    write_csv(_injections(twins, cross), truth_dir / "injections.csv", "utf-8-sig")
    rosters = [
        expected_roster(t.roster).select(pl.lit(code).alias("county_code"), pl.all())
        for code, t in twins.items()
    ]
    write_csv(pl.concat(rosters), truth_dir / "roster_expected.csv", "utf-8-sig")
    per_county = {
        code: _county_counts(t, w, stored[code], issues.filter(pl.col("county_code") == code))
        for code, t in twins.items()
    }
    counts = {
        "counties": {code: t.name for code, t in twins.items()},
        "households": sum(c["households"] for c in per_county.values()),
        "persons": sum(c["persons"] for c in per_county.values()),
        "rows": {
            "townships": sum(c["roster_rows"] for c in per_county.values()),
            **w.rows,
        },
        "findings": dict(sorted(Counter(findings["rule"].to_list()).items())),
        "issues": dict(sorted(Counter(issues["kind"].to_list()).items())),
        "cross_county": dict(sorted(Counter(c.injection.code for c in cross).items())),
        "truth_agreement": {k: len(v) for k, v in agreement.items()},
    }
    manifest = {
        "generator_version": GENERATOR_VERSION,
        "city": {"code": CITY_CODE, "name": CITY_NAME},
        "seed": seed,
        "scale": scale,
        "as_of": as_of.isoformat(),
        "counts": counts,
        "counties": {
            code: {
                "name": t.name,
                "seed": t.params.seed,
                "scale": t.params.scale,
                "county_factor": round(t.params.county_factor, 6),
                "counts": per_county[code],
                "files": {
                    "townships": w.township_files[code],
                    "dibao": w.extracts[code].files["dibao"],
                },
            }
            for code, t in twins.items()
        },
        "files": dict(w.files),
        "conventions": {
            "county_code": "first column of findings.csv, issues.csv, injections.csv and roster_expected.csv",
            "sizes": "Nanxiong = scale × its own size; another county = scale × Nanxiong's size × its villages / 208",
            "seeds": "each county's seed is derived from (seed, county code) alone",
            "lookups": "every lookup of a person in another source is city-wide; R06 and R11's families stay within a county",
            "R16": "one row per identity, under the lowest county code involved, its first active row by file then row",
            "issues_county": f"the county of the file; the city-wide extracts carry {CITY_CODE}",
            "file": "paths relative to the inbox: <county>/townships/…, <county>/dibao/…, insurance/…, claims/…",
            "pairs": "each county's cross-county cases involve the next county by code (cyclically)",
        },
    }
    (truth_dir / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2, sort_keys=True), encoding="utf-8"
    )
    return counts


def duplicates_across_counties(
    resolved: dict[str, list[Resolved]],
) -> tuple[dict[str, pl.DataFrame], pl.DataFrame]:
    """R16 as stored (one row per involved county, at that county's first active row of the
    identity, by file then row) and as the truth lists it (once, under the lowest county)."""
    first: dict[str, dict[str, Resolved]] = {}
    for code in sorted(resolved):
        for r in resolved[code]:
            if r.identity is None or not r.row.active:
                continue
            here = first.setdefault(r.identity, {})
            best = here.get(code)
            if best is None or (r.row.file, r.row.row_no) < (best.row.file, best.row.row_no):
                here[code] = r
    stored: dict[str, list[dict]] = {}
    truth = []
    for identity, by_county in sorted(first.items()):
        if len(by_county) < 2:
            continue
        for code, r in by_county.items():
            row = {
                "rule": "R16",
                "key": identity,
                "township_code": r.township_code,
                "village": r.village,
                "household_id": r.hh_id,
                "person_id": identity,
                "id_as_written": r.written,
                "suggested_id": r.suggestion or "",
                "record_key": "",
            }
            stored.setdefault(code, []).append(row)
            if code == min(by_county):
                truth.append({"county_code": code, **row})
    schema = {c: pl.Utf8 for c in FINDING_COLUMNS}
    frames = {c: pl.DataFrame(rows, schema=schema) for c, rows in stored.items()}
    return frames, pl.DataFrame(truth, schema={"county_code": pl.Utf8, **schema})


def _county_issues(code: str, t: CountyTwin, w: _Written) -> pl.DataFrame:
    frame = resolve_issues(t.injector.issues, w.extracts[code])
    city_file = pl.col("file").str.starts_with("insurance/") | pl.col("file").str.starts_with(
        "claims/"
    )
    return frame.select(
        pl.when(city_file).then(pl.lit(CITY_CODE)).otherwise(pl.lit(code)).alias("county_code"),
        *ISSUE_TRUTH_SCHEMA,
    )


def check_city_agreement(
    stored: dict[str, pl.DataFrame],
    twins: dict[str, CountyTwin],
    cross: list[CrossInjection],
) -> dict[str, list[tuple[str, str, str]]]:
    """`core.check_agreement` over the city: (county, rule, key) derived as each county stores
    it against what the county's own and the cross-county injections meant and forbade."""
    derived = {(c, r, k) for c, f in stored.items() for r, k in f.select("rule", "key").iter_rows()}
    expected = {
        (c, r, k) for c, t in twins.items() for inj in t.injector.log for r, k in inj.expect
    }
    forbidden = {
        (c, r, k) for c, t in twins.items() for inj in t.injector.log for r, k in inj.absent
    }
    for x in cross:
        expected |= {(x.county, r, k) for r, k in x.injection.expect}
        forbidden |= {(x.county, r, k) for r, k in x.injection.absent}
    return {
        "missing": sorted(expected - derived),
        "unexplained": sorted(derived - expected),
        "forbidden_found": sorted(forbidden & derived),
    }


def _injections(twins: dict[str, CountyTwin], cross: list[CrossInjection]) -> pl.DataFrame:
    frames = []
    for code, t in twins.items():
        log = list(t.injector.log) + [x.injection for x in cross if x.county == code]
        frames.append(log_frame(log).with_columns(county_code=pl.lit(code)))
    frame = pl.concat(frames)
    frame = frame.with_columns(injection=pl.int_range(1, frame.height + 1, dtype=pl.Int64))
    return frame.select("county_code", *[c for c in frame.columns if c != "county_code"])


def _county_counts(t: CountyTwin, w: _Written, stored: pl.DataFrame, issues: pl.DataFrame) -> dict:
    pop, geo = t.world.pop, t.world.geo
    return {
        "households": len(pop.households),
        "persons": len(pop.persons),
        "roster_rows": sum(len(h.rows) for h in t.roster.records(include_foreign=True)),
        "poor_villages": sum(v.is_poor for v in geo.villages),
        "villages": len(geo.villages),
        "townships": len(geo.townships),
        "people_in_sources": t.world.people.height,
        "dibao_rows": len(t.world.dibao),
        "findings": dict(sorted(Counter(stored["rule"].to_list()).items())),
        "issues": dict(sorted(Counter(issues["kind"].to_list()).items())),
    }
