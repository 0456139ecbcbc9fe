"""HTML and XLSX rendering: escaping, masking, typed sheets, formula neutralisation,
determinism."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from python_calamine import CalamineWorkbook

from reports import render
from reports.xlsx import tables_of
from tests.reports.conftest import EVIL_VILLAGE, FORMULA_UNIT, LEAKED_ID, report_data
from transforms.privacy import safe_text, scrub

FULL_ID = re.compile(r"(?<![0-9])\d{17}[0-9Xx](?![0-9])")


def _xlsx_text(path: Path) -> str:
    with zipfile.ZipFile(path) as z:
        return "".join(z.read(n).decode("utf-8") for n in z.namelist() if n.endswith(".xml"))


@pytest.mark.parametrize("kind", ["assessment", "accountability"])
def test_village_names_stay_text_in_html(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = request.getfixturevalue(kind)
    [html] = render(kind, data, ["html"], tmp_path)
    text = html.read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;村" in text
    assert "<script" not in text.lower().replace("&lt;script", "")


@pytest.mark.parametrize("kind", ["assessment", "accountability"])
def test_no_full_id_number_anywhere(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    data = request.getfixturevalue(kind)
    paths = render(kind, data, ["html", "xlsx"], tmp_path)
    html = paths[0].read_text(encoding="utf-8")
    xml = _xlsx_text(paths[1])
    for text in (html, xml):
        assert LEAKED_ID not in text
        assert not FULL_ID.search(text)
    if kind == "accountability":
        masked = LEAKED_ID[:6] + "********" + LEAKED_ID[-4:]
        assert masked in html and masked in xml  # the detail is kept, masked


def test_scrub_masks_only_id_shaped_numbers() -> None:
    assert scrub(f"号码{LEAKED_ID}。") == f"号码{LEAKED_ID[:6]}********{LEAKED_ID[-4:]}。"
    assert scrub("户编号 4402821130010001") == "户编号 4402821130010001"  # 16 digits: not an ID
    assert scrub("440282800101123") == "440282********1123"  # a legacy 15-digit ID


def test_xlsx_typed_columns_frozen_header_autofilter(
    assessment: dict[str, Any], tmp_path: Path
) -> None:
    [path] = render("assessment", assessment, ["xlsx"], tmp_path)
    wb = CalamineWorkbook.from_path(str(path))
    sheets = wb.sheet_names
    expected = ["说明", *[t["sheet"] for t in tables_of(assessment)]]
    assert sheets == expected
    rows = wb.get_sheet_by_name("脱贫进度").to_python()
    assert rows[0][:4] == ["序号", "镇（街道）", "建档立卡户数", "建档立卡人数"]
    first = rows[1]
    assert isinstance(first[0], (int, float)) and first[0] == 1
    assert isinstance(first[2], (int, float))  # households: a number, not text
    header = rows[0]
    progress = first[header.index("目标完成率")]
    assert isinstance(progress, float) and progress == pytest.approx(
        1.0
    )  # 100% stored as a fraction
    assert first[header.index("评级")] == "达标"
    with zipfile.ZipFile(path) as z:
        sheet_files = [n for n in z.namelist() if n.startswith("xl/worksheets/sheet")]
        assert len(sheet_files) == len(sheets)
        for name in sheet_files[1:]:
            xml = z.read(name).decode()
            assert '<pane ySplit="1"' in xml and 'state="frozen"' in xml
            assert "<autoFilter" in xml
        styles = z.read("xl/styles.xml").decode()
        assert 'formatCode="0.0%"' in styles


def test_dates_are_real_dates(accountability: dict[str, Any], tmp_path: Path) -> None:
    [path] = render("accountability", accountability, ["xlsx"], tmp_path)
    rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_name("逾期问题清单").to_python()
    header = rows[0]
    first_seen = rows[1][header.index("首次发现")]
    assert str(first_seen).startswith("2017-")
    assert not isinstance(first_seen, str)


def test_formulas_are_neutralised(accountability: dict[str, Any], tmp_path: Path) -> None:
    [path] = render("accountability", accountability, ["xlsx"], tmp_path)
    xml = _xlsx_text(path)
    assert "<f>" not in xml and "<f " not in xml
    wb = CalamineWorkbook.from_path(str(path))
    cells = [
        c for name in wb.sheet_names for row in wb.get_sheet_by_name(name).to_python() for c in row
    ]
    texts = [c for c in cells if isinstance(c, str)]
    assert "'" + FORMULA_UNIT in texts
    assert not any(t.startswith(("=", "+", "@")) for t in texts)
    assert not any(t.startswith("-") for t in texts if t != "-")
    assert safe_text("+1") == "'+1" and safe_text("正常") == "正常"


@pytest.mark.parametrize("kind", ["assessment", "accountability"])
def test_rendering_is_deterministic(kind: str, tmp_path: Path) -> None:
    first = render(kind, report_data(kind), ["html", "xlsx"], tmp_path / "a")
    second = render(kind, report_data(kind), ["html", "xlsx"], tmp_path / "b")
    for p, q in zip(first, second, strict=True):
        assert p.name == q.name
        assert p.read_bytes() == q.read_bytes(), p.name


def test_xlsx_created_property_comes_from_the_data(
    assessment: dict[str, Any], tmp_path: Path
) -> None:
    [path] = render("assessment", assessment, ["xlsx"], tmp_path)
    with zipfile.ZipFile(path) as z:
        core = z.read("docProps/core.xml").decode()
    assert (
        '<dcterms:created xsi:type="dcterms:W3CDTF">2017-12-31T00:00:00Z</dcterms:created>' in core
    )


def test_html_is_one_self_contained_document(assessment: dict[str, Any], tmp_path: Path) -> None:
    [path] = render("assessment", assessment, ["html"], tmp_path)
    html = path.read_text(encoding="utf-8")
    assert html.count("<html") == 1 and "<svg" in html
    assert not re.search(
        r"""(src|href)=["']?(https?:)?//""", html
    )  # nothing fetched from a network
    assert "<script" not in html.replace("&lt;script", "")
    for must in (
        "南雄市精准扶贫精准脱贫2017年度考核报告",
        "考核期",
        "截至2017年12月31日",
        "数据来源",
        "序号",
        "counter(page)",
        "size: A4",
        "Noto Serif CJK SC",
        "第7次夜间比对运行",
    ):
        assert must in html, must


def test_township_report_holds_only_that_township(tmp_path: Path) -> None:
    from tests.transforms import indicator_builders as b

    data = report_data("accountability", township=b.A)
    [path] = render("accountability", data, ["html"], tmp_path)
    html = path.read_text(encoding="utf-8")
    assert "珠玑镇" in html and "界址镇" not in html and "乌迳镇" not in html
    data = report_data("assessment", township=b.A)
    progress = next(t for s in data["sections"] for t in s["tables"] if t["id"] == "progress")
    assert [r["township"] for r in progress["rows"]] == ["珠玑镇"]
    assert progress["rows"][0]["rank"] == 1


def test_accountability_lists(accountability: dict[str, Any]) -> None:
    tables = {t["id"]: t for s in accountability["sections"] for t in s["tables"]}
    assert [r["township"] for r in tables["summons"]["rows"]] == ["界址镇"]  # 1 of 2 at year end
    notice = tables["notice_townships"]["rows"]
    assert [r["township"] for r in notice] == [
        "珠玑镇",
        "界址镇",
    ]  # oldest first: 2017-01-10, 2017-03-01
    items = tables["notice_items_all"]["rows"]
    assert [i["first_seen"] for i in items] == sorted(i["first_seen"] for i in items)
    # R05 in 界址镇 open since 2017-03 and at 2017-06-30: recurring high-severity problems.
    recall = tables["recall_direct"]["rows"] + tables["recall_letters"]["rows"]
    by_village = {r["village"]: r for r in recall}
    assert by_village[EVIL_VILLAGE]["route"] == "直接召回"  # 驻镇帮扶工作组
    assert by_village["珠玑村"]["route"] == "向派出单位扶贫办发送召回建议"  # 东莞市
    assert by_village["珠玑村"]["secretary"] == "张*丰"
    league = tables["league"]["rows"]
    assert [r["rank"] for r in league] == sorted(r["rank"] for r in league)


def test_half_year_accountability_has_no_summons() -> None:
    data = report_data("accountability", period="2017H1")
    summons = data["sections"][0]
    assert "本期为半年考核" in summons["paragraphs"][0]
