"""Full scale: Nanxiong's counts, within the two-minute budget."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.schema import ISSUE_KINDS
from generator import generate


@pytest.mark.slow
def test_scale_one(tmp_path: Path) -> None:
    summary = generate(tmp_path, scale=1.0)
    assert summary["households"] == 6289 and summary["persons"] == 15888
    assert abs(summary["rows"]["insurance"] / 3 - 420_000) < 0.02 * 420_000
    assert all(n >= 20 for n in summary["findings"].values()) and len(summary["findings"]) == 15
    injected = {k for k, (_, level) in ISSUE_KINDS.items() if level != "file"}
    assert all(n >= 20 for n in summary["issues"].values()) and set(summary["issues"]) == injected
    assert summary["truth_agreement"] == {"missing": 0, "unexplained": 0, "forbidden_found": 0}
    assert summary["seconds"] < 120
