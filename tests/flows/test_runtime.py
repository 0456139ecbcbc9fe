"""Prefect settings fupin applies to the flows it runs from the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Which heartbeat interval a flow's engine would use inside `one_off_runs`, in a process of
# its own: Prefect reads the environment once, at import.
PROBE = """
import json
from prefect.flow_engine import FlowRunEngine
from prefect.settings import get_current_settings
from flows.runtime import one_off_runs

with one_off_runs():
    seen = FlowRunEngine.heartbeat_seconds.fget(None)  # what a flow's engine would use
print(json.dumps({"seen": seen, "after": get_current_settings().flows.heartbeat_frequency}))
"""


def _probe(tmp_path: Path, **extra: str) -> dict[str, object]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.endswith("HEARTBEAT_FREQUENCY") and k != "PREFECT_API_URL"
    }
    env |= {
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        **extra,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_one_off_runs_send_no_heartbeat(tmp_path: Path) -> None:
    seen = _probe(tmp_path)
    assert seen["seen"] is None  # the engine starts no heartbeat thread
    assert seen["after"] == 180  # Prefect's default is back once the command is done


@pytest.mark.parametrize(
    "variable", ["PREFECT_FLOWS_HEARTBEAT_FREQUENCY", "PREFECT_RUNNER_HEARTBEAT_FREQUENCY"]
)
def test_a_heartbeat_the_user_set_is_kept(tmp_path: Path, variable: str) -> None:
    assert _probe(tmp_path, **{variable: "60"})["seen"] == 60


def test_the_cli_runs_flows_as_one_off_runs_but_not_serve(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.settings import get_current_settings

    from flows import cli

    seen: dict[str, object] = {}

    def probe(name: str):  # noqa: ANN202 - a stand-in command
        def command(args: object) -> int:
            seen[name] = get_current_settings().flows.heartbeat_frequency
            return 0

        return command

    monkeypatch.setattr(cli, "preflight", lambda args: None)
    for name in ("nightly", "serve"):
        monkeypatch.setattr(cli, f"cmd_{name}", probe(name))
    assert cli.main(["nightly", "--inbox", "."]) == 0
    assert cli.main(["serve"]) == 0
    assert seen["nightly"] is None
    assert seen["serve"] == get_current_settings().flows.heartbeat_frequency
    if "heartbeat_frequency" not in get_current_settings().flows.model_fields_set:
        assert seen["serve"] == 180
