"""The pieces every report section is made of: sections, tables and columns as plain dicts,
the rounding and wording of values in them, and `Wide`, the indicator frame turned into a
lookup by level, entity and indicator."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from typing import Any

import polars as pl

from transforms.indicators import RATING_CODES


def zh_date(d: date | str | None) -> str:
    if d is None or d == "":
        return ""
    if isinstance(d, str):
        d = date.fromisoformat(d[:10])
    return f"{d.year}年{d.month}月{d.day}日"


def col(key: str, label: str, type_: str = "text") -> dict[str, str]:
    return {"key": key, "label": label, "type": type_}


def table(
    id_: str,
    title: str,
    sheet: str,
    columns: list[dict[str, str]],
    rows: list[dict[str, Any]],
    note: str | None = None,
    formats: Iterable[str] = ("html", "xlsx"),
    empty: str = "无。",
) -> dict[str, Any]:
    return {
        "id": id_,
        "title": title,
        "sheet": sheet[:31],
        "columns": columns,
        "rows": rows,
        "note": note,
        "formats": list(formats),
        "empty": empty,
    }


def progress_chart(
    title: str, rows: Iterable[dict[str, Any]], label: str, ok: float, warn: float
) -> dict[str, Any]:
    """The bars of completion against target (townships of a county, counties of a city):
    each row's `label`, `progress` and `rating`; `ok` and `warn` as shares."""
    return {
        "type": "progress_bars",
        "title": title,
        "rows": [{"label": r[label], "value": r["progress"], "rating": r["rating"]} for r in rows],
        "target": ok * 100,
        "warn": warn * 100,
    }


def section(id_: str, title: str, **parts: Any) -> dict[str, Any]:
    return {
        "id": id_,
        "title": title,
        "paragraphs": parts.get("paragraphs", []),
        "charts": parts.get("charts", []),
        "tables": parts.get("tables", []),
        "subsections": parts.get("subsections", []),
    }


def keep(rows: Iterable[dict[str, Any]], columns: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Each row cut down to the keys of `columns`, in their order."""
    keys = [c["key"] for c in columns]
    return [{k: r[k] for k in keys} for r in rows]


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(float(value), digits)


def whole(value: float | None) -> int | None:
    return None if value is None else int(round(float(value)))


def pct_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}%"


def rating_text(code: float | None) -> str:
    return "" if code is None else RATING_CODES[int(code)]


def as_bool(value: float | None) -> bool | None:
    return None if value is None else bool(value)


class Wide:
    """Indicator values by level and entity: wide[level][entity_code][indicator]."""

    def __init__(self, indicators: pl.DataFrame) -> None:
        self.values: dict[str, dict[str, dict[str, float | None]]] = defaultdict(
            lambda: defaultdict(dict)
        )
        self.parts: dict[tuple[str, str, str], tuple[float | None, float | None]] = {}
        self.names: dict[tuple[str, str], str] = {}
        for r in indicators.iter_rows(named=True):
            self.values[r["level"]][r["entity_code"]][r["indicator"]] = r["value"]
            self.parts[(r["level"], r["entity_code"], r["indicator"])] = (
                r["numerator"],
                r["denominator"],
            )
            self.names[(r["level"], r["entity_code"])] = r["entity_name"]

    def get(self, level: str, code: str, indicator: str) -> float | None:
        return self.values.get(level, {}).get(code, {}).get(indicator)

    def entity(self, level: str, code: str) -> dict[str, float | None]:
        return self.values.get(level, {}).get(code, {})
