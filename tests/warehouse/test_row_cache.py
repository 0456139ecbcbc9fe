"""`warehouse.row_cache`: Parquet copies of the rows in force, keyed by what decides them,
verified before use, never standing for other rows."""

from __future__ import annotations

import stat
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from tests.warehouse.conftest import add_file
from transforms import frames
from transforms.intake import FOLDER_KINDS
from warehouse import db, queries, row_cache


def _dibao(engine: Engine, families: list[str], **file_cols) -> int:
    f = add_file(engine, "dibao", **file_cols)
    n = len(families)
    rows = {"file_id": [f] * n, "sheet": [""] * n, "row_no": list(range(2, n + 2))}
    db.write_frame(
        engine,
        "dibao",
        frames.conform(pl.DataFrame({**rows, "family_id": families}), frames.CANONICAL["dibao"]),
    )
    return f


def _cached(url: str, folder: Path) -> Engine:
    engine = db.connect(url, cache_dir=folder)
    db.upgrade(engine)
    return engine


def _copies(folder: Path, kind: str) -> list[Path]:
    return sorted(folder.glob(f"{kind}.*.parquet"))


def test_a_copy_is_kept_private_and_read_back_instead_of_sql(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "rows"
    engine = _cached(db_url, folder)
    _dibao(engine, ["F1", "F2"])
    first = db.current(engine, "dibao")
    assert sorted(first["family_id"]) == ["F1", "F2"]
    [copy] = _copies(folder, "dibao")
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600

    def no_sql(*_a, **_k):  # type: ignore[no-untyped-def]
        raise AssertionError("read SQL although nothing changed")

    monkeypatch.setattr(queries, "_current_from_sql", no_sql)
    assert db.current(engine, "dibao").equals(first)


def test_a_new_file_in_force_is_read_and_replaces_the_old_copy(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "rows"
    engine = _cached(db_url, folder)
    _dibao(engine, ["F1"])
    db.current(engine, "dibao")
    old = _copies(folder, "dibao")
    _dibao(engine, ["F7", "F8"])
    assert sorted(db.current(engine, "dibao")["family_id"]) == ["F7", "F8"]
    new = _copies(folder, "dibao")
    assert len(new) == 1 and new != old
    # A file of another source leaves this kind's copy standing.
    add_file(engine, "claims")
    assert db.current(engine, "dibao")["family_id"].sort().to_list() == ["F7", "F8"]
    assert _copies(folder, "dibao") == new


def test_a_damaged_copy_is_not_used(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "rows"
    engine = _cached(db_url, folder)
    _dibao(engine, ["F1", "F2", "F3"])
    truth = db.current(engine, "dibao")
    [copy] = _copies(folder, "dibao")
    data = bytearray(copy.read_bytes())
    data[len(data) // 2] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert db.current(engine, "dibao").equals(truth)
    copy.write_bytes(b"not parquet")
    copy.with_suffix(".sha256").unlink()
    assert db.current(engine, "dibao").equals(truth)
    # ... and it was written again, whole.
    assert row_cache.read(folder, "dibao", None, None, _token(engine, "dibao")).equals(truth)


def _token(engine: Engine, kind: str) -> str:
    with engine.connect() as conn:
        return row_cache.token(conn, kind, None, None)


def test_a_rebuilt_warehouse_with_the_same_ids_never_reads_the_old_copy(tmp_path: Path) -> None:
    """Delete the warehouse, build it again from other files: the same file ids and seqs, one
    cache folder (a demo run again, a test database recreated)."""
    folder = tmp_path / "rows"
    url = f"sqlite:///{tmp_path / 'fupin.db'}"
    engine = _cached(url, folder)
    _dibao(engine, ["OLD1", "OLD2"])
    assert sorted(db.current(engine, "dibao")["family_id"]) == ["OLD1", "OLD2"]
    engine.dispose()
    for path in tmp_path.glob("fupin.db*"):
        path.unlink()
    engine = _cached(url, folder)
    f = _dibao(engine, ["NEW1"])
    assert f == 1
    assert db.current(engine, "dibao")["family_id"].to_list() == ["NEW1"]


def test_an_unwritable_folder_costs_speed_not_the_answer(db_url: str, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    engine = _cached(db_url, blocked / "rows")
    _dibao(engine, ["F1"])
    assert db.current(engine, "dibao")["family_id"].to_list() == ["F1"]


def test_each_kind_is_keyed_by_the_folder_that_feeds_it() -> None:
    fed = {kind for kinds in FOLDER_KINDS.values() for kind in kinds} | {"household"}
    assert set(row_cache.SOURCE_OF) == fed == set(db.CURRENT_KINDS)
    for folder, kinds in FOLDER_KINDS.items():
        assert all(row_cache.SOURCE_OF[k] == folder for k in kinds)


def test_connections_read_through_their_engines_cache(db_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "rows"
    engine = _cached(db_url, folder)
    _dibao(engine, ["F1"])
    with db.consistent_read(engine) as conn:
        assert db.current(conn, "dibao")["family_id"].to_list() == ["F1"]
    assert _copies(folder, "dibao")
    plain = db.connect(db_url)
    assert row_cache.folder_of(plain) is None
    plain.dispose()


def test_a_copy_that_fails_half_way_leaves_nothing_behind(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "rows"
    engine = _cached(db_url, folder)
    _dibao(engine, ["F1", "F2"])

    def disk_full(_path: Path) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(row_cache, "_sha256", disk_full)
    assert sorted(db.current(engine, "dibao")["family_id"]) == ["F1", "F2"]
    assert list(folder.iterdir()) == []


def test_the_issues_in_force_are_kept_and_follow_every_change(db_url: str, tmp_path: Path) -> None:
    """The cached issues equal the SQL answer after each kind of change, and a night with
    no change reads the copy."""
    from tests.warehouse.test_current import _issues

    engine = _cached(db_url, tmp_path / "rows")
    plain = db.connect(db_url)  # the same warehouse, no cache

    def same() -> pl.DataFrame:
        got = db.issues_in_force(engine)
        assert got.equals(db.issues_in_force(plain))
        return got

    f1 = _dibao(engine, ["F1", "F2", "F3"])
    assert same().height == 0
    db.record_file_issues(engine, [f1], _issues(f1, [(None, 2)], "dibao"), "v1")
    assert same()["row_no"].to_list() == [2]
    # validated again with the same suites, other issues of the same shape
    db.record_file_issues(engine, [f1], _issues(f1, [(None, 3)], "dibao"), "v1")
    assert same()["row_no"].to_list() == [3]
    db.record_file_issues(engine, [f1], _issues(f1, [(None, 4)], "dibao"), "v2")  # new suites
    assert same()["row_no"].to_list() == [4]
    f2 = _dibao(engine, ["F1"])  # a new roll supersedes the first
    db.put_in_force(engine, f2)
    db.record_file_issues(engine, [f2], _issues(f2, [(None, 2)], "dibao"), "v2")
    assert same()["file_id"].to_list() == [f2]
    db.set_file_status(engine, f2, "rejected", "测试")  # taken out: no roll is in force
    assert same().height == 0
    assert len(_copies(tmp_path / "rows", "issues_in_force")) == 1  # older copies replaced
    plain.dispose()


def test_a_derived_frame_is_computed_again_only_when_its_inputs_change(
    db_url: str, tmp_path: Path
) -> None:
    engine = _cached(db_url, tmp_path / "rows")
    calls: list[int] = []

    def families() -> pl.DataFrame:  # a list column, as the resolver's `candidates`
        calls.append(1)
        rows = db.current(engine, "dibao")
        return rows.group_by("file_id").agg(pl.col("family_id").sort()).sort("file_id")

    inputs = [("dibao", None, None)]
    _dibao(engine, ["F2", "F1"])
    first = db.derived(engine, "families", inputs, ["v1"], families)
    again = db.derived(engine, "families", inputs, ["v1"], families)
    assert again.equals(first) and again.schema == first.schema and len(calls) == 1
    assert db.derived(engine, "families", inputs, ["v2"], families).equals(first)  # new code
    assert len(calls) == 2
    f2 = _dibao(engine, ["F3"])  # a new roll in force
    db.put_in_force(engine, f2)
    assert db.derived(engine, "families", inputs, ["v2"], families)["family_id"].to_list() == [
        ["F3"]
    ]
    assert len(calls) == 3
    uncached = db.connect(db_url)
    assert db.derived(uncached, "families", inputs, ["v2"], families).height == 1
    assert len(calls) == 4  # without a cache folder: always computed
    uncached.dispose()
