"""Process-wide defaults for Prefect, set before Prefect is imported."""

from __future__ import annotations

import os


def prefect_defaults() -> None:
    """Telemetry off, quiet logs, and patience for the ephemeral API server on a busy
    2-core machine; a user's own settings win."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
