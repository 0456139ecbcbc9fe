"""Rendering the assessment (考核报告) and accountability (问责通报) reports, and the city's
summary of its counties (数据核查汇总, `CITY_SUMMARY`, from `reports.context.city`).

`render(kind, data, formats, out_dir)` takes the plain data of `reports.context` and writes
`<kind>_<period>_<scope>.html|pdf|xlsx`.  Every string of the data is scrubbed of ID numbers,
mobile numbers and secrets first (`transforms.privacy.scrub_data`); HTML is autoescaped;
XLSX text never becomes a formula.  Same data, same bytes (HTML and
XLSX; a PDF carries its engine's creation time).  Files are 0600 (`config.private`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from config.private import open_private, private_dir, private_file
from transforms.privacy import scrub_data

ReportKind = Literal["assessment", "accountability"]
ReportFormat = Literal["html", "pdf", "xlsx"]
KINDS: tuple[ReportKind, ...] = get_args(ReportKind)
# The city's summary is rendered by the city nightly, never asked for by a county's `report`.
CITY_SUMMARY = "city_summary"
FORMATS: tuple[ReportFormat, ...] = get_args(ReportFormat)


def render(
    kind: str,
    data: dict[str, Any],
    formats: list[str] | tuple[str, ...],
    out_dir: Path,
    pdf_engine: str = "auto",
) -> list[Path]:
    """Write the report in each of `formats` to `out_dir`; returns the paths written."""
    if kind not in (*KINDS, CITY_SUMMARY):
        raise ValueError(f"unknown report {kind!r}: one of {(*KINDS, CITY_SUMMARY)}")
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format(s) {unknown}: any of {FORMATS}")
    if data.get("kind") != kind:
        raise ValueError(f"data is for {data.get('kind')!r}, not {kind!r}")
    from reports.html import render_html
    from reports.pdf import html_to_pdf
    from reports.xlsx import write_xlsx

    data = scrub_data(data)
    out_dir = Path(out_dir)
    # A folder made here is 0700; one that exists (a folder a person chose, or the reports
    # folder, which `fupin report` and the alerts tighten) is left as it is.  Files: 0600.
    private_dir(out_dir, tighten=False)
    stem = data["meta"]["file_stem"]
    written: list[Path] = []
    html_path = out_dir / f"{stem}.html"
    if "html" in formats or "pdf" in formats:
        with open_private(html_path, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(render_html(data))
        if "html" in formats:
            written.append(html_path)
    if "pdf" in formats:
        written.append(html_to_pdf(html_path, out_dir / f"{stem}.pdf", pdf_engine))
        if "html" not in formats:
            html_path.unlink()
    if "xlsx" in formats:
        written.append(write_xlsx(data, out_dir / f"{stem}.xlsx"))
    for path in written:
        private_file(path)
    return written


__all__ = ["CITY_SUMMARY", "FORMATS", "KINDS", "ReportFormat", "ReportKind", "render"]
