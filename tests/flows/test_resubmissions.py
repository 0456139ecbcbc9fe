"""A second night: townships and bureaus send their files again, re-saved, renamed,
re-encoded, corrected, or wrong.  Problems keep their identity and age; a submission that
would gut the register is held until the office releases it."""

from __future__ import annotations

import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from config.schema import ROSTER
from config.settings import load_divisions
from flows.alerts import run_alerts
from flows.export import export
from flows.nightly import run_nightly
from flows.submissions import release
from generator import generate
from tests.flows import resubmit
from warehouse import db

NIGHT1 = date(2018, 6, 30)
NIGHT2 = NIGHT1 + timedelta(days=1)
NIGHT3 = NIGHT2 + timedelta(days=1)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate(out, scale=0.01, seed=7, as_of=NIGHT1)
    return out


class Office:
    """One warehouse and its live inbox, night after night."""

    def __init__(self, world: Path, url: str, home: Path) -> None:
        self.url, self.home = url, home
        self.inbox = home / "inbox"
        shutil.copytree(world / "inbox", self.inbox)
        channels = home / "channels.toml"
        codes = list(load_divisions().townships)
        lines = ['office = ["json://127.0.0.1:9/office"]', "[townships]"]
        lines += [f'"{c}" = ["json://127.0.0.1:9/{c}"]' for c in codes]
        channels.write_text("\n".join(lines), encoding="utf-8")
        self.channels = channels

    def night(self, day: date) -> dict:
        return run_nightly(str(self.inbox), day.isoformat(), self.url, str(self.home), send=False)

    def exports(self) -> dict[str, pl.DataFrame]:
        out = {}
        for what in ("findings", "issues"):
            path = self.home / f"{what}.csv"
            export(what, path, self.url)
            out[what] = pl.read_csv(path, infer_schema=False)
        return out

    def table(self, name: str) -> pl.DataFrame:
        return db.read_frame(db.connect(self.url), name)

    def roster(self, code: str) -> Path:
        """The township's workbook in the inbox (an .xlsx one)."""
        files = self.table("source_file").filter(
            (pl.col("township_code") == code) & (pl.col("status") == "accepted")
        )
        return self.inbox / files["rel_path"][0]

    def alerts(self) -> dict:
        return run_alerts(self.url, dry_run=True, home=self.home, channels_file=self.channels)


@pytest.fixture
def office(harness, world: Path, tmp_path: Path, db_url: str) -> Office:
    o = Office(world, db_url, tmp_path)
    first = o.night(NIGHT1)
    assert first["files"]["accepted"] >= 21 and not first["needs_attention"]
    return o


def _xlsx_townships(o: Office, n: int, having: str = "id_number") -> list[str]:
    """Up to `n` townships whose workbook is an .xlsx with a roster column `having`, those
    with the most issues first."""
    files = o.table("source_file").filter(
        (pl.col("source") == "townships") & pl.col("name").str.ends_with(".xlsx")
    )
    issues = o.table("dq_issue").group_by("township_code").len()
    busy = files.join(issues, on="township_code", how="left").sort(
        "len", "township_code", descending=True, nulls_last=True
    )
    found = []
    for code, rel in busy.select("township_code", "rel_path").iter_rows():
        sheet = resubmit.roster_sheet(resubmit.read_sheets(o.inbox / rel))
        if having in resubmit.locate_table(sheet.grid, ROSTER).columns:
            found.append(code)
    assert len(found) >= n, f"fewer than {n} .xlsx workbooks with a {having} column"
    return found[:n]


def _same_but_last_seen(before: dict[str, pl.DataFrame], after: dict[str, pl.DataFrame]) -> None:
    for what in before:
        b, a = before[what].drop("last_seen"), after[what].drop("last_seen")
        assert b.equals(a), what
        assert set(after[what]["last_seen"]) <= {NIGHT2.isoformat()}, what


def test_the_same_data_in_new_bytes_changes_nothing_but_last_seen(office: Office) -> None:
    a, b = _xlsx_townships(office, 2)
    before = office.exports()
    # a: saved again by another program under a new name; b: saved again under its own name
    resubmit.resave(office.roster(a), office.inbox / "townships" / "重新保存_花名册.xlsx")
    path_b = office.roster(b)
    resubmit.resave(path_b, path_b.with_suffix(".tmp.xlsx")).replace(path_b)
    # the 低保 roll re-encoded under its own name; a copy of the claims sent twice
    (dibao,) = (office.inbox / "dibao").iterdir()
    resubmit.reencode(dibao, dibao.with_suffix(".tmp"), "utf-8-sig").replace(dibao)
    claim = next((office.inbox / "claims").glob("*.csv"))
    shutil.copy(claim, claim.with_name("副本_" + claim.name))

    second = office.night(NIGHT2)
    statuses = {o["rel_path"]: o["status"] for o in second["outcomes"]}
    assert set(statuses.values()) == {"duplicate"}, statuses
    assert not second["needs_attention"]
    assert second["issues"]["new"] == second["issues"]["resolved"] == 0
    assert second["findings"]["new"] == second["findings"]["resolved"] == 0
    _same_but_last_seen(before, office.exports())
    issues = office.table("dq_issue")
    assert set(issues["first_seen"]) == {NIGHT1} and set(issues["last_seen"]) == {NIGHT2}
    assert office.table("dq_issue_event")["event"].unique().to_list() == ["opened"]
    new_files = office.table("source_file").filter(pl.col("status") == "duplicate")
    assert new_files.height == 3  # same data in new bytes is recorded (the copy is known by hash)
    assert new_files["reason"].str.contains("数据相同").all()


def test_a_fixed_row_resolves_exactly_its_problems_and_the_rest_keep_their_age(
    office: Office,
) -> None:
    issues = office.table("dq_issue")
    xlsx = _xlsx_townships(office, 17)
    fixable = issues.filter(
        (pl.col("source") == "roster")
        & (pl.col("kind") == "invalid_value")
        & pl.col("column").is_in(list(FIXES))
        & pl.col("township_code").is_in(xlsx)
    )
    assert fixable.height, "the generated world has no person-level value to correct"
    fixed = fixable.row(0, named=True)
    # one clerk corrects the one cell; another's workbook gets an empty row above the data,
    # so that every row of it moves down by one
    key, good = FIXES[fixed["column"]]
    correct = resubmit.set_cells(
        key, lambda _: pl.lit(good), rows=pl.int_range(pl.len()) == fixed["row_no"] - 1
    )

    def shift(sheet: resubmit.RawSheet) -> pl.DataFrame:
        grid = sheet.grid
        _, start = resubmit.column_of(sheet, "name")
        blank = pl.DataFrame({c: [None] for c in grid.columns}, schema=grid.schema)
        return pl.concat([grid.head(start), blank, grid.slice(start)])

    roster_issues = issues.filter(pl.col("source") == "roster", pl.col("row_no").is_not_null())
    busiest = (
        roster_issues.filter(pl.col("township_code").is_in(xlsx), pl.col("key") != fixed["key"])
        .group_by("township_code")
        .len()
        .sort("len", "township_code", descending=True)["township_code"][0]
    )
    for code, edit in ((fixed["township_code"], correct), (busiest, shift)):
        path = office.roster(code)
        resubmit.resave(path, path.with_name("更正后_" + path.name), edit)

    second = office.night(NIGHT2)
    assert {o["status"] for o in second["outcomes"] if o["source"] == "townships"} == {
        "accepted",
        "duplicate",
    }
    after = office.table("dq_issue")
    resolved = after.filter(pl.col("status") == "resolved")
    assert resolved["key"].to_list() == [fixed["key"]]
    assert resolved["resolved_on"].to_list() == [NIGHT2]
    still = after.filter(pl.col("status") == "open")
    assert set(still["first_seen"]) == {NIGHT1}  # nothing new, nothing restarted
    was = roster_issues.select("key", old_row="row_no", old_file="file_id")
    moved = still.filter(pl.col("township_code") == busiest).join(was, on="key")
    assert moved.height and (moved["row_no"] == moved["old_row"] + 1).all()
    assert (moved["file_id"] != moved["old_file"]).all()  # the evidence follows the new file


FIXES = {
    "劳动技能": ("labour", "普通劳动力"),
    "健康状况": ("health", "健康"),
    "在校生状况": ("school", "非在校生"),
}

GUTTING = {
    "blank_ids": (resubmit.set_cells("id_number", lambda _: pl.lit(None, pl.Utf8)), "证件号码"),
    "another_township": (
        resubmit.set_cells("township", lambda _: pl.lit("乌迳镇")),
        "其他乡镇",
    ),
    "most_persons_gone": (resubmit.drop_rows(0.6), "不在新报送的花名册中"),
}


@pytest.mark.parametrize("variant", sorted(GUTTING))
def test_a_roster_that_would_gut_the_register_is_held_until_the_office_releases_it(
    office: Office, variant: str
) -> None:
    having = "township" if variant == "another_township" else "id_number"
    code = next(c for c in _xlsx_townships(office, 2, having) if c != "440282100")  # not 乌迳镇
    path = office.roster(code)
    edit, said = GUTTING[variant]
    held_path = resubmit.resave(path, path.with_name("更正_" + path.name), edit)
    before = office.exports()
    roster_before = db.current(db.connect(office.url), "roster")

    second = office.night(NIGHT2)
    (held,) = [o for o in second["outcomes"] if o["status"] == "held"]
    assert held["rel_path"].endswith(held_path.name) and said in held["reason"]
    assert second["needs_attention"]
    _same_but_last_seen(before, office.exports())
    assert db.current(db.connect(office.url), "roster").equals(roster_before)
    events = office.table("source_file_event")
    assert events.select("file_id", "event").rows() == [(held["file_id"], "held")]

    told = office.alerts()
    name = load_divisions().short_name(code)
    (township,) = [m for m in told["messages"] if m["township_code"] == code]
    (digest,) = [m for m in told["messages"] if m["township_code"] is None]
    for message in (township, digest):
        assert held_path.name in message["body"] and said in message["body"]
    assert f"fupin accept {held['file_id']}" in digest["body"]
    others = [m for m in told["messages"] if m["township_code"] not in (code, None)]
    assert not any(held_path.name in m["body"] for m in others), name

    if variant != "blank_ids":
        return
    released = release(str(held["file_id"]), "核实无误", office.url)
    assert released["replaced"]
    third = office.night(NIGHT3)
    assert not third["needs_attention"]
    roster = db.current(db.connect(office.url), "roster").filter(pl.col("township_code") == code)
    assert set(roster["file_id"]) == {held["file_id"]}
    assert (roster["id_norm"].fill_null("") == "").all()
    events = office.table("source_file_event").sort("id")
    assert events["event"].to_list() == ["held", "released"]
    assert "核实无误" in events["detail"][1]


def test_a_file_older_than_the_one_in_force_is_held(office: Office) -> None:
    dated = office.table("source_file").filter(
        (pl.col("source") == "townships")
        & pl.col("name").str.ends_with(".xlsx")
        & (pl.col("data_date") == NIGHT1)
    )
    assert dated.height, "no workbook says the date it is as of"
    path = office.inbox / dated["rel_path"][0]

    def older(sheet: resubmit.RawSheet) -> pl.DataFrame:  # last year's data, last year's title
        column, start = resubmit.column_of(sheet, "name")
        first = pl.int_range(pl.len()) == start
        grid = sheet.grid.with_columns(
            pl.when(first).then(pl.col(column) + "甲").otherwise(pl.col(column)).alias(column)
        )
        return grid.with_columns(
            pl.all().str.replace(r"2018年6月30日|2018年6月|20180630", "2017年12月31日")
        )

    name = re.sub(r"2018年6月|20180630", "2017年12月", path.name)
    sent = resubmit.resave(path, path.with_name("旧版_" + name), older)
    second = office.night(NIGHT2)
    (held,) = [o for o in second["outcomes"] if o["status"] == "held"]
    assert held["rel_path"].endswith(sent.name) and "早于" in held["reason"]


def test_a_hidden_old_sheet_is_never_the_roster_and_the_clerk_is_told(
    office: Office, tmp_path: Path
) -> None:
    (code,) = _xlsx_townships(office, 1, "name")
    path = office.roster(code)
    old = resubmit.resave(
        path, tmp_path / "old.xlsx", resubmit.set_cells("name", lambda c: c + "旧")
    )
    sent = resubmit.with_hidden_old_sheet(path, path.with_name("含旧表_" + path.name), old)
    roster_before = db.current(db.connect(office.url), "roster").drop("file_id")

    second = office.night(NIGHT2)
    (taken,) = [o for o in second["outcomes"] if o["rel_path"].endswith(sent.name)]
    assert taken["status"] == "accepted"
    now = db.current(db.connect(office.url), "roster")
    assert (
        now.drop("file_id")
        .sort("township_code", "row_no")
        .equals(roster_before.sort("township_code", "row_no"))
    )
    hidden = office.table("dq_issue").filter(pl.col("kind") == "hidden_sheet")
    assert hidden.select("township_code", "status", "value").rows() == [
        (code, "open", resubmit.roster_sheet(resubmit.read_sheets(old)).name + "（旧）")
    ]
    assert "隐藏" in hidden["message"][0]

    # only the hidden sheet holds a roster: refused, the roster in force stays
    lone = resubmit.read_sheets(sent)
    only_hidden = [lone[0], resubmit.RawSheet("说明", pl.DataFrame({"c0": ["见附表"]}))]
    resubmit.write_sheets(only_hidden, path.with_name("只有隐藏表_" + path.name))
    third = office.night(NIGHT3)
    (refused,) = [o for o in third["outcomes"] if o["status"] == "rejected"]
    assert "隐藏" in refused["reason"]
