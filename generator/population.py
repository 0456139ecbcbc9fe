"""The registered poor of a county (Nanxiong by default) as they really are at the as-of date (the clean twin).

Households are built from family templates (a couple with children, three generations, an
old person alone, grandparents with left-behind grandchildren …) so that relations, ages,
sexes, labour capacity and schooling agree with one another. Everything here is the truth
before any clerk touches it; `inject` then breaks it on purpose and `mess` decides how each
value is typed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from config.schema import COMPULSORY_GRADES, LABOUR_CAPABLE

from . import names
from .geography import Geography, VillageInfo, _largest_remainder, assign_cadres
from .identities import choose_areas
from .params import GenParams

REGISTERED_ON = date(2016, 6, 30)  # ages of the templates are ages on this day
EVENTS_FROM = date(2016, 7, 1)

GRADES = COMPULSORY_GRADES

# Household kinds: (attribute, share of households). Shares put about 5,500 of 15,888
# persons in 低保/特困 households, enough for the plan's 5,000 兜底 exits of 2016.
# Each entry: the share, then (template, weight) pairs.
KINDS: dict[str, tuple[float, *tuple[tuple[str, float], ...]]] = {
    "一般贫困户": (
        0.52,
        ("nuclear", 0.40),
        ("three_gen", 0.15),
        ("couple", 0.15),
        ("grandkids", 0.10),
        ("single", 0.10),
        ("single_parent", 0.10),
    ),
    "低保贫困户": (
        0.40,
        ("elderly_single", 0.28),
        ("elderly_couple", 0.25),
        ("disabled_adult", 0.15),
        ("sick_family", 0.17),
        ("left_behind", 0.15),
    ),
    "特困供养贫困户": (0.08, ("wubao", 1.0)),
}
CAUSES = {
    "nuclear": ("缺资金", "缺技术", "因学", "缺土地"),
    "three_gen": ("因病", "缺资金", "因学"),
    "couple": ("缺技术", "缺资金", "交通条件落后"),
    "grandkids": ("因学", "缺资金"),
    "single": ("自身发展动力不足", "缺技术", "因灾"),
    "single_parent": ("缺劳力", "因学"),
    "elderly_single": ("缺劳力", "因病"),
    "elderly_couple": ("缺劳力", "因病"),
    "disabled_adult": ("因残",),
    "sick_family": ("因病",),
    "left_behind": ("缺劳力", "因学"),
    "wubao": ("缺劳力", "因残", "因病"),
}


@dataclass
class Person:
    pid: int
    hh_id: str
    relation: str
    sex: str
    birth: date
    area: str
    role: str = ""  # template role: disabled, sick, student …
    name: str = ""
    identity: str = ""
    labour: str = "无劳动力"
    health: str = "健康"
    school: str = "非在校生"
    status: str = "正常"
    status_date: date | None = None
    poor: bool = True

    @property
    def active(self) -> bool:
        return self.status == "正常"

    def age_on(self, day: date) -> int:
        return (
            day.year - self.birth.year - ((day.month, day.day) < (self.birth.month, self.birth.day))
        )


@dataclass
class Household:
    hh_id: str
    village: VillageInfo
    kind: str
    attribute: str
    members: list[Person] = field(default_factory=list)
    cause: str = ""
    income: float = 0.0
    exit_date: date | None = None
    exit_status: str = "未脱贫"
    exit_year: int | None = None
    housing_2016: str = "安全"
    renovated_on: date | None = None
    housing: str = "安全"
    water_safe: bool = True
    support_unit: str = ""
    cadre: str = ""
    phone: str = ""
    dibao_family: str = ""  # 低保 家庭编号 when covered
    dibao_start: date | None = None

    @property
    def township_code(self) -> str:
        return self.village.township_code

    @property
    def active_members(self) -> list[Person]:
        return [p for p in self.members if p.active]

    @property
    def labour_capable(self) -> bool:
        return any(p.labour in LABOUR_CAPABLE for p in self.active_members)

    @property
    def head(self) -> Person:
        return self.members[0]


@dataclass
class Population:
    households: list[Household]
    persons: list[Person]

    @property
    def by_hh(self) -> dict[str, Household]:
        return {h.hh_id: h for h in self.households}


# ---------------------------------------------------------------- templates


def _born(rng: np.random.Generator, age_lo: float, age_hi: float) -> date:
    lo, hi = sorted((age_lo, age_hi))
    age_days = int(rng.uniform(lo, hi + 1) * 365.25)
    return REGISTERED_ON - timedelta(days=age_days)


def _age(birth: date) -> float:
    return (REGISTERED_ON - birth).days / 365.25


class _Family:
    """Adds members to a family with believable ages and relations."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.members: list[tuple[str, str, date, str]] = []  # relation, sex, birth, role

    def add(self, relation: str, sex: str, lo: float, hi: float, role: str = "") -> date:
        born = _born(self.rng, lo, hi)
        self.members.append((relation, sex, born, role))
        return born

    def head_and_spouse(
        self, lo: float, hi: float, head_role: str = "", spouse: bool = True
    ) -> float:
        head_sex = "男" if self.rng.random() < 0.9 else "女"
        born = self.add("户主", head_sex, lo, hi, head_role)
        age = _age(born)
        if spouse:
            gap = self.rng.uniform(-1, 6)
            self.add(
                "配偶", "女" if head_sex == "男" else "男", max(age - gap, 18), max(age - gap, 18)
            )
        return age

    def children(
        self, parent_age: float, k: int, relation_son: str = "之子", relation_daughter: str = "之女"
    ) -> None:
        for _ in range(k):
            age = parent_age - self.rng.uniform(21, 36)
            if age < 0.5:
                age = self.rng.uniform(0.5, 3)
            sex = "男" if self.rng.random() < 0.53 else "女"
            self.add(relation_son if sex == "男" else relation_daughter, sex, age, age)


def _template(kind: str, rng: np.random.Generator) -> list[tuple[str, str, date, str]]:
    f = _Family(rng)
    r = rng.random
    if kind == "nuclear":
        age = f.head_and_spouse(30, 52)
        f.children(age, int(rng.choice([1, 1, 2, 2, 3])))
    elif kind == "three_gen":
        age = f.head_and_spouse(34, 52)
        f.children(age, int(rng.choice([1, 1, 2])))
        f.add("之母", "女", age + 22, age + 32, "elder")
        if r() < 0.5:
            f.add("之父", "男", age + 24, age + 34, "elder")
    elif kind == "couple":
        f.head_and_spouse(38, 60)
    elif kind == "grandkids":
        age = f.head_and_spouse(55, 63)
        son = age - rng.uniform(24, 30)
        f.add("之子", "男", son, son)
        wife = max(son - rng.uniform(0, 4), 20)
        f.add("之儿媳", "女", wife, wife)
        for _ in range(int(rng.choice([1, 2]))):
            sex = "男" if r() < 0.53 else "女"
            f.add("之孙子" if sex == "男" else "之孙女", sex, 1, max(son - 21, 2))
    elif kind == "single":
        f.head_and_spouse(24, 56, spouse=False)
    elif kind == "single_parent":
        age = f.head_and_spouse(30, 50, spouse=False)
        f.children(age, int(rng.choice([1, 2])))
    elif kind == "elderly_single":
        f.head_and_spouse(66, 88, head_role="elder", spouse=False)
    elif kind == "elderly_couple":
        f.head_and_spouse(66, 84, head_role="elder")
        f.members[1] = (*f.members[1][:3], "elder")
    elif kind == "disabled_adult":
        age = f.head_and_spouse(28, 58, head_role="disabled", spouse=False)
        f.add("之母", "女", age + 22, age + 30, "elder")
    elif kind == "sick_family":
        age = f.head_and_spouse(36, 55, head_role="sick")
        f.members[1] = (*f.members[1][:3], "weak" if r() < 0.5 else "carer")
        f.children(age, int(rng.choice([1, 2])))
        for i, m in enumerate(f.members[2:], start=2):
            if _age(m[2]) >= 14:
                f.members[i] = (
                    m[0],
                    m[1],
                    REGISTERED_ON - timedelta(days=int(rng.uniform(5, 13) * 365.25)),
                    m[3],
                )
    elif kind == "left_behind":
        f.head_and_spouse(60, 78, head_role="elder", spouse=False)
        for _ in range(int(rng.choice([1, 2, 2]))):
            sex = "男" if r() < 0.53 else "女"
            f.add("之孙子" if sex == "男" else "之孙女", sex, 3, 12)
    elif kind == "wubao":
        if r() < 0.8:
            f.head_and_spouse(62, 90, head_role="elder", spouse=False)
        else:
            f.head_and_spouse(35, 60, head_role="disabled", spouse=False)
    else:  # pragma: no cover - a programming error
        raise ValueError(kind)
    return f.members


# ---------------------------------------------------------------- person attributes at D


def _school(age: int, rng: np.random.Generator, kind: str) -> str:
    if age < 3:
        return "非在校生"
    if age < 6:
        return "学前教育"
    if age <= 15:
        return GRADES[min(age - 6, 8)]
    if age <= 18:
        x = rng.random()
        if x < 0.55:
            return ("高中一年级", "高中二年级", "高中三年级")[min(age - 16, 2)]
        if x < 0.85:
            return ("中职一年级", "中职二年级", "中职三年级")[min(age - 16, 2)]
        return "非在校生"
    if age <= 22 and kind in ("nuclear", "three_gen", "single_parent") and rng.random() < 0.3:
        return "大专及以上"
    return "非在校生"


def _labour_and_health(p: Person, age: int, rng: np.random.Generator) -> tuple[str, str]:
    if p.role == "disabled":
        return "丧失劳动力", "残疾"
    if p.role == "sick":
        return "丧失劳动力", "患有大病" if rng.random() < 0.6 else "长期慢性病"
    if age < 16 or p.school != "非在校生":
        return "无劳动力", "健康" if rng.random() < 0.96 else "长期慢性病"
    if p.role == "weak":
        return "弱劳动力或半劳动力", "长期慢性病"
    if p.role == "carer":
        return "无劳动力", "长期慢性病"
    if age >= 70 or p.role == "elder":
        return ("丧失劳动力" if rng.random() < 0.3 else "无劳动力"), (
            "长期慢性病" if rng.random() < 0.55 else "健康"
        )
    if age >= 60:
        return "弱劳动力或半劳动力", "长期慢性病" if rng.random() < 0.4 else "健康"
    health = "健康" if rng.random() < 0.9 else "长期慢性病"
    return ("技能劳动力" if rng.random() < 0.22 else "普通劳动力"), health


# ---------------------------------------------------------------- building


def allocate_households(geo: Geography, params: GenParams) -> dict[str, int]:
    """Households per village: poor villages hold about twice as many, 雄州街道 few.

    Every township gets at least two households, so a tiny scale still exercises all 18
    workbooks.
    """
    rng = params.rng("allocation")
    total = params.scaled(params.plan("households"), minimum=36)
    weights = np.array(
        [
            (2.1 if v.is_poor else 1.0)
            * (0.35 if v.township.endswith("街道") else 1.0)  # 雄州街道 in Nanxiong
            * rng.uniform(0.6, 1.4)
            for v in geo.villages
        ]
    )
    codes = sorted(geo.townships)
    t_weights = np.array(
        [weights[[v.township_code == c for v in geo.villages]].sum() for c in codes]
    )
    base = min(2, total // len(codes))
    per_township = _largest_remainder(t_weights, total - base * len(codes)) + base
    out: dict[str, int] = {}
    for code, k in zip(codes, per_township, strict=True):
        idx = [i for i, v in enumerate(geo.villages) if v.township_code == code]
        shares = _largest_remainder(weights[idx], int(k))
        for i, s in zip(idx, shares, strict=True):
            if s:
                out[geo.villages[i].code] = int(s)
    return out


def _kinds(rng: np.random.Generator, n: int) -> list[tuple[str, str]]:
    attrs = list(KINDS)
    shares = np.array([KINDS[a][0] for a in attrs])
    chosen = rng.choice(len(attrs), size=n, p=shares / shares.sum())
    out = []
    for a in chosen:
        attr = attrs[int(a)]
        templates = KINDS[attr][1:]
        probs = np.array([p for _, p in templates])
        t = templates[int(rng.choice(len(templates), p=probs / probs.sum()))][0]
        out.append((attr, t))
    return out


def build_population(geo: Geography, params: GenParams) -> Population:
    rng = params.rng("population")
    per_village = allocate_households(geo, params)
    assign_cadres(geo.villages, per_village, params)
    village_list = [v for v in geo.villages if v.code in per_village]
    slots = [v for v in village_list for _ in range(per_village[v.code])]
    kinds = _kinds(rng, len(slots))
    target_persons = params.scaled(params.plan("persons"), minimum=len(slots))
    families = [_template(t, rng) for _, t in kinds]
    _fit_total(families, kinds, target_persons, rng)

    households: list[Household] = []
    persons: list[Person] = []
    seq_in_village: dict[str, int] = {}
    for village, (attr, kind), family in zip(slots, kinds, families, strict=True):
        seq_in_village[village.code] = seq_in_village.get(village.code, 0) + 1
        hh_id = f"{village.code}{seq_in_village[village.code]:03d}"
        hh = Household(hh_id, village, kind, attr, cause=str(rng.choice(CAUSES[kind])))
        for relation, sex, born, role in family:
            p = Person(len(persons), hh_id, relation, sex, born, "", role)
            hh.members.append(p)
            persons.append(p)
        households.append(hh)

    _areas_and_names(persons, households, rng, params.county)
    for hh in households:
        for p in hh.members:
            age = p.age_on(params.as_of)
            p.school = _school(age, rng, hh.kind)
            p.labour, p.health = _labour_and_health(p, age, rng)
    _life_events(households, params, rng)
    _exits(households, params, rng)
    _household_state(households, params, rng)
    return Population(households, persons)


def _fit_total(families: list, kinds: list, target: int, rng: np.random.Generator) -> None:
    """Add or remove children until the person count is exact."""
    total = sum(len(f) for f in families)
    ordinary = [
        i for i, (a, t) in enumerate(kinds) if t in ("nuclear", "three_gen", "single_parent")
    ]
    removable = [i for i, (a, t) in enumerate(kinds) if t not in ("sick_family",)]
    guard, limit = 0, 50 * abs(total - target) + 1000
    while total != target and ordinary and guard < limit:
        guard += 1
        pool = removable if total > target else ordinary
        i = pool[int(rng.integers(len(pool)))]
        fam = families[i]
        kids = [
            k
            for k, m in enumerate(fam)
            if m[0] in ("之子", "之女", "之孙子", "之孙女", "之父", "之母")
        ]
        if total > target and kids and len(fam) > 1:
            fam.pop(kids[-1])
            total -= 1
        elif total < target and len(kids) < 4:
            head_age = _age(fam[0][2])
            sex = "男" if rng.random() < 0.53 else "女"
            age = max(head_age - rng.uniform(22, 36), 0.6)
            fam.append(("之子" if sex == "男" else "之女", sex, _born(rng, age, age), ""))
            total += 1


def _areas_and_names(
    persons: list[Person], households: list[Household], rng: np.random.Generator, county: str
) -> None:
    """Spouses and daughters-in-law often come from elsewhere; children take the head's surname."""
    married_in = {"配偶", "之儿媳"}
    outside = choose_areas(rng, len(persons), local_share=0.0, county=county)
    local_share = rng.random(len(persons))
    surnames_pool, probs = names.surname_weights()
    own_draw = np.array(surnames_pool)[rng.choice(len(surnames_pool), size=len(persons), p=probs)]
    family_draw = np.array(surnames_pool)[
        rng.choice(len(surnames_pool), size=len(households), p=probs)
    ]
    mother_keeps = rng.random(len(persons)) < 0.9
    surnames = np.empty(len(persons), dtype=object)
    for h_index, hh in enumerate(households):
        head = hh.head
        for p in hh.members:
            from_outside = p.relation in married_in and local_share[p.pid] < 0.35
            p.area = str(outside[p.pid]) if from_outside else county
            if p.relation in married_in or (p.relation == "之母" and mother_keeps[p.pid]):
                surnames[p.pid] = own_draw[p.pid]
            elif p is head or p.relation in ("之子", "之女", "之孙子", "之孙女", "之父"):
                surnames[p.pid] = family_draw[h_index]
            else:
                surnames[p.pid] = own_draw[p.pid]
    sexes = np.array([p.sex for p in persons])
    years = np.array([p.birth.year for p in persons])
    for p, name in zip(persons, names.random_names(rng, sexes, years, surnames), strict=True):
        p.name = name


def _life_events(households: list[Household], params: GenParams, rng: np.random.Generator) -> None:
    """Deaths of old members, daughters marrying out, a few members struck off (清退).

    Heads never change (a household always has its one 户主), and a household never loses
    its last labour-capable member, so the events create no finding by themselves.
    """
    days = (params.as_of - EVENTS_FROM).days
    if days <= 0:
        return
    share = min(days / 730, 1.5)
    for hh in households:
        for p in hh.members[1:]:
            age = p.age_on(params.as_of)
            x = rng.random()
            event = None
            if age >= 68 and x < 0.07 * share:
                event = "死亡"
            elif p.sex == "女" and 19 <= age <= 32 and p.relation == "之女" and x < 0.12 * share:
                event = "迁出"
            elif x < 0.002 * share:
                event = "清退"
            if event is None:
                continue
            if (
                p.labour in LABOUR_CAPABLE
                and sum(m.labour in LABOUR_CAPABLE for m in hh.active_members) <= 1
            ):
                continue
            p.status = event
            p.status_date = EVENTS_FROM + timedelta(days=int(rng.integers(0, days)))


def _exits(households: list[Household], params: GenParams, rng: np.random.Generator) -> None:
    """Exit dates that follow the plan's cumulative targets, interpolated within each year.

    低保/特困 households go first (兜底, about 5,000 persons in 2016), then ordinary ones.
    """
    s = params.scale
    years = {y: params.plan("target_persons_out", y) for y in (2016, 2017, 2018)}
    dibao_2016 = 5000 * s
    targets = {
        2016: years[2016] * s,
        2017: years[2017] * s,
        2018: float(sum(len(h.members) for h in households)),
    }
    is_bottom = [h.attribute != "一般贫困户" and not h.labour_capable for h in households]
    bottom = [h for h, b in zip(households, is_bottom, strict=True) if b]
    others = [h for h, b in zip(households, is_bottom, strict=True) if not b]
    order_b = list(rng.permutation(len(bottom)))
    order_o = list(rng.permutation(len(others)))
    queue_b = [bottom[int(i)] for i in order_b]
    queue_o = [others[int(i)] for i in order_o]
    cohorts: dict[int, list[Household]] = {2016: [], 2017: [], 2018: []}
    done = 0
    while queue_b and done + len(queue_b[0].members) / 2 <= dibao_2016:
        h = queue_b.pop(0)
        cohorts[2016].append(h)
        done += len(h.members)
    for year in (2016, 2017, 2018):
        while (queue_b or queue_o) and (
            year == 2018 or done + 0.5 * len((queue_b or queue_o)[0].members) <= targets[year]
        ):
            h = queue_b.pop(0) if queue_b else queue_o.pop(0)
            cohorts[year].append(h)
            done += len(h.members)
    for year, cohort in cohorts.items():
        size = sum(len(h.members) for h in cohort) or 1
        start = date(year, 1, 1)
        length = (date(year, 12, 31) - start).days
        cum = 0
        order = list(rng.permutation(len(cohort)))
        for i in order:
            h = cohort[int(i)]
            mid = (cum + len(h.members) / 2) / size
            h.exit_date = start + timedelta(days=int(mid * length))
            cum += len(h.members)
        for h in cohort:
            if h.exit_date and h.exit_date <= params.as_of:
                h.exit_status, h.exit_year = "已脱贫", h.exit_date.year
    # A few households fall back into poverty half a year after exiting.
    exited = [
        h
        for h in households
        # 已脱贫 is only ever set together with exit_date (above), so the None test never excludes
        if h.exit_status == "已脱贫"
        and h.exit_date is not None
        and (params.as_of - h.exit_date).days > 240
    ]
    for i in rng.permutation(len(exited))[: int(len(exited) * 0.004)]:
        exited[int(i)].exit_status = "返贫"


def _household_state(
    households: list[Household], params: GenParams, rng: np.random.Generator
) -> None:
    """Income, housing, water, support unit and cadre at D, consistent with exit status."""
    line = params.policy.year(params.year).exit_line
    deadline = params.policy.housing_deadline
    pools: dict[str, int] = {}
    for hh in households:
        v = hh.village
        exited = hh.exit_status == "已脱贫"
        if hh.labour_capable:
            hh.income = (
                float(rng.integers(int(line) + 200, int(line) + 6500))
                if exited
                else float(rng.integers(3200, int(line) - 150))
            )
        else:
            hh.income = float(rng.integers(2400, 6900))
        if rng.random() < 0.5:
            hh.income = float(round(hh.income, -1))
        x = rng.random()
        hh.housing_2016 = "安全" if x < 0.72 else ("C级危房" if x < 0.89 else "D级危房")
        if hh.housing_2016 != "安全":
            renovated = date(2016, 3, 1) + timedelta(
                days=int(rng.integers(0, (deadline - date(2016, 3, 1)).days))
            )
            if hh.exit_date and hh.exit_status in ("已脱贫", "返贫"):
                renovated = min(renovated, hh.exit_date - timedelta(days=20))
            hh.renovated_on = renovated
            hh.housing = "已改造" if renovated <= params.as_of else hh.housing_2016
        hh.water_safe = bool(rng.random() < (0.99 if exited else 0.9))
        hh.support_unit = v.unit
        pool = pools.setdefault(v.code, 0)
        hh.cadre = v.cadres[pool % len(v.cadres)] if v.cadres else ""
        pools[v.code] = pool + 1
        hh.phone = (
            "" if rng.random() < 0.12 else f"1{rng.choice([3, 5, 8])}{rng.integers(0, 10**9):09d}"
        )
