"""What a township clerk does to the roster between two submissions.

A new submission starts from a copy of the roster in force (`copy_records`: the households
and rows are copied, the people they describe are shared and never changed).  The clerk then
fixes some of the problems the township was told about (a mistyped ID corrected, a missing
帮扶责任人 filled, a dropout back in school, a dead person marked 死亡, a bad cell corrected),
makes a few new ones, records the households that exited poverty this month, and sometimes
brings a fixed problem back (a row pasted from an old file).  Every edit either leaves clean
data or carries its data-quality issue on the row (`RosterRow.issues`), so that the truth can
be derived from the data alone.

`shares` measures a roster the way the pipeline decides whether to hold it: the share of the
persons in force that would disappear, of rows without a usable ID, of rows naming another
township.  Normal submissions stay far below the limits (at most 10% each, by construction);
`gut_*` build the submissions that would gut the register (at least 60% on one criterion).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date

import numpy as np
import polars as pl

from config.schema import COMPULSORY_GRADES, LABOUR_CAPABLE
from config.settings import village_short
from transforms.ids import BAD_FORMAT, BLANK

from .inject.base import _mistype
from .roster import HouseholdRecord, RosterRow, foreign_copy
from .truth import DANGEROUS, DROPOUT, norm_name, written_key

NORMAL_LIMIT = 0.10  # a normal resubmission stays at or below this on every criterion
GUT_SHARE = 0.70  # a gutting submission aims at this share on its one criterion
GUT_MINIMUM = 0.60  # and never gets less
FIX_PROBABILITY = 0.35
CHILDREN = {"之子": "儿子", "之女": "女儿", "之孙子": "孙子", "之孙女": "孙女"}
# (kind, column) of a row's issue -> the RosterRow attribute the clerk corrects
ROW_FIELDS = {
    ("invalid_id", "证件号码"): "id_raw",
    ("excel_mangled_id", "证件号码"): "id_raw",
    ("required_missing", "与户主关系"): "relation",
    ("invalid_value", "与户主关系"): "relation",
    ("required_missing", "劳动技能"): "labour",
    ("required_missing", "行政村"): "village",
    ("village_not_in_township", "行政村"): "village",
    ("invalid_value", "健康状况"): "health",
    ("invalid_value", "在校生状况"): "school",
    ("sex_mismatch", "性别"): "sex",
}
# (kind, column) of a household's issue -> the HouseholdRecord attribute
RECORD_FIELDS = {
    ("required_missing", "贫困户属性"): "attribute",
    ("required_missing", "年人均可支配收入"): "income",
    ("implausible_income", "年人均可支配收入"): "income",
    ("invalid_value", "住房安全"): "housing",
    ("exit_year_missing", "脱贫年度"): "exit_year",
    ("bad_number", "家庭人口"): "family_size",
    ("family_size_mismatch", ""): "family_size",
}
SIZE_KINDS = {("bad_number", "家庭人口"), ("family_size_mismatch", "")}


# ---------------------------------------------------------------- copies and measures


def copy_records(records: list[HouseholdRecord]) -> list[HouseholdRecord]:
    """A copy to edit: households and rows are new objects; persons and households shared."""
    out = []
    for rec in records:
        clone = copy.copy(rec)
        clone.issues = list(rec.issues)
        clone.rows = []
        for r in rec.rows:
            row = copy.copy(r)
            row.cell_overrides = dict(r.cell_overrides)
            row.issues = list(r.issues)
            clone.rows.append(row)
        out.append(clone)
    return out


def person_key(rec: HouseholdRecord, row: RosterRow) -> str:
    """How the pipeline matches a person across submissions: the normalised written ID,
    else 户编号 + name."""
    written = written_key(row.id_raw)[0]
    return written or f"{rec.hh_id}/{norm_name(row.name)}"


def person_keys(records: list[HouseholdRecord]) -> set[str]:
    return {person_key(h, r) for h in records if not h.foreign_copy for r in h.rows if r.loaded}


@dataclass(frozen=True)
class Shares:
    rows: int  # rows of the roster, pasted rows of other townships included
    removed: float  # of the persons in force, missing from this roster
    unusable_ids: float  # of the loaded rows, with a blank ID or no ID-like text at all
    foreign: float  # of all rows, naming another township

    def gutting(self, removed: float, unusable: float, foreign: float) -> bool:
        """Over any of the pipeline's hold thresholds (policy.toml [submissions])."""
        return self.removed > removed or self.unusable_ids > unusable or self.foreign > foreign

    def normal(self) -> bool:
        return max(self.removed, self.unusable_ids, self.foreign) <= NORMAL_LIMIT

    def as_dict(self) -> dict[str, float]:
        return {
            "removed": round(self.removed, 4),
            "unusable_ids": round(self.unusable_ids, 4),
            "foreign": round(self.foreign, 4),
        }


def shares(records: list[HouseholdRecord], in_force: list[HouseholdRecord] | None) -> Shares:
    loaded = [r for h in records if not h.foreign_copy for r in h.rows if r.loaded]
    pasted = sum(len(h.rows) for h in records if h.foreign_copy)
    total = len(loaded) + pasted
    unusable = sum(written_key(r.id_raw)[1] in (BLANK, BAD_FORMAT) for r in loaded)
    removed = 0.0
    if in_force is not None:
        before = person_keys(in_force)
        if before:
            removed = len(before - person_keys(records)) / len(before)
    return Shares(
        total,
        removed,
        unusable / len(loaded) if loaded else 0.0,
        pasted / total if total else 0.0,
    )


def family_size_of(rec: HouseholdRecord) -> int | None:
    """家庭人口 as the clerk writes it: the active members listed, blank when one is not."""
    rows = rec.loaded_rows
    return sum(1 for r in rows if r.active) if all(r.active for r in rows) else None


# ---------------------------------------------------------------- edits


@dataclass
class Change:
    """One cell the clerk changed (a fix, a new problem, a regression), replayable on a
    later copy of the roster."""

    what: str  # fix | new | regress | progress
    label: str  # what it is about, e.g. invalid_id / R12 / exit
    hh_id: str
    pid: int | None  # the row's person; None for a household cell
    attr: str
    before: object
    after: object
    tag: tuple[str, str] | None = None  # the issue removed (fix) or added (new, regress)
    key_change: bool = False  # changes how the pipeline matches the person (the written ID)
    revertible: bool = True

    def reverted(self) -> Change:
        return Change(
            "regress",
            self.label,
            self.hh_id,
            self.pid,
            self.attr,
            self.after,
            self.before,
            self.tag,
            self.key_change,
            False,
        )

    @property
    def adds_tag(self) -> bool:
        return self.what in ("new", "regress")


def locate(records: list[HouseholdRecord], change: Change) -> HouseholdRecord | RosterRow | None:
    rec = next((h for h in records if h.hh_id == change.hh_id and not h.foreign_copy), None)
    if rec is None or change.pid is None:
        return rec
    return next((r for r in rec.rows if r.person.pid == change.pid and not r.duplicate), None)


def apply(records: list[HouseholdRecord], change: Change) -> bool:
    """Make the change; False (and nothing changed) when its cell no longer holds `before`."""
    target = locate(records, change)
    if target is None or getattr(target, change.attr) != change.before:
        return False
    if change.tag is not None and not change.adds_tag and change.tag not in target.issues:
        return False
    setattr(target, change.attr, change.after)
    if change.tag is not None:
        if change.adds_tag:
            target.issues.append(change.tag)
        else:
            target.issues.remove(change.tag)
    if change.attr == "id_raw" and isinstance(target, RosterRow):
        target.cell_overrides.pop("id_number", None)
    return True


@dataclass
class Context:
    """What the clerk knows when preparing a submission."""

    code: str
    as_of: date
    exit_line: float
    rng: np.random.Generator
    findings: pl.DataFrame  # the township's findings in force (rule, key, household_id)
    covered: dict[str, set[str]]  # identity -> 低保 categories covering it at as_of
    protected: set[str]  # households a night-1 injection relies on (no new problems there)
    has_sex_column: bool
    regression: Change | None = None  # a fix made earlier, to bring back
    keep_revertible: bool = False  # fix at least one problem that can be brought back later

    def keys(self, rule: str) -> set[str]:
        return set(self.findings.filter(pl.col("rule") == rule)["key"].to_list())


@dataclass
class Revision:
    """The edits of one submission, in the order made."""

    changes: list[Change] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key_changes: int = 0


def revise(records: list[HouseholdRecord], ctx: Context) -> Revision:
    """Edit `records` (a copy of the roster in force) into the township's next submission."""
    rev = Revision()
    budget = int(NORMAL_LIMIT * len(person_keys(records)))

    if ctx.regression is not None:
        back = ctx.regression.reverted()
        if (back.key_change <= budget) and apply(records, back):
            rev.changes.append(back)
            rev.key_changes += back.key_change

    back_at = {(c.hh_id, c.pid, c.attr) for c in rev.changes}  # what came back stays back
    fixes = [
        f
        for f in _fixes(records, ctx)
        if not isinstance(f, Change) or (f.hh_id, f.pid, f.attr) not in back_at
    ]
    order = [fixes[int(i)] for i in ctx.rng.permutation(len(fixes))]
    chosen = [f for f in order if ctx.rng.random() < FIX_PROBABILITY]
    if not chosen and order:
        chosen = [order[0]]
    for fix in chosen:
        if isinstance(fix, Change):
            if rev.key_changes + fix.key_change > budget:
                continue
            if apply(records, fix):
                rev.changes.append(fix)
                rev.key_changes += fix.key_change
        else:
            label, act = fix
            if act(records):
                rev.notes.append(f"fix:{label}")

    flagged = set(ctx.findings["household_id"].to_list())
    clean = [h for h in records if _clean(h, ctx, flagged)]
    rows = sum(len(h.rows) for h in records if not h.foreign_copy)
    for _ in range(int(ctx.rng.poisson(0.4 + 0.6 * rows / 300))):
        change = _new_problem(clean, ctx, budget - rev.key_changes)
        if change is not None and apply(records, change):
            rev.changes.append(change)
            rev.key_changes += change.key_change
            clean = [h for h in clean if h.hh_id != change.hh_id]

    for rec in records:
        exit_change = _exit(rec, ctx)
        if exit_change:
            rev.changes.extend(exit_change)

    if ctx.keep_revertible and not any(
        c.what == "fix" and c.revertible and not c.key_change for c in rev.changes
    ):
        touched = {(c.hh_id, c.pid, c.attr) for c in rev.changes}
        for fix in _fixes(records, ctx):
            if (
                isinstance(fix, Change)
                and fix.revertible
                and not fix.key_change
                and (fix.hh_id, fix.pid, fix.attr) not in touched
                and apply(records, fix)
            ):
                rev.changes.append(fix)
                break

    if not rev.changes and not rev.notes:
        bump = _income_bump(clean or [h for h in records if not h.foreign_copy], ctx)
        if bump is not None and apply(records, bump):
            rev.changes.append(bump)

    if shares(records, None).foreign > NORMAL_LIMIT and _remove_pasted(records):
        rev.notes.append("fix:foreign_township")
    return rev


Special = tuple[str, Callable[[list[HouseholdRecord]], bool]]


def _fixes(records: list[HouseholdRecord], ctx: Context) -> list[Change | Special]:
    """Everything the clerk could fix in this roster."""
    out: list[Change | Special] = []
    own = [h for h in records if not h.foreign_copy]
    for rec in own:
        hh = rec.household
        for kind, col in rec.issues:
            if (kind, col) == ("household_head", ""):
                out.append(("household_head", _restore_heads(rec.hh_id)))
                continue
            attr = RECORD_FIELDS.get((kind, col))
            if attr is None:
                continue
            good: object = {
                "attribute": hh.attribute,
                "income": hh.income,
                "housing": hh.housing,
                "exit_year": hh.exit_year,
                "family_size": family_size_of(rec),
            }[attr]
            out.append(
                Change("fix", kind, rec.hh_id, None, attr, getattr(rec, attr), good, (kind, col))
            )
        for row in rec.rows:
            if row.duplicate or not row.loaded:
                continue
            p = row.person
            for kind, col in row.issues:
                attr = ROW_FIELDS.get((kind, col))
                if attr is None:
                    continue
                good = {
                    "id_raw": p.identity,
                    "relation": p.relation,
                    "labour": p.labour,
                    "village": village_short(hh.village.name),
                    "health": p.health,
                    "school": p.school,
                    "sex": p.sex,
                }[attr]
                out.append(
                    Change(
                        "fix",
                        kind,
                        rec.hh_id,
                        p.pid,
                        attr,
                        getattr(row, attr),
                        good,
                        (kind, col),
                        key_change=attr == "id_raw",
                    )
                )
    if any(h.foreign_copy for h in records):
        out.append(("foreign_township", _remove_pasted))
    out.extend(_finding_fixes(own, ctx))
    return out


def _finding_fixes(own: list[HouseholdRecord], ctx: Context) -> list[Change | Special]:
    out: list[Change | Special] = []
    by_hh = {h.hh_id: h for h in own}
    written: dict[str, list[tuple[HouseholdRecord, RosterRow]]] = {}
    for h in own:
        for r in h.loaded_rows:
            written.setdefault(written_key(r.id_raw)[0], []).append((h, r))

    for hh_id in sorted(ctx.keys("R12") & set(by_hh)):
        rec = by_hh[hh_id]
        cadre = rec.household.cadre or _cadre_of(rec)
        out.append(Change("fix", "R12", hh_id, None, "cadre", rec.cadre, cadre))
    for hh_id in sorted(ctx.keys("R14") & set(by_hh)):
        rec = by_hh[hh_id]
        out.append(Change("fix", "R14", hh_id, None, "housing", rec.housing, "已改造"))
    for hh_id in sorted(ctx.keys("R10") & set(by_hh)):
        rec = by_hh[hh_id]
        out.extend(_r10_fixes(rec, ctx))
    for hh_id in sorted(ctx.keys("R04") & set(by_hh)):
        rec = by_hh[hh_id]
        categories: set[str] = set()
        for r in rec.loaded_rows:
            if r.active:
                categories |= ctx.covered.get(written_key(r.id_raw)[0], set())
        if categories:
            implied = "特困供养贫困户" if "特困供养" in categories else "低保贫困户"
            out.append(Change("fix", "R04", hh_id, None, "attribute", rec.attribute, implied))
    for key in sorted(ctx.keys("R15")):
        for rec, row in written.get(key, []):
            if row.school == DROPOUT and row.person.school != DROPOUT and not row.duplicate:
                out.append(
                    Change(
                        "fix",
                        "R15",
                        rec.hh_id,
                        row.person.pid,
                        "school",
                        DROPOUT,
                        row.person.school,
                    )
                )
    for key in sorted(ctx.keys("R09")):
        for rec, row in written.get(key, []):
            p = row.person
            if row.duplicate:
                continue
            if row.id_raw == p.identity and row.name != p.name:
                out.append(Change("fix", "R09", rec.hh_id, p.pid, "name", row.name, p.name))
            elif row.id_raw != p.identity and written_key(row.id_raw)[1] == "valid":
                out.append(
                    Change(
                        "fix",
                        "R09",
                        rec.hh_id,
                        p.pid,
                        "id_raw",
                        row.id_raw,
                        p.identity,
                        key_change=True,
                    )
                )
    for key in sorted(ctx.keys("R05")):
        for rec, row in written.get(key, []):
            if may_die(rec, row):
                out.append(("R05", _mark_dead(rec.hh_id, row.person.pid)))
    for key in sorted(ctx.keys("R06")):
        for rec, row in written.get(key, []):
            if row.duplicate and any(
                r.person.pid == row.person.pid and not r.duplicate for r in rec.rows
            ):
                out.append(("R06", _remove_duplicate(rec.hh_id, row.person.pid)))
    return out


def _r10_fixes(rec: HouseholdRecord, ctx: Context) -> list[Change | Special]:
    out: list[Change | Special] = []
    if rec.housing in DANGEROUS:
        out.append(Change("fix", "R10", rec.hh_id, None, "housing", rec.housing, "已改造"))
    for row in rec.loaded_rows:
        if row.active and row.school == DROPOUT and row.person.school != DROPOUT:
            out.append(
                Change(
                    "fix", "R10", rec.hh_id, row.person.pid, "school", DROPOUT, row.person.school
                )
            )
    capable = any(r.active and r.labour in LABOUR_CAPABLE for r in rec.loaded_rows)
    income = rec.income
    if capable and isinstance(income, float) and income < ctx.exit_line:
        good = rec.household.income
        if good < ctx.exit_line:
            good = float(round(ctx.exit_line + 200 + int(ctx.rng.integers(0, 2500)), -1))
        out.append(Change("fix", "R10", rec.hh_id, None, "income", income, good))
    return out


def _cadre_of(rec: HouseholdRecord) -> str:
    cadres = rec.household.village.cadres
    return cadres[int(rec.hh_id[-3:]) % len(cadres)] if cadres else "帮扶干部"


def may_die(rec: HouseholdRecord, row: RosterRow) -> bool:
    """A member the clerk can mark 死亡 without touching the household's other checks."""
    sized = any(t in SIZE_KINDS for t in rec.issues)
    active = [r for r in rec.loaded_rows if r.active]
    return (
        row.active
        and not row.duplicate
        and row.relation != "户主"
        and len(active) >= 2
        and not sized
        and not any(k == "household_head" for k, _ in rec.issues)
    )


def _mark_dead(hh_id: str, pid: int) -> Callable[[list[HouseholdRecord]], bool]:
    def act(records: list[HouseholdRecord]) -> bool:
        rec = next((h for h in records if h.hh_id == hh_id and not h.foreign_copy), None)
        if rec is None:
            return False
        row = next((r for r in rec.rows if r.person.pid == pid and not r.duplicate), None)
        if row is None or not may_die(rec, row):
            return False
        row.status = "死亡"
        rec.family_size = family_size_of(rec)
        return True

    return act


def _remove_duplicate(hh_id: str, pid: int) -> Callable[[list[HouseholdRecord]], bool]:
    def act(records: list[HouseholdRecord]) -> bool:
        rec = next((h for h in records if h.hh_id == hh_id and not h.foreign_copy), None)
        if rec is None:
            return False
        dup = next((r for r in rec.rows if r.person.pid == pid and r.duplicate), None)
        if dup is None or dup.issues:
            return False
        rec.rows.remove(dup)
        if not any(t in SIZE_KINDS for t in rec.issues) and isinstance(rec.family_size, int):
            rec.family_size = family_size_of(rec)
        return True

    return act


def _restore_heads(hh_id: str) -> Callable[[list[HouseholdRecord]], bool]:
    def act(records: list[HouseholdRecord]) -> bool:
        rec = next((h for h in records if h.hh_id == hh_id and not h.foreign_copy), None)
        if rec is None or ("household_head", "") not in rec.issues:
            return False
        for r in rec.rows:
            if not r.duplicate and not any(c == "与户主关系" for _, c in r.issues):
                r.relation = r.person.relation
        rec.issues.remove(("household_head", ""))
        return True

    return act


def _remove_pasted(records: list[HouseholdRecord]) -> bool:
    pasted = [h for h in records if h.foreign_copy]
    for h in pasted:
        records.remove(h)
    return bool(pasted)


def _plain(row: RosterRow) -> bool:
    return (
        row.loaded
        and not row.duplicate
        and not row.issues
        and not row.cell_overrides
        and row.id_raw == row.person.identity
        and row.name == row.person.name
    )


def _clean(rec: HouseholdRecord, ctx: Context, flagged: set[str]) -> bool:
    """A household no injection, finding or issue is about: safe for a new problem."""
    return (
        not rec.foreign_copy
        and rec.hh_id not in ctx.protected
        and rec.hh_id not in flagged
        and not rec.issues
        and all(_plain(r) for r in rec.rows)
    )


def _new_problem(clean: list[HouseholdRecord], ctx: Context, key_budget: int) -> Change | None:
    """One new mistake in a clean household: a mistyped ID, a blank 帮扶责任人, a dropout,
    a 性别 that contradicts the ID, a child written 儿子, a blank 劳动技能."""
    if not clean:
        return None
    kinds = ["cadre", "dropout", "relation", "labour"] + (["sex"] if ctx.has_sex_column else [])
    if key_budget > 0:
        kinds += ["typo", "typo"]
    kind = kinds[int(ctx.rng.integers(len(kinds)))]
    for i in ctx.rng.permutation(len(clean)):
        rec = clean[int(i)]
        active = [r for r in rec.rows if r.active]
        capable = any(r.labour in LABOUR_CAPABLE for r in active)
        if kind == "cadre":
            if capable and rec.exit_status != "已脱贫" and active and norm_name(rec.cadre):
                return Change("new", "R12", rec.hh_id, None, "cadre", rec.cadre, "")
            continue
        for row in active:
            p = row.person
            if kind == "typo" and len(p.identity) == 18:
                pick = int(ctx.rng.integers(0, 1000))
                typo = _mistype(p.identity, pick, swap=bool(pick % 2))
                if written_key(typo)[1] in ("valid", "legacy15"):
                    continue
                return Change(
                    "new",
                    "invalid_id",
                    rec.hh_id,
                    p.pid,
                    "id_raw",
                    row.id_raw,
                    typo,
                    ("invalid_id", "证件号码"),
                    key_change=True,
                )
            if (
                kind == "dropout"
                and row.school in COMPULSORY_GRADES
                and rec.exit_status != "已脱贫"
            ):
                return Change("new", "R15", rec.hh_id, p.pid, "school", row.school, DROPOUT)
            if kind == "sex" and written_key(row.id_raw)[1] == "valid":
                other = "女" if row.sex == "男" else "男"
                return Change(
                    "new",
                    "sex_mismatch",
                    rec.hh_id,
                    p.pid,
                    "sex",
                    row.sex,
                    other,
                    ("sex_mismatch", "性别"),
                )
            if kind == "relation" and row.relation in CHILDREN:
                return Change(
                    "new",
                    "invalid_value",
                    rec.hh_id,
                    p.pid,
                    "relation",
                    row.relation,
                    CHILDREN[row.relation],
                    ("invalid_value", "与户主关系"),
                )
            if (
                kind == "labour"
                and row.relation != "户主"
                and row.labour
                and row.labour not in LABOUR_CAPABLE
            ):
                return Change(
                    "new",
                    "required_missing",
                    rec.hh_id,
                    p.pid,
                    "labour",
                    row.labour,
                    "",
                    ("required_missing", "劳动技能"),
                )
    return None


def _exit(rec: HouseholdRecord, ctx: Context) -> list[Change]:
    """A household whose exit date has come is recorded 已脱贫 (with its 脱贫年度, and for a
    labour-capable one an income at least at the line)."""
    hh = rec.household
    if (
        rec.foreign_copy
        or rec.issues
        or rec.exit_status != "未脱贫"
        or hh.exit_date is None
        or hh.exit_date > ctx.as_of
        or not any(r.active for r in rec.loaded_rows)
    ):
        return []
    out = [
        Change("progress", "exit", rec.hh_id, None, "exit_status", "未脱贫", "已脱贫"),
        Change("progress", "exit", rec.hh_id, None, "exit_year", rec.exit_year, hh.exit_date.year),
    ]
    rec.exit_status, rec.exit_year = "已脱贫", hh.exit_date.year
    capable = any(r.active and r.labour in LABOUR_CAPABLE for r in rec.loaded_rows)
    if capable and isinstance(rec.income, float) and rec.income < ctx.exit_line:
        income = float(round(ctx.exit_line + 200 + int(ctx.rng.integers(0, 3000)), -1))
        out.append(Change("progress", "exit", rec.hh_id, None, "income", rec.income, income))
        rec.income = income
    return out


def _income_bump(candidates: list[HouseholdRecord], ctx: Context) -> Change | None:
    """This month's income update of one household (so that the submission says something new)."""
    for i in ctx.rng.permutation(len(candidates)):
        rec = candidates[int(i)]
        if isinstance(rec.income, float) and rec.income > 0:
            if any(k == "implausible_income" for k, _ in rec.issues):
                continue
            return Change(
                "progress", "income", rec.hh_id, None, "income", rec.income, rec.income + 120.0
            )
    return None


# ---------------------------------------------------------------- gutting submissions


def gut_blank_ids(
    records: list[HouseholdRecord], rng: np.random.Generator
) -> list[HouseholdRecord]:
    """Most ID cells left blank (an export that lost the column's text)."""
    out = copy_records([h for h in records if not h.foreign_copy])
    rows = [r for h in out for r in h.rows if r.loaded]
    n = max(int(np.ceil(GUT_SHARE * len(rows))), 1)
    for i in sorted(int(k) for k in rng.permutation(len(rows))[:n]):
        rows[i].id_raw = ""
        rows[i].cell_overrides.pop("id_number", None)
    return out


def gut_foreign_rows(
    records: list[HouseholdRecord], others: list[HouseholdRecord], rng: np.random.Generator
) -> list[HouseholdRecord]:
    """Other townships' households pasted in, twice as many rows as the township's own."""
    out = copy_records([h for h in records if not h.foreign_copy])
    own_rows = sum(len(h.rows) for h in out)
    target = int(np.ceil(own_rows * GUT_SHARE / (1 - GUT_SHARE)))
    by_town: dict[str, list[HouseholdRecord]] = {}
    for h in others:
        if not h.foreign_copy:
            by_town.setdefault(h.township_code, []).append(h)
    queues = {
        c: [hs[int(i)] for i in rng.permutation(len(hs))] for c, hs in sorted(by_town.items())
    }
    pasted = 0
    while pasted < target and any(queues.values()):
        for code in sorted(queues):
            if queues[code] and pasted < target:
                clone = foreign_copy(queues[code].pop(0))
                clone.issues = []
                for r in clone.rows:
                    r.issues = []
                out.append(clone)
                pasted += len(clone.rows)
    return out


def gut_removed(records: list[HouseholdRecord], rng: np.random.Generator) -> list[HouseholdRecord]:
    """Only a few households sent (one village's sheet, a filtered view): the biggest ones
    go first, until at least 70% of the persons in force are missing; one is always left."""
    own = copy_records([h for h in records if not h.foreign_copy])
    before = person_keys(own)
    order = sorted(range(len(own)), key=lambda i: (-len(own[i].rows), float(rng.random())))
    keep = list(own)
    for i in order:
        if len(keep) == 1 or len(before - person_keys(keep)) >= GUT_SHARE * len(before):
            break
        keep = [h for h in keep if h is not own[i]]
    return keep
