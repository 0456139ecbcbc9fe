"""A county of a city sees only the rows of the city extracts it can join
(`transforms.city.wanted` broadcast to the extract's parts, `matching`): on a generated
world, findings, identity links and indicators equal those computed over the whole extract."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from config.settings import load_divisions, load_policy
from flows.nightly import load_in_force, run_nightly
from flows.report import compute_indicators
from generator.core import generate
from generator.params import SINGLE_NIGHT
from transforms import city, ids
from transforms.reconcile import reconcile, resolve_persons
from warehouse import db


def test_wanted_holds_the_ids_a_roster_can_join() -> None:
    roster = pl.DataFrame(
        {
            "id_norm": ["440282199001011234", "44028219900101123X", "440282199001011", None],
            "id_status": [ids.VALID, ids.BAD_CHECK, ids.EXCEL_MANGLED, ids.BLANK],
        }
    )
    want = city.wanted(roster)
    assert "440282199001011234" in want.ids.to_list()
    assert "44028219900101123X" not in want.ids.to_list()  # invalid: only its neighbours
    assert "440282199001011239" in want.ids.to_list()  # one substitution away
    assert want.prefixes.to_list() == ["440282199001011"]
    rows = pl.LazyFrame(
        {
            "id_norm": [
                "440282199001011234",  # valid, held
                "440282199001011239",  # a candidate of the invalid one
                "440282199001011777",  # shares the mangled ID's 15 digits
                "440281198001010001",  # nobody's
                None,
            ]
        }
    )
    kept = city.matching(rows, want).collect()["id_norm"].to_list()
    assert kept == ["440282199001011234", "440282199001011239", "440282199001011777"]


@pytest.mark.slow
def test_the_parts_a_county_matches_give_the_same_findings(harness, tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(1, 1_000_000)
    generate(tmp_path / "world", scale=0.02, seed=seed)
    url = f"sqlite:///{tmp_path / 'fupin.db'}"
    run_nightly(
        str(tmp_path / "world" / "inbox"), SINGLE_NIGHT.isoformat(), url, str(tmp_path / "h")
    )
    engine = db.connect(url)
    try:
        whole, names = load_in_force(engine)
        findings = db.read_frame(engine, "finding")
        issues = db.read_frame(engine, "dq_issue")
    finally:
        engine.dispose()
    want = city.wanted(whole["roster"])
    parts = {
        **whole,
        **{k: city.matching(whole[k].lazy(), want).collect() for k in ("enrolment", "settlement")},
    }
    assert parts["enrolment"].height < whole["enrolment"].height
    out = {}
    for side, data in (("parts", parts), ("whole", whole)):
        result = reconcile(data, SINGLE_NIGHT, load_policy(), load_divisions(), names)
        assert not result.rules.failed, f"seed {seed}: {result.rules.failed}"
        x = result.inputs
        indicators = compute_indicators(
            result.persons,
            data["village"],
            x.dibao,
            x.enrolment,
            findings,
            issues,
            period="2018H1",
            as_of=SINGLE_NIGHT,
        )
        out[side] = (result.findings, result.links, indicators)
    for a, b, what in zip(
        out["parts"], out["whole"], ("findings", "links", "indicators"), strict=True
    ):
        assert a.height > 0, what
        assert a.equals(b), f"seed {seed}: {what} differ"
    persons = resolve_persons(whole["roster"], whole["dibao"], parts["enrolment"])
    assert persons["identity"].equals(
        reconcile(whole, SINGLE_NIGHT, load_policy(), load_divisions(), names).persons["identity"]
    )
