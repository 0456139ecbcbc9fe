"""The generated city (`generate_city`, `fupin generate --counties … | --city`): the
multi-county layout, IDs that never collide by accident, the cross-county cases in the inbox
and in the truth, determinism, and a county's data independent of the others generated."""

from __future__ import annotations

import csv
import hashlib
import inspect
import json
import zipfile
from collections import Counter
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.settings import city_counties, load_divisions, load_policy, village_short
from generator import generate
from generator.city import CITY_CODE, county_seed, generate_city
from generator.policies import county_policy
from transforms.ids import parse_id

NX, LC, SX, WJ = "440282", "440281", "440222", "440203"  # 南雄市 乐昌市 始兴县 武江区
CITY = {"scale": 0.02, "seed": 7, "as_of": date(2018, 6, 30)}


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("city")
    return out, generate_city(out, [LC, NX], **CITY)


def _csv(path: Path, encoding: str = "utf-8-sig") -> list[dict[str, str]]:
    with path.open(encoding=encoding, newline="") as fh:
        return list(csv.DictReader(fh))


def _truth(out: Path, name: str) -> list[dict[str, str]]:
    return _csv(out / "truth" / name)


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _county_townships(code: str) -> dict[str, str]:
    d = load_divisions(None if code == NX else code)
    with_villages = {v.township_code for v in d.villages}
    return {c: d.short_name(c) for c in d.townships if c in with_villages}


def _places(code: str) -> set[tuple[str, str]]:
    """(township, village) as the enrolment extract writes them, for a county's villages."""
    d = load_divisions(None if code == NX else code)
    return {(d.short_name(v.township_code), village_short(v.name)) for v in d.villages}


def _cross(out: Path, code: str, host: bool = False) -> list[dict[str, str]]:
    """Cross-county injections of `code`: the giving county's rows (`host`: the hosts')."""
    variant = "cross_county_host" if host else "cross_county"
    return [
        r for r in _truth(out, "injections.csv") if r["variant"] == variant and r["code"] == code
    ]


# ---------------------------------------------------------------- layout


def test_layout_has_a_folder_per_county_and_city_wide_extracts(city: tuple[Path, dict]) -> None:
    out, summary = city
    inbox = out / "inbox"
    assert sorted(p.name for p in inbox.iterdir()) == sorted([LC, NX, "claims", "insurance"])
    for code, name in ((LC, "乐昌市"), (NX, "南雄市")):
        books = sorted((inbox / code / "townships").iterdir())
        assert len(books) == len(_county_townships(code))
        assert {b.suffix for b in books} <= {".xlsx", ".xls"}
        (roll,) = (inbox / code / "dibao").iterdir()
        assert roll.name == f"{name}城乡低保特困供养人员名册_201806.csv"
    enrolment = sorted(p.name for p in (inbox / "insurance").iterdir())
    assert enrolment == [f"韶关市城乡居民医保参保名册_{y}.csv" for y in (2016, 2017, 2018)]
    claims = sorted(p.name for p in (inbox / "claims").iterdir())
    assert claims == [
        "医疗费用结算明细_2016.csv",
        "医疗费用结算明细_2017.csv",
        "医疗费用结算明细_2018年1-6月.xlsx",
    ]
    manifest = json.loads((out / "truth" / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["counties"]) == {LC, NX}
    for code, county in manifest["counties"].items():
        assert county["seed"] == county_seed(CITY["seed"], code)
        assert sorted(county["files"]["townships"]) == sorted(
            f"{code}/townships/{b.name}" for b in (inbox / code / "townships").iterdir()
        )
    assert summary["counties"] == {LC: "乐昌市", NX: "南雄市"}


def test_each_county_gets_its_policy_with_its_generated_figures(city: tuple[Path, dict]) -> None:
    """DIR/policy/<code>.toml: read by the project's own loader, it carries the county's
    counts as generated (the manifest's), the plan's targets in proportion, every rule of the
    configured policy."""
    out, summary = city
    assert summary["policies"] == [f"policy/{LC}.toml", f"policy/{NX}.toml"]
    assert sorted(p.name for p in (out / "policy").iterdir()) == [f"{LC}.toml", f"{NX}.toml"]
    manifest = json.loads((out / "truth" / "manifest.json").read_text(encoding="utf-8"))
    plan = load_policy()
    for code in (LC, NX):
        policy = load_policy(out / "policy" / f"{code}.toml")
        counts = manifest["counties"][code]["counts"]
        figures = ("households", "persons", "poor_villages", "villages", "townships")
        assert {f: getattr(policy, f) for f in figures} == {f: counts[f] for f in figures}
        assert policy.villages == len(load_divisions(code).villages)
        assert policy.persons != plan.persons  # scale 0.02: not 南雄市's 15,888
        n = policy.persons
        assert n is not None and plan.persons is not None
        targets = {y: p.target_persons_out for y, p in policy.years.items()}
        assert targets == {
            y: int(p.target_persons_out * n / plan.persons + 0.5) for y, p in plan.years.items()
        }
        assert targets[2018] == n and policy.year(2018).all_villages_exit
        assert policy.year(2016).target_via_dibao == int(5000 * n / 15888 + 0.5)
        assert policy.year(2017).target_via_dibao is None
        poor = {t: k for t, k in policy.support_units.items() if t != "township_work_groups"}
        assert set(poor) == {"省直/中直驻粤", "东莞市", "韶关市直/省直驻韶"}
        assert sum(poor.values()) == policy.poor_villages
        assert 0 < policy.support_units["township_work_groups"] <= policy.townships
        assert policy.without_figures() == plan.without_figures()  # every rule as configured
        assert "Install as FUPIN_HOME/" + code + "/policy.toml" in (
            out / "policy" / f"{code}.toml"
        ).read_text(encoding="utf-8")


def test_the_plan_itself_comes_back_as_the_configured_policy() -> None:
    """南雄市's own figures give the configured policy back, targets and all."""
    plan = load_policy()
    assert plan.persons is not None and plan.households is not None
    again = county_policy(
        plan,
        households=plan.households,
        persons=plan.persons,
        poor_villages=68,
        villages=208,
        townships=18,
        support_units=dict(plan.support_units),
    )
    assert again == plan
    with pytest.raises(ValueError, match="no figures"):
        county_policy(
            plan.without_figures(),
            households=1,
            persons=1,
            poor_villages=1,
            villages=1,
            townships=1,
            support_units={},
        )


def test_truth_files_carry_the_county_first(city: tuple[Path, dict]) -> None:
    out, _ = city
    for name in ("findings.csv", "issues.csv", "injections.csv", "roster_expected.csv"):
        with (out / "truth" / name).open(encoding="utf-8-sig") as fh:
            assert next(csv.reader(fh))[0] == "county_code"
    issues = _truth(out, "issues.csv")
    for row in issues:
        city_file = row["file"].startswith(("insurance/", "claims/"))
        assert row["county_code"] == (CITY_CODE if city_file else row["file"][:6])
    assert {r["county_code"] for r in _truth(out, "findings.csv")} == {LC, NX}


def test_each_county_follows_its_own_divisions(city: tuple[Path, dict]) -> None:
    out, _ = city
    rows = _truth(out, "roster_expected.csv")
    for code in (LC, NX):
        townships = _county_townships(code)
        d = load_divisions(None if code == NX else code)
        villages = {village_short(v.name) for v in d.villages}
        mine = [r for r in rows if r["county_code"] == code and r["loaded"] == "true"]
        assert mine
        assert {r["township_code"] for r in mine} == set(townships)  # every township sends
        assert {r["village"] for r in mine} <= villages
        assert all(r["file"].startswith(f"{code}/townships/") for r in mine)
    book = next(p for p in (out / "inbox" / LC / "townships").iterdir() if p.suffix == ".xlsx")
    with zipfile.ZipFile(book) as z:
        core = z.read("docProps/core.xml").decode()
    assert "<dc:title>乐昌市" in core and "乐昌市扶贫办" in core


# ---------------------------------------------------------------- identities


def test_ids_never_collide_across_counties_except_the_intended(city: tuple[Path, dict]) -> None:
    out, _ = city
    rows = _truth(out, "roster_expected.csv")
    ids: dict[str, set[str]] = {}
    for r in rows:
        if r["id_status"] == "valid" and r["loaded"] == "true":
            ids.setdefault(r["county_code"], set()).add(r["id_as_written"])
    shared = ids[LC] & ids[NX]
    r16 = {r["key"] for r in _truth(out, "findings.csv") if r["rule"] == "R16"}
    assert shared == r16 and r16
    enrolment = _enrolment(out)
    valid = enrolment.filter(
        pl.col("公民身份号码").map_elements(
            lambda s: parse_id(s).status == "valid", return_dtype=pl.Boolean
        )
    )
    assert valid.select("公民身份号码", "参保年度").is_duplicated().sum() == 0
    assert enrolment.select("个人编号", "参保年度").is_duplicated().sum() == 0
    assert valid["公民身份号码"].str.slice(0, 6).is_in([LC, NX]).mean() > 0.85
    sids = pl.concat(
        [
            pl.read_csv(p, infer_schema_length=0)["结算流水号"]
            for p in sorted((out / "inbox" / "claims").glob("*.csv"))
        ]
    )
    assert sids.is_duplicated().sum() == 0
    families = [
        {r["低保证号"] for r in _csv(next((out / "inbox" / c / "dibao").iterdir()), "gb18030")}
        for c in (LC, NX)
    ]
    assert not families[0] & families[1]


# ---------------------------------------------------------------- cross-county cases


def _check_cross(out: Path, counties: list[str]) -> None:
    """Every cross-county case is in the inbox and in the truth, as common.md wants."""
    findings = _truth(out, "findings.csv")
    found = {(r["county_code"], r["rule"], r["key"]) for r in findings}
    roster = [r for r in _truth(out, "roster_expected.csv") if r["loaded"] == "true"]
    manifest = json.loads((out / "truth" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["counts"]["truth_agreement"] == {
        "missing": 0,
        "unexplained": 0,
        "forbidden_found": 0,
    }

    # R16: once per identity, under the lowest county, at its first active row
    r16 = [r for r in findings if r["rule"] == "R16"]
    assert len(r16) == len({r["key"] for r in r16})
    for f in r16:
        active = [
            r for r in roster if r["id_as_written"] == f["key"] and r["person_status"] == "正常"
        ]
        counties_in = {r["county_code"] for r in active}
        assert len(counties_in) >= 2
        assert f["county_code"] == min(counties_in)
        first = min(
            (r for r in active if r["county_code"] == f["county_code"]),
            key=lambda r: (r["file"], int(r["row_no"])),
        )
        assert (f["township_code"], f["household_id"]) == (
            first["township_code"],
            first["household_id"],
        )
        assert ("R06" not in {x["rule"] for x in findings if x["key"] == f["key"]}) or len(
            [r for r in active if r["county_code"] == f["county_code"]]
        ) > 1
    assert {r["person_id"] for r in _cross(out, "R16")} == {r["key"] for r in r16}
    assert {r["person_id"] for r in _cross(out, "R16", host=True)} == {r["key"] for r in r16}

    # insured elsewhere: enrolment rows name a township of the other county; no R01
    enrolment = _enrolment(out)
    insured = _cross(out, "insured_elsewhere")
    for inj in insured:
        code, pid = inj["county_code"], inj["person_id"]
        rows = enrolment.filter(pl.col("公民身份号码") == pid)
        places = set(rows.select("所属乡镇", "所属村").iter_rows())
        assert places and not places & _places(code)
        assert places <= set().union(*(_places(c) for c in counties if c != code))
        assert (code, "R01", pid) not in found

    # death recorded in another county's roll: R05 in the person's county
    dead = _cross(out, "R05")
    for inj in dead:
        code, pid = inj["county_code"], inj["person_id"]
        stopped = [
            c
            for c in counties
            if c != code
            for r in _csv(next((out / "inbox" / c / "dibao").iterdir()), "gb18030")
            if r["身份证号码"].upper() == pid and r["停保原因"] == "死亡"
        ]
        assert stopped
        assert (code, "R05", pid) in found and (code, "R01", pid) not in found

    for code in counties:  # at least one of each per county, as the person's county
        assert any(r["county_code"] == code for r in insured)
        assert any(r["county_code"] == code for r in dead)
        assert any(r["county_code"] == code for r in _cross(out, "R16"))
        assert any(r["county_code"] == code for r in _cross(out, "R16", host=True))


def test_cross_county_cases_in_inbox_and_truth(city: tuple[Path, dict]) -> None:
    _check_cross(city[0], [LC, NX])


@pytest.mark.parametrize(
    ("counties", "seed"),
    [([NX, LC], 1), ([WJ, NX, SX], 2), ([WJ, SX], 3), ([LC, SX, NX], 20161010)],
)
def test_cross_cases_hold_for_other_seeds_and_counties(
    tmp_path: Path, counties: list[str], seed: int
) -> None:
    generate_city(tmp_path, counties, scale=0.02, seed=seed)
    _check_cross(tmp_path, sorted(counties))


@settings(
    max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    seed=st.integers(min_value=0, max_value=2**31),
    counties=st.lists(
        st.sampled_from(sorted(city_counties())), min_size=2, max_size=3, unique=True
    ),
)
def test_cross_cases_hold_for_any_seed(
    tmp_path_factory: pytest.TempPathFactory, seed: int, counties: list[str]
) -> None:
    out = tmp_path_factory.mktemp("city-any")
    generate_city(out, counties, scale=0.01, seed=seed)
    _check_cross(out, sorted(counties))


# ---------------------------------------------------------------- determinism and independence


def test_same_seed_same_bytes(city: tuple[Path, dict], tmp_path: Path) -> None:
    out, _ = city
    generate_city(tmp_path, [NX, LC], **CITY)  # order of the codes does not matter
    first, second = _files(out), _files(tmp_path)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


def test_a_county_does_not_depend_on_the_others(city: tuple[Path, dict], tmp_path: Path) -> None:
    """Nanxiong with 乐昌市 or with 始兴县: the same people, households and cases of its own;
    what differs is the guests it hosts (their rows, the rows below them in those workbooks,
    the hosts' 家庭人口) and the death rows added to its 低保 roll."""
    out, _ = city
    generate_city(tmp_path, [NX, SX], **CITY)
    rosters = {}
    hosts = {  # households of Nanxiong hosting a guest in either run
        r["household_id"]
        for o in (out, tmp_path)
        for r in _cross(o, "R16", host=True)
        if r["county_code"] == NX
    }
    for o in (out, tmp_path):
        guests = {r["person_id"] for r in _cross(o, "R16", host=True) if r["county_code"] == NX}
        assert guests
        rows = [r for r in _truth(o, "roster_expected.csv") if r["county_code"] == NX]
        keep = [r for r in rows if not (r["id_as_written"] in guests and r["relation"] == "其他")]
        rosters[o] = (
            sorted(
                tuple(
                    v
                    for k, v in r.items()
                    # rows move down below a guest; a host's 家庭人口 counts its guest
                    if k != "row_no" and (k != "family_size" or r["household_id"] not in hosts)
                )
                for r in keep
            ),
            {r["file"] for r in rows if r["id_as_written"] in guests and r["relation"] == "其他"},
        )
    assert rosters[out][0] == rosters[tmp_path][0]
    hosting = rosters[out][1] | rosters[tmp_path][1]
    books = sorted((out / "inbox" / NX / "townships").iterdir())
    for book in books:
        rel = f"{NX}/townships/{book.name}"
        same = book.read_bytes() == (tmp_path / "inbox" / rel).read_bytes()
        assert same or rel in hosting, rel
    assert any(
        (b.read_bytes() == (tmp_path / "inbox" / NX / "townships" / b.name).read_bytes())
        for b in books
    )
    # the persons Nanxiong gives to cross-county cases are the same whoever the partner is
    for kind in ("insured_elsewhere", "R05"):
        given = [
            {r["person_id"] for r in _cross(o, kind) if r["county_code"] == NX}
            for o in (out, tmp_path)
        ]
        assert given[0] == given[1]


# ---------------------------------------------------------------- the single county stays as it was


def test_single_county_generate_is_unchanged(tmp_path: Path) -> None:
    """The default generation at a small scale, byte for byte as before the city existed
    (digest of commit 37fd7bc's generator; a deliberate change bumps GENERATOR_VERSION and
    this digest together)."""
    assert list(inspect.signature(generate).parameters) == ["out_dir", "scale", "seed", "as_of"]
    assert [p.default for p in inspect.signature(generate).parameters.values()][1:] == [
        1.0,
        20161010,
        date(2018, 6, 30),
    ]
    generate(tmp_path, scale=0.01, seed=7, as_of=date(2018, 6, 30))
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == [
        "claims",
        "dibao",
        "insurance",
        "townships",
    ]
    with (tmp_path / "truth" / "findings.csv").open(encoding="utf-8-sig") as fh:
        assert next(csv.reader(fh))[0] == "rule"
    digest = hashlib.sha256()
    for p in sorted(tmp_path.rglob("*")):
        if p.is_file():
            digest.update(str(p.relative_to(tmp_path)).encode())
            digest.update(hashlib.sha256(p.read_bytes()).digest())
    assert digest.hexdigest() == "de34c4568db188ed160e868e728a9319b9a27f0c974769db26dd13949e081ee5"


def test_cli_generates_a_city_and_refuses_unknown_counties(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from flows.cli import build_parser
    from flows.commands import cmd_generate
    from flows.exit_codes import OK, USAGE

    parser = build_parser()
    args = parser.parse_args(
        ["generate", "--out", str(tmp_path), "--counties", f"{NX},{WJ}", "--scale", "0.01"]
    )
    assert cmd_generate(args) == OK
    assert (tmp_path / "inbox" / WJ / "townships").is_dir()
    assert "武江区、南雄市" in capsys.readouterr().out
    bad = parser.parse_args(["generate", "--out", str(tmp_path), "--counties", f"{NX},449999"])
    assert cmd_generate(bad) == USAGE
    assert "449999" in capsys.readouterr().err
    months = parser.parse_args(["generate", "--out", str(tmp_path), "--city", "--months", "2"])
    assert cmd_generate(months) == USAGE
    counts = Counter(r["county_code"] for r in _truth(tmp_path, "roster_expected.csv"))
    assert set(counts) == {NX, WJ}


def _enrolment(out: Path) -> pl.DataFrame:
    """The city's enrolment extract, a 参保年度 per file, as one frame."""
    files = sorted((out / "inbox" / "insurance").iterdir())
    return pl.concat([pl.read_csv(f, infer_schema_length=0, encoding="utf8") for f in files])
