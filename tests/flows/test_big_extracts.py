"""A big extract is normalised, digested and validated a slice of rows at a time (memory at
city scale); the result is that of the whole file at once.  Checked on the extracts of a
generated world, with their clerk and system slips, cut into slices of a few dozen rows."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from expectations import run
from flows.ingest import parse
from generator import generate
from transforms import intake, submissions

FOLDERS = ("dibao", "insurance", "claims")


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("world")
    generate(out, scale=0.01, seed=11, as_of=date(2018, 6, 30))
    return out / "inbox"


@pytest.mark.parametrize("folder", FOLDERS)
def test_slices_give_what_the_whole_file_gives(
    inbox: Path, folder: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = max((inbox / folder).iterdir(), key=lambda p: p.stat().st_size)
    whole = parse(folder, path, 1)
    kind = intake.EXTRACTS[folder][0]
    height = whole.canonical[kind].height
    assert height > 50

    monkeypatch.setattr(intake, "SLICE_ROWS", 37)
    monkeypatch.setattr(submissions, "DIGEST_SLICE_ROWS", 41)
    sliced = parse(folder, path, 1)
    assert sliced.canonical[kind].equals(whole.canonical[kind])
    assert sliced.digest() == whole.digest()

    issues = run.validate(kind, whole.canonical[kind])
    in_slices = run.validate(kind, whole.canonical[kind], slice_rows=43)
    assert in_slices.sort(issues.columns).equals(issues.sort(issues.columns))
    assert issues.height > 0 or folder == "claims"  # the generated extracts carry slips
