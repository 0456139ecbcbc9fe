"""Write the hostile part of the bad-input corpus: files and inbox entries made to hurt.

    uv run python tests/corpus/hostile/make_hostile.py            # rewrites files/ here
    uv run python tests/corpus/hostile/make_hostile.py OUT_DIR    # somewhere else (the test)

Deterministic, like tests/corpus/make_corpus.py (whose writers and rows it reuses), and small
on disk: the zip bombs are a few KB.  `files/` holds the bytes; `manifest.json` says, per
inbox entry, how the test puts it into an inbox (`make`), what ingest must make of it
(`status`, and a fragment of the Chinese `reason` a clerk reads), and the `[inbox]` limits
to ingest it with when the real defaults are too generous to trip on a small file
(`limits`; such a file must load with the defaults: `loads_by_default`).

`make`:
- `file:NAME`          a copy of files/NAME
- `link_out:NAME`      a symbolic link to a copy of files/NAME outside the inbox
- `link_in:PATH`       a symbolic link to another entry of the inbox
- `link_out_dir`       a link to a folder outside the inbox holding a good 低保 roll
- `fifo`               a named pipe (reading it would wait for ever)
- `dir`                a folder holding a roster (named like a workbook, or hidden)
- `unreadable:NAME`    a copy of files/NAME the service user cannot read (chmod 000; as root,
                       who reads anything, the test makes opening it fail with EACCES)
- `vanishes:NAME`      a copy of files/NAME removed between the survey and the read
"""

from __future__ import annotations

import io
import json
import struct
import sys
import zipfile
from pathlib import Path

import xlsxwriter
import xlwt

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from make_corpus import (  # noqa: E402
    CREATED,
    ENROL_HEADER,
    ENROL_ROWS,
    ID3,
    ROSTER_HEADER,
    ROSTER_ROWS,
    TITLE,
    csv_text,
    xlsx,
)

DATE = (2017, 7, 1, 9, 0, 0)
GOOD = [[TITLE], ROSTER_HEADER, *ROSTER_ROWS]
NEWCOMER = ["珠玑镇", "珠玑村", "HZ0002", "赵六", ID3, "之子", "普通劳动力", "", "", ""]


def rezip(book: bytes, change: dict[str, bytes], add: dict[str, bytes] | None = None) -> bytes:
    """`book` with some parts replaced and some added, every part dated alike."""
    source = zipfile.ZipFile(io.BytesIO(book))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = change.get(info.filename, source.read(info.filename))
            target.writestr(zipfile.ZipInfo(info.filename, date_time=DATE), data, 8)
        for name, data in (add or {}).items():
            target.writestr(zipfile.ZipInfo(name, date_time=DATE), data, 8)
    return out.getvalue()


def with_extra_strings(book: bytes, extra: bytes) -> bytes:
    """The roster with `extra` <si> items appended to its shared strings: the roster reads
    the same, but the reader holds every string in memory."""
    strings = zipfile.ZipFile(io.BytesIO(book)).read("xl/sharedStrings.xml")
    return rezip(book, {"xl/sharedStrings.xml": strings.replace(b"</sst>", extra + b"</sst>")})


def far_cell_xlsx() -> bytes:
    """The good roster with one stray cell at XFD1048576: 5 KB on disk, a dense grid of 17
    billion cells in calamine (a Rust abort: the process ends)."""
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True, "strings_to_numbers": False})
    book.set_properties({"created": CREATED})
    sheet = book.add_worksheet("花名册")
    for i, row in enumerate(GOOD):
        for j, value in enumerate(row):
            if value:
                sheet.write_string(i, j, str(value))
    sheet.write_string(1_048_575, 16_383, "备注")
    book.close()
    return buffer.getvalue()


def far_cell_xls() -> bytes:
    """The good roster as .xls whose DIMENSIONS record claims 4 billion rows × 65535 columns:
    calamine reserves that grid before reading a cell."""
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet("花名册")
    for i, row in enumerate(GOOD):
        for j, value in enumerate(row):
            if value:
                sheet.write(i, j, value)
    buffer = io.BytesIO()
    book.save(buffer)
    data = bytearray(buffer.getvalue())
    at = data.find(struct.pack("<HH", 0x0200, 14))
    assert at > 0, "no DIMENSIONS record"
    data[at + 4 : at + 16] = struct.pack("<IIHH", 0, 0xFFFFFFFF, 0, 0xFFFF)
    return bytes(data)


def lock_file() -> bytes:
    """What Excel leaves beside an open workbook: the user's name, padded (165 bytes)."""
    name = "zhao".encode("utf-16-le")
    return (bytes([len("zhao")]) + b"zhao".ljust(53, b" ") + name).ljust(165, b"\x00")


def files() -> dict[str, bytes]:
    good = xlsx({"花名册": GOOD})
    enrolment_rows = [[f"P{i:05d}", *ENROL_ROWS[i % 3][1:]] for i in range(800)]
    return {
        "good_roster.xlsx": good,
        # Same township, one person more: read by mistake, it would replace the roster in force.
        "other_roster.xlsx": xlsx({"花名册": [*GOOD, NEWCOMER]}),
        # 4 MB of one letter in the shared strings, ~5 KB on disk: ratio ~1000.
        "bomb_ratio.xlsx": with_extra_strings(good, b"<si><t>" + b"A" * (4 << 20) + b"</t></si>"),
        # 1.6 MB of strings that compress ~60×: under the ratio limit, over a 1 MB total.
        "bomb_total.xlsx": with_extra_strings(
            good,
            b"".join(b"<si><t>%s%05d</t></si>" % ("甲乙".encode() * 50, i) for i in range(5_000)),
        ),
        # 160 parts (a workbook has about ten).
        "bomb_members.xlsx": rezip(
            good, {}, {f"customXml/item{i}.xml": b"<a/>" for i in range(150)}
        ),
        "far_cell.xlsx": far_cell_xlsx(),
        "far_cell.xls": far_cell_xls(),
        # ~90 KB of enrolment rows.
        "big_enrolment.csv": csv_text(ENROL_HEADER, enrolment_rows).encode("utf-8-sig"),
        "lock.xlsx": lock_file(),
    }


def manifest() -> dict[str, dict[str, object]]:
    quarantined, ignored = "quarantined", "ignored"

    def case(make: str, status: str, reason: str, **extra: object) -> dict[str, object]:
        return {"make": make, "status": status, "reason": reason, **extra}

    return {
        "townships/南雄市珠玑镇压缩炸弹.xlsx": case(
            "file:bomb_ratio.xlsx", quarantined, "max_zip_ratio"
        ),
        "townships/南雄市珠玑镇解压过大.xlsx": case(
            "file:bomb_total.xlsx",
            quarantined,
            "max_unzipped_bytes",
            limits={"max_unzipped_bytes": 1 << 20},
            loads_by_default=True,
        ),
        "townships/南雄市珠玑镇部件过多.xlsx": case(
            "file:bomb_members.xlsx",
            quarantined,
            "max_zip_members",
            limits={"max_zip_members": 100},
            loads_by_default=True,
        ),
        "townships/南雄市珠玑镇远处单元格.xlsx": case(
            "file:far_cell.xlsx", quarantined, "max_cells"
        ),
        "townships/南雄市珠玑镇远处单元格.xls": case("file:far_cell.xls", quarantined, "max_cells"),
        "insurance/参保名册过大.csv": case(
            "file:big_enrolment.csv",
            quarantined,
            "max_file_bytes",
            limits={"max_file_bytes": 64 << 10},
            loads_by_default=True,
        ),
        "townships/外部链接.xlsx": case("link_out:other_roster.xlsx", quarantined, "收件箱以外"),
        "townships/内部链接.xlsx": case(
            "link_in:townships/南雄市珠玑镇花名册.xlsx",
            quarantined,
            "收件箱内“townships/南雄市珠玑镇花名册.xlsx”",
        ),
        "dibao/外部文件夹": case("link_out_dir", quarantined, "收件箱以外"),
        "claims": case("link_out_dir", quarantined, "收件箱以外"),  # a source folder, linked
        "townships/无权限.xlsx": case("unreadable:other_roster.xlsx", quarantined, "没有读取权限"),
        "townships/管道.xlsx": case("fifo", quarantined, "命名管道"),
        "townships/文件夹.xlsx": case("dir", quarantined, "名称像表格文件的文件夹"),
        "townships/读取前被删除.xlsx": case("vanishes:other_roster.xlsx", quarantined, "不存在"),
        "townships/..珠玑镇.xlsx": case("file:other_roster.xlsx", quarantined, "隐藏文件"),
        "townships/~$南雄市珠玑镇花名册.xlsx": case("file:lock.xlsx", quarantined, "临时锁定文件"),
        "townships/.同步": case("dir", quarantined, "隐藏文件夹"),
        "珠玑镇花名册.xlsx": case("file:other_roster.xlsx", ignored, "收件箱根目录"),
        "其他资料/珠玑镇花名册.xlsx": case(
            "file:other_roster.xlsx", ignored, "不是约定的来源文件夹"
        ),
        "440281/townships/乐昌市花名册.xlsx": case(
            "file:other_roster.xlsx", ignored, "按县（市、区）分设的文件夹"
        ),
    }


def write(out_dir: Path) -> dict[str, dict[str, object]]:
    files_dir = out_dir / "files"
    files_dir.mkdir(parents=True, exist_ok=True)
    for name, data in files().items():
        (files_dir / name).write_bytes(data)
    entries = manifest()
    text = json.dumps(entries, ensure_ascii=False, indent=1, sort_keys=True) + "\n"
    (out_dir / "manifest.json").write_text(text, encoding="utf-8")
    return entries


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE
    written = write(target)
    print(f"{len(written)} hostile inbox entries, files in {target / 'files'}")
