"""The one GX context of the process, and the batches suites run on.

GX costs ~10 s to import and a context is cheap but stateful, so both happen once per
process, on first use.  The context is ephemeral: suites live in code (`expectations.suites`)
and results are turned into issue rows straight away, never stored by GX (storing a
validation result serialises every failing row index and costs more than the validation).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.data_context import AbstractDataContext

os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

ROW = "_row"  # the row's position in the frame validated: GX's unexpected index
PANDAS_SOURCE = "fupin_frames"

_lock = threading.Lock()
_context: AbstractDataContext | None = None
_sql_batches: dict[tuple[str, str], BatchDefinition] = {}


def gx_context() -> AbstractDataContext:
    """The process-wide ephemeral context, quiet: no analytics, no progress bars."""
    global _context
    with _lock:
        if _context is None:
            import great_expectations as gx
            from great_expectations.data_context.types.base import ProgressBarsConfig

            logging.getLogger("great_expectations").setLevel(logging.WARNING)
            _skip_pandas_fingerprint()
            context = gx.get_context(mode="ephemeral")
            context.variables.progress_bars = ProgressBarsConfig(globally=False)
            context.data_sources.add_pandas(PANDAS_SOURCE)
            _context = context
        return _context


def _skip_pandas_fingerprint() -> None:
    """GX fingerprints every pandas batch it loads below HASH_THRESHOLD bytes (md5 over
    pandas' hash of every cell and the index): ~2 s for the enrolment extract, paid by
    `get_batch` and again by `Batch.validate`, i.e. most of a run.  The fingerprint only lands
    in the result's batch_markers, which nothing here reads; a threshold of 0 skips it."""
    from great_expectations.execution_engine import pandas_execution_engine

    pandas_execution_engine.HASH_THRESHOLD = 0


def pandas_batch_definition(kind: str) -> BatchDefinition:
    """Whole-dataframe batch definition of one source kind (the frame comes at run time)."""
    context = gx_context()
    with _lock:
        source = context.data_sources.get(PANDAS_SOURCE)
        try:
            asset = source.get_asset(kind)
        except LookupError:
            asset = source.add_dataframe_asset(kind)  # type: ignore[attr-defined]
        try:
            return asset.get_batch_definition("whole")
        except KeyError:
            return asset.add_batch_definition_whole_dataframe("whole")


def pandas_batch(kind: str, frame: pd.DataFrame) -> Any:
    return pandas_batch_definition(kind).get_batch(batch_parameters={"dataframe": frame})


def sqlite_batch(connection_string: str, table: str) -> Any:
    """A batch over a whole SQLite table (GX's SQL data source)."""
    context = gx_context()
    with _lock:
        definition = _sql_batches.get((connection_string, table))
        if definition is None:
            name = f"sqlite_{len(_sql_batches)}"
            source = context.data_sources.add_sqlite(name, connection_string=connection_string)
            asset = source.add_table_asset(table, table_name=table)
            definition = asset.add_batch_definition_whole_table("whole")
            _sql_batches[(connection_string, table)] = definition
    return definition.get_batch()


def result_format(engine: str) -> dict[str, Any]:
    """COMPLETE, reporting failing rows by `_row` only: values are read from our own frame.

    GX's SQL path caps the index list at `partial_unexpected_count`; lift the cap.
    """
    fmt: dict[str, Any] = {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": [ROW],
        "return_unexpected_index_query": False,
        "exclude_unexpected_values": True,
    }
    if engine == "sql":
        fmt["partial_unexpected_count"] = 10**9
    return fmt
