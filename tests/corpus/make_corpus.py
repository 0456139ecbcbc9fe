"""Write the bad-input corpus: small files that break ingestion in every way we have seen.

    uv run python tests/corpus/make_corpus.py            # rewrites tests/corpus/files/
    uv run python tests/corpus/make_corpus.py OUT_DIR    # somewhere else (the test does this)

Deterministic: the same bytes on every run (fixed workbook dates, no randomness), so the files
can be committed and tests/flows/test_corpus.py can check they are current.  `manifest.json`
says, per file, which source it is offered as and what ingestion must make of it:
`unreadable` (UnreadableFile), `missing` (MissingColumns naming `column`) or `loads` (`rows`
rows kept, bad values included).  All personal data here is invented.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import struct
import sys
import zipfile
from pathlib import Path

import xlsxwriter
import xlwt

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from transforms.ids import make_id  # noqa: E402

HERE = Path(__file__).resolve().parent
CREATED = dt.datetime(2017, 7, 1, 9, 0, 0)

ID1 = make_id("440282", dt.date(1962, 3, 14), 131)
ID2 = make_id("440282", dt.date(1965, 8, 2), 242)
ID3 = make_id("440282", dt.date(1990, 1, 1), 353)
ID4 = make_id("440282", dt.date(1948, 11, 30), 464)

ROSTER_HEADER = [
    "乡镇",
    "行政村",
    "户编号",
    "姓名",
    "证件号码",
    "与户主关系",
    "劳动技能",
    "贫困户属性",
    "年人均可支配收入",
    "脱贫状态",
]
ROSTER_ROWS = [
    [
        "珠玑镇",
        "珠玑村",
        "HZ0001",
        "张三",
        ID1,
        "户主",
        "普通劳动力",
        "一般贫困户",
        "7365",
        "未脱贫",
    ],
    ["珠玑镇", "珠玑村", "HZ0001", "李梅", ID2, "配偶", "弱劳动力或半劳动力", "", "", ""],
    ["珠玑镇", "珠玑村", "HZ0002", "王五", ID4, "户主", "丧失劳动力", "低保户", "4,100元", "否"],
]
DIBAO_HEADER = [
    "乡镇",
    "村(居)",
    "家庭编号",
    "姓名",
    "证件号码",
    "与户主关系",
    "保障类别",
    "月保障金额",
    "保障状态",
    "起始日期",
    "停保日期",
    "停保原因",
]
DIBAO_ROWS = [
    [
        "珠玑镇",
        "珠玑村",
        "DB001",
        "王五",
        ID4,
        "户主",
        "农村低保",
        "360",
        "在保",
        "2016/5/1",
        "",
        "",
    ],
]
ENROL_HEADER = [
    "个人编号",
    "姓名",
    "证件号码",
    "性别",
    "出生日期",
    "参保年度",
    "参保状态",
    "人员状态",
    "资助类别",
    "所属乡镇",
    "所属村",
]
ENROL_ROWS = [
    [
        "P0001",
        "张三",
        ID1,
        "男",
        "1962-03-14",
        "2017",
        "参保缴费",
        "正常",
        "建档立卡贫困人口",
        "珠玑镇",
        "珠玑村",
    ],
    ["P0002", "李梅", ID2, "女", "19650802", "2017", "参保缴费", "正常", "无", "珠玑镇", "珠玑村"],
    [
        "P0003",
        "王五",
        ID4,
        "男",
        "1948年11月30日",
        "2017",
        "参保缴费",
        "死亡",
        "低保对象",
        "珠玑镇",
        "珠玑村",
    ],
]
SETTLE_HEADER = [
    "结算编号",
    "证件号码",
    "姓名",
    "结算日期",
    "医疗机构",
    "医疗费用总额",
    "政策范围内费用",
    "基本医保支付",
    "大病保险支付",
    "医疗救助支付",
]
SETTLE_ROWS = [
    ["JS0001", ID1, "张三", "2017-03-02", "南雄市人民医院", "5200.5", "4800", "3360", "0", "1000"],
]
TITLE = "南雄市珠玑镇建档立卡贫困人口花名册（截至2017年6月30日）"


# ---------------------------------------------------------------- writers


def xlsx(sheets: dict[str, list[list[object]]], numeric_ids: bool = False) -> bytes:
    """A workbook whose rows are written as given; None leaves a cell empty."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    book.set_properties({"created": CREATED})
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for i, row in enumerate(rows):
            for j, value in enumerate(row):
                if value is None or value == "":
                    continue
                if (
                    numeric_ids
                    and isinstance(value, str)
                    and len(value) == 18
                    and value[:17].isdigit()
                ):
                    sheet.write_number(i, j, float(value[:15] + "000"))  # Excel keeps 15 digits
                elif isinstance(value, (int, float)):
                    sheet.write_number(i, j, value)
                else:
                    sheet.write_string(i, j, str(value))
    book.close()
    return buffer.getvalue()


def xls(rows: list[list[object]], merged_household: bool = False) -> bytes:
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("花名册")
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value not in (None, ""):
                sheet.write(i, j, value)
    if merged_household:
        sheet.write_merge(2, 3, 2, 2, "HZ0001")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_text(
    header: list[str], rows: list[list[str]], title: str | None = None, sep: str = ","
) -> str:
    lines = ([title] if title else []) + [sep.join(header)] + [sep.join(r) for r in rows]
    return "\r\n".join(lines) + "\r\n"


def ole_like(names: list[str]) -> bytes:
    """An OLE compound-file header followed by directory names, as an encrypted Office file
    begins; not a complete container (that is the point)."""
    header = (
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + struct.pack("<HHH", 0x3E, 3, 0xFFFE)
    )
    header = header.ljust(512, b"\x00")
    entries = b"".join(n.encode("utf-16-le").ljust(128, b"\x00") for n in names)
    return header + entries.ljust(1536, b"\x00") + bytes(range(256)) * 8


def zip_of(members: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in members.items():
            info = zipfile.ZipInfo(name, date_time=(2017, 7, 1, 9, 0, 0))
            archive.writestr(info, text)
    return buffer.getvalue()


# ---------------------------------------------------------------- the corpus


def corpus() -> list[tuple[str, bytes, dict[str, object]]]:
    """(file name, bytes, manifest entry) for every corpus file."""
    roster = [[TITLE], ROSTER_HEADER, *ROSTER_ROWS]
    good_roster = xlsx({"花名册": roster})
    files: list[tuple[str, bytes, dict[str, object]]] = []

    def add(name: str, data: bytes, source: str, expect: str, **extra: object) -> None:
        files.append((name, data, {"source": source, "expect": expect, **extra}))

    # -- unreadable
    add(
        "01_truncated_zip.xlsx",
        good_roster[: len(good_roster) // 2],
        "roster",
        "unreadable",
        reason="损坏",
    )
    add(
        "02_encrypted.xlsx",
        ole_like(["Root Entry", "EncryptionInfo", "EncryptedPackage", "\x06DataSpaces"]),
        "roster",
        "unreadable",
        reason="加密",
    )
    add(
        "03_ole_without_workbook.xlsx",
        ole_like(["Root Entry"]),
        "roster",
        "unreadable",
        reason="加密或已损坏",
    )
    add(
        "04_text_renamed.xlsx",
        "这是一份工作说明，不是表格。\n请各镇按时上报。\n".encode(),
        "roster",
        "unreadable",
        reason="纯文本",
    )
    add(
        "05_png_renamed.xlsx",
        b"\x89PNG\r\n\x1a\n" + bytes(range(200)),
        "roster",
        "unreadable",
        reason="图片",
    )
    add("06_empty.xlsx", b"", "roster", "unreadable", reason="为空")
    add("07_empty.csv", b"", "dibao", "unreadable", reason="为空")
    add("08_whitespace_only.csv", b"\r\n   \r\n\t\r\n", "insurance", "unreadable", reason="为空")
    add(
        "09_pdf_named.csv",
        b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n",
        "dibao",
        "unreadable",
        reason="PDF",
    )
    html = (
        "<html><head><meta charset='utf-8'></head><body><table><tr><td>姓名</td><td>证件号码</td></tr>"
        "<tr><td>张三</td><td>440282</td></tr></table></body></html>"
    )
    add("10_html_named.xls", html.encode(), "insurance", "unreadable", reason="HTML")
    add(
        "11_word_renamed.xlsx",
        zip_of({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}),
        "roster",
        "unreadable",
        reason="Word",
    )
    add(
        "12_zip_not_workbook.xlsx",
        zip_of({"readme.txt": "hello"}),
        "roster",
        "unreadable",
        reason="没有工作簿",
    )
    real_xls = xls([ROSTER_HEADER, *ROSTER_ROWS])
    add("13_truncated.xls", real_xls[: len(real_xls) // 3], "roster", "unreadable")
    add(
        "14_binary.csv",
        b"\x01\x02\x03\x00\x00\x10binary\x00data" * 20,
        "claims",
        "unreadable",
        reason="二进制",
    )
    add(
        "15_bad_encoding.csv",
        "姓名,证件号码\n".encode() + b"\xff\x80\xfe\x81" * 40 + b"\n" + b"\xff" * 200,
        "claims",
        "unreadable",
        reason="编码",
    )
    add(
        "16_xml_2003.xls",
        b'<?xml version="1.0"?>\n<Workbook xmlns="urn:schemas-microsoft-com:office:spreadsheet"/>',
        "dibao",
        "unreadable",
        reason="XML",
    )
    add(
        "17_empty_sheets.xlsx",
        xlsx({"Sheet1": [], "Sheet2": []}),
        "roster",
        "unreadable",
        reason="为空",
    )
    add(
        "18_gzip_named.csv",
        b"\x1f\x8b\x08\x00" + bytes(range(64)),
        "insurance",
        "unreadable",
        reason="压缩包",
    )

    # -- a required column missing: the whole file is rejected, naming column and synonyms
    add(
        "20_title_only.xlsx",
        xlsx({"花名册": [[TITLE], ["填报单位：珠玑镇人民政府"]]}),
        "roster",
        "missing",
        column="证件号码",
    )
    no_id = [
        [TITLE],
        [h for h in ROSTER_HEADER if h != "证件号码"],
        *[
            [v for k, v in zip(ROSTER_HEADER, r, strict=True) if k != "证件号码"]
            for r in ROSTER_ROWS
        ],
    ]
    add(
        "21_roster_without_id.xlsx", xlsx({"花名册": no_id}), "roster", "missing", column="证件号码"
    )
    no_town = [["建档立卡贫困人口花名册"], ROSTER_HEADER[1:], *[r[1:] for r in ROSTER_ROWS]]
    add(
        "22_roster_without_township.xlsx",
        xlsx({"人员信息": no_town}),
        "roster",
        "missing",
        column="乡镇",
    )
    dibao_no_cat = [
        [v for k, v in zip(DIBAO_HEADER, r, strict=True) if k != "保障类别"] for r in DIBAO_ROWS
    ]
    add(
        "23_dibao_gbk_without_category.csv",
        csv_text(
            [h for h in DIBAO_HEADER if h != "保障类别"], dibao_no_cat, title="南雄市低保对象名册"
        ).encode("gbk"),
        "dibao",
        "missing",
        column="保障类别",
    )
    add(
        "24_enrolment_bom_without_year.csv",
        codecs.BOM_UTF8
        + csv_text(
            [h for h in ENROL_HEADER if h != "参保年度"], [r[:5] + r[6:] for r in ENROL_ROWS]
        ).encode(),
        "insurance",
        "missing",
        column="参保年度",
    )
    add(
        "25_settlement_without_assistance.xlsx",
        xlsx({"结算明细": [SETTLE_HEADER[:-1], *[r[:-1] for r in SETTLE_ROWS]]}),
        "claims",
        "missing",
        column="医疗救助支付",
    )
    villages = [["行政村", "户籍人口", "通客车"], ["珠玑村", "3021", "是"]]
    add(
        "26_villages_without_is_poor.xlsx",
        xlsx({"花名册": roster, "贫困村情况表": villages}),
        "villages",
        "missing",
        column="是否贫困村",
    )
    add(
        "27_footer_rows_only.xlsx",
        xlsx({"花名册": [[TITLE], ["合计", None, "3户"], ["填表人：赵六", None, "审核人：钱七"]]}),
        "roster",
        "missing",
        column="证件号码",
    )
    late = [[TITLE]] + [[]] * 11 + [ROSTER_HEADER, *ROSTER_ROWS]
    add("28_header_below_row_10.xlsx", xlsx({"花名册": late}), "roster", "missing", column="户编号")
    add(
        "29_claims_gbk_wrong_headers.csv",
        csv_text(["流水号", "身份证", "金额"], [["1", ID1, "100"]]).encode("gb18030"),
        "claims",
        "missing",
        column="结算编号",
    )

    # -- bad rows: loaded, every row kept
    enrol = csv_text(ENROL_HEADER, ENROL_ROWS).encode()
    add(
        "40_truncated_mid_line.csv",
        enrol[: enrol.rindex("珠玑村".encode()) + 4],
        "insurance",
        "loads",
        rows=3,
    )
    add(
        "41_unterminated_quote.csv",
        csv_text(ENROL_HEADER, [*ENROL_ROWS[:2], ['"P0003', "王五", ID4, "男"]]).encode(),
        "insurance",
        "loads",
        rows=3,
    )
    bad_rows = [
        [TITLE],
        ROSTER_HEADER,
        [
            "珠玑镇",
            "珠玑村",
            "HZ0001",
            "张三",
            ID1[:-1] + ("0" if ID1[-1] != "0" else "1"),
            "户主",
            "会飞",
            "一般贫困户",
            "七千",
            "未脱贫",
        ],
        ["珠玑镇", "珠玑村", "HZ0001", "", "44028219", "配偶", "普通劳动力", None, None, None],
        ["外星镇", "不存在村", "HZ0003", "王　五 ", "", "户主", "", "", "-5", "也许"],
    ]
    add("42_bad_values.xlsx", xlsx({"花名册": bad_rows}), "roster", "loads", rows=3)
    ragged = csv_text(
        DIBAO_HEADER, [DIBAO_ROWS[0][:5], DIBAO_ROWS[0] + ["多余", "更多"], DIBAO_ROWS[0]]
    )
    add("43_ragged_rows.csv", ragged.encode(), "dibao", "loads", rows=3)
    add(
        "44_numeric_ids.xlsx",
        xlsx({"花名册": roster}, numeric_ids=True),
        "roster",
        "loads",
        rows=3,
        statuses=["excel_mangled"],
    )
    rare = [
        [
            "珠玑镇",
            "珠玑村",
            "DB009",
            "𠮷㐂",
            ID3,
            "户主",
            "农村低保",
            "360",
            "在保",
            "2016.5.1",
            "",
            "",
        ]
    ]
    add(
        "45_gb18030_rare_chars.csv",
        csv_text(DIBAO_HEADER, rare).encode("gb18030"),
        "dibao",
        "loads",
        rows=1,
    )
    dup = [ROSTER_HEADER + ["姓名"], *[r + ["别名"] for r in ROSTER_ROWS]]
    add("46_duplicate_column.xlsx", xlsx({"花名册": dup}), "roster", "loads", rows=3)
    add(
        "47_tab_text_named.xls",
        csv_text(ENROL_HEADER, ENROL_ROWS, sep="\t").encode("gbk"),
        "insurance",
        "loads",
        rows=3,
    )
    repeated = [
        [TITLE],
        ROSTER_HEADER,
        ROSTER_ROWS[0],
        ROSTER_HEADER,
        *ROSTER_ROWS[1:],
        [],
        ["合　计", "", "2户"],
    ]
    add("48_repeated_header_and_footer.xlsx", xlsx({"花名册": repeated}), "roster", "loads", rows=3)
    merged_rows = [
        [TITLE],
        ROSTER_HEADER,
        ROSTER_ROWS[0][:2] + [""] + ROSTER_ROWS[0][3:],
        ROSTER_ROWS[1][:2] + [""] + ROSTER_ROWS[1][3:],
        ROSTER_ROWS[2],
    ]
    add(
        "49_merged_household.xls",
        xls(merged_rows, merged_household=True),
        "roster",
        "loads",
        rows=3,
    )
    utf16 = codecs.BOM_UTF16_LE + csv_text(SETTLE_HEADER, SETTLE_ROWS, sep="\t").encode("utf-16-le")
    add("50_utf16_unicode_text.txt", utf16, "claims", "loads", rows=1)
    add(
        "51_header_and_footers_only.xlsx",
        xlsx({"花名册": [[TITLE], ROSTER_HEADER, ["合计"], ["填表人：赵六"]]}),
        "roster",
        "loads",
        rows=0,
    )
    add(
        "52_semicolon.csv",
        csv_text(SETTLE_HEADER, SETTLE_ROWS, sep=";").encode(),
        "claims",
        "loads",
        rows=1,
    )
    return files


def write(out_dir: Path) -> dict[str, dict[str, object]]:
    files_dir = out_dir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, dict[str, object]] = {}
    for name, data, entry in corpus():
        (files_dir / name).write_bytes(data)
        manifest[name] = entry
    text = json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    (out_dir / "manifest.json").write_text(text, encoding="utf-8")
    return manifest


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    written = write(target)
    print(f"{len(written)} files written to {target / 'files'}")
