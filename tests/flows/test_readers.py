"""Readers: workbooks written by xlsxwriter and xlwt, CSV in every encoding, as text grids
whose row i is spreadsheet row i + 1."""

from __future__ import annotations

import codecs
import shutil
from datetime import date, datetime
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
import xlwt

from config.schema import ENROLMENT, ROSTER
from flows.readers import RawSheet, UnreadableFile, excel_number_text, read_csv_table, read_sheets
from transforms import ids

ID18 = ids.make_id("440282", date(1990, 1, 1), 123)  # 44028219900101123 + check character
ID15 = "440282900101123"  # a legacy 15-digit number


def cell(sheet: RawSheet, excel_ref: str) -> str | None:
    """The grid cell at an Excel reference such as 'B3'."""
    col = ord(excel_ref[0]) - ord("A")
    row = int(excel_ref[1:]) - 1
    return sheet.grid[f"c{col}"][row]


@pytest.fixture
def xlsx_path(tmp_path: Path) -> Path:
    path = tmp_path / "珠玑镇.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("贫困人口花名册")
    sheet.merge_range("B2:F2", "南雄市珠玑镇建档立卡贫困人口花名册")
    sheet.write_row(
        "B4", ["户编号", "证件号码", "年人均可支配收入", "登记日期", "饮水安全", "旧证号"]
    )
    sheet.merge_range("B5:B6", "H001")
    sheet.write_number("C5", float(ID18))  # typed into Excel as a number
    sheet.write_number("D5", 7365.0)
    sheet.write_datetime("E5", datetime(2016, 5, 1), book.add_format({"num_format": "yyyy-mm-dd"}))
    sheet.write_boolean("F5", True)
    sheet.write_number("G5", float(ID15))
    sheet.write_string("C6", ID18)
    sheet.write_number("D6", 7365.5)
    sheet.write_datetime(
        "E6", datetime(2016, 5, 1, 13, 30), book.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    )
    sheet.write_string("F6", "\u3000")
    sheet.write_number("G6", -3)
    sheet.write("B8", "合计")
    book.add_worksheet("Sheet2")
    book.close()
    return path


def test_xlsx_cells_as_excel_shows_them(xlsx_path: Path) -> None:
    sheets = read_sheets(xlsx_path)
    assert [s.name for s in sheets] == ["贫困人口花名册", "Sheet2"]
    sheet = sheets[0]
    assert sheet.grid.columns == [f"c{j}" for j in range(7)]
    assert all(dtype == pl.Utf8 for dtype in sheet.grid.dtypes)
    assert sheet.grid.height == 8  # leading blank row and blank row 7 included
    assert cell(sheet, "A1") is None and cell(sheet, "B2") == "南雄市珠玑镇建档立卡贫困人口花名册"
    assert cell(sheet, "C2") is None  # merged: the value sits in the top-left cell only
    assert cell(sheet, "B4") == "户编号"
    # the 18-digit number Excel stored as a double: its surviving digits, no invented tail
    assert cell(sheet, "C5") == "4.40282199001011E+17"
    assert ids.parse_id(cell(sheet, "C5")).status == ids.EXCEL_MANGLED
    assert ids.parse_id(cell(sheet, "C5")).normalised == ID18[:15] + "000"
    assert cell(sheet, "C6") == ID18  # stored as text: intact
    assert cell(sheet, "D5") == "7365" and cell(sheet, "D6") == "7365.5"
    assert cell(sheet, "E5") == "2016-05-01" and cell(sheet, "E6") == "2016-05-01 13:30:00"
    assert cell(sheet, "F5") == "TRUE" and cell(sheet, "F6") == "\u3000"
    assert cell(sheet, "G5") == ID15  # a 15-digit number survives a double
    assert cell(sheet, "G6") == "-3"
    assert cell(sheet, "B5") == "H001" and cell(sheet, "B6") is None
    assert cell(sheet, "B8") == "合计"
    assert sheets[1].grid.height == 0


def test_xlsx_number_text_never_goes_through_int_float() -> None:
    # int(float(...)) of this value is 440282199001011328; Excel shows 15 digits.
    value = 4.402821990010113e17
    assert excel_number_text(value) == "4.40282199001011E+17"
    assert str(int(value)) != ids.expand_scientific(excel_number_text(value))


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (7365.0, "7365"),
        (7365.5, "7365.5"),
        (0.1 + 0.2, "0.3"),
        (-3.0, "-3"),
        (440282900101123.0, "440282900101123"),
        (1e15, "1E+15"),
        (1e16, "1E+16"),
        (12345678901234.5, "12345678901234.5"),
        (0.00001, "1E-05"),
        (0.0, "0"),
        (440282199001011890.0, "4.40282199001012E+17"),  # a full double shows 15 digits, rounded
    ],
)
def test_excel_number_text(value: float, text: str) -> None:
    assert excel_number_text(value) == text


def test_xls_written_by_xlwt(tmp_path: Path) -> None:
    path = tmp_path / "roster.xls"
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("花名册")
    sheet.write(0, 0, "南雄市乌迳镇建档立卡贫困人口花名册")
    sheet.write(2, 0, "户编号")
    sheet.write(2, 1, "证件号码")
    sheet.write(2, 2, "日期")
    sheet.write(2, 3, "收入")
    sheet.write_merge(3, 4, 0, 0, "H001")
    sheet.write(3, 1, float(ID18))
    sheet.write(3, 2, date(2016, 5, 1), xlwt.easyxf(num_format_str="YYYY-MM-DD"))
    sheet.write(3, 3, 7365)
    sheet.write(4, 1, ID18)
    sheet.write(4, 3, 7365.25)
    book.save(str(path))

    (raw,) = read_sheets(path)
    assert raw.name == "花名册"
    assert raw.grid.height == 5
    assert cell(raw, "A1") == "南雄市乌迳镇建档立卡贫困人口花名册" and cell(raw, "A2") is None
    assert cell(raw, "A4") == "H001" and cell(raw, "A5") is None
    assert ids.parse_id(cell(raw, "B4")).status == ids.EXCEL_MANGLED
    assert cell(raw, "B5") == ID18
    assert cell(raw, "C4") == "2016-05-01"
    assert cell(raw, "D4") == "7365" and cell(raw, "D5") == "7365.25"


def test_content_decides_not_the_extension(xlsx_path: Path, tmp_path: Path) -> None:
    renamed = tmp_path / "really_xlsx.xls"
    shutil.copy(xlsx_path, renamed)
    assert read_sheets(renamed)[0].name == "贫困人口花名册"


CSV_ROWS = [
    "南雄市城乡居民医保参保名册",
    "",
    "个人编号,姓名,证件号码,参保年度,参保状态",
    f"P1,张　三,{ID18},2017,参保缴费",
    "",
    f'P2,"李,梅",{ID15},2017,暂停参保',
    "合计,2人",
]


@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-8", b""),
        ("utf-8", codecs.BOM_UTF8),
        ("gb18030", b""),
        ("gbk", b""),
        ("utf-16-le", codecs.BOM_UTF16_LE),
    ],
)
def test_csv_encodings(tmp_path: Path, encoding: str, bom: bytes) -> None:
    path = tmp_path / "enrolment.csv"
    path.write_bytes(bom + "\r\n".join(CSV_ROWS).encode(encoding) + "\r\n".encode(encoding))
    (sheet,) = read_sheets(path)
    assert sheet.name == ""
    assert sheet.grid.height == len(CSV_ROWS)  # blank lines are rows: row i is line i + 1
    assert cell(sheet, "A1") == "南雄市城乡居民医保参保名册"
    assert cell(sheet, "A2") is None
    assert cell(sheet, "B3") == "姓名"
    assert cell(sheet, "B4") == "张　三"
    assert cell(sheet, "C4") == ID18
    assert cell(sheet, "B6") == "李,梅"
    assert cell(sheet, "A7") == "合计" and cell(sheet, "C7") is None

    raw, layout = read_csv_table(path, ENROLMENT)
    assert layout.header_rows == [2] and layout.data_start == 3
    assert layout.columns == {
        "insured_key": 0,
        "name": 1,
        "id_number": 2,
        "year": 3,
        "enrol_status": 4,
    }
    assert raw.grid.equals(sheet.grid)


def test_csv_tab_separated_and_quoted_line_breaks(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text('姓名\t证件号码\t备注\n张三\t1\t"两行\n备注"\n李四\t2\t\n', encoding="utf-8")
    (sheet,) = read_sheets(path)
    assert sheet.grid.height == 3  # records, as Excel numbers them
    assert cell(sheet, "C2") == "两行\n备注"
    assert cell(sheet, "A3") == "李四"


def test_csv_with_long_title_then_wider_table(tmp_path: Path) -> None:
    """Polars takes its width from the first line it sees: it must start at the header."""
    lines = [
        "标题：南雄市低保对象名册",
        "填报单位：民政局,2018-01-01",
        "a,b,c,d,e",
        "1,2,3,4,5",
        "6,7",
    ]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (sheet,) = read_sheets(path)
    assert sheet.grid.width == 5 and sheet.grid.height == 5
    assert cell(sheet, "B2") == "2018-01-01"
    assert cell(sheet, "E4") == "5" and cell(sheet, "C5") is None


def test_big_csv_keeps_every_row(tmp_path: Path) -> None:
    rows = [f"P{i},姓名{i},{ID18},2017,参保缴费" for i in range(50_000)]
    path = tmp_path / "big.csv"
    path.write_text(
        "\n".join(["参保名册", "个人编号,姓名,证件号码,参保年度,参保状态", *rows]) + "\n"
    )
    raw, layout = read_csv_table(path, ENROLMENT)
    assert raw.grid.height == 50_002
    assert raw.grid["c0"][layout.data_start + 49_999] == "P49999"


def test_read_csv_table_accepts_a_workbook(xlsx_path: Path, tmp_path: Path) -> None:
    path = tmp_path / "e.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("说明").write("A1", "本表为参保名册")
    sheet = book.add_worksheet("参保")
    sheet.write_row(0, 0, ["姓名", "证件号码", "参保年度", "参保状态"])
    sheet.write_row(1, 0, ["张三", ID18, 2017, "参保缴费"])
    book.close()
    raw, layout = read_csv_table(path, ENROLMENT)
    assert raw.name == "参保"
    assert raw.grid["c2"][1] == "2017"
    assert layout.columns["year"] == 2


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(UnreadableFile, match="不存在"):
        read_sheets(tmp_path / "nope.xlsx")
    with pytest.raises(UnreadableFile, match="文件夹"):
        read_sheets(tmp_path)
    empty = tmp_path / "e.csv"
    empty.write_bytes(b"")
    with pytest.raises(UnreadableFile) as caught:
        read_sheets(empty)
    assert caught.value.reason == str(caught.value) and "为空" in caught.value.reason


def test_roster_round_trip(xlsx_path: Path) -> None:
    """The grid a roster workbook yields feeds header location unchanged."""
    from transforms.headers import MissingColumns, locate_table

    sheet = read_sheets(xlsx_path)[0]
    with pytest.raises(MissingColumns) as caught:
        locate_table(sheet.grid, ROSTER)
    assert "姓名" in caught.value.columns


def test_gbk_body_behind_an_ascii_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encoding is judged from the head; a body that then fails as UTF-8 is read as GB18030."""
    from flows.readers import delimited

    monkeypatch.setattr(delimited, "_HEAD_BYTES", 12)
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"a,b,c\n1,2,3\n" + "张三,李四,王五\n".encode("gbk") * 3)
    (sheet,) = read_sheets(path)
    assert sheet.grid.height == 5
    assert sheet.grid.row(4) == ("张三", "李四", "王五")


# ---------------------------------------------------------------- hostile workbooks


def _workbook(change: dict[str, bytes] | None = None, extra: dict[str, bytes] | None = None):  # type: ignore[no-untyped-def]
    """A two-cell workbook (A1, B2) whose sheet or other parts are replaced or added."""
    import io
    import zipfile

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("s")
    sheet.write_string(0, 0, "x")
    sheet.write_string(1, 1, "y")
    book.close()
    source = zipfile.ZipFile(io.BytesIO(buffer.getvalue()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name in source.namelist():
            data = source.read(name)
            for old, new in (change or {}).items():
                data = data.replace(old, new) if name.endswith("sheet1.xml") else data
            target.writestr(name, data)
        for name, data in (extra or {}).items():
            target.writestr(name, data)
    return out.getvalue()


B2 = b'<c r="B2" t="s"><v>1</v></c>'
HOSTILE_WORKBOOKS = {
    # the far cell written the way Excel never writes it: attributes reordered, prefixed
    "attributes": ({B2: b'<c t="s" r="XFD1048576"><v>1</v></c>'}, "max_cells"),
    "prefix": (
        {B2: b'<x:c xmlns:x="urn:x" r="XFD1048576" t="s"><x:v>1</x:v></x:c>'},
        "max_cells",
    ),
    # cells without a reference follow the one before: a row of 3000 of them, far down
    "no_references": (
        {b'<row r="2" spans="1:2">' + B2: b'<row r="1048576">' + b'<c t="s"><v>1</v></c>' * 3000},
        "max_cells",
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_WORKBOOKS))
def test_a_far_cell_is_refused_before_calamine_sees_it(case: str, tmp_path: Path) -> None:
    for name, data in {  # what is merely tall or wide still reads
        "plain.xlsx": _workbook(),
        "tall.xlsx": _workbook({b'<row r="2" spans="1:2">': b'<row r="1048576">'}),
        "wide.xlsx": _workbook({B2: b'<c r="XFD2" t="s"><v>1</v></c>'}),
    }.items():
        (tmp_path / name).write_bytes(data)
        assert read_sheets(tmp_path / name), name
    change, reason = HOSTILE_WORKBOOKS[case]
    path = tmp_path / "x.xlsx"
    path.write_bytes(_workbook(change))
    with pytest.raises(UnreadableFile) as caught:
        read_sheets(path)  # calamine would abort the process (a dense grid of 17e9 cells)
    assert reason in caught.value.reason


def test_a_zip_that_lies_or_overlaps_is_refused(tmp_path: Path) -> None:
    import struct

    big = b"<si><t>" + b"A" * (100 << 10) + b"</t></si>"  # under the 1 MB ratio floor
    data = bytearray(_workbook(extra={"xl/pad.xml": big, "xl/pad2.xml": b"<a/>"}))
    entries = [m.start() for m in __import__("re").finditer(rb"PK\x01\x02", data)]

    def entry(name: bytes) -> int:
        return next(e for e in entries if data[e + 46 : e + 46 + len(name)] == name)

    forged = bytearray(data)
    struct.pack_into("<I", forged, entry(b"xl/pad.xml") + 24, 1000)  # "1000 bytes inflated"
    overlapping = bytearray(data)
    offset = struct.unpack_from("<I", data, entry(b"xl/pad.xml") + 42)[0]
    struct.pack_into("<I", overlapping, entry(b"xl/pad2.xml") + 42, offset)
    for name, body, reason in [
        ("forged.xlsx", forged, "比压缩包目录记载的大"),
        ("overlapping.xlsx", overlapping, "相互重叠"),
    ]:
        (tmp_path / name).write_bytes(bytes(body))
        with pytest.raises(UnreadableFile) as caught:
            read_sheets(tmp_path / name)
        assert reason in caught.value.reason, name


def test_xlsb_ods_and_absurdly_wide_csv_are_refused(tmp_path: Path) -> None:
    cases = {
        "a.xlsx": (_workbook(extra={"xl/workbook.bin": b"\x00"}), ".xlsb"),
        "b.xlsx": (_workbook(extra={"content.xml": b"<a/>"}), ".ods"),
        "c.csv": (("列," * 20_000 + "\n1\n").encode(), "列数过多"),
    }
    for name, (body, reason) in cases.items():
        (tmp_path / name).write_bytes(body)
        with pytest.raises(UnreadableFile) as caught:
            read_sheets(tmp_path / name)
        assert reason in caught.value.reason, name


def test_an_xls_whose_cell_or_dimensions_are_far_is_refused(tmp_path: Path) -> None:
    import io
    import struct

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("s")
    sheet.write(0, 0, "x")
    sheet.write(1, 1, "marker")
    buffer = io.BytesIO()
    book.save(buffer)
    plain = buffer.getvalue()
    far = bytearray(plain)  # the LABELSST of B2 moved to row 65535, column 65535
    at = far.find(struct.pack("<HHHH", 0x00FD, 10, 1, 1))
    far[at + 4 : at + 8] = struct.pack("<HH", 65535, 65535)
    (tmp_path / "plain.xls").write_bytes(plain)
    (tmp_path / "far.xls").write_bytes(bytes(far))
    assert read_sheets(tmp_path / "plain.xls")[0].grid.shape == (2, 2)
    with pytest.raises(UnreadableFile) as caught:
        read_sheets(tmp_path / "far.xls")
    assert "max_cells" in caught.value.reason


def test_a_link_a_fifo_and_a_big_file_are_not_read(tmp_path: Path) -> None:
    import os

    from config.settings import InboxLimits

    target = tmp_path / "target.csv"
    target.write_text("a,b\n1,2\n", encoding="utf-8")
    (tmp_path / "link.csv").symlink_to(target)
    os.mkfifo(tmp_path / "pipe.csv")
    for name, reason in [("link.csv", "符号链接"), ("pipe.csv", "命名管道")]:
        with pytest.raises(UnreadableFile) as caught:
            read_sheets(tmp_path / name)
        assert reason in caught.value.reason
    with pytest.raises(UnreadableFile) as caught:
        read_sheets(target, InboxLimits(max_file_bytes=4))
    assert "max_file_bytes" in caught.value.reason
