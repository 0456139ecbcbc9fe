"""A timeline: the inbox night after night, and the truth in force each night.

```python
from generator.timeline import generate_timeline, deliver

summary = generate_timeline(out_dir, scale=1.0, seed=20161010, start=date(2018, 1, 31), months=12)
deliver(out_dir, night=3, inbox=live_inbox)   # copies night 3's arrivals into a live inbox
```
or `python -m generator --out DIR --months 12 [--as-of START]`.

Layout (a contract: the pipeline's benchmark and tests read exactly this)::

    DIR/timeline.json                  nights and what arrives each night (see `Arrival`)
    DIR/nights/01/inbox/...            the files arriving that night (night 1: the whole inbox)
    DIR/nights/01/truth/findings.csv   the findings in force that night (+ first_seen)
    DIR/nights/01/truth/issues.csv     the data-quality issues in force that night (+ first_seen)
    DIR/nights/01/truth/resolved.csv   what resolved that night (in force the night before)

Night 1 is `generate(out, scale, seed, as_of=start)`: the same inbox, the same truth.  Then
one night per month end.  Each night townships resubmit (new data that fixes and makes
problems, or the same data re-saved, renamed, re-encoded, sent twice), three of them once
send a roster that would gut the register (held), one a workbook with a hidden old roster
sheet, civil affairs sends the month's 低保 roll (once a re-encoded copy of the last one),
and medical insurance the current year's enrolment in some months.

The truth of a night is derived from the data in force that night alone (`inforce`): the
newest accepted workbook of each township, the newest roll, per 参保年度 the newest file
holding it.  first_seen is the first night an identity (a finding's rule and key, an issue's
kind and place in the register) was in force, kept when it resolves and comes back.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import shutil
import time
from collections import Counter
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from . import layout, mess
from .bureaus import Bureaus
from .clerks import (
    GUT_MINIMUM,
    Change,
    Context,
    Revision,
    Shares,
    copy_records,
    gut_blank_ids,
    gut_foreign_rows,
    gut_removed,
    revise,
    shares,
)
from .core import ISSUE_COLUMNS, Generated, _Inline, build_inbox, writer_pool
from .extracts import dibao_frame, dibao_text, enrolment_frames
from .inforce import (
    DibaoRoll,
    EnrolmentTag,
    EnrolmentYear,
    InForce,
    Settlements,
    TownshipFile,
    derive_truth,
)
from .layout import SheetModel
from .params import GENERATOR_VERSION, TIMELINE_START, GenParams
from .roster import HouseholdRecord
from .truth import FINDING_COLUMNS
from .writers import WorkbookJob, write_csv, write_workbook

GUT_ACTIONS = ("gut_blank_ids", "gut_foreign_rows", "gut_removed")
SPECIAL_ACTIONS = (*GUT_ACTIONS, "hidden_old_sheet")
DUPLICATE_ACTIONS = ("resave_unchanged", "rename_unchanged", "reencode_unchanged", "sent_twice")
NEW_DATA = "new_data"  # planned; written as monthly (a new name) or overwrite_same_name
ACT_PROBABILITY = 0.5  # a township sends something on a given night
ACTION_WEIGHTS = (
    (NEW_DATA, 0.62),
    ("resave_unchanged", 0.12),
    ("rename_unchanged", 0.08),
    ("reencode_unchanged", 0.06),
    ("sent_twice", 0.12),
)
RENAMES = ("（终稿）", "（修改）", "_最新", "（定稿）", "_改")
RESOLVED_COLUMNS = (
    "what",
    "rule",
    "key",
    "township_code",
    "file",
    "sheet",
    "row_no",
    "column",
    "household_id",
    "first_seen",
    "resolved_on",
)
MTIME_STEP_NS = 1_000_000_000


@dataclass
class Arrival:
    """One file arriving in the inbox on a night, and what the pipeline must make of it."""

    path: str  # inbox-relative
    source: str  # townships | dibao | insurance | claims
    township_code: str  # "" for the bureaus' extracts
    action: str  # what the sender did (initial, monthly, resave_unchanged, gut_removed …)
    expect: str  # accepted | duplicate | held
    note: str = ""

    def as_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


@dataclass
class Township:
    """One township over the timeline: its clerk's habits and what it sent."""

    code: str
    style: mess.Style
    pattern: str  # the file-name pattern (mess.FILE_PATTERNS) its clerk uses
    fmt: str
    in_force: TownshipFile | None = None
    accepted: list[TownshipFile] = field(default_factory=list)
    history: list[Change] = field(default_factory=list)  # revertible fixes made
    renames: int = 0
    copies: int = 0
    converted: bool = False  # sent its workbook converted (.xls <-> .xlsx) once already


@dataclass
class Night:
    night: int
    as_of: date
    arrivals: list[Arrival]
    state: InForce  # what is in force after the night's arrivals
    findings: pl.DataFrame  # FINDING_COLUMNS + first_seen
    issues: pl.DataFrame  # ISSUE_COLUMNS + identity + first_seen
    resolved: pl.DataFrame  # RESOLVED_COLUMNS


# ---------------------------------------------------------------- public API


def generate_timeline(
    out_dir: Path,
    scale: float = 1.0,
    seed: int = 20161010,
    start: date = TIMELINE_START,
    months: int = 12,
) -> dict:
    """Write a timeline of `months` nights to `out_dir` (see the module docstring); return a
    summary.  `out_dir/nights/` and `out_dir/timeline.json` are replaced."""
    return build_timeline(out_dir, scale, seed, start, months).summary()


def build_timeline(
    out_dir: Path,
    scale: float = 1.0,
    seed: int = 20161010,
    start: date = TIMELINE_START,
    months: int = 12,
) -> Timeline:
    """`generate_timeline`, keeping the timeline in memory (nights, states, identities)."""
    if months < 1:
        raise ValueError("months must be at least 1")
    started = time.perf_counter()
    out_dir = Path(out_dir)
    nights_dir = out_dir / "nights"
    if nights_dir.exists():
        shutil.rmtree(nights_dir)
    (out_dir / "timeline.json").unlink(missing_ok=True)
    params = GenParams(scale=scale, seed=seed, as_of=start)
    inbox = nights_dir / night_name(1) / "inbox"
    inbox.mkdir(parents=True)
    gen = build_inbox(params, inbox)
    timeline = Timeline(gen, out_dir, months)
    timeline.run()
    timeline.seconds = round(time.perf_counter() - started, 2)
    timeline.write_json()
    return timeline


def deliver(timeline_dir: Path, night: int, inbox: Path) -> list[str]:
    """Copy night `night`'s arrivals into the live `inbox` (files are never removed; a file
    of the same path is replaced) and return their inbox-relative paths.

    Each copy gets an mtime later than anything already in the inbox, strictly increasing in
    arrival order: the pipeline takes files oldest first within a folder."""
    timeline_dir, inbox = Path(timeline_dir), Path(inbox)
    meta = json.loads((timeline_dir / "timeline.json").read_text(encoding="utf-8"))
    entry = next((n for n in meta["nights"] if n["night"] == night), None)
    if entry is None:
        raise ValueError(f"the timeline has no night {night}")
    source = timeline_dir / "nights" / night_name(night) / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    latest = max((p.stat().st_mtime_ns for p in inbox.rglob("*") if p.is_file()), default=0)
    base = max(time.time_ns(), latest + MTIME_STEP_NS)
    copied = []
    for i, arrival in enumerate(entry["arrivals"]):
        rel = arrival["path"]
        target = inbox / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / rel, target)
        stamp = base + i * MTIME_STEP_NS
        os.utime(target, ns=(stamp, stamp))
        copied.append(rel)
    return copied


def night_name(night: int) -> str:
    return f"{night:02d}"


def month_end(start: date, months_later: int) -> date:
    """The last day of the month `months_later` months after `start`'s month."""
    index = start.year * 12 + start.month - 1 + months_later
    first_of_next = date(index // 12 + (index % 12 + 1) // 12, (index % 12 + 1) % 12 + 1, 1)
    return first_of_next - timedelta(days=1)


# ---------------------------------------------------------------- the timeline


class Timeline:
    def __init__(self, gen: Generated, out_dir: Path, months: int):
        self.gen = gen
        self.params = gen.params
        self.policy = gen.params.policy
        self.out_dir = out_dir
        self.months = months
        self.start = gen.params.as_of
        self.nights: list[Night] = []
        self.seconds = 0.0
        self.regressed: list[str] = []
        self.regression_town: str | None = None  # fixes on night 2, brings one back on night 3
        self.reencode_roll = 0  # the night civil affairs re-sends the roll in force re-encoded
        self.pool: ProcessPoolExecutor | _Inline = _Inline()
        self.pending: list[Future] = []
        self.resaved: list[tuple[Path, Path, str]] = []  # (new file, file in force, action)
        self.bureaus = Bureaus(gen.world, gen.params)
        self.protected = set(gen.injector.used_hh)
        self.villages = {code: gen.world.geo.villages_of(code) for code in gen.world.geo.townships}
        self.towns: dict[str, Township] = {}
        self.first_seen: dict[tuple[str, str], date] = {}  # (rule, key) -> night
        self.issue_seen: dict[str, date] = {}  # identity -> night
        self._tag_issues()

    # ------------------------------------------------------------ night 1

    def _tag_issues(self) -> None:
        """Put every injected issue on the row (household, 低保 row) that carries it."""
        roster = self.gen.roster
        for records in roster.workbooks.values():
            for rec in records:
                rec.issues = []
                for r in rec.rows:
                    r.issues = []
        for d in self.gen.world.dibao:
            d.issues = []
        by_uid = {d.uid: d for d in self.gen.world.dibao}
        self.enrol_tags: list[EnrolmentTag] = []
        self.claim_tags: list[tuple[str, str, str]] = []
        for ref in self.gen.injector.issues:
            if ref.source == "townships":
                if ref.row is not None:
                    ref.row.issues.append((ref.kind, ref.column))
                elif ref.record is not None:
                    ref.record.issues.append((ref.kind, ref.column))
            elif ref.source == "dibao":
                assert isinstance(ref.source_ref, int)
                by_uid[ref.source_ref].issues.append((ref.kind, ref.column))
            elif ref.source == "insurance":
                assert isinstance(ref.source_ref, tuple)
                pid, year = ref.source_ref
                self.enrol_tags.append(
                    EnrolmentTag(pid, year, ref.kind, ref.column, ref.township_code)
                )
            else:
                assert isinstance(ref.source_ref, str)
                self.claim_tags.append((ref.source_ref, ref.kind, ref.column))

    def _night_one(self) -> tuple[InForce, list[Arrival]]:
        gen = self.gen
        arrivals: list[Arrival] = []
        townships: dict[str, TownshipFile] = {}
        for code, job in zip(gen.roster.workbooks, gen.jobs, strict=True):
            style = gen.styles[code]
            rel = f"townships/{job.path.name}"
            tf = TownshipFile(
                code, rel, 1, job.fmt, gen.roster.workbooks[code], job.sheets, job.stamp, job.title
            )
            town = Township(code, style, _pattern_of(style, code, self.start), job.fmt)
            self.towns[code] = town
            measured = shares(tf.records, None)
            if measured.gutting(*self._limits()):
                arrivals.append(
                    Arrival(
                        rel,
                        "townships",
                        code,
                        "initial",
                        "held",
                        f"would gut: {measured.as_dict()}",
                    )
                )
                continue
            town.in_force = tf
            town.accepted.append(tf)
            townships[code] = tf
            arrivals.append(Arrival(rel, "townships", code, "initial", "accepted"))
        files = gen.extracts.files
        roll = DibaoRoll(
            files["dibao"],
            1,
            self.start,
            gen.world.dibao,
            gen.extracts.dibao,
            gen.extracts.dibao_row_no,
        )
        arrivals.append(Arrival(files["dibao"], "dibao", "", "initial", "accepted"))
        enrolment: dict[int, EnrolmentYear] = {}
        line = 2
        for year in self.params.years:
            rows = gen.world.enrolment.filter(pl.col("year") == year)
            logical, _ = enrolment_frames(gen.world.people, rows, first_line=line)
            tags = [t for t in self.enrol_tags if t.year is None or t.year == year]
            enrolment[year] = EnrolmentYear(files["insurance"], 1, year, rows, logical, tags)
            line += rows.height
        arrivals.append(Arrival(files["insurance"], "insurance", "", "initial", "accepted"))
        for rel in files["claims"].split(";"):
            arrivals.append(Arrival(rel, "claims", "", "initial", "accepted"))
        claims = Settlements(gen.extracts.settlements, gen.extracts.claim_row, self.claim_tags)
        return InForce(townships, roll, enrolment, claims), arrivals

    def _limits(self) -> tuple[float, float, float]:
        """The pipeline's hold thresholds (policy.toml [submissions])."""
        hold = self.policy.submissions
        return hold.removed_share, hold.unusable_id_share, hold.foreign_share

    # ------------------------------------------------------------ running

    def run(self) -> None:
        state, arrivals = self._night_one()
        self._record(1, self.start, arrivals, state)
        plan = self._plan(state)
        previous = self.start
        with writer_pool(self.params.scale) as pool:
            self.pool = pool
            for n in range(2, self.months + 1):
                as_of = month_end(self.start, n - 1)
                state, arrivals = self._night(n, as_of, previous, plan.get(n, {}), state)
                self._finish_writing()
                self._record(n, as_of, arrivals, state)
                previous = as_of

    def _finish_writing(self) -> None:
        """Wait for the night's workbooks; a re-saved one must really be new bytes."""
        for future in self.pending:
            future.result()
        for new, old, action in self.resaved:
            if new.read_bytes() == old.read_bytes():
                raise AssertionError(f"{action} of {old.name} wrote the same bytes")
        self.pending, self.resaved = [], []

    def _plan(self, state: InForce) -> dict[int, dict[str, str]]:
        """Which township does what on which night (nights 2..months), from the seed.

        The three gutting submissions and the hidden sheet go to four townships on up to four
        nights; the township with the most problems sends new data on nights 2 and 3 (it fixes
        something, then brings one fix back); every other township sends something on about
        half the nights.  Every kind of duplicate occurs when there is room, and the .xls
        township converts its workbook once."""
        rng = self.params.rng("timeline-plan")
        nights = list(range(2, self.months + 1))
        plan: dict[int, dict[str, str]] = {n: {} for n in nights}
        if not nights:
            return plan
        codes = sorted(state.townships)
        special = self._special_townships(state, rng)
        spots = sorted(int(x) for x in rng.choice(nights, size=min(4, len(nights)), replace=False))
        for i, (action, code) in enumerate(special):
            plan[spots[i % len(spots)]][code] = action
        fixed: set[tuple[int, str]] = set()
        if len(nights) >= 2:
            free = [c for c in codes if c not in plan[2] and c not in plan[3]]
            if free:
                chosen = max(free, key=lambda c: (_tag_count(state.townships[c].records), c))
                plan[2][chosen] = plan[3][chosen] = NEW_DATA
                fixed = {(2, chosen), (3, chosen)}
                self.regression_town = chosen
        slots: list[tuple[int, str]] = []
        for n in nights:
            for code in codes:
                if code not in plan[n] and rng.random() < ACT_PROBABILITY:
                    slots.append((n, code))
        names = [a for a, _ in ACTION_WEIGHTS]
        weights = np.array([w for _, w in ACTION_WEIGHTS])
        for n, code in slots:
            pick = int(rng.choice(len(names), p=weights / weights.sum()))
            plan[n][code] = NEW_DATA if n == 2 else names[pick]
        later = [(n, c) for n, c in slots if n > 2 and plan[n][c] == NEW_DATA]
        xls = [c for c in codes if self.towns[c].fmt == "xls"]
        if xls and not any(plan[n].get(xls[0]) == "reencode_unchanged" for n in nights):
            own = [(n, c) for n, c in slots if c == xls[0] and n > 2]
            if own:
                n, c = own[int(rng.integers(len(own)))]
                plan[n][c] = "reencode_unchanged"
                later = [s for s in later if s != (n, c)]
        for action in DUPLICATE_ACTIONS:
            if not any(action in plan[n].values() for n in nights) and later:
                n, c = later.pop(int(rng.integers(len(later))))
                plan[n][c] = action
        assert all(plan[n][c] == NEW_DATA for n, c in fixed)
        self.reencode_roll = (
            int(rng.integers(3 if self.months >= 3 else 2, self.months + 1))
            if self.months >= 2
            else 0
        )
        return plan

    def _special_townships(self, state: InForce, rng: np.random.Generator) -> list[tuple[str, str]]:
        """(action, township) for the three gutting submissions and the hidden sheet."""
        codes = [sorted(state.townships)[int(i)] for i in rng.permutation(len(state.townships))]
        used: set[str] = set()
        out: list[tuple[str, str]] = []

        def own(code: str) -> list[HouseholdRecord]:
            return state.townships[code].own

        def rows(code: str) -> int:
            return sum(len(h.rows) for h in own(code))

        tests = {
            # the smallest household holds at most a quarter: 70% can go, whatever changes by then
            "gut_removed": lambda c: (
                len(own(c)) >= 3 and min(len(h.rows) for h in own(c)) <= 0.25 * rows(c)
            ),
            "gut_foreign_rows": lambda c: self.towns[c].style.has_township_column and rows(c) >= 2,
            "gut_blank_ids": lambda c: rows(c) >= 2,
            "hidden_old_sheet": lambda c: self.towns[c].fmt == "xlsx",
        }
        for action in ("gut_removed", "gut_foreign_rows", "gut_blank_ids", "hidden_old_sheet"):
            pick = next((c for c in codes if c not in used and tests[action](c)), None)
            if pick is None:
                pick = next((c for c in codes if tests[action](c)), None)
            if pick is None:
                raise ValueError(f"no township can send {action} (scale {self.params.scale})")
            used.add(pick)
            out.append((action, pick))
        return out

    # ------------------------------------------------------------ one night

    def _night(
        self, n: int, as_of: date, previous: date, actions: dict[str, str], prev: InForce
    ) -> tuple[InForce, list[Arrival]]:
        params = GenParams(scale=self.params.scale, seed=self.params.seed, as_of=as_of)
        state = InForce(dict(prev.townships), prev.dibao, dict(prev.enrolment), prev.settlements)
        findings = self.nights[-1].findings
        frozen = {c for c, a in actions.items() if a in GUT_ACTIONS or a in DUPLICATE_ACTIONS}
        arrivals: list[Arrival] = []
        inbox = self.out_dir / "nights" / night_name(n) / "inbox"
        inbox.mkdir(parents=True)
        for code in sorted(actions):
            arrivals.append(
                self._township(n, as_of, params, code, actions[code], prev, state, findings, inbox)
            )
        arrivals.append(
            self._roll(n, as_of, previous, params, prev, state, findings, frozen, inbox)
        )
        if n % 3 == 0 or (as_of.month == 1 and as_of.year not in prev.enrolment):
            arrivals.append(self._enrolment(n, as_of, params, prev, state, findings, frozen, inbox))
        return state, arrivals

    def _township(
        self,
        n: int,
        as_of: date,
        params: GenParams,
        code: str,
        action: str,
        prev: InForce,
        state: InForce,
        findings: pl.DataFrame,
        inbox: Path,
    ) -> Arrival:
        town = self.towns[code]
        tf = town.in_force
        if tf is None:  # nothing in force (a first roster held): the township sends anew
            action = NEW_DATA
        rng = params.rng(f"clerk-{code}-{n}")
        if action in DUPLICATE_ACTIONS:
            assert tf is not None
            return self._duplicate(n, params, town, tf, action, inbox, rng)
        base = tf.records if tf is not None else []
        if action == "hidden_old_sheet":
            town.fmt = "xlsx"  # a hidden sheet is an .xlsx thing (the clerk saves as .xlsx again)
        style = self._style(town, as_of)
        rel = self._name(town, as_of)
        if action in GUT_ACTIONS:
            records = self._gut(action, base, prev, code, rng)
            measured = shares(records, base)
            criterion = {
                "gut_blank_ids": measured.unusable_ids,
                "gut_foreign_rows": measured.foreign,
                "gut_removed": measured.removed,
            }[action]
            if criterion < GUT_MINIMUM:
                raise AssertionError(f"{action} of {code} is not unambiguous: {measured}")
            sheets = self._lay_out(style, records, rel, as_of, rng)
            self._write(inbox / rel, town.fmt, sheets, params, style)
            note = (
                f"held: {measured.as_dict()}; the roster of {tf.rel if tf else '—'} stays in force"
            )
            return Arrival(rel, "townships", code, action, "held", note)

        records = copy_records(base)
        hh_findings = findings.filter(pl.col("township_code") == code)
        regression = None
        if (
            n >= 3
            and not self.regressed
            and town.history
            and (n > 3 or self.regression_town in (None, code))
        ):
            regression = _pick_regression(town.history, rng)
        ctx = Context(
            code=code,
            as_of=as_of,
            exit_line=self.policy.year(as_of.year).exit_line,
            rng=rng,
            findings=hh_findings,
            covered=_covered(prev.dibao.logical, as_of),
            protected=self.protected,
            has_sex_column=any(c.key == "sex" for c in style.columns),
            regression=regression,
            keep_revertible=n == 2 and self.regression_town == code,
        )
        rev = revise(records, ctx)
        measured = shares(records, base if tf is not None else None)
        if not measured.normal():
            raise AssertionError(
                f"a normal submission of {code} is not far from gutting: {measured}"
            )
        hidden = ""
        if action == "hidden_old_sheet":
            old = _roster_sheet(town.accepted[0].sheets)
            hidden_sheet = copy.copy(old)
            base_name = old.name if ("花名册" in old.name or "人员" in old.name) else "花名册"
            hidden = f"{base_name}（{self.start.year}年{self.start.month}月）"[:31]
            hidden_sheet.name, hidden_sheet.hidden = hidden, True
        sheets = self._lay_out(style, records, rel, as_of, rng)
        if hidden:
            sheets = [hidden_sheet, *sheets]
        self._write(inbox / rel, town.fmt, sheets, params, style)
        new = TownshipFile(
            code, rel, n, town.fmt, records, sheets, params.stamp, _title(style), hidden
        )
        town.in_force = new
        town.accepted.append(new)
        town.history.extend(c for c in rev.changes if c.what == "fix" and c.revertible)
        if any(c.what == "regress" for c in rev.changes):
            self.regressed.append(code)
        state.townships[code] = new
        label = (
            "hidden_old_sheet"
            if hidden
            else ("overwrite_same_name" if tf is not None and rel == tf.rel else "monthly")
        )
        note = _revision_note(rev, measured)
        if hidden:
            note = f"hidden sheet {hidden} holds the roster of night 1 (never read); " + note
        return Arrival(rel, "townships", code, label, "accepted", note)

    def _gut(
        self,
        action: str,
        base: list[HouseholdRecord],
        prev: InForce,
        code: str,
        rng: np.random.Generator,
    ) -> list[HouseholdRecord]:
        if action == "gut_blank_ids":
            return gut_blank_ids(base, rng)
        if action == "gut_removed":
            return gut_removed(base, rng)
        others = [h for c in sorted(prev.townships) if c != code for h in prev.townships[c].own]
        return gut_foreign_rows(base, others, rng)

    def _duplicate(
        self,
        n: int,
        params: GenParams,
        town: Township,
        tf: TownshipFile,
        action: str,
        inbox: Path,
        rng: np.random.Generator,
    ) -> Arrival:
        code = town.code
        night_dir = self.out_dir / "nights"
        if action == "sent_twice":
            older = [f for f in town.accepted if f is not tf]
            src = older[int(rng.integers(len(older)))] if older and rng.random() < 0.4 else tf
            town.copies += 1
            rel = _unused(self._delivered(), _with_suffix(src.rel, f"({town.copies})"))
            target = inbox / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(night_dir / night_name(src.night) / "inbox" / src.rel, target)
            what = (
                "the file in force"
                if src is tf
                else f"an older file ({src.rel}, night {src.night})"
            )
            return Arrival(rel, "townships", code, action, "duplicate", f"same bytes as {what}")
        fmt, rel = tf.fmt, tf.rel
        if action == "reencode_unchanged":
            ok = not tf.hidden_sheet and all(len(s.name) <= 31 for s in tf.sheets)
            if ok and not town.converted:
                fmt = "xlsx" if tf.fmt == "xls" else "xls"
                rel = str(Path(tf.rel).with_suffix("." + fmt))
                town.fmt, town.converted = fmt, True
            else:
                action = "resave_unchanged"
        if action == "rename_unchanged":
            town.renames += 1
            mark = RENAMES[(town.renames - 1) % len(RENAMES)]
            rel = _unused(self._delivered(), _with_suffix(tf.rel, mark))
        sheets = [dataclasses.replace(s, widths=[w + 1 for w in s.widths]) for s in tf.sheets]
        target = inbox / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        self.pending.append(
            self.pool.submit(
                write_workbook, WorkbookJob(target, fmt, sheets, params.stamp, tf.title)
            )
        )
        self.resaved.append((target, night_dir / night_name(tf.night) / "inbox" / tf.rel, action))
        notes = {
            "resave_unchanged": "re-saved (new bytes), same data as the file in force",
            "rename_unchanged": f"renamed from {Path(tf.rel).name} and saved again, same data",
            "reencode_unchanged": f"converted {tf.fmt} -> {fmt}, same data",
        }
        return Arrival(rel, "townships", code, action, "duplicate", notes[action] + f" ({tf.rel})")

    def _delivered(self) -> set[str]:
        return {a.path for night in self.nights for a in night.arrivals}

    def _style(self, town: Township, as_of: date) -> mess.Style:
        titles = [_retitle(t, self.start, as_of) for t in town.style.title_rows]
        return dataclasses.replace(town.style, title_rows=titles, fmt=town.fmt)

    def _name(self, town: Township, as_of: date) -> str:
        name = _file_name(town.pattern, town.style.township, town.code, as_of)
        if town.fmt == "xls":
            name = name[: -len(".xlsx")] + ".xls"
        return f"townships/{name}"

    def _lay_out(
        self,
        style: mess.Style,
        records: list[HouseholdRecord],
        rel: str,
        as_of: date,
        rng: np.random.Generator,
    ) -> list[SheetModel]:
        sheets = []
        if style.preface_sheet:
            sheets.append(layout.preface_sheet(style))
        sheets.append(layout.roster_sheet(style, records, rel, as_of, rng))
        if style.village_sheet:
            fmt = mess.CellFormatter(style, rng)
            sheets.append(layout.village_sheet(style, self.villages[style.township_code], fmt))
        return sheets

    def _write(
        self, path: Path, fmt: str, sheets: list[SheetModel], params: GenParams, style: mess.Style
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        job = WorkbookJob(path, fmt, sheets, params.stamp, _title(style))
        self.pending.append(self.pool.submit(write_workbook, job))

    # ------------------------------------------------------------ the bureaus

    def _roll(
        self,
        n: int,
        as_of: date,
        previous: date,
        params: GenParams,
        prev: InForce,
        state: InForce,
        findings: pl.DataFrame,
        frozen: set[str],
        inbox: Path,
    ) -> Arrival:
        roll = prev.dibao
        if n == self.reencode_roll:
            rel = f"dibao/南雄市城乡低保特困供养人员名册_{roll.as_of:%Y%m}（UTF-8）.csv"
            raw = (
                self.out_dir / "nights" / night_name(roll.night) / "inbox" / roll.rel
            ).read_bytes()
            (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
            (inbox / rel).write_bytes(raw.decode("gb18030").encode("utf-8-sig"))
            note = f"the roll in force ({roll.rel}) re-exported as UTF-8: same data"
            return Arrival(rel, "dibao", "", "reencode_unchanged", "duplicate", note)
        rng = params.rng(f"dibao-{n}")
        rows, outcome = self.bureaus.next_roll(roll, prev, findings, as_of, previous, rng, frozen)
        text, line = dibao_text(rows, params, stream=f"dibao-text-{n}")
        rel = f"dibao/南雄市城乡低保特困供养人员名册_{as_of:%Y%m}.csv"
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        write_csv(text, inbox / rel, "gb18030")
        state.dibao = DibaoRoll(rel, n, as_of, rows, dibao_frame(rows), line)
        return Arrival(rel, "dibao", "", "monthly", "accepted", outcome.note())

    def _enrolment(
        self,
        n: int,
        as_of: date,
        params: GenParams,
        prev: InForce,
        state: InForce,
        findings: pl.DataFrame,
        frozen: set[str],
        inbox: Path,
    ) -> Arrival:
        rng = params.rng(f"enrolment-{n}")
        frame, tags, outcome = self.bureaus.next_enrolment(prev, findings, as_of, rng, frozen)
        year = as_of.year
        rel = f"insurance/南雄市城乡居民医保参保名册_{year}年（截至{as_of.month}月）.csv"
        part, text = self.bureaus.enrolment_year(frame, tags, rel, n, year)
        (inbox / rel).parent.mkdir(parents=True, exist_ok=True)
        text.write_csv(inbox / rel, include_bom=True)
        state.enrolment[year] = part
        return Arrival(rel, "insurance", "", "current_year", "accepted", outcome.note())

    # ------------------------------------------------------------ truth

    def _record(self, n: int, as_of: date, arrivals: list[Arrival], state: InForce) -> None:
        findings, issues = derive_truth(state, as_of, self.policy)
        for key in findings.select("rule", "key").iter_rows():
            self.first_seen.setdefault(key, as_of)
        for ident in issues["identity"].unique().sort().to_list():
            self.issue_seen.setdefault(ident, as_of)
        day = as_of.isoformat()
        findings = findings.with_columns(
            first_seen=pl.Series(
                [
                    self.first_seen[k].isoformat()
                    for k in findings.select("rule", "key").iter_rows()
                ],
                dtype=pl.Utf8,
            )
        )
        issues = issues.with_columns(
            first_seen=pl.Series(
                [self.issue_seen[i].isoformat() for i in issues["identity"].to_list()],
                dtype=pl.Utf8,
            )
        )
        resolved = _resolved(self.nights[-1] if self.nights else None, findings, issues, day)
        night = Night(n, as_of, arrivals, state, findings, issues, resolved)
        self.nights.append(night)
        truth = self.out_dir / "nights" / night_name(n) / "truth"
        truth.mkdir(parents=True, exist_ok=True)
        write_csv(
            findings.select(*FINDING_COLUMNS, "first_seen"), truth / "findings.csv", "utf-8-sig"
        )
        write_csv(issues.select(*ISSUE_COLUMNS, "first_seen"), truth / "issues.csv", "utf-8-sig")
        write_csv(resolved, truth / "resolved.csv", "utf-8-sig")

    # ------------------------------------------------------------ outputs

    def write_json(self) -> None:
        meta = {
            "generator_version": GENERATOR_VERSION,
            "seed": self.params.seed,
            "scale": self.params.scale,
            "start": self.start.isoformat(),
            "months": self.months,
            "nights": [
                {
                    "night": night.night,
                    "as_of": night.as_of.isoformat(),
                    "arrivals": [a.as_dict() for a in night.arrivals],
                }
                for night in self.nights
            ],
        }
        (self.out_dir / "timeline.json").write_text(
            json.dumps(meta, ensure_ascii=False, indent=2), encoding="utf-8"
        )

    def summary(self) -> dict:
        arrivals = [a for night in self.nights for a in night.arrivals]
        return {
            "out_dir": str(self.out_dir),
            "nights": len(self.nights),
            "start": self.start.isoformat(),
            "end": self.nights[-1].as_of.isoformat(),
            "arrivals": len(arrivals),
            "actions": dict(sorted(Counter(a.action for a in arrivals).items())),
            "expect": dict(sorted(Counter(a.expect for a in arrivals).items())),
            "findings_per_night": [night.findings.height for night in self.nights],
            "issues_per_night": [night.issues.height for night in self.nights],
            "resolved_per_night": [night.resolved.height for night in self.nights],
            "regressions": self.regressed,
            "seconds": self.seconds,
        }


# ---------------------------------------------------------------- helpers


def _resolved(
    previous: Night | None, findings: pl.DataFrame, issues: pl.DataFrame, day: str
) -> pl.DataFrame:
    """What was in force the night before and is not now: findings by (rule, key), issues by
    identity, with the evidence where they were last seen."""
    schema = pl.Schema({c: pl.Int64() if c == "row_no" else pl.Utf8() for c in RESOLVED_COLUMNS})
    if previous is None:
        return pl.DataFrame(schema=schema)
    now = set(findings.select("rule", "key").iter_rows())
    gone_f = (
        previous.findings.filter(
            ~pl.struct("rule", "key").map_elements(
                lambda s: (s["rule"], s["key"]) in now, return_dtype=pl.Boolean
            )
        )
        if previous.findings.height
        else previous.findings
    )
    idents = set(issues["identity"].to_list())
    gone_i = previous.issues.filter(~pl.col("identity").is_in(list(idents)))
    parts = [
        gone_f.select(
            what=pl.lit("finding"),
            rule="rule",
            key="key",
            township_code="township_code",
            file=pl.lit(None, pl.Utf8),
            sheet=pl.lit(None, pl.Utf8),
            row_no=pl.lit(None, pl.Int64),
            column=pl.lit(None, pl.Utf8),
            household_id="household_id",
            first_seen="first_seen",
            resolved_on=pl.lit(day),
        ),
        gone_i.select(
            what=pl.lit("issue"),
            rule="kind",
            key=pl.lit(""),
            township_code="township_code",
            file="file",
            sheet="sheet",
            row_no="row_no",
            column="column",
            household_id="household_id",
            first_seen="first_seen",
            resolved_on=pl.lit(day),
        ),
    ]
    frame = pl.concat([p.cast(schema) for p in parts]) if parts else pl.DataFrame(schema=schema)
    return frame.sort(
        "what", "rule", "key", "file", "row_no", "column", "household_id", nulls_last=True
    )


def _tag_count(records: list[HouseholdRecord]) -> int:
    return sum(
        len(h.issues) + sum(len(r.issues) for r in h.rows) for h in records if not h.foreign_copy
    )


def _pick_regression(history: list[Change], rng: np.random.Generator) -> Change:
    """A fixed problem that comes back: one with an issue if there is one (so that both an
    issue and, for an ID, a finding reopen), else any."""
    tagged = [c for c in history if c.tag is not None and not c.key_change]
    pool = tagged or [c for c in history if not c.key_change] or history
    return pool[int(rng.integers(len(pool)))]


def _revision_note(rev: Revision, measured: Shares) -> str:
    counts: Counter[str] = Counter()
    exits: set[str] = set()
    for c in rev.changes:
        if c.label == "exit":
            exits.add(c.hh_id)
        else:
            counts[f"{c.what} {c.label}"] += 1
    for n in rev.notes:
        what, label = n.split(":", 1)
        counts[f"{what} {label}"] += 1
    parts = [f"{k}×{v}" for k, v in sorted(counts.items())]
    if exits:
        parts.append(f"exits×{len(exits)} households")
    parts.append(f"shares {measured.as_dict()}")
    return "; ".join(parts)


def _covered(dibao: pl.DataFrame, as_of: date) -> dict[str, set[str]]:
    cov = dibao.filter(
        pl.col("id_status").is_in(["valid", "legacy15"])
        & (pl.col("status") == "在保")
        & (pl.col("start_date") <= as_of)
        & (pl.col("stop_date").is_null() | (pl.col("stop_date") > as_of))
    )
    out: dict[str, set[str]] = {}
    for i, c in cov.select("id_norm", "category").iter_rows():
        out.setdefault(i, set()).add(c)
    return out


def _roster_sheet(sheets: list[SheetModel]) -> SheetModel:
    """The roster sheet of a workbook the generator laid out (it comes before the villages')."""
    return next(s for s in sheets if not s.hidden and not s.text_lines)


def _pattern_of(style: mess.Style, code: str, start: date) -> str:
    for pattern in mess.FILE_PATTERNS:
        name = _file_name(pattern, style.township, code, start)
        if style.fmt == "xls":
            name = name[: -len(".xlsx")] + ".xls"
        if name == style.file_name:
            return pattern
    raise ValueError(f"no file-name pattern gives {style.file_name}")


def _file_name(pattern: str, township: str, code: str, day: date) -> str:
    return pattern.format(
        t=township, code=code, ym=f"{day.year}年{day.month}月", ymd=f"{day:%Y%m%d}"
    )


def _retitle(text: str, old: date, new: date) -> str:
    """A title row of the first submission, dated anew."""
    return text.replace(
        f"{old.year}年{old.month}月{old.day}日", f"{new.year}年{new.month}月{new.day}日"
    ).replace(f"（{old.year}年动态调整后）", f"（{new.year}年动态调整后）")


def _title(style: mess.Style) -> str:
    return f"{style.township}建档立卡贫困人口花名册"


def _with_suffix(rel: str, mark: str) -> str:
    p = Path(rel)
    return str(p.with_name(p.stem + mark + p.suffix))


def _unused(taken: set[str], rel: str) -> str:
    p, k = Path(rel), 2
    candidate = rel
    while candidate in taken:
        candidate = str(p.with_name(f"{p.stem}_{k}{p.suffix}"))
        k += 1
    return candidate
