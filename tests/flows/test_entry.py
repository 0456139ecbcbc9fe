"""The `fupin` entry point (`flows.cli.run`): main's exit code, everything written and every
atexit hook run, and no interpreter teardown after them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import atexit, logging, sys
from pathlib import Path
from flows import cli

out = Path(sys.argv[1])

class Kept:  # an object that lives until the teardown
    def __del__(self):
        (out / "teardown").write_text("ran")

kept = Kept()

def fake_main():
    atexit.register(lambda: (out / "hook").write_text("ran"))  # like Prefect's log drain
    log = logging.getLogger("probe")
    log.addHandler(logging.FileHandler(out / "log.txt", encoding="utf-8"))  # never closed
    log.warning("最后一行")
    import gc
    (out / "gc").write_text(str(gc.get_threshold()[0]))
    sys.stdout.write("x" * 200_000)  # no newline: still in the buffer
    return 3

cli.main = fake_main
cli.run()
"""


def test_run_exits_with_mains_code_after_every_hook_and_skips_the_teardown(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert done.stdout == "x" * 200_000
    assert (tmp_path / "hook").read_text() == "ran"
    assert (tmp_path / "log.txt").read_text(encoding="utf-8") == "最后一行\n"
    assert not (tmp_path / "teardown").exists()  # os._exit: no object is finalised
    assert (tmp_path / "gc").read_text() == "10000"  # young objects collected less often


def test_the_command_line_gets_the_exit_code_and_the_message(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "nightly", "--inbox", str(tmp_path / "none")],
        env={**os.environ, "PYTHONPATH": str(ROOT), "FUPIN_HOME": str(tmp_path / "home")},
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert done.returncode == 2
    assert "收件目录不存在" in done.stderr
