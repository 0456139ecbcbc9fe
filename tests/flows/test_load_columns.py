"""The nightly loads the enrolment extract with only the columns the rules and indicators read
(`transforms.rules.ENROLMENT_READ`): on a generated world, every rule runs on that narrow
frame without failing, and findings, identity links and indicators equal those computed from
every column of the rows in force -- and those computed from only the extract rows a county of
a city can join (`transforms.city.wanted`, broadcast to the extract's parts)."""

from __future__ import annotations

import random
from pathlib import Path

import polars as pl
import pytest

from config.settings import load_divisions, load_policy
from flows.nightly import KINDS, load_in_force, run_nightly
from flows.report import compute_indicators
from generator.core import generate
from generator.params import SINGLE_NIGHT
from transforms import city
from transforms.reconcile import reconcile
from transforms.rules import ENROLMENT_READ
from warehouse import db


@pytest.mark.slow
def test_narrow_enrolment_gives_the_same_findings_and_indicators(harness, tmp_path: Path) -> None:
    seed = random.SystemRandom().randrange(1, 1_000_000)
    generate(tmp_path / "world", scale=0.02, seed=seed)
    url = f"sqlite:///{tmp_path / 'fupin.db'}"
    run_nightly(
        str(tmp_path / "world" / "inbox"), SINGLE_NIGHT.isoformat(), url, str(tmp_path / "h")
    )
    engine = db.connect(url)
    try:
        narrow, names = load_in_force(engine)
        wide = {kind: db.current(engine, kind) for kind in KINDS}
        findings = db.read_frame(engine, "finding")
        issues = db.read_frame(engine, "dq_issue")
    finally:
        engine.dispose()
    assert narrow["enrolment"].columns == list(ENROLMENT_READ)
    assert len(wide["enrolment"].columns) > len(ENROLMENT_READ)
    # A county of a city sees only the extract rows it can join (transforms.city): the same.
    want = city.wanted(narrow["roster"])
    parts = {
        **narrow,
        **{k: city.matching(narrow[k].lazy(), want).collect() for k in ("enrolment", "settlement")},
    }
    assert parts["enrolment"].height < narrow["enrolment"].height

    out = {}
    for side, data in (("narrow", narrow), ("wide", wide), ("parts", parts)):
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
    what_of = ("findings", "links", "indicators")
    for other in ("wide", "parts"):
        for a, b, what in zip(out["narrow"], out[other], what_of, strict=True):
            assert a.height > 0, what
            assert a.equals(b), f"seed {seed}: {what} differ ({other})"
    assert out["narrow"][0].filter(pl.col("rule").is_in(["R01", "R02", "R05"])).height > 0
