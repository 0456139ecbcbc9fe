"""XLSX through xlsxwriter: a cover sheet, then one sheet per table with typed columns,
Chinese headers, a frozen header row and an autofilter.

Text never becomes a formula: cells are written with `write_string`, and text that a
spreadsheet program or a later CSV round-trip would read as a formula (= + - @, tab, CR) is
prefixed with an apostrophe (`transforms.privacy`, the guard of every CSV and XLSX
writer).  The document's `created` property is the report's evaluation date, so the same data
gives the same bytes.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import xlsxwriter

from transforms.privacy import safe_text

NUMBER_FORMATS = {
    "int": "#,##0",
    "rank": "0",
    "num": "#,##0.00",
    "money": "#,##0",
    "pct": "0.0%",
    "date": "yyyy-mm-dd",
}
# Text stays text: never a formula, a link or a number (every workbook fupin writes).
WORKBOOK_OPTIONS = {
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _sheet_name(name: str, used: set[str]) -> str:
    base = _BAD_SHEET_CHARS.sub("-", name).strip("'")[:31] or "表"
    candidate, n = base, 2
    while candidate.lower() in used:
        suffix = f"({n})"
        candidate = base[: 31 - len(suffix)] + suffix
        n += 1
    used.add(candidate.lower())
    return candidate


def tables_of(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Every table of the report meant for XLSX, in document order."""
    out: list[dict[str, Any]] = []

    def walk(section: dict[str, Any]) -> None:
        out.extend(t for t in section["tables"] if "xlsx" in t["formats"])
        for sub in section.get("subsections", []):
            walk(sub)

    for s in data["sections"]:
        walk(s)
    return out


def write_xlsx(data: dict[str, Any], path: Path) -> Path:
    meta = data["meta"]
    created = datetime.combine(date.fromisoformat(meta["created"]), datetime.min.time())
    wb = xlsxwriter.Workbook(str(path), WORKBOOK_OPTIONS)
    wb.set_properties(
        {
            "title": meta["title"],
            "subject": f"{meta['period_zh']}{meta['kind_zh']}",
            "author": meta["issuer"],
            "company": meta["issuer"],
            "comments": meta["run_text"],
            "created": created,
        }
    )
    header = wb.add_format(
        {
            "bold": True,
            "bg_color": "#F0F0F0",
            "border": 1,
            "text_wrap": True,
            "valign": "vcenter",
            "align": "center",
        }
    )
    title = wb.add_format({"bold": True, "font_size": 14})
    wrap = wb.add_format({"text_wrap": True, "valign": "top"})
    formats = {k: wb.add_format({"num_format": v}) for k, v in NUMBER_FORMATS.items()}
    used: set[str] = set()
    tables = tables_of(data)

    cover = wb.add_worksheet(_sheet_name("说明", used))
    cover.set_column(0, 0, 16)
    cover.set_column(1, 1, 90)
    cover.write_string(0, 0, safe_text(meta["title"]), title)
    info = [
        ("发文单位", meta["issuer"]),
        ("编号", meta["doc_no"]),
        ("考核期", f"{meta['period_zh']}（{meta['period']}）"),
        ("考核时点", meta["evaluation_date_zh"]),
        ("数据依据", meta["run_text"]),
        ("数据来源", meta["sources_line"]),
    ]
    row = 2
    for k, v in info:
        cover.write_string(row, 0, k, header)
        cover.write_string(row, 1, safe_text(str(v)), wrap)
        row += 1
    row += 1
    cover.write_string(row, 0, "工作表", header)
    cover.write_string(row, 1, "内容", header)
    names: list[str] = []
    for t in tables:
        names.append(_sheet_name(t["sheet"], used))
    for name, t in zip(names, tables, strict=True):
        row += 1
        cover.write_string(row, 0, name)
        cover.write_string(row, 1, safe_text(t["title"]), wrap)
    row += 2
    for n in data.get("notes", []):
        cover.write_string(row, 1, safe_text(n), wrap)
        row += 1

    for name, t in zip(names, tables, strict=True):
        _write_table(wb.add_worksheet(name), t, header, formats)
    wb.close()
    return path


def _write_table(ws: Any, t: dict[str, Any], header: Any, formats: dict[str, Any]) -> None:
    columns = [{"key": "__seq", "label": "序号", "type": "int"}, *t["columns"]]
    widths = [_width(c["label"]) + 2 for c in columns]
    for j, c in enumerate(columns):
        ws.write_string(0, j, c["label"], header)
    for i, r in enumerate(t["rows"], start=1):
        for j, c in enumerate(columns):
            value = i if c["key"] == "__seq" else r.get(c["key"])
            kind = c["type"]
            if value is None or value == "":
                ws.write_blank(i, j, None)
                continue
            if kind in ("int", "rank", "num", "money"):
                ws.write_number(i, j, float(value), formats[kind])
                shown = f"{float(value):,.2f}"
            elif kind == "pct":
                ws.write_number(i, j, float(value) / 100.0, formats["pct"])
                shown = "100.0%"
            elif kind == "date":
                ws.write_datetime(i, j, datetime.fromisoformat(str(value)[:10]), formats["date"])
                shown = "2018-01-01"
            elif kind == "bool":
                shown = "是" if value else "否"
                ws.write_string(i, j, shown)
            else:  # text, longtext, rating
                shown = safe_text(str(value))
                ws.write_string(i, j, shown)
            widths[j] = max(widths[j], min(_width(shown) + 2, 60))
    for j, w in enumerate(widths):
        ws.set_column(j, j, w)
    ws.freeze_panes(1, 0)
    last_row = max(len(t["rows"]), 1)
    ws.autofilter(0, 0, last_row, len(columns) - 1)
