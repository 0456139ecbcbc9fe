"""Settings and policy: the one place that reads `FUPIN_*` environment variables and the
policy parameters of policy.md."""

from __future__ import annotations

import csv
import os
import tomllib
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

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
        years={
            int(y): YearPolicy(
                int(y), v["exit_line"], v["village_exit_line"], v["target_persons_out"]
            )
            for y, v in data["years"].items()
        },
    )


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
