"""Settings and policy: the one place that reads `FUPIN_*` environment variables and the
policy parameters of policy.md."""

from __future__ import annotations

import csv
import os
import tomllib
from dataclasses import dataclass, replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent
DIVISIONS_CSV = CONFIG_DIR / "nanxiong_divisions.csv"
POLICY_TOML = CONFIG_DIR / "policy.toml"


@dataclass(frozen=True)
class Settings:
    home: Path
    database_url: str
    policy_file: Path
    channels_file: Path
    inbox: Path

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


def load_settings(database_url: str | None = None, home: str | Path | None = None) -> Settings:
    """Settings from the environment; explicit arguments (the CLI's --db) win."""
    home_path = Path(home or os.environ.get("FUPIN_HOME", "./var")).resolve()
    url = (
        database_url
        or os.environ.get("FUPIN_DATABASE_URL")
        or f"sqlite:///{home_path / 'fupin.db'}"
    )
    return Settings(
        home=home_path,
        database_url=url,
        policy_file=Path(os.environ.get("FUPIN_POLICY_FILE", POLICY_TOML)),
        channels_file=Path(os.environ.get("FUPIN_CHANNELS_FILE", CONFIG_DIR / "channels.toml")),
        inbox=Path(os.environ.get("FUPIN_INBOX") or home_path / "inbox").resolve(),
    )


@dataclass(frozen=True)
class YearPolicy:
    year: int
    exit_line: float
    village_exit_line: float
    target_persons_out: int


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
class Policy:
    households: int
    persons: int
    poor_villages: int
    villages: int
    townships: int
    medical_assistance_share: float
    medical_assistance_tolerance: float
    housing_deadline: date
    overdue_days: int
    support_units: dict[str, int]
    years: dict[int, YearPolicy]
    submissions: HoldLimits
    inbox: InboxLimits

    def year(self, year: int) -> YearPolicy:
        """The parameters of `year`; a year outside the table takes the nearest one."""
        if year in self.years:
            return self.years[year]
        nearest = min(self.years) if year < min(self.years) else max(self.years)
        return self.years[nearest]

    def exit_lines(self) -> dict[int, float]:
        return {y: p.exit_line for y, p in self.years.items()}


@lru_cache(maxsize=4)
def load_policy(path: Path | None = None) -> Policy:
    data = tomllib.loads((path or POLICY_TOML).read_text(encoding="utf-8"))
    city = data["city"]
    hold = data["submissions"]
    return Policy(
        households=city["households"],
        persons=city["persons"],
        poor_villages=city["poor_villages"],
        villages=city["villages"],
        townships=city["townships"],
        medical_assistance_share=city["medical_assistance_share"],
        medical_assistance_tolerance=city["medical_assistance_tolerance"],
        housing_deadline=date.fromisoformat(city["housing_deadline"]),
        overdue_days=city["overdue_days"],
        support_units=dict(data["support_units"]),
        submissions=HoldLimits(
            removed_share=float(hold["hold_removed_share"]),
            unusable_id_share=float(hold["hold_unusable_id_share"]),
            foreign_share=float(hold["hold_foreign_share"]),
            older_than_in_force=bool(hold["hold_older_than_in_force"]),
        ),
        inbox=_inbox_limits(data.get("inbox", {}), path or POLICY_TOML),
        years={
            int(y): YearPolicy(
                int(y), v["exit_line"], v["village_exit_line"], v["target_persons_out"]
            )
            for y, v in data["years"].items()
        },
    )


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
    """Nanxiong's 18 townships and 208 administrative villages (NBS 2016)."""

    townships: dict[str, str]  # code -> name
    villages: tuple[Village, ...]

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


@lru_cache(maxsize=1)
def load_divisions() -> Divisions:
    townships: dict[str, str] = {}
    villages: list[Village] = []
    with DIVISIONS_CSV.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            if row["township_code"].endswith("400"):
                continue  # the industrial park is not a township
            townships[row["township_code"]] = row["township_name"]
            if row["village_name"].endswith("村委会"):
                villages.append(
                    Village(
                        row["village_code"],
                        row["village_name"],
                        row["township_code"],
                        row["township_name"],
                        row["urban_rural_code"],
                    )
                )
    return Divisions(townships, tuple(villages))


def village_short(name: str) -> str:
    """珠玑村委会 → 珠玑村: how clerks write a village."""
    return name.removesuffix("委会") if name.endswith("村委会") else name


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


def value_limits(path: Path | None = None) -> ValueLimits:
    """The [values] section of the policy file (`path`, else FUPIN_POLICY_FILE, else ours)."""
    return _value_limits(path or Path(os.environ.get("FUPIN_POLICY_FILE", POLICY_TOML)))


@lru_cache(maxsize=4)
def _value_limits(path: Path) -> ValueLimits:
    section = tomllib.loads(path.read_text(encoding="utf-8")).get("values", {})
    default = ValueLimits()
    earliest = section.get("earliest_date", default.earliest_date)
    return ValueLimits(
        income_max=float(section.get("income_max", default.income_max)),
        dibao_monthly_max=float(section.get("dibao_monthly_max", default.dibao_monthly_max)),
        settlement_max=float(section.get("settlement_max", default.settlement_max)),
        earliest_date=earliest if isinstance(earliest, date) else date.fromisoformat(earliest),
        years_ahead=int(section.get("years_ahead", default.years_ahead)),
    )
