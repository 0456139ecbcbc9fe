"""A realistic, measurable twin of Nanxiong's poverty-alleviation data, with ground truth.

`generate(out_dir, scale, seed, as_of)` writes `out_dir/inbox/` in the layout of
shared/spec/sources.md (township workbooks, the 低保/特困 roll, the insurance enrolment and
the settlements) and `out_dir/truth/` (the expected findings R01-R15, the data-quality
issues, the injection log and a manifest). Township and village names and codes come from
config/nanxiong_divisions.csv (Vonng/adcode, CC BY 4.0, NBS 2016 codes).

`generate_city(out_dir, counties, scale, seed, as_of)` writes several counties of 韶关市 in
the multi-county layout (a folder per county, city-wide extracts), with the cross-county cases
and the city-wide truth (`city`, `cross`).
"""

from .city import generate_city
from .core import generate

__all__ = ["generate", "generate_city"]
