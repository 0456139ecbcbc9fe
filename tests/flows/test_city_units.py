"""A county of a city has its own home, and there its own policy and alert channels when it
keeps them; otherwise the configured ones (the home county's channels only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from config.settings import HOME_COUNTY, load_policy, load_resources, load_settings
from flows.city import channels_of, extract_shares, unit_settings
from flows.inbox import county_folders


def test_a_county_home_policy_and_channels(tmp_path: Path) -> None:
    settings = load_settings("sqlite:///x.db", tmp_path)
    lechang = unit_settings(settings, "440281")
    assert lechang.home == tmp_path / "440281"
    assert lechang.database_url == settings.database_url
    assert lechang.policy_file == settings.policy_file
    assert channels_of("440281", lechang) is None  # nothing configured for it
    assert channels_of("440282", unit_settings(settings, "440282")) == settings.channels_file

    (tmp_path / "440281").mkdir()
    (tmp_path / "440281" / "policy.toml").write_text("# 乐昌市\n", encoding="utf-8")
    (tmp_path / "440281" / "channels.toml").write_text("office = []\n", encoding="utf-8")
    lechang = unit_settings(settings, "440281")
    assert lechang.policy_file == tmp_path / "440281" / "policy.toml"
    assert channels_of("440281", lechang) == tmp_path / "440281" / "channels.toml"


def test_a_county_without_its_own_policy_takes_the_rules_not_nanxiongs_figures(
    tmp_path: Path,
) -> None:
    settings = load_settings("sqlite:///x.db", tmp_path)
    configured = load_policy(settings.policy_file)
    # 南雄市 without a file of its own: the configured policy, as a single county has it
    home = load_resources(unit_settings(settings, HOME_COUNTY)).policy
    assert home == configured == load_resources(settings).policy and home.persons == 15888
    # 乐昌市 without one: every rule of the configured policy, none of its figures
    lechang = load_resources(unit_settings(settings, "440281")).policy
    assert lechang == configured.without_figures() and not lechang.figures_known
    assert load_resources(unit_settings(settings, "440200")).policy == lechang  # the city's own
    # 乐昌市 with its own: its own numbers
    (tmp_path / "440281").mkdir()
    text = settings.policy_file.read_text(encoding="utf-8")
    own = text.replace("persons = 15888", "persons = 9000").replace(
        "poor_villages = 68", "poor_villages = 23"
    )
    (tmp_path / "440281" / "policy.toml").write_text(own, encoding="utf-8")
    lechang = load_resources(unit_settings(settings, "440281")).policy
    assert (lechang.persons, lechang.poor_villages, lechang.households) == (9000, 23, 6289)


def test_county_folders_and_extract_shares(tmp_path: Path) -> None:
    for folder in ("440282/townships", "440281/dibao", "insurance", "claims", "notes"):
        (tmp_path / folder).mkdir(parents=True)
    for name in ("insurance/2016.csv", "insurance/2017.csv", "claims/2017.csv", "readme.txt"):
        (tmp_path / name).write_text("x", encoding="utf-8")
    assert county_folders(tmp_path) == ["440281", "440282"]
    opened = {
        "to_load": ["insurance/2016.csv", "insurance/2017.csv"],
        "settled": [{"rel_path": "claims/2017.csv"}],  # a duplicate: nothing to load
    }
    shares = extract_shares(opened, tmp_path)
    every = {"insurance/2016.csv", "insurance/2017.csv", "claims/2017.csv", "readme.txt", "notes"}
    taken = [every - elsewhere for elsewhere in shares]
    assert taken[0] == {"insurance/2016.csv", "readme.txt", "notes"}  # and what is not read
    assert taken[1] == {"insurance/2017.csv"}
    assert all("claims/2017.csv" not in t for t in taken)


@pytest.mark.parametrize("code", ["4402", "c440282"])
def test_only_six_digit_folders_are_counties(tmp_path: Path, code: str) -> None:
    (tmp_path / code).mkdir()
    assert county_folders(tmp_path) == []


def test_a_city_inbox_on_sqlite_is_refused_with_the_reason(tmp_path: Path, capsys) -> None:
    from flows.cli import main

    (tmp_path / "inbox" / "440281" / "townships").mkdir(parents=True)
    code = main(
        ["--db", f"sqlite:///{tmp_path / 'w.db'}", "nightly", "--inbox", str(tmp_path / "inbox")]
    )
    assert code == 2
    assert "多县（市级、省级）部署须使用 PostgreSQL 仓库" in capsys.readouterr().err
