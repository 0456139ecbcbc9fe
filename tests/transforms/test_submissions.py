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


def test_the_digest_streams_the_same_bytes_as_one_csv() -> None:
    """`data_digest` hashes a big frame a slice at a time, and `DataDigest` a stream of
    batches: the bytes hashed, so the digests kept in warehouses, are those of the whole
    frame written at once (quotes, nulls, floats, dates, and a frame with no rows)."""
    import hashlib
    from datetime import date

    from transforms.submissions import DataDigest, csv_parts, data_digest

    frame = pl.DataFrame(
        {
            "file_id": [7] * 11,
            "sheet": ["花名册"] * 11,
            "row_no": list(range(11)),
            "text": ['a,"b"', None, "", "换\n行", *[f"x{i}" for i in range(7)]],
            "amount": [0.1, -0.0, None, 1e15, float("nan"), 2.5, 3.0, 4.0, 5.0, 6.0, 7.0],
            "day": [date(2018, 6, 30), None, *[date(2017, 1, i + 1) for i in range(9)]],
        }
    )
    issues = pl.DataFrame({"file_id": [7], "kind": ["hidden_sheet"]})
    for table in (frame, frame.head(0)):
        whole = table.drop("file_id").write_csv().encode()
        for rows in (1, 3, 4, 11, 100):
            assert b"".join(csv_parts(table.drop("file_id"), rows)) == whole
        expected = hashlib.sha256(DataDigest.VERSION)
        expected.update(b"_read_issues:kind\nkind\nhidden_sheet\n_read_issues:1\n")
        expected.update(f"roster:{','.join(table.columns[1:])}\n".encode())
        expected.update(whole)
        expected.update(f"roster:{table.height}\n".encode())
        digest = data_digest({"roster": table, "_read_issues": issues})
        assert digest == expected.hexdigest()
        for cuts in ([], [0], [2, 2, 9], [5], [0, 11]):  # batch boundaries (and empty batches)
            streamed = DataDigest()
            streamed.add("_read_issues", [issues])
            bounds = [0, *cuts, table.height]
            for a, b in zip(bounds, bounds[1:], strict=False):
                streamed.update("roster", table.slice(a, max(b - a, 0)))
            assert streamed.hexdigest() == digest, cuts
    one, other = DataDigest(), DataDigest()
    one.add("roster", [frame.head(3), frame.slice(3)])
    other.add("roster", [frame.head(4)])
    assert one.hexdigest() != other.hexdigest()
