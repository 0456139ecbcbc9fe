"""The civil-affairs and medical-insurance extracts: logical frames and their CSV/xlsx files.

Each extract is built in two forms from the same rows: the logical frame the truth is
derived from (written IDs already normalised, dates as dates) and the text a system export
or a clerk produces (synonym headers, mixed date spellings, `350元`, GB18030 …). Row numbers
are the CSV line numbers (header = 1), or Excel row numbers for workbooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from transforms.ids import parse_id

from .layout import SheetModel
from .mess import format_date
from .params import GenParams
from .truth import norm_name
from .world import DibaoRow, World
from .writers import write_csv, write_xlsx

DIBAO_HEADERS = {
    "township": "乡镇(街道)",
    "village": "村(社区)",
    "family_id": "低保证号",
    "name": "姓名",
    "id_number": "身份证号码",
    "relation": "与户主关系",
    "category": "救助类别",
    "family_size": "保障人数",
    "monthly_amount": "月保障金",
    "status": "保障状态",
    "start_date": "保障起始日期",
    "stop_date": "停保日期",
    "stop_reason": "停保原因",
}
ENROL_HEADERS = {
    "insured_key": "个人编号",
    "name": "姓名",
    "id_number": "公民身份号码",
    "sex": "性别",
    "birth_date": "出生日期",
    "year": "参保年度",
    "enrol_status": "参保状态",
    "person_status": "人员状态",
    "subsidy": "缴费资助类别",
    "township": "所属乡镇",
    "village": "所属村",
}
CLAIM_HEADERS = {
    "settlement_id": "结算流水号",
    "id_number": "公民身份号码",
    "name": "姓名",
    "settle_date": "结算日期",
    "institution": "医疗机构",
    "total_cost": "医疗费用总额",
    "eligible_cost": "政策范围内费用",
    "basic_paid": "统筹支付",
    "serious_paid": "大病保险支付",
    "assistance_paid": "医疗救助支付",
}
RELATION_ORDER = {"户主": 0, "配偶": 1}
# DibaoRow.uid of rows a cross-county case adds to a county's roll (generator.cross); the
# injector's own rows count up from 10,000,000.
CROSS_UID = 20_000_000


@dataclass
class EnrolmentEdits:
    """Changes injections make to the enrolment extract, applied in one vectorised pass."""

    drop: set[tuple[int, int]] = field(default_factory=set)  # (pid, year)
    set_fields: dict[tuple[int, int], dict[str, str]] = field(default_factory=dict)
    person_text: dict[int, dict[str, str]] = field(
        default_factory=dict
    )  # pid -> {id_number|name|birth_date: text}
    extra_rows: list[dict] = field(
        default_factory=list
    )  # new people: pid, identity, name … and years


@dataclass
class ClaimEdits:
    set_fields: dict[str, dict[str, object]] = field(
        default_factory=dict
    )  # settlement_id -> {column: value}
    text: dict[str, dict[str, str]] = field(
        default_factory=dict
    )  # settlement_id -> {column: unreadable text}


@dataclass
class Extracts:
    """Logical frames for the truth plus the row numbers issues point at."""

    dibao: pl.DataFrame
    enrolment: pl.DataFrame
    settlements: pl.DataFrame
    files: dict[str, str]  # source -> relative path(s), ';'-joined
    rows: dict[str, int]  # source -> data rows written
    dibao_row_no: dict[int, int]  # DibaoRow.uid -> CSV line
    enrol_row_no: dict[int, dict[int, int]]  # pid -> {year: line}, for edited people only
    claim_row: dict[
        str, tuple[str, str, int]
    ]  # settlement_id -> (file, sheet, row) for edited rows only
    enrol_files: dict[int, str] = field(default_factory=dict)  # 参保年度 -> file, one a year


# ---------------------------------------------------------------- 低保


def dibao_frame(rows: list[DibaoRow]) -> pl.DataFrame:
    rows = sorted(
        rows, key=lambda r: (r.township_code, r.family_id, RELATION_ORDER.get(r.relation, 2), r.pid)
    )
    parsed = [parse_id(r.text.get("id_number", r.written_id)) for r in rows]
    return pl.DataFrame(
        {
            "uid": [r.uid for r in rows],
            "township_code": [r.township_code for r in rows],
            "township": [r.township for r in rows],
            "village": [r.village for r in rows],
            "family_id": [r.family_id for r in rows],
            "pid": [r.pid for r in rows],
            "name_norm": [norm_name(r.text.get("name", r.written_name)) for r in rows],
            "id_norm": [p.normalised for p in parsed],
            "id_status": [p.status for p in parsed],
            "category": [r.text.get("category", r.category) for r in rows],
            "status": [r.status for r in rows],
            "start_date": [None if "start_date" in r.text else r.start_date for r in rows],
            "stop_date": [None if "stop_date" in r.text else r.stop_date for r in rows],
            "stop_reason": [r.text.get("stop_reason", r.stop_reason) for r in rows],
        },
        schema_overrides={"start_date": pl.Date, "stop_date": pl.Date},
    )


def dibao_text(
    rows: list[DibaoRow], params: GenParams, stream: str = "dibao-text"
) -> tuple[pl.DataFrame, dict[int, int]]:
    """The roll as civil affairs exports it (text cells) and the CSV line of each row."""
    own_rng = params.rng(stream)
    guest_rng = params.rng(stream + "-cross")
    rows = sorted(
        rows, key=lambda r: (r.township_code, r.family_id, RELATION_ORDER.get(r.relation, 2), r.pid)
    )
    styles = ("iso", "slash", "compact", "dot", "chinese")
    out: dict[str, list] = {k: [] for k in DIBAO_HEADERS}
    line: dict[int, int] = {}
    for i, r in enumerate(rows):
        # rows another county's case adds (generator.cross) keep this county's own draws
        rng = guest_rng if r.uid >= CROSS_UID else own_rng
        line[r.uid] = i + 2
        style = styles[int(rng.integers(len(styles)))]
        ov = r.text
        out["township"].append(r.township)
        out["village"].append(r.village)
        out["family_id"].append(r.family_id)
        name = r.written_name
        out["name"].append(ov.get("name", name))
        ident = r.written_id
        if ident.endswith("X") and rng.random() < 0.3:
            ident = ident[:-1] + "x"
        out["id_number"].append(ov.get("id_number", ident))
        out["relation"].append(r.relation)
        category = "特困人员" if r.category == "特困供养" and rng.random() < 0.5 else r.category
        out["category"].append(ov.get("category", category))
        out["family_size"].append(str(r.family_size))
        amount = r.monthly_amount
        x = rng.random()
        money = f"{amount:.2f}" if x < 0.5 else (f"{amount:.0f}元" if x < 0.7 else f"{amount:.0f}")
        out["monthly_amount"].append(ov.get("monthly_amount", money))
        out["status"].append(r.status)
        start_style = "month" if r.start_date.day == 1 and rng.random() < 0.3 else style
        out["start_date"].append(ov.get("start_date", format_date(r.start_date, start_style)))
        out["stop_date"].append(
            ov.get("stop_date", format_date(r.stop_date, style) if r.stop_date else "")
        )
        out["stop_reason"].append(ov.get("stop_reason", r.stop_reason))
    frame = pl.DataFrame(out, schema={k: pl.Utf8 for k in out})
    return frame.rename(DIBAO_HEADERS), line


# ---------------------------------------------------------------- enrolment


def _apply_enrolment_edits(
    world: World, edits: EnrolmentEdits
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Final (people, enrolment) after injections; people gain `id_written`/`name_written`."""
    people = world.people
    enrol = world.enrolment
    if edits.extra_rows:
        extra_people = pl.DataFrame(
            [{k: v for k, v in row.items() if k != "years"} for row in edits.extra_rows],
            infer_schema_length=None,
        )
        people = pl.concat(
            [people, extra_people.select(people.columns).cast(people.schema)], how="vertical"
        )
        extra_enrol = pl.DataFrame(
            {
                "pid": [row["pid"] for row in edits.extra_rows for _ in row["years"]],
                "year": [y for row in edits.extra_rows for y in row["years"]],
                "enrol_status": ["参保缴费" for row in edits.extra_rows for _ in row["years"]],
                "person_status": ["正常" for row in edits.extra_rows for _ in row["years"]],
                "subsidy": [row["subsidy_base"] for row in edits.extra_rows for _ in row["years"]],
            },
            schema=enrol.schema,
        )
        enrol = pl.concat([enrol, extra_enrol])
    if edits.drop:
        drops = pl.DataFrame(
            {"pid": [p for p, _ in edits.drop], "year": [y for _, y in edits.drop]},
            schema={"pid": enrol.schema["pid"], "year": pl.Int16},
        )
        enrol = enrol.join(drops, on=["pid", "year"], how="anti")
    if edits.set_fields:
        fields = ("enrol_status", "person_status", "subsidy")
        keys = list(edits.set_fields)
        upd = pl.DataFrame(
            {
                "pid": [p for p, _ in keys],
                "year": [y for _, y in keys],
                **{f"{c}_new": [edits.set_fields[k].get(c) for k in keys] for c in fields},
            },
            schema={
                "pid": enrol.schema["pid"],
                "year": pl.Int16,
                **{f"{c}_new": pl.Utf8 for c in fields},
            },
        )
        enrol = (
            enrol.join(upd, on=["pid", "year"], how="left")
            .with_columns([pl.coalesce(f"{c}_new", c).alias(c) for c in fields])
            .drop([f"{c}_new" for c in fields])
        )
    text = pl.DataFrame(
        {
            "pid": list(edits.person_text),
            "id_text": [v.get("id_number") for v in edits.person_text.values()],
            "name_text": [v.get("name") for v in edits.person_text.values()],
            "birth_text": [v.get("birth_date") for v in edits.person_text.values()],
        },
        schema={
            "pid": people.schema["pid"],
            "id_text": pl.Utf8,
            "name_text": pl.Utf8,
            "birth_text": pl.Utf8,
        },
    )
    people = people.join(text, on="pid", how="left")
    return people, enrol


PEOPLE_COLUMNS = (
    "pid",
    "identity",
    "name",
    "sex",
    "birth",
    "township_code",
    "township",
    "village",
    "insured_key",
    "id_text",
    "name_text",
    "birth_text",
)


def enrolment_frames(
    people: pl.DataFrame, enrol: pl.DataFrame, first_line: int = 2, keep: pl.Expr | None = None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(logical frame for the truth, text frame for the file), both in file order.

    `keep` limits the logical frame to the rows the truth will look at, so that ten
    million enrolment rows are never all held twice.
    """
    full = (
        enrol.join(people.select(PEOPLE_COLUMNS), on="pid", how="left")
        .sort("year", "township_code", "village", "pid")
        .with_row_index("line", offset=first_line)
    )
    odd = full.filter(pl.col("id_text").is_not_null())
    parsed = {t: parse_id(t) for t in odd["id_text"].unique().to_list()}
    logical = full.select(
        "line",
        "pid",
        "year",
        "enrol_status",
        "person_status",
        "subsidy",
        name_norm=pl.coalesce("name_text", "name").str.replace_all(r"\s", ""),
        id_norm=pl.when(pl.col("id_text").is_null())
        .then(pl.col("identity"))
        .otherwise(
            pl.col("id_text").replace_strict(
                {k: v.normalised for k, v in parsed.items()}, default=None
            )
        ),
        id_status=pl.when(pl.col("id_text").is_null())
        .then(pl.lit("valid"))
        .otherwise(
            pl.col("id_text").replace_strict({k: v.status for k, v in parsed.items()}, default=None)
        ),
    )
    if keep is not None:
        logical = logical.filter(keep)
    text = full.select(
        pl.col("insured_key").alias(ENROL_HEADERS["insured_key"]),
        pl.coalesce("name_text", "name").alias(ENROL_HEADERS["name"]),
        pl.coalesce("id_text", "identity").alias(ENROL_HEADERS["id_number"]),
        pl.col("sex").alias(ENROL_HEADERS["sex"]),
        pl.coalesce("birth_text", pl.col("birth").dt.strftime("%Y-%m-%d")).alias(
            ENROL_HEADERS["birth_date"]
        ),
        pl.col("year").alias(ENROL_HEADERS["year"]),
        pl.col("enrol_status").alias(ENROL_HEADERS["enrol_status"]),
        pl.col("person_status").alias(ENROL_HEADERS["person_status"]),
        pl.col("subsidy").alias(ENROL_HEADERS["subsidy"]),
        pl.col("township").alias(ENROL_HEADERS["township"]),
        pl.col("village").alias(ENROL_HEADERS["village"]),
    )
    return logical, text


def write_enrolment_by_year(
    people: pl.DataFrame, enrol: pl.DataFrame, paths: dict[int, Path], keep: pl.Expr
) -> tuple[pl.DataFrame, int]:
    """One UTF-8-with-BOM CSV per 参保年度 (a city's extract, as its bureau exports it: a
    year per file), each numbered from its own header."""
    parts, rows = [], 0
    for year, path in paths.items():
        logical, n = _write_enrolment(people, enrol, path, [year], keep)
        parts.append(logical)
        rows += n
    return pl.concat(parts), rows


def _write_enrolment(
    people: pl.DataFrame, enrol: pl.DataFrame, path: Path, years: list[int], keep: pl.Expr
) -> tuple[pl.DataFrame, int]:
    """One UTF-8-with-BOM CSV holding every year, written a year at a time."""
    line = 2
    parts = []
    with path.open("wb") as fh:
        for i, year in enumerate(years):
            logical, text = enrolment_frames(
                people, enrol.filter(pl.col("year") == year), first_line=line, keep=keep
            )
            text.write_csv(fh, include_header=i == 0, include_bom=i == 0)
            line += text.height
            parts.append(logical)
    return pl.concat(parts), line - 2


# ---------------------------------------------------------------- settlements


def settlement_frames(
    world: World, people: pl.DataFrame, edits: ClaimEdits
) -> tuple[pl.DataFrame, pl.DataFrame]:
    s = world.settlements
    if edits.set_fields:
        for col in ("assistance_paid", "eligible_cost", "basic_paid", "serious_paid"):
            values = {k: v[col] for k, v in edits.set_fields.items() if col in v}
            if values:
                s = s.with_columns(
                    pl.col("settlement_id")
                    .replace_strict(values, default=None, return_dtype=pl.Float64)
                    .fill_null(pl.col(col))
                    .alias(col)
                )
    s = s.join(
        people.select("pid", "identity", "name", "id_text", "name_text"), on="pid", how="left"
    )
    logical = s.select(
        "settlement_id",
        "pid",
        "eligible_cost",
        "basic_paid",
        "serious_paid",
        "assistance_paid",
        id_norm=pl.coalesce("id_text", "identity"),
    )
    text = s.select(
        pl.col("settlement_id").alias(CLAIM_HEADERS["settlement_id"]),
        pl.coalesce("id_text", "identity").alias(CLAIM_HEADERS["id_number"]),
        pl.coalesce("name_text", "name").alias(CLAIM_HEADERS["name"]),
        pl.col("settle_date").dt.strftime("%Y-%m-%d").alias(CLAIM_HEADERS["settle_date"]),
        pl.col("institution").alias(CLAIM_HEADERS["institution"]),
        *[
            pl.col(c).round(2).cast(pl.Utf8).alias(CLAIM_HEADERS[c])
            for c in (
                "total_cost",
                "eligible_cost",
                "basic_paid",
                "serious_paid",
                "assistance_paid",
            )
        ],
    )
    if edits.text:
        for sid, cols in edits.text.items():
            for col, value in cols.items():
                header = CLAIM_HEADERS[col]
                text = text.with_columns(
                    pl.when(pl.col(CLAIM_HEADERS["settlement_id"]) == sid)
                    .then(pl.lit(value))
                    .otherwise(pl.col(header))
                    .alias(header)
                )
    return logical, text


# ---------------------------------------------------------------- writing


def _write_claims(
    text: pl.DataFrame, inbox: Path, params: GenParams, edited: set[str], region: str = "南雄市"
) -> tuple[list[str], dict]:
    """Past years as plain UTF-8 CSV exports; the current year as a workbook with a title row,
    real date cells and number cells, as someone saved it from the system's screen."""
    sid_col, date_col = CLAIM_HEADERS["settlement_id"], CLAIM_HEADERS["settle_date"]
    text = text.with_columns(pl.col(sid_col).str.slice(2, 4).cast(pl.Int32).alias("_year"))
    files: list[str] = []
    where: dict[str, tuple[str, str, int]] = {}
    for year in params.years:
        part = text.filter(pl.col("_year") == year).drop("_year")
        if year < params.year:
            name = f"claims/医疗费用结算明细_{year}.csv"
            write_csv(part, inbox / name, "utf-8")
            for i, sid in enumerate(part[sid_col].to_list()):
                if sid in edited:
                    where[sid] = (name, "", i + 2)
        else:
            d = params.as_of
            name = f"claims/医疗费用结算明细_{year}年1-{d.month}月.xlsx"
            sheet = SheetModel("结算明细", date_format="yyyy-mm-dd")
            width = part.width
            sheet.new_row(width)[0] = (
                f"{region}城乡居民医疗费用结算明细（{year}年1月1日至{d.month}月{d.day}日）"
            )
            sheet.merges.append((0, 0, 0, width - 1))
            sheet.title_rows.add(0)
            sheet.header_rows.add(1)
            sheet.new_row(width)[:] = part.columns
            money = {
                CLAIM_HEADERS[c]
                for c in (
                    "total_cost",
                    "eligible_cost",
                    "basic_paid",
                    "serious_paid",
                    "assistance_paid",
                )
            }
            cols = part.columns
            for i, values in enumerate(part.iter_rows()):
                row = sheet.new_row(width)
                for c, (col, value) in enumerate(zip(cols, values, strict=True)):
                    row[c] = _claim_cell(col, value, money, date_col)
                if values[0] in edited:
                    where[values[0]] = (name, sheet.name, i + 3)
            sheet.widths = [18, 21, 8, 11, 22, 12, 12, 12, 12, 12]
            write_xlsx(inbox / name, [sheet], params.stamp, "医疗费用结算明细", region)
        files.append(name)
    return files, where


def _claim_cell(col: str, value: str | None, money: set[str], date_col: str) -> object:
    if value is None:
        return None
    if col == date_col:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return value
    if col in money:
        try:
            return float(value)
        except ValueError:
            return value
    return value


def write_extracts(
    world: World,
    inbox: Path,
    enrol_edits: EnrolmentEdits,
    claim_edits: ClaimEdits,
    wanted: tuple[set[str], set[str]] = (set(), set()),
) -> Extracts:
    """Write the three extracts; `wanted` (IDs and 15-digit prefixes the truth will look up)
    limits the logical enrolment frame returned."""
    params = world.params
    d = params.as_of
    files: dict[str, str] = {}
    rows: dict[str, int] = {}

    (inbox / "dibao").mkdir(parents=True, exist_ok=True)
    dibao_logical = dibao_frame(world.dibao)
    dibao_text_frame, dibao_line = dibao_text(world.dibao, params)
    name = f"dibao/南雄市城乡低保特困供养人员名册_{d:%Y%m}.csv"
    write_csv(dibao_text_frame, inbox / name, "gb18030")
    files["dibao"], rows["dibao"] = name, dibao_text_frame.height

    (inbox / "insurance").mkdir(parents=True, exist_ok=True)
    people_final, enrol_final = _apply_enrolment_edits(world, enrol_edits)
    # The world keeps the final frames only: at scale 10 each copy of the enrolment is ~1 GB.
    world.people, world.enrolment = people_final, enrol_final
    name = f"insurance/南雄市城乡居民医保参保名册_{params.years[0]}-{params.years[-1]}.csv"
    edited = (
        {p for p, _ in enrol_edits.drop}
        | {p for p, _ in enrol_edits.set_fields}
        | set(enrol_edits.person_text)
    )
    keep = (
        pl.col("id_norm").is_in(list(wanted[0]))
        | pl.col("id_norm").str.slice(0, 15).is_in(list(wanted[1]))
        | pl.col("pid").is_in(list(edited))
    )
    enrol_logical, n_rows = _write_enrolment(
        people_final, enrol_final, inbox / name, params.years, keep
    )
    files["insurance"], rows["insurance"] = name, n_rows
    enrol_row_no: dict[int, dict[int, int]] = {}
    if edited:
        sub = enrol_logical.filter(pl.col("pid").is_in(list(edited))).select("pid", "year", "line")
        for p, y, n in sub.iter_rows():
            enrol_row_no.setdefault(p, {})[int(y)] = int(n)

    (inbox / "claims").mkdir(parents=True, exist_ok=True)
    claim_logical, claim_text = settlement_frames(world, people_final, claim_edits)
    claim_files, claim_row = _write_claims(
        claim_text, inbox, params, set(claim_edits.text) | set(claim_edits.set_fields)
    )
    files["claims"], rows["claims"] = ";".join(claim_files), claim_text.height

    return Extracts(
        dibao_logical,
        enrol_logical,
        claim_logical,
        files,
        rows,
        dibao_line,
        enrol_row_no,
        claim_row,
    )
