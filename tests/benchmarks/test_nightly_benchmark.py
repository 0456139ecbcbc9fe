"""benchmarks/nightly.py runs end to end at a tiny scale and prints its table: a floor, the
three nights with their stage times, `--help` and an export (the figures themselves are
judged in the benchmark, not here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_nightly_benchmark_prints_every_run(tmp_path: Path) -> None:
    env = {**os.environ, "PREFECT_API_URL": "", "PREFECT_HOME": str(tmp_path / "prefect")}
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "nightly.py"),
            "--scales",
            "0.01",
            "--repeats",
            "1",
            "--modes",
            "cli",
            "--work",
            str(tmp_path / "work"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    rows = {
        cells[3]: cells
        for line in done.stdout.splitlines()
        if line.startswith("| 0.01 |")
        for cells in [[c.strip() for c in line.split("|")]]
    }
    assert set(rows) == {"floor", "first", "nothing", "one", "help", "export"}
    assert rows["first"][7] == "100%"
    stages = ("ingest", "validate", "load", "reconcile", "assess", "render", "alerts")
    for night in ("first", "nothing", "one"):
        assert float(rows[night][4]) > 0 and rows[night][7].endswith("%")
        assert [s.split()[0] for s in rows[night][9].split(", ")] == list(stages)
    assert float(rows["floor"][6]) > 0 and float(rows["help"][4]) > 0
