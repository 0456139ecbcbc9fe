"""Incremental nights equal nights from scratch: a generated timeline (resubmissions, a held
roster, new monthly extracts) and then a night with nothing new, run twice side by side —
once reading the rows in force through the Parquet copies kept across nights
(`warehouse.row_cache`), once from SQL every time (FUPIN_ROW_CACHE=off) — and compared after
every night row for row: findings, issues, indicators and every kind in force."""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from flows.nightly import run_nightly
from generator.timeline import deliver, generate_timeline
from warehouse import db

NIGHTS = 3
DROP = ("run_id", "updated_run_id", "received_at", "at", "created_at")


def _outcome(url: str) -> dict[str, pl.DataFrame]:
    engine = db.connect(url)
    try:
        out = {}
        for table, key in (
            ("finding", ["key"]),
            ("dq_issue", ["key"]),
            ("indicator", ["period", "level", "entity_code", "indicator"]),
        ):
            frame = db.read_frame(engine, table)
            keep = [c for c in frame.columns if c not in DROP]
            out[table] = frame.select(keep).sort([k for k in key if k in keep] or keep)
        for kind in db.CURRENT_KINDS:
            out[kind] = db.current(engine, kind)
        return out
    finally:
        engine.dispose()


@pytest.mark.slow
def test_incremental_nights_equal_nights_from_scratch(
    harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed = random.SystemRandom().randrange(1, 1_000_000)
    timeline = tmp_path / "timeline"
    generate_timeline(timeline, scale=0.02, seed=seed, months=NIGHTS)
    meta = json.loads((timeline / "timeline.json").read_text(encoding="utf-8"))
    nights: list[tuple[int | None, str]] = [(n["night"], n["as_of"]) for n in meta["nights"]]
    last = date.fromisoformat(nights[-1][1])
    nights.append((None, (last + timedelta(days=1)).isoformat()))  # nothing new arrives

    sides = {name: tmp_path / name for name in ("incremental", "scratch")}
    urls = {name: f"sqlite:///{folder / 'fupin.db'}" for name, folder in sides.items()}
    for night, as_of in nights:
        for name, folder in sides.items():
            if night is not None:
                deliver(timeline, night, folder / "inbox")
            monkeypatch.setenv("FUPIN_ROW_CACHE", "on" if name == "incremental" else "off")
            run_nightly(str(folder / "inbox"), as_of, urls[name], str(folder / "home"), send=False)
        a, b = _outcome(urls["incremental"]), _outcome(urls["scratch"])
        for what in a:
            assert a[what].equals(b[what]), f"seed {seed}, night {as_of}: {what} differs"
        assert a["finding"].height > 0 and a["dq_issue"].height > 0 and a["indicator"].height > 0

    copies = list((sides["incremental"] / "home" / "cache" / "rows").glob("*.parquet"))
    kept = {"roster", "enrolment", "settlement", "issues_in_force", "resolved"}
    assert {p.name.split(".")[0] for p in copies} >= kept
    assert not (sides["scratch"] / "home" / "cache").exists()
