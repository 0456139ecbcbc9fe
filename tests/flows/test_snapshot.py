"""Annual snapshots: freeze, archive, refuse to overwrite, verify against tampering, and
rebuild a frozen year's reports byte for byte after the warehouse has moved on."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import delete, text, update

from flows.cli import main
from flows.report import build_report
from flows.snapshot import (
    SnapshotError,
    SnapshotExists,
    create_snapshot,
    list_snapshots,
    verify_snapshot,
)
from tests.reports import synthetic
from transforms import snapshot as S
from warehouse import db, models

FAST = ("html", "xlsx")  # PDF only in the end-to-end test: WeasyPrint takes seconds a page


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The command line's FUPIN_HOME: the test's own directory, never ./var."""
    monkeypatch.setenv("FUPIN_HOME", str(tmp_path))
    return tmp_path


@pytest.fixture(scope="module")
def city() -> dict:
    return synthetic.city(scale=0.02, insured_rows=2_000)  # as of 2018-06-30


@pytest.fixture
def warehouse(db_url: str, city: dict):
    engine = db.connect(db_url)
    db.upgrade(engine)
    synthetic.load_warehouse(engine, city)
    yield db_url, engine
    engine.dispose()


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _report_argv(url: str, kind: str, out: Path) -> list[str]:
    """`fupin report KIND --period 2017 --format html,xlsx --out OUT`, as the office types it."""
    return ["--db", url, "report", kind, "--period", "2017", "--format", "html,xlsx", "--out", str(out)]  # fmt: skip


def _reports(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.glob("*")) if p.suffix != ".pdf"}


def test_create_freezes_the_year_and_writes_a_complete_archive(warehouse, tmp_path: Path) -> None:
    url, engine = warehouse
    made = create_snapshot(2017, url, tmp_path, formats=FAST)

    folder = tmp_path / "archive" / "2017"
    assert made.path == folder
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["year"] == 2017 and manifest["state_as_of"] == "2017-12-31"
    assert manifest["nightly_run"]["as_of"] == "2018-06-30"
    assert "晚于2017年12月31日" in manifest["note"]  # frozen after the year end: said so
    assert manifest["code_version"]["package"] == "0.1.0"
    assert manifest["policy"]["years"]["2017"]["exit_line"] > 0
    assert manifest["policy"]["persons"] == 15888

    # one Parquet file per table, holding exactly the rows frozen in the warehouse
    assert set(manifest["tables"]) == set(models.SNAPSHOT_SOURCES)
    for source, entry in manifest["tables"].items():
        frame = pl.read_parquet(folder / entry["file"])
        assert frame.height == entry["rows"] == made.rows[source], source
        assert frame.equals(db.read_snapshot(engine, source, 2017)), source
    assert manifest["tables"]["roster_person"]["rows"] == db.current(engine, "roster").height
    assert manifest["tables"]["finding"]["rows"] == db.read_frame(engine, "finding").height
    assert manifest["tables"]["run"]["rows"] == 1

    # every file listed with its hash; the manifest's own hash is in the warehouse
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert sorted(manifest["files"]) == [f for f in files if f != "manifest.json"]
    for rel, entry in manifest["files"].items():
        assert entry["sha256"] == _hash(folder / rel)
    assert "reports/assessment_2017_all.html" in manifest["files"]
    assert "reports/accountability_2017_all.xlsx" in manifest["files"]
    assert "policy.toml" in manifest["files"]
    row = db.snapshot_of(engine, 2017)
    assert row is not None
    assert row["manifest_sha256"] == _hash(folder / "manifest.json") == made.manifest_sha256
    assert row["path"] == str(folder) and row["code_version"].startswith("0.1.0")
    runs = db.read_frame(engine, "run").filter(pl.col("flow") == "snapshot")
    assert runs["status"].to_list() == ["succeeded"]

    # the archived reports are those the live warehouse gives at the time of the snapshot
    live = build_report(engine, "assessment", "2017", None, FAST, tmp_path / "live", snapshot=False)
    assert {p.name: p.read_bytes() for p in live} == {
        k: v for k, v in _reports(folder / "reports").items() if k.startswith("assessment")
    }
    assert verify_snapshot(2017, url, tmp_path).ok
    [listed] = list_snapshots(url, tmp_path)
    assert listed["year"] == 2017 and listed["as_of"] == "2018-06-30" and listed["present"]


def test_the_archive_is_private_and_still_verifies(warehouse, tmp_path: Path) -> None:
    """Full IDs at rest: every file 0600, every folder 0700, whatever the umask; the hashes
    (modes are not content) still verify."""
    url, _ = warehouse
    old = os.umask(0o022)
    try:
        create_snapshot(2017, url, tmp_path, formats=FAST)
    finally:
        os.umask(old)
    archive = tmp_path / "archive"
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in [archive, *archive.rglob("*")]}
    assert {p: m for p, m in modes.items() if p.is_dir() and m != 0o700} == {}
    assert {p: m for p, m in modes.items() if p.is_file() and m != 0o600} == {}
    assert any(p.suffix == ".parquet" for p in modes) and any(p.suffix == ".xlsx" for p in modes)
    assert verify_snapshot(2017, url, tmp_path).ok


def test_a_frozen_year_is_rebuilt_the_same_after_the_warehouse_changed(
    warehouse, tmp_path: Path
) -> None:
    url, engine = warehouse
    create_snapshot(2017, url, tmp_path, formats=FAST)
    archived = _reports(tmp_path / "archive" / "2017" / "reports")

    # the warehouse moves on: a later run, problems fixed, a township's roster replaced
    run_id = db.start_run(engine, "nightly", date(2018, 9, 30))
    with engine.begin() as conn:
        finding = models.table("finding")
        conn.execute(update(finding).values(status="resolved", resolved_on=date(2018, 9, 30)))
        person = models.table("roster_person")
        conn.execute(delete(person).where(person.c.file_id == 1))
        conn.execute(delete(models.table("indicator")))
    db.finish_run(engine, run_id, "succeeded")

    for kind in ("assessment", "accountability"):
        again = build_report(engine, kind, "2017", None, FAST, tmp_path / "again")
        live = build_report(engine, kind, "2017", None, FAST, tmp_path / "live", snapshot=False)
        for path, now in zip(again, live, strict=True):
            assert path.read_bytes() == archived[path.name], path.name
            assert now.read_bytes() != archived[path.name], path.name  # it did change
    # and through the command line, as the office would
    out = tmp_path / "cli"
    assert main(_report_argv(url, "assessment", out)) == 0
    assert _reports(out) == {k: v for k, v in archived.items() if k.startswith("assessment")}


def test_an_existing_year_is_never_overwritten(warehouse, tmp_path: Path, capsys) -> None:
    url, engine = warehouse
    create_snapshot(2017, url, tmp_path, formats=FAST)
    folder = tmp_path / "archive" / "2017"
    before = {p: _hash(p) for p in folder.rglob("*") if p.is_file()}
    frozen = db.read_snapshot(engine, "finding", 2017)

    with pytest.raises(SnapshotExists, match="归档不可覆盖"):
        create_snapshot(2017, url, tmp_path, formats=FAST)
    capsys.readouterr()
    assert main(["--db", url, "snapshot", "create", "2017"]) == 2
    assert "2017年的年度归档已于" in capsys.readouterr().err
    assert {p: _hash(p) for p in folder.rglob("*") if p.is_file()} == before
    assert db.read_snapshot(engine, "finding", 2017).equals(frozen)


def test_a_folder_in_the_way_or_a_year_not_over_is_refused(warehouse, tmp_path: Path) -> None:
    url, engine = warehouse
    (tmp_path / "archive" / "2016").mkdir(parents=True)
    with pytest.raises(SnapshotExists, match="归档目录已存在"):
        create_snapshot(2016, url, tmp_path, formats=FAST)
    with pytest.raises(SnapshotError, match="2018年尚未结束"):
        create_snapshot(2018, url, tmp_path, formats=FAST)
    with pytest.raises(SnapshotError, match="年度应在"):
        create_snapshot(2015, url, tmp_path, formats=FAST)
    assert db.snapshots(engine).height == 0
    assert not (tmp_path / "archive" / "2018").exists()
    assert [p.name for p in (tmp_path / "archive").iterdir()] == ["2016"]  # no partial left


def test_an_interrupted_attempt_is_taken_up_again(warehouse, tmp_path: Path) -> None:
    url, engine = warehouse
    db.freeze_snapshot(engine, 2017, {"finding": db.read_frame(engine, "finding").head(3)})
    made = create_snapshot(2017, url, tmp_path, formats=FAST)
    assert made.rows["finding"] == db.read_frame(engine, "finding").height
    assert db.read_snapshot(engine, "finding", 2017).height == made.rows["finding"]
    with pytest.raises(ValueError, match="never rewritten"):
        db.freeze_snapshot(engine, 2017, {"finding": db.read_frame(engine, "finding")})


def test_verify_names_every_changed_missing_and_extra_file(
    warehouse, tmp_path: Path, capsys
) -> None:
    url, engine = warehouse
    create_snapshot(2017, url, tmp_path, formats=FAST)
    folder = tmp_path / "archive" / "2017"
    capsys.readouterr()
    assert main(["--db", url, "snapshot", "verify", "2017"]) == 0
    assert "2017年归档校验通过" in capsys.readouterr().out

    changed = folder / "tables" / "finding.parquet"
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte
    changed.write_bytes(bytes(data))
    (folder / "tables" / "village.parquet").unlink()
    (folder / "reports" / "说明.txt").write_text("后来加的", encoding="utf-8")

    result = verify_snapshot(2017, url, tmp_path)
    assert [(p.kind, p.path) for p in result.problems] == [
        ("extra", "reports/说明.txt"),
        ("changed", "tables/finding.parquet"),
        ("missing", "tables/village.parquet"),
    ]
    assert main(["--db", url, "snapshot", "verify", "2017"]) == 1
    out = capsys.readouterr().out
    assert "2017年归档校验未通过" in out and "发现3个问题" in out
    assert "文件已被改动：tables/finding.parquet" in out
    assert "文件缺失：tables/village.parquet" in out
    assert "多出清单以外的文件：reports/说明.txt" in out


def test_verify_catches_a_rewritten_manifest_and_changed_snapshot_rows(
    warehouse, tmp_path: Path
) -> None:
    url, engine = warehouse
    create_snapshot(2017, url, tmp_path, formats=FAST)
    folder = tmp_path / "archive" / "2017"
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    # someone edits a report and "fixes" the manifest to match
    report = folder / "reports" / "assessment_2017_all.html"
    report.write_text(report.read_text(encoding="utf-8").replace("南雄市", "南雄县", 1), "utf-8")
    manifest["files"]["reports/assessment_2017_all.html"]["sha256"] = _hash(report)
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    with engine.begin() as conn:
        snap = models.table("snap_finding")
        first = conn.execute(text("SELECT MIN(id) FROM snap_finding")).scalar()
        conn.execute(delete(snap).where(snap.c.id == first))

    problems = {(p.kind, p.path) for p in verify_snapshot(2017, url, tmp_path).problems}
    assert problems == {("changed", S.MANIFEST), ("rows", "snap_finding")}


def test_verify_and_list_without_a_snapshot(warehouse, tmp_path: Path, capsys) -> None:
    url, _ = warehouse
    assert main(["--db", url, "snapshot", "verify", "2017"]) == 2
    assert "没有2017年的年度归档" in capsys.readouterr().err
    assert main(["--db", url, "snapshot", "list"]) == 0
    assert "尚无年度归档" in capsys.readouterr().out
    assert main(["--db", url, "snapshot", "create"]) == 2
    assert "请指定年度" in capsys.readouterr().err


# ---------------------------------------------------------------- end to end, real nightly runs
@pytest.mark.slow
def test_snapshot_after_nightly_runs_then_a_changed_inbox(harness, tmp_path: Path) -> None:
    """Nightly on a generated year-end, snapshot 2017 (HTML, PDF, XLSX), a second nightly on
    another generated Nanxiong, then `fupin report` for 2017 gives the archived bytes."""
    from flows.nightly import run_nightly
    from flows.submissions import release
    from generator import generate

    url = f"sqlite:///{tmp_path / 'fupin.db'}"
    home = tmp_path / "home"
    generate(tmp_path / "first", scale=0.01, seed=11, as_of=date(2017, 12, 31))
    generate(tmp_path / "second", scale=0.01, seed=12, as_of=date(2017, 12, 31))

    first = run_nightly(str(tmp_path / "first" / "inbox"), "2017-12-31", url, str(home), send=False)
    assert first["files"]["accepted"] >= 21
    made = create_snapshot(2017, url, home)
    folder = home / "archive" / "2017"
    assert sorted(p.name for p in (folder / "reports").iterdir()) == [
        f"{kind}_2017_all.{ext}"
        for kind in ("accountability", "assessment")
        for ext in ("html", "pdf", "xlsx")
    ]
    assert made.rows["roster_person"] == first["rows_in_force"]["roster"]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["note"] == ""  # frozen from the 12-31 run itself

    second = run_nightly(
        str(tmp_path / "second" / "inbox"), "2018-01-15", url, str(home), send=False
    )
    # another Nanxiong: every roster and the 低保 roll would replace every person in force, so
    # they wait for the office; released, the next night puts them in force
    held = [o for o in second["outcomes"] if o["status"] == "held"]
    assert len(held) >= 19 and second["needs_attention"]
    for o in held:
        release(str(o["file_id"]), "测试：换用另一个南雄市", url)
    third = run_nightly(
        str(tmp_path / "second" / "inbox"), "2018-01-15", url, str(home), send=False
    )
    assert not third["needs_attention"]
    assert (
        db.current(db.connect(url), "roster")["file_id"].is_in([o["file_id"] for o in held]).all()
    )

    out = tmp_path / "rebuilt"
    assert main(_report_argv(url, "assessment", out)) == 0
    assert main(_report_argv(url, "accountability", out)) == 0
    archived = _reports(folder / "reports")
    assert _reports(out) == archived
    engine = db.connect(url)
    try:
        live = build_report(
            engine, "assessment", "2017", None, ("html",), tmp_path / "live", snapshot=False
        )
        assert live[0].read_bytes() != archived["assessment_2017_all.html"]
    finally:
        engine.dispose()
    assert verify_snapshot(2017, url, home).ok
