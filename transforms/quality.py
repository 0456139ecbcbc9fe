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


def score_city_findings(found: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """As `score_findings`, a finding being a county's (`county_code`, rule, key): the
    city-wide export's findings against a multi-county truth."""
    f = found.with_columns(key=pl.col("key").str.replace(r"^R\d\d:", ""))
    return score(f, truth, "rule", ["county_code", "rule", "key"])


def suggestion_accuracy(found: pl.DataFrame, truth: pl.DataFrame) -> dict[str, int]:
    """R07: of the suggestions given for true R07 findings, how many are the right ID."""
    f = found.filter(pl.col("rule") == "R07").with_columns(
        key=pl.col("key").str.replace(r"^R\d\d:", "")
    )
    t = truth.filter(pl.col("rule") == "R07").select("key", true_id="suggested_id")
    joined = f.join(t, on="key", how="inner")
    right = int((joined["suggested_id"] == joined["true_id"]).sum())
    return {"given": joined.height, "right": right}


def score_issues(found: pl.DataFrame, truth: pl.DataFrame, city: bool = False) -> pl.DataFrame:
    """Row-level kinds match on file/sheet/row/column; household kinds on 户编号; in a city
    (`city`: the city's export against a multi-county truth) each within its county."""
    f, t = _evidence(found), _evidence(truth)
    county = ["county_code"] if city else []
    is_household = pl.col("kind").is_in(_household_kinds())
    rows = score(f.filter(~is_household), t.filter(~is_household), "kind", county + ROW_ISSUE_KEYS)
    households = score(
        f.filter(is_household), t.filter(is_household), "kind", county + HOUSEHOLD_ISSUE_KEYS
    )
    return pl.concat([rows, households]).sort("kind")


# --- a night of a timeline ------------------------------------------------------------------


def _household_kinds() -> list[str]:
    from config.schema import ISSUE_KINDS

    return [k for k, (_, level) in ISSUE_KINDS.items() if level == "household"]


def _evidence(frame: pl.DataFrame) -> pl.DataFrame:
    """Issue rows with the columns they are matched on, typed alike on both sides."""
    cast = {
        "row_no": pl.Int64,
        **dict.fromkeys(("sheet", "file", "column", "household_id"), pl.Utf8),
    }
    return frame.with_columns(pl.col(c).cast(t) for c, t in cast.items()).with_columns(
        pl.col("sheet").fill_null("")
    )


def _issue_pairs(found: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """Found and true issues side by side (first_seen, first_seen_true), matched as
    `score_issues` matches them."""
    f, t = _evidence(found), _evidence(truth)
    household = pl.col("kind").is_in(_household_kinds())
    parts = []
    for keys, where in ((ROW_ISSUE_KEYS, ~household), (HOUSEHOLD_ISSUE_KEYS, household)):
        right = t.filter(where).select(*keys, first_seen_true=pl.col("first_seen").cast(pl.Utf8))
        left = f.filter(where).select(*keys, first_seen=pl.col("first_seen").cast(pl.Utf8))
        parts.append(
            left.join(right.unique(keys), on=keys, how="inner", nulls_equal=True).select(
                "kind", "first_seen", "first_seen_true"
            )
        )
    return pl.concat(parts)


def score_night(
    findings: pl.DataFrame,
    issues: pl.DataFrame,
    truth: dict[str, pl.DataFrame],
    as_of: str,
) -> dict[str, dict[str, float] | int]:
    """What a night of a timeline got right: findings and issues in force (precision and
    recall), first_seen of those found and true, and what resolved that night.

    `findings`: the finding table; `issues`: the dq_issue table with `file` (inbox-relative
    name of its evidence file); both with every status.  `truth`: the night's findings,
    issues and resolved frames (generator.timeline); `as_of`: the night, ISO."""
    open_f = findings.filter(pl.col("status") == "open")
    open_i = issues.filter(pl.col("status") == "open")
    key = pl.col("key").str.replace(r"^R\d\d:", "")
    f_pairs = open_f.with_columns(key, pl.col("first_seen").cast(pl.Utf8)).join(
        truth["findings"].select("rule", "key", first_seen_true="first_seen"),
        on=["rule", "key"],
        how="inner",
    )
    i_pairs = _issue_pairs(open_i, truth["issues"])
    gone = truth["resolved"]
    resolved_f = findings.filter(pl.col("resolved_on").cast(pl.Utf8) == as_of)
    resolved_i = issues.filter(pl.col("resolved_on").cast(pl.Utf8) == as_of)
    gone_f = gone.filter(pl.col("what") == "finding").select("rule", "key")
    gone_i = gone.filter(pl.col("what") == "issue").rename({"rule": "kind"})
    household = pl.col("kind").is_in(_household_kinds())
    resolved_issues = [
        score(
            _evidence(resolved_i).filter(where),
            _evidence(gone_i).filter(where),
            "kind",
            keys,
        )
        for keys, where in ((ROW_ISSUE_KEYS, ~household), (HOUSEHOLD_ISSUE_KEYS, household))
    ]
    return {
        "findings": overall(score_findings(open_f, truth["findings"])),
        "issues": overall(score_issues(open_i, truth["issues"])),
        "findings_first_seen_wrong": int(
            (f_pairs["first_seen"] != f_pairs["first_seen_true"]).sum()
        ),
        "issues_first_seen_wrong": int((i_pairs["first_seen"] != i_pairs["first_seen_true"]).sum()),
        "resolved_findings": overall(score_findings(resolved_f, gone_f)),
        "resolved_issues": overall(pl.concat(resolved_issues)),
    }
