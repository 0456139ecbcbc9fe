"""The files look like the ones townships and bureaus send, and the truth points at the
right cells in them."""

from __future__ import annotations

import re
import unicodedata
import zipfile
from datetime import date, datetime
from pathlib import Path

import fastexcel
import polars as pl
import pytest
import xlrd
from python_calamine import CalamineWorkbook

from config.schema import DIBAO, ROSTER
from config.settings import load_divisions, village_short
from transforms.ids import EXCEL_MANGLED, parse_id, sex_of


def _norm(text: object) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text or "")))


def _sheets(path: Path) -> dict[str, list[list[object]]]:
    wb = CalamineWorkbook.from_path(str(path))
    return {name: wb.get_sheet_by_name(name).to_python() for name in wb.sheet_names}


def _roster_sheet(sheets: dict[str, list[list[object]]]) -> tuple[str, list[list[object]]]:
    for name, rows in sheets.items():
        if "花名册" in name or "人员" in name:
            return name, rows
    for name, rows in sheets.items():
        if _header_row(rows) is not None:
            return name, rows
    raise AssertionError("no roster sheet")


def _header_row(rows: list[list[object]]) -> int | None:
    for i, row in enumerate(rows[:10]):
        cells = {_norm(c) for c in row}
        if cells & {_norm(h) for h in ROSTER.field("name").headers} and any(
            "户" in c for c in cells
        ):
            return i
    return None


def _column(rows: list[list[object]], key: str) -> int:
    header = rows[_header_row(rows)]
    wanted = {_norm(h) for h in ROSTER.field(key).headers}
    for c, cell in enumerate(header):
        text = _norm(cell)
        if text in wanted or re.sub(r"\(.*?\)$", "", text) in wanted:
            return c
    raise KeyError(key)


@pytest.fixture(scope="module")
def workbooks(small: tuple[Path, dict]) -> dict[str, dict[str, list[list[object]]]]:
    folder = small[0] / "inbox" / "townships"
    return {f"townships/{p.name}": _sheets(p) for p in sorted(folder.iterdir())}


def test_every_workbook_opens(small: tuple[Path, dict]) -> None:
    folder = small[0] / "inbox" / "townships"
    for path in folder.iterdir():
        if path.suffix == ".xls":
            book = xlrd.open_workbook(str(path))
            assert any(
                "花名册" in s.name or "人员" in s.name or s.name == "Sheet1" for s in book.sheets()
            )
        else:
            reader = fastexcel.read_excel(str(path))
            assert reader.sheet_names
            with zipfile.ZipFile(path) as z:
                assert z.testzip() is None


def test_workbook_variants_present(workbooks: dict) -> None:
    all_cells: list[object] = []
    two_row = titles = footers = village_sheets = 0
    for sheets in workbooks.values():
        name, rows = _roster_sheet(sheets)
        h = _header_row(rows)
        titles += h > 0
        two_row += h > 0 and any(_norm(c) == "家庭情况" for c in rows[h - 1])
        footers += any(str(r[0]).startswith(("合计", "填表人", "说明")) for r in rows[h + 1 :])
        village_sheets += any("村" in n and "情况" in n for n in sheets)
        for rows_ in sheets.values():
            for row in rows_:
                all_cells.extend(row)
    assert two_row >= 3 and titles >= 3 and footers >= 3 and village_sheets >= 15
    texts = [c for c in all_cells if isinstance(c, str)]
    assert any(isinstance(c, float) and c > 1e17 for c in all_cells), (
        "an ID Excel turned into a number"
    )
    assert any(isinstance(c, float) and 1e14 < c < 1e15 for c in all_cells), (
        "a 15-digit ID or 户编号 stored as a number"
    )
    assert any(re.search(r"[０-９]", c) for c in texts), "full-width digits"
    assert any(re.fullmatch(r"\S\u3000\S+", c) for c in texts), "ideographic space in a name"
    assert any(re.fullmatch(r"\d{17}x", c) for c in texts), "lowercase x"
    assert any(re.fullmatch(r"\d{1,3},\d{3}", c) for c in texts), "7,365"
    assert any(re.fullmatch(r"\d+元", c) for c in texts), "7365元"
    assert any(re.fullmatch(r"\d+\.00", c) for c in texts), "7365.00"
    for yes in ("是", "有", "√", "Y"):
        assert yes in texts, yes
    assert any("\n" in c for c in texts), "line breaks in headers"
    assert any("（元）" in c or "(元)" in c for c in texts), "unit suffix"


def test_household_columns_filled_three_ways(small: tuple[Path, dict]) -> None:
    merged = 0
    for path in (small[0] / "inbox" / "townships").glob("*.xlsx"):
        with zipfile.ZipFile(path) as z:
            sheet_xml = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
            xml = "".join(z.read(n).decode() for n in sheet_xml)
        merged += len(re.findall(r'<mergeCell ref="([A-Z]+)(\d+):\1(\d+)"', xml))
    assert merged > 0, "household cells merged over the household's rows"


def test_csv_encodings(small: tuple[Path, dict]) -> None:
    inbox = small[0] / "inbox"
    dibao = next((inbox / "dibao").glob("*.csv")).read_bytes()
    with pytest.raises(UnicodeDecodeError):
        dibao.decode("utf-8")
    assert "低保证号" in dibao.decode("gb18030")
    insurance = next((inbox / "insurance").glob("*.csv")).read_bytes()
    assert insurance.startswith(b"\xef\xbb\xbf") and "参保年度" in insurance.decode("utf-8-sig")
    for path in (inbox / "claims").glob("*.csv"):
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf")
        raw.decode("utf-8")


def test_date_spellings(small: tuple[Path, dict]) -> None:
    inbox = small[0] / "inbox"
    text = next((inbox / "dibao").glob("*.csv")).read_bytes().decode("gb18030")
    dibao = pl.read_csv(text.encode(), infer_schema=False)
    values = [
        v for v in dibao["保障起始日期"].to_list() + dibao["停保日期"].drop_nulls().to_list() if v
    ]
    patterns = {
        "iso": r"\d{4}-\d{2}-\d{2}",
        "slash": r"\d{4}/\d{1,2}/\d{1,2}",
        "compact": r"\d{8}",
        "dot": r"\d{4}\.\d{1,2}\.\d{1,2}",
        "chinese": r"\d{4}年\d{1,2}月\d{1,2}日",
        "month": r"\d{6}",
    }
    found = {k for k, p in patterns.items() for v in values if re.fullmatch(p, v)}
    assert found == set(patterns), found
    claims = next((inbox / "claims").glob("*.xlsx"))
    rows = CalamineWorkbook.from_path(str(claims)).get_sheet_by_index(0).to_python()
    assert any(isinstance(c, (date, datetime)) for r in rows[2:] for c in r), "Excel date cells"
    assert set(DIBAO.field("family_id").headers) & set(dibao.columns)


def test_issues_point_at_the_right_cells(small: tuple[Path, dict], workbooks: dict) -> None:
    out, _ = small
    issues = pl.read_csv(out / "truth" / "issues.csv", infer_schema=False)
    divisions = load_divisions()
    checked = set()
    for row in issues.filter(pl.col("file").str.starts_with("townships/")).iter_rows(named=True):
        sheets = workbooks[row["file"]]
        kind = row["kind"]
        if row["row_no"] is None:
            assert kind in ("household_head", "family_size_mismatch") and row["household_id"]
            continue
        rows = sheets[row["sheet"]]
        cells = rows[int(row["row_no"]) - 1]
        id_cell = cells[_column(rows, "id_number")]
        if kind == "sex_mismatch":
            assert cells[_column(rows, "sex")] != sex_of(parse_id(id_cell).normalised)
        elif kind == "excel_mangled_id":
            assert (
                isinstance(id_cell, float) and parse_id(f"{id_cell:.15g}").status == EXCEL_MANGLED
            )
        elif kind == "invalid_id":
            assert not parse_id(id_cell).is_valid
        elif kind == "foreign_township":
            code = divisions.township_code(str(cells[_column(rows, "township")]))
            assert code is not None and code != row["township_code"]
        elif kind == "village_not_in_township":
            own = {
                village_short(v.name)
                for v in divisions.villages
                if v.township_code == row["township_code"]
            }
            village = str(cells[_column(rows, "village")])
            assert village and village not in own and village.replace("村委会", "村") not in own
        elif kind == "required_missing":
            assert (
                str(
                    cells[
                        _column(
                            rows,
                            {
                                "与户主关系": "relation",
                                "劳动技能": "labour",
                                "行政村": "village",
                                "贫困户属性": "attribute",
                                "年人均可支配收入": "income",
                            }[row["column"]],
                        )
                    ]
                ).strip()
                == ""
            )
        assert str(cells[_column(rows, "household_id")]).replace(".0", "") == row["household_id"]
        checked.add(kind)
    assert {
        "sex_mismatch",
        "excel_mangled_id",
        "invalid_id",
        "foreign_township",
        "village_not_in_township",
    } <= checked


def test_one_family_per_dibao_number(small: tuple[Path, dict]) -> None:
    text = next((small[0] / "inbox" / "dibao").glob("*.csv")).read_bytes().decode("gb18030")
    dibao = pl.read_csv(text.encode(), infer_schema=False)
    per_family = dibao.group_by("低保证号").agg(pl.col("村(社区)").n_unique().alias("villages"))
    assert per_family["villages"].max() == 1
