"""A timeline of nights: the layout contract, night 1 = `generate`, truth derived from the
data in force alone, duplicates and held rosters change nothing, first_seen survives a
resolve and reopen, resolved = the difference of consecutive nights, `deliver` fills a live
inbox in order.  The workbooks are read back from disk with a plain reader, so what the
truth says is checked against what was written."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from python_calamine import CalamineWorkbook, SheetVisibleEnum

from config.schema import FOOTER_MARKERS, ROSTER
from config.settings import load_divisions, load_policy
from generator import generate
from generator.inforce import derive_truth
from generator.timeline import Timeline, build_timeline, deliver, generate_timeline
from transforms.ids import BAD_FORMAT, BLANK, parse_id

SMALL = {"scale": 0.02, "seed": 5, "start": date(2018, 1, 31), "months": 5}
FINDINGS = [
    "rule",
    "key",
    "township_code",
    "village",
    "household_id",
    "person_id",
    "id_as_written",
    "suggested_id",
    "record_key",
    "first_seen",
]
ISSUES = [
    "kind",
    "township_code",
    "file",
    "sheet",
    "row_no",
    "column",
    "household_id",
    "first_seen",
]
RESOLVED = [
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
]
GUTS = ("gut_blank_ids", "gut_foreign_rows", "gut_removed")
DUPLICATES = ("resave_unchanged", "rename_unchanged", "reencode_unchanged", "sent_twice")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Timeline]:
    out = tmp_path_factory.mktemp("timeline")
    return out, build_timeline(out, **SMALL)


def _meta(out: Path) -> dict:
    return json.loads((out / "timeline.json").read_text(encoding="utf-8"))


def _csv(path: Path) -> pl.DataFrame:
    return pl.read_csv(path, infer_schema=False)


def _truth(out: Path, night: int, name: str) -> pl.DataFrame:
    return _csv(out / "nights" / f"{night:02d}" / "truth" / f"{name}.csv")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# ---------------------------------------------------------------- a plain reader


def _norm(cell: object) -> str:
    if isinstance(cell, float) and cell == int(cell) and abs(cell) < 1e15:
        cell = int(cell)
    elif isinstance(cell, float):
        cell = f"{cell:.15g}"
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", "" if cell is None else str(cell)))


def _visible(path: Path) -> dict[str, list[list[str]]]:
    """Every visible sheet as normalised text, blank trailing cells dropped."""
    wb = CalamineWorkbook.from_path(str(path))
    out = {}
    for meta in wb.sheets_metadata:
        if meta.visible != SheetVisibleEnum.Visible:
            continue
        rows = wb.get_sheet_by_name(meta.name).to_python(skip_empty_area=False)
        grid = []
        for row in rows:
            cells = [_norm(c) for c in row]
            while cells and not cells[-1]:
                cells.pop()
            grid.append(cells)
        while grid and not grid[-1]:
            grid.pop()
        out[meta.name] = grid
    return out


def _hidden(path: Path) -> list[str]:
    wb = CalamineWorkbook.from_path(str(path))
    return [m.name for m in wb.sheets_metadata if m.visible != SheetVisibleEnum.Visible]


def _id_text(cell: object) -> str:
    return parse_id(
        f"{cell:.15g}" if isinstance(cell, float) and cell > 1e16 else _norm(cell)
    ).normalised


def _roster_rows(path: Path) -> list[dict]:
    """The visible roster sheet's person rows: row_no, 户编号, name, written ID, 乡镇."""
    wb = CalamineWorkbook.from_path(str(path))
    visible = [m.name for m in wb.sheets_metadata if m.visible == SheetVisibleEnum.Visible]
    name = next((n for n in visible if "花名册" in n or "人员" in n), None)
    lookup = {_norm(h): f.key for f in ROSTER.fields for h in f.headers}
    for candidate in [name] + visible if name else visible:
        if candidate is None:
            continue
        rows = wb.get_sheet_by_name(candidate).to_python()
        for h, row in enumerate(rows[:10]):
            cols = {}
            for c, cell in enumerate(row):
                text = _norm(cell) or (_norm(rows[h - 1][c]) if h else "")
                key = lookup.get(text) or lookup.get(re.sub(r"\([^)]*\)$", "", text))
                if key:
                    cols[key] = c
            if "name" in cols and "household_id" in cols:
                out = []
                for i, cells in enumerate(rows[h + 1 :], start=h + 2):
                    first = next((_norm(x) for x in cells if _norm(x)), "")
                    if not first or first.startswith(FOOTER_MARKERS):
                        continue
                    out.append(
                        {
                            "row_no": i,
                            "household_id": _norm(cells[cols["household_id"]]),
                            "name": _norm(cells[cols["name"]]),
                            "id": _id_text(cells[cols["id_number"]]),
                            "id_status": parse_id(
                                f"{cells[cols['id_number']]:.15g}"
                                if isinstance(cells[cols["id_number"]], float)
                                and cells[cols["id_number"]] > 1e16
                                else _norm(cells[cols["id_number"]])
                            ).status,
                            "township": _norm(cells[cols["township"]])
                            if "township" in cols
                            else "",
                        }
                    )
                return out
    raise AssertionError(f"no roster sheet in {path}")


def _measure(path: Path, code: str, in_force: Path | None) -> dict[str, float]:
    """The shares the pipeline holds a roster on, from the files as written."""
    divisions = load_divisions()

    def split(p: Path) -> tuple[list[dict], int]:
        rows = _roster_rows(p)
        own = [
            r for r in rows if not r["township"] or divisions.township_code(r["township"]) == code
        ]
        return own, len(rows) - len(own)

    def keys(rows: list[dict]) -> set[str]:
        return {r["id"] or f"{r['household_id']}/{r['name']}" for r in rows}

    own, pasted = split(path)
    unusable = sum(r["id_status"] in (BLANK, BAD_FORMAT) for r in own)
    removed = 0.0
    if in_force is not None:
        before = keys(split(in_force)[0])
        removed = len(before - keys(own)) / len(before)
    return {
        "removed": removed,
        "unusable": unusable / len(own) if own else 0.0,
        "foreign": pasted / (len(own) + pasted),
    }


def _replay(out: Path) -> list[dict[str, tuple[int, str]]]:
    """Per night, the files in force per source (township code / dibao / insurance year), from
    timeline.json alone: the newest accepted arrival."""
    nights = []
    current: dict[str, tuple[int, str]] = {}
    for night in _meta(out)["nights"]:
        n = night["night"]
        for a in night["arrivals"]:
            if a["expect"] != "accepted":
                continue
            if a["source"] == "townships":
                current[a["township_code"]] = (n, a["path"])
            elif a["source"] == "dibao":
                current["dibao"] = (n, a["path"])
            elif a["source"] == "insurance":
                text = (out / "nights" / f"{n:02d}" / "inbox" / a["path"]).read_bytes()
                years = pl.read_csv(text, infer_schema=False, columns=["参保年度"])
                for year in years["参保年度"].unique().to_list():
                    current[f"insurance/{year}"] = (n, a["path"])
            else:  # settlements: every file, each 结算编号 in the newest holding it
                current[a["path"]] = (n, a["path"])
        nights.append(dict(current))
    return nights


# ---------------------------------------------------------------- the contract


def test_layout_is_the_contract(built: tuple[Path, Timeline]) -> None:
    out, timeline = built
    meta = _meta(out)
    assert set(meta) == {"generator_version", "seed", "scale", "start", "months", "nights"}
    assert (meta["seed"], meta["scale"], meta["start"], meta["months"]) == (
        5,
        0.02,
        "2018-01-31",
        5,
    )
    assert [n["night"] for n in meta["nights"]] == [1, 2, 3, 4, 5]
    assert [n["as_of"] for n in meta["nights"]] == [
        "2018-01-31",
        "2018-02-28",
        "2018-03-31",
        "2018-04-30",
        "2018-05-31",
    ]
    for night in meta["nights"]:
        folder = out / "nights" / f"{night['night']:02d}"
        paths = [a["path"] for a in night["arrivals"]]
        assert len(paths) == len(set(paths))
        assert sorted(paths) == sorted(_files(folder / "inbox"))
        for a in night["arrivals"]:
            assert set(a) == {"path", "source", "township_code", "action", "expect", "note"}
            assert a["source"] == a["path"].split("/")[0]
            assert a["expect"] in ("accepted", "duplicate", "held")
            assert bool(a["township_code"]) == (a["source"] == "townships")
        for name, columns in (("findings", FINDINGS), ("issues", ISSUES), ("resolved", RESOLVED)):
            raw = (folder / "truth" / f"{name}.csv").read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf"), name
            assert _truth(out, night["night"], name).columns == columns
    assert _truth(out, 1, "resolved").height == 0


def test_night_one_is_generate(built: tuple[Path, Timeline], tmp_path: Path) -> None:
    out, _ = built
    generate(tmp_path, scale=SMALL["scale"], seed=SMALL["seed"], as_of=SMALL["start"])
    assert _files(tmp_path / "inbox") == _files(out / "nights" / "01" / "inbox")
    for name in ("findings", "issues"):
        night = _truth(out, 1, name)
        assert set(night["first_seen"].to_list()) == {"2018-01-31"}
        assert night.drop("first_seen").equals(_csv(tmp_path / "truth" / f"{name}.csv")), name
    actions = {(a["action"], a["expect"]) for a in _meta(out)["nights"][0]["arrivals"]}
    assert actions == {("initial", "accepted")}


def test_same_seed_same_bytes(built: tuple[Path, Timeline], tmp_path: Path) -> None:
    out, _ = built
    generate_timeline(tmp_path, **SMALL)
    first, second = _files(out), _files(tmp_path)
    assert first.keys() == second.keys()
    assert [name for name in first if first[name] != second[name]] == []


# ---------------------------------------------------------------- truth from what is in force


def test_truth_is_derived_from_the_data_in_force(built: tuple[Path, Timeline]) -> None:
    out, timeline = built
    policy = load_policy()
    for night, replayed in zip(timeline.nights, _replay(out), strict=True):
        state = night.state
        held = {c: (tf.night, tf.rel) for c, tf in state.townships.items()}
        held["dibao"] = (state.dibao.night, state.dibao.rel)
        for year, part in state.enrolment.items():
            held[f"insurance/{year}"] = (part.night, part.rel)
        in_force = {k: v for k, v in replayed.items() if not k.startswith("claims/")}
        assert held == in_force, night.night
        findings, issues = derive_truth(state, night.as_of, policy)
        on_disk = _truth(out, night.night, "findings").drop("first_seen")
        assert on_disk.equals(findings.cast(pl.Utf8)), night.night
        disk_issues = _truth(out, night.night, "issues").drop("first_seen")
        assert disk_issues.equals(issues.drop("identity").cast(pl.Utf8)), night.night
        in_force_files = {path for _, path in replayed.values()}
        assert set(disk_issues["file"].to_list()) <= in_force_files


def test_workbooks_in_force_hold_the_truths_rows(built: tuple[Path, Timeline]) -> None:
    """What the truth reads from a roster is what the visible sheet of its file says."""
    out, timeline = built
    seen = set()
    for night in timeline.nights:
        for tf in night.state.townships.values():
            if (tf.night, tf.rel) in seen:
                continue
            seen.add((tf.night, tf.rel))
            path = out / "nights" / f"{tf.night:02d}" / "inbox" / tf.rel
            got = {r["row_no"]: r for r in _roster_rows(path)}
            rows = [r for rec in tf.records for r in rec.rows]
            assert sorted(got) == sorted(r.row_no for r in rows), tf.rel
            for r in rows:
                expected = parse_id(
                    f"{r.id_raw:.15g}" if isinstance(r.id_raw, float) else r.id_raw
                ).normalised
                assert got[r.row_no]["id"] == expected, (tf.rel, r.row_no)
                assert got[r.row_no]["name"] == _norm(r.name), (tf.rel, r.row_no)
            assert _hidden(path) == ([tf.hidden_sheet] if tf.hidden_sheet else []), tf.rel


def test_hidden_old_sheet(built: tuple[Path, Timeline]) -> None:
    out, timeline = built
    arrivals = [
        (n["night"], a)
        for n in _meta(out)["nights"]
        for a in n["arrivals"]
        if a["action"] == "hidden_old_sheet"
    ]
    assert len(arrivals) == 1
    night, a = arrivals[0]
    assert a["expect"] == "accepted"
    path = out / "nights" / f"{night:02d}" / "inbox" / a["path"]
    wb = CalamineWorkbook.from_path(str(path))
    first = wb.sheets_metadata[0]
    assert first.visible != SheetVisibleEnum.Visible and (
        "花名册" in first.name or "人员" in first.name
    )
    issues = _truth(out, night, "issues").filter(pl.col("kind") == "hidden_sheet")
    assert issues.select("file", "sheet", "township_code").rows() == [
        (a["path"], first.name, a["township_code"])
    ]


# ---------------------------------------------------------------- nothing changes


def _township_truth(out: Path, night: int, code: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    findings = _truth(out, night, "findings").filter(pl.col("township_code") == code)
    issues = _truth(out, night, "issues").filter(
        (pl.col("township_code") == code) & pl.col("file").str.starts_with("townships/")
    )
    return findings, issues


def test_held_and_duplicate_submissions_change_nothing(built: tuple[Path, Timeline]) -> None:
    out, _ = built
    meta = _meta(out)
    checked: set[str] = set()
    for night in meta["nights"][1:]:
        n = night["night"]
        for a in night["arrivals"]:
            if a["source"] != "townships" or a["expect"] == "accepted":
                continue
            code = a["township_code"]
            before, after = _township_truth(out, n - 1, code), _township_truth(out, n, code)
            assert before[0].equals(after[0]), (n, a["path"])
            assert before[1].equals(after[1]), (n, a["path"])  # the evidence file too
            checked.add(a["action"])
    assert set(GUTS) <= checked
    assert checked & set(DUPLICATES)
    rolls = [n["night"] for n in meta["nights"] for a in n["arrivals"] if a["source"] == "dibao"]
    again = [
        n["night"]
        for n in meta["nights"]
        for a in n["arrivals"]
        if a["source"] == "dibao" and a["expect"] == "duplicate"
    ]
    assert len(again) == 1 and rolls.count(again[0]) == 1
    n = again[0]
    before, after = (
        _truth(out, m, "issues").filter(pl.col("file").str.starts_with("dibao/"))
        for m in (n - 1, n)
    )
    assert before.equals(after)  # the roll in force stays the evidence


def test_duplicates_hold_the_same_data_as_the_file_in_force(built: tuple[Path, Timeline]) -> None:
    out, _ = built
    replayed = _replay(out)
    for night in _meta(out)["nights"][1:]:
        n = night["night"]
        before = replayed[n - 2]
        for a in night["arrivals"]:
            if a["expect"] != "duplicate":
                continue
            path = out / "nights" / f"{n:02d}" / "inbox" / a["path"]
            if a["source"] == "dibao":
                m, rel = before["dibao"]
                old = (out / "nights" / f"{m:02d}" / "inbox" / rel).read_bytes().decode("gb18030")
                assert path.read_bytes().decode("utf-8-sig") == old
                continue
            m, rel = before[a["township_code"]]
            old = out / "nights" / f"{m:02d}" / "inbox" / rel
            if a["action"] == "sent_twice":
                earlier = [
                    out / "nights" / f"{x['night']:02d}" / "inbox" / y["path"]
                    for x in _meta(out)["nights"][: n - 1]
                    for y in x["arrivals"]
                    if y["township_code"] == a["township_code"] and y["expect"] == "accepted"
                ]
                assert any(path.read_bytes() == e.read_bytes() for e in earlier)
                continue
            assert path.read_bytes() != old.read_bytes()
            assert _visible(path) == _visible(old), a["path"]


# ---------------------------------------------------------------- life cycle


def test_first_seen_is_kept_through_resolve_and_reopen(built: tuple[Path, Timeline]) -> None:
    out, timeline = built
    first: dict[tuple[str, ...], str] = {}
    present: dict[tuple[str, ...], list[int]] = {}
    for night in timeline.nights:
        disk = _truth(out, night.night, "findings")
        keyed = [
            (("finding", r, k), s)
            for r, k, s in disk.select("rule", "key", "first_seen").iter_rows()
        ]
        keyed += [
            (("issue", i), s) for i, s in night.issues.select("identity", "first_seen").iter_rows()
        ]
        for key, seen in keyed:
            first.setdefault(key, night.as_of.isoformat())
            assert seen == first[key], (night.night, key)
            present.setdefault(key, []).append(night.night)
    reopened = [
        k for k, nights in present.items() if nights != list(range(nights[0], nights[-1] + 1))
    ]
    assert reopened, "a fixed problem comes back at least once"
    assert timeline.regressed


def test_resolved_is_the_difference_of_consecutive_nights(built: tuple[Path, Timeline]) -> None:
    out, timeline = built
    for prev, night in zip(timeline.nights, timeline.nights[1:], strict=False):
        resolved = _truth(out, night.night, "resolved")
        assert set(resolved["resolved_on"].to_list()) <= {night.as_of.isoformat()}
        gone = set(prev.findings.select("rule", "key").iter_rows()) - set(
            night.findings.select("rule", "key").iter_rows()
        )
        got = resolved.filter(pl.col("what") == "finding")
        assert set(got.select("rule", "key").iter_rows()) == gone
        idents = set(night.issues["identity"].to_list())
        expected = (
            prev.issues.filter(~pl.col("identity").is_in(list(idents)))
            .select("kind", "file", "row_no", "column", "first_seen")
            .cast(pl.Utf8)
        )
        got_i = resolved.filter(pl.col("what") == "issue").select(
            pl.col("rule").alias("kind"), "file", "row_no", "column", "first_seen"
        )
        assert sorted(got_i.rows(), key=str) == sorted(expected.rows(), key=str)
    assert sum(n.resolved.height for n in timeline.nights) > 0


# ---------------------------------------------------------------- deliver


def test_deliver_fills_a_live_inbox_in_order(built: tuple[Path, Timeline], tmp_path: Path) -> None:
    out, _ = built
    meta = _meta(out)
    inbox = tmp_path / "inbox"
    latest: dict[str, int] = {}
    newest = 0
    for night in meta["nights"]:
        n = night["night"]
        copied = deliver(out, n, inbox)
        assert copied == [a["path"] for a in night["arrivals"]]
        stamps = [(inbox / p).stat().st_mtime_ns for p in copied]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert min(stamps) > newest
        newest = max(p.stat().st_mtime_ns for p in inbox.rglob("*") if p.is_file())
        for p in copied:
            latest[p] = n
    for rel, n in latest.items():  # a path sent again holds its last version
        assert (inbox / rel).read_bytes() == (
            out / "nights" / f"{n:02d}" / "inbox" / rel
        ).read_bytes()
    overwritten = [
        a
        for night in meta["nights"][1:]
        for a in night["arrivals"]
        if a["action"] == "overwrite_same_name"
    ]
    assert overwritten


# ---------------------------------------------------------------- over a few seeds


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_arrivals_and_gutting_shares(seed: int, tmp_path: Path) -> None:
    months = 4
    generate_timeline(tmp_path, scale=0.01, seed=seed, start=date(2018, 1, 31), months=months)
    meta = _meta(tmp_path)
    nights = meta["nights"]
    assert len(nights) == months
    initial = nights[0]["arrivals"]
    assert len(initial) == len(_files(tmp_path / "nights" / "01" / "inbox"))
    assert sum(a["source"] == "townships" for a in initial) == 18
    actions = [a["action"] for night in nights for a in night["arrivals"]]
    for special in (*GUTS, "hidden_old_sheet"):
        assert actions.count(special) == 1, special
    replayed = _replay(tmp_path)
    for night in nights[1:]:
        n, arrivals = night["night"], night["arrivals"]
        towns = [a["township_code"] for a in arrivals if a["source"] == "townships"]
        assert len(towns) == len(set(towns))
        assert sum(a["source"] == "dibao" for a in arrivals) == 1
        assert sum(a["source"] == "insurance" for a in arrivals) == (1 if n % 3 == 0 else 0)
        assert not any(a["source"] == "claims" for a in arrivals)
        assert len(arrivals) == len(towns) + 1 + (n % 3 == 0)
        for a in arrivals:
            if a["source"] != "townships" or a["action"] == "sent_twice":
                continue
            m, rel = replayed[n - 2][a["township_code"]]
            measured = _measure(
                tmp_path / "nights" / f"{n:02d}" / "inbox" / a["path"],
                a["township_code"],
                tmp_path / "nights" / f"{m:02d}" / "inbox" / rel,
            )
            if a["action"] in GUTS:
                assert a["expect"] == "held"
                criterion = {
                    "gut_blank_ids": "unusable",
                    "gut_foreign_rows": "foreign",
                    "gut_removed": "removed",
                }
                assert measured[criterion[a["action"]]] >= 0.6, (a, measured)
            elif a["expect"] == "accepted":  # a normal resubmission: far from every limit
                assert max(measured.values()) <= 0.10, (a, measured)
            else:  # the same data as the roster in force
                assert a["expect"] == "duplicate" and measured["removed"] == 0, (a, measured)


def test_command_line_months(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from generator.__main__ import main

    assert main(["--out", str(tmp_path), "--scale", "0.01", "--seed", "3", "--months", "2"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["nights"] == 2 and summary["start"] == "2018-01-31"
    assert sorted(p.name for p in (tmp_path / "nights").iterdir()) == ["01", "02"]
    assert not (tmp_path / "inbox").exists()
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path), "--months", "0"])
