"""The office's decisions on submissions: which are held for it, and releasing one.

A roster that would gut a township's register (or a file that says it is older than the one
in force) is held by ingest (`flows.ingest.store`): its rows are kept, nothing in force
changes, and the run asks for a person.  Releasing it is a deliberate act, recorded with who
and why (`source_file_event`); the next nightly run puts its data to work.
"""

from __future__ import annotations

import getpass
from typing import Any

import polars as pl
from sqlalchemy import Engine

from config.settings import load_divisions, load_settings
from warehouse import db


def _engine(database_url: str | None) -> Engine:
    engine = db.connect(load_settings(database_url).database_url)
    db.upgrade(engine)
    return engine


def held_files(database_url: str | None = None) -> pl.DataFrame:
    """Submissions waiting for the office: id, source, township, name, received, reason."""
    engine = _engine(database_url)
    files = db.read_frame(engine, "source_file").filter(pl.col("status") == "held")
    names = load_divisions().townships
    return files.sort("id").select(
        "id",
        "source",
        "township_code",
        township=pl.col("township_code").replace_strict(names, default=None, return_dtype=pl.Utf8),
        name="name",
        rel_path="rel_path",
        received_at="received_at",
        reason="reason",
    )


class NotHeld(ValueError):
    """The file named is not a held submission (the message says what it is, in Chinese)."""


def find_held(held: pl.DataFrame, which: str) -> dict[str, Any]:
    """The held file `which` names: `#12` or `12` (its number), or its file name or inbox path
    when exactly one held file has it."""
    text = which.strip().lstrip("#")
    if text.isdigit():
        match = held.filter(pl.col("id") == int(text))
    else:
        match = held.filter((pl.col("name") == which) | (pl.col("rel_path") == which))
    if match.height == 1:
        return match.row(0, named=True)
    if match.height > 1:
        numbers = "、".join(f"#{i}" for i in match["id"].to_list())
        raise NotHeld(f"有 {match.height} 份待确认的文件名为“{which}”（{numbers}），请用编号指定。")
    raise NotHeld(f"没有待确认的文件“{which}”。待确认的文件：fupin accept（不带参数）列出。")


def release(which: str, reason: str | None, database_url: str | None = None) -> dict[str, Any]:
    """Put a held submission in force; returns it with the ids it replaced."""
    engine = _engine(database_url)
    file = find_held(held_files(database_url), which)
    detail = f"扶贫办确认启用（操作人：{getpass.getuser()}；理由：{reason or '未注明'}）"
    with db.run_lock(engine, exclusive=True):  # not while a nightly run is writing
        replaced = db.release_held(engine, int(file["id"]), detail)
    return {**file, "replaced": replaced, "detail": detail}
