"""A generated city for the flow tests, made through the command line, and a county's
generated policy installed where operations.md §10 says: FUPIN_HOME/<code>/policy.toml.  A
county left without one judges with the configured policy (南雄市) or, any other county, its
rules alone (`flows.city.unit_settings`)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from pathlib import Path

from flows.cli import main as fupin

# Where a report of a county without figures says so, and what of 南雄市's it must not quote.
NO_TARGETS = "本市未在 policy.toml 中配置脱贫计划目标，目标完成类指标暂不列示。"
NANXIONG_FIGURES = ("相对贫困村68个", "15,888", "15888", "6,289", "6289")


def generate(world: Path, counties: Iterable[str], seed: int, scale: str = "0.02") -> None:
    """A small generated city of `counties`: DIR/inbox, DIR/truth and DIR/policy."""
    args = ["generate", "--out", str(world), "--counties", ",".join(counties)]
    assert fupin([*args, "--scale", scale, "--seed", str(seed)]) == 0


def install_policy(world: Path, home: Path, county: str) -> Path:
    """The generated policy of `county` copied to its home under FUPIN_HOME `home`."""
    target = home / county / "policy.toml"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(world / "policy" / f"{county}.toml", target)
    return target
