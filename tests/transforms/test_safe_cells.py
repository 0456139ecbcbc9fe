"""The one formula guard: text a spreadsheet could evaluate gets an apostrophe; numbers, dates
and plain text are left alone; the value and the expression forms agree."""

from __future__ import annotations

from datetime import date

import polars as pl
from hypothesis import given
from hypothesis import strategies as st

from transforms.safe_cells import safe_expr, safe_frame, safe_text, safe_value


def test_what_is_neutralised_and_what_is_not() -> None:
    for evil in ['=HYPERLINK("http://x","y")', "=1+1", "@SUM(A1)", "\t=1", "\r=1", "-1+2", "+1"]:
        assert safe_text(evil) == "'" + evil
    # text that looks like a signed number is still text: it is neutralised too
    assert safe_text("-5000") == "'-5000" and safe_text("+86 138 0000 0000") == "'+86 138 0000 0000"
    for plain in ["正常", "", "a=b", "'=1", " =1", "5000", "440282199001011234", "\n=1"]:
        assert safe_text(plain) == plain
    for value in [None, -5000, -1.5, 0, True, date(2018, 6, 30)]:
        assert safe_value(value) == value


def test_a_frame_keeps_its_types_and_neutralises_its_text() -> None:
    frame = pl.DataFrame(
        {"text": ["=1+1", "-5000", None, "张三"], "n": [-5000, 1, 2, 3], "x": [-1.5, 0, 1, 2]}
    )
    out = safe_frame(frame)
    assert out.schema == frame.schema
    assert out["text"].to_list() == ["'=1+1", "'-5000", None, "张三"]
    assert out["n"].to_list() == [-5000, 1, 2, 3] and out["x"].to_list() == [-1.5, 0, 1, 2]


@given(st.lists(st.one_of(st.none(), st.text(max_size=6))))
def test_the_expression_does_what_the_function_does(values: list[str | None]) -> None:
    series = pl.Series("v", values, dtype=pl.String)
    out = pl.select(safe_expr(pl.lit(series))).to_series().to_list()
    assert out == [safe_value(v) for v in values]
