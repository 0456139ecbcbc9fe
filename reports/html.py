"""HTML through Jinja2: autoescaped templates, one base layout, cell formatting by column
type, charts drawn by `reports.charts` from the specs in the data."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from reports.charts import render_chart

TEMPLATES = Path(__file__).resolve().parent / "templates"
RATING_CLASSES = {"达标": "ok", "预警": "warn", "未达标": "bad", "已出列": "ok", "未出列": "bad"}


def format_cell(value: Any, type_: str) -> str:
    """A value as printed in an HTML table cell (XLSX keeps the typed value)."""
    if value is None or value == "":
        return "" if type_ in ("text", "longtext", "rating") else "—"
    if type_ == "int" or type_ == "rank":
        return f"{int(value):,}"
    if type_ == "money":
        return f"{float(value):,.0f}"
    if type_ == "pct":
        return f"{float(value):.1f}%"
    if type_ == "num":
        v = float(value)
        if v.is_integer():
            return f"{v:,.0f}"
        return f"{v:,.2f}".rstrip("0").rstrip(".")
    if type_ == "bool":
        return "✓" if value else "✗"
    return str(value)


def css_string(text: str) -> Markup:
    """A CSS string literal (for @page margin boxes): quotes, backslashes and '<' escaped."""
    out = []
    for ch in str(text):
        if ch in '"\\<>\n\r':
            out.append(f"\\{ord(ch):x} ")
        else:
            out.append(ch)
    return Markup('"' + "".join(out) + '"')


def _chart(spec: dict[str, Any]) -> Markup:
    # render_chart escapes every text it writes; the markup is ours.
    return Markup(render_chart(spec))


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(enabled_extensions=("html", "j2", "html.j2"), default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = format_cell
    env.filters["css_string"] = css_string
    env.globals["chart"] = _chart
    env.globals["rating_class"] = lambda v: RATING_CLASSES.get(str(v or ""), "none")
    return env


def render_html(data: dict[str, Any]) -> str:
    template = environment().get_template(f"{data['kind']}.html.j2")
    return template.render(**data)
