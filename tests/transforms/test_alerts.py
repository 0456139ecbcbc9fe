"""Township alerts as pure functions: counts, worst-first order, overdue and escalation,
"nothing changed", masking, and the fix list's own-rows-only rule."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta

import polars as pl

from transforms import alerts as A
from transforms.evidence import EVIDENCE
from transforms.ids import make_id

D = date(2018, 6, 30)
WUJING, ZHUJI = "440282100", "440282113"
FILES = pl.DataFrame(
    {
        "id": [1, 2, 3],
        "name": ["乌迳镇花名册.xlsx", "珠玑镇花名册.xlsx", "医保参保名册.csv"],
        "source": ["townships", "townships", "insurance"],
        "township_code": [WUJING, ZHUJI, None],
    }
)


def pid(seq: int) -> str:
    return make_id("440282", date(1970, 1, 1), seq)


def evidence(*rows: tuple[str, int, str, int]) -> list[dict]:
    return [{"source": s, "file_id": f, "sheet": sh, "row_no": r} for s, f, sh, r in rows]


def finding(key: str, rule: str = "R01", township: str = WUJING, **kw) -> dict:
    row = {
        "rule": rule,
        "key": key,
        "severity": None,
        "township_code": township,
        "village": "新田村",
        "household_id": "440282100201001",
        "person_id": None,
        "id_as_written": None,
        "detail": f"{rule} 问题说明",
        "evidence": evidence(("roster", 1 if township == WUJING else 2, "花名册", 5)),
        "status": "open",
        "first_seen": D,
        "resolved_on": None,
    }
    row.update(kw)
    return row


def issue(key: str, kind: str = "bad_date", township: str = WUJING, **kw) -> dict:
    row = {
        "kind": kind,
        "key": key,
        "file_id": 1 if township == WUJING else 2,
        "sheet": "花名册",
        "row_no": 7,
        "column": "脱贫年度",
        "township_code": township,
        "village": "新田村",
        "household_id": "440282100201002",
        "value": "=HYPERLINK(1)",
        "message": "日期无法识别",
        "suggested_fix": "改为 YYYY 年",
        "status": "open",
        "first_seen": D,
        "resolved_on": None,
    }
    row.update(kw)
    return row


FINDING_SCHEMA = {
    "rule": pl.Utf8,
    "key": pl.Utf8,
    "severity": pl.Utf8,
    "township_code": pl.Utf8,
    "village": pl.Utf8,
    "household_id": pl.Utf8,
    "person_id": pl.Utf8,
    "id_as_written": pl.Utf8,
    "detail": pl.Utf8,
    "evidence": EVIDENCE,
    "status": pl.Utf8,
    "first_seen": pl.Date,
    "resolved_on": pl.Date,
}
ISSUE_SCHEMA = {
    "kind": pl.Utf8,
    "key": pl.Utf8,
    "file_id": pl.Int64,
    "sheet": pl.Utf8,
    "row_no": pl.Int64,
    "column": pl.Utf8,
    "township_code": pl.Utf8,
    "village": pl.Utf8,
    "household_id": pl.Utf8,
    "value": pl.Utf8,
    "message": pl.Utf8,
    "suggested_fix": pl.Utf8,
    "status": pl.Utf8,
    "first_seen": pl.Date,
    "resolved_on": pl.Date,
}


def items(findings: list[dict] = (), issues: list[dict] = ()) -> pl.DataFrame:
    return A.alert_items(
        pl.DataFrame(list(findings), schema=FINDING_SCHEMA),
        pl.DataFrame(list(issues), schema=ISSUE_SCHEMA),
        FILES,
    )


def alert(frame: pl.DataFrame, baseline: A.Baseline | None = None, township=WUJING, as_of=D):
    return A.compute_alert(frame, township, "乌迳镇", as_of, 30, baseline)


# ---------------------------------------------------------------- counts
def test_counts_new_still_open_resolved_overdue_per_township():
    frame = items(
        [
            finding("a", first_seen=D),  # new
            finding("b", first_seen=D - timedelta(days=10)),  # still open
            finding("c", first_seen=D - timedelta(days=31)),  # overdue
            finding("d", first_seen=D - timedelta(days=30)),  # exactly 30 days: not yet overdue
            finding("e", status="resolved", resolved_on=D, first_seen=D - timedelta(days=5)),
            finding("z", township=ZHUJI),  # another township's
        ],
        [issue("i1"), issue("i2", status="resolved", resolved_on=D - timedelta(days=3))],
    )
    c = alert(frame).counts
    assert (c.new, c.still_open, c.open) == (2, 3, 5)
    assert (c.findings, c.issues) == (4, 1)
    assert c.overdue == 1
    assert c.resolved == 1  # no baseline: resolved by this run only
    # since a baseline, resolved counts everything resolved after it
    since = alert(frame, A.Baseline(D - timedelta(days=4), "x")).counts
    assert since.resolved == 2
    office = A.compute_alert(frame, None, "市扶贫办", D, 30, None).counts
    assert office.open == 6


def test_worst_items_high_severity_first_then_oldest():
    old = D - timedelta(days=20)
    frame = items(
        [
            finding("low-old", rule="R12", first_seen=old - timedelta(days=30)),
            finding("high-new", rule="R01", first_seen=D),
            finding("high-old", rule="R14", first_seen=old),
            finding("mid", rule="R06", first_seen=old),
        ],
        [issue("issue-mid", kind="invalid_id", first_seen=old), issue("issue-low")],
    )
    worst = alert(frame).worst
    assert worst["key"].to_list() == [
        "F:high-old",
        "F:high-new",
        "F:mid",  # 中, same day as the issue: findings first
        "I:issue-mid",
        "F:low-old",
        "I:issue-low",
    ]
    assert worst["severity"].to_list() == ["高", "高", "中", "中", "低", "低"]
    many = items([finding(f"k{i:02d}", rule="R12") for i in range(15)])
    assert alert(many).worst.height == A.WORST_ITEMS == 10


# ---------------------------------------------------------------- change detection
def test_nothing_changed_means_no_message():
    frame = items([finding("a", first_seen=D - timedelta(days=3))], [issue("i1")])
    first = alert(frame)
    assert first.changed and first.baseline is None
    sent = A.Baseline(D, first.fingerprint)
    assert not alert(frame, sent).changed
    # the next day, nothing new: still nothing to say
    assert not alert(frame, sent, as_of=D + timedelta(days=1)).changed


def test_new_or_resolved_item_is_a_change():
    before = items([finding("a"), finding("b")])
    sent = A.Baseline(D, alert(before).fingerprint)
    later = D + timedelta(days=1)
    added = items([finding("a"), finding("b"), finding("c", first_seen=later)])
    assert alert(added, sent, as_of=later).changed
    fixed = items([finding("a"), finding("b", status="resolved", resolved_on=later)])
    changed = alert(fixed, sent, as_of=later)
    assert changed.changed and changed.counts.resolved == 1 and changed.counts.open == 1
    # everything fixed is worth saying too
    all_fixed = items([finding(k, status="resolved", resolved_on=later) for k in "ab"])
    assert alert(all_fixed, sent, as_of=later).changed


def test_township_without_problems_gets_nothing():
    assert not alert(items([finding("z", township=ZHUJI)])).changed


def test_escalation_once_when_items_pass_the_deadline():
    first_seen = D - timedelta(days=25)
    frame = items([finding("a", first_seen=first_seen), finding("b", first_seen=D)])
    sent = A.Baseline(D, alert(frame).fingerprint)
    # day 30 after first seen: not overdue yet
    day30 = first_seen + timedelta(days=30)
    assert not alert(frame, sent, as_of=day30).changed
    # day 31: overdue, and newly so -> escalated although the open set did not change
    day31 = first_seen + timedelta(days=31)
    crossing = alert(frame, sent, as_of=day31)
    assert crossing.counts.overdue == 1 and crossing.counts.newly_overdue == 1
    assert crossing.escalated and crossing.changed
    title, body = A.township_message(crossing, "运行#9")
    assert title.startswith("【逾期升级】")
    assert "新超期1项" in body
    # told on day 31: on day 32 it is still overdue but no longer news
    told = A.Baseline(day31, crossing.fingerprint)
    after = alert(frame, told, as_of=day31 + timedelta(days=1))
    assert after.counts.overdue == 1 and not after.escalated and not after.changed
    assert not A.township_message(after, "运行#10")[0].startswith("【逾期升级】")


def test_baselines_from_alert_rows_use_the_last_sent_per_channel():
    def row(i, code, channel, status, as_of, fp):
        counts = json.dumps({"as_of": as_of, "fingerprint": fp})
        return {
            "id": i,
            "township_code": code,
            "channel": channel,
            "status": status,
            "counts": counts,
        }

    rows = pl.DataFrame(
        [
            row(1, WUJING, "mail", "sent", "2018-06-01", "f1"),
            row(2, WUJING, "mail", "sent", "2018-06-02", "f2"),
            row(3, WUJING, "mail", "failed", "2018-06-03", "f3"),
            row(4, WUJING, "bot", "failed", "2018-06-03", "f3"),
            row(5, None, "office", "sent", "2018-06-03", "f9"),
        ]
    )
    known = A.baselines(rows)
    assert known[(WUJING, "mail")] == A.Baseline(date(2018, 6, 2), "f2")
    assert (WUJING, "bot") not in known  # never delivered: next run tries again
    assert known[(None, "office")].fingerprint == "f9"


# ---------------------------------------------------------------- messages and masking
ID_OR_PHONE = re.compile(r"(?<![0-9])(\d{17}[\dXx]|1[3-9]\d{9})(?![0-9])")


def test_message_body_never_carries_an_id_or_phone():
    person = pid(11)
    frame = items(
        [
            finding(
                person,
                person_id=person,
                id_as_written=person,
                detail=f"张三（{person}）联系电话13812345678，应参未参",
            ),
        ],
        [issue("i1", message=f"证件号码{person}无效，原值4.40282197001E+17")],
    )
    a = alert(frame)
    title, body = A.township_message(a, "运行#1", "清单.xlsx", "本单位花名册")
    assert not ID_OR_PHONE.search(title + body)
    assert "440282********" in body and "138****5678" in body
    assert "E+17" not in body
    assert "户编号440282100201001" in body  # 15-digit household numbers stay readable
    assert "见附件《清单.xlsx》" in body
    bot = A.township_message(a, "运行#1", "清单.xlsx", None, attached=False)[1]
    assert "本渠道不能附带文件" in bot and "见附件" not in bot
    digest = A.digest_message(
        A.compute_alert(frame, None, "市扶贫办", D, 30, None),
        A.digest_rows(frame, {WUJING: "乌迳镇", ZHUJI: "珠玑镇"}, D, 30, None),
        "运行#1",
        {"珠玑镇": 1},
        ["珠玑镇"],
    )
    assert not ID_OR_PHONE.search("".join(digest))
    assert "乌迳镇｜2｜2｜0｜0" in digest[1] and "珠玑镇（1个渠道）" in digest[1]


# ---------------------------------------------------------------- fix list
def test_fix_list_has_own_rows_only_worst_first_with_locations():
    person = pid(12)
    shared = evidence(
        ("roster", 1, "花名册", 5), ("roster", 2, "花名册", 9), ("enrolment", 3, "", 40)
    )
    frame = items(
        [
            finding(person, rule="R06", person_id=person, evidence=shared),
            finding("hh1", rule="R14", first_seen=D - timedelta(days=40)),
            finding("z", township=ZHUJI),
            finding("gone", status="resolved", resolved_on=D),
        ],
        [issue("i1"), issue("iz", township=ZHUJI)],
    )
    sheets = A.fix_list(frame, WUJING, D, 30)
    findings, issues = sheets[A.FINDING_SHEET], sheets[A.ISSUE_SHEET]
    assert list(findings.columns) == list(A.FINDING_COLUMNS)
    assert list(issues.columns) == list(A.ISSUE_COLUMNS)
    assert findings["code"].to_list() == ["R14", "R06"]
    assert findings["state"].to_list() == ["逾期", "新增"]
    assert findings["days_open"].to_list() == [40, 0]
    r06 = findings.row(1, named=True)
    assert r06["person"] == person[:6] + "*" * 8 + person[-4:]
    assert (r06["file"], r06["sheet"], r06["row_no"]) == ("乌迳镇花名册.xlsx", "花名册", 5)
    # the other township's workbook is only counted, never named
    assert "珠玑镇" not in r06["other_locations"]
    assert "医保参保名册.csv／第40行" in r06["other_locations"]
    assert "另有1处在其他乡镇花名册中" in r06["other_locations"]
    assert issues["file"].to_list() == ["乌迳镇花名册.xlsx"]
    assert issues.schema["row_no"] == pl.Int64 and issues.schema["first_seen"] == pl.Date


def test_a_finding_without_evidence_is_listed_without_a_location():
    frame = items([finding("none", evidence=[]), finding("null", evidence=None), finding("own")])
    by_key = dict(zip(frame["key"], frame["file"], strict=True))
    assert by_key == {"F:none": None, "F:null": None, "F:own": "乌迳镇花名册.xlsx"}


def test_fix_list_labels_rows_in_bureau_data():
    """A row the township cannot correct itself (the 低保 roll, the insurance bureau's
    extract) is labelled with its source and where to take it; own rows say so too."""
    files = pl.concat(
        [
            FILES,
            pl.DataFrame(
                {"id": [4], "name": ["低保名册.xlsx"], "source": ["dibao"], "township_code": [None]}
            ),
        ]
    )
    frame = A.alert_items(
        pl.DataFrame(
            [
                finding("own"),
                finding("r11", rule="R11", evidence=evidence(("dibao", 4, "", 3))),
            ],
            schema=FINDING_SCHEMA,
        ),
        pl.DataFrame(
            [issue("i1"), issue("i3", file_id=3, sheet="", row_no=40)], schema=ISSUE_SCHEMA
        ),
        files,
    )
    sheets = A.fix_list(frame, WUJING, D, 30)
    by_key = dict(
        zip(sheets[A.FINDING_SHEET]["file"], sheets[A.FINDING_SHEET]["origin"], strict=True)
    )
    assert by_key == {"乌迳镇花名册.xlsx": "本单位报送", "低保名册.xlsx": A.ORIGIN_ZH["dibao"]}
    assert "民政局" in by_key["低保名册.xlsx"] and "市扶贫办" in by_key["低保名册.xlsx"]
    issues = dict(zip(sheets[A.ISSUE_SHEET]["file"], sheets[A.ISSUE_SHEET]["origin"], strict=True))
    assert issues == {
        "乌迳镇花名册.xlsx": "本单位报送",
        "医保参保名册.csv": A.ORIGIN_ZH["insurance"],
    }
    assert A.FINDING_COLUMNS["origin"] == A.ISSUE_COLUMNS["origin"] == "数据来源"
