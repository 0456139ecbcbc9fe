"""One small generation shared by the generator tests (scale 0.01 takes a few seconds)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from generator import generate

SMALL = {"scale": 0.01, "seed": 7, "as_of": date(2018, 6, 30)}


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("gen-small")
    summary = generate(out, **SMALL)
    return out, summary


@pytest.fixture(scope="session")
def small_world():
    """The clean twin (no injections) at a scale where the statistics mean something."""
    from generator.params import GenParams
    from generator.world import build_world

    return build_world(GenParams(scale=0.1, seed=11))
