"""Charts as inline SVG, drawn in Python: no JavaScript, no network, prints on A4.

Each function takes a plain chart spec (what the context builder put in the data dict) and
returns SVG markup.  Every number is written with a fixed number of decimals and every text is
XML-escaped, so the same spec gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape

FONT = "'Noto Sans CJK SC','Source Han Sans SC','Noto Sans SC','Microsoft YaHei','PingFang SC',sans-serif"
RATING_COLOURS = {"达标": "#2e7d32", "预警": "#e0a100", "未达标": "#c62828"}
NEUTRAL = "#5b7fa6"
GRID = "#d9d9d9"
INK = "#222222"
SERIES = ("#1f4e79", "#c62828", "#2e7d32", "#7b4ea3")


def _n(x: float) -> str:
    return f"{x:.1f}"


def _t(
    x: float,
    y: float,
    text: str,
    size: float = 11,
    anchor: str = "start",
    fill: str = INK,
    weight: str = "normal",
) -> str:
    return (
        f'<text x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}" text-anchor="{anchor}" '
        f'fill="{fill}" font-weight="{weight}">{escape(str(text))}</text>'
    )


def _svg(width: float, height: float, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="100%" role="img" aria-label="{escape(title, {chr(34): "&quot;"})}" '
        f'font-family="{FONT}" class="chart">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:,.0f}"


def progress_bars(spec: Mapping[str, Any]) -> str:
    """One horizontal bar per township (progress against target), coloured by rating, with the
    target (100%) and warning (90%) lines."""
    rows: Sequence[Mapping[str, Any]] = spec["rows"]
    target = float(spec.get("target", 100.0))
    warn = spec.get("warn")
    label_w, value_w, plot_w, row_h, top = 78.0, 58.0, 520.0, 19.0, 30.0
    values = [float(r["value"]) for r in rows if r.get("value") is not None]
    top_value = max([target * 1.2, *values]) if values else target * 1.2
    scale = plot_w / top_value
    height = top + row_h * len(rows) + 26
    width = label_w + plot_w + value_w
    body: list[str] = []
    for tick in range(0, int(top_value) + 1, 20 if top_value <= 200 else 50):
        x = label_w + tick * scale
        body.append(
            f'<line x1="{_n(x)}" y1="{_n(top - 4)}" x2="{_n(x)}" y2="{_n(height - 22)}" stroke="{GRID}" stroke-width="0.6"/>'
        )
        body.append(_t(x, height - 8, f"{tick}%", 9, "middle", "#666666"))
    for i, r in enumerate(rows):
        y = top + i * row_h
        body.append(_t(label_w - 6, y + row_h * 0.68, r["label"], 11, "end"))
        v = r.get("value")
        colour = RATING_COLOURS.get(r.get("rating") or "", NEUTRAL)
        if v is not None:
            w = max(float(v) * scale, 0.5)
            body.append(
                f'<rect x="{_n(label_w)}" y="{_n(y + 3)}" width="{_n(w)}" height="{_n(row_h - 6)}" fill="{colour}"/>'
            )
            body.append(_t(label_w + w + 4, y + row_h * 0.68, _fmt(float(v), "%"), 10))
        else:
            body.append(_t(label_w + 4, y + row_h * 0.68, "无目标", 10, fill="#666666"))
    for line, label, dash, anchor, dx in (
        (target, f"目标 {target:.0f}%", "6,3", "start", 3),
        (warn, f"预警 {float(warn):.0f}%" if warn is not None else "", "2,3", "end", -3),
    ):
        if line is None:
            continue
        x = label_w + float(line) * scale
        body.append(
            f'<line x1="{_n(x)}" y1="{_n(top - 8)}" x2="{_n(x)}" y2="{_n(height - 22)}" stroke="{INK}" stroke-width="1.2" stroke-dasharray="{dash}"/>'
        )
        body.append(_t(x + dx, top - 10, label, 10, anchor))
    legend_x = label_w
    for name, colour in RATING_COLOURS.items():
        body.append(f'<rect x="{_n(legend_x)}" y="4" width="10" height="10" fill="{colour}"/>')
        body.append(_t(legend_x + 14, 13, name, 10))
        legend_x += 56
    return _svg(width, height, body, spec.get("title", ""))


def small_multiples(spec: Mapping[str, Any]) -> str:
    """A grid of small horizontal bar charts, one per indicator, townships on each."""
    panels: Sequence[Mapping[str, Any]] = spec["panels"]
    cols = int(spec.get("columns", 2))
    label_w, plot_w, row_h, head = 64.0, 200.0, 13.0, 22.0
    n_rows = max((len(p["rows"]) for p in panels), default=0)
    panel_w, panel_h = label_w + plot_w + 46, head + n_rows * row_h + 8
    grid_rows = (len(panels) + cols - 1) // cols
    body: list[str] = []
    for k, p in enumerate(panels):
        ox, oy = (k % cols) * panel_w, (k // cols) * panel_h
        unit = p.get("unit", "%")
        values = [float(r["value"]) for r in p["rows"] if r.get("value") is not None]
        top_value = 100.0 if unit == "%" else max([1.0, *values])
        scale = plot_w / top_value
        body.append(_t(ox + label_w, oy + 13, p["title"], 11, weight="bold"))
        target = p.get("target")
        for i, r in enumerate(p["rows"]):
            y = oy + head + i * row_h
            body.append(_t(ox + label_w - 4, y + row_h * 0.75, r["label"], 9, "end"))
            v = r.get("value")
            if v is None:
                body.append(_t(ox + label_w + 2, y + row_h * 0.75, "—", 9, fill="#666666"))
                continue
            good = r.get("ok")
            colour = (
                NEUTRAL
                if good is None
                else (RATING_COLOURS["达标"] if good else RATING_COLOURS["未达标"])
            )
            w = max(float(v) * scale, 0.5 if float(v) > 0 else 0.0)
            body.append(
                f'<rect x="{_n(ox + label_w)}" y="{_n(y + 2)}" width="{_n(w)}" height="{_n(row_h - 4)}" fill="{colour}"/>'
            )
            body.append(_t(ox + label_w + w + 3, y + row_h * 0.75, _fmt(float(v), unit), 8.5))
        if target is not None and unit == "%":
            x = ox + label_w + float(target) * scale
            body.append(
                f'<line x1="{_n(x)}" y1="{_n(oy + head - 3)}" x2="{_n(x)}" y2="{_n(oy + head + n_rows * row_h)}" stroke="{INK}" stroke-width="1" stroke-dasharray="4,2"/>'
            )
    return _svg(cols * panel_w, grid_rows * panel_h, body, spec.get("title", ""))


def trend(spec: Mapping[str, Any]) -> str:
    """Lines across assessment periods (one point per period with a stored value)."""
    periods: Sequence[str] = spec["periods"]
    series: Sequence[Mapping[str, Any]] = spec["series"]
    left, right, top, bottom, width, height = 56.0, 16.0, 30.0, 34.0, 640.0, 230.0
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [float(v) for s in series for v in s["values"] if v is not None]
    top_value = max(values) * 1.15 if values else 1.0
    top_value = _nice(top_value)
    step_x = plot_w / max(len(periods) - 1, 1)
    body: list[str] = []
    for i in range(5):
        v = top_value * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line x1="{_n(left)}" y1="{_n(y)}" x2="{_n(width - right)}" y2="{_n(y)}" stroke="{GRID}" stroke-width="0.6"/>'
        )
        body.append(_t(left - 6, y + 4, f"{v:,.0f}", 9, "end", "#666666"))
    for i, label in enumerate(periods):
        x = left + i * step_x if len(periods) > 1 else left + plot_w / 2
        body.append(_t(x, height - 14, label, 9.5, "middle", "#444444"))
    for k, s in enumerate(series):
        colour = SERIES[k % len(SERIES)]
        dash = ' stroke-dasharray="6,3"' if s.get("dashed") else ""
        pts = []
        for i, v in enumerate(s["values"]):
            if v is None:
                continue
            x = left + i * step_x if len(periods) > 1 else left + plot_w / 2
            y = top + plot_h - plot_h * float(v) / top_value
            pts.append((x, y, float(v)))
        if len(pts) > 1:
            path = " ".join(f"{_n(x)},{_n(y)}" for x, y, _ in pts)
            body.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>'
            )
        for x, y, v in pts:
            body.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="3" fill="{colour}"/>')
            if s.get("labels", True):
                body.append(_t(x, y - 6, f"{v:,.0f}", 9, "middle", colour))
        lx = left + k * 170
        body.append(
            f'<line x1="{_n(lx)}" y1="12" x2="{_n(lx + 22)}" y2="12" stroke="{colour}" stroke-width="2"{dash}/>'
        )
        body.append(_t(lx + 26, 16, s["name"], 10))
    return _svg(width, height, body, spec.get("title", ""))


def _nice(x: float) -> float:
    if x <= 0:
        return 1.0
    magnitude = 10 ** (len(str(int(x))) - 1)
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * magnitude >= x:
            return m * magnitude
    return 10.0 * magnitude


CHARTS: dict[str, Callable[[Mapping[str, Any]], str]] = {
    "progress_bars": progress_bars,
    "small_multiples": small_multiples,
    "trend": trend,
}


def render_chart(spec: Mapping[str, Any]) -> str:
    return CHARTS[spec["type"]](spec)
