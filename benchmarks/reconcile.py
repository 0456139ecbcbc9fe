"""What identity resolution and the rules buy, and how fast they are.

    uv run --group bench python benchmarks/reconcile.py --scale 1 --scale 10 --seed 11 \\
        --workdir /tmp/fupin-bench

Per scale: generate a Nanxiong (or reuse `--workdir/scale{S}-seed{N}/`), read every inbox
file into canonical frames with the nightly's own parsers (`flows.ingest.parse`, i.e.
`transforms.intake`), keep the rows in force as `warehouse.db.current` would, without
Prefect and without the warehouse round trip (the frames are cached as Parquet;
`--check-warehouse` ingests through `flows.ingest.ingest_file` into SQLite once and checks
that `db.current` gives the same frames). Then, each in a fresh subprocess on the same
frames, so that peak memory (VmHWM of /proc/self/status; the inputs are in it) is the
step's own:

  ours      `transforms.reconcile.reconcile`: identity tiers + R01-R15
  floor     the bare polars join of roster IDs to enrolment and 低保 on the ID
  baseline  R01-R15 on exact-join identities (`transforms.baseline`): no typo, no Excel
            prefix repair; an invalid written ID has no identity (findings.md)
  naive     R01-R15 on the written IDs as they are, valid or not (a VLOOKUP)
  splink    Splink 5 / DuckDB (`benchmarks/splink_model.py`) trained on every roster
            person, predicting for the rows with an invalid written ID; its best match
            is the suggestion, and R01-R15 are run on those identities too
  splink-all  the same model predicting for every roster person (optional, `--splink-all`)

and scores findings per rule against the generator's truth/findings.csv. R07 is scored
strictly for every approach: a suggestion counts only when its written ID and suggested ID
are both the truth's.

Decision on Splink: it stays out of the nightly resolution, and nothing of it is combined
in; this module keeps it as the measuring stick. Figures of seed 11 on the 2-core machine
(load 2-3 from other jobs), `--scale 1 --scale 10 --splink-all`:

  scale 1   ours 0.62 s, 0.73 GB peak (0.59 GB of it the inputs), every rule 1.000/1.000,
            R07 44 of 44 right.  Splink 34 s (6 s preparing, 26 s training, 0.4 s
            predicting), 1.16 GB; R07 0.772/1.000: 57 suggestions, 44 right.
  scale 10  ours 5.2 s, 5.10 GB (4.34 GB inputs), every rule 1.000/1.000.  Splink 58 s,
            7.97 GB; R07 0.766/0.998 (573 suggestions, 439 right), and its wrong
            identities leak into R01, R02, R09 and R13 (1, 4, 1 and 1 false findings).
            Splink linking every roster person: 157 s, 9.77 GB.

Why:
1. Splink finds no true R07 that our tiers miss: its recall is at most ours.
2. Its extra suggestions are the cases findings.md sends to a person as R08: an Excel-
   destroyed ID with two namesakes sharing the 15 digits (65 at scale 10; Splink lets the
   village decide), an ID with a digit dropped or added (65; Damerau-Levenshtein counts it
   as one edit, R07 allows a substitution or a swap only), two edits under the same name
   (3). Its one wrong answer to a true R07 is an Excel-destroyed ID linked to a different-
   name person whose real ID is one substitution from the "...000" form.
3. They score ≥ 0.9999, so no threshold removes them (scale 1: at 0.99999 the dropped
   digits go and the namesakes stay; at 0.999999 true homophone-plus-typo repairs are lost
   first). A best match has no notion of "exactly one candidate", which is the definition.
4. As the resolver of everyone it is worse still: 195 roster persons at scale 10 whose
   valid written ID the extracts hold under another name get no link at all, where
   findings.md keeps the written ID as the identity and reports R09.
5. Cost: 11 to 55 times our time and 1.6 times the memory, a second engine, and a model
   to train and watch (Splink 5's random sampling never sees a one-edit ID pair, so the
   u of that level has to be counted by hand: splink_model.one_edit_u).
What the figures do raise is a policy question for the office, not a library: may the
village break a tie between namesakes, may a dropped digit be repaired? Either would be
one more deterministic tier in transforms.identity (`village_agrees` is already recorded).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import polars as pl  # noqa: E402

from transforms.quality import score_findings  # noqa: E402

KINDS = ("roster", "village", "dibao", "enrolment", "settlement")
APPROACHES = ("ours", "floor", "baseline", "naive", "splink", "splink-all")
TARGET_RULE = 0.995
TARGET_S1_SECONDS = 5.0
TARGET_S10_SECONDS = 60.0
TARGET_S10_GB = 6.0
HERE = Path(__file__).resolve()


# ----------------------------------------------------------------- machine & memory
def _status() -> dict[str, int]:
    """VmRSS and VmHWM of this process in kB."""
    text = Path("/proc/self/status").read_text()
    return {k: int(re.search(rf"{k}:\s+(\d+)", text).group(1)) for k in ("VmRSS", "VmHWM")}  # type: ignore[union-attr]


def _reset_peak() -> None:
    """Make VmHWM start again from the current RSS (Linux ≥ 4.0)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def machine() -> str:
    mem = Path("/proc/meminfo").read_text()
    total = int(re.search(r"MemTotal:\s+(\d+)", mem).group(1)) / 1024**2  # type: ignore[union-attr]
    model = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    cpu = model.group(1).strip() if model else platform.machine()
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} cores ({cpu}), {total:.1f} GB RAM, load {load:.1f}, {platform.node()}"


# ----------------------------------------------------------------- frames in force
def parse_inbox(inbox: Path) -> tuple[dict[str, pl.DataFrame], dict[int, str]]:
    """Canonical frames in force, read with the nightly's parsers; file ids in scan order
    (as a first ingest into an empty warehouse numbers them)."""
    from flows import readers
    from flows.ingest import parse, scan_inbox
    from transforms import headers, intake
    from transforms.frames import CANONICAL, conform

    refused = (readers.UnreadableFile, intake.WrongTownship, intake.EmptyWorkbook)
    parsed = []
    names: dict[int, str] = {}
    for file_id, (folder, path) in enumerate(scan_inbox(inbox), start=1):
        names[file_id] = path.name  # what the nightly shows a clerk
        try:
            parsed.append((folder, file_id, parse(folder, path, file_id)))
        except (*refused, headers.MissingColumns):
            continue  # quarantined or rejected by the nightly: nothing of it is in force

    latest_workbook: dict[str | None, int] = {}
    for folder, file_id, p in parsed:
        if folder == "townships":
            latest_workbook[p.township_code] = file_id
    dibao_files = [fid for folder, fid, _ in parsed if folder == "dibao"]
    keep_workbooks = set(latest_workbook.values())
    parts: dict[str, list[pl.DataFrame]] = {k: [] for k in KINDS}
    for _folder, file_id, p in parsed:
        for kind, frame in p.canonical.items():
            if kind == "household":
                continue
            if kind in ("roster", "village") and file_id not in keep_workbooks:
                continue
            if kind == "dibao" and file_id != max(dibao_files):
                continue
            parts[kind].append(frame)
    data = {
        k: conform(pl.concat(v, how="diagonal_relaxed"), CANONICAL[k])
        if v
        else conform(pl.DataFrame(), CANONICAL[k])
        for k, v in parts.items()
    }
    # enrolment: per year the latest file holding it; settlement: latest file per 结算编号
    e = data["enrolment"].filter(pl.col("year").is_not_null())
    data["enrolment"] = e.filter(pl.col("file_id") == pl.col("file_id").max().over("year"))
    s = data["settlement"].filter(pl.col("settlement_id").is_not_null())
    data["settlement"] = s.filter(
        pl.col("file_id") == pl.col("file_id").max().over("settlement_id")
    )
    order = ["file_id", "sheet", "row_no"]
    return {k: f.sort(order, nulls_last=False) for k, f in data.items()}, names


def frames_via_warehouse(inbox: Path, as_of: date, home: Path) -> dict[str, pl.DataFrame]:
    """The honest long way round: ingest_file into SQLite, then db.current per kind."""
    from config.settings import load_settings
    from flows.ingest import ingest_file, scan_inbox
    from warehouse import db

    settings = load_settings(f"sqlite:///{home / 'fupin.db'}", home)
    engine = db.connect(settings.database_url)
    db.upgrade(engine)
    run_id = db.start_run(engine, "nightly", as_of, {"benchmark": "reconcile"})
    for folder, path in scan_inbox(inbox):
        ingest_file(engine, settings, folder, path, inbox.resolve(), run_id)
    return {kind: db.current(engine, kind) for kind in KINDS}


def write_frames(data: dict[str, pl.DataFrame], names: dict[int, str], frames_dir: Path) -> None:
    frames_dir.mkdir(parents=True, exist_ok=True)
    for kind, frame in data.items():
        frame.write_parquet(frames_dir / f"{kind}.parquet", compression="lz4")
    (frames_dir / "file_names.json").write_text(json.dumps(names, ensure_ascii=False))


def read_frames(frames_dir: Path) -> tuple[dict[str, pl.DataFrame], dict[int, str]]:
    data = {k: pl.read_parquet(frames_dir / f"{k}.parquet") for k in KINDS}
    names = json.loads((frames_dir / "file_names.json").read_text())
    return data, {int(k): v for k, v in names.items()}


@dataclass
class Prepared:
    scale: float
    seed: int
    gen_dir: Path
    frames_dir: Path
    generate_s: float | None
    parse_s: float | None
    rows: dict[str, int]


def prepare(workdir: Path, scale: float, seed: int, as_of: date) -> Prepared:
    """Generate (unless there already is an inbox with truth) and parse into frames."""
    gen_dir = workdir / f"scale{scale:g}-seed{seed}"
    generate_s = parse_s = None
    if not (gen_dir / "truth" / "findings.csv").exists():
        from generator import generate

        t = time.perf_counter()
        generate(gen_dir, scale=scale, seed=seed, as_of=as_of)
        generate_s = time.perf_counter() - t
    frames_dir = gen_dir / "frames"
    stamp = frames_dir / "stamp.json"
    truth_mtime = (gen_dir / "truth" / "findings.csv").stat().st_mtime
    if not stamp.exists() or json.loads(stamp.read_text()).get("truth_mtime") != truth_mtime:
        t = time.perf_counter()
        data, names = parse_inbox(gen_dir / "inbox")
        parse_s = time.perf_counter() - t
        write_frames(data, names, frames_dir)
        stamp.write_text(json.dumps({"truth_mtime": truth_mtime, "parse_s": parse_s}))
    else:
        parse_s = json.loads(stamp.read_text()).get("parse_s")
    rows = {
        k: pl.scan_parquet(frames_dir / f"{k}.parquet").select(pl.len()).collect().item()
        for k in KINDS
    }
    return Prepared(scale, seed, gen_dir, frames_dir, generate_s, parse_s, rows)


# ----------------------------------------------------------------- one measurement
def measure(
    approach: str, prepared: Prepared, as_of: date, out: Path, threshold: float
) -> dict[str, Any]:
    """Run one approach in a fresh interpreter; its JSON summary (time, memory, extras)."""
    cmd = [
        sys.executable,
        str(HERE),
        "--child",
        approach,
        "--frames",
        str(prepared.frames_dir),
        "--out",
        str(out),
        "--as-of",
        as_of.isoformat(),
        "--threshold",
        str(threshold),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"approach": approach, "error": (proc.stderr or proc.stdout)[-2000:]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def child(approach: str, frames_dir: Path, out: Path, as_of: date, threshold: float) -> None:
    from config.settings import load_divisions, load_policy
    from transforms import baseline, ids

    data, names = read_frames(frames_dir)
    policy, divisions = load_policy(), load_divisions()
    inputs_kb = _status()["VmRSS"]
    _reset_peak()
    extra: dict[str, Any] = {}
    t = time.perf_counter()
    if approach == "ours":
        from transforms.reconcile import reconcile

        result = reconcile(data, as_of, policy, divisions, names)
        seconds = time.perf_counter() - t
        result.findings.write_parquet(out)
        result.persons.with_row_index("row_idx").select(
            pl.col("row_idx").cast(pl.Int64), "id_norm", "id_status", "tier", "identity"
        ).write_parquet(out.with_suffix(".persons.parquet"))
        extra["tiers"] = dict(result.persons.group_by("tier").len().sort("tier").iter_rows())
    elif approach == "floor":
        valid = pl.col("id_status").is_in([ids.VALID, ids.LEGACY15])
        roster = data["roster"].filter(valid).select("id_norm")
        enrolled = roster.join(data["enrolment"].select("id_norm"), on="id_norm", how="inner")
        covered = roster.join(data["dibao"].select("id_norm"), on="id_norm", how="inner")
        seconds = time.perf_counter() - t
        extra["joined_rows"] = {"enrolment": enrolled.height, "dibao": covered.height}
        pl.DataFrame({"rows": [enrolled.height + covered.height]}).write_parquet(out)
    elif approach in ("baseline", "naive"):
        findings = baseline.reconcile_exact(
            data, as_of, policy, divisions, names, naive=approach == "naive"
        )
        seconds = time.perf_counter() - t
        findings.write_parquet(out)
    elif approach in ("splink", "splink-all"):
        from benchmarks import splink_model

        run = splink_model.link(
            data["roster"],
            data["dibao"],
            data["enrolment"],
            predict_for="all" if approach == "splink-all" else "invalid",
            threshold=threshold,
        )
        seconds = time.perf_counter() - t
        extra.update(
            timings=run.timings,
            pairs=run.pairs,
            reference_rows=run.reference_rows,
            roster_rows=run.roster_rows,
            parameters=run.m_u,
        )
        run.best.write_parquet(out)
        if approach == "splink":
            t = time.perf_counter()
            persons = splink_model.resolved_persons(data["roster"], run.best)
            findings = baseline.findings_for(persons, data, as_of, policy, divisions, names)
            extra["rules_s"] = time.perf_counter() - t
            findings.write_parquet(out.with_suffix(".findings.parquet"))
    else:
        raise SystemExit(f"unknown approach {approach}")
    status = _status()
    print(
        json.dumps(
            {
                "approach": approach,
                "seconds": seconds,
                "peak_gb": status["VmHWM"] / 1024**2,
                "inputs_gb": inputs_kb / 1024**2,
                **extra,
            }
        )
    )


# ----------------------------------------------------------------- scoring
def r07_strict(found: pl.DataFrame, truth: pl.DataFrame) -> dict[str, float]:
    """R07 suggestions: right only when both the written and the suggested ID are the truth's."""
    f = found.filter(pl.col("rule") == "R07").select(
        key=pl.col("key").str.replace(r"^R\d\d:", ""), suggested_id="suggested_id"
    )
    t = truth.filter(pl.col("rule") == "R07").select("key", "suggested_id")
    right = f.join(t, on=["key", "suggested_id"], how="semi").height
    return {
        "given": f.height,
        "right": right,
        "expected": t.height,
        "precision": right / f.height if f.height else 1.0,
        "recall": right / t.height if t.height else 1.0,
    }


def per_rule(found: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    return score_findings(found, truth).select(
        "rule", "expected", "tp", "fp", "fn", "precision", "recall"
    )


def splink_suggestions(best: pl.DataFrame, roster: pl.DataFrame) -> pl.DataFrame:
    """Splink's best matches as R07 findings (rule, key = written ID, suggested_id)."""
    from transforms import ids

    invalid = roster.with_row_index("row_idx").filter(
        ~pl.col("id_status").is_in([ids.VALID, ids.LEGACY15, ids.BLANK])
    )
    rows = invalid.with_columns(pl.col("row_idx").cast(pl.Int64)).join(
        best.filter(~pl.col("ambiguous")), on="row_idx", how="inner"
    )
    return rows.unique("id_norm", keep="first", maintain_order=True).select(
        rule=pl.lit("R07"), key="id_norm", suggested_id="splink_id"
    )


def splink_all_agreement(best: pl.DataFrame, ours: pl.DataFrame) -> dict[str, int]:
    """Splink's best match for every roster row against our identity for it."""
    joined = ours.join(best, on="row_idx", how="left")
    has_ours = pl.col("identity").is_not_null()
    has_splink = pl.col("splink_id").is_not_null() & ~pl.col("ambiguous").fill_null(False)
    same = pl.col("identity") == pl.col("splink_id")
    return {
        "roster_rows": joined.height,
        "both_same": joined.filter(has_ours & has_splink & same).height,
        "both_differ": joined.filter(has_ours & has_splink & ~same).height,
        "ours_only": joined.filter(has_ours & ~has_splink).height,
        "splink_only": joined.filter(~has_ours & has_splink).height,
        "neither": joined.filter(~has_ours & ~has_splink).height,
    }


def wrong_suggestions(suggested: pl.DataFrame, truth: pl.DataFrame, ours: pl.DataFrame) -> dict:
    """Splink's R07 suggestions the truth does not have, by what our tiers made of the row."""
    t = truth.filter(pl.col("rule") == "R07").select("key", "suggested_id")
    wrong = suggested.join(t, on=["key", "suggested_id"], how="anti")
    rows = wrong.join(
        ours.unique("id_norm", keep="first").select("id_norm", "tier", "id_status"),
        left_on="key",
        right_on="id_norm",
        how="left",
    )
    counts = rows.group_by("tier", "id_status").len().sort("len", descending=True)
    return {f"{tier}/{status}": n for tier, status, n in counts.iter_rows()}


# ----------------------------------------------------------------- one scale
def run_scale(
    workdir: Path, scale: float, seed: int, as_of: date, approaches: list[str], threshold: float
) -> dict[str, Any]:
    prepared = prepare(workdir, scale, seed, as_of)
    truth = pl.read_csv(
        prepared.gen_dir / "truth" / "findings.csv", infer_schema=False
    ).with_columns(pl.col("suggested_id").fill_null(""))
    out_dir = prepared.gen_dir / "results"
    out_dir.mkdir(exist_ok=True)
    results: dict[str, Any] = {"prepared": prepared, "measured": {}, "truth": truth}
    ours_persons = out_dir / "ours.persons.parquet"
    for approach in approaches:
        out = out_dir / f"{approach}.parquet"
        m = measure(approach, prepared, as_of, out, threshold)
        results["measured"][approach] = m
        if "error" in m:
            print(f"  {approach}: FAILED\n{m['error']}", file=sys.stderr)
            continue
        if approach in ("ours", "baseline", "naive"):
            found = pl.read_parquet(out)
            m["by_rule"] = per_rule(found, truth)
            m["r07"] = r07_strict(found.with_columns(pl.col("suggested_id").fill_null("")), truth)
        elif approach == "splink":
            roster = pl.read_parquet(prepared.frames_dir / "roster.parquet")
            suggested = splink_suggestions(pl.read_parquet(out), roster)
            m["r07"] = r07_strict(suggested, truth)
            found = pl.read_parquet(out.with_suffix(".findings.parquet"))
            m["by_rule"] = per_rule(found, truth)
            if ours_persons.exists():
                ours = pl.read_parquet(ours_persons)
                m["wrong"] = wrong_suggestions(suggested, truth, ours)
        elif approach == "splink-all" and ours_persons.exists():
            ours = pl.read_parquet(ours_persons)
            m["agreement"] = splink_all_agreement(pl.read_parquet(out), ours)
    return results


# ----------------------------------------------------------------- printing
def _pr(row: dict[str, Any] | None) -> str:
    if row is None:
        return "      -      "
    return f"{row['precision']:.3f}/{row['recall']:.3f}"


def report(results: dict[str, Any], as_of: date) -> list[tuple[str, bool]]:
    """Print one scale's table; return (target, passed)."""
    p: Prepared = results["prepared"]
    m = results["measured"]
    print(f"\n=== scale {p.scale:g}  seed {p.seed}  as-of {as_of}  machine: {machine()}")
    gen = f"{p.generate_s:.0f} s" if p.generate_s is not None else "reused"
    parse = f"{p.parse_s:.1f} s" if p.parse_s is not None else "?"
    print(f"generate {gen}; parse to canonical frames {parse} (flows.ingest.parse, no warehouse)")
    print("rows in force: " + ", ".join(f"{k} {v:,}" for k, v in p.rows.items()))
    print(
        f"\n{'approach':<11} {'time s':>8} {'peak GB':>8} {'inputs GB':>9}  R07 strict P/R   notes"
    )
    for name in APPROACHES:
        r = m.get(name)
        if r is None:
            continue
        if "error" in r:
            print(f"{name:<11} FAILED (see stderr)")
            continue
        r07 = _pr(r.get("r07")) if "r07" in r else "      -      "
        notes = ""
        if name == "ours":
            notes = "tiers " + ", ".join(f"{k} {v}" for k, v in r["tiers"].items())
        elif name == "floor":
            notes = f"joined rows {r['joined_rows']}"
        elif name.startswith("splink"):
            tm = r["timings"]
            notes = (
                f"prepare {tm['prepare_s']:.1f} s, train {tm['train_s']:.1f} s, predict "
                f"{tm['predict_s']:.1f} s, {r['pairs']:,} pairs ≥ threshold, "
                f"{r['roster_rows']:,} roster × {r['reference_rows']:,} reference rows"
            )
            if "rules_s" in r:
                notes += f"; rules on its identities {r['rules_s']:.1f} s (not in time)"
        if "r07" in r:
            q = r["r07"]
            notes = f"R07 {q['right']}/{q['given']} right of {q['expected']}; " + notes
        print(
            f"{name:<11} {r['seconds']:>8.2f} {r['peak_gb']:>8.2f} {r['inputs_gb']:>9.2f}  {r07}  {notes}"
        )
    if "splink" in m and m["splink"].get("wrong"):
        print(
            "splink suggestions the truth does not have, by our tier/ID status:",
            m["splink"]["wrong"],
        )
    if "splink-all" in m and "agreement" in m["splink-all"]:
        print(
            "splink-all vs our identities per roster row (ours_only: a valid written ID that"
            " Splink links to nobody, e.g. one the extracts hold under another name):",
            m["splink-all"]["agreement"],
        )

    tables = {
        k: m[k]["by_rule"]
        for k in ("ours", "baseline", "naive", "splink")
        if k in m and "by_rule" in m[k]
    }
    if tables:
        rules = sorted(set().union(*(t["rule"].to_list() for t in tables.values())))
        header = f"\n{'rule':<5} {'truth':>5}  " + "  ".join(
            f"{k + ' P/R (fp,fn)':<24}" for k in tables
        )
        print(header)
        for rule in rules:
            cells = []
            expected = 0
            for t in tables.values():
                row = t.filter(pl.col("rule") == rule)
                if row.height:
                    d = row.row(0, named=True)
                    expected = d["expected"]
                    cells.append(f"{_pr(d)} ({d['fp']},{d['fn']})".ljust(24))
                else:
                    cells.append("-".ljust(24))
            print(f"{rule:<5} {expected:>5}  " + "  ".join(cells))

    checks: list[tuple[str, bool]] = []
    ours = m.get("ours")
    if ours and "error" not in ours:
        if p.scale <= 1:
            checks.append(
                (
                    f"scale {p.scale:g}: ours < {TARGET_S1_SECONDS:g} s ({ours['seconds']:.2f} s)",
                    ours["seconds"] < TARGET_S1_SECONDS,
                )
            )
            worst = (
                ours["by_rule"]
                .with_columns(worst=pl.min_horizontal("precision", "recall"))
                .sort("worst")
            )
            low = worst.filter(pl.col("worst") < TARGET_RULE)
            label = (
                ", ".join(f"{r} {w:.3f}" for r, w in low.select("rule", "worst").iter_rows())
                or "none below"
            )
            checks.append(
                (
                    f"scale {p.scale:g}: precision and recall ≥ {TARGET_RULE} per rule ({label})",
                    low.is_empty(),
                )
            )
        else:
            checks.append(
                (
                    f"scale {p.scale:g}: ours < {TARGET_S10_SECONDS:g} s ({ours['seconds']:.1f} s)",
                    ours["seconds"] < TARGET_S10_SECONDS,
                )
            )
            checks.append(
                (
                    f"scale {p.scale:g}: ours peak < {TARGET_S10_GB:g} GB ({ours['peak_gb']:.2f} GB, inputs {ours['inputs_gb']:.2f} GB)",
                    ours["peak_gb"] < TARGET_S10_GB,
                )
            )
    elif ours:
        checks.append((f"scale {p.scale:g}: ours ran", False))
    print()
    for label, ok in checks:
        print(f"{'PASS' if ok else 'FAIL'}  {label}")
    return checks


def _jsonable(results: dict[str, Any]) -> dict[str, Any]:
    p: Prepared = results["prepared"]
    measured = {}
    for k, v in results["measured"].items():
        measured[k] = {
            kk: (vv.to_dicts() if isinstance(vv, pl.DataFrame) else vv) for kk, vv in v.items()
        }
    return {
        "scale": p.scale,
        "seed": p.seed,
        "generate_s": p.generate_s,
        "parse_s": p.parse_s,
        "rows": p.rows,
        "measured": measured,
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", type=float, action="append", help="repeat for several (default 1)")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--as-of", type=date.fromisoformat, default=date(2018, 6, 30))
    ap.add_argument("--workdir", type=Path, help="keep and reuse generated inboxes and frames here")
    ap.add_argument("--threshold", type=float, default=0.9, help="Splink match probability")
    ap.add_argument("--no-splink", action="store_true", help="skip Splink (no bench group needed)")
    ap.add_argument(
        "--splink-all", action="store_true", help="also let Splink link every roster person"
    )
    ap.add_argument(
        "--check-warehouse",
        action="store_true",
        help="verify the frames against ingest_file + db.current",
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--child", choices=APPROACHES, help=argparse.SUPPRESS)
    ap.add_argument("--frames", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.frames, args.out, args.as_of, args.threshold)
        return 0

    approaches = ["ours", "floor", "baseline", "naive"]
    if not args.no_splink:
        approaches.append("splink")
        if args.splink_all:
            approaches.append("splink-all")
    scratch = None
    workdir = args.workdir
    if workdir is None:
        scratch = tempfile.mkdtemp(prefix="fupin-reconcile-")
        workdir = Path(scratch)
    workdir.mkdir(parents=True, exist_ok=True)
    all_checks: list[tuple[str, bool]] = []
    dumped = []
    try:
        for scale in args.scale or [1.0]:
            results = run_scale(workdir, scale, args.seed, args.as_of, approaches, args.threshold)
            if args.check_warehouse:
                check_warehouse(results["prepared"], args.as_of, workdir)
            all_checks += report(results, args.as_of)
            dumped.append(_jsonable(results))
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
    if args.json:
        args.json.write_text(
            json.dumps(dumped, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
        )
    failed = [label for label, ok in all_checks if not ok]
    print(f"\n{len(all_checks) - len(failed)} of {len(all_checks)} targets met")
    return 1 if failed else 0


def check_warehouse(prepared: Prepared, as_of: date, workdir: Path) -> None:
    """Frames read directly must equal what the warehouse holds after a real ingest."""
    home = workdir / f"warehouse-scale{prepared.scale:g}-seed{prepared.seed}"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    t = time.perf_counter()
    stored = frames_via_warehouse(prepared.gen_dir / "inbox", as_of, home)
    seconds = time.perf_counter() - t
    direct, _ = read_frames(prepared.frames_dir)
    for kind in KINDS:
        a, b = direct[kind], stored[kind].select(direct[kind].columns).cast(direct[kind].schema)  # type: ignore[arg-type]
        same = a.equals(b)
        print(
            f"warehouse check {kind}: {a.height:,} vs {b.height:,} rows, {'identical' if same else 'DIFFERENT'}"
        )
    print(f"warehouse ingest took {seconds:.1f} s")
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
