"""Bulk synthetic persons and legal entities with valid identifiers, for the benchmark.

Every generated resident ID number and USCC is checked with the gateway's own parsers
(`schema.identifiers`), so a bug here cannot silently bench against invalid keys.
Rows are plain tuples in the column order of `COLUMNS`, ready for COPY.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from stdnum.cn import ric as stdnum_ric
from stdnum.cn import uscc as stdnum_uscc

from schema.identifiers import parse_resident_id_number, parse_unified_social_credit_code

__all__ = ["COLUMNS", "Dataset", "generate", "FIXED_PERSONS", "FIXED_ENTITIES"]

# Guangzhou districts (GB/T 2260) with a rough population weight
DISTRICTS: dict[str, tuple[str, int]] = {
    "440103": ("荔湾区", 9),
    "440104": ("越秀区", 10),
    "440105": ("海珠区", 18),
    "440106": ("天河区", 22),
    "440111": ("白云区", 37),
    "440112": ("黄埔区", 12),
    "440113": ("番禺区", 28),
    "440114": ("花都区", 16),
    "440115": ("南沙区", 9),
    "440117": ("从化区", 7),
    "440118": ("增城区", 15),
}
ROADS = ["中山大道", "黄埔大道", "天河路", "环市东路", "江南大道", "解放北路", "广州大道", "工业大道", "白云大道", "新港东路", "迎宾路", "府前路", "体育西路", "机场路", "市桥街", "东风中路"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程苏魏吕丁任卢姚沈钟姜崔谭陆范汪廖石金韦贾夏付方邹熊白孟秦邱侯江尹薛闫段雷龙黎史陶贺毛郝顾龚邵万覃武钱戴严欧莫孔向常汤"
GIVEN = "伟芳娜敏静丽强磊洋艳勇军杰娟涛明超秀霞平刚桂英华玉兰萍红建文辉力宇鹏海波飞斌云志欣怡梓涵子轩浩然雨晨思琪嘉俊家豪晓婷佳琪宏伟诗雅锦荣子健梓豪"
ETHNICITIES = [("汉族", 950), ("壮族", 15), ("回族", 8), ("满族", 6), ("土家族", 6), ("苗族", 5), ("瑶族", 5), ("畲族", 3), ("朝鲜族", 2)]
INDUSTRIES = [
    ("科技", "软件开发；信息技术咨询服务；数据处理服务"),
    ("贸易", "货物进出口；技术进出口；日用百货销售"),
    ("餐饮管理", "餐饮管理；餐饮服务；食品销售"),
    ("物流", "道路货物运输；仓储服务；装卸搬运"),
    ("建筑工程", "建设工程施工；建筑装饰工程；园林绿化工程"),
    ("文化传媒", "文化艺术交流活动策划；广告设计；影视制作"),
    ("医疗器械", "第二类医疗器械销售；医疗器械技术咨询"),
    ("教育咨询", "教育咨询服务；业务培训；会议及展览服务"),
    ("电子商务", "互联网销售；电子产品销售；供应链管理服务"),
    ("物业管理", "物业管理；停车场服务；家政服务"),
]
TRADE_WORDS = "云图珠江羊城穗华越秀南粤天河白云花城海珠琶洲黄埔番禺荔湾创新恒达中盛鸿运汇丰鼎新广信瑞祥锦程博远星辰智联宏图新业凯旋卓越"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

FIXED_PERSONS = frozenset({"440106199001011235", "440106199203154525", "44010319781120046X", "440111199207085636", "440106200002290024", "440113199506052343"})
FIXED_ENTITIES = frozenset({"91440106MA59C8K17D", "91440103MA5D3N7W37", "91440111MA9UTQ4R6C"})

COLUMNS: dict[tuple[str, str], tuple[str, ...]] = {
    ("gz-gab", "population"): ("id_number", "name", "gender", "birth_date", "ethnicity", "domicile_address", "domicile_division"),
    ("gz-mzj", "marriage_registration"): ("id_number", "marital_status"),
    ("gz-mzj", "subsistence_allowance"): ("id_number", "status", "monthly_amount", "since"),
    ("gz-rsj", "insured_person"): ("id_number", "status", "contribution_months", "employer_uscc"),
    ("gz-zfcxjsj", "housing_security_application"): ("applicant_id_number", "status", "applied_on", "decided_on", "applicant_marital_status"),
    ("gz-scjgj", "market_entity"): (
        "uscc", "name", "entity_type", "status", "registered_capital", "established_on", "address",
        "legal_representative_name", "legal_representative_id",
    ),
    ("gz-scjgj", "business_license"): ("uscc", "license_number", "issued_on", "valid_until", "business_scope"),
    # updated_at is given explicitly: the demo's newest tax rating is of 2025-04-20 (the
    # provider is "late", DEMO_WORLD.md); bulk rows stay older so that fact still holds.
    ("gz-swj", "tax_credit_rating"): ("uscc", "year", "grade", "updated_at"),
}


@dataclass
class Dataset:
    persons: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    rows: dict[tuple[str, str], list[tuple[object, ...]]] = field(default_factory=dict)

    def count(self) -> int:
        return sum(len(r) for r in self.rows.values())


def _weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> Callable[[], str]:
    values = [p[0] for p in pairs]
    weights = [p[1] for p in pairs]
    cumulative = []
    total = 0
    for w in weights:
        total += w
        cumulative.append(total)

    def pick() -> str:
        return rng.choices(values, cum_weights=cumulative)[0]

    return pick


def _org_check(body: str) -> str:
    check = 11 - sum(int(c, 36) * w for c, w in zip(body, _ORG_WEIGHTS, strict=True)) % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def resident_id(rng: random.Random, division: str, born: dt.date, male: bool) -> str:
    sequence = rng.randrange(0, 1000)
    if (sequence % 2 == 1) != male:  # the 17th digit is odd for men, even for women
        sequence = sequence + 1 if sequence < 999 else sequence - 1
    body = f"{division}{born:%Y%m%d}{sequence:03d}"
    # stdnum computes the check digit of a complete number: it drops the last character
    return body + stdnum_ric.calc_check_digit(body + "0")


def uscc(rng: random.Random, division: str) -> str:
    # 9 = market regulation authority, 1 = enterprise; organisation codes issued with a
    # USCC since 2015 start with "MA" and draw only on the USCC alphabet
    body = "MA" + "".join(rng.choice(USCC_ALPHABET) for _ in range(6))
    prefix = f"91{division}{body}{_org_check(body)}"
    return prefix + stdnum_uscc.calc_check_digit(prefix + "0")


def generate(persons: int, entities: int, seed: int = 20260101, tick: Callable[[str, int], None] = lambda _k, _n: None) -> Dataset:
    """`tick(kind, n)` is called as rows are made (for progress bars)."""
    rng = random.Random(seed)
    data = Dataset()
    division_of = _weighted(rng, [(code, weight) for code, (_, weight) in DISTRICTS.items()])
    ethnicity_of = _weighted(rng, ETHNICITIES)
    today = dt.date.today()
    earliest = dt.date(1940, 1, 1)
    span = (min(today, dt.date(2008, 12, 31)) - earliest).days

    population = data.rows.setdefault(("gz-gab", "population"), [])
    names: dict[str, str] = {}
    seen = set(FIXED_PERSONS)
    while len(data.persons) < persons:
        division = division_of()
        born = earliest + dt.timedelta(days=rng.randrange(span))
        male = rng.random() < 0.51
        number = resident_id(rng, division, born, male)
        if number in seen:
            continue
        seen.add(number)
        if parse_resident_id_number(number) != number:  # pragma: no cover - a generator bug
            raise AssertionError(f"generated an invalid resident ID number {number}")
        name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
        district = DISTRICTS[division][0]
        address = f"{district}{rng.choice(ROADS)}{rng.randrange(1, 999)}号"
        population.append((number, name, "male" if male else "female", born, ethnicity_of(), address, division))
        names[number] = name
        data.persons.append(number)
        if len(data.persons) % 1000 == 0:
            tick("persons", 1000)
    tick("persons", len(data.persons) % 1000)

    # USCCs first: employers of insured persons are real generated entities
    seen_usccs = set(FIXED_ENTITIES)
    while len(data.entities) < entities:
        code = uscc(rng, division_of())
        if code in seen_usccs:
            continue
        seen_usccs.add(code)
        if parse_unified_social_credit_code(code) != code:  # pragma: no cover - a generator bug
            raise AssertionError(f"generated an invalid USCC {code}")
        data.entities.append(code)

    marital = _weighted(rng, [("married", 55), ("unmarried", 32), ("divorced", 8), ("widowed", 5)])
    marriage = data.rows.setdefault(("gz-mzj", "marriage_registration"), [])
    allowance = data.rows.setdefault(("gz-mzj", "subsistence_allowance"), [])
    insured = data.rows.setdefault(("gz-rsj", "insured_person"), [])
    housing = data.rows.setdefault(("gz-zfcxjsj", "housing_security_application"), [])
    insurance_status = _weighted(rng, [("active", 80), ("suspended", 12), ("terminated", 8)])
    housing_status = _weighted(rng, [("waiting", 50), ("approved", 35), ("rejected", 15)])
    for index, row in enumerate(population, start=1):
        number, born = row[0], row[3]
        adult = (today - born).days >= 22 * 365  # type: ignore[operator]
        status = None
        if rng.random() < 0.85:  # most persons have a marriage registration record
            status = marital() if adult else "unmarried"
            marriage.append((number, status))
        if rng.random() < 0.02:
            since = dt.date(2018, 1, 1) + dt.timedelta(days=rng.randrange(2500))
            allowance.append((number, rng.choice(("active", "active", "suspended")), Decimal(rng.randrange(800, 1600)) + Decimal("0.00"), since))
        if adult and rng.random() < 0.7:
            employer = rng.choice(data.entities) if data.entities and rng.random() < 0.8 else None
            insured.append((number, insurance_status(), rng.randrange(1, 420), employer))
        if adult and rng.random() < 0.15:
            applied = dt.date(2020, 1, 1) + dt.timedelta(days=rng.randrange(2000))
            decision = housing_status()
            decided = None if decision == "waiting" else applied + dt.timedelta(days=rng.randrange(30, 200))
            housing.append((number, decision, applied, decided, status))
        if index % 1000 == 0:
            tick("agency records", 1000)
    tick("agency records", len(population) % 1000)

    entity_status = _weighted(rng, [("active", 88), ("revoked", 5), ("cancelled", 7)])
    entity_type = _weighted(rng, [("有限责任公司", 80), ("股份有限公司", 5), ("个人独资企业", 8), ("合伙企业", 7)])
    grade = _weighted(rng, [("A", 20), ("B", 45), ("M", 20), ("C", 10), ("D", 5)])
    market = data.rows.setdefault(("gz-scjgj", "market_entity"), [])
    licences = data.rows.setdefault(("gz-scjgj", "business_license"), [])
    ratings = data.rows.setdefault(("gz-swj", "tax_credit_rating"), [])
    tz = dt.timezone(dt.timedelta(hours=8))
    for index, code in enumerate(data.entities, start=1):
        division = code[2:8]
        industry, scope = rng.choice(INDUSTRIES)
        trade = "".join(rng.sample(TRADE_WORDS, 2)) + "".join(rng.sample(TRADE_WORDS, 2))
        kind = entity_type()
        suffix = {"股份有限公司": "股份有限公司", "合伙企业": "（有限合伙）", "个人独资企业": "商行"}.get(kind, "有限公司")
        name = f"广州{DISTRICTS[division][0][:-1]}{trade}{industry}{suffix}"
        established = dt.date(2015, 10, 1) + dt.timedelta(days=rng.randrange(3650))
        representative = rng.choice(data.persons)
        capital = Decimal(rng.choice((10, 30, 50, 100, 200, 500, 1000, 5000)) * 10000) + Decimal("0.00")
        address = f"广州市{DISTRICTS[division][0]}{rng.choice(ROADS)}{rng.randrange(1, 999)}号"
        market.append((code, name, kind, entity_status(), capital, established, address, names[representative], representative))
        valid_until = None if rng.random() < 0.8 else established + dt.timedelta(days=365 * 20 - 1)
        licences.append((code, code, established, valid_until, scope))
        if rng.random() < 0.9:
            ratings.append((code, 2024, grade(), dt.datetime(2024, 4, 1, 10, tzinfo=tz) + dt.timedelta(hours=rng.randrange(24 * 300))))
            if established.year < 2023 and rng.random() < 0.5:
                ratings.append((code, 2023, grade(), dt.datetime(2023, 4, 20, 10, tzinfo=tz)))
        if index % 1000 == 0:
            tick("entities", 1000)
    tick("entities", len(data.entities) % 1000)
    return data
