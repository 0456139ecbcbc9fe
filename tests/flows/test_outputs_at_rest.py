"""What leaves the warehouse: no text cell as a formula in any CSV or XLSX (one guard,
`transforms.privacy`), and personal data at rest in 0600 files inside 0700 folders."""

from __future__ import annotations

import csv
import os
import shutil
import stat
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from python_calamine import CalamineWorkbook
from sqlalchemy import text, update

from config.settings import load_settings
from flows.export import export
from flows.ingest import ingest_inbox
from reports import render
from reports.fix_list import write_fix_list
from tests.reports import synthetic
from tests.reports.conftest import report_data
from transforms import alerts as A
from warehouse import db, models

HOSTILE = Path(__file__).resolve().parents[1] / "corpus" / "hostile" / "files"
EVIL = ['=HYPERLINK("http://x","y")', "=1+1", "@SUM(A1)", "\t=1", "\r=1", "+1", "-1+2", "-5000"]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def world_readable(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The umask of a careless service account: what is not made private is 0644/0755."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(scope="module")
def city() -> dict:
    return synthetic.city(scale=0.02, insured_rows=500)


@pytest.fixture
def warehouse(tmp_path: Path, city: dict, monkeypatch: pytest.MonkeyPatch):
    """A synthetic warehouse whose first findings and issues carry formula-like text."""
    monkeypatch.setenv("FUPIN_HOME", str(tmp_path / "home"))
    url = f"sqlite:///{tmp_path / 'home' / 'fupin.db'}"
    engine = db.connect(url)
    db.upgrade(engine)
    synthetic.load_warehouse(engine, city)
    finding, issue = models.table("finding"), models.table("dq_issue")
    with engine.begin() as conn:
        for n, evil in enumerate(EVIL, start=1):
            conn.execute(update(finding).where(finding.c.id == n).values(detail=evil))
            conn.execute(update(issue).where(issue.c.id == n).values(value=evil, message=evil))
        conn.execute(
            text(
                "INSERT INTO indicator (period, level, entity_code, entity_name, indicator, value)"
                " VALUES ('2018H1', 'city', '440282', '-5000', 'evil', -5000.0)"
            )
        )
    yield url, engine
    engine.dispose()


def _csv_cells(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize(
    ("what", "columns"), [("findings", ["detail"]), ("issues", ["value", "message"])]
)
def test_exports_neutralise_formulas_and_keep_numbers(
    what: str, columns: list[str], warehouse, tmp_path: Path
) -> None:
    url, _ = warehouse
    out = tmp_path / f"{what}.csv"
    export(what, out, url)
    frame = pl.read_csv(out, infer_schema=False)
    for column in columns:
        written = set(frame[column].drop_nulls())
        assert {"'" + e for e in EVIL} <= written, column
    for row in _csv_cells(out)[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    # typed numbers stay numbers: a row number is a bare integer
    if what == "issues":
        assert frame["row_no"].drop_nulls().str.contains(r"^\d+$").all()


def test_indicator_export_keeps_negative_numbers_as_numbers(warehouse, tmp_path: Path) -> None:
    url, _ = warehouse
    out = tmp_path / "indicators.csv"
    export("indicators", out, url)
    row = next(r for r in _csv_cells(out) if "evil" in r)
    header = _csv_cells(out)[0]
    assert row[header.index("value")] == "-5000.0"  # a Float64 column: the number itself
    assert row[header.index("entity_name")] == "'-5000"  # text that looks like one: text


def test_fix_lists_neutralise_formulas_and_keep_numbers(tmp_path: Path) -> None:
    issues = pl.DataFrame(
        {
            "value": EVIL,
            "problem": ["证件号码校验位错误"] * len(EVIL),
            "row_no": list(range(3, 3 + len(EVIL))),
            "amount": [-5000.5] * len(EVIL),
        }
    )
    path = write_fix_list(
        tmp_path / "alerts" / "fix.xlsx", {A.ISSUE_SHEET: issues}, [("说明", "=1+1")]
    )
    book = CalamineWorkbook.from_path(str(path))
    rows = book.get_sheet_by_name(A.ISSUE_SHEET).to_python()
    assert [r[0] for r in rows[1:]] == ["'" + e for e in EVIL]  # text, never a formula
    assert [r[2] for r in rows[1:]] == list(range(3, 3 + len(EVIL)))  # numbers stay numbers
    assert {r[3] for r in rows[1:]} == {-5000.5}
    assert book.get_sheet_by_name("说明").to_python()[0][1] == "'=1+1"
    assert not _formulas(path)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def _formulas(path: Path) -> list[str]:
    """The formula elements of a workbook's sheets (there must be none)."""
    with zipfile.ZipFile(path) as book:
        sheets = [n for n in book.namelist() if n.startswith("xl/worksheets/")]
        return [n for n in sheets if b"<f>" in book.read(n) or b"<f " in book.read(n)]


def test_report_xlsx_neutralises_every_kind_of_formula(tmp_path: Path) -> None:
    data = report_data("accountability")
    table = next(t for s in data["sections"] for t in s["tables"] if "xlsx" in t["formats"])
    key = next(c["key"] for c in table["columns"] if c["type"] in ("text", "longtext"))
    for row, evil in zip(table["rows"], EVIL, strict=False):
        row[key] = evil
    [path] = render("accountability", data, ["xlsx"], tmp_path / "out")
    book = CalamineWorkbook.from_path(str(path))
    cells = {
        c for name in book.sheet_names for r in book.get_sheet_by_name(name).to_python() for c in r
    }
    assert {"'" + e for e in EVIL[: len(table["rows"])]} <= cells
    assert not _formulas(path)
    assert mode(path) == 0o600 and mode(path.parent) == 0o700


def test_the_warehouse_file_and_its_journal_are_private(tmp_path: Path, world_readable) -> None:
    path = tmp_path / "new" / "fupin.db"
    engine = db.connect(f"sqlite:///{path}")
    db.upgrade(engine)
    with engine.connect() as conn:  # the WAL and shared-memory files exist while it is open
        conn.execute(text("SELECT count(*) FROM run")).scalar()
        companions = [Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(p.exists() for p in companions)
        assert {p.name: mode(p) for p in [path, *companions]} == {
            p.name: 0o600 for p in [path, *companions]
        }
    engine.dispose()

    old = tmp_path / "old.db"  # a warehouse an older version left world-readable
    shutil.copy(path, old)
    old.chmod(0o644)
    db.connect(f"sqlite:///{old}").dispose()
    assert mode(old) == 0o600


def test_archived_inbox_files_are_private(tmp_path: Path, world_readable) -> None:
    home = tmp_path / "home"
    settings = load_settings(f"sqlite:///{home}/fupin.db", home)
    settings.files_dir.mkdir(parents=True, mode=0o755)  # as an older version made it
    engine = db.connect(settings.database_url)
    db.upgrade(engine)
    inbox = tmp_path / "inbox"
    (inbox / "townships").mkdir(parents=True)
    shutil.copy(HOSTILE / "good_roster.xlsx", inbox / "townships" / "南雄市珠玑镇花名册.xlsx")
    [outcome] = ingest_inbox(engine, settings, inbox, db.start_run(engine, "nightly", date.today()))
    engine.dispose()
    assert outcome.status == "accepted"
    [archived] = [p for p in settings.files_dir.rglob("*") if p.is_file()]
    assert mode(archived) == 0o600
    assert mode(archived.parent) == mode(settings.files_dir) == 0o700
    assert mode(home / "fupin.db") == 0o600


def test_exports_are_private(warehouse, tmp_path: Path, world_readable) -> None:
    url, _ = warehouse
    exports = load_settings(url).exports_dir
    exports.mkdir(parents=True, mode=0o755)  # as an older version made it
    export("findings", exports / "findings.csv", url)
    assert mode(exports / "findings.csv") == 0o600 and mode(exports) == 0o700

    chosen = tmp_path / "chosen"  # a folder a person named: left as it is, the file private
    chosen.mkdir(mode=0o755)
    export("issues", chosen / "issues.csv", url)
    assert mode(chosen / "issues.csv") == 0o600 and mode(chosen) == 0o755
    export("issues", tmp_path / "made" / "here" / "issues.csv", url)  # made here: private
    assert mode(tmp_path / "made") == mode(tmp_path / "made" / "here") == 0o700
