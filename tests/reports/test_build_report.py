"""build_report end to end: a synthetic city in a SQLite warehouse, both reports, all formats."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest
from python_calamine import CalamineWorkbook

from flows.report import build_report, compute_indicators
from reports.pdf import chromium_binary, weasyprint_available
from tests.reports import synthetic
from transforms import indicators as ind
from warehouse import db

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "reports"


@pytest.fixture(scope="module")
def small_city() -> dict:
    return synthetic.city(scale=0.03, insured_rows=2_000)


@pytest.fixture
def warehouse(tmp_path: Path, small_city: dict):
    engine = db.connect(f"sqlite:///{tmp_path / 'fupin.db'}")
    db.upgrade(engine)
    synthetic.load_warehouse(engine, small_city)
    yield engine
    engine.dispose()


def test_build_both_reports_from_the_warehouse(warehouse, tmp_path: Path) -> None:
    paths = build_report(
        warehouse, "assessment", "2018H1", formats=("html", "xlsx"), out_dir=tmp_path
    )
    assert [p.name for p in paths] == ["assessment_2018H1_all.html", "assessment_2018H1_all.xlsx"]
    html = paths[0].read_text(encoding="utf-8")
    assert "截至2018年6月30日" in html and "第1次夜间比对运行" in html
    assert "乡镇建档立卡花名册18份" in html and "低保名册.csv" in html
    summary = CalamineWorkbook.from_path(str(paths[1])).get_sheet_by_name("主要指标").to_python()
    values = {row[1]: row[2] for row in summary[1:]}
    assert 95 < values["基本医保参保率"] <= 100  # 0.3% of the synthetic poor are not insured
    assert 80 < values["低保应保尽保率"] < 100
    again = build_report(
        warehouse, "assessment", "2018H1", formats=("html", "xlsx"), out_dir=tmp_path / "again"
    )
    assert [p.read_bytes() for p in paths] == [p.read_bytes() for p in again]
    [acc] = build_report(warehouse, "accountability", "2017", township="珠玑镇", out_dir=tmp_path)
    text = acc.read_text(encoding="utf-8")
    assert acc.name == "accountability_2017_440282113.html"
    assert "珠玑镇" in text and "乌迳镇" not in text
    with pytest.raises(ValueError, match="未知的镇"):
        build_report(warehouse, "assessment", "2018H1", township="不存在镇", out_dir=tmp_path)


def test_compute_indicators_is_what_the_nightly_flow_stores(warehouse, small_city: dict) -> None:
    frame = compute_indicators(
        small_city["persons"],
        small_city["villages"],
        small_city["dibao"],
        small_city["enrolment"],
        small_city["findings"],
        small_city["issues"],
        period="2018H1",
        as_of=small_city["as_of"],
    )
    assert frame.schema == pl.Schema(ind.INDICATOR)
    n = db.write_frame(warehouse, "indicator", frame.with_columns(run_id=pl.lit(1)))
    assert n == frame.height
    back = db.read_frame(warehouse, "indicator")
    assert back.height == frame.height
    # the next report's trend chart reads them
    paths = build_report(
        warehouse, "assessment", "2018H2", out_dir=Path(warehouse.url.database).parent
    )
    assert "历次半年考核趋势" in paths[0].read_text(encoding="utf-8")


@pytest.mark.slow
def test_full_scale_timings(tmp_path: Path) -> None:
    """~16k persons, 420k insurance rows: print what each step costs."""
    started = time.perf_counter()
    city = synthetic.city(scale=1.0)
    engine = db.connect(f"sqlite:///{tmp_path / 'fupin.db'}")
    db.upgrade(engine)
    synthetic.load_warehouse(engine, city)
    print(
        f"\nsynthetic city + warehouse load: {time.perf_counter() - started:.1f}s "
        f"({city['persons'].height} persons, {city['enrolment'].height} insurance rows)"
    )
    out = ARTIFACTS / "scale"
    formats = ["html", "xlsx"]
    if weasyprint_available() or chromium_binary():
        formats.append("pdf")
    for kind in ("assessment", "accountability"):
        for fmt in formats:
            t = time.perf_counter()
            [path] = build_report(engine, kind, "2018H1", formats=(fmt,), out_dir=out)
            print(f"{kind} {fmt}: {time.perf_counter() - t:.2f}s, {path.stat().st_size:,} bytes")
    engine.dispose()
