"""Data-quality suites (Great Expectations, one per source) and the adapter that turns their
results into data-quality issues.  GX is imported on first use, not on import."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

# Before GX is imported anywhere in the package: no usage statistics leave the machine.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

KINDS = ("roster", "village", "dibao", "enrolment", "settlement")


def validate(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Issues (transforms.frames.ISSUE) of a canonical frame of `kind`; see expectations.run."""
    from expectations.run import validate as _validate

    return _validate(kind, frame)


__all__ = ["KINDS", "validate"]
