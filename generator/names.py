"""Names of people, support units and places, as northern Guangdong writes them.

Surname weights follow what is common in Nanxiong (李 黄 张 陈 刘 … and the Hakka and
珠玑巷 names 邓 曾 谢 叶 钟 赖 单 区 解). Given names change with the generation: the
characters of people born in the 1940s are not those of children born after 2005.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from pypinyin import lazy_pinyin

SURNAMES: tuple[tuple[str, float], ...] = (
    ("李", 7.5),
    ("黄", 6.0),
    ("张", 5.5),
    ("陈", 5.5),
    ("刘", 5.0),
    ("王", 3.5),
    ("邓", 4.0),
    ("曾", 3.5),
    ("谢", 3.0),
    ("叶", 3.0),
    ("彭", 2.5),
    ("钟", 3.0),
    ("朱", 2.5),
    ("赖", 2.5),
    ("罗", 2.5),
    ("单", 1.2),
    ("区", 0.8),
    ("解", 0.6),
    ("何", 2.0),
    ("吴", 2.0),
    ("林", 1.8),
    ("杨", 1.8),
    ("廖", 1.8),
    ("邱", 1.5),
    ("肖", 1.5),
    ("凌", 1.0),
    ("蓝", 0.8),
    ("邝", 0.8),
    ("姚", 0.9),
    ("温", 1.0),
    ("雷", 0.8),
    ("孔", 0.7),
    ("董", 0.7),
    ("胡", 1.2),
    ("郭", 1.0),
    ("徐", 1.0),
    ("孙", 0.8),
    ("周", 1.2),
    ("梁", 1.2),
    ("宋", 0.6),
    ("戴", 0.6),
    ("汤", 0.6),
    ("丘", 0.5),
    ("聂", 0.5),
    ("欧阳", 0.4),
    ("卢", 0.8),
    ("江", 0.7),
    ("蔡", 0.6),
)

# Given-name characters by sex and era (born before 1975 / 1975-1999 / from 2000).
GIVEN: dict[tuple[str, int], str] = {
    ("男", 0): "福财贵生发德金水石永光祥兴昌良成才荣清春亮添桂禄寿胜权坤有茂根旺富仁义忠顺",
    ("男", 1): "志伟明建国华军平强文辉勇东林海波斌杰俊峰荣清宏鸿亮锋源耀新兵涛刚勇冬剑",
    ("男", 2): "子轩浩宇俊睿晨铭博文杰豪鑫泽烨凯航嘉宏振翔毅锦诚",
    ("女", 0): "秀英芳兰凤珍桂莲花娣妹招群金银玉月春菊梅香娇",
    ("女", 1): "芳玲红梅丽娟燕霞艳萍琴敏静婷雪慧惠群云秋琼春丹",
    ("女", 2): "欣怡梓涵诗雨嘉思佳琪悦晴妍萱彤颖婷雅琳馨可欢",
}

# Characters a clerk may type for one another because they sound the same (toneless pinyin).
HOMOPHONES: dict[str, str] = {
    "明": "鸣铭",
    "华": "桦骅",
    "军": "君钧",
    "伟": "玮炜维",
    "芳": "方",
    "玲": "伶铃龄",
    "红": "洪虹",
    "丽": "莉俐",
    "平": "萍坪",
    "英": "瑛莹",
    "文": "雯闻",
    "秀": "绣",
    "林": "琳霖",
    "峰": "锋枫",
    "春": "椿",
    "梅": "玫",
    "兰": "岚澜",
    "娟": "鹃",
    "燕": "雁",
    "珍": "贞真",
    "琴": "芹勤",
    "建": "健剑",
    "辉": "晖徽",
    "勇": "永咏",
    "东": "冬",
    "斌": "彬滨",
    "杰": "洁婕",
    "俊": "骏峻",
    "荣": "蓉容",
    "清": "青卿",
    "生": "升声",
    "贵": "桂",
    "新": "欣鑫",
    "祥": "翔",
    "兴": "星",
    "良": "梁",
    "成": "诚承",
    "才": "材财",
    "宏": "鸿",
    "亮": "谅",
    "源": "元园",
    "添": "天",
    "金": "津",
    "凤": "奉",
    "霞": "侠",
    "云": "芸耘",
    "海": "亥",
    "波": "玻",
    "涛": "滔",
    "刚": "钢",
    "静": "婧靖",
    "婷": "亭",
    "雪": "薛",
    "敏": "闽",
    "怡": "仪宜",
    "涵": "晗寒",
    "宇": "雨羽",
    "琪": "淇棋",
    "晨": "辰",
    "浩": "昊皓",
    "轩": "萱宣",
    "欣": "馨",
    "佳": "嘉家",
    "思": "丝",
    "诗": "师",
}

# Support units of the 68 poor villages (invented pairings; plausible names).
PROVINCIAL_UNITS = (
    "广东省农业技术推广总站",
    "广东省水利水电科学研究院",
    "广东省林业调查规划院",
    "广东省地质局第七地质大队",
    "广东省交通规划设计研究院",
    "广东省供销合作联社",
    "广东省农村信用社联合社",
    "中国电信股份有限公司广东分公司",
    "广东电网有限责任公司",
    "广东省社会科学院",
    "中国人民银行广州分行",
    "广东省国土资源测绘院",
)
DONGGUAN_UNITS = tuple(
    f"东莞市{t}"
    for t in (
        "石龙镇人民政府",
        "石排镇人民政府",
        "茶山镇人民政府",
        "企石镇人民政府",
        "桥头镇人民政府",
        "东坑镇人民政府",
        "横沥镇人民政府",
        "常平镇人民政府",
        "虎门镇人民政府",
        "长安镇人民政府",
        "沙田镇人民政府",
        "厚街镇人民政府",
        "寮步镇人民政府",
        "大岭山镇人民政府",
        "大朗镇人民政府",
        "黄江镇人民政府",
        "樟木头镇人民政府",
        "谢岗镇人民政府",
        "塘厦镇人民政府",
        "清溪镇人民政府",
        "凤岗镇人民政府",
        "麻涌镇人民政府",
        "中堂镇人民政府",
        "高埗镇人民政府",
        "石碣镇人民政府",
        "望牛墩镇人民政府",
        "洪梅镇人民政府",
        "道滘镇人民政府",
        "莞城街道办事处",
        "南城街道办事处",
        "东城街道办事处",
        "万江街道办事处",
        "发展和改革局",
        "财政局",
        "公安局",
        "民政局",
        "人力资源和社会保障局",
        "住房和城乡建设局",
        "交通运输局",
        "水务局",
        "农业局",
        "教育局",
        "卫生和计划生育局",
        "国土资源局",
        "供电局",
        "市场监督管理局",
        "城市管理局",
    )
)
SHAOGUAN_UNITS = (
    "韶关市发展和改革局",
    "韶关市财政局",
    "韶关市国土资源局",
    "韶关市交通运输局",
    "韶关市水务局",
    "韶关市农业局",
    "韶关供电局",
    "韶关市中级人民法院",
    "韶关学院",
)
NANXIONG_UNITS = (
    "南雄市财政局",
    "南雄市教育局",
    "南雄市民政局",
    "南雄市人力资源和社会保障局",
    "南雄市住房和城乡建设局",
    "南雄市交通运输局",
    "南雄市水务局",
    "南雄市农业局",
    "南雄市林业局",
    "南雄市卫生和计划生育局",
    "南雄市国土资源局",
    "南雄市公安局",
    "南雄市人民法院",
    "南雄市人民检察院",
    "南雄市供销社",
    "南雄市商务局",
    "南雄市经济和信息化局",
    "南雄市旅游局",
    "南雄市文化广电新闻出版局",
    "南雄市审计局",
)
UNIT_TYPES = ("省直/中直驻粤", "东莞市", "韶关市直/省直驻韶")

HOSPITALS = (
    "南雄市人民医院",
    "南雄市中医院",
    "南雄市妇幼保健院",
    "南雄市第二人民医院",
    "粤北人民医院",
    "韶关市第一人民医院",
    "广州医科大学附属第一医院",
    "南雄市康复医院",
)


def hospitals(county_name: str = "南雄市") -> tuple[str, ...]:
    """Where a county's residents settle bills: its own hospitals (Nanxiong's names, with the
    county's name), the city's and Guangzhou's."""
    return tuple(h.replace("南雄市", county_name) for h in HOSPITALS)


def surname_weights() -> tuple[list[str], np.ndarray]:
    names = [s for s, _ in SURNAMES]
    weights = np.array([w for _, w in SURNAMES], dtype=float)
    return names, weights / weights.sum()


def era_of(birth_year: int) -> int:
    return 0 if birth_year < 1975 else (1 if birth_year < 2000 else 2)


def random_names(
    rng: np.random.Generator,
    sexes: np.ndarray,
    birth_years: np.ndarray,
    surnames: np.ndarray | None = None,
) -> list[str]:
    """Names for many people at once (vectorised); `surnames` fixes the family name where given."""
    sexes = np.asarray(sexes).astype(str)
    birth_years = np.asarray(birth_years).astype(int)
    n = len(sexes)
    pool, probs = surname_weights()
    if surnames is None:
        surnames = np.array(pool)[rng.choice(len(pool), size=n, p=probs)]
    surnames = np.asarray(surnames).astype(str)
    two = rng.random(n) < 0.82
    picks1 = rng.random(n)
    picks2 = rng.random(n)
    era = np.where(birth_years < 1975, 0, np.where(birth_years < 2000, 1, 2))
    first = np.full(n, "", dtype="<U1")
    second = np.full(n, "", dtype="<U1")
    for (sex, e), chars in GIVEN.items():
        mask = (sexes == sex) & (era == e)
        if not mask.any():
            continue
        table = np.array(list(chars))
        first[mask] = table[(picks1[mask] * len(chars)).astype(int)]
        second[mask] = table[(picks2[mask] * len(chars)).astype(int)]
    given = np.char.add(first, np.where(two, second, ""))
    return np.char.add(surnames, given).tolist()


def pinyin_key(name: str) -> str:
    """Toneless pinyin of a normalised name: equal keys mean the names sound the same."""
    return " ".join(lazy_pinyin(name))


@lru_cache(maxsize=1)
def verified_homophones() -> dict[str, tuple[str, ...]]:
    """Only the pairs pypinyin agrees on, since the pipeline compares with it too."""
    out: dict[str, tuple[str, ...]] = {}
    for char, alts in HOMOPHONES.items():
        key = lazy_pinyin(char)
        good = tuple(a for a in alts if lazy_pinyin(a) == key and a != char)
        if good:
            out[char] = good
    return out


def homophone_of(name: str, pick: float) -> str | None:
    """The name with one given-name character swapped for a homophone, or None if none fits."""
    table = verified_homophones()
    positions = [i for i, c in enumerate(name) if i > 0 and c in table]
    if not positions:
        return None
    i = positions[int(pick * len(positions)) % len(positions)]
    alts = table[name[i]]
    alt = alts[int(pick * 997) % len(alts)]
    candidate = name[:i] + alt + name[i + 1 :]
    return candidate if pinyin_key(candidate) == pinyin_key(name) else None


def different_sounding(name: str, pick: float) -> str:
    """A name that shares the surname but not the sound (someone else's ID)."""
    chars = GIVEN[("男", 1)] + GIVEN[("女", 1)]
    surname = name[:2] if name[:2] == "欧阳" else name[:1]
    for k in range(len(chars)):
        c = chars[(int(pick * len(chars)) + k) % len(chars)]
        candidate = surname + c + chars[(int(pick * 31) + 2 * k) % len(chars)]
        if pinyin_key(candidate) != pinyin_key(name):
            return candidate
    return surname + "某某"
