"""The layering of architecture.md, read from the sources: SQL only under `warehouse/`, and
no import circle between the flows (function-local imports count: they only hide one)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NO_SQL_PACKAGES = ("flows", "reports", "transforms")
# SQLAlchemy names that build or run SQL; types (Engine, Connection) and errors stay allowed.
SQL_BUILDERS = frozenset(
    {"text", "select", "insert", "update", "delete", "func", "or_", "and_", "tuple_", "literal"}
)
SQL_CALLS = frozenset({"execute", "exec_driver_sql", "executemany", "scalars"})


def _sources(*packages: str) -> Iterator[Path]:
    for package in packages:
        yield from sorted((ROOT / package).rglob("*.py"))


def _sql_uses(path: Path) -> list[str]:
    """Every place in `path` that writes or runs SQL, as 'file:line what'."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    rel = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.name
    found = []
    for node in ast.walk(tree):
        what = None
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            names = sorted({a.name for a in node.names} & SQL_BUILDERS)
            if names:
                what = f"from {node.module} import {', '.join(names)}"
        elif isinstance(node, ast.Attribute):
            owner = node.value.id if isinstance(node.value, ast.Name) else None
            if owner in ("sqlalchemy", "sa") and node.attr in SQL_BUILDERS:
                what = f"{owner}.{node.attr}"
            elif owner == "models" and node.attr == "table":
                what = "models.table"
            elif node.attr == "__table__":
                what = "__table__"
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SQL_CALLS
        ):
            what = f".{node.func.attr}()"
        if what is not None:
            found.append(f"{rel}:{node.lineno} {what}")
    return found


def test_sql_is_written_only_in_the_warehouse() -> None:
    uses = [use for path in _sources(*NO_SQL_PACKAGES) for use in _sql_uses(path)]
    assert not uses, "SQL outside warehouse/ (add a named reader to warehouse.queries):\n" + (
        "\n".join(uses)
    )


def test_the_sql_check_sees_sql(tmp_path: Path) -> None:
    """The check above would notice each spelling it is meant to catch."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from sqlalchemy import select, text\n"
        "import sqlalchemy as sa\n"
        "from warehouse import models\n"
        "def f(conn):\n"
        "    t = models.table('run')\n"
        "    conn.execute(select(t))\n"
        "    conn.exec_driver_sql('SELECT 1')\n"
        "    return sa.text('x'), models.Run.__table__\n",
        encoding="utf-8",
    )
    kinds = {u.split(" ", 1)[1] for u in _sql_uses(probe)}
    assert kinds == {
        "from sqlalchemy import select, text",
        "models.table",
        ".execute()",
        ".exec_driver_sql()",
        "sa.text",
        "__table__",
    }


# ---------------------------------------------------------------- import circles
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports anywhere in its body (module level or inside a
    function), `from package import module` resolved to the module."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name in known}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module in known:
                out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names} & known
    return out


def _graph(*packages: str) -> dict[str, set[str]]:
    paths = {_module_name(p): p for p in _sources(*packages)}
    known = set(paths)
    return {name: _imports(path, known) - {name} for name, path in paths.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_flows_import_no_circle() -> None:
    cycles = _cycles(_graph("flows"))
    assert not cycles, f"import circles among flows/ (function-local imports count): {cycles}"


def test_deployments_and_snapshot_do_not_import_each_other() -> None:
    graph = _graph("flows")
    assert "flows.deployments" not in graph["flows.snapshot"]
    assert "flows.notify" in graph["flows.snapshot"]  # the failure notice is a leaf both use
    assert not graph["flows.notify"] & {"flows.deployments", "flows.snapshot"}


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]]),
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
    ],
)
def test_the_circle_finder(graph: dict[str, set[str]], expected: list[list[str]]) -> None:
    assert _cycles(graph) == expected


def test_every_package_says_what_it_exports() -> None:
    """Each package's `__init__` names its public surface (`__all__`)."""
    root = Path(__file__).resolve().parents[1]
    silent = [
        init.relative_to(root).as_posix()
        for package in ("flows", "transforms", "warehouse", "reports", "expectations", "config")
        for init in (root / package).rglob("__init__.py")
        if "migrations" not in init.parts and "__all__" not in init.read_text(encoding="utf-8")
    ]
    assert not silent, f"packages without __all__: {silent}"
