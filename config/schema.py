"""The input contract of sources.md as data: canonical Chinese headers, synonyms, and the
English column names used inside the pipeline and the warehouse.

This is the one place that knows the Chinese field names; everything else refers to the
English keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Field:
    key: str  # English column name used in frames and tables
    canonical: str  # canonical Chinese header
    synonyms: tuple[str, ...] = ()
    required: bool = False
    household: bool = False  # roster: belongs to the whole household (fill within 户编号)
    personal: bool = False  # personal data: masked in logs, alerts and reports

    @property
    def headers(self) -> tuple[str, ...]:
        return (self.canonical, *self.synonyms)


@dataclass(frozen=True, slots=True)
class Source:
    name: str  # inbox sub-folder
    label: str  # Chinese label for messages
    fields: tuple[Field, ...] = field(default_factory=tuple)

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.fields]

    def field(self, key: str) -> Field:
        for f in self.fields:
            if f.key == key:
                return f
        raise KeyError(key)

    @property
    def required(self) -> list[Field]:
        return [f for f in self.fields if f.required]


ROSTER = Source(
    "townships",
    "乡镇建档立卡贫困人口花名册",
    (
        Field("township", "乡镇", ("镇(街道)", "乡镇(街道)", "镇街", "所在镇"), required=True),
        Field("village", "行政村", ("村", "村(居)", "村委会", "所在村"), required=True),
        Field(
            "household_id", "户编号", ("户号", "家庭编号", "户代码"), required=True, household=True
        ),
        Field("name", "姓名", ("成员姓名", "人员姓名"), required=True, personal=True),
        Field(
            "id_number",
            "证件号码",
            ("身份证号", "身份证号码", "公民身份号码", "身份证"),
            required=True,
            personal=True,
        ),
        Field("sex", "性别"),
        Field("relation", "与户主关系", ("关系", "与户主的关系"), required=True),
        Field("labour", "劳动技能", ("劳动能力",), required=True),
        Field("health", "健康状况"),
        Field("school", "在校生状况", ("在校情况",)),
        Field("person_status", "人员状态", ("成员状态",)),
        Field("attribute", "贫困户属性", ("户属性", "贫困类型"), required=True, household=True),
        Field("family_size", "家庭人口", ("家庭人口数", "户人口"), household=True),
        Field(
            "income",
            "年人均可支配收入",
            ("人均可支配收入", "年人均纯收入", "人均纯收入"),
            required=True,
            household=True,
        ),
        Field("exit_status", "脱贫状态", ("是否脱贫",), required=True, household=True),
        Field("exit_year", "脱贫年度", ("脱贫年份",), household=True),
        Field("housing", "住房安全", ("住房情况",), household=True),
        Field("water_safe", "饮水安全", (), household=True),
        Field("support_unit", "帮扶单位", ("结对帮扶单位",), household=True),
        Field("support_cadre", "帮扶责任人", ("帮扶人",), household=True, personal=True),
        Field("phone", "联系电话", (), household=True, personal=True),
    ),
)

VILLAGES = Source(
    "townships",
    "贫困村情况表",
    (
        Field("village", "行政村", ("村", "村(居)", "村委会", "所在村"), required=True),
        Field("is_poor", "是否贫困村", required=True),
        Field("registered_population", "户籍人口"),
        Field("income", "年人均可支配收入", ("人均可支配收入", "年人均纯收入")),
        Field("health_station", "标准化卫生站"),
        Field("bus", "通客车"),
        Field("water_safe", "饮水安全"),
        Field("coverage_4g", "4G覆盖"),
        Field("info_point", "信息服务站"),
        Field("waste", "生活垃圾处理"),
        Field("sewage", "生活污水处理"),
        Field("toilet_rate", "卫生厕所普及率"),
        Field("support_unit", "帮扶单位", ("结对帮扶单位",)),
        Field("unit_type", "单位类型"),
        Field("first_secretary", "第一书记", personal=True),
    ),
)

DIBAO = Source(
    "dibao",
    "低保/特困名册",
    (
        Field("township", "乡镇", ("乡镇(街道)", "镇街")),
        Field("village", "村(居)", ("行政村", "村(社区)")),
        Field("family_id", "家庭编号", ("低保证号", "低保证编号"), required=True),
        Field("name", "姓名", required=True, personal=True),
        Field(
            "id_number", "证件号码", ("身份证号码", "公民身份号码"), required=True, personal=True
        ),
        Field("relation", "与户主关系"),
        Field("category", "保障类别", ("救助类别",), required=True),
        Field("family_size", "保障人数"),
        Field("monthly_amount", "月保障金额", ("月保障金",)),
        Field("status", "保障状态", ("状态",), required=True),
        Field("start_date", "起始日期", ("保障起始日期",), required=True),
        Field("stop_date", "停保日期"),
        Field("stop_reason", "停保原因"),
    ),
)

ENROLMENT = Source(
    "insurance",
    "城乡居民医保参保名册",
    (
        Field("insured_key", "个人编号"),
        Field("name", "姓名", required=True, personal=True),
        Field(
            "id_number", "证件号码", ("公民身份号码", "身份证号码"), required=True, personal=True
        ),
        Field("sex", "性别"),
        Field("birth_date", "出生日期"),
        Field("year", "参保年度", required=True),
        Field("enrol_status", "参保状态", required=True),
        Field("person_status", "人员状态"),
        Field("subsidy", "资助类别", ("缴费资助类别",)),
        Field("township", "乡镇", ("所属乡镇",)),
        Field("village", "村", ("所属村", "村(居)")),
    ),
)

SETTLEMENT = Source(
    "claims",
    "医疗费用结算明细",
    (
        Field("settlement_id", "结算编号", ("结算流水号",), required=True),
        Field("id_number", "证件号码", ("公民身份号码",), required=True, personal=True),
        Field("name", "姓名", personal=True),
        Field("settle_date", "结算日期"),
        Field("institution", "医疗机构"),
        Field("total_cost", "医疗费用总额", ("总费用",)),
        Field("eligible_cost", "政策范围内费用", ("合规费用",), required=True),
        Field("basic_paid", "基本医保支付", ("统筹支付",), required=True),
        Field("serious_paid", "大病保险支付"),
        Field("assistance_paid", "医疗救助支付", required=True),
    ),
)

SOURCES: dict[str, Source] = {s.name: s for s in (ROSTER, DIBAO, ENROLMENT, SETTLEMENT)}

# Enumerations: canonical values and the synonyms that map to them.
LABOUR = {
    "普通劳动力": ("有劳动能力", "有劳动力"),
    "技能劳动力": (),
    "弱劳动力或半劳动力": ("弱劳动力", "半劳动力"),
    "丧失劳动力": ("丧失劳动能力",),
    "无劳动力": ("无劳动能力",),
}
LABOUR_CAPABLE = ("普通劳动力", "技能劳动力", "弱劳动力或半劳动力")
ATTRIBUTE = {
    "一般贫困户": ("一般户",),
    "低保贫困户": ("低保户",),
    "特困供养贫困户": ("五保户", "五保贫困户", "特困户", "特困供养户"),
}
EXIT_STATUS = {"未脱贫": ("否",), "已脱贫": ("是",), "返贫": ()}
PERSON_STATUS = {"正常": (), "死亡": (), "迁出": (), "清退": ()}
RELATION = {
    v: ()
    for v in ("户主", "配偶", "之子", "之女", "之父", "之母", "之孙子", "之孙女", "之儿媳", "其他")
}
HEALTH = {"健康": (), "长期慢性病": (), "患有大病": (), "残疾": ()}
HOUSING = {"安全": (), "C级危房": ("C级",), "D级危房": ("D级",), "已改造": ()}
COMPULSORY_GRADES = (
    "小学一年级",
    "小学二年级",
    "小学三年级",
    "小学四年级",
    "小学五年级",
    "小学六年级",
    "七年级",
    "八年级",
    "九年级",
)
SCHOOL = {
    v: ()
    for v in (
        "学前教育",
        "小学一年级",
        "小学二年级",
        "小学三年级",
        "小学四年级",
        "小学五年级",
        "小学六年级",
        "七年级",
        "八年级",
        "九年级",
        "高中一年级",
        "高中二年级",
        "高中三年级",
        "中职一年级",
        "中职二年级",
        "中职三年级",
        "大专及以上",
        "非在校生",
        "义务教育阶段辍学",
    )
}
DIBAO_CATEGORY = {"农村低保": (), "城市低保": (), "特困供养": ("特困人员", "五保")}
DIBAO_STATUS = {"在保": (), "停保": ()}
STOP_REASON = {"死亡": (), "收入超标": (), "迁出": (), "其他": ()}
ENROL_STATUS = {"参保缴费": (), "暂停参保": (), "终止参保": ()}
SUBSIDY = {"建档立卡贫困人口": (), "低保对象": (), "特困人员": (), "无": ()}
UNIT_TYPE = {
    "省直/中直驻粤": ("省直", "中直驻粤"),
    "东莞市": ("东莞",),
    "韶关市直/省直驻韶": ("韶关市直", "省直驻韶"),
    "南雄市直": (),
    "驻镇帮扶工作组": (),
}
SEX = {"男": ("M",), "女": ("F",)}

# Footer markers: rows whose first non-blank cell starts with one of these are not data.
FOOTER_MARKERS = ("合计", "总计", "小计", "填表人", "审核人", "说明", "制表", "负责人", "备注：")

# Data-quality issue kinds (findings.md "Data-quality issues are not findings"): code -> (中文, level).
# Row-level issues are keyed by file/sheet/row/column; household-level ones by 户编号.
ISSUE_KINDS: dict[str, tuple[str, str]] = {
    "required_missing": ("必填项为空", "row"),
    "invalid_value": ("取值不在允许范围", "row"),
    "invalid_id": ("证件号码无效", "row"),
    "excel_mangled_id": ("证件号码被Excel转为数字", "row"),
    "bad_date": ("日期无法识别", "row"),
    "bad_number": ("数值无法识别", "row"),
    "implausible_income": ("收入为负或明显不合理", "row"),
    "implausible_amount": ("金额为负或明显不合理", "row"),
    "implausible_date": ("日期明显不合理", "row"),
    "invisible_chars": ("证件号码含不可见字符", "row"),
    "sex_mismatch": ("性别与证件号码不符", "row"),
    "village_not_in_township": ("行政村不属于本乡镇", "row"),
    "foreign_township": ("行属于其他乡镇，未导入", "row"),
    "hidden_sheet": ("隐藏的工作表未读取", "file"),
    "exit_year_missing": ("已脱贫但无脱贫年度", "row"),
    "household_head": ("户主人数不为一", "household"),
    "family_size_mismatch": ("家庭人口与登记成员数不符", "household"),
}

# Found while reading a file, not by the expectation suites: in force while the file is.
READ_ISSUE_KINDS = ("foreign_township", "hidden_sheet")
