"""findings' evidence: stored text repaired where it was not JSON

Findings' evidence is now a list-of-struct column in the transforms, encoded as JSON only by
the warehouse (`warehouse.nested`) and decoded strictly on read.  Before, the rules wrote the
JSON by hand without escaping, so a sheet name with `"` or `\\` (Excel allows `"`) gave text
that is not JSON, which the strict reader would refuse, stopping every later night.  Such rows
of `finding` are rewritten here to the encoder's form; every other row is left byte for byte.

Snapshots (`snap_finding`) stay as they were frozen: the archive is rebuilt from the stored
text as it is (`warehouse.db.read_snapshot(..., stored=True)`), never decoded.

Revision ID: 0007
Revises: 0006
Create Date: 2027-02-01 08:00:00

"""

import json
import logging
import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# One source row as the old rules wrote it: fields in this order, the sheet unescaped.
_ROW = re.compile(
    r'\{"source":"(?P<source>[a-z_]*)","file_id":(?P<file_id>-?\d+|null),'
    r'"sheet":"(?P<sheet>.*?)","row_no":(?P<row_no>-?\d+|null)\}(?=,\{"source":"|\]$)',
    re.S,
)


def _number(text: str) -> int | None:
    return None if text == "null" else int(text)


def repaired(text: str) -> str | None:
    """The encoder's form of an old evidence text that is not JSON; None when the text is
    not the old rules' shape either."""
    if not (text.startswith("[") and text.endswith("]")):
        return None
    rows = list(_ROW.finditer(text, 1))
    if not rows or "".join(m.group(0) for m in rows) != text[1:-1].replace("},{", "}{"):
        return None
    items = [
        {
            "source": m["source"],
            "file_id": _number(m["file_id"]),
            "sheet": m["sheet"],
            "row_no": _number(m["row_no"]),
        }
        for m in rows
    ]
    return json.dumps(items, ensure_ascii=False, separators=(",", ":"))


def upgrade() -> None:
    bind = op.get_bind()
    finding = sa.table("finding", sa.column("id", sa.BigInteger), sa.column("evidence", sa.Text))
    bad: list[tuple[int, str]] = []
    for row_id, text in bind.execute(
        sa.select(finding.c.id, finding.c.evidence).where(finding.c.evidence.is_not(None))
    ):
        try:
            json.loads(text)
        except ValueError:
            bad.append((row_id, text))
    left = 0
    for row_id, text in bad:
        fixed = repaired(text)
        if fixed is None:
            # Not even the old shape: emptied rather than left to stop every later read; the
            # next night that still finds the problem records where it is seen again.
            left += 1
            fixed = "[]"
        bind.execute(sa.update(finding).where(finding.c.id == row_id).values(evidence=fixed))
    if bad:
        logging.getLogger("alembic").warning(
            "finding evidence: %d row(s) repaired to JSON, %d emptied (not the old shape)",
            len(bad) - left,
            left,
        )


def downgrade() -> None:
    pass  # the repaired text is valid JSON of the same rows; nothing to undo
