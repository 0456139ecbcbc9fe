"""`python -m generator --out DIR [--scale S] [--seed N] [--as-of YYYY-MM-DD] [--months N]
[--counties A,B,… | --city]`.

Without --months: one night, `DIR/inbox/` and `DIR/truth/` (`generate`).  With --months N: a
timeline of N nights from the as-of date (default 2018-01-31), `DIR/timeline.json` and
`DIR/nights/NN/{inbox,truth}/` (`timeline.generate_timeline`).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from .core import generate
from .params import SINGLE_NIGHT, TIMELINE_START
from .timeline import generate_timeline


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m generator", description="生成南雄市扶贫数据孪生（含标准答案）"
    )
    parser.add_argument(
        "--out", required=True, type=Path, help="output folder (inbox/ and truth/ are replaced)"
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="1.0 = Nanxiong (6,289 households); 0.01 for tests"
    )
    parser.add_argument("--seed", type=int, default=20161010)
    parser.add_argument(
        "--as-of",
        type=date.fromisoformat,
        default=None,
        dest="as_of",
        help=f"the night (default {SINGLE_NIGHT}); with --months the first night (default {TIMELINE_START})",
    )
    parser.add_argument(
        "--months",
        type=int,
        default=None,
        help="write a timeline of this many monthly nights (nights/ and timeline.json are replaced)",
    )
    parser.add_argument(
        "--counties", help="several counties of 韶关市, comma-separated codes (generator.city)"
    )
    parser.add_argument("--city", action="store_true", help="all ten counties of 韶关市")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 20:
        parser.error("--scale must be in (0, 20]")
    if args.counties or args.city:
        if args.months is not None:
            parser.error("--months is for one county only")
        from config.settings import city_counties

        from .city import generate_city

        codes = list(city_counties()) if args.city else args.counties.split(",")
        summary = generate_city(
            args.out, codes, scale=args.scale, seed=args.seed, as_of=args.as_of or SINGLE_NIGHT
        )
    elif args.months is not None:
        if args.months < 1:
            parser.error("--months must be at least 1")
        start = args.as_of or TIMELINE_START
        summary = generate_timeline(
            args.out, scale=args.scale, seed=args.seed, start=start, months=args.months
        )
    else:
        summary = generate(
            args.out, scale=args.scale, seed=args.seed, as_of=args.as_of or SINGLE_NIGHT
        )
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
