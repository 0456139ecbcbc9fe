"""GX's imports for expectations our suites never use are deferred (`expectations.DEFERRED`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import json, sys
from expectations import DEFERRED, validate
from tests.expectations.builders import person, roster

issues = validate("roster", roster([person(), person(row_no=6, id_raw="12345")]))
loaded_by_suites = [n for n in DEFERRED if type(sys.modules[n]).__name__ != "_LazyModule"]
import scipy.stats
works = float(scipy.stats.norm.cdf(0.0))  # still there for whoever needs it
print(json.dumps({"issues": issues.height, "loaded": loaded_by_suites, "cdf": works,
                  "stats_py": "scipy.stats._stats_py" in sys.modules}))
"""


def test_the_suites_run_without_the_deferred_modules_which_still_load_on_use() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["issues"] >= 1  # the bad ID was judged: the suite really ran
    assert seen["loaded"] == []  # ... without executing scipy.stats
    assert seen["cdf"] == 0.5 and seen["stats_py"]
