"""A year of nights: the nightly flow over a generated timeline into one warehouse, every
night scored against that night's truth.

    uv run python benchmarks/timeline.py --scale 1 --months 12
    uv run python benchmarks/timeline.py --timeline /tmp/tl      # a timeline already written
    uv run python benchmarks/timeline.py --scale 0.05 --months 4 --db postgresql://postgres@127.0.0.1/fupin_bench

Per night: what arrived and whether each file became what the timeline expects (accepted,
duplicate, held), precision and recall of the findings and issues in force, how many of them
carry a first_seen other than the truth's, precision and recall of what resolved that night,
and the run's wall time.  Prints the scale, seed, machine and the totals; exits 1 when any
night falls short (a file outcome, a score below 1.0, a wrong first_seen).
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
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from flows.runtime import prefect_defaults  # noqa: E402

prefect_defaults()

import polars as pl  # noqa: E402

from transforms.quality import score_night  # noqa: E402


def read_truth(timeline: Path, night: int) -> dict[str, pl.DataFrame]:
    from generator.timeline import night_name

    folder = timeline / "nights" / night_name(night) / "truth"
    return {
        what: pl.read_csv(folder / f"{what}.csv", infer_schema=False)
        for what in ("findings", "issues", "resolved")
    }


def run_night(
    timeline: Path, night: dict[str, Any], inbox: Path, url: str, home: Path
) -> dict[str, Any]:
    """Deliver one night's files into the live inbox, run the nightly flow, score it."""
    from flows.nightly import run_nightly
    from generator.timeline import deliver
    from warehouse import db

    deliver(timeline, night["night"], inbox)
    started = time.perf_counter()
    result = run_nightly(str(inbox), night["as_of"], url, str(home), send=False)
    seconds = time.perf_counter() - started

    engine = db.connect(url)
    try:
        files = db.read_frame(engine, "source_file")
        names = dict(zip(files["id"].to_list(), files["rel_path"].to_list(), strict=True))
        findings = db.read_frame(engine, "finding")
        issues = db.read_frame(engine, "dq_issue").with_columns(
            file=pl.col("file_id").replace_strict(names, default=None, return_dtype=pl.Utf8)
        )
    finally:
        engine.dispose()
    scores = score_night(findings, issues, read_truth(timeline, night["night"]), night["as_of"])
    got = {o["rel_path"]: o["status"] for o in result["outcomes"]}
    wrong = [
        f"{a['path']}: {got.get(a['path'], 'not taken')} (expected {a['expect']})"
        for a in night["arrivals"]
        if got.get(a["path"]) != a["expect"]
    ]
    return {
        "night": night["night"],
        "as_of": night["as_of"],
        "arrivals": len(night["arrivals"]),
        "held": sum(a["expect"] == "held" for a in night["arrivals"]),
        "outcomes_wrong": wrong,
        "needs_attention": result["needs_attention"],
        "seconds": round(seconds, 1),
        **scores,
    }


def run_timeline(
    timeline: Path, workdir: Path, url: str | None = None, nights: int | None = None
) -> list[dict[str, Any]]:
    """Every night (or the first `nights`) of a written timeline into one warehouse."""
    meta = json.loads((timeline / "timeline.json").read_text(encoding="utf-8"))
    url = url or f"sqlite:///{workdir / 'fupin.db'}"
    inbox, home = workdir / "inbox", workdir / "home"
    return [run_night(timeline, n, inbox, url, home) for n in meta["nights"][:nights]]


def shortfalls(night: dict[str, Any]) -> list[str]:
    """What a night got wrong, as sentences (empty: everything right)."""
    out = list(night["outcomes_wrong"])
    for what in ("findings", "issues", "resolved_findings", "resolved_issues"):
        s = night[what]
        if s["precision"] < 1 or s["recall"] < 1:
            out.append(f"{what}: {s['tp']} right, {s['fp']} wrong, {s['fn']} missed")
    for what in ("findings_first_seen_wrong", "issues_first_seen_wrong"):
        if night[what]:
            out.append(f"{what}: {night[what]}")
    return out


def _pr(s: dict[str, float]) -> str:
    return f"{s['precision']:.3f}/{s['recall']:.3f}"


def table(nights: list[dict[str, Any]]) -> str:
    head = (
        "| night | as of | files | outcome | held | findings P/R | issues P/R | "
        "first_seen wrong F/I | resolved F P/R | resolved I P/R | in force F/I | seconds |"
    )
    lines = [head, "|" + "---|" * 12]
    for n in nights:
        ok = n["arrivals"] - len(n["outcomes_wrong"])
        lines.append(
            f"| {n['night']} | {n['as_of']} | {n['arrivals']} | {ok}/{n['arrivals']} | "
            f"{n['held']} | {_pr(n['findings'])} | {_pr(n['issues'])} | "
            f"{n['findings_first_seen_wrong']}/{n['issues_first_seen_wrong']} | "
            f"{_pr(n['resolved_findings'])} ({n['resolved_findings']['tp'] + n['resolved_findings']['fn']}) | "
            f"{_pr(n['resolved_issues'])} ({n['resolved_issues']['tp'] + n['resolved_issues']['fn']}) | "
            f"{n['findings']['tp'] + n['findings']['fp']}/{n['issues']['tp'] + n['issues']['fp']} | "
            f"{n['seconds']} |"
        )
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=20161010)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2018, 1, 31))
    ap.add_argument("--timeline", type=Path, help="use a timeline already written here")
    ap.add_argument("--db", help="warehouse URL (default: a fresh SQLite file)")
    ap.add_argument("--workdir", type=Path, help="keep the warehouse and inbox here")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    from generator.timeline import generate_timeline

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="fupin-timeline-"))
    workdir.mkdir(parents=True, exist_ok=True)
    timeline = args.timeline
    generated = None
    if timeline is None:
        timeline = workdir / "timeline"
        t = time.perf_counter()
        generated = generate_timeline(timeline, args.scale, args.seed, args.start, args.months)
        print(f"generated {generated['nights']} nights in {time.perf_counter() - t:.1f} s")
    meta = json.loads((timeline / "timeline.json").read_text(encoding="utf-8"))
    print(
        f"timeline: scale {meta['scale']}, seed {meta['seed']}, {len(meta['nights'])} nights "
        f"from {meta['start']}; warehouse {'SQLite' if not args.db else args.db.split(':')[0]}; "
        f"{platform.node()} ({os.cpu_count()} cores, Python {platform.python_version()})"
    )
    started = time.perf_counter()
    nights = run_timeline(timeline, workdir, args.db)
    print(table(nights))
    bad = {n["night"]: shortfalls(n) for n in nights if shortfalls(n)}
    print(
        f"{len(nights)} nights in {time.perf_counter() - started:.0f} s; "
        + ("every night right" if not bad else f"nights with shortfalls: {sorted(bad)}")
    )
    for night, what in bad.items():
        for line in what:
            print(f"  night {night}: {line}")
    if args.json:
        args.json.write_text(json.dumps(nights, ensure_ascii=False, indent=1), encoding="utf-8")
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
