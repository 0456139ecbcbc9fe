"""Transforms are pure: the divisions, the policy and the settings come in as arguments
(built once per entry point, `config.settings.Resources`); no transform reads a file."""

from __future__ import annotations

import re
from pathlib import Path

TRANSFORMS = Path(__file__).resolve().parents[2] / "transforms"
READS = re.compile(
    r"\b(load_divisions|load_policy|load_settings|load_resources|value_limits|policy_path)\s*\("
    r"|\bopen\s*\(|\.read_(text|bytes|csv|parquet|excel)\s*\(|\bos\.environ\b|\bgetenv\s*\("
)
ALLOWED: set[tuple[str, str]] = set()  # (file, line) exceptions, with a reason each: none


def test_no_transform_reads_a_file_or_the_environment() -> None:
    found = [
        f"{path.name}:{n}: {line.strip()}"
        for path in sorted(TRANSFORMS.rglob("*.py"))
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if READS.search(line) and (path.name, line.strip()) not in ALLOWED
    ]
    assert found == []


def test_the_pattern_sees_what_it_forbids() -> None:
    for line in (
        "divisions = load_divisions()",
        "policy = load_policy(path)",
        "x = value_limits()",
        "with open(p) as fh:",
        "text = path.read_text(encoding='utf-8')",
        "frame = pl.read_csv(TARGETS)",
        "os.environ.get('FUPIN_POLICY_FILE')",
    ):
        assert READS.search(line), line
    assert not READS.search("divisions: Divisions")
