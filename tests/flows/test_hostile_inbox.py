"""The inbox is a boundary: every hostile entry of tests/corpus/hostile/ gets an outcome and a
Chinese reason a clerk can act on, the night goes on, nothing outside the inbox is read or
archived, and the roster in force stays in force.

Running as root (CI containers do): root reads a file whatever its mode, so "a file the
service user cannot read" is made by failing its opening with EACCES (`_unreadable`); as
another user the test uses chmod 000 as well.
"""

from __future__ import annotations

import builtins
import dataclasses
import errno
import hashlib
import importlib.util
import json
import os
import re
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine

from config.settings import POLICY_TOML, Settings, load_settings
from flows import ingest, registration
from flows.ingest import FileOutcome, ingest_inbox
from warehouse import db

HOSTILE = Path(__file__).resolve().parents[1] / "corpus" / "hostile"
MANIFEST: dict[str, dict] = json.loads((HOSTILE / "manifest.json").read_text(encoding="utf-8"))
GOOD = "townships/南雄市珠玑镇花名册.xlsx"
ZHUJI = "440282113"
AS_OF = date(2017, 7, 1)
CHINESE = re.compile(r"[\u4e00-\u9fff]")
SECRET = "机密花名册.xlsx"  # the file outside the inbox that links point to
PERSONAL = ("张三", "李梅", "王五", "4402821962")

opened: list[str] | None = None  # paths opened while recording (`_recording`)


def _audit(event: str, args: tuple) -> None:
    if opened is not None and event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.append(os.fsdecode(args[0]))


sys.addaudithook(_audit)


@dataclass
class Night:
    engine: Engine
    settings: Settings
    inbox: Path
    outside: Path
    in_force: int  # the good roster's file id

    def run(self, settings: Settings | None = None) -> list[FileOutcome]:
        run_id = db.start_run(self.engine, "nightly", AS_OF, {})
        return ingest_inbox(self.engine, settings or self.settings, self.inbox, run_id)


def first_night(folder: Path) -> Night:
    """A warehouse whose 珠玑镇 roster (the good one, still in the inbox) is in force."""
    home = folder / "home"
    settings = load_settings(f"sqlite:///{home}/fupin.db", home)
    engine = db.connect(settings.database_url)
    db.upgrade(engine)
    inbox = folder / "inbox"
    (inbox / "townships").mkdir(parents=True)
    shutil.copy(HOSTILE / "files" / "good_roster.xlsx", inbox / GOOD)
    night = Night(engine, settings, inbox, folder / "outside", 0)
    [outcome] = night.run()
    assert outcome.status == "accepted", outcome
    night.in_force = outcome.file_id or 0
    return night


@pytest.fixture
def night(tmp_path: Path) -> Iterator[Night]:
    night = first_night(tmp_path)
    yield night
    for path in night.inbox.rglob("*"):  # chmod 000 files must go away with tmp_path
        if not path.is_symlink():
            path.chmod(0o700 if path.is_dir() else 0o600)
    night.engine.dispose()


def _with_limits(settings: Settings, limits: dict[str, int], folder: Path) -> Settings:
    """The settings with a policy file whose [inbox] limits are lowered."""
    text = POLICY_TOML.read_text(encoding="utf-8")
    for key, value in limits.items():
        text, n = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, flags=re.M)
        assert n == 1, key
    policy = folder / "policy.toml"
    policy.write_text(text, encoding="utf-8")
    return dataclasses.replace(settings, policy_file=policy)


def _unreadable(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening `path` fails with EACCES, for root too (the modes do not stop root)."""
    path.chmod(0o000)
    if os.geteuid() != 0:
        return
    real_os_open, real_open = os.open, builtins.open

    def refuse(name: object) -> None:
        if isinstance(name, (str, bytes, os.PathLike)) and os.fsdecode(name).endswith(path.name):
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(name))

    def os_open(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        refuse(name)
        return real_os_open(name, *args, **kwargs)

    def open_(name, *args, **kwargs):  # type: ignore[no-untyped-def]
        refuse(name)
        return real_open(name, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)


def place(night: Night, rel: str, make: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put the manifest's entry `rel` into the inbox as `make` says."""
    path = night.inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    kind, _, arg = make.partition(":")
    files = HOSTILE / "files"
    night.outside.mkdir(exist_ok=True)
    if kind in ("file", "unreadable", "vanishes"):
        shutil.copy(files / arg, path)
        if kind == "unreadable":
            _unreadable(path, monkeypatch)
        if kind == "vanishes":
            survey = ingest.survey

            def survey_then_delete(*args, **kwargs):  # type: ignore[no-untyped-def]
                entries = survey(*args, **kwargs)
                path.unlink(missing_ok=True)
                return entries

            monkeypatch.setattr(ingest, "survey", survey_then_delete)
    elif kind == "link_out":
        secret = night.outside / SECRET
        shutil.copy(files / arg, secret)
        path.symlink_to(secret)
    elif kind == "link_in":
        path.symlink_to(night.inbox / arg)
    elif kind == "link_out_dir":
        folder = night.outside / "folder"
        folder.mkdir(exist_ok=True)
        shutil.copy(files / "other_roster.xlsx", folder / SECRET)
        path.symlink_to(folder, target_is_directory=True)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dir":
        path.mkdir()
        shutil.copy(files / "other_roster.xlsx", path / "里面的花名册.xlsx")
    else:
        raise ValueError(make)
    return path


def _archived_hashes(settings: Settings) -> set[str]:
    return {p.name.split(".")[0] for p in settings.files_dir.rglob("*") if p.is_file()}


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("rel", sorted(MANIFEST))
def test_a_hostile_entry_gets_an_outcome_and_stops_nothing(
    rel: str, night: Night, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    global opened
    case = MANIFEST[rel]
    path = place(night, rel, case["make"], monkeypatch)
    settings = night.settings
    if "limits" in case:
        settings = _with_limits(settings, case["limits"], tmp_path)
    before = db.read_frame(night.engine, "source_file").height

    opened = []
    try:
        outcomes = night.run(settings)
    finally:
        seen, opened = opened, None

    by_path = {o.rel_path: o for o in outcomes}
    assert by_path[GOOD].status == "duplicate"  # the night went on
    outcome = by_path[rel]
    assert outcome.status == case["status"], outcome
    reason = outcome.reason or ""
    assert case["reason"] in reason, reason
    assert CHINESE.search(reason) and not any(p in reason for p in PERSONAL), reason
    assert "Traceback" not in reason and str(night.outside) not in reason

    # Nothing outside the inbox was read, a link was not even opened, and nothing
    # quarantined unread was archived.
    assert not any(p.endswith(SECRET) for p in seen), [p for p in seen if SECRET in p]
    if case["make"].startswith("link"):
        assert not any(p.endswith(path.name) for p in seen)
    secrets = [p for p in night.outside.rglob("*") if p.is_file()]
    assert not _archived_hashes(settings) & {_sha(p) for p in secrets}

    # The roster in force stays in force, with its rows.
    assert db.in_force_file(night.engine, "townships", ZHUJI)["id"] == night.in_force
    roster = db.current(night.engine, "roster")
    assert sorted(roster["name"].to_list()) == ["张三", "李梅", "王五"]

    files = db.read_frame(night.engine, "source_file")
    if case["status"] == "ignored":  # belongs to no source: reported, not recorded
        assert outcome.source == "" and files.height == before
        return
    row = files.filter(pl.col("id") == outcome.file_id).row(0, named=True)
    assert (row["status"], row["reason"], row["rel_path"]) == ("quarantined", reason, rel)
    assert files.height == before + 1

    # The next night the same entry is the same row: nothing new is recorded.
    again = {o.rel_path: o for o in night.run(settings)}
    if case["make"].startswith("vanishes"):
        assert rel not in again  # gone for good
    else:
        assert again[rel].status == "duplicate" and again[rel].file_id == outcome.file_id
    assert db.read_frame(night.engine, "source_file").height == before + 1

    if case.get("loads_by_default"):  # the real limits are generous: a file that size loads
        fresh = first_night(tmp_path / "defaults")
        place(fresh, rel, case["make"], monkeypatch)
        loaded = next(o for o in fresh.run() if o.rel_path == rel)
        fresh.engine.dispose()
        # the workbooks hold the roster in force (same data), the CSV is a new enrolment
        assert loaded.status in ("accepted", "duplicate") and loaded.file_id, loaded
        assert "上限" not in (loaded.reason or "")


def test_an_unreadable_file_is_one_row_and_loads_once_it_can_be_read(
    night: Night, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = "townships/南雄市珠玑镇花名册（新）.xlsx"
    path = night.inbox / rel
    shutil.copy(HOSTILE / "files" / "other_roster.xlsx", path)
    with monkeypatch.context() as patched:
        _unreadable(path, patched)
        first = next(o for o in night.run() if o.rel_path == rel)
        second = next(o for o in night.run() if o.rel_path == rel)
    assert first.status == "quarantined" and "没有读取权限" in (first.reason or "")
    assert second.status == "duplicate" and second.file_id == first.file_id
    assert db.in_force_file(night.engine, "townships", ZHUJI)["id"] == night.in_force

    path.chmod(0o644)  # the office fixes the permissions: the same path, readable
    third = next(o for o in night.run() if o.rel_path == rel)
    assert third.status == "accepted" and third.file_id != first.file_id
    assert db.in_force_file(night.engine, "townships", ZHUJI)["id"] == third.file_id
    assert sorted(db.current(night.engine, "roster")["name"]) == ["张三", "李梅", "王五", "赵六"]


def test_a_file_that_cannot_be_archived_is_quarantined_and_taken_up_next_night(
    night: Night, monkeypatch: pytest.MonkeyPatch
) -> None:
    rel = "townships/南雄市珠玑镇花名册（新）.xlsx"
    shutil.copy(HOSTILE / "files" / "other_roster.xlsx", night.inbox / rel)

    def disk_full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise OSError(errno.ENOSPC, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(registration.tempfile, "mkstemp", disk_full)
        first = next(o for o in night.run() if o.rel_path == rel)
    assert first.status == "quarantined" and "存档失败" in (first.reason or "")
    assert db.in_force_file(night.engine, "townships", ZHUJI)["id"] == night.in_force
    again = next(o for o in night.run() if o.rel_path == rel)
    assert again.status == "accepted"


@pytest.mark.parametrize(
    ("rel", "swapped", "reason"),
    [
        ("townships/2017/南雄市珠玑镇花名册（新）.xlsx", "townships/2017", "换成了链接"),
        (
            "townships/南雄市珠玑镇花名册（新）.xlsx",
            "townships/南雄市珠玑镇花名册（新）.xlsx",
            "符号链接",
        ),
    ],
)
def test_a_link_swapped_in_after_the_survey_is_not_followed(
    rel: str, swapped: str, reason: str, night: Night, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the survey and the read, the file or its folder becomes a link out of the
    inbox: the file is opened beneath the inbox one folder at a time, none followed."""
    path = night.inbox / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(HOSTILE / "files" / "other_roster.xlsx", path)
    outside = night.outside / "swap"
    outside.mkdir(parents=True)
    shutil.copy(HOSTILE / "files" / "other_roster.xlsx", outside / path.name)
    survey = ingest.survey

    def survey_then_swap(*args, **kwargs):  # type: ignore[no-untyped-def]
        entries = survey(*args, **kwargs)
        if swapped == rel:  # the file itself becomes a link to its twin outside
            path.unlink()
            path.symlink_to(outside / path.name)
        else:  # its folder becomes a link to the folder outside
            shutil.rmtree(night.inbox / swapped)
            (night.inbox / swapped).symlink_to(outside, target_is_directory=True)
        return entries

    monkeypatch.setattr(ingest, "survey", survey_then_swap)
    outcome = next(o for o in night.run() if o.rel_path == rel)
    assert outcome.status == "quarantined" and reason in (outcome.reason or ""), outcome
    assert db.in_force_file(night.engine, "townships", ZHUJI)["id"] == night.in_force
    assert not _archived_hashes(night.settings) & {_sha(HOSTILE / "files" / "other_roster.xlsx")}


def test_hostile_files_are_current(tmp_path: Path) -> None:
    """make_hostile.py is deterministic and the committed files are what it writes."""
    spec = importlib.util.spec_from_file_location("make_hostile", HOSTILE / "make_hostile.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.write(tmp_path) == MANIFEST
    for committed in (HOSTILE / "files").iterdir():
        assert _sha(tmp_path / "files" / committed.name) == _sha(committed), committed.name
    assert {p.name for p in (tmp_path / "files").iterdir()} == {
        p.name for p in (HOSTILE / "files").iterdir()
    }
