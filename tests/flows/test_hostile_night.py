"""Issue 14's night: every fault at once in one inbox -- hostile files, a link out of the
inbox, a lock file, a file at the top, a roster with a head's row typed twice without its
户编号, a settlement extract with impossible values, a rule that raises -- through `fupin
nightly`: exit code 1, a summary naming every bad file and the failed rule, and the other
townships' findings exactly as the night before."""

from __future__ import annotations

import shutil
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest

from flows.cli import main
from flows.export import export
from generator import generate
from tests.flows import resubmit
from transforms import rules
from warehouse import db

NIGHT1 = date(2018, 6, 30)
NIGHT2 = NIGHT1 + timedelta(days=1)
HOSTILE = Path(__file__).resolve().parents[1] / "corpus" / "hostile" / "files"
CLAIMS = "claims/医疗费用结算明细_补录.csv"
HEADER = "结算流水号,公民身份号码,姓名,结算日期,医疗机构,医疗费用总额,政策范围内费用,统筹支付,大病保险支付,医疗救助支付"


def _findings(url: str, out: Path) -> pl.DataFrame:
    export("findings", out, url)
    return pl.read_csv(out, infer_schema=False).drop("last_seen")


def _head_typed_twice(sheet: resubmit.RawSheet) -> pl.DataFrame:
    """The first household's head row copied right below itself, its 户编号 cell blank."""
    grid = sheet.grid
    column, start = resubmit.column_of(sheet, "household_id")
    relation, _ = resubmit.column_of(sheet, "relation")
    heads = grid.with_row_index("_i").filter(
        (pl.col("_i") >= start) & (pl.col(relation).str.strip_chars() == "户主")
    )
    i = int(heads["_i"][0])
    copy = grid.slice(i, 1).with_columns(pl.lit(None, pl.Utf8).alias(column))
    return pl.concat([grid.head(i + 1), copy, grid.slice(i + 1)])


@pytest.mark.slow
def test_a_night_with_every_fault_finishes_and_says_what_needs_a_person(
    harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    generate(tmp_path / "gen", scale=0.01, seed=7, as_of=NIGHT1)
    inbox = tmp_path / "inbox"
    shutil.copytree(tmp_path / "gen" / "inbox", inbox)
    url = f"sqlite:///{tmp_path / 'home' / 'fupin.db'}"
    monkeypatch.setenv("FUPIN_HOME", str(tmp_path / "home"))
    assert main(["--db", url, "nightly", "--inbox", str(inbox), "--as-of", str(NIGHT1)]) == 0
    before = _findings(url, tmp_path / "before.csv")

    # the faults
    slipped = sorted((inbox / "townships").glob("*.xlsx"))[0]
    bad = {
        "townships/南雄市珠玑镇压缩炸弹.xlsx": HOSTILE / "bomb_ratio.xlsx",
        "townships/南雄市珠玑镇远处单元格.xlsx": HOSTILE / "far_cell.xlsx",
        "townships/~$南雄市珠玑镇花名册.xlsx": HOSTILE / "lock.xlsx",
        "townships/..珠玑镇.xlsx": HOSTILE / "other_roster.xlsx",
        "花名册放错了.xlsx": HOSTILE / "other_roster.xlsx",
    }
    for rel, src in bad.items():
        shutil.copy(src, inbox / rel)
    secret = tmp_path / "outside" / "机密.xlsx"
    secret.parent.mkdir()
    shutil.copy(HOSTILE / "other_roster.xlsx", secret)
    (inbox / "townships" / "链接.xlsx").symlink_to(secret)
    resubmit.resave(slipped, slipped.with_name("更正_" + slipped.name), _head_typed_twice)
    outsider = "440282199901011234"  # nobody on any roster: no rule reads these bills
    bills = [
        ("JSH01", outsider, "2018-03-01", "-5000"),
        ("JSH02", outsider, "2018-03-02", "1e15"),
        ("JSH03", outsider, "2099-12-31", "1000"),
        ("JSH04", outsider[:6] + "\u200b" + outsider[6:], "2018-03-04", "1000"),
        ("JSH05", outsider, "2018-03-05", "Inf"),
    ]
    lines = [HEADER] + [
        f"{s},{i},某人,{d},南雄市人民医院,{t},800,500,0,210" for s, i, d, t in bills
    ]
    (inbox / CLAIMS).write_text("\n".join(lines) + "\n", encoding="utf-8")

    def broken(x: rules.RuleInputs) -> pl.DataFrame:
        raise RuntimeError("boom")

    monkeypatch.setitem(rules.RULE_FUNCTIONS, "R09", broken)
    capsys.readouterr()

    code = main(["--db", url, "nightly", "--inbox", str(inbox), "--as-of", str(NIGHT2)])

    out, err = capsys.readouterr()
    assert code == 1, out + err
    assert "Traceback" not in out + err
    for rel in [*bad, "townships/链接.xlsx"]:
        assert rel in out, rel
    assert "规则R09执行出错（RuntimeError at " in out
    assert str(secret) not in out and "机密" not in out
    after = _findings(url, tmp_path / "after.csv")
    # the township whose corrected roster arrived is the one allowed to change
    files = db.read_frame(db.connect(url), "source_file")
    corrected = files.filter(pl.col("name") == "更正_" + slipped.name).row(0, named=True)
    assert corrected["status"] == "accepted", corrected["reason"]
    moved = {corrected["township_code"]}
    stable_before = before.filter(~pl.col("township_code").is_in(moved))
    stable_after = after.filter(~pl.col("township_code").is_in(moved))
    assert stable_after.equals(stable_before)
    archived = [p.read_bytes() for p in (tmp_path / "home" / "files").rglob("*") if p.is_file()]
    assert secret.read_bytes() not in archived
