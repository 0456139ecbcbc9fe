"""Settings and policy: the one place that reads `FUPIN_*` environment variables and the
policy parameters of policy.md."""

from __future__ import annotations

import csv
import os
import threading
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent
DIVISIONS_CSV = CONFIG_DIR / "nanxiong_divisions.csv"
# The ten county-level units of 韶关市 (NBS 2016), for a city or province deployment; the
# rows of 南雄市 in it are exactly DIVISIONS_CSV's.
CITY_DIVISIONS_CSV = CONFIG_DIR / "shaoguan_divisions.csv"
HOME_COUNTY = "440282"  # 南雄市: the county of a single-county inbox
HOME_COUNTY_NAME = "南雄市"
POLICY_TOML = CONFIG_DIR / "policy.toml"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    policy_file: Path
    channels_file: Path
    inbox: Path
    # False when `policy_file` is not this county's own but the configured one (南雄市's):
    # its province-wide rules hold here, its figures (counts, targets, support units) do not.
    policy_figures: bool = True

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def files_dir(self) -> Path:
        """Every accepted or quarantined input file, stored unchanged by SHA-256."""
        return self.home / "files"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def exports_dir(self) -> Path:
        return self.home / "exports"

    @property
    def row_cache_dir(self) -> Path | None:
        """Parquet copies of the rows in force (`warehouse.row_cache`); None when
        FUPIN_ROW_CACHE=off (every read then goes to SQL)."""
        if os.environ.get("FUPIN_ROW_CACHE", "").strip().lower() in ("off", "0", "no", "false"):
            return None
        return self.home / "cache" / "rows"


def policy_path(path: str | Path | None = None) -> Path:
    """The policy file: `path`, else FUPIN_POLICY_FILE, else config/policy.toml.  The one
    place that resolves it: settings, `load_policy` and `value_limits` all ask here."""
    return Path(path or os.environ.get("FUPIN_POLICY_FILE") or POLICY_TOML)


# The warehouse and home a caller in this process chose (`using_settings`), ahead of the
# environment: how a flow learns them without a parameter Prefect would store and show.
_CHOSEN: ContextVar[tuple[str | None, Path | None]] = ContextVar(
    "fupin_settings", default=(None, None)
)


@contextmanager
def using_settings(
    database_url: str | None = None, home: str | Path | None = None
) -> Iterator[None]:
    """Within the block, `load_settings()` answers this warehouse and home (None: as before)."""
    token = _CHOSEN.set((database_url, Path(home) if home else None))
    try:
        yield
    finally:
        _CHOSEN.reset(token)


def load_settings(database_url: str | None = None, home: str | Path | None = None) -> Settings:
    """Settings from the environment; explicit arguments (the CLI's --db) win, then what
    `using_settings` chose."""
    chosen_url, chosen_home = _CHOSEN.get()
    home_path = Path(home or chosen_home or os.environ.get("FUPIN_HOME", "./var")).resolve()
    url = (
        database_url
        or chosen_url
        or os.environ.get("FUPIN_DATABASE_URL")
        or f"sqlite:///{home_path / 'fupin.db'}"
    )
    return Settings(
        home=home_path,
        database_url=url,
        policy_file=policy_path(),
        channels_file=Path(os.environ.get("FUPIN_CHANNELS_FILE", CONFIG_DIR / "channels.toml")),
        inbox=Path(os.environ.get("FUPIN_INBOX") or home_path / "inbox").resolve(),
    )


@dataclass(frozen=True)
class YearPolicy:
    year: int
    exit_line: float
    village_exit_line: float
    # Cumulative persons out of poverty by the end of the year; None where the county's
    # figures are not known (`Policy.figures_known`).
    target_persons_out: int | None
    target_via_dibao: int | None = None  # of which through 低保 coverage (兜底), when set
    all_villages_exit: bool = False  # every poor village exits by the end of the year
    # Township targets where the office sets them ([years.YYYY.townships], code = persons);
    # a township not listed gets the city share of its registered persons (policy.md).
    township_targets: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class HoldLimits:
    """When a township roster is held for the office instead of replacing the one in force
    (policy.toml, [submissions])."""

    removed_share: float  # of the persons in force, missing from the new roster
    unusable_id_share: float  # of its rows, with no ID or no ID-like text at all
    foreign_share: float  # of its rows, naming another township
    older_than_in_force: bool  # its title or file name says it is older than the one in force


@dataclass(frozen=True)
class InboxLimits:
    """How big an inbox file may be before it is quarantined unread (policy.toml, [inbox]).

    The defaults are generous: a county's enrolment CSV (~150 MB, 1.3M rows), a city's
    (~1.4 GB, 12.6M rows, `fupin generate --scale 10`), or the county's
    extract as a two-sheet workbook (~700 MB of sheet XML, ~15M cells) passes; a tiny
    workbook that would expand to gigabytes, or place one cell at XFD1048576, does not.
    A policy file without [inbox] (one archived with an older snapshot) gets these."""

    max_file_bytes: int = 2 * 1024**3  # the file on disk
    max_unzipped_bytes: int = 1024**3  # xlsx: all members together, as the zip says
    max_zip_ratio: float = 200.0  # xlsx: a member's uncompressed / compressed size (> 1 MB)
    max_zip_members: int = 10_000  # xlsx: entries in the zip directory
    max_cells: int = 50_000_000  # xlsx/xls: cells of the grids the reader would build


@dataclass(frozen=True)
class ValueLimits:
    """What an amount or a date may be (policy.toml, [values]).  Beyond these a value is a
    data-quality issue on its row and is left out of every rule, sum and indicator: the
    normaliser keeps the text in `*_raw` and leaves the typed column null.  A policy file
    without [values] (one archived with an older snapshot) gets these."""

    income_max: float = 100_000.0  # 年人均可支配收入, yuan per person per year
    dibao_monthly_max: float = 20_000.0  # 月保障金额, yuan per month
    settlement_max: float = 10_000_000.0  # any amount of one settlement bill, yuan
    earliest_date: date = date(1900, 1, 1)
    years_ahead: int = 1  # latest date: this many years after the day the file is read

    def latest_date(self, read_on: date) -> date:
        """The last plausible date in a file read on `read_on` (02-29 → 02-28)."""
        year = read_on.year + self.years_ahead
        return date(year, read_on.month, min(read_on.day, 28 if read_on.month == 2 else 31))


@dataclass(frozen=True)
class Assessment:
    """How the city assesses townships and villages (policy.toml, [assessment]; policy.md,
    "Assessment and accountability" and the 2018 village targets)."""

    rating_ok_share: float  # persons out ≥ this share of the cumulative target: 达标
    rating_warn_share: float  # ≥ this share: 预警; below: 未达标
    toilet_rate_line: float  # percent of households with a sanitary toilet, poor villages
    recall_severities: tuple[str, ...]  # findings that count as a village's problems
    recall_min_problems: int  # a village has problems at an assessment with this many open
    recall_min_streak: int  # consecutive half-year assessments with problems: recall
    direct_recall_unit_types: tuple[str, ...]  # Nanxiong's own units: recalled directly


@dataclass(frozen=True)
class Policy:
    """The rules of policy.md and the figures of one county's plan.

    The rules (income and exit lines, [values], [submissions], [inbox], overdue days, the
    medical-assistance share, the housing deadline, [assessment]) hold province-wide.  The
    figures are the county's own: its registered households and persons, poor villages,
    villages and townships ([city]), its targets per year (persons out, of which through
    低保, every poor village out) and its support-unit counts.  A county that keeps no
    policy file of its own borrows the configured one's rules without its figures
    (`without_figures`): then they are None (the counts and targets) or empty."""

    households: int | None
    persons: int | None
    poor_villages: int | None
    villages: int | None
    townships: int | None
    registration_income_line: float  # 2015 per-capita income below this: registered poor
    village_registration_income_line: float
    village_poor_share: float
    medical_assistance_share: float
    medical_assistance_tolerance: float
    housing_deadline: date
    overdue_days: int
    support_units: dict[str, int]
    years: dict[int, YearPolicy]
    submissions: HoldLimits
    inbox: InboxLimits
    values: ValueLimits
    assessment: Assessment

    @property
    def figures_known(self) -> bool:
        """Whether this policy carries its county's figures (counts and targets)."""
        return self.persons is not None

    def without_figures(self) -> Policy:
        """The rules alone: what a county without a policy file of its own takes from the
        configured one (南雄市's), whose counts, targets and support units are not its own."""
        return replace(
            self,
            households=None,
            persons=None,
            poor_villages=None,
            villages=None,
            townships=None,
            support_units={},
            years={
                y: replace(
                    p,
                    target_persons_out=None,
                    target_via_dibao=None,
                    all_villages_exit=False,
                    township_targets={},
                )
                for y, p in self.years.items()
            },
        )

    def year(self, year: int) -> YearPolicy:
        """The parameters of `year`; a year outside the table takes the nearest one."""
        if year in self.years:
            return self.years[year]
        nearest = min(self.years) if year < min(self.years) else max(self.years)
        return self.years[nearest]

    def exit_lines(self) -> dict[int, float]:
        return {y: p.exit_line for y, p in self.years.items()}

    def township_targets(self) -> list[tuple[str, int, int]]:
        """(township_code, year, cumulative target) of every township target set."""
        return [
            (code, y, n) for y, p in self.years.items() for code, n in p.township_targets.items()
        ]


# What a policy archived with an older snapshot may lack: these sections get their defaults.
_OPTIONAL_SECTIONS = ("inbox", "values", "assessment")
_DEFAULT_ASSESSMENT = Assessment(
    rating_ok_share=1.0,
    rating_warn_share=0.9,
    toilet_rate_line=97.0,
    recall_severities=("高",),
    recall_min_problems=1,
    recall_min_streak=2,
    direct_recall_unit_types=("南雄市直", "驻镇帮扶工作组"),
)


def load_policy(path: str | Path | None = None, *, figures: bool = True) -> Policy:
    """The policy of `path`, else of FUPIN_POLICY_FILE, else config/policy.toml; with
    `figures` False, its rules alone (`Policy.without_figures`).

    Every key of the file is read into the Policy; a key it does not know is an error (a
    misspelt key would otherwise leave its default in force without a word)."""
    resolved = policy_path(path).resolve()
    policy = _load_policy(resolved, resolved.read_text(encoding="utf-8"))
    return policy if figures else policy.without_figures()


@lru_cache(maxsize=8)
def _load_policy(path: Path, text: str) -> Policy:
    """Parsed once per file and content (an edited file is parsed again)."""
    data = tomllib.loads(text)
    unknown = sorted(
        set(data) - {"city", "submissions", "support_units", "years", *_OPTIONAL_SECTIONS}
    )
    if unknown:
        raise ValueError(f"{path} 中有无法识别的设置节：{'、'.join(unknown)}")
    city = _Section(data["city"], "city", path)
    hold = _Section(data["submissions"], "submissions", path)
    years = {}
    for y, v in data["years"].items():
        section = _Section(v, f"years.{y}", path)
        years[int(y)] = YearPolicy(
            int(y),
            section["exit_line"],
            section["village_exit_line"],
            section["target_persons_out"],
            section.optional("target_via_dibao", None, int),
            bool(section.optional("all_villages_exit", False)),
            {str(k): int(n) for k, n in section.optional("townships", {}).items()},
        )
        section.done()
    policy = Policy(
        households=city["households"],
        persons=city["persons"],
        poor_villages=city["poor_villages"],
        villages=city["villages"],
        townships=city["townships"],
        registration_income_line=city["registration_income_line"],
        village_registration_income_line=city["village_registration_income_line"],
        village_poor_share=city["village_poor_share"],
        medical_assistance_share=city["medical_assistance_share"],
        medical_assistance_tolerance=city["medical_assistance_tolerance"],
        housing_deadline=_date(city["housing_deadline"]),
        overdue_days=city["overdue_days"],
        support_units={str(k): int(v) for k, v in data["support_units"].items()},
        submissions=HoldLimits(
            removed_share=float(hold["hold_removed_share"]),
            unusable_id_share=float(hold["hold_unusable_id_share"]),
            foreign_share=float(hold["hold_foreign_share"]),
            older_than_in_force=bool(hold["hold_older_than_in_force"]),
        ),
        inbox=_inbox_limits(data.get("inbox", {}), path),
        values=_value_limits(_Section(data.get("values", {}), "values", path)),
        assessment=_assessment(_Section(data.get("assessment", {}), "assessment", path)),
        years=years,
    )
    city.done()
    hold.done()
    return policy


class _Section:
    """A TOML table read key by key; `done()` raises on any key nothing read."""

    def __init__(self, table: dict[str, Any], name: str, path: Path) -> None:
        self.table, self.name, self.path, self.read = table, name, path, set[str]()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self.table[key]

    def optional(self, key: str, default: Any, cast: Any = None) -> Any:
        self.read.add(key)
        if key not in self.table:
            return default
        return cast(self.table[key]) if cast else self.table[key]

    def done(self) -> None:
        unknown = sorted(set(self.table) - self.read)
        if unknown:
            raise ValueError(
                f"{self.path} 的 [{self.name}] 中有无法识别的设置：{'、'.join(unknown)}"
            )


def _date(value: object) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _assessment(section: _Section) -> Assessment:
    d = _DEFAULT_ASSESSMENT
    out = Assessment(
        rating_ok_share=float(section.optional("rating_ok_share", d.rating_ok_share)),
        rating_warn_share=float(section.optional("rating_warn_share", d.rating_warn_share)),
        toilet_rate_line=float(section.optional("toilet_rate_line", d.toilet_rate_line)),
        recall_severities=tuple(section.optional("recall_severities", d.recall_severities)),
        recall_min_problems=int(section.optional("recall_min_problems", d.recall_min_problems)),
        recall_min_streak=int(section.optional("recall_min_streak", d.recall_min_streak)),
        direct_recall_unit_types=tuple(
            section.optional("direct_recall_unit_types", d.direct_recall_unit_types)
        ),
    )
    section.done()
    return out


def _value_limits(section: _Section) -> ValueLimits:
    d = ValueLimits()
    out = ValueLimits(
        income_max=float(section.optional("income_max", d.income_max)),
        dibao_monthly_max=float(section.optional("dibao_monthly_max", d.dibao_monthly_max)),
        settlement_max=float(section.optional("settlement_max", d.settlement_max)),
        earliest_date=_date(section.optional("earliest_date", d.earliest_date)),
        years_ahead=int(section.optional("years_ahead", d.years_ahead)),
    )
    section.done()
    return out


def value_limits(path: str | Path | None = None) -> ValueLimits:
    """The [values] section of the policy file (`path`, else FUPIN_POLICY_FILE, else ours)."""
    return load_policy(path).values


def _inbox_limits(section: dict[str, Any], path: Path) -> InboxLimits:
    defaults = InboxLimits()
    unknown = sorted(set(section) - set(InboxLimits.__dataclass_fields__))
    if unknown:
        raise ValueError(f"{path} 的 [inbox] 中有无法识别的设置：{'、'.join(unknown)}")
    # int or float, as the default is: a limit written as 5e8 is still a number of bytes
    return replace(defaults, **{k: type(getattr(defaults, k))(v) for k, v in section.items()})


@dataclass(frozen=True)
class Village:
    code: str
    name: str
    township_code: str
    township: str
    urban_rural: str


@dataclass(frozen=True)
class Divisions:
    """One county's townships and administrative villages (NBS 2016); by default Nanxiong's
    18 townships and 208 villages."""

    townships: dict[str, str]  # code -> name
    villages: tuple[Village, ...]
    county_code: str = HOME_COUNTY
    county_name: str = HOME_COUNTY_NAME

    def short_name(self, code: str) -> str:
        """雄州街道办事处 → 雄州街道; towns keep their names (乌迳镇)."""
        return self.townships[code].removesuffix("办事处")

    def township_code(self, name: str) -> str | None:
        """Code of a township written as its full or short name, with or without 镇/街道."""
        key = _bare_township(name)
        for code, full in self.townships.items():
            if _bare_township(full) == key:
                return code
        return None


def _bare_township(name: str) -> str:
    name = name.strip().replace(" ", "").replace("\u3000", "")
    for suffix in ("街道办事处", "办事处", "街道", "镇", "乡"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


def takes_part(township_code: str) -> bool:
    """Whether a township-level unit keeps a poverty register: 街道 (001-099), 镇 (100-199)
    and 乡 (200-399) do; the special areas NBS numbers from 400 (工业园, 林场, 农场, 开发区)
    do not, as 南雄市's industrial park does not."""
    return int(township_code[-3:]) < 400


# The county this process works for (`working_for`): process-wide, not a ContextVar, because
# ingest validates on threads of its own, which would not see a context variable.  A worker
# of the multi-county nightly runs one county's task at a time (flows.city).
_WORKING_FOR: list[str] = [HOME_COUNTY]
_WORKING_LOCK = threading.Lock()


@contextmanager
def working_for(county: str) -> Iterator[None]:
    """Within the block, `load_divisions()` (and whatever is built from it: the expectation
    suites, the township lookups of ingest and reports) answers `county`.  Two different
    counties at once in one process would mix their divisions, so that is refused."""
    with _WORKING_LOCK:
        if len(_WORKING_FOR) > 1 and _WORKING_FOR[-1] != county:
            raise RuntimeError(f"this process already works for county {_WORKING_FOR[-1]}")
        _WORKING_FOR.append(county)
    try:
        yield
    finally:
        with _WORKING_LOCK:
            _WORKING_FOR.pop()


def current_county() -> str:
    """The county `load_divisions()` answers: the home county unless `working_for` says."""
    return _WORKING_FOR[-1]


def load_divisions(county: str | None = None) -> Divisions:
    """The divisions of `county` (6-digit code; default `current_county()`, which is the home
    county, 南雄市, unless a multi-county run works for another)."""
    return _load_divisions(county or current_county())


@lru_cache(maxsize=16)
def _load_divisions(code: str) -> Divisions:
    if code == HOME_COUNTY:
        with DIVISIONS_CSV.open(encoding="utf-8") as fh:
            return _divisions(list(csv.DictReader(fh)), code, HOME_COUNTY_NAME)
    rows = [r for r in _city_rows() if r["county_code"] == code]
    if not rows:
        known = "、".join(sorted(city_counties()))
        raise ValueError(f"县级区划代码 {code} 不在韶关市区划表中（可用：{known}）")
    return _divisions(rows, code, rows[0]["county_name"])


@lru_cache(maxsize=1)
def _city_rows() -> tuple[dict[str, str], ...]:
    with CITY_DIVISIONS_CSV.open(encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


def city_counties() -> dict[str, str]:
    """county code -> name, for every county of the city divisions file, in code order."""
    return {r["county_code"]: r["county_name"] for r in _city_rows()}


def _divisions(rows: list[dict[str, str]], county: str, county_name: str) -> Divisions:
    townships: dict[str, str] = {}
    villages: list[Village] = []
    for row in rows:
        if not takes_part(row["township_code"]):
            continue
        townships[row["township_code"]] = row["township_name"]
        if row["village_name"].endswith(("村委会", "村民委员会")):
            villages.append(
                Village(
                    row["village_code"],
                    row["village_name"],
                    row["township_code"],
                    row["township_name"],
                    row["urban_rural_code"],
                )
            )
    return Divisions(townships, tuple(villages), county, county_name)


def village_short(name: str) -> str:
    """珠玑村委会 → 珠玑村 (and 龙归村民委员会 → 龙归村): how clerks write a village."""
    if name.endswith("村委会"):
        return name.removesuffix("委会")
    return name.removesuffix("民委员会") if name.endswith("村民委员会") else name


@dataclass(frozen=True)
class Resources:
    """What an entry point (CLI command, flow, deployment) builds once and passes down: its
    settings, the policy of `settings.policy_file` (its rules alone where
    `settings.policy_figures` is False) and the divisions list."""

    settings: Settings
    policy: Policy
    divisions: Divisions


def load_resources(settings: Settings | None = None) -> Resources:
    settings = settings or load_settings()
    policy = load_policy(settings.policy_file, figures=settings.policy_figures)
    return Resources(settings, policy, load_divisions())
