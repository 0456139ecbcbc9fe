"""What every report does to text before anyone reads it: ID numbers masked.  Applied to the
whole data dict at the rendering boundary, whatever the context builder already did, so a new
column cannot leak an ID.  (Formulas are neutralised where cells are written, by the one
guard of every CSV and XLSX writer: `transforms.safe_cells`.)"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from transforms.ids import mask_id

# An 18-character resident ID (area, birth date 18xx-20xx, sequence, check) or a 15-digit legacy
# one, standing alone (not inside a longer run of digits or letters).
_ID18 = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[0-9Xx](?![0-9A-Za-z])"
)
_ID15 = re.compile(
    r"(?<![0-9A-Za-z])[1-9]\d{5}\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}(?![0-9A-Za-z])"
)


def scrub_ids(text: str) -> str:
    """Mask every resident ID number inside free text (440282********1234)."""
    text = _ID18.sub(lambda m: mask_id(m.group(0)), text)
    return _ID15.sub(lambda m: mask_id(m.group(0)), text)


def scrub(value: Any) -> Any:
    """`scrub_ids` over every string of a nested structure of dicts, lists and tuples."""
    if isinstance(value, str):
        return scrub_ids(value)
    if isinstance(value, Mapping):
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value
