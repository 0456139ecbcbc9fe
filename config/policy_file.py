"""A Policy written back as a policy file (`config/policy.toml`'s sections and keys), read
again by `config.settings.load_policy` to the same Policy.  The generator writes each
generated county's policy with it (`generator.policies`)."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import fields
from datetime import date
from typing import Any

from config.settings import Policy, YearPolicy

# [city]: the county's figures, then the province-wide rules kept beside them.
CITY_KEYS = (
    "households",
    "persons",
    "poor_villages",
    "villages",
    "townships",
    "registration_income_line",
    "village_registration_income_line",
    "village_poor_share",
    "medical_assistance_share",
    "medical_assistance_tolerance",
    "housing_deadline",
    "overdue_days",
)


def dump_policy(policy: Policy, header: Iterable[str] = ()) -> str:
    """The text of a policy file that `load_policy` reads as `policy`, each line of `header`
    first as a comment.  Only a policy with its county's figures can be written: a file
    without them is not a policy file (`Policy.figures_known`)."""
    if not policy.figures_known:
        raise ValueError("a policy without its county's figures cannot be written as a file")
    lines = [f"# {line}".rstrip() for line in header]
    _table(lines, "city", {k: getattr(policy, k) for k in CITY_KEYS})
    hold = policy.submissions
    _table(lines, "submissions", {f"hold_{f.name}": getattr(hold, f.name) for f in fields(hold)})
    _table(lines, "inbox", _fields(policy.inbox))
    _table(lines, "support_units", policy.support_units)
    _table(lines, "values", _fields(policy.values))
    for year, p in sorted(policy.years.items()):
        _table(lines, f"years.{year}", _year(p))
        if p.township_targets:
            _table(lines, f"years.{year}.townships", dict(sorted(p.township_targets.items())))
    _table(lines, "assessment", _fields(policy.assessment))
    return "\n".join(lines) + "\n"


def _fields(obj: Any) -> dict[str, Any]:
    return {f.name: getattr(obj, f.name) for f in fields(obj)}


def _year(p: YearPolicy) -> dict[str, Any]:
    out: dict[str, Any] = {
        "exit_line": p.exit_line,
        "village_exit_line": p.village_exit_line,
        "target_persons_out": p.target_persons_out,
    }
    if p.target_via_dibao is not None:
        out["target_via_dibao"] = p.target_via_dibao
    if p.all_villages_exit:
        out["all_villages_exit"] = True
    return out


def _table(lines: list[str], name: str, values: Mapping[str, Any]) -> None:
    if lines:
        lines.append("")
    lines.append(f"[{name}]")
    lines += [f"{_key(k)} = {_value(v)}" for k, v in values.items()]


def _key(key: str) -> str:
    bare = key.isascii() and key.replace("_", "").replace("-", "").isalnum()
    return key if bare else json.dumps(key, ensure_ascii=False)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, date):
        return json.dumps(value.isoformat())
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {type(value).__name__}: {value!r}")


__all__ = ["dump_policy"]
