"""A generated city of two counties, run end to end on a local Dask cluster of two workers and
in one process: the same findings row for row, each right against the generator's truth
(R16 included), and a second night that changes nothing keeps every finding's identity.

南雄市 judges with its generated policy, installed in its home (operations.md §10); 乐昌市 is
left without one, so it takes the configured policy's rules and none of 南雄市's figures: no
target indicator, reports that say so, unranked in the city's summary."""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import create_engine, text

from config.settings import load_divisions, load_policy
from flows.city import city_findings, run_city
from flows.city_report import read_city
from flows.commands import city_lines
from flows.export import city_frame
from tests.conftest import PG_ADMIN_URL
from tests.flows.city_world import NANXIONG_FIGURES, NO_TARGETS, generate, install_policy
from transforms.quality import overall, score_city_findings, score_issues

COUNTIES = ("440282", "440281")
AS_OF = date(2018, 6, 30)
VOLATILE = ("id", "updated_run_id")


def _generate(world: Path, seed: int, *homes: Path) -> None:
    """A small generated city of COUNTIES, through the command line; 南雄市's generated
    policy installed in each of `homes`, 乐昌市 left without one."""
    generate(world, COUNTIES, seed)
    for home in homes:
        install_policy(world, home, "440282")


def _check_policies(world: Path, home: Path, pg_url: str, summary: list[str]) -> None:
    """南雄市 reports its own generated figures, 乐昌市 none (and says so), and the city's
    summary leaves 乐昌市 unranked."""
    own = load_policy(world / "policy" / "440282.toml")
    assert own.persons != load_policy().persons
    state = read_city(pg_url, list(COUNTIES))
    targets = state.indicators.filter(pl.col("indicator").str.starts_with("target_"))
    assert set(targets["entity_code"]) == {"440282"}, "乐昌市 stores no target, not a zero one"
    nanxiong = (home / "440282" / "reports" / "assessment_2018H1_all.html").read_text("utf-8")
    assert f"全市相对贫困村{own.poor_villages}个" in nanxiong and NO_TARGETS not in nanxiong
    for kind in ("assessment", "accountability"):
        page = (home / "440281" / "reports" / f"{kind}_2018H1_all.html").read_text("utf-8")
        assert NO_TARGETS in page
        assert not [f for f in NANXIONG_FIGURES if f in page], kind
    (path,) = summary
    city = Path(path).read_text(encoding="utf-8")
    assert "乐昌市未在 policy.toml 中配置脱贫计划目标，不参与排名，列于表末。" in city


@pytest.fixture
def second_pg_url() -> Iterator[str]:
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"fupin_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_city_on_dask_equals_one_process_and_the_truth(
    harness, tmp_path: Path, pg_url: str, second_pg_url: str
) -> None:
    seed = random.SystemRandom().randrange(1, 1_000_000)
    world = tmp_path / "world"
    _generate(world, seed, tmp_path / "one", tmp_path / "dask")
    inbox = str(world / "inbox")

    # 乐昌市 has a channel file of its own (every township: an address nobody answers);
    # 南雄市 uses the configured one (config/channels.toml: no address).
    lechang = load_divisions("440281")
    (tmp_path / "one" / "440281").mkdir(parents=True)
    townships = "".join(f'"{code}" = ["json://127.0.0.1:9/fupin"]\n' for code in lechang.townships)
    (tmp_path / "one" / "440281" / "channels.toml").write_text(
        "office = []\n[delivery]\nattempts = 1\nretry_delay_seconds = 0\n[townships]\n" + townships,
        encoding="utf-8",
    )
    one = run_city(inbox, AS_OF.isoformat(), pg_url, str(tmp_path / "one"), workers=0)
    assert one["counties"]["440281"]["alerts"]["failed"] >= 1 and one["needs_attention"]
    assert one["counties"]["440282"]["alerts"] == {"sent": 0, "failed": 0, "unchanged": 0}
    # the Parquet the tasks exchanged (full IDs) is gone with the run
    assert not list((tmp_path / "one" / "440200" / "work").glob("*"))
    _check_policies(world, tmp_path / "one", pg_url, one["reports"])
    dask = run_city(inbox, AS_OF.isoformat(), second_pg_url, str(tmp_path / "dask"), workers=2)
    assert dask["counties"]["440281"]["alerts"] is None  # no channel file: told, not failed
    assert set(one["counties"]) == set(dask["counties"]) == set(COUNTIES)
    assert len(dask["worker_peak_mb"]) >= 2, "the counties ran in more than one process"
    if "POLARS_MAX_THREADS" not in os.environ:  # each worker's polars gets its share of cores
        assert set(dask["worker_polars_threads"]) == {max(1, (os.cpu_count() or 1) // 2)}

    found = city_findings(pg_url).drop(*VOLATILE)
    assert found.height > 0
    assert found.equals(city_findings(second_pg_url).drop(*VOLATILE)), f"seed {seed}"

    truth = pl.read_csv(world / "truth" / "findings.csv", infer_schema=False)
    scores = score_city_findings(found, truth)
    wrong = scores.filter((pl.col("precision") < 1) | (pl.col("recall") < 1))
    assert wrong.is_empty(), f"seed {seed}:\n{wrong}"
    assert {"R16", "R01", "R05"} <= set(scores["rule"].to_list())
    assert set(found["county_code"].unique().to_list()) == set(COUNTIES)
    issues = city_frame("issues", second_pg_url, list(COUNTIES))
    truth_issues = pl.read_csv(world / "truth" / "issues.csv", infer_schema=False)
    assert overall(score_issues(issues, truth_issues, city=True))["precision"] == 1.0
    assert overall(score_issues(issues, truth_issues, city=True))["recall"] == 1.0, f"seed {seed}"
    assert set(issues["county_code"]) == {*COUNTIES, "440200"}

    # The next night, nothing new: every finding keeps its identity and its age.
    later = (AS_OF + timedelta(days=1)).isoformat()
    run_city(inbox, later, second_pg_url, str(tmp_path / "dask"), workers=2)
    again = city_findings(second_pg_url)
    assert again.select("county_code", "key", "first_seen").equals(
        city_findings(pg_url).select("county_code", "key", "first_seen")
    )
    assert (again["last_seen"] == date.fromisoformat(later)).all()


@pytest.mark.postgres
@pytest.mark.slow
def test_one_countys_failure_does_not_stop_the_others(
    harness, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import flows.city as city

    world = tmp_path / "world"
    _generate(world, 3, tmp_path / "h")
    inbox = str(world / "inbox")
    first = run_city(inbox, AS_OF.isoformat(), pg_url, str(tmp_path / "h"), workers=0, send=False)
    before = city_findings(pg_url)

    ingest, judge = city.ingest_inbox, city.city_transforms.judge

    def broken_ingest(engine, settings, folder, *args, **kwargs):
        if folder.name == "440281":
            raise ValueError("a file no reader expected")
        return ingest(engine, settings, folder, *args, **kwargs)

    def broken_judge(county, *args, **kwargs):
        if county == "440282":
            raise KeyError("a rule's defect")
        return judge(county, *args, **kwargs)

    monkeypatch.setattr(city, "ingest_inbox", broken_ingest)
    monkeypatch.setattr(city.city_transforms, "judge", broken_judge)
    later = (AS_OF + timedelta(days=1)).isoformat()
    night = run_city(inbox, later, pg_url, str(tmp_path / "h"), workers=0, send=False)
    assert night["needs_attention"] and not first["needs_attention"]
    lechang, nanxiong = night["counties"]["440281"], night["counties"]["440282"]
    assert lechang["intake_failed"].startswith("ValueError") and "findings" in lechang
    assert nanxiong["failed"].startswith("KeyError") and "findings" not in nanxiong
    after = city_findings(pg_url)
    # 南雄市's findings stayed as they were; 乐昌市 was judged on the data already in force
    keep = ["county_code", "key", "first_seen", "last_seen"]
    assert (
        after.filter(pl.col("county_code") == "440282")
        .select(keep)
        .equals(before.filter(pl.col("county_code") == "440282").select(keep))
    )
    lc = after.filter(pl.col("county_code") == "440281")
    assert lc.height > 0 and (lc["last_seen"] == date.fromisoformat(later)).all()


@pytest.mark.postgres
@pytest.mark.slow
def test_failed_extract_and_resolve_steps_cost_only_what_depends_on_them(
    harness, tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Night 2: a load of the extracts and 乐昌市's identity resolution fail.  The load's
    files stay as they were in force; 乐昌市 is not judged; 南雄市 is, but not by R11 and R16,
    which need every county's identities: their findings keep their state.  Night 3: one part
    of the extracts in force cannot be written, and 乐昌市's register in force neither, so
    no county is judged (on part of the city's insurance every poor person might look
    uninsured).  Night 4, nothing broken: every finding is judged again and has kept its
    identity and its age."""
    from prefect import task

    import flows.city as city

    world = tmp_path / "world"
    _generate(world, 5, tmp_path / "h")
    inbox, home = str(world / "inbox"), str(tmp_path / "h")
    nights = [(AS_OF + timedelta(days=n)).isoformat() for n in range(4)]
    first = run_city(inbox, nights[0], pg_url, home, workers=0, send=False)
    assert not first["needs_attention"]
    before = city_findings(pg_url)
    held = before.filter(pl.col("rule").is_in(["R11", "R16"]))
    assert {"R11", "R16"} <= set(before["rule"]) and held.height > 0

    resolve_persons = city.resolve_persons

    def broken_resolve(roster, *args):
        if roster["township_code"].drop_nulls().str.starts_with("440281").any():
            raise IndexError("a resolver's defect")
        return resolve_persons(roster, *args)

    @task(name="load-extract")
    def broken_load(*args, **kwargs):
        raise MemoryError("a worker lost")

    with monkeypatch.context() as patch:
        patch.setattr(city, "resolve_persons", broken_resolve)
        patch.setattr(city, "load_extract", broken_load)
        night = run_city(inbox, nights[1], pg_url, home, workers=0, send=False)
    assert night["needs_attention"] and night["extracts"]["needs_attention"]
    lechang, nanxiong = night["counties"]["440281"], night["counties"]["440282"]
    assert lechang["failed"].startswith("身份比对出错：IndexError")
    assert set(nanxiong["findings"]["rules_failed"]) == {"R11", "R16"}
    said = city_lines(night)
    assert "440281：本次未比对核查（身份比对出错：IndexError" in said
    assert "  规则R16：本次未更新（乐昌市身份比对未完成），其核查结果保持原状。" in said
    after = city_findings(pg_url)
    keep = ["county_code", "key", "first_seen", "last_seen"]
    moved = after.filter(pl.col("last_seen") == date.fromisoformat(nights[1]))
    stayed = after.join(moved, on=["county_code", "key"], how="anti")
    # 南雄市's other findings were judged tonight on the extracts in force; nothing else was
    assert set(moved["county_code"]) == {"440282"}
    assert not set(moved["rule"]) & {"R11", "R16"}
    assert (
        stayed.select(keep)
        .sort(keep)
        .equals(before.join(moved, on=["county_code", "key"], how="anti").select(keep).sort(keep))
    )
    assert (
        after.select("county_code", "key")
        .sort("*")
        .equals(before.select("county_code", "key").sort("*"))
    )

    write_part = city.extract_part.fn

    @task(name="extract-part")
    def broken_part(kind, *args, **kwargs):
        if kind == "settlement":
            raise OSError("a full disk")
        return write_part(kind, *args, **kwargs)

    write_register = city._write_register

    def broken_register(engine, county, work):
        if county == "440281":
            raise PermissionError("a folder the worker cannot write")
        return write_register(engine, county, work)

    with monkeypatch.context() as patch:
        patch.setattr(city, "extract_part", broken_part)
        patch.setattr(city, "_write_register", broken_register)
        night = run_city(inbox, nights[2], pg_url, home, workers=0, send=False)
    assert night["extracts"]["failed"].startswith("OSError")
    assert city_lines(night).startswith("全市医保数据：未能备妥（OSError")
    assert night["counties"]["440281"]["failed"].startswith("接收出错：PermissionError")
    held = night["counties"]["440282"]["failed"]
    assert held.startswith("全市数据未能备妥：OSError") and "440281 的接收出错" not in held
    assert city_findings(pg_url).select(keep).sort(keep).equals(after.select(keep).sort(keep))
    engine = create_engine(pg_url)
    with engine.connect() as conn:
        statuses = conn.execute(
            text(
                "SELECT status FROM c440200.run UNION ALL SELECT status FROM c440281.run ORDER BY 1"
            )
        ).scalars()
        assert sorted(statuses) == sorted(
            ["succeeded", "needs_attention", "failed"] + ["succeeded", "failed", "failed"]
        )
    engine.dispose()

    last = run_city(inbox, nights[3], pg_url, home, workers=0, send=False)
    assert not last["needs_attention"]
    again = city_findings(pg_url)
    assert (
        again.select("county_code", "key", "first_seen")
        .sort("*")
        .equals(before.select("county_code", "key", "first_seen").sort("*"))
    )
    assert (again["last_seen"] == date.fromisoformat(nights[3])).all()
