"""`ingest_inbox`, the nightly's ingest: stored, staged and validated once per file."""

from __future__ import annotations

import shutil
import threading
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, update

from config.settings import Settings, load_settings
from flows import ingest, validation
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
    outcomes = ingest_inbox(engine, settings, inbox, run_id)
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


def _inbox_of(inbox: Path, tmp_path: Path, *folders: str) -> Path:
    """A copy of some of the generated inbox's folders."""
    copy = tmp_path / "inbox"
    for folder in folders:
        shutil.copytree(inbox / folder, copy / folder)
    return copy


def _status_by_source(engine: Engine) -> dict[str, str]:
    return dict(db.read_frame(engine, "source_file").select("source", "status").iter_rows())


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
    outcomes = ingest_inbox(engine, settings, copy, run_id)
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


@pytest.mark.parametrize("streamed", [False, True])
def test_a_file_is_stored_whole_or_not_at_all(
    inbox: Path, warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    """A file read whole is written in one transaction; a streamed extract's batches are
    written while it is "loading", when none of its rows is in force, and the next run
    removes them before taking the file up again."""
    engine, settings, run_id = warehouse
    copy = _inbox_of(inbox, tmp_path, "claims")
    monkeypatch.setattr(ingest, "STREAMED", ("claims",) if streamed else ())
    monkeypatch.setattr(ingest, "STREAM_ROWS", 100)
    monkeypatch.setattr(ingest, "STREAM_BYTES", 0)

    def broken(*args, **kwargs):  # the last step of storing a file
        raise OSError("disk went away")

    with monkeypatch.context() as m:
        m.setattr(db, "put_in_force", broken)
        with pytest.raises(OSError):
            ingest_inbox(engine, settings, copy, run_id)
    files = db.read_frame(engine, "source_file")
    assert set(files["status"]) == {"loading"}
    assert db.current(engine, "settlement").is_empty()
    for table in ("staged_rows", "file_issue"):
        assert db.read_frame(engine, table).is_empty(), table
    left = db.read_frame(engine, "settlement").height
    assert left > 0 if streamed else left == 0

    outcomes = ingest_inbox(engine, settings, copy, run_id)  # the next run takes them up again
    assert {o.status for o in outcomes} == {"accepted"}
    assert db.current(engine, "settlement").height > 0
    rows = db.read_frame(engine, "settlement").group_by("file_id").len()
    loaded = {o.file_id: o.rows_loaded for o in outcomes}
    assert dict(rows.iter_rows()) == loaded


def test_the_biggest_source_is_parsed_in_its_own_lane_and_every_folder_keeps_its_order(
    inbox: Path, warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, settings, run_id = warehouse
    parsed_on: dict[str, str] = {}
    stored: list[str] = []
    parse, stream, store = ingest.parse_registered, ingest.stream_extract, ingest.store

    def spy_parse(engine, file):
        parsed_on[file.rel_path] = threading.current_thread().name
        return parse(engine, file)

    def spy_stream(engine, file, writer):  # enrolment and settlement CSVs
        parsed_on[file.rel_path] = threading.current_thread().name
        return stream(engine, file, writer)

    def spy_store(engine, file, *args, **kwargs):
        stored.append(file.rel_path)
        return store(engine, file, *args, **kwargs)

    monkeypatch.setattr(ingest, "parse_registered", spy_parse)
    monkeypatch.setattr(ingest, "stream_extract", spy_stream)
    monkeypatch.setattr(ingest, "store", spy_store)
    outcomes = ingest_inbox(engine, settings, inbox, run_id)

    taken = [p.relative_to(inbox).as_posix() for _, p in biggest_first(inbox)]
    assert [o.rel_path for o in outcomes] == taken  # outcomes in the order taken
    lanes = {rel.split("/")[0]: name.split("_")[0] for rel, name in parsed_on.items()}
    assert lanes.pop("insurance") == "fupin-parser"
    assert set(lanes.values()) == {"MainThread"}
    for folder in FOLDER_KINDS:  # stores of a folder in its oldest-first order
        assert [r for r in stored if r.startswith(f"{folder}/")] == [
            r for r in taken if r.startswith(f"{folder}/") and r in stored
        ]
    assert len(stored) == sum(o.status == "accepted" for o in outcomes)


def test_a_failure_in_the_parser_lane_fails_the_run_and_the_next_run_takes_the_file_up(
    inbox: Path, warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine, settings, run_id = warehouse
    copy = _inbox_of(inbox, tmp_path, "insurance", "dibao")
    parse = ingest.parse

    def unreadable_disk(folder, path, file_id, *args):
        if folder == "insurance":
            raise OSError("read error")
        return parse(folder, path, file_id, *args)

    monkeypatch.setattr(ingest, "STREAMED", ())  # the enrolment CSV is read whole, by `parse`
    monkeypatch.setattr(ingest, "parse", unreadable_disk)
    with pytest.raises(OSError):
        ingest_inbox(engine, settings, copy, run_id)
    assert _status_by_source(engine) == {"insurance": "loading", "dibao": "accepted"}

    monkeypatch.undo()
    outcomes = ingest_inbox(engine, settings, copy, run_id)
    assert {o.source: o.status for o in outcomes} == {"insurance": "accepted", "dibao": "duplicate"}
    assert db.current(engine, "enrolment").height > 0


@pytest.mark.parametrize("streamed", [False, True])
def test_a_failure_on_the_flows_thread_still_lets_the_parser_lane_store_what_it_took(
    inbox: Path, warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, streamed: bool
) -> None:
    engine, settings, run_id = warehouse
    copy = _inbox_of(inbox, tmp_path, "insurance", "dibao")
    parse, stream, failed = ingest.parse, ingest.stream_extract, threading.Event()

    def slow_stream(*args):
        failed.wait(10)
        return stream(*args)

    monkeypatch.setattr(ingest, "STREAMED", ("insurance",) if streamed else ())
    monkeypatch.setattr(ingest, "STREAM_ROWS", 3000)
    monkeypatch.setattr(ingest, "STREAM_BYTES", 0)
    monkeypatch.setattr(ingest, "stream_extract", slow_stream)

    def slow_enrolment_failing_dibao(folder, path, file_id, *args):
        if folder == "dibao":
            failed.set()
            raise OSError("read error")
        failed.wait(10)  # the enrolment is still being parsed when the run is failing
        return parse(folder, path, file_id, *args)

    monkeypatch.setattr(ingest, "parse", slow_enrolment_failing_dibao)
    with pytest.raises(OSError):
        ingest_inbox(engine, settings, copy, run_id)
    assert _status_by_source(engine) == {"insurance": "accepted", "dibao": "loading"}
    enrolment = db.read_frame(engine, "source_file").filter(pl.col("source") == "insurance")
    staged = db.read_staged(engine, enrolment["id"].item(), "enrolment")
    assert staged is not None and staged.height == enrolment["rows_loaded"].item()


def _stored(engine: Engine) -> dict[str, pl.DataFrame]:
    files = db.read_frame(engine, "source_file").sort("id")
    out = {
        "files": files.select("id", "rel_path", "status", "data_digest", "rows_loaded"),
        "issues": db.read_frame(engine, "file_issue").sort("file_id", "key"),
    }
    for kind in ("enrolment", "settlement"):
        out[kind] = db.current(engine, kind)
    for file_id, source in files.select("id", "source").iter_rows():
        staged = db.read_staged(engine, file_id, _kind(source))
        if staged is not None:
            out[f"staged {file_id}"] = staged
    return out


def test_a_streamed_extract_is_stored_as_if_read_whole(
    inbox: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Enrolment and settlement CSVs are stored a batch at a time (`stream_extract`): the
    warehouse holds what reading them whole gives, a batch the reader refuses sends the file
    to the whole read with nothing left behind, and the same data re-sent in new bytes is a
    duplicate whose streamed rows are removed."""
    from flows import readers

    copy = _inbox_of(inbox, tmp_path, "insurance", "claims")
    enrolment = next(p for p in (copy / "insurance").iterdir() if p.suffix == ".csv")
    lines = enrolment.read_bytes().splitlines(keepends=True)
    mixed = copy / "insurance" / "参保名册_编码混杂.csv"  # GB18030 below a UTF-8 head
    mixed.write_bytes(b"".join([*lines[:-3], lines[-3].decode().encode("gb18030")]))
    sides = {}
    for side in ("whole", "streamed", "refused"):
        settings = load_settings(f"sqlite:///{tmp_path}/{side}.db", str(tmp_path / side))
        engine = db.connect(settings.database_url)
        db.upgrade(engine)
        run_id = db.start_run(engine, "nightly", AS_OF, {})
        with monkeypatch.context() as m:
            m.setattr(ingest, "STREAM_ROWS", 2500)
            m.setattr(ingest, "STREAM_BYTES", 0)
            if side == "whole":
                m.setattr(ingest, "STREAMED", ())
            if side == "refused":  # the reader gives up at the third batch of every file
                batches = readers.delimited.polars_batches

                def refusing(*args, batches=batches, **kwargs):
                    for n, batch in enumerate(batches(*args, **kwargs)):
                        if n == 2:
                            raise readers.StreamFallback("test")
                        yield batch

                m.setattr(readers.delimited, "polars_batches", refusing)
            outcomes = {o.rel_path: o for o in ingest_inbox(engine, settings, copy, run_id)}
        sides[side] = _stored(engine), outcomes, engine
    whole, outcomes, _ = sides["whole"]
    assert outcomes[f"insurance/{mixed.name}"].status == "quarantined"
    assert sum(o.status == "accepted" for o in outcomes.values()) >= 3
    for side in ("streamed", "refused"):
        got, got_outcomes, _ = sides[side]
        assert got.keys() == whole.keys()
        for what, frame in whole.items():
            assert got[what].equals(frame), f"{side}: {what}"
        assert {k: (o.status, o.reason) for k, o in got_outcomes.items()} == {
            k: (o.status, o.reason) for k, o in outcomes.items()
        }
    assert whole["enrolment"].height > 1000

    engine = sides["streamed"][2]
    (copy / "insurance" / "重新导出.csv").write_bytes(
        enrolment.read_bytes().decode("utf-8-sig").encode("gb18030")
    )
    run_id = db.start_run(engine, "nightly", AS_OF, {})
    with monkeypatch.context() as m:
        m.setattr(ingest, "STREAM_ROWS", 2500)
        m.setattr(ingest, "STREAM_BYTES", 0)
        again = {o.rel_path: o for o in ingest_inbox(engine, settings, copy, run_id)}
    resent = again["insurance/重新导出.csv"]
    assert resent.status == "duplicate" and "数据相同" in resent.reason
    rows = db.read_frame(engine, models.CANONICAL_TABLES["enrolment"])
    assert rows.filter(pl.col("file_id") == resent.file_id).height == 0
    assert db.current(engine, "enrolment").equals(whole["enrolment"])
    for _, _, e in sides.values():
        e.dispose()
