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
from tests.transforms.bound import extract_batches
from transforms import intake, submissions
from transforms.frames import ISSUE, empty

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

    # GX costs per run far more than per row: up to a few thousand rows in five slices prove
    # the slicing without hundreds of runs.
    rows = whole.canonical[kind].head(3_000)
    slice_rows = rows.height // 5 + 1  # five slices, the last one short
    issues = run.validate(kind, rows)
    in_slices = run.validate(kind, rows, slice_rows=slice_rows)
    assert in_slices.sort(issues.columns).equals(issues.sort(issues.columns))
    assert issues.height > 0 or folder == "claims"  # the generated extracts carry slips


# ---------------------------------------------------------------- streamed extracts


def _variants(data: bytes) -> dict[str, bytes]:
    """The same table as clerks and systems write it: title rows, a BOM, GB18030, blank
    rows, a header repeated below and a footer, a cell holding a line break."""
    text = data.decode("utf-8-sig")
    lines = text.splitlines(keepends=True)[:200]  # enough rows for many batches
    header, rows = lines[0], lines[1:]
    text = "".join(lines)
    title = "南雄市城乡居民医保数据\n截至2018年6月30日\n"
    middle = len(rows) // 2
    broken = rows[3].split(",")
    broken[1] = '"换\n行"'
    return {
        "plain": data,
        "titled-bom": ("\ufeff" + title + text).encode("utf-8"),
        "gb18030": (title + text).encode("gb18030"),
        "pasted": "".join(
            [header, *rows[:middle], ",,,\n", "\n", header, *rows[middle:], "合计,,\n"]
        ).encode("utf-8"),
        "line-break": "".join([header, *rows[:3], ",".join(broken), *rows[4:]]).encode(),
    }


def _streamed(folder: str, path: Path, batch_rows: int):  # -> (staged, canonical, digest)
    import polars as pl

    from flows import readers

    kind, source = intake.EXTRACTS[folder]
    stream = readers.stream_csv_table(path, source, batch_rows=batch_rows)
    if stream is None:
        return None
    digest = submissions.DataDigest()
    digest.add("_read_issues", [empty(ISSUE)])
    staged, canonical = [], []
    for s, c in extract_batches(folder, stream.batches, stream.layout, 1):
        staged.append(s)
        canonical.append(c)
        digest.update(kind, c)
    return pl.concat(staged), pl.concat(canonical), digest.hexdigest()


@pytest.mark.parametrize("folder", ("insurance", "claims"))
def test_a_streamed_extract_gives_what_the_whole_file_gives(
    inbox: Path, folder: str, tmp_path: Path
) -> None:
    source = next(p for p in (inbox / folder).iterdir() if p.suffix == ".csv")
    kind = intake.EXTRACTS[folder][0]
    for name, data in _variants(source.read_bytes()).items():
        path = tmp_path / f"{name}.csv"
        path.write_bytes(data)
        whole = parse(folder, path, 1)
        assert whole.canonical[kind].height > 150, name
        for batch_rows in (1, 64, 10_000) if name == "pasted" else (29, 10_000):
            got = _streamed(folder, path, batch_rows)
            assert got is not None, (name, batch_rows)
            staged, canonical, digest = got
            assert staged.equals(whole.staged[kind]), (name, batch_rows)
            assert canonical.equals(whole.canonical[kind]), (name, batch_rows)
            assert digest == whole.digest(), (name, batch_rows)
