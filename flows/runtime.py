"""Process-wide defaults for Prefect, set before Prefect is imported."""

from __future__ import annotations

import os


def prefect_defaults() -> None:
    """Telemetry off; every task's INFO lines on the run page (Prefect's API log handler)
    while the terminal shows warnings only (the CLI prints its own Chinese summary); and
    patience for the ephemeral API server on a busy 2-core machine.  A user's own settings
    win."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "INFO")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
