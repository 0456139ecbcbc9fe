"""The thin Prefect layer: flows and tasks that hold an engine and call transforms and the
warehouse, the CLI, and the boundary with the world (the inbox, channels, Prefect itself).

The entry points other code uses are the modules themselves; the ones that are public:
"""

__all__ = [
    "alerts",  # township alerts: contents from transforms.alerts, delivery by Apprise
    "cli",  # `fupin`: arguments and main (handlers in commands, checks in preflight)
    "deployments",  # the scheduled and on-demand Prefect deployments (`fupin serve`)
    "doctor",  # `fupin doctor`
    "export",  # CSV exports and a township's changes
    "ingest",  # the inbox into the warehouse
    "nightly",  # the nightly flow (run_nightly)
    "report",  # reports of any period (build_report)
    "snapshot",  # the annual snapshot
]
