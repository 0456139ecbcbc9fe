"""Every file of the bad-input corpus ends in UnreadableFile, MissingColumns or a load that
keeps every data row, never in a raw traceback (tests/corpus/make_corpus.py writes them)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
from pathlib import Path

import polars as pl
import pytest

from config.schema import DIBAO, ENROLMENT, ROSTER, SETTLEMENT, VILLAGES, Source
from flows.readers import UnreadableFile, read_csv_table, read_sheets
from tests.transforms.bound import (
    find_roster_sheet,
    locate_table,
    normalise_dibao,
    normalise_enrolment,
    normalise_roster,
    normalise_settlement,
    normalise_villages,
    township_from_title,
)
from transforms import frames
from transforms.headers import (
    MissingColumns,
    find_village_sheet,
    stage,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
MANIFEST: dict[str, dict] = json.loads((CORPUS / "manifest.json").read_text(encoding="utf-8"))
SOURCES: dict[str, Source] = {
    "roster": ROSTER,
    "villages": VILLAGES,
    "dibao": DIBAO,
    "insurance": ENROLMENT,
    "claims": SETTLEMENT,
}
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def ingest(path: Path, source_name: str) -> pl.DataFrame:
    """What the nightly flow does with one file of one source."""
    source = SOURCES[source_name]
    if source_name in ("roster", "villages"):
        sheets = read_sheets(path)
        sheet = find_roster_sheet(sheets) if source_name == "roster" else find_village_sheet(sheets)
        assert sheet is not None
        layout = locate_table(sheet.grid, source)
        staged = stage(sheet.grid, layout, 7, sheet.name)
        township = township_from_title(layout.title)
        if source_name == "roster":
            return normalise_roster(staged, township)
        return normalise_villages(staged, township)
    raw, layout = read_csv_table(path, source)
    staged = stage(raw.grid, layout, 7, raw.name)
    normaliser = {
        "dibao": normalise_dibao,
        "insurance": normalise_enrolment,
        "claims": normalise_settlement,
    }[source_name]
    return normaliser(staged)


def test_corpus_is_big_enough_and_complete() -> None:
    on_disk = {p.name for p in (CORPUS / "files").iterdir()}
    assert on_disk == set(MANIFEST)
    assert len(MANIFEST) >= 30
    kinds = {entry["expect"] for entry in MANIFEST.values()}
    assert kinds == {"unreadable", "missing", "loads"}


def test_corpus_files_are_current(tmp_path: Path) -> None:
    """make_corpus.py is deterministic and the committed files are what it writes."""
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.write(tmp_path)
    for name in MANIFEST:
        fresh = hashlib.sha256((tmp_path / "files" / name).read_bytes()).hexdigest()
        committed = hashlib.sha256((CORPUS / "files" / name).read_bytes()).hexdigest()
        assert fresh == committed, f"{name} is stale: run tests/corpus/make_corpus.py"


@pytest.mark.parametrize(
    "name", sorted(n for n, e in MANIFEST.items() if e["expect"] == "unreadable")
)
def test_unreadable_files_are_quarantined_with_a_reason(name: str) -> None:
    entry = MANIFEST[name]
    with pytest.raises(UnreadableFile) as caught:
        ingest(CORPUS / "files" / name, entry["source"])
    reason = caught.value.reason
    assert CHINESE.search(reason), reason
    if "reason" in entry:
        assert entry["reason"] in reason
    assert "Traceback" not in reason and "Error:" not in reason


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if e["expect"] == "missing"))
def test_missing_columns_name_the_column_and_its_synonyms(name: str) -> None:
    entry = MANIFEST[name]
    source = SOURCES[entry["source"]]
    with pytest.raises(MissingColumns) as caught:
        ingest(CORPUS / "files" / name, entry["source"])
    error = caught.value
    column = entry["column"]
    assert column in error.columns
    field = next(f for f in source.fields if f.canonical == column)
    for accepted in field.headers:
        assert accepted in error.message
    assert error.message == str(error)
    assert "缺少必需列" in error.message


@pytest.mark.parametrize("name", sorted(n for n, e in MANIFEST.items() if e["expect"] == "loads"))
def test_bad_rows_are_loaded_not_dropped(name: str) -> None:
    entry = MANIFEST[name]
    result = ingest(CORPUS / "files" / name, entry["source"])
    contract = {
        "roster": frames.ROSTER_PERSON,
        "villages": frames.VILLAGE,
        "dibao": frames.DIBAO_ROW,
        "insurance": frames.ENROLMENT_ROW,
        "claims": frames.SETTLEMENT_ROW,
    }[entry["source"]]
    assert result.schema == pl.Schema(contract)
    assert result.height == entry["rows"]
    assert result["row_no"].is_unique().all()
    for status in entry.get("statuses", []):
        assert set(result["id_status"]) == {status}


def test_details_of_particular_corpus_files() -> None:
    files = CORPUS / "files"
    bad = ingest(files / "42_bad_values.xlsx", "roster")
    assert bad["row_no"].to_list() == [3, 4, 5]
    assert bad["labour"].to_list()[0] == "会飞"  # unknown value kept for the expectation
    # -5 is read and left out, kept as written (transforms.values: an implausible income)
    assert bad["income"].to_list() == [None, None, None]
    assert bad["income_raw"].to_list()[2] == "-5"
    assert bad["income_raw"].to_list()[0] == "七千"
    assert bad["id_status"].to_list() == ["bad_check", "bad_format", "blank"]
    assert bad["name"].to_list() == ["张三", None, "王五"]
    assert bad["township_code"].to_list() == ["440282113", "440282113", None]

    rare = ingest(files / "45_gb18030_rare_chars.csv", "dibao")
    assert rare["name"].to_list() == ["𠮷㐂"]
    assert str(rare["start_date"][0]) == "2016-05-01"

    merged = ingest(files / "49_merged_household.xls", "roster")
    assert merged["household_id"].to_list() == ["HZ0001", "HZ0001", "HZ0002"]
    assert merged["attribute"].to_list() == ["一般贫困户", "一般贫困户", "低保贫困户"]

    truncated = ingest(files / "40_truncated_mid_line.csv", "insurance")
    assert truncated["village"].to_list() == ["珠玑村", "珠玑村", "珠"]

    duplicate = read_sheets(files / "46_duplicate_column.xlsx")[0]
    layout = locate_table(duplicate.grid, ROSTER)
    assert layout.columns["name"] == 3 and layout.unknown == ["姓名"]
    staged = stage(duplicate.grid, layout, 1, duplicate.name)
    assert json.loads(staged["extra"][0]) == {"姓名": "别名"}

    repeated = ingest(files / "48_repeated_header_and_footer.xlsx", "roster")
    assert repeated["row_no"].to_list() == [3, 5, 6]
