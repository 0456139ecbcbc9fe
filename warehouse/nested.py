"""Nested frame columns (lists of structs, structs) as the warehouse stores them: JSON text.

A finding's evidence travels through the transforms as a list of structs
(`transforms.evidence.EVIDENCE`); its table column is TEXT typed `JsonText`, which names that
polars type.  `warehouse.bulk` encodes such a column on every write and decodes it on every
read, so this is the one place that knows the text: compact JSON, keys in the struct's field
order, UTF-8 as is.  Decoding is strict: text that is not JSON of the column's type fails the
read, naming the column, rather than being read as something else.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl
from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator


class JsonText(TypeDecorator[str]):
    """TEXT holding a nested frame column as JSON; `frame_type` is the polars type frames
    carry it as.  No migration is involved: the column is TEXT on every dialect."""

    impl = Text
    cache_ok = True

    def __init__(self, frame_type: pl.DataType) -> None:
        super().__init__()
        if not is_nested(frame_type):
            raise TypeError(f"JsonText holds lists of structs or structs, not {frame_type}")
        self.frame_type = frame_type


def is_nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, pl.Struct) or (
        isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)
    )


def encode(column: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The stored text of a column of `dtype` (null stays null, an empty list is `[]`)."""
    if isinstance(dtype, pl.Struct):
        return column.struct.json_encode()
    items = column.list.eval(pl.element().struct.json_encode()).list.join(",")
    return pl.concat_str(pl.lit("["), items, pl.lit("]"))


def stored_form(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with every nested column as its stored text: what the table holds, e.g. for
    an archive that keeps the tables as they are."""
    return frame.with_columns(
        encode(pl.col(name), dtype).alias(name)
        for name, dtype in frame.schema.items()
        if is_nested(dtype)
    )


def decode_columns(frame: pl.DataFrame, types: Mapping[str, pl.DataType]) -> pl.DataFrame:
    """`frame` with each text column named in `types` decoded to its nested type."""
    for name, dtype in types.items():
        if frame.schema[name] != pl.Utf8:
            frame = frame.with_columns(pl.col(name).cast(dtype))  # no rows, or every one null
            continue
        try:
            frame = frame.with_columns(pl.col(name).str.json_decode(dtype))
        except pl.exceptions.PolarsError as exc:
            raise ValueError(
                f"column {name!r}: stored text is not the JSON of {dtype} ({type(exc).__name__})"
            ) from exc
    return frame
