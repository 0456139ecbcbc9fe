"""A city of several counties on Dask: one process against a local cluster of 1 and of 2
workers, on the same generated world, in one sitting.

    uv run python benchmarks/scaleout.py                     # 4 counties at scale 1, PostgreSQL
    uv run python benchmarks/scaleout.py --counties 440282,440281 --scale 0.1 --workers 1,2

A multi-county world is generated (`fupin generate --counties …`); a Prefect server is started
(as production runs under `fupin serve`, so that no worker starts an API of its own); then per
mode, in a fresh PostgreSQL database and FUPIN_HOME, `flows.city.run_city` runs as a process of
its own (wall time, CPU of the process tree, peak memory of its largest process), and reports
each worker's peak resident memory as its tasks saw it.  Every mode's findings are compared
row for row with the single process's, and scored against the generator's truth per rule.

Targets (issue 18): findings identical across modes; precision and recall 1.0 per rule (R16
included); 2 workers at least 1.6x faster than 1; no worker above 3 GB.  Beside them, the
machine's own two-process speed-up on a job that shares nothing (`reference_speedup`),
measured before and after the runs: the ceiling of any two-worker run in that sitting.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from nightly import PrefectServer, _drop_database, _fresh_database, _fupin, measure  # noqa: E402

DEFAULT_COUNTIES = "440282,440281,440224,440222"
VOLATILE = ("id", "updated_run_id")  # surrogate ids differ by nothing but order of writing

DRIVER = """
import json, sys
from flows.city import run_city
result = run_city(sys.argv[1], sys.argv[2], workers=int(sys.argv[3]))
with open(sys.argv[4], "w") as fh:
    json.dump({"seconds": result["seconds"], "worker_peak_mb": result["worker_peak_mb"],
               "needs_attention": result["needs_attention"]}, fh)
"""


# Two equal jobs that share nothing (no files, no database, no lock): SHA-256 chaining and
# a single-threaded polars group-by, about 3 s each here.  Run one after the other, then
# side by side, their speed-up is the most any two-worker run could get on this machine in
# this sitting: a virtual machine's two cores are shared with its host's other tenants.
REFERENCE_JOB = """
import hashlib
import polars as pl
h = b"x"
for _ in range(2_000_000):
    h = hashlib.sha256(h).digest()
frame = pl.DataFrame({"k": pl.int_range(0, 6_000_000, eager=True) % 9_973})
for _ in range(6):
    frame.group_by("k").agg(pl.len(), pl.col("k").sum().alias("s")).sort("k")
"""


def reference_speedup(repeats: int = 3) -> list[float]:
    """The machine's own two-process speed-up, `repeats` times (REFERENCE_JOB)."""
    env = {**os.environ, "POLARS_MAX_THREADS": "1"}
    job = [sys.executable, "-c", REFERENCE_JOB]
    ratios = []
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(2):
            subprocess.run(job, env=env, check=True)
        one_by_one = time.perf_counter() - started
        started = time.perf_counter()
        pair = [subprocess.Popen(job, env=env) for _ in range(2)]
        if any(proc.wait() for proc in pair):
            raise RuntimeError("the reference job failed")
        ratios.append(one_by_one / (time.perf_counter() - started))
    return ratios


def generate(out: Path, counties: str, scale: float, seed: int) -> float:
    started = time.perf_counter()
    subprocess.run(
        [
            _fupin(),
            "generate",
            "--out",
            str(out),
            "--counties",
            counties,
            "--scale",
            str(scale),
            "--seed",
            str(seed),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def postgres_cpu() -> float:
    """CPU seconds (user + system) of the PostgreSQL server on this machine so far, ended
    backends included (the postmaster's reaped children): the server's share of a run (COPY,
    indexes, queries), which the run's own process tree does not include.  Other work on the
    server meanwhile would count too, hence "at least" is read as "about"."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        name = text[text.index("(") + 1 : text.rindex(")")]
        if name.startswith("postgres"):
            fields = text[text.rindex(")") + 2 :].split()
            # utime, stime, and cutime, cstime: the backends the postmaster has reaped
            total += sum(int(f) for f in fields[11:15]) / ticks
    return total


def one_mode(
    inbox: Path, as_of: str, workers: int, base: str, work: Path, env: dict[str, str]
) -> dict[str, Any]:
    tag = f"w{workers}"
    url = _fresh_database(base, work, f"scaleout_{tag}")
    home = work / tag
    note = work / f"{tag}.json"
    # Each county's generated plan where operations.md §10 puts it (FUPIN_HOME/<code>/).
    for policy in sorted((inbox.parent / "policy").glob("*.toml")):
        (home / policy.stem).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(policy, home / policy.stem / "policy.toml")
    run_env = {**env, "FUPIN_DATABASE_URL": url, "FUPIN_HOME": str(home)}
    pg_before = postgres_cpu()
    got = measure(
        [sys.executable, "-c", DRIVER, str(inbox), as_of, str(workers), str(note)], run_env
    )
    got["pg_cpu"] = postgres_cpu() - pg_before
    if got["code"] != 0 or not note.exists():
        raise RuntimeError(f"mode {tag} failed:\n{got['output'][-4000:]}")
    summary = json.loads(note.read_text())
    from flows.city import city_findings

    findings = city_findings(url).drop(*VOLATILE)
    _drop_database(base, url)
    return {"workers": workers, **got, **summary, "findings": findings}


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--counties", default=DEFAULT_COUNTIES)
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--as-of", default="2018-06-30")
    ap.add_argument("--workers", default="0,1,2", help="0 = one process, no Dask")
    ap.add_argument("--db", default="postgresql://postgres@127.0.0.1:5432/postgres")
    ap.add_argument("--work", type=Path, default=None)
    args = ap.parse_args()

    import polars as pl

    from transforms.quality import overall, score_city_findings

    work = args.work or Path(tempfile.mkdtemp(prefix="fupin-scaleout-"))
    work.mkdir(parents=True, exist_ok=True)
    seconds = generate(work / "world", args.counties, args.scale, args.seed)
    server = PrefectServer(work / "prefect")
    env = {
        **os.environ,
        "PREFECT_API_URL": server.url,
        "PREFECT_HOME": str(work / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    try:
        before = reference_speedup()
        runs = [
            one_mode(work / "world" / "inbox", args.as_of, int(w), args.db, work, env)
            for w in args.workers.split(",")
        ]
        after = reference_speedup()
    finally:
        server.stop()

    truth = pl.read_csv(work / "world" / "truth" / "findings.csv", infer_schema=False)
    base = runs[0]["findings"]
    one = next((r for r in runs if r["workers"] == 1), None)
    print(
        f"counties={args.counties} scale={args.scale} seed={args.seed} as_of={args.as_of} "
        f"machine={platform.node()} cpus={os.cpu_count()} python={platform.python_version()} "
        f"generate {seconds:.1f} s"
    )
    print(
        "| mode | wall s | CPU s (run) | CPU s (PostgreSQL) | CPU / wall | peak MB "
        "(largest process) | worker peaks MB | speed-up vs 1 worker | findings = first mode "
        "| precision | recall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in runs:
        scores = overall(score_city_findings(r["findings"], truth))
        mode = "one process" if r["workers"] == 0 else f"Dask, {r['workers']} worker(s)"
        speed = f"{one['wall'] / r['wall']:.2f}x" if one else ""
        print(
            f"| {mode} | {r['wall']:.1f} | {r['cpu']:.1f} | {r['pg_cpu']:.1f} | "
            f"{(r['cpu'] + r['pg_cpu']) / r['wall']:.2f} | {r['peak_mb']:.0f} | "
            f"{', '.join(str(p) for p in r['worker_peak_mb'])} | {speed} | "
            f"{r['findings'].equals(base)} | {scores['precision']:.4f} | {scores['recall']:.4f} |"
        )
    reference = sorted(before + after)
    print(
        "\nThe machine's own two-process speed-up in this sitting (two jobs that share nothing, "
        f"one after the other against side by side; 3 before the runs, 3 after): "
        f"{', '.join(f'{r:.2f}x' for r in before + after)}; median "
        f"{(reference[2] + reference[3]) / 2:.2f}x"
    )
    print("\nPer rule (first mode):")
    pl.Config.set_tbl_rows(40)
    print(
        score_city_findings(base, truth).select(
            "rule", "expected", "found", "tp", "fp", "fn", "precision", "recall"
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
