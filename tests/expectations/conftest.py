"""One GX context (and every suite) for the whole test session: GX costs ~10 s to import."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session", autouse=True)
def gx_context() -> Iterator[Any]:
    """Import GX and create the context once; build every suite once."""
    from expectations import suites
    from expectations.context import gx_context as context

    ctx = context()
    for kind in suites.SUITES:
        suites.build(kind, "pandas")
    yield ctx
