"""From indicator, village and finding frames to the plain data the templates and the XLSX
writer read: dicts, lists, strings and numbers, never frames.

The data dict of a report:
    {"kind", "meta": {...}, "summary": [...], "sections": [section, ...], "notes": [...]}
    section = {"id", "title", "paragraphs": [str], "charts": [chart spec],
               "tables": [table], "subsections": [section]}
    table   = {"id", "title", "sheet", "columns": [{"key", "label", "type"}], "rows": [dict],
               "note", "formats": ["html", "xlsx"]}
Column types: text (short, kept on one line), longtext (wraps), int, num, pct (0-100), money,
date (ISO text), rating, bool, rank.

Modules: `tables` (the pieces: section, table, column, value wording, `Wide`), `meta` (title,
发文 information, sources, definitions), `directory` (townships in scope, villages and their
support units), `ranking` (the decisions: standards met, summons, recalls, orderings and
ties), `assessment` with `villages` (the 考核报告), `accountability` with `notice` (the
问责通报).  A caller needs only the three functions below.
"""

from reports.context.accountability import accountability_data
from reports.context.assessment import assessment_data
from reports.context.meta import build_meta

__all__ = ["accountability_data", "assessment_data", "build_meta"]
