"""Header location, two-row headers, synonyms, unknown columns, footers, row numbers."""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl
import pytest

from config.schema import DIBAO, ENROLMENT, ROSTER, SETTLEMENT, VILLAGES
from tests.transforms.bound import find_roster_sheet, locate_table, township_from_title
from transforms.frames import staged_schema
from transforms.headers import (
    MissingColumns,
    find_village_sheet,
    normalise_header,
    stage,
)

TITLE = "南雄市珠玑镇建档立卡贫困人口花名册（截至2017年6月30日）"
HEADER = ["乡镇", "行政村", "户编号", "姓名", "证件号码", "与户主关系", "劳动技能", "贫困户属性",
          "年人均可支配收入", "脱贫状态"]  # fmt: skip
ROW = [
    "珠玑镇",
    "珠玑村",
    "H1",
    "张三",
    "440282196203141314",
    "户主",
    "普通劳动力",
    "一般贫困户",
    "7365",
    "未脱贫",
]


def grid(rows: list[list[str | None]]) -> pl.DataFrame:
    """A raw grid as the readers build it: Utf8 columns c0..cN, None for empty cells."""
    width = max(len(r) for r in rows)
    padded = [[*r, *[None] * (width - len(r))] for r in rows]
    return pl.DataFrame(
        {f"c{j}": [r[j] or None for r in padded] for j in range(width)},
        schema={f"c{j}": pl.Utf8 for j in range(width)},
    )


@pytest.mark.parametrize(
    ("written", "normalised"),
    [
        ("年人均可支配收入（元）", "年人均可支配收入(元)"),
        ("身份证\n号码", "身份证号码"),
        (" 姓 名 ", "姓名"),
        ("姓\u3000名", "姓名"),
        ("*姓名", "姓名"),
        ("村【居】", "村(居)"),
        (None, ""),
    ],
)
def test_normalise_header(written: str | None, normalised: str) -> None:
    assert normalise_header(written) == normalised


def test_header_below_title_rows_and_excel_row_numbers() -> None:
    g = grid(
        [[TITLE], ["填报单位：珠玑镇人民政府", None, "填报日期：2017-07-01"], [], HEADER, ROW, ROW]
    )
    layout = locate_table(g, ROSTER)
    assert layout.header_rows == [3]
    assert layout.data_start == 4
    assert layout.columns["id_number"] == 4
    assert "珠玑镇" in layout.title and "填报单位" in layout.title
    staged = stage(g, layout, file_id=9, sheet="花名册")
    assert staged["row_no"].to_list() == [5, 6]  # Excel rows 5 and 6
    assert staged.schema == pl.Schema(staged_schema(ROSTER))
    assert staged["file_id"].to_list() == [9, 9]
    assert staged["sheet"].to_list() == ["花名册", "花名册"]
    assert staged["name"].to_list() == ["张三", "张三"]


def test_header_on_the_tenth_row_is_found_not_on_the_eleventh() -> None:
    assert locate_table(grid([[TITLE], *[[]] * 8, HEADER, ROW]), ROSTER).header_rows == [9]
    with pytest.raises(MissingColumns) as caught:
        locate_table(grid([[TITLE], *[[]] * 9, HEADER, ROW]), ROSTER)
    assert "未找到可识别的表头" in caught.value.message


def test_two_row_header_with_merged_parent() -> None:
    """家庭情况 spans four leaves; the other names are merged vertically (value in the top row)."""
    top = ["序号", "乡镇", "行政村", "户编号", "成员\n姓名", "身份证号码", "与户主关系", "劳动能力",
           "家庭情况", None, None, None, "备注"]  # fmt: skip
    leaves = [None] * 8 + ["贫困户属性", "家庭人口(人)", "年人均可支配收入（元）", "是否脱贫", None]
    data = ["1", "珠玑镇", "珠玑村", "H1", "张三", "440282196203141314", "户主", "有劳动能力",
            "低保户", "3", "7,365", "否", "无"]  # fmt: skip
    g = grid([[TITLE], top, leaves, data])
    layout = locate_table(g, ROSTER)
    assert layout.header_rows == [1, 2]
    assert layout.data_start == 3
    assert layout.columns["attribute"] == 8
    assert layout.columns["family_size"] == 9
    assert layout.columns["income"] == 10
    assert layout.columns["exit_status"] == 11
    assert layout.columns["name"] == 4
    assert layout.unknown == ["序号", "备注"]
    staged = stage(g, layout, 1, "s")
    assert staged["row_no"].to_list() == [4]
    assert staged["income"].to_list() == ["7,365"]
    assert json.loads(staged["extra"][0]) == {"序号": "1", "备注": "无"}


@pytest.mark.parametrize(
    ("header", "key"),
    [
        ("村（居）", "village"),
        ("村\n(居)", "village"),
        ("户 号", "household_id"),
        ("公民身份\n号码", "id_number"),
        ("身份证号码（18位）", "id_number"),
        ("人均纯收入（元/人）", "income"),
        ("年人均可支配收入(元)", "income"),
        ("家庭人口数（人）", "family_size"),
        ("*姓名", "name"),
        ("与户主的关系", "relation"),
        ("镇（街道）", "township"),
    ],
)
def test_synonyms_with_brackets_line_breaks_and_units(header: str, key: str) -> None:
    row = list(HEADER)
    target = {"village": 1, "household_id": 2, "id_number": 4, "income": 8, "name": 3,
              "relation": 5, "township": 0}  # fmt: skip
    if key in target:
        row[target[key]] = header
    else:
        row.append(header)
    layout = locate_table(grid([row, ROW]), ROSTER)
    assert key in layout.columns
    assert normalise_header(header) not in layout.unknown


def test_canonical_name_beats_synonym_whatever_the_order() -> None:
    header = ["乡镇", "村", "行政村", *HEADER[2:]]
    layout = locate_table(grid([header]), ROSTER)
    assert layout.columns["village"] == 2
    assert layout.unknown == ["村"]


def test_unknown_columns_reported_and_kept_in_extra() -> None:
    header = [*HEADER, "备注", None, "联系人 电话"]
    data = [*ROW, "已走访", "孤立的值", "138"]
    g = grid([header, data, [*ROW, None, None, None]])
    layout = locate_table(g, ROSTER)
    assert layout.unknown == ["备注", "列L", "联系人电话"]
    staged = stage(g, layout, 1, "s")
    assert json.loads(staged["extra"][0]) == {
        "备注": "已走访",
        "列L": "孤立的值",
        "联系人电话": "138",
    }
    assert staged["extra"][1] is None


def test_empty_unnamed_columns_are_ignored() -> None:
    g = grid([[*HEADER, None], [*ROW, None]])
    assert locate_table(g, ROSTER).unknown == []


def test_footers_and_blank_rows_dropped_row_numbers_kept() -> None:
    rows = [
        [TITLE],
        HEADER,
        ROW,  # Excel row 3
        [],  # blank
        ["  ", "\u3000"],  # only spaces
        ROW,  # 6
        ["小计", None, None, None, None, None, None, None, "7365"],
        [None, None, "H9", "李四"],  # 8: a data row with gaps is data
        ["合　计", None, None, None, None, None, None, None, "14730"],
        [None, "总计：3户"],
        ["填表人：赵六", None, None, "审核人：钱七"],
        ["审核人：钱七"],
        ["说明：1.本表由各镇填报"],
        ["备注：家庭人口含外出务工人员"],
        ["制表：珠玑镇扶贫办"],
    ]
    g = grid(rows)
    staged = stage(g, locate_table(g, ROSTER), 1, "s")
    assert staged["row_no"].to_list() == [3, 6, 8]


def test_template_rows_with_only_a_serial_number_are_not_data() -> None:
    g = grid([["序号", *HEADER], ["1", *ROW], ["2"], ["3"]])
    staged = stage(g, locate_table(g, ROSTER), 1, "s")
    assert staged["row_no"].to_list() == [2]


def test_repeated_header_rows_are_not_data() -> None:
    g = grid([HEADER, ROW, HEADER, ROW])
    staged = stage(g, locate_table(g, ROSTER), 1, "s")
    assert staged["row_no"].to_list() == [2, 4]


def test_cells_are_staged_as_read() -> None:
    g = grid(
        [
            HEADER,
            ["珠玑镇 ", "珠玑村", "H1", "张　三", "４４０２８２", "户主", "", "", " 7,365元", ""],
        ]
    )
    staged = stage(g, locate_table(g, ROSTER), 1, "s")
    row = staged.row(0, named=True)
    assert row["township"] == "珠玑镇 "
    assert row["name"] == "张　三"
    assert row["id_number"] == "４４０２８２"
    assert row["income"] == " 7,365元"
    assert row["labour"] is None


def test_missing_required_column_names_it_and_its_synonyms() -> None:
    header = [h for h in HEADER if h != "证件号码"]
    with pytest.raises(MissingColumns) as caught:
        locate_table(grid([[TITLE], header]), ROSTER)
    error = caught.value
    assert error.columns == ["证件号码"]
    for accepted in ("证件号码", "身份证号", "身份证号码", "公民身份号码", "身份证"):
        assert accepted in error.message
    assert error.synonyms["证件号码"][0] == "证件号码"
    assert str(error) == error.message


def test_township_column_may_be_replaced_by_the_title() -> None:
    without = HEADER[1:]
    layout = locate_table(grid([[TITLE], without, ROW[1:]]), ROSTER)
    assert "township" not in layout.columns
    assert township_from_title(layout.title) == "珠玑镇"
    with pytest.raises(MissingColumns) as caught:
        locate_table(grid([["建档立卡贫困人口花名册"], without]), ROSTER)
    assert caught.value.columns == ["乡镇"]
    assert "标题" in caught.value.message


@pytest.mark.parametrize(
    ("title", "township"),
    [
        (TITLE, "珠玑镇"),
        ("南雄市 珠 玑 镇 建档立卡花名册", "珠玑镇"),
        ("雄州街道办事处贫困人口花名册", "雄州街道"),
        ("雄州街道贫困人口花名册", "雄州街道"),
        ("帽子峰镇2017年花名册", "帽子峰镇"),
        ("填报单位：乌迳镇人民政府", "乌迳镇"),
        ("南雄市建档立卡贫困人口花名册", None),
        ("", None),
        (None, None),
    ],
)
def test_township_from_title(title: str | None, township: str | None) -> None:
    assert township_from_title(title) == township


@pytest.mark.parametrize(
    ("source", "header"),
    [
        (
            DIBAO,
            [
                "乡镇(街道)",
                "村（社区）",
                "低保证号",
                "姓名",
                "身份证号码",
                "救助类别",
                "状态",
                "保障起始日期",
            ],
        ),
        (
            ENROLMENT,
            [
                "个人编号",
                "姓名",
                "公民身份号码",
                "参保年度",
                "参保状态",
                "缴费资助类别",
                "所属乡镇",
                "村(居)",
            ],
        ),
        (
            SETTLEMENT,
            ["结算流水号", "公民身份号码", "合规费用", "统筹支付", "医疗救助支付", "总费用（元）"],
        ),
        (VILLAGES, ["行政村", "是否贫困村", "户籍人口（人）", "卫生厕所普及率（%）", "4G覆盖"]),
    ],
)
def test_every_source_accepts_its_synonyms(source, header: list[str]) -> None:  # type: ignore[no-untyped-def]
    layout = locate_table(grid([["标题"], header]), source)
    assert layout.unknown == []
    assert len(layout.columns) == len(header)


@dataclass
class Sheet:
    name: str
    grid: pl.DataFrame


def test_find_roster_and_village_sheets() -> None:
    roster = grid([HEADER, ROW])
    villages = grid([["行政村", "是否贫困村"], ["珠玑村", "是"]])
    notes = grid([["填表说明"]])
    sheets = [Sheet("说明", notes), Sheet("贫困村情况表", villages), Sheet("人员花名册", roster)]
    assert find_roster_sheet(sheets).name == "人员花名册"
    assert find_village_sheet(sheets).name == "贫困村情况表"
    # no telling name: the first sheet with a recognisable roster header
    unnamed = [Sheet("Sheet1", notes), Sheet("Sheet2", roster)]
    assert find_roster_sheet(unnamed).name == "Sheet2"
    assert find_village_sheet(unnamed) is None
    # nothing recognisable: the first non-empty sheet, so locate_table can explain
    assert (
        find_roster_sheet([Sheet("Sheet1", pl.DataFrame()), Sheet("Sheet2", notes)]).name
        == "Sheet2"
    )
    assert find_roster_sheet([]) is None
