"""The resolution benchmark end to end on a small Nanxiong: every approach runs in its own
process, is timed and scored, and the figures say what repair buys."""

from __future__ import annotations

import importlib.util
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from benchmarks import reconcile as bench

SCALE, SEED, AS_OF = 0.02, 7, date(2018, 6, 30)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("bench-reconcile")


def _rule(scores: pl.DataFrame, rule: str) -> dict:
    return scores.filter(pl.col("rule") == rule).row(0, named=True)


@pytest.mark.slow
def test_ours_against_floor_and_exact_join(workdir: Path, capsys: pytest.CaptureFixture[str]):
    results = bench.run_scale(
        workdir, SCALE, SEED, AS_OF, ["ours", "floor", "baseline", "naive"], threshold=0.9
    )
    m = results["measured"]
    for approach in ("ours", "floor", "baseline", "naive"):
        assert "error" not in m[approach], m[approach].get("error")
        assert m[approach]["seconds"] > 0
        assert m[approach]["peak_gb"] >= m[approach]["inputs_gb"] > 0
    assert sum(m["floor"]["joined_rows"].values()) > 0

    ours, exact, naive = (m[k]["by_rule"] for k in ("ours", "baseline", "naive"))
    assert ours.height == 15
    low = ours.filter((pl.col("precision") < 0.99) | (pl.col("recall") < 0.99))
    assert low.is_empty(), low.to_dicts()
    r07 = m["ours"]["r07"]
    assert r07["expected"] > 0 and r07["right"] == r07["given"] == r07["expected"]

    # without repair nothing is suggested, every mistyped ID becomes an R08 ...
    assert _rule(exact, "R07")["tp"] == 0 and _rule(exact, "R08")["fp"] == r07["expected"]
    assert m["baseline"]["r07"]["given"] == 0
    # ... and reading invalid IDs as identities reports the mistyped as uninsured
    assert _rule(naive, "R01")["fp"] > 0
    for rule in ours["rule"]:
        assert _rule(ours, rule)["fp"] <= _rule(exact, rule)["fp"]
        assert _rule(ours, rule)["fn"] <= _rule(exact, rule)["fn"]

    checks = bench.report(results, AS_OF)
    printed = capsys.readouterr().out
    assert f"scale {SCALE:g}" in printed and "PASS" in printed
    assert [ok for _, ok in checks] == [True, True], checks


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("splink") is None, reason="needs the bench group (splink)"
)
def test_splink_is_measured_on_the_same_frames(workdir: Path):
    results = bench.run_scale(workdir, SCALE, SEED, AS_OF, ["ours", "splink"], threshold=0.9)
    splink = results["measured"]["splink"]
    assert "error" not in splink, splink.get("error")
    assert set(splink["timings"]) >= {"prepare_s", "train_s", "predict_s"}
    assert splink["reference_rows"] > splink["roster_rows"] > 0
    r07 = splink["r07"]
    assert r07["expected"] == results["measured"]["ours"]["r07"]["expected"]
    assert 0 < r07["right"] <= r07["given"]
    assert splink["by_rule"].height == 15
