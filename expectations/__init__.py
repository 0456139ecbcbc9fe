"""Data-quality suites (Great Expectations, one per source) and the adapter that turns their
results into data-quality issues.  GX is imported on first use, not on import."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

# Before GX is imported anywhere in the package: no usage statistics leave the machine.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

# Modules GX imports for expectations our suites do not use (scipy.stats: the KL-divergence
# and KS-test expectations), loaded only if something touches them: 0.55 s of GX's 1.7 s
# import, which a night that validates one township's roster pays (issue 15).
DEFERRED = ("scipy.stats",)


def _defer(name: str) -> None:
    """Make `import name` hand back a module that is executed on first attribute access
    (importlib's documented LazyLoader recipe); nothing if it is imported already."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    parent, _, child = name.rpartition(".")
    setattr(sys.modules[parent], child, module)


for _name in DEFERRED:
    _defer(_name)

KINDS = ("roster", "village", "dibao", "enrolment", "settlement")


def validate(kind: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Issues (transforms.frames.ISSUE) of a canonical frame of `kind`; see expectations.run."""
    from expectations.run import validate as _validate

    return _validate(kind, frame)


__all__ = ["KINDS", "validate"]
