"""What an operator finds on a nightly run's page in the Prefect UI, read back through the
Prefect client: INFO lines of the flow and of every task, the summary artifact, and
parameters that hold no warehouse URL. `fupin nightly` runs as in production: its own
process, Prefect's settings as `flows.runtime` leaves them, an API server already running."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from generator import generate

ID_OR_PHONE = re.compile(r"(?<![0-9])(\d{17}[\dXx]|1[3-9]\d{9})(?![0-9])")

AS_OF = date(2018, 6, 30)
TASKS = ("ingest", "validate", "load-data-in-force", "reconcile", "assess", "render-reports")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, scale=0.01, seed=5, as_of=AS_OF)
    return out / "inbox"


@pytest.mark.slow
def test_the_run_page_shows_info_logs_artifacts_and_no_url(
    harness, world: Path, tmp_path: Path
) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterKey,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.settings import PREFECT_API_URL

    url = f"sqlite:///{tmp_path / 'secret-place' / 'fupin.db'}"
    (tmp_path / "secret-place").mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_LOGGING", "FUPIN_"))}
    env |= {"PREFECT_API_URL": str(PREFECT_API_URL.value()), "FUPIN_HOME": str(tmp_path / "h")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "--db",
            url,
            "nightly",
            "--inbox",
            str(world),
            "--as-of",
            AS_OF.isoformat(),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode in (0, 1), done.stderr[-3000:]
    assert "| INFO" not in done.stderr  # the terminal: warnings only, and the Chinese summary
    assert "预警：" in done.stdout or "alerts" not in done.stdout

    with get_client(sync_client=True) as client:
        [run] = [r for r in client.read_flow_runs() if r.name and r.parameters.get("inbox")]
        shown = json.dumps(run.parameters, ensure_ascii=False)
        assert "secret-place" not in shown and "sqlite" not in shown
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run.id])))
        info = [log.message for log in logs if log.level == 20]
        assert any("stage times" in m for m in info), info[:20]
        assert sum(m.startswith("Finished in state") for m in info) >= len(TASKS)
        task_runs = {
            t.name.rsplit("-", 1)[0]
            for t in client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id]))
            )
        }
        assert set(TASKS) <= task_runs
        task_logs = {log.task_run_id for log in logs if log.level == 20 and log.task_run_id}
        assert len(task_logs) >= len(TASKS)  # every task wrote an INFO line to the page
        # ...and each says, in Chinese, what it did (not only Prefect's "Finished in state").
        said = {m.split("：", 1)[0] for m in (log.message for log in logs if log.task_run_id)}
        stages = {"接收文件", "数据质量检查", "读取在用数据", "比对核查", "考核指标", "生成报告"}
        assert stages <= said, sorted(said)
        assert not any(ID_OR_PHONE.search(log.message) for log in logs)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["nightly-summary"]))
        )
        assert artifacts and artifacts[0].flow_run_id == run.id
        assert "核查发现" in str(artifacts[0].data) or "findings" in str(artifacts[0].data)
