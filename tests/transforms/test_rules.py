"""Each rule on tiny frames: the case it fires, the hard negatives, the boundaries."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from transforms import rules
from transforms.evidence import EVIDENCE
from transforms.rules import run_rules

from .builders import D, dibao, enrol, inputs, person, pid, settlement


def keys(frame: pl.DataFrame) -> list[str]:
    return sorted(frame["key"].to_list())


def test_clean_person_breaks_no_rule():
    found = run_rules(inputs([person()])).findings
    assert found.is_empty(), found["detail"].to_list()


# ---- R01
def test_r01_fires_for_uninsured_person_and_masks_personal_data():
    x = inputs([person()], enrolments=[])
    found = rules.r01_uninsured(x)
    assert keys(found) == [pid(11)]
    detail = found["detail"][0]
    assert pid(11) not in detail and "李明" not in detail
    assert "440282********" in detail and "李*" in detail
    assert found["evidence"].to_list() == [
        [{"source": "roster", "file_id": 1, "sheet": "花名册", "row_no": 4}]
    ]


def test_r01_ignores_other_years_and_suspended_enrolments():
    x = inputs(
        [person()], enrolments=[enrol(pid(11), year=2017), enrol(pid(11), enrol_status="暂停参保")]
    )
    assert keys(rules.r01_uninsured(x)) == [pid(11)]


def test_r01_not_for_inactive_or_deceased():
    x = inputs([person(person_status="死亡")], enrolments=[])
    assert rules.r01_uninsured(x).is_empty()
    dead = inputs([person()], enrolments=[enrol(pid(11), year=2016, person_status="死亡")])
    assert rules.r01_uninsured(dead).is_empty()
    assert keys(rules.r05_deceased_listed(dead)) == [pid(11)]


def test_r01_correct_15_digit_id_is_insured_under_18_digits():
    eighteen = pid(11, born=date(1967, 4, 1))
    fifteen = eighteen[:6] + eighteen[8:17]
    x = inputs([person(id_raw=fifteen)], enrolments=[enrol(eighteen)])
    assert rules.r01_uninsured(x).is_empty()
    assert rules.r08_invalid_id(x).is_empty()


def test_mistyped_id_insured_under_true_one_gives_r07_not_r01():
    true = pid(11)
    typo = true[:10] + str((int(true[10]) + 1) % 10) + true[11:]  # one substituted digit
    x = inputs([person(id_raw=typo)], enrolments=[enrol(true)])
    found = run_rules(x).findings
    assert sorted(found["rule"].to_list()) == ["R07"]
    r07 = found.row(0, named=True)
    assert r07["suggested_id"] == true and r07["id_as_written"] == typo and r07["person_id"] == true


def test_swapped_neighbours_are_suggested():
    true = pid(11, born=date(1975, 3, 18))
    swapped = true[:7] + true[8] + true[7] + true[9:]
    x = inputs([person(id_raw=swapped)], enrolments=[enrol(true)])
    assert rules.r07_id_suspected_typo(x)["suggested_id"].to_list() == [true]


def test_excel_mangled_id_suggested_from_surviving_prefix_and_name():
    true = pid(123, born=date(1990, 1, 1))
    mangled = true[:15] + "000"
    x = inputs(
        [person(id_raw=format(float(true), ".15g").upper())], enrolments=[enrol(true)]
    )  # as Excel shows it
    found = rules.r07_id_suspected_typo(x)
    assert found["key"].to_list() == [mangled]
    assert found["suggested_id"].to_list() == [true]


def test_typo_with_a_different_name_is_not_suggested():
    true = pid(11)
    typo = true[:10] + str((int(true[10]) + 1) % 10) + true[11:]
    x = inputs([person(id_raw=typo, name="李明")], enrolments=[enrol(true, name="张三")])
    assert rules.r07_id_suspected_typo(x).is_empty()
    assert keys(rules.r08_invalid_id(x)) == [typo]


def test_homophone_name_counts_for_typo_suggestion():
    true = pid(11)
    typo = true[:10] + str((int(true[10]) + 1) % 10) + true[11:]
    x = inputs([person(id_raw=typo, name="李明")], enrolments=[enrol(true, name="李鸣")])
    assert rules.r07_id_suspected_typo(x)["suggested_id"].to_list() == [true]


def test_two_candidates_give_r08_listing_both():
    base = pid(11)
    # a written ID one edit away from two valid IDs held by same-name people
    cands = []
    for pos in range(14, 17):
        for d in "0123456789":
            body = base[:pos] + d + base[pos + 1 : 17]
            from transforms.ids import check_char

            cands.append(body + check_char(body))
    written = base[:16] + "9" + "0"  # check char deliberately wrong
    from transforms.identity import one_edit_variants

    near = [c for c in set(one_edit_variants(written)) if c in set(cands)]
    assert len(near) >= 2
    x = inputs([person(id_raw=written)], enrolments=[enrol(c) for c in near[:2]])
    r08 = rules.r08_invalid_id(x)
    assert r08["key"].to_list() == [written]
    assert "候选号码2个" in r08["detail"][0]
    assert rules.r07_id_suspected_typo(x).is_empty()


# ---- R02
def test_r02_unsubsidized_enrolment():
    x = inputs([person()], enrolments=[enrol(pid(11), subsidy="无")])
    assert keys(rules.r02_insurance_unsubsidized(x)) == [pid(11)]
    assert rules.r01_uninsured(x).is_empty()


# ---- R03 / R04
def test_r03_dibao_household_without_coverage():
    x = inputs([person(attribute="低保贫困户")])
    assert keys(rules.r03_dibao_missing(x)) == ["H001"]


def test_r03_non_labour_capable_household_needs_coverage():
    x = inputs([person(labour="丧失劳动力")])
    assert keys(rules.r03_dibao_missing(x)) == ["H001"]
    covered = inputs([person(labour="丧失劳动力", attribute="低保贫困户")], dibaos=[dibao(pid(11))])
    assert rules.r03_dibao_missing(covered).is_empty()
    assert rules.r04_attribute_mismatch(covered).is_empty()


@pytest.mark.parametrize(
    ("stop", "fires"),
    [(D, True), (date(2018, 7, 1), False)],
    ids=["stopped-on-D", "stops-after-D"],
)
def test_r03_coverage_boundary_on_stop_date(stop, fires):
    x = inputs(
        [person(attribute="低保贫困户")], dibaos=[dibao(pid(11), status="在保", stop_date=stop)]
    )
    assert (not rules.r03_dibao_missing(x).is_empty()) is fires


def test_stopped_for_income_before_d_is_not_coverage_and_not_death():
    x = inputs(
        [person(attribute="一般贫困户")],
        dibaos=[dibao(pid(11), status="停保", stop_date=date(2017, 5, 1), stop_reason="收入超标")],
    )
    assert run_rules(x).findings.is_empty()


def test_r04_general_household_covered_by_tekun():
    x = inputs([person(attribute="一般贫困户")], dibaos=[dibao(pid(11), category="特困供养")])
    found = rules.r04_attribute_mismatch(x)
    assert keys(found) == ["H001"]
    assert "特困供养贫困户" in found["detail"][0]


# ---- R05
def test_r05_dibao_stopped_for_death_on_or_before_d():
    on_d = inputs(
        [person()], dibaos=[dibao(pid(11), status="停保", stop_date=D, stop_reason="死亡")]
    )
    assert keys(rules.r05_deceased_listed(on_d)) == [pid(11)]
    later = inputs(
        [person()],
        dibaos=[dibao(pid(11), status="停保", stop_date=date(2018, 7, 1), stop_reason="死亡")],
    )
    assert rules.r05_deceased_listed(later).is_empty()


# ---- R06
def test_r06_same_identity_in_two_households_one_finding():
    x = inputs([person(), person(household_id="H002", row_no=9, relation="户主")])
    found = rules.r06_duplicate_person(x)
    assert keys(found) == [pid(11)]
    assert [(e["source"], e["row_no"]) for e in found["evidence"][0]] == [
        ("roster", 4),
        ("roster", 9),
    ]


def test_two_people_with_same_name_are_not_duplicates():
    x = inputs([person(), person(household_id="H002", id_raw=pid(13), row_no=9)])
    assert rules.r06_duplicate_person(x).is_empty()


# ---- R09
def test_r09_says_whether_pinyin_agrees():
    homophone = inputs([person(name="李明")], enrolments=[enrol(pid(11), name="李鸣")])
    found = rules.r09_name_mismatch(homophone)
    assert keys(found) == [pid(11)] and "拼音相同" in found["detail"][0]
    other = inputs([person(name="李明")], enrolments=[enrol(pid(11), name="张大山")])
    assert "拼音不同" in rules.r09_name_mismatch(other)["detail"][0]


def test_r09_ignores_width_and_spaces_already_normalised():
    x = inputs([person(name="李明")], enrolments=[enrol(pid(11), name="李明")])
    assert rules.r09_name_mismatch(x).is_empty()


# ---- R10
def test_r10_exit_exactly_at_line_is_fine_below_is_not():
    at = inputs([person(exit_status="已脱贫", exit_year=2017, income=7365.0)])
    assert rules.r10_exit_below_line(at).is_empty()
    below = inputs([person(exit_status="已脱贫", exit_year=2017, income=7364.0)])
    assert keys(rules.r10_exit_below_line(below)) == ["H001"]


def test_r10_lists_every_reason():
    x = inputs(
        [
            person(exit_status="已脱贫", exit_year=2017, income=5000.0, housing="D级危房"),
            person(
                relation="之子",
                id_raw=pid(13, born=date(2008, 1, 1)),
                school="义务教育阶段辍学",
                row_no=5,
                exit_status="已脱贫",
                exit_year=2017,
                income=5000.0,
                housing="D级危房",
            ),
        ]
    )
    detail = rules.r10_exit_below_line(x)["detail"][0]
    assert "低于2017年脱贫标准7365元" in detail and "D级危房" in detail and "辍学" in detail


def test_r10_exit_in_a_later_year_is_not_judged_yet():
    x = inputs([person(exit_status="已脱贫", exit_year=2019, income=100.0)])
    assert rules.r10_exit_below_line(x).is_empty()


# ---- R11
def test_r11_rural_dibao_family_not_on_roster():
    outsider = pid(77)
    x = inputs([person()], dibaos=[dibao(outsider, family_id="DB9", name="赵四")])
    assert keys(rules.r11_dibao_not_registered(x)) == ["DB9"]
    urban = inputs([person()], dibaos=[dibao(outsider, family_id="DB9", category="城市低保")])
    assert rules.r11_dibao_not_registered(urban).is_empty()


def test_r11_family_with_one_roster_member_even_inactive_is_registered():
    x = inputs(
        [person(person_status="迁出")],
        dibaos=[
            dibao(pid(11), family_id="DB9"),
            dibao(pid(77), family_id="DB9", name="赵四", row_no=3),
        ],
    )
    assert rules.r11_dibao_not_registered(x).is_empty()


# ---- R12
def test_r12_labour_capable_without_cadre_but_not_after_exit():
    x = inputs([person(support_cadre="　")])
    assert keys(rules.r12_no_support_cadre(x)) == ["H001"]
    exited = inputs([person(support_cadre=None, exit_status="已脱贫", exit_year=2017)])
    assert rules.r12_no_support_cadre(exited).is_empty()


# ---- R13
@pytest.mark.parametrize(
    ("paid", "fires"),
    [(280.0, False), (279.5, False), (279.49, True), (0.0, True)],
    ids=["exactly-70", "within-half-yuan", "just-below", "nothing"],
)
def test_r13_seventy_percent_boundary(paid, fires):
    x = inputs([person()], settlements=[settlement(pid(11), assistance_paid=paid)])
    assert (keys(rules.r13_medical_subsidy_short(x)) == ["S001"]) is fires


def test_r13_nothing_left_after_insurance():
    x = inputs(
        [person()], settlements=[settlement(pid(11), basic_paid=1000.0, assistance_paid=0.0)]
    )
    assert rules.r13_medical_subsidy_short(x).is_empty()


# ---- R14 / R15
def test_r14_only_after_housing_deadline():
    before = inputs([person(housing="C级危房")], as_of=date(2017, 12, 31))
    assert rules.r14_unsafe_housing(before).is_empty()
    after = inputs([person(housing="C级危房")], as_of=date(2018, 1, 1))
    assert keys(rules.r14_unsafe_housing(after)) == ["H001"]


def test_r15_dropout():
    x = inputs([person(school="义务教育阶段辍学")])
    assert keys(rules.r15_dropout(x)) == [pid(11)]


def test_run_rules_prefixes_keys_and_is_unique():
    x = inputs([person(school="义务教育阶段辍学")], enrolments=[])
    found = run_rules(x).findings
    assert sorted(found["key"].to_list()) == sorted([f"R01:{pid(11)}", f"R15:{pid(11)}"])


def test_rows_without_household_id_make_no_household_finding_and_no_keyless_one():
    """A member left without 户编号 (its data-quality issue says so) is still a person: person
    rules judge it, household rules cannot, and nothing comes out without a key."""
    x = inputs([person(household_id=None, support_cadre=None, labour="普通劳动力")], enrolments=[])
    run = run_rules(x)
    assert run.keyless == {} and run.failed == {}
    assert run.findings["key"].null_count() == 0
    assert sorted(run.findings["rule"].unique()) == ["R01"]


def test_a_rule_that_raises_is_reported_and_the_others_stand(monkeypatch):
    def broken(x):
        raise ZeroDivisionError("李明 440282197001010011")  # a message may carry data

    monkeypatch.setitem(rules.RULE_FUNCTIONS, "R12", broken)
    x = inputs([person(support_cadre=None)], enrolments=[])
    run = run_rules(x)
    assert list(run.failed) == ["R12"] and "R12" not in run.ran
    assert run.failed["R12"].startswith("ZeroDivisionError at test_rules.py:")
    assert "李明" not in run.failed["R12"] and "4402" not in run.failed["R12"]
    assert "R01" in set(run.findings["rule"])


def test_findings_without_a_key_are_left_out_and_counted(monkeypatch):
    def sloppy(x):
        return rules.r01_uninsured(x).with_columns(key=pl.lit(None, pl.Utf8))

    monkeypatch.setitem(rules.RULE_FUNCTIONS, "R01", sloppy)
    run = run_rules(inputs([person()], enrolments=[]))
    assert run.keyless == {"R01": 1} and "R01" in run.ran
    assert run.findings["key"].null_count() == 0


# ---- evidence: the source rows a finding names, in order
def test_evidence_names_the_roster_row_then_the_other_source_row():
    roster = {"source": "roster", "file_id": 1, "sheet": "花名册", "row_no": 4}
    cases = {
        "R02": (
            inputs([person()], enrolments=[enrol(pid(11), subsidy="无", sheet="参保")]),
            {"source": "enrolment", "file_id": 9, "sheet": "参保", "row_no": 2},
        ),
        "R05": (  # the 低保 row's sheet is not carried along: ''
            inputs(
                [person()],
                dibaos=[
                    dibao(pid(11), status="停保", stop_date=D, stop_reason="死亡", sheet="低保")
                ],
            ),
            {"source": "dibao", "file_id": 8, "sheet": "", "row_no": 2},
        ),
        "R09": (
            inputs([person(name="李明")], enrolments=[enrol(pid(11), name="张大山")]),
            {"source": "enrolment", "file_id": 9, "sheet": "", "row_no": 2},
        ),
        "R13": (
            inputs([person()], settlements=[settlement(pid(11), assistance_paid=0.0)]),
            {"source": "settlement", "file_id": 7, "sheet": "", "row_no": 2},
        ),
    }
    for rule, (x, other) in cases.items():
        found = run_rules(x, [rule]).findings
        assert found.schema["evidence"] == EVIDENCE, rule
        assert found["evidence"].to_list() == [[roster, other]], rule


def test_r11_evidence_is_every_row_of_the_family():
    x = inputs(
        [person()],
        dibaos=[
            dibao(pid(77), family_id="DB9", name="赵四"),
            dibao(pid(78), family_id="DB9", name="赵五", row_no=3),
        ],
    )
    found = rules.r11_dibao_not_registered(x)
    assert found["evidence"].to_list() == [
        [
            {"source": "dibao", "file_id": 8, "sheet": "", "row_no": 2},
            {"source": "dibao", "file_id": 8, "sheet": "", "row_no": 3},
        ]
    ]
