"""A Splink 5 (DuckDB) model of our identity question, to measure against transforms.identity.

Roster persons are linked (link_only) to the reference persons of the 低保 and insurance
extracts: one record per valid ID and name, as `transforms.identity.reference_ids` builds
it, so both resolvers start from the same reference.

Fields and comparisons (the best this data offers Splink; it is what we compare, not a
straw man):
  id        exact / one edit (Damerau-Levenshtein ≤ 1: a substitution, a swap of
            neighbours, or a character dropped or added) / Excel prefix (first 15 equal, one
            side ends 000) / two edits / else;
            the u of "one edit" is counted, not sampled (see `one_edit_u`)
  name      exact / same pinyin (surname readings of transforms.names) / Jaro-Winkler ≥ 0.8
            / else
  birth     the 8 birth-date digits of the ID: exact / one edit / else
  village   the village with 村委会/村民委员会 folded to 村: exact / else
Blocking for prediction: the ID; its first 15 characters; same pinyin and the same area
code, birth date or last four characters (one edit leaves two of the three intact).
Training: u by random sampling, m by EM blocked on pinyin + birth date (trains id and
village), on the ID (trains name and village) and on pinyin + village (trains id and birth,
typo levels included); the prior is set from what we know (each roster person has about one
record among the reference's N: 1/N).

`link` returns the best match per roster row at or above the threshold; a row whose two
best candidates score within 1e-9 of each other gets no suggestion (ambiguous).
Needs the optional `bench` dependency group (splink, duckdb).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import polars as pl

from transforms import identity, ids
from transforms.names import pinyin_key

THRESHOLD = 0.9


@dataclass
class SplinkRun:
    best: pl.DataFrame  # row_idx, splink_id, match_probability, ambiguous
    scored: pl.DataFrame  # every pair at or above the threshold, as Splink returns it
    timings: dict[str, float] = field(default_factory=dict)
    pairs: int = 0  # scored pairs above the threshold
    reference_rows: int = 0
    roster_rows: int = 0
    m_u: list[dict[str, object]] = field(default_factory=list)


_bare_village = identity._bare_village  # the same folding as our resolver's evidence


def _with_id_parts(frame: pl.DataFrame, id_col: str) -> pl.DataFrame:
    i = pl.col(id_col)
    return frame.with_columns(
        id=i,
        id15=i.str.slice(0, 15),
        area=i.str.slice(0, 6),
        birth=pl.when(i.str.len_chars() >= 14).then(i.str.slice(6, 8)),
        tail=pl.when(i.str.len_chars() >= 18).then(i.str.slice(14, 4)),
    )


def _pinyin(frame: pl.DataFrame) -> pl.DataFrame:
    names = frame["name"].drop_nulls().unique()
    keys = pl.DataFrame(
        {"name": names, "name_py": [pinyin_key(n) for n in names.to_list()]},
        schema={"name": pl.Utf8, "name_py": pl.Utf8},
    )
    return frame.join(keys, on="name", how="left")


def reference_table(dibao: pl.DataFrame, enrolment: pl.DataFrame) -> pl.DataFrame:
    ref = identity.reference_ids(
        identity.source_identity(dibao), identity.source_identity(enrolment)
    )
    ref = ref.select(
        unique_id=pl.int_range(pl.len(), dtype=pl.Int64),
        ref_id="candidate",
        name="candidate_name",
        village=_bare_village(pl.col("candidate_village")),
    )
    return _pinyin(_with_id_parts(ref, "ref_id")).drop("ref_id")


def roster_table(roster: pl.DataFrame, only_invalid: bool) -> pl.DataFrame:
    frame = roster.with_row_index("row_idx").filter(pl.col("id_status") != ids.BLANK)
    if only_invalid:
        frame = frame.filter(~pl.col("id_status").is_in([ids.VALID, ids.LEGACY15]))
    frame = frame.select(
        unique_id=pl.col("row_idx").cast(pl.Int64),
        written="id_norm",
        name="name",
        village=_bare_village(pl.col("village")),
    )
    return _pinyin(_with_id_parts(frame, "written")).drop("written")


def one_edit_u(reference: pl.DataFrame, sample: int = 5000, seed: int = 42) -> float:
    """u of the "one edit" ID level: the chance that two different reference IDs are one
    substitution or one swap apart, counted exhaustively for a sample of IDs.

    Random-pair sampling (Splink's u estimation) almost never sees such a pair, and Splink 5
    then falls back to a default u that makes a one-edit ID count as no evidence at all.
    """
    ids_ = reference["id"].unique()
    picked = ids_.sample(min(sample, ids_.len()), seed=seed).to_list()
    variants = pl.Series("id", [v for w in picked for v in identity.one_edit_variants(w)])
    hits = variants.to_frame().join(ids_.to_frame(), on="id", how="semi").height
    return max(hits, 1) / (len(picked) * max(ids_.len() - 1, 1))


def settings(n_reference: int, u_one_edit: float):  # noqa: ANN201 - splink types only with the bench group
    import splink.comparison_level_library as cll
    from splink import SettingsCreator, block_on
    from splink.comparison_library import CustomComparison

    id_cmp = CustomComparison(
        output_column_name="id",
        comparison_levels=[
            cll.NullLevel("id"),
            cll.ExactMatchLevel("id"),
            cll.DamerauLevenshteinLevel("id", 1).configure(
                u_probability=u_one_edit, fix_u_probability=True
            ),
            cll.CustomLevel(
                "id15_l = id15_r AND (id_l LIKE '%000' OR id_r LIKE '%000')",
                label_for_charts="Excel prefix",
            ),
            cll.DamerauLevenshteinLevel("id", 2),
            cll.ElseLevel(),
        ],
    )
    name_cmp = CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name"),
            cll.ExactMatchLevel("name_py").configure(label_for_charts="same pinyin"),
            cll.JaroWinklerLevel("name", 0.8),
            cll.ElseLevel(),
        ],
    )
    birth_cmp = CustomComparison(
        output_column_name="birth",
        comparison_levels=[
            cll.NullLevel("birth"),
            cll.ExactMatchLevel("birth"),
            cll.DamerauLevenshteinLevel("birth", 1),
            cll.ElseLevel(),
        ],
    )
    village_cmp = CustomComparison(
        output_column_name="village",
        comparison_levels=[
            cll.NullLevel("village"),
            cll.ExactMatchLevel("village"),
            cll.ElseLevel(),
        ],
    )
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="unique_id",
        comparisons=[id_cmp, name_cmp, birth_cmp, village_cmp],
        blocking_rules_to_generate_predictions=[
            block_on("id"),
            block_on("id15"),
            block_on("name_py", "area"),
            block_on("name_py", "birth"),
            block_on("name_py", "tail"),
        ],
        probability_two_random_records_match=1.0 / max(n_reference, 1),
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=False,
    )


def link(
    roster: pl.DataFrame,
    dibao: pl.DataFrame,
    enrolment: pl.DataFrame,
    *,
    predict_for: str = "invalid",
    threshold: float = THRESHOLD,
    u_max_pairs: float = 2e6,
    seed: int = 42,
) -> SplinkRun:
    """Train on every roster person, predict for `predict_for` ("invalid" or "all") rows."""
    from splink import DuckDBAPI, Linker, block_on

    timings: dict[str, float] = {}
    t = time.perf_counter()
    reference = reference_table(dibao, enrolment)
    everyone = roster_table(roster, only_invalid=False)
    targets = roster_table(roster, only_invalid=predict_for == "invalid")
    timings["prepare_s"] = time.perf_counter() - t

    t = time.perf_counter()
    db_api = DuckDBAPI()
    left = db_api.register(everyone.to_arrow(), dataset_display_name="roster")
    right = db_api.register(reference.to_arrow(), dataset_display_name="reference")
    timings["u_one_edit"] = one_edit_u(reference, seed=seed)
    model = settings(reference.height, timings["u_one_edit"])
    linker = Linker([left, right], model, log_level=logging.WARNING)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_max_pairs, seed=seed)
    timings["train_u_s"] = time.perf_counter() - t
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name_py", "birth"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("id"), estimate_without_term_frequencies=True
    )
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name_py", "village"), estimate_without_term_frequencies=True
    )
    timings["train_s"] = time.perf_counter() - t

    t = time.perf_counter()
    if predict_for == "invalid":
        # the trained linker itself: a model reloaded from JSON forgets which levels were
        # "not observed" in u sampling and falls back to default u values for them
        subset = db_api.register(targets.to_arrow(), dataset_display_name="roster_invalid")
        predictions = linker.inference.predict_between(
            subset, right, threshold_match_probability=threshold, warning_mode="never"
        )
    else:
        predictions = linker.inference.predict(
            threshold_match_probability=threshold, warning_mode="never"
        )
    pairs = pl.from_arrow(predictions.as_pyarrow_table())
    assert isinstance(pairs, pl.DataFrame)
    timings["predict_s"] = time.perf_counter() - t

    best = best_matches(pairs)
    return SplinkRun(
        best=best,
        scored=pairs,
        timings=timings,
        pairs=pairs.height,
        reference_rows=reference.height,
        roster_rows=targets.height,
        m_u=_parameters(linker),
    )


def best_matches(pairs: pl.DataFrame) -> pl.DataFrame:
    """The top-scoring reference record per roster row (source_dataset_l is the roster)."""
    schema = {
        "row_idx": pl.Int64,
        "splink_id": pl.Utf8,
        "match_probability": pl.Float64,
        "ambiguous": pl.Boolean,
    }
    if pairs.is_empty():
        return pl.DataFrame(schema=schema)
    roster_left = pl.col("source_dataset_l").str.starts_with("roster")
    scored = pairs.select(
        row_idx=pl.when(roster_left).then("unique_id_l").otherwise("unique_id_r"),
        splink_id=pl.when(roster_left).then("id_r").otherwise("id_l"),
        match_probability=pl.col("match_probability"),
    ).sort("row_idx", "match_probability", descending=[False, True])
    top = scored.group_by("row_idx", maintain_order=True).agg(
        pl.col("splink_id").first(),
        pl.col("match_probability").first(),
        second=pl.col("match_probability").get(1, null_on_oob=True),
    )
    return top.select(
        "row_idx",
        "splink_id",
        "match_probability",
        ambiguous=(pl.col("match_probability") - pl.col("second").fill_null(-1.0)) < 1e-9,
    ).cast(schema)  # type: ignore[arg-type]


def _parameters(linker) -> list[dict[str, object]]:  # noqa: ANN001
    """m, u and match weight per comparison level, as the trained linker uses them."""
    out: list[dict[str, object]] = []
    for comparison in linker._settings_obj.comparisons:
        for level in comparison.comparison_levels:
            if level.is_null_level:
                continue
            out.append(
                {
                    "comparison": comparison.output_column_name,
                    "level": level.label_for_charts,
                    "m": level.m_probability,
                    "u": level.u_probability,
                    "weight": level._match_weight,
                }
            )
    return out


def resolved_persons(roster: pl.DataFrame, best: pl.DataFrame) -> pl.DataFrame:
    """Roster persons with Splink as the repair tier: a valid written ID stays the identity
    (findings.md); an invalid one takes Splink's unambiguous best match as its suggestion."""
    from transforms.baseline import exact_identities

    exact = exact_identities(roster).with_row_index("row_idx")
    links = best.filter(~pl.col("ambiguous")).select(
        pl.col("row_idx").cast(pl.UInt32), "splink_id", "match_probability"
    )
    invalid = ~pl.col("id_status").is_in([ids.VALID, ids.LEGACY15, ids.BLANK])
    repaired = invalid & pl.col("splink_id").is_not_null()
    return (
        exact.join(links, on="row_idx", how="left")
        .with_columns(
            suggested_id=pl.when(repaired).then(pl.col("splink_id")),
            identity=pl.when(repaired).then(pl.col("splink_id")).otherwise(pl.col("identity")),
            tier=pl.when(repaired).then(pl.lit("splink")).otherwise(pl.col("tier")),
            match_score=pl.when(repaired)
            .then(pl.col("match_probability"))
            .otherwise(pl.col("match_score")),
        )
        .drop("row_idx", "splink_id", "match_probability")
    )
