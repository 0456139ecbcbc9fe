"""Annual snapshots (outputs.md §4), the pure parts: what a manifest says, and what differs
between a manifest and the files found.

The flow (`flows.snapshot`) reads the warehouse, writes the files and hashes them; here a
manifest is built from those facts, and an archive as found is compared with its manifest.
No I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, is_dataclass
from datetime import date, datetime
from typing import Any

from config.settings import HOME_COUNTY_NAME

MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
TABLES_DIR = "tables"
REPORTS_DIR = "reports"
POLICY_FILE = "policy.toml"


@dataclass(frozen=True, slots=True)
class FileFacts:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str  # changed / missing / extra / manifest / rows
    path: str
    detail: str = ""

    def line(self) -> str:
        """The problem in one Chinese line, naming the file."""
        if self.kind == "changed":
            return f"文件已被改动：{self.path}（{self.detail}）"
        if self.kind == "missing":
            return f"文件缺失：{self.path}"
        if self.kind == "extra":
            return f"多出清单以外的文件：{self.path}"
        if self.kind == "rows":
            return f"数据仓库中的归档表与清单不符：{self.path}（{self.detail}）"
        return f"归档清单有问题：{self.path}（{self.detail}）"


def table_file(source: str) -> str:
    """Where the Parquet file of a snapshot table lives inside the archive folder."""
    return f"{TABLES_DIR}/{source}.parquet"


def _plain(value: Any) -> Any:
    """JSON-ready: dataclasses as dicts, dates as ISO text, mapping keys as text."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


def build_manifest(
    *,
    year: int,
    created: datetime,
    code_version: Mapping[str, Any],
    policy: Any,
    run: Mapping[str, Any] | None,
    rows: Mapping[str, int],
    files: Mapping[str, FileFacts],
    note: str | None = None,
    county: str | None = None,
) -> dict[str, Any]:
    """The manifest of a year's archive: what was frozen (rows per table), every file with its
    SHA-256 and size, the policy parameters and code the reports were built with, the nightly
    run whose data it holds, and when it was made.  `county`: the name of the county archived
    (default: the home county; the flows pass the run's), as the title says it."""
    county = county or HOME_COUNTY_NAME
    return {
        "manifest_version": MANIFEST_VERSION,
        "title": f"{county}精准扶贫数据{year}年度归档",
        "year": year,
        "state_as_of": f"{year}-12-31",
        "created": created.isoformat(timespec="seconds"),
        "nightly_run": _plain(dict(run)) if run else None,
        "code_version": _plain(dict(code_version)),
        "policy": _plain(policy),
        "tables": {
            name: {"file": table_file(name), "rows": int(n)} for name, n in sorted(rows.items())
        },
        "files": {path: {"sha256": f.sha256, "bytes": f.size} for path, f in sorted(files.items())},
        "note": note or "",
    }


def compare(manifest: Mapping[str, Any], found: Mapping[str, FileFacts]) -> list[Problem]:
    """Every file the manifest lists that is changed or missing, and every file found that it
    does not list (the manifest itself excepted), in path order."""
    listed: Mapping[str, Mapping[str, Any]] = manifest.get("files", {})
    problems: list[Problem] = []
    for path in sorted(set(listed) | set(found)):
        if path == MANIFEST:
            continue
        want, have = listed.get(path), found.get(path)
        if want is None:
            problems.append(Problem("extra", path))
        elif have is None:
            problems.append(Problem("missing", path))
        elif have.sha256 != want.get("sha256"):
            detail = f"SHA-256 应为 {str(want.get('sha256'))[:12]}…，实为 {have.sha256[:12]}…"
            if have.size != want.get("bytes"):
                detail += f"；大小应为 {want.get('bytes')} 字节，实为 {have.size} 字节"
            problems.append(Problem("changed", path, detail))
    return problems


def compare_rows(manifest: Mapping[str, Any], rows: Mapping[str, int]) -> list[Problem]:
    """The snapshot tables in the warehouse against the row counts the manifest records."""
    tables: Mapping[str, Mapping[str, Any]] = manifest.get("tables", {})
    problems = []
    for name in sorted(set(tables) | set(rows)):
        want = tables.get(name, {}).get("rows")
        have = rows.get(name)
        if want != have:
            problems.append(
                Problem(
                    "rows",
                    f"snap_{name}",
                    f"清单记载 {want if want is not None else '无'} 行，"
                    f"数据仓库中为 {have if have is not None else '无'} 行",
                )
            )
    return problems


def code_version_label(code_version: Mapping[str, Any]) -> str:
    """`0.1.0+31a7ac9c2f1e` (`.dirty` when the working tree had changes), at most 64 chars."""
    label = str(code_version.get("package") or "unknown")
    commit = code_version.get("git_commit")
    if commit:
        label += f"+{str(commit)[:12]}"
        if code_version.get("git_dirty"):
            label += ".dirty"
    return label[:64]
