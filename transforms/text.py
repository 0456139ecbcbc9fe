"""Sentences built from columns."""

from __future__ import annotations

import polars as pl


def fmt(template: str, *args: pl.Expr | str) -> pl.Expr:
    """`pl.format` where a missing value prints as empty text instead of nulling the sentence.

    Literal braces in `template` are written `{{` and `}}`.
    """
    exprs = [(pl.col(a) if isinstance(a, str) else a).cast(pl.Utf8).fill_null("") for a in args]
    return pl.format(template, *exprs)
