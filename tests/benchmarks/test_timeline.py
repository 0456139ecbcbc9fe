"""Nights, not a night: a short generated timeline (resubmissions, corrections, a gutting
roster, new monthly extracts) through the nightly flow into one warehouse, each night scored
against its truth: what is in force, since when, what resolved, what became of each file."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from timeline import run_timeline, shortfalls  # noqa: E402

from generator.timeline import generate_timeline  # noqa: E402

NIGHTS = 4


@pytest.mark.slow
def test_every_night_of_a_short_timeline_is_right(harness, tmp_path: Path, db_url: str) -> None:
    seed = random.SystemRandom().randrange(1, 1_000_000)
    summary = generate_timeline(tmp_path / "timeline", scale=0.02, seed=seed, months=NIGHTS)
    print(f"timeline seed={seed}")  # reproduce: benchmarks/timeline.py --scale 0.02 --seed …
    assert summary["expect"].get("held", 0) >= 1 and summary["expect"]["duplicate"] >= 1

    nights = run_timeline(tmp_path / "timeline", tmp_path / "work", db_url)

    assert [n["night"] for n in nights] == list(range(1, NIGHTS + 1))
    wrong = {n["night"]: shortfalls(n) for n in nights if shortfalls(n)}
    assert not wrong, f"seed {seed}: {wrong}"
    assert sum(n["resolved_findings"]["tp"] + n["resolved_issues"]["tp"] for n in nights) > 0
    held = [n for n in nights if n["held"]]
    assert held and all(n["needs_attention"] for n in held)
