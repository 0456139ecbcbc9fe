"""`ingest_inbox`, the nightly's ingest: stored, staged and validated once per file."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, update

from config.settings import Settings, load_settings
from flows import validation
from flows.ingest import biggest_first, ingest_inbox, scan_inbox
from generator import generate
from transforms.intake import FOLDER_KINDS
from warehouse import db, models

AS_OF = date(2018, 6, 30)


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, scale=0.01, seed=11, as_of=AS_OF)
    return out / "inbox"


@pytest.fixture
def warehouse(tmp_path: Path) -> tuple[Engine, Settings, int]:
    settings = load_settings(f"sqlite:///{tmp_path}/fupin.db", str(tmp_path))
    engine = db.connect(settings.database_url)
    db.upgrade(engine)
    yield engine, settings, db.start_run(engine, "nightly", AS_OF, {})
    engine.dispose()


def test_every_file_is_stored_staged_and_validated_once(inbox: Path, warehouse) -> None:
    engine, settings, run_id = warehouse
    outcomes = ingest_inbox(engine, settings, inbox, run_id, AS_OF)
    accepted = [o for o in outcomes if o.status == "accepted"]
    assert len(accepted) >= 21

    files = db.read_frame(engine, "source_file").filter(pl.col("status") == "accepted")
    assert set(files["validated_with"]) == {validation.fingerprint()}
    persons = db.read_frame(engine, "roster_person")
    for o in accepted:
        staged = db.read_staged(engine, o.file_id, _kind(o.source))
        assert staged is not None and staged["file_id"].unique().to_list() == [o.file_id]
        if o.source == "townships":  # every roster row is loaded or reported
            loaded = persons.filter(pl.col("file_id") == o.file_id).height
            assert staged.height == loaded + o.rows_reported
        else:
            assert staged.height == o.rows_loaded
    found = db.read_frame(engine, "file_issue")
    assert found.height > 0
    assert set(found["file_id"]) <= {o.file_id for o in accepted}

    # Validating the frames in hand gives what validating the stored rows gives.
    with engine.begin() as conn:
        conn.execute(update(models.table("source_file")).values(validated_with=None))
    assert validation.validate_stale(engine) == len(accepted)
    again = db.read_frame(engine, "file_issue")
    assert again.sort("key").equals(found.sort("key"))
    assert validation.validate_stale(engine) == 0


def _kind(source: str) -> str:
    return FOLDER_KINDS[source][0]


def test_a_second_copy_in_the_same_inbox_is_a_duplicate(
    inbox: Path, warehouse, tmp_path: Path
) -> None:
    engine, settings, run_id = warehouse
    copy = tmp_path / "inbox"
    shutil.copytree(inbox / "dibao", copy / "dibao")
    first = next((copy / "dibao").iterdir())
    shutil.copy(first, copy / "dibao" / f"副本-{first.name}")
    outcomes = ingest_inbox(engine, settings, copy, run_id, AS_OF)
    assert sorted(o.status for o in outcomes) == ["accepted", "duplicate"]
    loaded = next(o for o in outcomes if o.status == "accepted")
    assert db.current(engine, "dibao").height == loaded.rows_loaded


def test_the_biggest_source_goes_first_and_a_folder_keeps_its_order(inbox: Path) -> None:
    ordered = biggest_first(inbox)
    assert sorted(ordered) == sorted(scan_inbox(inbox))
    assert ordered[0][0] == "insurance"
    for folder in {f for f, _ in ordered}:
        assert [p for f, p in ordered if f == folder] == [
            p for f, p in scan_inbox(inbox) if f == folder
        ]


def test_a_file_is_stored_whole_or_not_at_all(
    inbox: Path, warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, settings, run_id = warehouse
    copy = tmp_path / "inbox"
    shutil.copytree(inbox / "claims", copy / "claims")

    def broken(*args, **kwargs):  # the last step of storing a file
        raise OSError("disk went away")

    monkeypatch.setattr(db, "supersede_older", broken)
    with pytest.raises(OSError):
        ingest_inbox(engine, settings, copy, run_id, AS_OF)
    files = db.read_frame(engine, "source_file")
    assert set(files["status"]) == {"loading"}
    for table in ("settlement", "staged_rows", "file_issue"):
        assert db.read_frame(engine, table).is_empty(), table

    monkeypatch.undo()  # the next run takes the files up again
    outcomes = ingest_inbox(engine, settings, copy, run_id, AS_OF)
    assert {o.status for o in outcomes} == {"accepted"}
    assert db.current(engine, "settlement").height > 0
