"""`fupin export`: the office's restricted CSV exports (UTF-8 with BOM, so Excel opens them).

They hold full ID numbers: each file is 0600, and the exports folder 0700 (`config.private`);
no text cell leaves as a formula (`transforms.privacy`)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
from sqlalchemy import Engine

from config.private import open_private, private_dir
from config.settings import load_divisions, load_resources, load_settings
from transforms.exports import city_export, findings_export, issues_export
from transforms.privacy import safe_frame
from warehouse import db


def export(what: str, out: Path, database_url: str | None = None) -> int:
    """Write the `what` export to `out`; in a multi-county warehouse, every county's (and for
    issues the city extracts'), `county_code` first (`transforms.exports.city_export`)."""
    settings = load_settings(database_url)
    engine = db.connect(settings.database_url, cache_dir=settings.row_cache_dir)
    counties = db.counties_in(engine)
    if counties:
        engine.dispose()
        frame = city_frame(what, settings.database_url, counties)
    else:
        db.upgrade(engine)
        frame = export_frame(what, engine, load_resources(settings).divisions.townships)
    _private_folder(out, settings.exports_dir)
    _write_csv(frame, out)
    return frame.height


def export_frame(what: str, engine: Engine, townships: dict[str, str]) -> pl.DataFrame:
    """One warehouse's (one county's) export of `what`."""
    if what == "findings":
        return findings_export(db.read_frame(engine, "finding"), townships)
    if what == "issues":
        files = db.read_frame(engine, "source_file")
        names = dict(zip(files["id"].to_list(), files["rel_path"].to_list(), strict=True))
        return issues_export(db.read_frame(engine, "dq_issue"), townships, names)
    if what == "indicators":
        return db.read_frame(engine, "indicator").sort(
            "period", "level", "entity_code", "indicator"
        )
    raise ValueError(what)


def city_frame(what: str, database_url: str, counties: list[str]) -> pl.DataFrame:
    """Every county's export of `what` as one (`city_export`); data-quality issues of the
    city-wide extracts come under the city's code."""

    def read(unit: str, engine: Engine) -> pl.DataFrame:
        townships = {} if unit == db.CITY_CODE else load_divisions(unit).townships
        frame = export_frame(what, engine, townships)
        if "file" in frame.columns and unit != db.CITY_CODE:  # as the city's inbox has it
            frame = frame.with_columns(file=pl.lit(f"{unit}/") + pl.col("file"))
        return frame

    units = [*counties, db.CITY_CODE] if what == "issues" else counties
    return city_export(per_unit(database_url, units, read))


def per_unit(
    database_url: str, units: list[str], read: Callable[[str, Engine], pl.DataFrame]
) -> dict[str, pl.DataFrame]:
    """`read` in each county's (or the city's) warehouse of a multi-county database."""
    frames = {}
    for unit in units:
        engine = db.connect(database_url, county=unit)
        try:
            frames[unit] = read(unit, engine)
        finally:
            engine.dispose()
    return frames


def _private_folder(out: Path, exports_dir: Path) -> None:
    """The export's folder: fupin's exports folder is kept 0700; a folder a person named is
    made 0700 if it is new and otherwise left as it is (the file itself is 0600)."""
    private_dir(out.parent, tighten=out.parent.resolve() == exports_dir.resolve())


def _write_csv(frame: pl.DataFrame, out: Path) -> None:
    """Text cells neutralised, typed columns as they are; 0600 from the first byte, and
    complete or not there at all."""
    tmp = out.with_suffix(out.suffix + ".part")
    with open_private(tmp) as fh:
        safe_frame(frame).write_csv(fh, include_bom=True)
    tmp.replace(out)


def township_changes(
    township: str, out: Path | None, database_url: str | None = None
) -> pl.DataFrame:
    """What changed between a township's last two submissions put in force (CSV when `out`):
    held, duplicate and refused files are not submissions of its register."""
    from transforms.submissions import roster_changes

    settings = load_settings(database_url)
    engine = db.connect(settings.database_url, cache_dir=settings.row_cache_dir)
    db.upgrade(engine)
    divisions = load_resources(settings).divisions
    code = township if township in divisions.townships else divisions.township_code(township)
    if code is None:
        raise ValueError(f"未知的镇（街道）“{township}”")
    files = db.submissions_put_in_force(engine, "townships", code)
    if files.height < 2:
        raise ValueError(
            f"{divisions.short_name(code)}只有 {files.height} 份已接收的花名册，无从比较。"
        )
    before_id, after_id = files["id"][-2], files["id"][-1]

    changes = roster_changes(
        db.canonical_of(engine, "roster", [int(before_id)]),
        db.canonical_of(engine, "roster", [int(after_id)]),
    )
    if out is not None:
        _private_folder(out, settings.exports_dir)
        _write_csv(changes, out)
    return changes
