"""Edits to the enrolment extract apply however many there are and in whatever mix."""

from __future__ import annotations

import polars as pl

from generator.extracts import EnrolmentEdits, _apply_enrolment_edits


def test_many_mixed_edits_all_apply(small_world) -> None:
    """More than polars' 100-row schema inference window, with the rare field last."""
    w = small_world
    year = w.params.year
    pids = w.enrolment.filter(pl.col("year") == year)["pid"].head(160).to_list()
    edits = EnrolmentEdits()
    for pid in pids[:150]:
        edits.set_fields[(pid, year)] = {"person_status": "死亡"}
    for pid in pids[150:155]:
        edits.set_fields[(pid, year)] = {"subsidy": "无", "enrol_status": "暂停参保"}
    for pid in pids[155:]:
        edits.drop.add((pid, year))
    _, enrol = _apply_enrolment_edits(w, edits)
    y = enrol.filter(pl.col("year") == year)
    assert y.filter(pl.col("pid").is_in(pids[:150]))["person_status"].unique().to_list() == ["死亡"]
    changed = y.filter(pl.col("pid").is_in(pids[150:155]))
    assert changed["subsidy"].unique().to_list() == ["无"]
    assert changed["enrol_status"].unique().to_list() == ["暂停参保"]
    assert y.filter(pl.col("pid").is_in(pids[155:])).height == 0
    assert enrol.height == w.enrolment.height - 5
