"""Data-quality validation of what ingest loads: each file once, when it arrives.

A file's issues depend only on its own rows and on the suites (no expectation looks across
files: households are grouped within a file), so they are kept per file (`file_issue`) and
stamped with the suites' fingerprint.  A run's issues are those whose row is in force
(`db.issues_in_force`), so a superseded roster's issues resolve as before.  When the suites
change -- their code, the schema or divisions they read, the GX release -- the fingerprint
changes and the accepted files are validated again from their canonical rows.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from datetime import date
from functools import cache
from importlib.metadata import version
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from config.settings import (
    CITY_DIVISIONS_CSV,
    DIVISIONS_CSV,
    HOME_COUNTY,
    current_county,
    value_limits,
)
from transforms.frames import CANONICAL, ISSUE, conform, empty
from warehouse import db

VALIDATED = tuple(CANONICAL)  # every canonical kind has a suite
_ROOT = Path(__file__).resolve().parents[1]


def fingerprint() -> str:
    """What the suites' verdicts depend on, hashed: their code, the schema, the divisions
    (of the county worked for), and the bounds of policy.toml [values] (the village sheet's
    income is judged against them, and every message of an implausible value names them)."""
    return _fingerprint(current_county())


@cache
def _fingerprint(county: str) -> str:
    digest = hashlib.sha256(version("great-expectations").encode())
    if county != HOME_COUNTY:  # the home county's stamp stays what it always was
        digest.update(county.encode())
        digest.update(CITY_DIVISIONS_CSV.read_bytes())
    digest.update(repr(value_limits()).encode())
    inputs = sorted((_ROOT / "expectations").glob("*.py")) + [
        _ROOT / "config" / "schema.py",
        _ROOT / "transforms" / "values.py",
        DIVISIONS_CSV,
    ]
    for path in inputs:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# GX is not known to be safe with two validations at once in one process; ingest validates
# from two threads (a streamed extract's batches on the parser lane, the other files on the
# main one), so one runs at a time.
_GX = threading.Lock()


def validate_frames(frames: Mapping[str, Sequence[pl.DataFrame]]) -> pl.DataFrame:
    """Issues (contract ISSUE) of canonical frames, one suite run per kind: GX's cost is per
    run and per expectation far more than per row, so files of a kind are validated together."""
    wanted = {kind: [f for f in kind_frames if f.height] for kind, kind_frames in frames.items()}
    wanted = {kind: kind_frames for kind, kind_frames in wanted.items() if kind_frames}
    if not wanted:  # a night with nothing new imports nothing of GX's
        return empty(ISSUE)
    from expectations import validate

    parts = []
    for kind, kind_frames in wanted.items():
        rows = pl.concat([conform(f, CANONICAL[kind]) for f in kind_frames])
        with _GX:
            parts.append(validate(kind, rows))
    return conform(pl.concat(parts), ISSUE)


def judged_row_by_row(kind: str) -> bool:
    """Every check of `kind`'s suite judges a row by its own values (no `suite.whole`): a
    file's issues are then those of its batches, validated one by one."""
    from expectations import suites

    return suites.build(kind, "pandas").whole is None


def validate_stale(engine: Engine) -> int:
    """Validate the accepted files that have not been validated with the current suites
    (`ingest_inbox` validates what it loads; this catches the rest); returns how many."""
    stamp = fingerprint()
    stale = db.files_to_validate(engine, stamp)
    if not stale:
        return 0
    frames = {kind: [db.canonical_of(engine, kind, ids)] for kind, ids in stale.items()}
    file_ids = sorted({i for ids in stale.values() for i in ids})
    db.record_file_issues(engine, file_ids, validate_frames(frames), stamp)
    return len(file_ids)


def issues_of_the_run(engine: Engine, run_id: int, as_of: date) -> dict[str, int]:
    """The run's data-quality issues into their life cycle: files the current suites have
    not seen validated first, then the issues in force merged by key (what is wrong where in
    the register, `transforms.issue_identity`): an issue still found keeps its first_seen
    whichever file now shows it, one no longer found resolves."""
    revalidated = validate_stale(engine)
    counts = db.upsert_lifecycle(engine, "dq_issue", db.issues_in_force(engine), run_id, as_of)
    return {**counts, "files_revalidated": revalidated}
