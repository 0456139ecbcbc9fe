"""Every key of config/policy.toml is read into the Policy, and no other key is accepted."""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from config.policy_file import dump_policy
from config.settings import POLICY_TOML, Policy, load_policy, load_settings, value_limits


def _leaves(table: dict[str, Any], path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _leaves(value, (*path, key))
        else:
            yield (*path, key)


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value * 2 + 1
    if isinstance(value, list):
        return [*value, "中"]
    if isinstance(value, str):
        return (date.fromisoformat(value).replace(year=2000)).isoformat()
    raise TypeError(value)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(f'"{v}"' for v in value) + "]"
    if isinstance(value, str):
        return f'"{value}"'
    return repr(value)


def _write(data: dict[str, Any], path: Path) -> Path:
    """A TOML file of `data` (tables of scalars, nested tables as [a.b])."""
    lines: list[str] = []

    def table(name: str, t: dict[str, Any]) -> None:
        lines.append(f"[{name}]")
        subs = []
        for k, v in t.items():
            if isinstance(v, dict):
                subs.append((k, v))
            else:
                lines.append(f'"{k}" = {_toml(v)}')
        for k, v in subs:
            table(f"{name}.{k}", v)

    for name, t in data.items():
        table(name, t)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


OURS = tomllib.loads(POLICY_TOML.read_text(encoding="utf-8"))
LEAVES = list(_leaves(OURS))


def test_the_writer_round_trips(tmp_path: Path) -> None:
    assert load_policy(_write(OURS, tmp_path / "p.toml")) == load_policy(POLICY_TOML)


@pytest.mark.parametrize("leaf", LEAVES, ids=".".join)
def test_every_key_is_read_into_the_policy(leaf: tuple[str, ...], tmp_path: Path) -> None:
    data = tomllib.loads(POLICY_TOML.read_text(encoding="utf-8"))
    t = data
    for k in leaf[:-1]:
        t = t[k]
    t[leaf[-1]] = _changed(t[leaf[-1]])
    assert load_policy(_write(data, tmp_path / "p.toml")) != load_policy(POLICY_TOML), leaf


# A county's own figures (policy.md): what a county without a policy file of its own does not
# take from the configured one, 南雄市's.  Every other key is a province-wide rule.
FIGURES = {"households", "persons", "poor_villages", "villages", "townships"}
TARGETS = {"target_persons_out", "target_via_dibao", "all_villages_exit", "townships"}


def _is_figure(leaf: tuple[str, ...]) -> bool:
    return (
        (leaf[0] == "city" and leaf[-1] in FIGURES)
        or leaf[0] == "support_units"
        or (leaf[0] == "years" and (leaf[2] in TARGETS))
    )


@pytest.mark.parametrize("leaf", LEAVES, ids=".".join)
def test_a_county_without_figures_takes_every_rule_and_no_figure(
    leaf: tuple[str, ...], tmp_path: Path
) -> None:
    """Change one key of the configured policy: a county that borrows it without figures
    sees the change exactly when the key is a rule."""
    data = tomllib.loads(POLICY_TOML.read_text(encoding="utf-8"))
    t = data
    for k in leaf[:-1]:
        t = t[k]
    t[leaf[-1]] = _changed(t[leaf[-1]])
    borrowed = load_policy(_write(data, tmp_path / "p.toml"), figures=False)
    assert (borrowed == load_policy(POLICY_TOML, figures=False)) == _is_figure(leaf), leaf


def test_without_figures_every_figure_is_unknown() -> None:
    ours, rules = load_policy(POLICY_TOML), load_policy(POLICY_TOML, figures=False)
    assert ours.figures_known and not rules.figures_known
    assert rules == ours.without_figures()
    assert {getattr(rules, f) for f in FIGURES} == {None}
    assert rules.support_units == {} and rules.township_targets() == []
    assert set(rules.years) == set(ours.years)
    for year, p in rules.years.items():
        assert (p.target_persons_out, p.target_via_dibao, p.all_villages_exit) == (
            None,
            None,
            False,
        )
        assert (p.exit_line, p.village_exit_line) == (
            ours.years[year].exit_line,
            ours.years[year].village_exit_line,
        )
    assert load_policy(POLICY_TOML, figures=True) == ours  # the default: as it always was


@pytest.mark.parametrize("section", [*(s for s in OURS if s != "support_units"), "years.2017"])
def test_an_unknown_key_is_refused(section: str, tmp_path: Path) -> None:
    data = tomllib.loads(POLICY_TOML.read_text(encoding="utf-8"))
    t = data
    for k in section.split("."):
        t = t[k]
    if section == "years":
        data["years"]["2021"] = {"exit_lin": 1}
    else:
        t["no_such_key"] = 1
    with pytest.raises((ValueError, KeyError)):
        load_policy(_write(data, tmp_path / "p.toml"))


def test_a_new_support_unit_type_is_a_key_of_its_own(tmp_path: Path) -> None:
    """[support_units] is keyed by unit type: a type the shipped file lacks is read, not
    refused."""
    data = tomllib.loads(POLICY_TOML.read_text(encoding="utf-8"))
    data["support_units"]["佛山市"] = 3
    assert load_policy(_write(data, tmp_path / "p.toml")) != load_policy(POLICY_TOML)


def test_an_unknown_section_is_refused(tmp_path: Path) -> None:
    data = {**OURS, "asessment": {"toilet_rate_line": 90.0}}
    with pytest.raises(ValueError, match="asessment"):
        load_policy(_write(data, tmp_path / "p.toml"))


def test_one_resolution_of_the_policy_file(tmp_path: Path, monkeypatch) -> None:
    data = tomllib.loads(POLICY_TOML.read_text(encoding="utf-8"))
    data["city"]["overdue_days"] = 45
    data["values"]["income_max"] = 50_000
    path = _write(data, tmp_path / "p.toml")
    monkeypatch.setenv("FUPIN_POLICY_FILE", str(path))
    assert load_settings().policy_file == path
    assert load_policy().overdue_days == 45  # no path: FUPIN_POLICY_FILE
    assert value_limits().income_max == 50_000
    assert load_policy(POLICY_TOML).overdue_days == 30  # a path wins
    path.write_text(
        path.read_text(encoding="utf-8").replace('"overdue_days" = 45', '"overdue_days" = 46'),
        encoding="utf-8",
    )
    assert load_policy().overdue_days == 46  # an edited file is read again


def _through_the_writer(policy: Policy, tmp_path: Path) -> Policy:
    path = tmp_path / "written.toml"
    path.write_text(dump_policy(policy, ["a header line"]), encoding="utf-8")
    return load_policy(path)


@pytest.mark.parametrize("leaf", LEAVES, ids=".".join)
def test_the_projects_writer_gives_back_every_key(leaf: tuple[str, ...], tmp_path: Path) -> None:
    """`config.policy_file.dump_policy` writes what `load_policy` reads back the same, every
    key changed in turn (the generator writes each generated county's policy with it)."""
    data = tomllib.loads(POLICY_TOML.read_text(encoding="utf-8"))
    t = data
    for k in leaf[:-1]:
        t = t[k]
    t[leaf[-1]] = _changed(t[leaf[-1]])
    policy = load_policy(_write(data, tmp_path / "p.toml"))
    assert _through_the_writer(policy, tmp_path) == policy


def test_the_projects_writer_keeps_township_targets_and_refuses_no_figures(
    tmp_path: Path,
) -> None:
    ours = load_policy(POLICY_TOML)
    assert _through_the_writer(ours, tmp_path) == ours
    years = dict(ours.years)
    years[2017] = replace(years[2017], township_targets={"440282100": 900, "440282101": 12})
    with_towns = replace(ours, years=years)
    assert _through_the_writer(with_towns, tmp_path).township_targets() == [
        ("440282100", 2017, 900),
        ("440282101", 2017, 12),
    ]
    with pytest.raises(ValueError, match="without its county's figures"):
        dump_policy(ours.without_figures())
