"""The office's failure notice and the channel file's complaint name the county the process
works for; 南雄市's stay as they were."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from config.settings import load_divisions, working_for
from flows import notify
from flows.alerts import AlertsConfigError, load_channels

WHEN = datetime(2018, 7, 1, 18, 5, tzinfo=UTC)


def test_failure_notice_names_the_county():
    title, _ = notify.failure_message("nightly-reconciliation", "ox", WHEN, "原因", "乐昌市")
    assert title == "【乐昌市扶贫数据核查】夜间核查运行失败（2018-07-02 02:05）"
    with working_for("440281"):
        title, body = notify.failure_message("annual-snapshot", "ox", WHEN, "原因")
    assert title == "【乐昌市扶贫数据核查】年度归档运行失败（2018-07-02 02:05）"
    assert "南雄" not in title + body
    title, _ = notify.failure_message("annual-snapshot", "ox", WHEN, "原因")
    assert title == "【南雄市扶贫数据核查】年度归档运行失败（2018-07-02 02:05）"


def test_channel_file_names_the_county_whose_township_is_unknown(tmp_path: Path):
    path = tmp_path / "channels.toml"
    path.write_text('[townships]\n"珠玑镇" = ["json://localhost/"]\n', encoding="utf-8")
    assert load_channels(path).townships  # 珠玑镇 is 南雄市's
    with pytest.raises(AlertsConfigError, match="“珠玑镇”不是乐昌市的乡镇代码或名称"):
        load_channels(path, load_divisions("440281"))
    path.write_text('[townships]\n"北乡镇" = ["json://localhost/"]\n', encoding="utf-8")
    with pytest.raises(AlertsConfigError, match="“北乡镇”不是南雄市的乡镇代码或名称"):
        load_channels(path)
    with working_for("440281"):
        assert load_channels(path).townships == {"440281102": ("json://localhost/",)}
