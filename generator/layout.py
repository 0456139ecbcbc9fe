"""Lay a township's roster out on a sheet the way its clerk would, and number the rows.

A `SheetModel` is a grid of cell values plus merged ranges; the writers turn it into
.xlsx or .xls. Laying out assigns every roster row its Excel row number (1-based, title and
header rows counted), which the truth uses to point at cells.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np

from config.schema import HEALTH, HOUSING, RELATION, SCHOOL

from .geography import VillageInfo
from .mess import HOUSEHOLD_KEYS, CellFormatter, Style
from .roster import HouseholdRecord, Raw, RosterRow

EDUCATION_BY_AGE = ((6, "学龄前儿童"), (13, "小学"), (16, "初中"), (19, "高中"), (200, "初中"))
NOTES = ("外出务工", "长期在外", "在家务农", "智力残疾", "肢体残疾", "已纳入低保", "帮扶产业：养鸡")


@dataclass
class SheetModel:
    name: str
    rows: list[list[object]] = field(default_factory=list)
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)  # 0-based r1, c1, r2, c2
    header_rows: set[int] = field(default_factory=set)
    title_rows: set[int] = field(default_factory=set)
    text_lines: bool = False  # a sheet of instructions, not a table
    date_format: str = "yyyy-mm-dd"
    widths: list[float] = field(default_factory=list)
    hidden: bool = False  # a sheet the clerk hid (old data); .xlsx only

    def new_row(self, width: int) -> list[object]:
        row: list[object] = [None] * width
        self.rows.append(row)
        return row


def _excel_date_format(style: Style) -> str:
    return {"chinese": 'yyyy"年"m"月"d"日"', "slash": "yyyy/m/d", "dot": "yyyy.m.d"}.get(
        style.date_style, "yyyy-mm-dd"
    )


def roster_sheet(
    style: Style, records: list[HouseholdRecord], file: str, as_of: date, rng: np.random.Generator
) -> SheetModel:
    cols = style.columns
    width = len(cols)
    sheet = SheetModel(style.sheet, date_format=_excel_date_format(style))
    fmt = CellFormatter(style, rng)
    for text in style.title_rows:
        r = len(sheet.rows)
        sheet.new_row(width)[0] = text
        sheet.merges.append((r, 0, r, width - 1))
        sheet.title_rows.add(r)
    _header(sheet, style)

    seq = 0
    previous_village = None
    loaded = [h for h in records if not h.foreign_copy]
    foreign = [h for h in records if h.foreign_copy]
    for rec in loaded + foreign:
        village = rec.household.village.code
        if previous_village is not None and village != previous_village and not rec.foreign_copy:
            if style.subtotals:
                _subtotal(sheet, style, previous_village, records)
            if style.blank_between_villages:
                sheet.new_row(width)
        previous_village = village
        first = len(sheet.rows)
        rec.first_row = first + 1
        rec.file, rec.sheet = file, style.sheet
        for i, row in enumerate(rec.rows):
            seq += 1
            row.row_no = len(sheet.rows) + 1
            row.file, row.sheet = file, style.sheet
            cells = sheet.new_row(width)
            for c, spec in enumerate(cols):
                if spec.key in HOUSEHOLD_KEYS:
                    if i == 0 or style.fill == "all":
                        cells[c] = _household_cell(spec.key, rec, fmt)
                else:
                    cells[c] = _person_cell(spec.key, row, rec, style, fmt, seq, as_of)
        last = len(sheet.rows) - 1
        if style.fill == "merged" and last > first:
            for c, spec in enumerate(cols):
                if spec.key in HOUSEHOLD_KEYS:
                    sheet.merges.append((first, c, last, c))
        if style.blank_between_villages and rng.random() < 0.02:
            sheet.new_row(width)
    _footer(sheet, style, records, rng)
    sheet.widths = [_width(spec.header, spec.key) for spec in cols]
    return sheet


def _width(header: str, key: str) -> float:
    return {"id_number": 21, "household_id": 17, "support_unit": 24, "phone": 13, "income": 11}.get(
        key, max(6, min(14, 2 * len(header.split("\n")[0]) + 2))
    )


def _header(sheet: SheetModel, style: Style) -> None:
    cols = style.columns
    width = len(cols)
    if not style.two_row_header:
        r = len(sheet.rows)
        sheet.new_row(width)[:] = [c.header for c in cols]
        sheet.header_rows.add(r)
        return
    top = len(sheet.rows)
    upper = sheet.new_row(width)
    lower = sheet.new_row(width)
    sheet.header_rows.update({top, top + 1})
    c = 0
    while c < width:
        parent = cols[c].parent
        if parent is None:
            upper[c] = cols[c].header
            sheet.merges.append((top, c, top + 1, c))
            c += 1
            continue
        end = c
        while end + 1 < width and cols[end + 1].parent == parent:
            end += 1
        upper[c] = parent
        if end > c:
            sheet.merges.append((top, c, top, end))
        for k in range(c, end + 1):
            lower[k] = cols[k].header
        c = end + 1


def _person_cell(
    key: str,
    row: RosterRow,
    rec: HouseholdRecord,
    style: Style,
    fmt: CellFormatter,
    seq: int,
    as_of: date,
) -> object:
    if key in row.cell_overrides:
        return row.cell_overrides[key]
    p = row.person
    if key == "seq":
        return seq
    if key == "township":
        name = row.township
        return (
            name.removesuffix("镇")
            if style.township_form == "bare" and name.endswith("镇")
            else name
        )
    if key == "village":
        v = row.village
        return (
            v[:-1] + "村委会"
            if style.village_form == "full" and v.endswith("村") and v == rec.village
            else v
        )
    if key == "household_id":
        return int(rec.hh_id) if style.hh_id_numeric and rec.hh_id.isdigit() else rec.hh_id
    if key == "name":
        return fmt.name(row.name) if row.name else row.name
    if key == "id_number":
        if isinstance(row.id_raw, (int, float)):
            return row.id_raw
        return fmt.id_text(str(row.id_raw)) if _looks_clean(str(row.id_raw)) else row.id_raw
    if key == "sex":
        return row.sex
    if key == "relation":
        return fmt.enum(row.relation, RELATION)
    if key == "labour":
        return fmt.labour(row.labour) if row.labour else row.labour
    if key == "health":
        return fmt.enum(row.health, HEALTH)
    if key == "school":
        return fmt.enum(row.school, SCHOOL)
    if key == "person_status":
        return "" if row.status == "正常" and style.status_blank else row.status
    if key == "birth":
        return fmt.date(p.birth)
    if key == "education":
        age = p.age_on(as_of)
        return next(label for limit, label in EDUCATION_BY_AGE if age < limit)
    if key == "ethnicity":
        return "瑶族" if p.pid % 97 == 0 else "汉族"
    if key == "note":
        return NOTES[p.pid % len(NOTES)] if p.pid % 11 == 0 else None
    raise KeyError(key)


def _looks_clean(text: str) -> bool:
    return len(text) == 18 and text[:17].isdigit()


def _household_cell(key: str, rec: HouseholdRecord, fmt: CellFormatter) -> object:
    if key == "attribute":
        return fmt.attribute(rec.attribute) if rec.attribute else rec.attribute
    if key == "family_size":
        return rec.family_size if isinstance(rec.family_size, Raw) else fmt.number(rec.family_size)
    if key == "income":
        return str(rec.income) if isinstance(rec.income, Raw) else fmt.money(rec.income)
    if key == "exit_status":
        return fmt.exit_status(rec.exit_status)
    if key == "exit_year":
        return fmt.number(rec.exit_year) if rec.exit_year is not None else None
    if key == "housing":
        return fmt.enum(rec.housing, HOUSING)
    if key == "water_safe":
        return fmt.yes_no(rec.water_safe)
    if key == "support_unit":
        return rec.support_unit
    if key == "support_cadre":
        return rec.cadre
    if key == "phone":
        return rec.phone or None
    if key == "cause":
        return rec.cause
    raise KeyError(key)


def _subtotal(
    sheet: SheetModel, style: Style, village_code: str, records: list[HouseholdRecord]
) -> None:
    rows = [
        r
        for h in records
        if h.household.village.code == village_code and not h.foreign_copy
        for r in h.rows
    ]
    cells = sheet.new_row(len(style.columns))
    cells[0] = "小计"
    keys = [c.key for c in style.columns]
    if "name" in keys and keys.index("name") != 0:
        cells[keys.index("name")] = f"{len(rows)}人"


def _footer(
    sheet: SheetModel, style: Style, records: list[HouseholdRecord], rng: np.random.Generator
) -> None:
    width = len(style.columns)
    keys = [c.key for c in style.columns]
    n_rows = sum(len(h.rows) for h in records)
    n_households = len(records)
    if "合计" in style.footer:
        cells = sheet.new_row(width)
        cells[0] = "合计"
        if "name" in keys and keys.index("name") != 0:
            cells[keys.index("name")] = f"{n_rows}人"
        if "household_id" in keys and keys.index("household_id") != 0:
            cells[keys.index("household_id")] = f"{n_households}户"
    if "填表人" in style.footer:
        if rng.random() < 0.5:
            sheet.new_row(width)
        r = len(sheet.rows)
        sheet.new_row(width)[0] = (
            "填表人："
            + "叶丽芳"
            + "        审核人："
            + "邓志明"
            + "        联系电话：0751-38"
            + f"{int(rng.integers(10000, 99999))}"
        )
        sheet.merges.append((r, 0, r, width - 1))
    if "说明" in style.footer:
        r = len(sheet.rows)
        sheet.new_row(width)[0] = (
            "说明：1.本表按户填写，户主填第一行；2.身份证号码请设置为文本格式；3.脱贫年度只填已脱贫户。"
        )
        sheet.merges.append((r, 0, r, width - 1))


def preface_sheet(style: Style) -> SheetModel:
    sheet = SheetModel("填表说明", text_lines=True)
    for line in (
        f"{style.township}建档立卡贫困人口花名册填表说明",
        "一、本表数据以全国扶贫开发信息系统为准，每月5日前报市扶贫办。",
        "二、身份证号码必须为18位，请勿设置为数值格式。",
        "三、贫困户属性分为一般贫困户、低保贫困户、特困供养贫困户。",
    ):
        sheet.new_row(1)[0] = line
    sheet.widths = [80]
    return sheet


def village_sheet(
    style: Style, villages: list[VillageInfo], fmt: CellFormatter, county_name: str = "南雄市"
) -> SheetModel:
    cols = style.village_columns
    width = len(cols)
    sheet = SheetModel(style.village_sheet or "贫困村情况表")
    r = len(sheet.rows)
    sheet.new_row(width)[0] = f"{county_name}{style.township}行政村基本情况表"
    sheet.merges.append((r, 0, r, width - 1))
    sheet.title_rows.add(r)
    sheet.header_rows.add(len(sheet.rows))
    sheet.new_row(width)[:] = [c.header for c in cols]
    for v in villages:
        cells = sheet.new_row(width)
        for c, spec in enumerate(cols):
            cells[c] = _village_cell(spec.key, v, fmt, style)
    sheet.widths = [max(8, 2 * len(c.header) + 2) for c in cols]
    return sheet


def _village_cell(key: str, v: VillageInfo, fmt: CellFormatter, style: Style) -> object:
    if key == "village":
        return v.short if style.village_form == "short" else v.name
    if key == "is_poor":
        return fmt.yes_no(v.is_poor)
    if key == "registered_population":
        return fmt.number(v.population)
    if key == "income":
        return fmt.money(v.income_now)
    if key in v.indicators:
        return fmt.yes_no(v.indicators[key])
    if key == "toilet_rate":
        return f"{v.toilet_rate}%" if style.numbers_as_text else v.toilet_rate
    if key == "support_unit":
        return v.unit
    if key == "unit_type":
        return v.unit_type
    if key == "first_secretary":
        return v.first_secretary or None
    raise KeyError(key)
