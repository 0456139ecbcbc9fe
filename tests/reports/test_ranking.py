"""The decisions of the reports (reports.context.ranking) on tiny hand-made rows: standards,
summons, recalls, the league table and the order of overdue problems, with ties and nothing."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from reports.context import ranking

RECURRING_SCHEMA = {
    "township_code": pl.Utf8,
    "village_key": pl.Utf8,
    "streak": pl.Int64,
    "dates": pl.List(pl.Date),
    "problems_now": pl.Int64,
}


# ------------------------------------------------------------------------ standards
@pytest.mark.parametrize(
    ("value", "expected"), [(100.0, True), (100 - 1e-12, True), (99.95, False), (0.0, False)]
)
def test_is_full_forgives_float_noise_only(value: float, expected: bool) -> None:
    assert ranking.is_full(value) is expected


@pytest.mark.parametrize(("value", "expected"), [(0, True), (0.0, True), (1, False), (0.5, False)])
def test_is_none(value: float, expected: bool) -> None:
    assert ranking.is_none(value) is expected


def test_standard_status() -> None:
    assert ranking.standard_status(100.0, ranking.is_full) == "达标"
    assert ranking.standard_status(98.0, ranking.is_full) == "未达标"
    assert ranking.standard_status(0.0, ranking.is_none) == "达标"
    assert ranking.standard_status(2.0, ranking.is_none) == "未达标"
    assert ranking.standard_status(None, ranking.is_full) == ""  # no value, no verdict
    assert ranking.standard_status(5.0, None) == ""  # no standard, no verdict


def test_reaches() -> None:
    assert ranking.reaches(100.0, 100.0) is True
    assert ranking.reaches(99.9, 100.0) is False
    assert ranking.reaches(0.0, 0.0) is True
    assert ranking.reaches(None, 100.0) is None


# ------------------------------------------------------------------------ townships
def test_by_rank_ties_by_name_and_unranked_last() -> None:
    rows = [
        {"township": "D", "rank": None},
        {"township": "C", "rank": 2},
        {"township": "A", "rank": 1},
        {"township": "B", "rank": 2},
        {"township": "E", "rank": None},
    ]
    assert [r["township"] for r in ranking.by_rank(rows)] == ["A", "B", "C", "D", "E"]
    assert ranking.by_rank([]) == []


@pytest.mark.parametrize(
    ("target", "persons_out", "expected"),
    [
        (100.0, 80.0, 20.0),
        (100.0, 0.0, 100.0),
        (100.0, 100.0, None),  # met exactly
        (100.0, 120.0, None),
        (0.0, 5.0, None),  # no target, no summons
        (None, 5.0, None),
        (100.0, None, None),  # no count, no summons
    ],
)
def test_shortfall(target: float | None, persons_out: float | None, expected: float | None) -> None:
    assert ranking.shortfall(target, persons_out) == expected


def test_by_progress_furthest_behind_first() -> None:
    rows = [
        {"township": "B", "progress": 50.0},
        {"township": "C", "progress": None},  # counts as 0
        {"township": "A", "progress": 50.0},
        {"township": "D", "progress": 0.0},
    ]
    assert [r["township"] for r in ranking.by_progress(rows)] == ["C", "D", "A", "B"]
    assert ranking.by_progress([]) == []


# --------------------------------------------------------------------------- recall
def test_unit_type_rank_follows_the_schema_and_puts_unknown_last() -> None:
    assert ranking.unit_type_rank("省直/中直驻粤") == 0
    assert ranking.unit_type_rank("驻镇帮扶工作组") == 4
    assert ranking.unit_type_rank("外星单位") == 99
    assert ranking.unit_type_rank(None) == 99


def _recurring(rows: list[tuple[str, str, int]]) -> pl.DataFrame:
    return pl.DataFrame(
        [(t, v, s, [date(2018, 6, 30)] * s, 1) for t, v, s in rows],
        schema=RECURRING_SCHEMA,
        orient="row",
    )


def test_recall_villages_by_streak_and_township() -> None:
    rec = _recurring([("T1", "甲村", 1), ("T1", "乙村", 2), ("T2", "丙村", 3)])
    assert ranking.recall_villages(rec, 2)["village_key"].to_list() == ["乙村", "丙村"]
    assert ranking.recall_villages(rec, 2, "T2")["village_key"].to_list() == ["丙村"]
    assert ranking.recall_villages(rec, 4).height == 0
    assert ranking.recall_villages(rec, 1, None).height == 3
    empty = ranking.recall_villages(_recurring([]), 2, "T1")
    assert empty.height == 0 and empty.schema == pl.Schema(RECURRING_SCHEMA)


def test_split_recalls_by_route_then_unit_type_unit_township_village() -> None:
    def row(unit_type: str, unit: str, township: str, village: str, route: str) -> dict:
        return {
            "unit_type": unit_type,
            "unit": unit,
            "township": township,
            "village": village,
            "route": route,
        }

    letter = "向派出单位扶贫办发送召回建议"
    rows = [
        row("驻镇帮扶工作组", "X组", "A镇", "1村", "直接召回"),
        row("南雄市直", "Z局", "B镇", "2村", "直接召回"),
        row("南雄市直", "Y局", "B镇", "3村", "直接召回"),
        row("南雄市直", "Y局", "A镇", "4村", "直接召回"),
        row("东莞市", "D局", "A镇", "5村", letter),
        row("省直/中直驻粤", "S厅", "A镇", "6村", letter),
        row("未知类型", "A局", "A镇", "7村", letter),
    ]
    direct, letters = ranking.split_recalls(rows)
    assert [r["village"] for r in direct] == ["4村", "3村", "2村", "1村"]
    assert [r["village"] for r in letters] == ["6村", "5村", "7村"]
    assert ranking.split_recalls([]) == ([], [])


# ----------------------------------------------------------------------------- league
@pytest.mark.parametrize(
    ("keys", "expected"),
    [
        ([], []),
        (["a"], [1]),
        (["a", "b", "b", "c"], [1, 2, 2, 4]),
        (["a", "a", "a"], [1, 1, 1]),
        ([None, None, 1], [1, 1, 3]),  # a key of None is a key like any other
    ],
)
def test_shared_ranks(keys: list, expected: list[int]) -> None:
    assert ranking.shared_ranks(keys) == expected


def test_rank_league_by_exit_share_then_overdue_with_shared_places() -> None:
    rows = [
        {"unit": "A", "exit_share": 90.0, "overdue": 1},
        {"unit": "B", "exit_share": None, "overdue": 0},
        {"unit": "C", "exit_share": 95.0, "overdue": 5},
        {"unit": "D", "exit_share": 90.0, "overdue": 0},
        {"unit": "E", "exit_share": 90.0, "overdue": 1},
        {"unit": "F", "exit_share": 0.0, "overdue": 0},
    ]
    ranked = ranking.rank_league(rows)
    assert [(r["unit"], r["rank"]) for r in ranked] == [
        ("C", 1),
        ("D", 2),
        ("A", 3),
        ("E", 3),  # same share, same overdue count: same place
        ("F", 5),
        ("B", 6),  # no exit share: last
    ]
    assert ranking.rank_league([]) == []


# ---------------------------------------------------------------- overdue problems
def test_by_first_seen() -> None:
    items = [
        {"first_seen": "2018-03-01", "township_code": "T2", "village_key": "v", "key": "k1"},
        {"first_seen": "2018-01-01", "township_code": None, "village_key": None, "key": "k2"},
        {"first_seen": "2018-03-01", "township_code": "T1", "village_key": "v", "key": "k4"},
        {"first_seen": "2018-03-01", "township_code": "T1", "village_key": "v", "key": "k3"},
        {"first_seen": "2018-03-01", "township_code": "T1", "village_key": None, "key": "k5"},
    ]
    assert [it["key"] for it in ranking.by_first_seen(items)] == ["k2", "k5", "k3", "k4", "k1"]
    assert ranking.by_first_seen([]) == []


def test_oldest_first_then_larger_then_names() -> None:
    rows = [
        {"oldest": "2018-02-01", "total": 1, "township": "A", "village": "1"},
        {"oldest": "2018-01-01", "total": 1, "township": "B", "village": "1"},
        {"oldest": "2018-02-01", "total": 3, "township": "B", "village": "2"},
        {"oldest": "2018-02-01", "total": 1, "township": "A", "village": "0"},
    ]
    order = ranking.oldest_first(rows, "township", "village")
    assert [(r["township"], r["village"]) for r in order] == [
        ("B", "1"),
        ("B", "2"),
        ("A", "0"),
        ("A", "1"),
    ]
    assert ranking.oldest_first([], "unit") == []


def test_first_per_keeps_the_first_few_of_each_group_in_order() -> None:
    items = [{"township": t, "n": i} for i, t in enumerate("AABAAB")]
    assert [it["n"] for it in ranking.first_per(items, "township", 2)] == [0, 1, 2, 5]
    assert ranking.first_per(items, "township", 0) == []
    assert ranking.first_per([], "township", 10) == []
