"""FUPIN_POLICY_FILE is the policy of every step: a copy of policy.toml with a few values
changed shows them in the findings (a rule threshold), the indicators, the report text and
the snapshot's archived policy — one run, one policy."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from config.settings import POLICY_TOML, load_policy
from flows.nightly import run_nightly
from flows.snapshot import create_snapshot
from generator import generate
from warehouse import db

AS_OF = date(2018, 6, 30)
EXIT_LINE = 8888  # shipped: 7365
TOILET_LINE = 50.0  # shipped: 97.0
OVERDUE_DAYS = 11  # shipped: 30


@pytest.fixture(scope="module")
def small_inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, scale=0.01, seed=7, as_of=AS_OF)
    return out


@pytest.fixture
def changed_policy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    text = POLICY_TOML.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^exit_line = 7365$", f"exit_line = {EXIT_LINE}", text)
    text = re.sub(r"(?m)^toilet_rate_line = 97\.0", f"toilet_rate_line = {TOILET_LINE}", text)
    text = re.sub(r"(?m)^overdue_days = 30", f"overdue_days = {OVERDUE_DAYS}", text)
    text = re.sub(r"(?m)^registration_income_line = 4000", "registration_income_line = 4321", text)
    text = re.sub(r"(?m)^village_poor_share = 0.05", "village_poor_share = 0.06", text)
    path = tmp_path / "changed-policy.toml"
    path.write_text(text, encoding="utf-8")
    policy = load_policy(path)
    assert policy.year(2017).exit_line == EXIT_LINE
    assert policy.assessment.toilet_rate_line == TOILET_LINE
    assert policy.overdue_days == OVERDUE_DAYS
    monkeypatch.setenv("FUPIN_POLICY_FILE", str(path))
    return path


def test_a_changed_policy_file_is_the_policy_of_every_step(
    harness, small_inbox: Path, changed_policy: Path, tmp_path: Path, db_url: str
) -> None:
    home = tmp_path / "home"
    run_nightly(str(small_inbox / "inbox"), AS_OF.isoformat(), db_url, str(home), send=False)
    engine = db.connect(db_url)

    # Findings: R10 judges exits against the changed line, and says so.
    r10 = db.read_frame(engine, "finding").filter(pl.col("rule") == "R10")
    details = r10["detail"].to_list()
    assert details and [d for d in details if "脱贫标准7365" in d] == []
    judged = [d for d in details if re.search(rf"脱贫标准{EXIT_LINE}(\.0)?元", d)]
    incomes = [float(m[1]) for d in judged if (m := re.search(r"收入([\d.]+)元", d))]
    assert any(7365 <= i < EXIT_LINE for i in incomes)  # no finding under the shipped line

    # Indicators: a village's sanitary toilets meet the changed line.
    ind = db.read_frame(engine, "indicator").filter(pl.col("level") == "village")
    wide = ind.filter(
        pl.col("indicator").is_in(["village_toilet_rate", "village_toilet_ok"])
    ).pivot(on="indicator", index=["period", "entity_code"], values="value")
    wide = wide.drop_nulls()
    assert wide.height > 0
    assert (wide["village_toilet_ok"] == (wide["village_toilet_rate"] >= TOILET_LINE)).all()
    assert wide.filter(
        (pl.col("village_toilet_rate") < 97.0) & (pl.col("village_toilet_ok") == 1)
    ).height  # met here, not under the shipped 97 %

    # Report text: the nightly's reports print the changed numbers.
    html = "".join(p.read_text(encoding="utf-8") for p in (home / "reports").rglob("*.html"))
    assert f"卫生厕所普及率以{TOILET_LINE:g}%为达标" in html
    assert f"卫生厕所普及率≥{TOILET_LINE:g}%" in html
    assert f"超过{OVERDUE_DAYS}天仍未整改" in html
    assert "以97%为达标" not in html and "超过30天" not in html
    assert "人均可支配收入低于4,321元" in html and "占比不低于6%" in html  # registration lines

    # Snapshot: the policy archived is the one the findings were computed with.
    made = create_snapshot(2017, db_url, home, formats=("html",))
    assert (made.path / "policy.toml").read_text(encoding="utf-8") == changed_policy.read_text(
        encoding="utf-8"
    )
    manifest = json.loads((made.path / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["policy"]["years"]["2017"]["exit_line"] == EXIT_LINE
    assert manifest["policy"]["assessment"]["toilet_rate_line"] == TOILET_LINE
    frozen = "".join(p.read_text(encoding="utf-8") for p in made.path.rglob("*.html"))
    assert f"卫生厕所普及率以{TOILET_LINE:g}%为达标" in frozen
    engine.dispose()
