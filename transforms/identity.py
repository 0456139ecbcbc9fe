"""Identity resolution: which resident a roster row is about.

Tiers, recorded on every link as its reason:
  exact         the written ID, normalised, is valid
  legacy15      a correct 15-digit ID, converted to 18 digits
  typo          invalid as written; exactly one valid ID in the 低保 or insurance sources differs
                by one substituted character or one swap of neighbours and carries the same
                name (same characters, or the same pinyin)
  excel_prefix  Excel destroyed the last digits; exactly one valid ID shares the 15 surviving
                digits and carries the same name
  ambiguous     several such candidates (R08 lists them)
  none          invalid and no candidate (R08)

The system extracts (低保, enrolment, settlement) are keyed by their own normalised IDs; only
the hand-typed roster is repaired.
"""

from __future__ import annotations

import polars as pl

from transforms import ids
from transforms.names import pinyin_key

EXACT, LEGACY15, TYPO, EXCEL_PREFIX, AMBIGUOUS, NONE = (
    "exact",
    "legacy15",
    "typo",
    "excel_prefix",
    "ambiguous",
    "none",
)
REPAIRED_TIERS = (TYPO, EXCEL_PREFIX)
_DIGITS = "0123456789"


def reference_ids(*frames: pl.DataFrame) -> pl.DataFrame:
    """Valid IDs with the names (and villages) the system extracts hold them under.

    Lazy, so only the three columns are read: an eager filter would first copy every
    column of the 12M-row enrolment extract at scale 10.
    """
    valid = pl.col("id_status").is_in([ids.VALID, ids.LEGACY15])
    parts = [
        f.lazy()
        .filter(valid)
        .select(
            pl.col("id_norm").alias("candidate"),
            pl.col("name").alias("candidate_name"),
            (pl.col("village") if "village" in f.columns else pl.lit(None, pl.Utf8)).alias(
                "candidate_village"
            ),
        )
        for f in frames
    ]
    if not parts:
        return pl.DataFrame(
            schema={"candidate": pl.Utf8, "candidate_name": pl.Utf8, "candidate_village": pl.Utf8}
        )
    return (
        pl.concat(parts)
        .unique(["candidate", "candidate_name"], keep="first", maintain_order=True)
        .collect()
    )


def one_edit_variants(written: str) -> list[str]:
    """Every ID one substituted character or one swap of neighbours away from `written`."""
    out: list[str] = []
    for pos, char in enumerate(written):
        alphabet = _DIGITS + ("X" if pos == 17 else "")
        out.extend(written[:pos] + c + written[pos + 1 :] for c in alphabet if c != char)
    for pos in range(len(written) - 1):
        a, b = written[pos], written[pos + 1]
        if a != b:
            out.append(written[:pos] + b + a + written[pos + 2 :])
    return out


def _candidates(invalid: pl.DataFrame, reference: pl.DataFrame) -> pl.DataFrame:
    """(row_idx, candidate, how) for every reference ID within one edit or sharing Excel's prefix."""
    typo_rows = invalid.filter(
        (pl.col("id_status") != ids.EXCEL_MANGLED) & (pl.col("id_norm").str.len_chars() == 18)
    )
    variants = pl.DataFrame(
        {
            "row_idx": typo_rows["row_idx"],
            "candidate": [one_edit_variants(w) for w in typo_rows["id_norm"].to_list()],
        },
        schema={"row_idx": pl.UInt32, "candidate": pl.List(pl.Utf8)},
    ).explode("candidate")
    by_typo = variants.join(reference, on="candidate", how="inner").with_columns(how=pl.lit(TYPO))

    mangled = invalid.filter(pl.col("id_status") == ids.EXCEL_MANGLED).select(
        "row_idx", prefix=pl.col("id_norm").str.slice(0, 15)
    )
    by_prefix = (
        mangled.join(
            reference.with_columns(prefix=pl.col("candidate").str.slice(0, 15)),
            on="prefix",
            how="inner",
        )
        .drop("prefix")
        .with_columns(how=pl.lit(EXCEL_PREFIX))
    )
    return pl.concat([by_typo, by_prefix.select(by_typo.columns)])


def resolve_roster(persons: pl.DataFrame, reference: pl.DataFrame) -> pl.DataFrame:
    """Add identity, tier, suggested_id, candidates and match evidence to roster rows.

    `identity` is what every rule but R07/R08 uses; `suggested_id` is set for the repaired
    tiers; `candidates` lists the same-name candidates when there are several (R08).
    """
    frame = persons.with_row_index("row_idx")
    valid = pl.col("id_status").is_in([ids.VALID, ids.LEGACY15])
    invalid = frame.filter(~valid & (pl.col("id_status") != ids.BLANK))

    cands = _candidates(invalid.select("row_idx", "id_norm", "id_status"), reference)
    cands = cands.join(frame.select("row_idx", "name", "village"), on="row_idx", how="left")
    names = pl.concat([cands["name"], cands["candidate_name"]]).drop_nulls().unique().to_list()
    keys = pl.DataFrame(
        {"n": names, "k": [pinyin_key(n) for n in names]}, schema={"n": pl.Utf8, "k": pl.Utf8}
    )
    cands = (
        cands.join(keys.rename({"n": "name", "k": "py"}), on="name", how="left")
        .join(keys.rename({"n": "candidate_name", "k": "cpy"}), on="candidate_name", how="left")
        .with_columns(
            same_chars=pl.col("name") == pl.col("candidate_name"),
            same_pinyin=pl.col("py") == pl.col("cpy"),
            same_village=_bare_village(pl.col("village"))
            == _bare_village(pl.col("candidate_village")),
        )
        .filter(pl.col("same_chars") | pl.col("same_pinyin"))
    )
    per_row = cands.group_by("row_idx").agg(
        candidates=pl.col("candidate").unique().sort(),
        how=pl.col("how").first(),
        same_chars=pl.col("same_chars").any(),
        same_village=pl.col("same_village").any(),
    )
    frame = frame.join(per_row, on="row_idx", how="left")
    n = pl.col("candidates").list.len().fill_null(0)
    single = n == 1
    tier = (
        pl.when(pl.col("id_status") == ids.VALID)
        .then(pl.lit(EXACT))
        .when(pl.col("id_status") == ids.LEGACY15)
        .then(pl.lit(LEGACY15))
        .when(single)
        .then(pl.col("how"))
        .when(n > 1)
        .then(pl.lit(AMBIGUOUS))
        .otherwise(pl.lit(NONE))
    )
    suggested = pl.when(~valid & single).then(pl.col("candidates").list.first())
    return (
        frame.with_columns(tier=tier, suggested_id=suggested)
        .with_columns(
            identity=pl.when(valid).then(pl.col("id_norm")).otherwise(pl.col("suggested_id")),
            candidates=pl.when(n > 1).then(pl.col("candidates")).otherwise(pl.lit(None)),
            match_score=pl.when(valid)
            .then(1.0)
            .when(single & pl.col("same_chars"))
            .then(0.95)
            .when(single)
            .then(0.85)
            .otherwise(0.0),
            name_agreement=pl.when(~valid & single & pl.col("same_chars"))
            .then(pl.lit("same_chars"))
            .when(~valid & single)
            .then(pl.lit("same_pinyin")),
            village_agrees=pl.when(~valid & single).then(pl.col("same_village")),
        )
        .drop("row_idx", "how", "same_chars", "same_village")
    )


def _bare_village(expr: pl.Expr) -> pl.Expr:
    return expr.str.replace_all(r"[\s\u3000]", "").str.replace(r"(村委会|村民委员会|委会)$", "村")


def source_identity(frame: pl.DataFrame) -> pl.DataFrame:
    """System extracts: the identity is the normalised ID when valid, else none."""
    return frame.with_columns(
        identity=pl.when(pl.col("id_status").is_in([ids.VALID, ids.LEGACY15])).then(
            pl.col("id_norm")
        )
    )
