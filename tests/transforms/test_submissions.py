from __future__ import annotations

import polars as pl

from transforms.frames import ROSTER_PERSON, conform
from transforms.submissions import roster_changes

from .builders import person, pid


def roster(*rows: dict) -> pl.DataFrame:
    frame = conform(pl.DataFrame(list(rows), infer_schema_length=None), ROSTER_PERSON)
    return frame.with_columns(id_norm=pl.col("id_raw"))


def test_added_removed_and_changed_persons():
    before = roster(
        person(row_no=4),
        person(id_raw=pid(13), name="李二", relation="之子", row_no=5),
        person(id_raw=pid(15), name="李三", relation="之女", row_no=6),
    )
    after = roster(
        person(row_no=4, person_status="死亡", income=9000.0),
        person(id_raw=pid(15), name="李三", relation="之女", row_no=5),
        person(id_raw=pid(17), name="李四", relation="之孙子", row_no=6),
    )
    changes = roster_changes(before, after)
    by = {r["change"]: r for r in changes.iter_rows(named=True)}
    assert sorted(changes["change"].to_list()) == sorted(["删除", "新增", "变更"])
    assert by["新增"]["person"] == pid(17) and by["新增"]["row_after"] == 6
    assert by["删除"]["person"] == pid(13)
    assert by["变更"]["fields"] == "人员状态：正常→死亡；年人均可支配收入：8000.0→9000.0"
    # the unchanged person who only moved up a row is not a change
    assert pid(15) not in changes["person"].to_list()
    assert all(pid(11) not in (r["id_masked"] or "") for r in changes.iter_rows(named=True))


def test_person_without_id_is_matched_on_household_and_name():
    before = roster(person(id_raw="", name="无证"))
    after = roster(person(id_raw="", name="无证", labour="弱劳动力或半劳动力"))
    changes = roster_changes(before, after)
    assert changes["change"].to_list() == ["变更"]
    assert "劳动技能：普通劳动力→弱劳动力或半劳动力" in changes["fields"][0]
