"""Same seed, same bytes; another seed, other data."""

from __future__ import annotations

from pathlib import Path

from generator import generate

from .conftest import SMALL


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_same_seed_same_bytes(small: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = small
    generate(tmp_path, **SMALL)
    first, second = _files(out), _files(tmp_path)
    assert first.keys() == second.keys()
    different = [name for name in first if first[name] != second[name]]
    assert different == []


def test_other_seed_other_data(small: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = small
    generate(tmp_path, **{**SMALL, "seed": SMALL["seed"] + 1})
    assert (out / "truth" / "findings.csv").read_bytes() != (
        tmp_path / "truth" / "findings.csv"
    ).read_bytes()


def test_regenerating_replaces_old_output(tmp_path: Path) -> None:
    stale = tmp_path / "inbox" / "townships" / "old.xlsx"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"old")
    generate(tmp_path, **SMALL)
    assert not stale.exists()
