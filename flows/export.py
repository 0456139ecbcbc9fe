"""`fupin export`: the office's restricted CSV exports (UTF-8 with BOM, so Excel opens them)."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from config.settings import load_divisions, load_settings
from transforms.exports import findings_export, issues_export
from warehouse import db


def export(what: str, out: Path, database_url: str | None = None) -> int:
    settings = load_settings(database_url)
    engine = db.connect(settings.database_url)
    db.upgrade(engine)
    townships = load_divisions().townships
    if what == "findings":
        frame = findings_export(db.read_frame(engine, "finding"), townships)
    elif what == "issues":
        files = db.read_frame(engine, "source_file")
        names = dict(zip(files["id"].to_list(), files["rel_path"].to_list(), strict=True))
        frame = issues_export(db.read_frame(engine, "dq_issue"), townships, names)
    elif what == "indicators":
        frame = db.read_frame(engine, "indicator").sort("period", "level", "entity_code", "indicator")
    else:
        raise ValueError(what)
    out.parent.mkdir(parents=True, exist_ok=True)
    _write_csv(frame, out)
    return frame.height


def _write_csv(frame: pl.DataFrame, out: Path) -> None:
    tmp = out.with_suffix(out.suffix + ".part")
    frame.write_csv(tmp, include_bom=True)
    tmp.replace(out)
