"""A county of a city sees only the rows of the city extracts it can join
(`transforms.city.wanted` broadcast to the extract's parts, `matching`).  That the findings,
links and indicators are then those of the whole extract is shown on a generated world by
tests/flows/test_load_columns.py."""

from __future__ import annotations

import polars as pl

from transforms import city, ids


def test_wanted_holds_the_ids_a_roster_can_join() -> None:
    roster = pl.DataFrame(
        {
            "id_norm": ["440282199001011234", "44028219900101123X", "440282199001011", None],
            "id_status": [ids.VALID, ids.BAD_CHECK, ids.EXCEL_MANGLED, ids.BLANK],
        }
    )
    want = city.wanted(roster)
    assert "440282199001011234" in want.ids.to_list()
    assert "44028219900101123X" not in want.ids.to_list()  # invalid: only its neighbours
    assert "440282199001011239" in want.ids.to_list()  # one substitution away
    assert want.prefixes.to_list() == ["440282199001011"]
    rows = pl.LazyFrame(
        {
            "id_norm": [
                "440282199001011234",  # valid, held
                "440282199001011239",  # a candidate of the invalid one
                "440282199001011777",  # shares the mangled ID's 15 digits
                "440281198001010001",  # nobody's
                None,
            ]
        }
    )
    kept = city.matching(rows, want).collect()["id_norm"].to_list()
    assert kept == ["440282199001011234", "440282199001011239", "440282199001011777"]
