"""The whole clean twin: the poor, everyone else, and what civil affairs and medical insurance
hold about them at the as-of date.

`people` is one frame of every person of the city that any source mentions (the poor, the
members of non-poor 低保 families and about 415,000 other insured residents), with one ID
each. The sources are built from it: the 低保/特困 roll as a list of row dicts (small,
edited by the injections), the enrolment as a frame of (pid, year, status, subsidy) rows
(large, vectorised) and the settlements as a frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl

from config.settings import village_short

from . import names
from .geography import Community, Geography, VillageInfo, build_geography
from .identities import assign_ids, choose_areas
from .params import RESIDENTS_PER_YEAR, GenParams
from .population import Household, Person, Population, _template, build_population

ENROL_RATE = 0.985  # share of residents enrolled in a given year

# Non-poor 低保/特困 families at scale 1: (category, status at D, how many, where).
FAMILY_PLAN = (
    ("城市低保", "在保", 380, "urban"),
    ("城市低保", "停保", 160, "urban"),
    ("农村低保", "停保", 700, "rural"),
    ("特困供养", "停保", 70, "rural"),
)
STOP_REASONS = (("收入超标", 0.62), ("迁出", 0.12), ("死亡", 0.14), ("其他", 0.12))
FAMILY_KINDS = (
    "elderly_single",
    "elderly_couple",
    "sick_family",
    "nuclear",
    "single_parent",
    "disabled_adult",
)


@dataclass
class DibaoRow:
    uid: int
    family_id: str
    township_code: str
    township: str
    village: str
    pid: int
    name: str
    identity: str
    relation: str
    category: str
    family_size: int
    monthly_amount: float
    status: str
    start_date: date
    stop_date: date | None = None
    stop_reason: str = ""
    id_written: str = ""  # what the roll holds when it differs from the identity
    name_written: str = ""
    poor: bool = False
    text: dict[str, str] = field(default_factory=dict)  # column -> exact text (issue injections)
    issues: list[tuple[str, str]] = field(default_factory=list)  # (kind, column), for the timeline

    @property
    def written_id(self) -> str:
        return self.id_written or self.identity

    @property
    def written_name(self) -> str:
        return self.name_written or self.name

    def covered_on(self, day: date) -> bool:
        return (
            self.status == "在保"
            and self.start_date <= day
            and (self.stop_date is None or self.stop_date > day)
        )


@dataclass
class World:
    params: GenParams
    geo: Geography
    pop: Population
    families: list[Household]  # non-poor 低保/特困 families
    people: pl.DataFrame  # pid, identity, name, sex, birth, area, township_code, township, village, kind, death_date, insured_key
    dibao: list[DibaoRow]
    enrolment: pl.DataFrame  # pid, year, enrol_status, person_status, subsidy
    settlements: pl.DataFrame  # settlement_id, pid, date, institution, costs…
    next_family_seq: dict[str, int] = field(default_factory=dict)

    def person(self, pid: int) -> Person:
        return self.pop.persons[pid]


# ---------------------------------------------------------------- residents


def _resident_places(geo: Geography, n: int, rng: np.random.Generator) -> pl.DataFrame:
    """Where residents live: villages by registered population, towns' 居委会 and the city.

    Returned as (township_code, township, village) columns built by a join on a small
    table of places, so no per-row Python strings are made.
    """
    places: list[tuple[str, str, str]] = []
    weights: list[float] = []
    for v in geo.villages:
        places.append((v.township_code, v.township, v.short))
        weights.append(float(v.population))
    for c in geo.communities:
        places.append((c.township_code, c.township, c.name.removesuffix("居委会")))
        weights.append(14000.0 if c.township.endswith("街道") else 4200.0)  # 雄州街道
    w = np.array(weights) / sum(weights)
    idx = rng.choice(len(places), size=n, p=w)
    table = pl.DataFrame(
        {
            "place": np.arange(len(places)),
            "township_code": [p[0] for p in places],
            "township": [p[1] for p in places],
            "village": [p[2] for p in places],
        }
    )
    return (
        pl.DataFrame({"place": idx})
        .join(table, on="place", how="left", maintain_order="left")
        .drop("place")
    )


def _resident_births(rng: np.random.Generator, n: int, as_of: date) -> np.ndarray:
    bands = np.array([[0.1, 15], [15, 30], [30, 45], [45, 60], [60, 75], [75, 96]])
    shares = np.array([0.17, 0.20, 0.22, 0.22, 0.13, 0.06])
    band = rng.choice(len(bands), size=n, p=shares)
    age_days = (rng.uniform(bands[band, 0], bands[band, 1]) * 365.25).astype(np.int64)
    return np.datetime64(as_of, "D") - age_days.astype("timedelta64[D]")


# ---------------------------------------------------------------- families (non-poor 低保)


def _make_families(
    geo: Geography, params: GenParams, start_pid: int
) -> tuple[list[Household], list[Person]]:
    rng = params.rng("families")
    rural = [v for v in geo.villages]
    urban = geo.communities
    families: list[Household] = []
    persons: list[Person] = []
    for category, status, count, where in FAMILY_PLAN:
        for _ in range(params.scaled(count, minimum=1)):
            kind = "elderly_single" if category == "特困供养" else str(rng.choice(FAMILY_KINDS))
            place = (
                urban[int(rng.integers(len(urban)))]
                if where == "urban"
                else rural[int(rng.integers(len(rural)))]
            )
            hh = Household(f"F{len(families):06d}", _pseudo_village(place), kind, category)
            hh.exit_status = status  # reused: 在保 / 停保
            for relation, sex, born, role in _template(kind, rng):
                p = Person(
                    start_pid + len(persons),
                    hh.hh_id,
                    relation,
                    sex,
                    born,
                    params.county,
                    role,
                    poor=False,
                )
                hh.members.append(p)
                persons.append(p)
            families.append(hh)
    pool, probs = names.surname_weights()
    family_names = np.array(pool)[rng.choice(len(pool), size=len(families), p=probs)]
    own_names = np.array(pool)[rng.choice(len(pool), size=len(persons), p=probs)]
    surnames = []
    for f_index, fam in enumerate(families):
        for p in fam.members:
            married_in = p.relation in ("配偶", "之儿媳", "之母")
            surnames.append(own_names[p.pid - start_pid] if married_in else family_names[f_index])
    given = names.random_names(
        rng,
        np.array([p.sex for p in persons]),
        np.array([p.birth.year for p in persons]),
        np.array(surnames),
    )
    for p, name in zip(persons, given, strict=True):
        p.name = name
    return families, persons


def _pseudo_village(place: VillageInfo | Community) -> VillageInfo:
    """Families live in a village or a community; give both the same shape."""
    if isinstance(place, Community):
        return VillageInfo(place.code, place.name, place.township_code, place.township)
    return place


# ---------------------------------------------------------------- the roll


def _month_start(day: date) -> date:
    return day.replace(day=1)


def _dibao_rows(
    pop: Population, families: list[Household], params: GenParams
) -> tuple[list[DibaoRow], dict[str, int]]:
    """The 低保/特困 roll: the poor 低保/特困 households (whole families) and the others.

    Also returns the last 家庭编号 sequence used per prefix, so that families added later
    continue the numbering instead of colliding with it."""
    rng = params.rng("dibao")
    as_of = params.as_of
    rows: list[DibaoRow] = []
    seq: dict[str, int] = {}

    def family_id(category: str, township_code: str) -> str:
        prefix = {"农村低保": "NB", "城市低保": "CB", "特困供养": "TK"}[category]
        key = params.family_prefix(prefix, township_code)
        seq[key] = seq.get(key, 0) + 1
        return f"{key}-{seq[key]:05d}"

    for hh in pop.households:
        if hh.attribute == "一般贫困户":
            continue
        category = "特困供养" if hh.attribute == "特困供养贫困户" else "农村低保"
        start = _month_start(date(2009, 1, 1) + timedelta(days=int(rng.integers(0, 7 * 365 + 150))))
        start = min(start, _month_start(as_of - timedelta(days=40)))
        hh.dibao_family = family_id(category, hh.township_code)
        hh.dibao_start = start
        _family_rows(rows, hh, hh.dibao_family, category, start, as_of, rng, poor=True)

    for fam in families:
        category = fam.attribute
        status = fam.exit_status
        start = _month_start(date(2010, 1, 1) + timedelta(days=int(rng.integers(0, 6 * 365))))
        start = min(start, _month_start(as_of - timedelta(days=400)))
        fid = family_id(category, fam.township_code)
        fam.dibao_family = fid
        if status == "停保":
            reason = "死亡" if category == "特困供养" else _pick(rng, STOP_REASONS)
            stop = start + timedelta(
                days=int(rng.integers(200, max((as_of - start).days - 10, 201)))
            )
            stop = min(stop, as_of - timedelta(days=5))
            _family_rows(
                rows, fam, fid, category, start, as_of, rng, poor=False, stop=(stop, reason)
            )
            if reason == "死亡":
                fam.members[0].status, fam.members[0].status_date = "死亡", stop
        else:
            _family_rows(rows, fam, fid, category, start, as_of, rng, poor=False)
    return rows, seq


def _pick(rng: np.random.Generator, table: tuple[tuple[str, float], ...]) -> str:
    probs = np.array([p for _, p in table])
    return table[int(rng.choice(len(table), p=probs / probs.sum()))][0]


def _family_rows(
    rows: list[DibaoRow],
    hh: Household,
    fid: str,
    category: str,
    start: date,
    as_of: date,
    rng: np.random.Generator,
    poor: bool,
    stop: tuple[date, str] | None = None,
) -> None:
    in_force = [p for p in hh.members if p.active]
    amount = {"农村低保": (260, 420), "城市低保": (380, 560), "特困供养": (760, 980)}[category]
    for p in hh.members:
        status, stop_date, reason = "在保", None, ""
        if stop is not None:  # the whole family stops; 死亡 is the reason of the head only
            status, stop_date, reason = "停保", stop[0], stop[1]
            if reason == "死亡" and p is not hh.members[0]:
                reason = "其他"
        elif not p.active and p.status_date is not None:
            status, stop_date = "停保", p.status_date
            reason = {"死亡": "死亡", "迁出": "迁出"}.get(p.status, "其他")
        rows.append(
            DibaoRow(
                uid=len(rows),
                family_id=fid,
                township_code=hh.township_code,
                township=hh.village.township,
                village=village_short(hh.village.name).removesuffix("居委会"),
                pid=p.pid,
                name=p.name,
                identity="",
                relation=p.relation,
                category=category,
                family_size=len(in_force) if stop is None else len(hh.members),
                monthly_amount=float(rng.integers(*amount)),
                status=status,
                start_date=start,
                stop_date=stop_date,
                stop_reason=reason,
                poor=poor,
            )
        )


# ---------------------------------------------------------------- enrolment and settlements


def _enrolment(people: pl.DataFrame, params: GenParams) -> pl.DataFrame:
    """One row per person and year while the person lives in the city.

    Dead people have a last row in the year of death with 人员状态 死亡; babies start in
    their birth year; about 1.5% of residents skip a year (the poor never do).
    """
    rng = params.rng("enrolment")
    frames = []
    for year in params.years:
        start = date(year, 1, 1)
        n = people.height
        skip = (rng.random(n) > ENROL_RATE) & (people["kind"] == "resident").to_numpy()
        paused = rng.random(n) < 0.004
        f = people.select(
            "pid", "kind", "birth", "death_date", "subsidy_base", "gone_date"
        ).with_columns(
            year=pl.lit(year, dtype=pl.Int16),
            skip=pl.Series(skip),
            paused=pl.Series(paused),
        )
        f = f.filter(
            (pl.col("birth").dt.year() <= year)
            & (pl.col("death_date").is_null() | (pl.col("death_date") >= start))
            & (pl.col("gone_date").is_null() | (pl.col("gone_date") >= start))
            & ~pl.col("skip")
        )
        died = (
            pl.col("death_date").is_not_null()
            & (pl.col("death_date").dt.year() == year)
            & (pl.col("death_date") <= params.as_of)
        )
        f = f.with_columns(
            enrol_status=pl.when(pl.col("paused") & (pl.col("kind") == "resident"))
            .then(pl.lit("暂停参保"))
            .otherwise(pl.lit("参保缴费")),
            person_status=pl.when(died).then(pl.lit("死亡")).otherwise(pl.lit("正常")),
            subsidy=pl.col("subsidy_base"),
        )
        frames.append(f.select("pid", "year", "enrol_status", "person_status", "subsidy"))
    return pl.concat(frames)


def _settlements(people: pl.DataFrame, enrolment: pl.DataFrame, params: GenParams) -> pl.DataFrame:
    """Settled bills: about a quarter of the poor and one resident in twenty-five a year.

    The medical assistance of the poor covers at least 70% of what insurance left, rounded
    up to the fen, so that no natural bill breaks R13.
    """
    rng = params.rng("settlements")
    base = enrolment.join(
        people.select("pid", "kind", "birth", "death_date", "dibao_now"), on="pid"
    ).filter(pl.col("enrol_status") == "参保缴费")
    n = base.height
    rate = np.where(
        (base["kind"] == "poor").to_numpy(),
        0.27,
        np.where(base["dibao_now"].to_numpy(), 0.12, 0.04),
    )
    elapsed = ((params.as_of - date(params.year, 1, 1)).days + 1) / 365
    rate = np.where(
        base["year"].to_numpy() == params.year, rate * elapsed, rate
    )  # the as-of year so far
    chosen = rng.random(n) < rate
    base = base.filter(pl.Series(chosen))
    n = base.height
    year = base["year"].to_numpy().astype(int)
    year_start = np.array([np.datetime64(f"{y}-01-01") for y in range(2016, params.year + 2)])
    first = year_start[year - 2016]
    last_day = np.where(
        year == params.year, np.datetime64(params.as_of, "D"), year_start[year - 2016 + 1] - 1
    )
    birth = base["birth"].to_numpy().astype("datetime64[D]")
    first = np.maximum(first, birth)
    death = base["death_date"].to_numpy()
    death = np.where(np.isnat(death), last_day, death.astype("datetime64[D]"))
    last = np.minimum(last_day, death)
    span = np.maximum((last - first).astype(np.int64), 0)
    day = first + (rng.random(n) * (span + 1)).astype(np.int64).astype("timedelta64[D]")
    total = np.round(np.exp(rng.normal(7.6, 1.2, n)) + 80, 2)
    eligible = np.round(total * rng.uniform(0.72, 0.96, n), 2)
    basic = np.round(eligible * rng.uniform(0.5, 0.78, n), 2)
    serious = np.round(np.where(eligible > 20000, (eligible - basic - 9000).clip(0) * 0.6, 0.0), 2)
    remaining = np.round(eligible - basic - serious, 2)
    poor = (base["kind"] == "poor").to_numpy()
    dibao = base["dibao_now"].to_numpy()
    share = np.where(poor, rng.uniform(0.7, 1.0, n), np.where(dibao, rng.uniform(0.3, 0.7, n), 0.0))
    assistance = np.ceil(np.round(remaining * share * 100, 6)) / 100
    assistance = np.where(
        poor, np.maximum(assistance, np.ceil(np.round(remaining * 70, 6)) / 100), assistance
    )
    pool = names.hospitals(params.county_name)
    hospitals = np.array(pool, dtype=object)[rng.integers(0, len(pool), n)]
    frame = pl.DataFrame(
        {
            "pid": base["pid"],
            "settle_date": pl.Series(day).cast(pl.Date),
            "institution": hospitals,
            "total_cost": total,
            "eligible_cost": eligible,
            "basic_paid": basic,
            "serious_paid": serious,
            "assistance_paid": assistance,
        }
    ).sort("settle_date", "pid")
    return frame.with_columns(
        settlement_id=pl.format(
            "JS{}" + params.settlement_tag + "{}",
            pl.col("settle_date").dt.strftime("%Y%m%d"),
            (pl.int_range(pl.len()).over(pl.col("settle_date")) + 1).cast(pl.Utf8).str.zfill(5),
        )
    )


# ---------------------------------------------------------------- assembling


def build_world(params: GenParams) -> World:
    if params.year < 2016:
        raise ValueError("the as-of date must be in 2016 or later (the plan starts in 2016)")
    geo = build_geography(params)
    pop = build_population(geo, params)
    families, fam_persons = _make_families(geo, params, start_pid=len(pop.persons))
    dibao, family_seq = _dibao_rows(pop, families, params)
    people = _people(pop, families, fam_persons, dibao, geo, params)
    ids = dict(zip(people["pid"].to_list(), people["identity"].to_list(), strict=True))
    for p in pop.persons:
        p.identity = ids[p.pid]
    for p in fam_persons:
        p.identity = ids[p.pid]
    for row in dibao:
        row.identity = ids[row.pid]
    enrolment = _enrolment(people, params)
    settlements = _settlements(people, enrolment, params)
    world = World(params, geo, pop, families, people, dibao, enrolment, settlements)
    world.next_family_seq = dict(family_seq)
    return world


def _people(
    pop: Population,
    families: list[Household],
    fam_persons: list[Person],
    dibao: list[DibaoRow],
    geo: Geography,
    params: GenParams,
) -> pl.DataFrame:
    """Every person any source mentions, with a unique valid ID."""
    rng = params.rng("residents")
    poor_and_fam = pop.persons + fam_persons
    hh_of = {h.hh_id: h for h in pop.households + families}
    covered = {r.pid: r.category for r in dibao if r.covered_on(params.as_of)}
    n_res = max(
        params.scaled((RESIDENTS_PER_YEAR - params.plan("persons")) / ENROL_RATE * 1.012)
        - len(fam_persons),
        10,
    )

    res_sex = np.where(rng.random(n_res) < 0.51, "男", "女")
    res_birth = _resident_births(rng, n_res, params.as_of)
    res_area = choose_areas(rng, n_res, local_share=0.9, county=params.county)
    places = _resident_places(geo, n_res, rng)
    res_names = names.random_names(
        rng, res_sex, res_birth.astype("datetime64[Y]").astype(int) + 1970
    )
    res_age = (np.datetime64(params.as_of, "D") - res_birth).astype(np.int64) / 365.25
    death_p = np.clip(0.004 * (len(params.years)) * np.exp((res_age - 60) / 12), 0, 0.6)
    dies = rng.random(n_res) < death_p
    start = np.datetime64("2016-01-01")
    span = (np.datetime64(params.as_of, "D") - start).astype(np.int64)
    death = np.where(
        dies,
        start + (rng.random(n_res) * span).astype(np.int64).astype("timedelta64[D]"),
        np.datetime64("NaT"),
    )
    death = np.where(dies & (death < res_birth), np.datetime64("NaT"), death)

    def subsidy_of(p: Person) -> str:
        if not p.poor:
            return (
                "低保对象"
                if p.pid in covered and covered[p.pid] != "特困供养"
                else ("特困人员" if p.pid in covered else "无")
            )
        hh = hh_of[p.hh_id]
        if hh.attribute == "特困供养贫困户":
            return "特困人员"
        if hh.attribute == "低保贫困户" and p.pid % 2:
            return "低保对象"
        return "建档立卡贫困人口"

    def gone(p: Person) -> date | None:
        if p.status == "迁出" and p.status_date is not None:
            return date(p.status_date.year + 1, 1, 1)
        return None

    known = pl.DataFrame(
        {
            "pid": [p.pid for p in poor_and_fam],
            "name": [p.name for p in poor_and_fam],
            "sex": [p.sex for p in poor_and_fam],
            "birth": [p.birth for p in poor_and_fam],
            "area": [p.area for p in poor_and_fam],
            "township_code": [hh_of[p.hh_id].township_code for p in poor_and_fam],
            "township": [hh_of[p.hh_id].village.township for p in poor_and_fam],
            "village": [hh_of[p.hh_id].village.short.removesuffix("居委会") for p in poor_and_fam],
            "kind": ["poor" if p.poor else "family" for p in poor_and_fam],
            "death_date": [p.status_date if p.status == "死亡" else None for p in poor_and_fam],
            "gone_date": [gone(p) for p in poor_and_fam],
            "subsidy_base": [subsidy_of(p) for p in poor_and_fam],
            "dibao_now": [p.pid in covered for p in poor_and_fam],
        },
        schema_overrides={"birth": pl.Date, "death_date": pl.Date, "gone_date": pl.Date},
    )
    first_res = len(poor_and_fam)
    residents = pl.DataFrame(
        {
            "pid": np.arange(first_res, first_res + n_res),
            "name": res_names,
            "sex": pl.Series(res_sex.tolist(), dtype=pl.Categorical).cast(pl.Utf8),
            "birth": pl.Series(res_birth).cast(pl.Date),
            "area": pl.Series(res_area.tolist(), dtype=pl.Categorical).cast(pl.Utf8),
            **{c: places[c] for c in ("township_code", "township", "village")},
            "kind": "resident",
            "death_date": pl.Series(death).cast(pl.Date),
            "gone_date": pl.Series([None] * n_res, dtype=pl.Date),
            "subsidy_base": "无",
            "dibao_now": False,
        }
    )
    people = pl.concat([known, residents], how="vertical_relaxed")
    ids = assign_ids(
        people["area"].to_numpy().astype(object),
        people["birth"].to_numpy().astype("datetime64[D]"),
        people["sex"].to_numpy().astype(object),
        params.rng("ids"),
        params.id_county,
    )
    return people.with_columns(
        identity=pl.Series(ids, dtype=pl.Utf8),
        insured_key=pl.format(
            params.insured_prefix() + "{}", pl.col("pid").cast(pl.Utf8).str.zfill(7)
        ),
    )
