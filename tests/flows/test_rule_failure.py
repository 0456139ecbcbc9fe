"""A rule that raises costs the night nothing but its own verdict: the other rules' findings
land, its findings stay as they were, the run says which rule and needs a person."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from flows.commands import _print_run
from flows.nightly import run_nightly
from generator import generate
from transforms import rules
from warehouse import db

NIGHT1, NIGHT2 = date(2018, 6, 30), date(2018, 7, 1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, scale=0.01, seed=7, as_of=NIGHT1)
    return out / "inbox"


def test_a_failing_rule_leaves_its_findings_and_the_others_land(
    harness, world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    url = f"sqlite:///{tmp_path / 'fupin.db'}"
    first = run_nightly(str(world), NIGHT1.isoformat(), url, str(tmp_path), send=False)
    assert not first["needs_attention"]
    before = db.read_frame(db.connect(url), "finding")
    r01 = before.filter(pl.col("rule") == "R01")
    assert r01.height and r01["status"].unique().to_list() == ["open"]

    def broken(x: rules.RuleInputs) -> pl.DataFrame:
        raise KeyError("440282197001010011")

    monkeypatch.setitem(rules.RULE_FUNCTIONS, "R01", broken)
    # tonight another rule finds nothing at all: its open findings resolve as usual
    busiest = before.filter(pl.col("rule") != "R01").group_by("rule").len().sort("len")["rule"][-1]
    monkeypatch.setitem(rules.RULE_FUNCTIONS, busiest, lambda x: rules.empty(rules.FINDING))
    second = run_nightly(str(world), NIGHT2.isoformat(), url, str(tmp_path), send=False)

    assert second["needs_attention"]
    assert list(second["findings"]["rules_failed"]) == ["R01"]
    assert second["findings"]["rules_failed"]["R01"].startswith("KeyError at ")
    after = db.read_frame(db.connect(url), "finding")
    kept = after.filter(pl.col("rule") == "R01")
    assert (
        kept.select("key", "status", "last_seen").rows()
        == r01.select("key", "status", "last_seen").rows()
    )  # not judged tonight: not resolved, not seen
    others = after.filter(~pl.col("rule").is_in(["R01", busiest]))
    assert set(others["status"]) == {"open"} and set(others["last_seen"]) == {NIGHT2}
    assert after.filter(pl.col("rule") == busiest)["status"].unique().to_list() == ["resolved"]
    _print_run(second)
    printed = capsys.readouterr().out
    assert "规则R01执行出错（KeyError at " in printed and "4402" not in printed
    runs = db.read_frame(db.connect(url), "run").sort("id")
    assert runs["status"].to_list()[-1] == "needs_attention"
