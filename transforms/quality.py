"""Precision and recall of what the pipeline found against the generator's ground truth."""

from __future__ import annotations

import polars as pl

ROW_ISSUE_KEYS = ["kind", "file", "sheet", "row_no", "column"]
HOUSEHOLD_ISSUE_KEYS = ["kind", "household_id"]


def score(found: pl.DataFrame, truth: pl.DataFrame, group: str, keys: list[str]) -> pl.DataFrame:
    """Per `group` value: true positives, false positives, misses, precision and recall.

    A group with nothing expected and nothing found does not appear; precision of a group
    that found nothing is 1.0 (it claimed nothing wrong), recall of one expecting nothing 1.0.
    """
    f = found.select(keys).unique().with_columns(_found=pl.lit(True))
    t = truth.select(keys).unique().with_columns(_true=pl.lit(True))
    both = f.join(t, on=keys, how="full", coalesce=True, nulls_equal=True)
    counts = both.group_by(group).agg(
        tp=(pl.col("_found").fill_null(False) & pl.col("_true").fill_null(False)).sum(),
        fp=(pl.col("_found").fill_null(False) & pl.col("_true").is_null()).sum(),
        fn=(pl.col("_found").is_null() & pl.col("_true").fill_null(False)).sum(),
    )
    return counts.with_columns(
        expected=pl.col("tp") + pl.col("fn"),
        found=pl.col("tp") + pl.col("fp"),
        precision=pl.when(pl.col("tp") + pl.col("fp") > 0)
        .then(pl.col("tp") / (pl.col("tp") + pl.col("fp")))
        .otherwise(1.0),
        recall=pl.when(pl.col("tp") + pl.col("fn") > 0)
        .then(pl.col("tp") / (pl.col("tp") + pl.col("fn")))
        .otherwise(1.0),
    ).sort(group)


def overall(scores: pl.DataFrame) -> dict[str, float]:
    tp, fp, fn = (int(scores[c].sum()) for c in ("tp", "fp", "fn"))
    return {
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
    }


def score_findings(found: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """`found`: the findings export (or table) with rule and key; `truth`: truth/findings.csv."""
    f = found.with_columns(key=pl.col("key").str.replace(r"^R\d\d:", ""))
    return score(f, truth, "rule", ["rule", "key"])


def suggestion_accuracy(found: pl.DataFrame, truth: pl.DataFrame) -> dict[str, int]:
    """R07: of the suggestions given for true R07 findings, how many are the right ID."""
    f = found.filter(pl.col("rule") == "R07").with_columns(
        key=pl.col("key").str.replace(r"^R\d\d:", "")
    )
    t = truth.filter(pl.col("rule") == "R07").select("key", true_id="suggested_id")
    joined = f.join(t, on="key", how="inner")
    right = int((joined["suggested_id"] == joined["true_id"]).sum())
    return {"given": joined.height, "right": right}


def score_issues(found: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Row-level kinds match on file/sheet/row/column; household kinds on 户编号."""
    from config.schema import ISSUE_KINDS

    household_kinds = [k for k, (_, level) in ISSUE_KINDS.items() if level == "household"]
    cast = {
        "row_no": pl.Int64,
        "sheet": pl.Utf8,
        "file": pl.Utf8,
        "column": pl.Utf8,
        "household_id": pl.Utf8,
    }
    f = found.with_columns(pl.col(c).cast(t) for c, t in cast.items()).with_columns(
        pl.col("sheet").fill_null("")
    )
    t = truth.with_columns(pl.col(c).cast(t) for c, t in cast.items()).with_columns(
        pl.col("sheet").fill_null("")
    )
    is_household = pl.col("kind").is_in(household_kinds)
    rows = score(f.filter(~is_household), t.filter(~is_household), "kind", ROW_ISSUE_KEYS)
    households = score(f.filter(is_household), t.filter(is_household), "kind", HOUSEHOLD_ISSUE_KEYS)
    return pl.concat([rows, households]).sort("kind")
