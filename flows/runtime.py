"""Process-wide defaults for Prefect, set before Prefect is imported."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


def prefect_defaults() -> None:
    """Telemetry off; every task's INFO lines on the run page (Prefect's API log handler)
    while the terminal shows warnings only (the CLI prints its own Chinese summary); and
    patience for the ephemeral API server on a busy 2-core machine.  A user's own settings
    win."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


@contextlib.contextmanager
def one_off_runs() -> Iterator[None]:
    """Flows run in this process from the command line send no heartbeat events, unless the
    user set a heartbeat frequency (environment or Prefect profile).

    Prefect's flow engine (3.9) keeps a heartbeat thread that sleeps a second at a time and
    is joined when the flow ends: every flow run waits up to a second for it (a trivial flow:
    1.06 s with it, 0.07 s without), about a fifth of a "nothing new" night.  Heartbeats only
    serve a zombie-detection automation, which fupin does not set up; served runs (`fupin
    serve`, in the runner's own processes) keep Prefect's default."""
    from prefect.settings import get_current_settings, temporary_settings

    if "heartbeat_frequency" in get_current_settings().flows.model_fields_set:
        yield
        return
    with temporary_settings(updates={"flows.heartbeat_frequency": None}):
        yield
