"""Correctness as a number: generate a Nanxiong, run the nightly flow, score findings and
data-quality issues against the generator's truth.

    uv run python benchmarks/quality.py --scale 1 --seed 11

Prints precision and recall per rule and per issue kind, overall, R07's suggestion
accuracy, with the scale, seed, time and machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flows.runtime import prefect_defaults  # noqa: E402

prefect_defaults()

import polars as pl  # noqa: E402

from transforms.quality import overall, score_findings, score_issues, suggestion_accuracy  # noqa: E402


def run(scale: float, seed: int, as_of: date, workdir: Path) -> dict:
    from config.settings import load_divisions
    from flows.nightly import run_nightly
    from generator import generate
    from transforms.exports import issues_export
    from warehouse import db

    timings: dict[str, float] = {}
    t = time.perf_counter()
    generate(workdir / "gen", scale=scale, seed=seed, as_of=as_of)
    timings["generate_s"] = time.perf_counter() - t
    url = f"sqlite:///{workdir / 'fupin.db'}"
    t = time.perf_counter()
    result = run_nightly(
        str(workdir / "gen" / "inbox"), as_of.isoformat(), url, str(workdir / "home")
    )
    timings["nightly_s"] = time.perf_counter() - t

    engine = db.connect(url)
    findings = db.read_frame(engine, "finding").filter(pl.col("status") == "open")
    files = db.read_frame(engine, "source_file")
    names = dict(zip(files["id"].to_list(), files["rel_path"].to_list(), strict=True))
    issues = issues_export(
        db.read_frame(engine, "dq_issue").filter(pl.col("status") == "open"),
        load_divisions().townships,
        names,
    )
    truth_dir = workdir / "gen" / "truth"
    truth_findings = pl.read_csv(truth_dir / "findings.csv", infer_schema=False)
    truth_issues = pl.read_csv(truth_dir / "issues.csv", infer_schema=False)
    by_rule = score_findings(findings, truth_findings)
    by_kind = score_issues(issues, truth_issues)
    return {
        "by_rule": by_rule,
        "by_kind": by_kind,
        "findings_overall": overall(by_rule),
        "issues_overall": overall(by_kind),
        "r07_suggestions": suggestion_accuracy(findings, truth_findings),
        "timings": timings,
        "files": result["files"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    ap.add_argument("--as-of", type=date.fromisoformat, default=date(2018, 6, 30))
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="fupin-quality-") as tmp:
        r = run(args.scale, args.seed, args.as_of, Path(tmp))
    pl.Config.set_tbl_rows(40)
    print(
        f"scale={args.scale} seed={args.seed} as_of={args.as_of} machine={platform.node()} "
        f"cpus={os.cpu_count()} python={platform.python_version()}"
    )
    print(
        f"generate {r['timings']['generate_s']:.1f} s, nightly {r['timings']['nightly_s']:.1f} s, files {r['files']}"
    )
    print("\nFindings per rule:")
    print(r["by_rule"].select("rule", "expected", "found", "tp", "fp", "fn", "precision", "recall"))
    print("overall findings:", {k: round(v, 4) for k, v in r["findings_overall"].items()})
    print("R07 suggestions right:", r["r07_suggestions"])
    print("\nData-quality issues per kind:")
    print(r["by_kind"].select("kind", "expected", "found", "tp", "fp", "fn", "precision", "recall"))
    print("overall issues:", {k: round(v, 4) for k, v in r["issues_overall"].items()})
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "scale": args.scale,
                    "seed": args.seed,
                    "by_rule": r["by_rule"].to_dicts(),
                    "by_kind": r["by_kind"].to_dicts(),
                    "findings_overall": r["findings_overall"],
                    "issues_overall": r["issues_overall"],
                    "timings": r["timings"],
                },
                ensure_ascii=False,
                indent=1,
            ),
            encoding="utf-8",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
