"""`python -m generator --out DIR [--scale S] [--seed N] [--as-of YYYY-MM-DD]`."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path

from .core import generate


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
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2018, 6, 30), dest="as_of")
    args = parser.parse_args(argv)
    if not 0 < args.scale <= 20:
        parser.error("--scale must be in (0, 20]")
    summary = generate(args.out, scale=args.scale, seed=args.seed, as_of=args.as_of)
    json.dump(summary, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
