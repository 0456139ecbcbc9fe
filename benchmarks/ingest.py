"""Ingest and validation speed against the floor of polars reading the same files.

    uv run python benchmarks/ingest.py --scale 1            # generates an inbox first
    uv run python benchmarks/ingest.py --inbox DIR/inbox    # or measures an existing one
    ... --runs 3      floor and ingest three times, back to back; the verdict is the median

Each measurement runs in a fresh process, so its peak memory (VmHWM) is its own:
  floor     polars alone reads every file as text (read_csv / read_excel with calamine)
  ingest    flows.ingest.ingest_inbox into a fresh SQLite warehouse, as the nightly runs it:
            SHA-256, archive copy, header location, staging, normalisation, bulk load, and
            the expectation suites on every new file (validated once, when it arrives)
  issues    the nightly's validate step: files the suites have not seen (none here), the
            issues of the rows in force, into their life cycle
  what-if   (--what-if) the ingest again, with enrolment's canonical rows kept as one Parquet
            document instead of SQL rows: what the warehouse's largest write costs
  parts     the same work in its cheapest form, each part alone on one thread (parse, the
            least SQLite write of the loaded rows, the suites): a bound on what threads
            could achieve on this machine
Target (issue 4): ingest + validate within 5x the floor and under 20 s at scale 1.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def text_frames(path: Path) -> list:  # -> list[pl.DataFrame]
    """Polars alone reading a file, every cell as text: a CSV (UTF-8 or GB18030) as one frame,
    a workbook as one frame per sheet (calamine).  The floor every benchmark compares with."""
    import polars as pl

    if path.suffix.lower() == ".csv":
        data = path.read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("gb18030")
        return [
            pl.read_csv(
                text.encode(), infer_schema=False, has_header=False, truncate_ragged_lines=True
            )
        ]
    sheets = pl.read_excel(
        path, sheet_id=0, engine="calamine", has_header=False, infer_schema_length=0
    )
    return list(sheets.values())


def _floor(inbox: str, queue: mp.Queue) -> None:
    from flows.ingest import scan_inbox

    started = time.perf_counter()
    rows = sum(f.height for _, path in scan_inbox(Path(inbox)) for f in text_frames(path))
    queue.put({"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(), "rows": rows})


def _enrolment_rows_as_a_document() -> None:
    """What-if, not the product: enrolment's canonical rows kept as one Parquet document per
    file (as staged rows are) instead of 1.26M SQL rows -- the warehouse's largest write
    removed.  Tells whether any SQLite write path could bring the ingest within the target."""
    from sqlalchemy import text

    from warehouse import db

    write_frame = db.write_frame

    def write(bind, table, frame):  # type: ignore[no-untyped-def]
        if table != "enrolment":
            return write_frame(bind, table, frame)
        with db.transaction(bind) as conn:
            conn.execute(text("CREATE TABLE IF NOT EXISTS whatif_enrolment (parquet BLOB)"))
            conn.execute(
                text("INSERT INTO whatif_enrolment VALUES (:p)"),
                {"p": db.staged_document(frame)},
            )
        return frame.height

    db.write_frame = write  # flows.ingest calls it through the module


def _ingest_what_if(inbox: str, work: str, as_of: str, queue: mp.Queue) -> None:
    _enrolment_rows_as_a_document()
    _ingest(inbox, work, as_of, queue)


def _ingest(inbox: str, work: str, as_of: str, queue: mp.Queue) -> None:
    import resource

    from config.settings import load_settings
    from flows.ingest import ingest_inbox
    from flows.validation import issues_of_the_run
    from warehouse import db

    t = time.perf_counter()
    import expectations.run  # noqa: F401  (GX import is a fixed cost, timed apart)

    import_s = time.perf_counter() - t
    settings = load_settings(f"sqlite:///{work}/fupin.db", work)
    engine = db.connect(settings.database_url)
    db.upgrade(engine)
    day = date.fromisoformat(as_of)
    run_id = db.start_run(engine, "nightly", day, {"benchmark": "ingest"})
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    outcomes = ingest_inbox(engine, settings, Path(inbox), run_id)
    ingest_s = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)

    t = time.perf_counter()
    counts = issues_of_the_run(engine, run_id, day)
    validate_s = time.perf_counter() - t
    t = time.perf_counter()
    in_force = sum(db.current(engine, k).height for k in ("roster", "dibao", "enrolment"))
    load_s = time.perf_counter() - t
    queue.put(
        {
            "ingest_s": ingest_s,
            "cpu_s": cpu_s,
            "gx_import_s": import_s,
            "load_in_force_s": load_s,
            "rows_in_force": in_force,
            "validate_s": validate_s,
            "revalidated": counts["files_revalidated"],
            "rows_loaded": sum(o.rows_loaded for o in outcomes),
            "files": {
                s: sum(o.status == s for o in outcomes) for s in {o.status for o in outcomes}
            },
            "issues": counts["new"] + counts["still_open"] + counts["reopened"],
            "peak_mb": _peak_mb(),
        }
    )


def _parts(inbox: str, queue: mp.Queue) -> None:
    """The ingest's parts alone, one after another on one thread, each as cheap as it can
    be: what the ingest would cost if nothing waited or competed.  `write` is the loaded rows
    put into an empty SQLite file by ADBC alone (no index, no journal, no transaction per
    file, no staged copy): the least any SQLite warehouse pays for them."""
    import adbc_driver_sqlite.dbapi
    import polars as pl

    import expectations.run  # noqa: F401
    from flows.ingest import parse, scan_inbox
    from flows.validation import VALIDATED, validate_frames
    from warehouse.bulk import _sqlite_values

    canonical: dict[str, list[pl.DataFrame]] = {}
    workbooks_s = extracts_s = 0.0
    for i, (folder, path) in enumerate(scan_inbox(Path(inbox)), start=1):
        t = time.perf_counter()
        for kind, frame in parse(folder, path, i).canonical.items():
            canonical.setdefault(kind, []).append(frame)
        if folder == "townships":
            workbooks_s += time.perf_counter() - t
        else:
            extracts_s += time.perf_counter() - t

    frames = {kind: pl.concat(parts) for kind, parts in canonical.items()}
    with tempfile.TemporaryDirectory(prefix="fupin-bound-") as tmp:
        t = time.perf_counter()
        adbc = adbc_driver_sqlite.dbapi.connect(f"{tmp}/bound.db", autocommit=True)
        with adbc.cursor() as cur:
            cur.execute("PRAGMA journal_mode=OFF")
            cur.execute("PRAGMA synchronous=OFF")
            cur.execute("BEGIN")
            for kind, frame in frames.items():
                cur.adbc_ingest(kind, _sqlite_values(frame).to_arrow(), mode="create")
            cur.execute("COMMIT")
        adbc.close()
        write_s = time.perf_counter() - t

    t = time.perf_counter()
    validate_frames({k: [f] for k, f in frames.items() if k in VALIDATED}, {})
    suites_s = time.perf_counter() - t
    queue.put(
        {
            "workbooks_s": workbooks_s,
            "extracts_s": extracts_s,
            "write_s": write_s,
            "suites_s": suites_s,
        }
    )


def _guarded(target, *args) -> None:  # type: ignore[no-untyped-def]
    queue = args[-1]
    try:
        target(*args)
    except BaseException as exc:  # report, don't leave the parent waiting
        import traceback

        queue.put({"error": f"{type(exc).__name__}: {traceback.format_exc()[-3000:]}"})


def _in_child(target, *args) -> dict:  # type: ignore[no-untyped-def]
    ctx = mp.get_context("spawn")
    queue: mp.Queue = ctx.Queue()
    proc = ctx.Process(target=_guarded, args=(target, *args, queue))
    proc.start()
    result = queue.get()
    proc.join()
    if "error" in result:
        raise RuntimeError(f"{target.__name__} failed in its process:\n{result['error']}")
    return result


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--inbox", help="an existing inbox; otherwise one is generated")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=20161010)
    ap.add_argument("--as-of", default="2018-06-30")
    ap.add_argument(
        "--runs",
        type=int,
        default=1,
        help="floor and ingest measured this many times, back to back; the verdict is the median",
    )
    ap.add_argument(
        "--what-if",
        action="store_true",
        help="also ingest with enrolment's rows kept as a Parquet document, not SQL rows",
    )
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")
    with tempfile.TemporaryDirectory(prefix="fupin-ingest-") as tmp:
        inbox = args.inbox
        if not inbox:
            from generator import generate

            generate(
                Path(tmp) / "gen",
                scale=args.scale,
                seed=args.seed,
                as_of=date.fromisoformat(args.as_of),
            )
            inbox = str(Path(tmp) / "gen" / "inbox")
        size_mb = sum(p.stat().st_size for p in Path(inbox).rglob("*") if p.is_file()) / 2**20
        pairs = []  # (floor, ingest) measured back to back, each in a fresh process
        for i in range(args.runs):
            work = Path(tmp) / f"work{i}"
            work.mkdir()
            pairs.append(
                (_in_child(_floor, inbox), _in_child(_ingest, inbox, str(work), args.as_of))
            )
        floor, ours = pairs[0]
        parts = _in_child(_parts, inbox)
        what_if = None
        if args.what_if:
            other = Path(tmp) / "what-if"
            other.mkdir()
            what_if = _in_child(_ingest_what_if, inbox, str(other), args.as_of)

    total = ours["ingest_s"] + ours["validate_s"]
    ratio = total / floor["seconds"]
    print(
        f"machine={platform.node()} cpus={os.cpu_count()} python={platform.python_version()} "
        f"inbox={inbox if args.inbox else f'generated scale={args.scale} seed={args.seed}'} ({size_mb:.0f} MB)"
    )
    print(
        f"floor   polars reads every file:        {floor['seconds']:7.2f} s  peak {floor['peak_mb']:6.0f} MB  ({floor['rows']:,} rows)"
    )
    print(
        f"ingest  archive+parse+load+validate:     {ours['ingest_s']:7.2f} s  ({ours['rows_loaded']:,} rows, files {ours['files']})"
    )
    print(
        f"issues  in force, into the life cycle:   {ours['validate_s']:7.2f} s  ({ours['issues']:,} issues, {ours['revalidated']} files revalidated)"
    )
    print(f"        GX import (fixed cost):          {ours['gx_import_s']:7.2f} s  (not counted)")
    print(
        f"        reading roster+dibao+enrolment in force back (reconcile's input, not counted): "
        f"{ours['load_in_force_s']:.2f} s ({ours['rows_in_force']:,} rows)"
    )
    print(
        f"total   ingest + validate:               {total:7.2f} s  peak {ours['peak_mb']:6.0f} MB"
    )
    cores = os.cpu_count() or 1
    print(
        f"        CPU used by the ingest (user+sys, all threads): {ours['cpu_s']:.2f} s; on "
        f"{cores} cores no arrangement finishes it in under {ours['cpu_s'] / cores:.2f} s "
        f"({ours['cpu_s'] / cores / floor['seconds']:.1f}x floor)"
    )
    alone = sum(parts.values())
    f = floor["seconds"]
    print("parts alone, one thread, nothing competing (what the ingest cannot do without):")
    for label, key in (
        ("read + parse + normalise the township workbooks", "workbooks_s"),
        ("read + parse + normalise the extracts", "extracts_s"),
        ("write the loaded rows, ADBC alone, no index/journal", "write_s"),
        ("the suites on every frame", "suites_s"),
    ):
        print(f"        {label:52} {parts[key]:6.2f} s  ({parts[key] / f:.1f}x floor)")
    python_bound = parts["workbooks_s"] + parts["suites_s"]
    print(
        f"        workbooks + suites, mostly Python (one GIL: they cannot overlap each other): "
        f"{python_bound:.2f} s ({python_bound / f:.1f}x floor)"
    )
    print(
        f"        sum {alone:.2f} s ({alone / f:.1f}x floor); on {os.cpu_count()} cores, at best "
        f"{alone / (os.cpu_count() or 1):.2f} s ({alone / (os.cpu_count() or 1) / f:.1f}x floor)"
    )
    if what_if:
        print(
            f"what-if enrolment rows as one Parquet document, not SQL rows (not the product): "
            f"ingest {what_if['ingest_s']:.2f} s, CPU {what_if['cpu_s']:.2f} s "
            f"({what_if['ingest_s'] / f:.1f}x floor)"
        )
    verdict = "ratio to floor"
    if len(pairs) > 1:
        ratios, totals = [], []
        for i, (fl, run) in enumerate(pairs, start=1):
            t = run["ingest_s"] + run["validate_s"]
            ratios.append(t / fl["seconds"])
            totals.append(t)
            print(
                f"run {i}: floor {fl['seconds']:.2f} s, ingest + validate {t:.2f} s, "
                f"CPU {run['cpu_s']:.2f} s, ratio {ratios[-1]:.1f}x"
            )
        ratio, total = statistics.median(ratios), statistics.median(totals)
        verdict = f"median of {len(pairs)} runs: {total:.2f} s, ratio to floor"
    print(
        f"{verdict}: {ratio:.1f}x  (target <= 5x: {'PASS' if ratio <= 5 else 'FAIL'}); "
        f"under 20 s: {'PASS' if total < 20 else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
