"""The nightly path end to end under Prefect's test harness, on a small generated inbox."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from flows.nightly import run_nightly
from generator import generate
from warehouse import db

AS_OF = date(2018, 6, 30)


@pytest.fixture(scope="module")
def small_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, scale=0.01, seed=7, as_of=AS_OF)
    return out


def _state(url: str) -> dict[str, pl.DataFrame]:
    engine = db.connect(url)
    tables = {
        "source_file": ["id"],
        "roster_person": ["file_id", "sheet", "row_no"],
        "enrolment": ["file_id", "sheet", "row_no"],
        "dq_issue": ["key"],
        "finding": ["key"],
        "identity_link": ["source", "file_id", "sheet", "row_no"],
    }
    out = {}
    for name, order in tables.items():
        frame = db.read_frame(engine, name)
        drop = [c for c in ("received_at", "run_id", "updated_run_id") if c in frame.columns]
        out[name] = frame.drop(drop).sort(order)
    return out


def _run(inbox: Path, url: str, home: Path) -> dict:
    return run_nightly(str(inbox / "inbox"), AS_OF.isoformat(), url, str(home))


def _artifact_mentions(*texts: str) -> bool:
    """Whether a `nightly-summary` artifact in Prefect holds every one of `texts`."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["nightly-summary"]))
        )
    return any(all(t in str(a.data) for t in texts) for a in found)


def test_nightly_twice_changes_nothing_but_the_run_record(harness, small_inbox, tmp_path, db_url):
    first = _run(small_inbox, db_url, tmp_path)
    assert first["files"]["accepted"] >= 21  # 18 township workbooks + 3 extracts
    stages = ["ingest", "validate", "load", "reconcile", "assess", "render", "alerts"]
    assert list(first["timings"]) == stages and sum(first["timings"].values()) > 0
    runs = db.read_frame(db.connect(db_url), "run").sort("id")
    recorded = json.loads(runs["stats"][0])
    assert set(recorded["timings"]) == set(recorded["peak_mb"]) == set(stages)
    assert _artifact_mentions(f"夜间核查 #{first['run_id']}", "比对核查", "核查发现")
    if db_url.startswith("postgresql"):  # planner statistics fresh after the bulk loads
        from sqlalchemy import text

        with db.connect(db_url).connect() as conn:
            fresh = conn.execute(
                text(
                    "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL "
                    "AND relname IN ('roster_person', 'enrolment', 'file_issue', 'identity_link')"
                )
            ).scalars()
            assert len(set(fresh)) == 4
    assert first["rows_in_force"]["roster"] > 100
    assert first["findings"]["new"] > 0
    before = _state(db_url)
    archived = sorted(
        p.relative_to(tmp_path) for p in (tmp_path / "files").rglob("*") if p.is_file()
    )

    second = _run(small_inbox, db_url, tmp_path)
    assert second["files"]["accepted"] == 0
    assert (
        second["files"]["duplicate"]
        == first["files"]["accepted"] + first["files"]["quarantined"] + first["files"]["rejected"]
    )
    assert second["findings"]["new"] == 0 and second["findings"]["resolved"] == 0
    after = _state(db_url)
    for name in before:
        assert before[name].equals(after[name]), name
    assert (
        sorted(p.relative_to(tmp_path) for p in (tmp_path / "files").rglob("*") if p.is_file())
        == archived
    )
    runs = db.read_frame(db.connect(db_url), "run").filter(pl.col("flow") == "nightly")
    assert runs.height == 2


def test_every_staged_row_traces_to_file_sheet_and_row(harness, small_inbox, tmp_path, sqlite_url):
    _run(small_inbox, sqlite_url, tmp_path)
    engine = db.connect(sqlite_url)
    persons = db.read_frame(engine, "roster_person")
    files = db.read_frame(engine, "source_file")
    assert persons["row_no"].min() > 1
    assert set(persons["file_id"].unique()) <= set(
        files.filter(pl.col("status") == "accepted")["id"]
    )
    for row in files.iter_rows(named=True):
        stored = Path(row["archive_path"])
        assert stored.exists() and stored.name.startswith(row["sha256"])
