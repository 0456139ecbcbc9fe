"""What the office waits for: the nightly's wall time, CPU time and peak memory on the nights
that really happen, against the polars floor, at one or more scales.

    uv run python benchmarks/nightly.py                          # scale 1, 3 repeats, both modes
    uv run python benchmarks/nightly.py --scales 1,10 --repeats 1 --modes server
    uv run python benchmarks/nightly.py --scales 10 --db postgresql://postgres@127.0.0.1/postgres

Per scale a two-month timeline is generated (`generator.timeline`); then, per repeat, in a
fresh warehouse and FUPIN_HOME, each measured as a process of its own (`fupin ...`, its CPU
and peak resident memory from wait4):
  floor     polars alone: read every file, normalise the IDs, join roster to enrolment
  first     `fupin nightly` on the first night's inbox (everything new)
  nothing   the same inbox, as of one day later (nothing new arrives)
  one       one township's resubmitted roster arrives (from the timeline's second night),
            as of two days later
  help      `fupin --help`;  export: `fupin export findings` on that warehouse
Modes: `server` runs the nights against a Prefect API that is already running (as production
runs them under `fupin serve`; the benchmark starts one with its own PREFECT_HOME), `cli` from
the bare command line (Prefect starts its ephemeral API in the process).  The table gives the
median of the repeats, each night's ratio to the first night and to the floor, and the stage
times and peak memory per stage the run recorded.

Targets (issue 15): nothing ≤ 20 % and one ≤ 35 % of first (server mode); help ≤ 1.5 s,
export ≤ 3 s; first night at scale 1 ≤ 25 s; scale 10 first ≤ 10× scale 1, peak ≤ 6 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

ID_LIKE = r"^\s*\d{17}[\dXx]\s*$"
NIGHTS = ("first", "nothing", "one")
STAGES = ("ingest", "validate", "load", "reconcile", "assess", "render", "alerts")


# ---------------------------------------------------------------- measuring a process


# A process forked from this one (which holds a generated world) starts with this one's
# resident pages counted in its peak; a small launcher forks the measured command instead.
LAUNCHER = """
import json, os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(proc.pid, 0)
with open(sys.argv[1], "w") as fh:
    json.dump({"code": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime,
               "peak_mb": usage.ru_maxrss / 1024}, fh)
"""


def measure(cmd: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run `cmd`; its wall time, CPU (user+sys of it and the children it waited for) and
    peak resident memory (its largest process)."""
    with tempfile.NamedTemporaryFile(suffix=".json") as note:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-c", LAUNCHER, note.name, *cmd],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
        )
        wall = time.perf_counter() - started
        got = json.loads(Path(note.name).read_text() or "{}")
    if not got:
        raise RuntimeError(
            f"the launcher failed:\n{proc.stdout.decode('utf-8', 'replace')[-3000:]}"
        )
    return {**got, "wall": wall, "output": proc.stdout.decode("utf-8", "replace")}


def _fupin() -> str:
    script = Path(sys.executable).parent / "fupin"
    return str(script) if script.exists() else shutil.which("fupin") or "fupin"


# ---------------------------------------------------------------- the polars floor


def floor(inbox: Path) -> None:
    """Read every file as text, normalise the IDs of the roster and enrolment, join them."""
    import polars as pl

    def id_column(frame: pl.DataFrame) -> pl.Series | None:
        best, hits = None, 0
        for name in frame.columns:
            n = frame[name].str.contains(ID_LIKE).sum()
            if n and n > hits:
                best, hits = frame[name], n
        return best

    def normalise(ids: pl.Series) -> pl.Series:
        return ids.str.strip_chars().str.to_uppercase().alias("id")

    from ingest import text_frames  # benchmarks/ingest.py: the same reading

    roster, enrolment = [], []
    for path in sorted(p for p in inbox.rglob("*") if p.is_file()):
        source = path.relative_to(inbox).parts[0]
        for frame in text_frames(path):
            ids = id_column(frame.cast(pl.Utf8))
            if ids is None:
                continue
            if source == "townships":
                roster.append(normalise(ids))
            elif source == "insurance":
                enrolment.append(normalise(ids))
    people = pl.DataFrame(pl.concat(roster)).unique()
    joined = people.join(pl.DataFrame(pl.concat(enrolment)), on="id", how="inner")
    print(json.dumps({"roster": people.height, "joined": joined.height}))


# ---------------------------------------------------------------- a Prefect server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrefectServer:
    """`prefect server start` with its own home, as a running production server stands in."""

    def __init__(self, home: Path) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_API_URL": "",
        }
        prefect = Path(sys.executable).parent / "prefect"
        home.mkdir(parents=True, exist_ok=True)
        self.log = (home / "server.log").open("wb")
        self.proc = subprocess.Popen(
            [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.url = f"http://127.0.0.1:{self.port}/api"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError("the Prefect server did not start within 180 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


# ---------------------------------------------------------------- one sitting


def _timeline(out: Path, scale: float, seed: int) -> dict[str, Any]:
    """A two-month timeline in `out`; one written there before with the same scale and seed
    (`--work`) is used again."""
    from generator.timeline import generate_timeline

    started = time.perf_counter()
    kept = out / "generated.json"
    if not (kept.exists() and json.loads(kept.read_text()) == {"scale": scale, "seed": seed}):
        kept.unlink(missing_ok=True)
        generate_timeline(out, scale=scale, seed=seed, months=2)
        kept.write_text(json.dumps({"scale": scale, "seed": seed}))
    meta = json.loads((out / "timeline.json").read_text(encoding="utf-8"))
    meta["seconds"] = time.perf_counter() - started
    return meta


def _one_township(meta: dict[str, Any]) -> dict[str, Any]:
    """The second night's first township roster that is put in force."""
    arrivals = next(n for n in meta["nights"] if n["night"] == 2)["arrivals"]
    return next(a for a in arrivals if a["source"] == "townships" and a["expect"] == "accepted")


def _deliver_one(timeline: Path, arrival: dict[str, Any], inbox: Path) -> None:
    from generator.timeline import night_name

    target = inbox / arrival["path"]
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(timeline / "nights" / night_name(2) / "inbox" / arrival["path"], target)
    latest = max(p.stat().st_mtime_ns for p in inbox.rglob("*") if p.is_file())
    stamp = max(time.time_ns(), latest + 1_000_000_000)
    os.utime(target, ns=(stamp, stamp))


def _run_stats(url: str) -> dict[str, Any]:
    """The statistics the last nightly run recorded (its stage times and peaks)."""
    import polars as pl

    from warehouse import db

    engine = db.connect(url)
    try:
        runs = db.read_frame(engine, "run").filter(pl.col("flow") == "nightly")
        return json.loads(runs.sort("id")["stats"][-1] or "{}") if runs.height else {}
    finally:
        engine.dispose()


def _pg_admin(base: str, statement: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(
        make_url(base).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(text(statement))
    admin.dispose()


def _fresh_database(base: str | None, work: Path, tag: str) -> str:
    """SQLite in the sitting's folder, or a new PostgreSQL database beside `base`'s."""
    if not base:
        return f"sqlite:///{work / 'fupin.db'}"
    from sqlalchemy.engine import make_url

    name = f"fupin_bench_{tag}_{os.getpid()}"
    _pg_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _pg_admin(base, f'CREATE DATABASE "{name}"')
    return make_url(base).set(database=name).render_as_string(hide_password=False)


def _drop_database(base: str | None, url: str) -> None:
    if base:
        from sqlalchemy.engine import make_url

        _pg_admin(base, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def sitting(
    timeline: Path,
    meta: dict[str, Any],
    work: Path,
    env: dict[str, str],
    database: str | None,
    tag: str,
) -> dict[str, dict[str, Any]]:
    """first, nothing, one, help and export in a fresh warehouse and home."""
    from generator.timeline import deliver

    work.mkdir(parents=True)
    inbox, home = work / "inbox", work / "home"
    url = _fresh_database(database, work, tag)
    env = {**env, "FUPIN_HOME": str(home), "FUPIN_DATABASE_URL": url}
    deliver(timeline, 1, inbox)
    start = date.fromisoformat(meta["nights"][0]["as_of"])
    fupin = _fupin()
    out: dict[str, dict[str, Any]] = {}
    for night, days in zip(NIGHTS, (0, 1, 2), strict=True):
        if night == "one":
            _deliver_one(timeline, _one_township(meta), inbox)
        as_of = (start + timedelta(days=days)).isoformat()
        m = measure([fupin, "nightly", "--inbox", str(inbox), "--as-of", as_of], env)
        if m["code"] not in (0, 1):
            raise RuntimeError(f"{night} night failed ({m['code']}):\n{m['output'][-3000:]}")
        m["stats"] = _run_stats(url)
        out[night] = m
    out["help"] = measure([fupin, "--help"], env)
    out["export"] = measure([fupin, "export", "findings", "--out", str(work / "f.csv")], env)
    _drop_database(database, url)
    return out


# ---------------------------------------------------------------- the table


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(r[key] for r in runs)


def report(
    scale: float, mode: str, floor_runs: list[dict[str, Any]], runs: list[dict[str, dict[str, Any]]]
) -> list[str]:
    f_wall = _median(floor_runs, "wall")
    first = _median([r["first"] for r in runs], "wall")
    lines = []
    for what in ("floor", *NIGHTS, "help", "export"):
        these = floor_runs if what == "floor" else [r[what] for r in runs]
        wall, cpu, peak = (_median(these, k) for k in ("wall", "cpu", "peak_mb"))
        stages = ""
        if what in NIGHTS:
            timings = [r[what]["stats"].get("timings", {}) for r in runs]
            peaks = [r[what]["stats"].get("peak_mb", {}) for r in runs]
            names = [n for n in STAGES if n in timings[0]]
            stages = ", ".join(
                f"{n} {statistics.median(t.get(n, 0) for t in timings):.1f}"
                f" ({statistics.median(p.get(n, 0) for p in peaks):.0f} MB)"
                for n in names
            )
        ratio_first = f"{wall / first:.0%}" if what in NIGHTS else ""
        ratio_floor = f"{wall / f_wall:.1f}×" if what in (*NIGHTS,) else ""
        lines.append(
            f"| {scale:g} | {mode} | {what} | {wall:.1f} | {cpu:.1f} | {peak:.0f} | "
            f"{ratio_first} | {ratio_floor} | {stages} |"
        )
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--scales", default="1", help="comma-separated, e.g. 1,10")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--modes", default="server,cli", help="server, cli or both")
    ap.add_argument("--seed", type=int, default=20161010)
    ap.add_argument(
        "--db", help="a PostgreSQL URL (a database per sitting is created there); default SQLite"
    )
    ap.add_argument(
        "--work", help="keep the worlds and warehouses here (default: a temporary folder)"
    )
    ap.add_argument("--floor", help=argparse.SUPPRESS)  # internal: the floor in its own process
    args = ap.parse_args()
    if args.floor:
        floor(Path(args.floor))
        return 0
    if args.repeats < 1:
        ap.error("--repeats must be at least 1")
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not set(modes) <= {"server", "cli"}:
        ap.error("--modes: server, cli")

    from flows.runtime import prefect_defaults

    prefect_defaults()
    base_env = {**os.environ, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    tmp = tempfile.TemporaryDirectory(prefix="fupin-nightly-bench-")
    root = Path(args.work) if args.work else Path(tmp.name)
    server = PrefectServer(root / "prefect-server") if "server" in modes else None
    head = [
        f"nightly benchmark: {platform.node()} ({os.cpu_count()} cores, Python "
        f"{platform.python_version()}), warehouse {'PostgreSQL' if args.db else 'SQLite'}, "
        f"seed {args.seed}, {args.repeats} repeat(s), medians",
        "",
        "| scale | mode | run | wall s | CPU s | peak MB | of first | of floor | stages: s (peak MB at end) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    print("\n".join(head), flush=True)
    try:
        for scale in [float(s) for s in args.scales.split(",")]:
            timeline = root / f"scale{scale:g}" / "timeline"
            meta = _timeline(timeline, scale, args.seed)
            inbox1 = timeline / "nights" / "01" / "inbox"
            size = sum(p.stat().st_size for p in inbox1.rglob("*") if p.is_file()) / 2**20
            print(
                f"scale {scale:g}: {len(meta['nights'][0]['arrivals'])} files, "
                f"{size:.0f} MB, timeline generated in {meta['seconds']:.0f} s",
                file=sys.stderr,
                flush=True,
            )
            floors = []
            for _ in range(args.repeats):
                m = measure([sys.executable, __file__, "--floor", str(inbox1)], base_env)
                if m["code"] != 0:
                    raise RuntimeError(f"floor failed:\n{m['output'][-3000:]}")
                floors.append(m)
            for mode in modes:
                env = dict(base_env)
                env["PREFECT_API_URL"] = server.url if mode == "server" and server else ""
                runs = []
                for i in range(args.repeats):
                    tag = f"{scale:g}_{mode}_{i}".replace(".", "_")
                    runs.append(
                        sitting(timeline, meta, root / f"scale{scale:g}" / tag, env, args.db, tag)
                    )
                    shutil.rmtree(
                        root / f"scale{scale:g}" / tag / "home" / "files", ignore_errors=True
                    )
                print("\n".join(report(scale, mode, floors, runs)), flush=True)
    finally:
        if server:
            server.stop()
        if not args.work:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
