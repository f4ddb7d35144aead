"""The published catalogue (资费标准): tariff plans and value-added services, as data.

The catalogue is the single source of truth for names, aliases and fees. The store's
``plans`` and ``services`` tables are filled from it by :func:`ensure_catalogue`, and the
language pipeline builds its dictionary (jieba) and entity patterns (spaCy) from
:func:`catalogue_terms`, so a service a customer names by an alias ("彩铃", "炫铃") resolves
to one canonical code (``video_ringtone``).

Fees are integer fen. For a ``per_use`` service ``monthly_fee_fen`` is the price of one use
(one order); for a ``monthly`` service it is charged on the 1st of each month.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.billing.errors import UnknownPlan, UnknownService
from bot.billing.models import Plan, Service


@dataclass(frozen=True)
class PlanSpec:
    """A tariff plan as published.

    Attributes:
        code: stable identifier, e.g. ``changxiang_59``.
        name: the name customers see, e.g. ``畅享59元套餐``.
        monthly_fee_fen: the monthly fee in fen.
        data_mb: domestic data allowance per month, MB.
        voice_minutes: domestic voice minutes per month.
        sms_count: SMS per month.
        is_contract: a contract plan (合约套餐) with a minimum term.
        description: a Chinese sentence explaining the plan.
        aliases: other names customers use for it.
    """

    code: str
    name: str
    monthly_fee_fen: int
    data_mb: int
    voice_minutes: int
    sms_count: int
    is_contract: bool
    description: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceSpec:
    """A value-added service as published (增值业务).

    Attributes:
        code: stable identifier, e.g. ``video_ringtone``.
        name: the name customers see, e.g. ``视频彩铃``.
        aliases: other names customers use for it (the name itself is included).
        monthly_fee_fen: the monthly fee in fen, or the price of one use for ``per_use``.
        description: a Chinese explanation of what it is and how it is charged.
        provider: who provides it.
        billing: ``monthly`` or ``per_use``.
    """

    code: str
    name: str
    aliases: tuple[str, ...]
    monthly_fee_fen: int
    description: str
    provider: str
    billing: str = "monthly"


@dataclass(frozen=True)
class CatalogueTerm:
    """One word a customer may use for a plan or a service, and what it means.

    Attributes:
        term: the word, e.g. ``炫铃``.
        code: the canonical code, e.g. ``video_ringtone``.
        kind: ``service`` or ``plan``.
        name: the canonical name, e.g. ``视频彩铃``.
    """

    term: str
    code: str
    kind: str
    name: str


@dataclass(frozen=True)
class CatalogueSync:
    """What :func:`ensure_catalogue` changed.

    Attributes:
        plans_added: plans inserted.
        plans_updated: plans whose stored row differed and was updated.
        services_added: services inserted.
        services_updated: services whose stored row differed and was updated.
    """

    plans_added: int
    plans_updated: int
    services_added: int
    services_updated: int

    @property
    def changed(self) -> bool:
        """Whether anything was written."""
        return bool(self.plans_added or self.plans_updated or self.services_added or self.services_updated)


PLANS: tuple[PlanSpec, ...] = (
    PlanSpec(
        code="changxiang_19",
        name="畅享19元套餐",
        monthly_fee_fen=1900,
        data_mb=5 * 1024,
        voice_minutes=100,
        sms_count=0,
        is_contract=False,
        description="月费19元，含国内通用流量5GB、国内通话100分钟；超出部分按标准资费收取。无合约期，可随时变更。",
        aliases=("19元套餐", "畅享19", "19块套餐"),
    ),
    PlanSpec(
        code="changxiang_39",
        name="畅享39元套餐",
        monthly_fee_fen=3900,
        data_mb=20 * 1024,
        voice_minutes=200,
        sms_count=50,
        is_contract=False,
        description="月费39元，含国内通用流量20GB、国内通话200分钟、短信50条；无合约期，可随时变更。",
        aliases=("39元套餐", "畅享39", "39块套餐"),
    ),
    PlanSpec(
        code="changxiang_59",
        name="畅享59元套餐",
        monthly_fee_fen=5900,
        data_mb=30 * 1024,
        voice_minutes=500,
        sms_count=100,
        is_contract=False,
        description="月费59元，含国内通用流量30GB、国内通话500分钟、短信100条；无合约期，可随时变更。",
        aliases=("59元套餐", "畅享59", "59块套餐"),
    ),
    PlanSpec(
        code="5g_changxiang_129",
        name="5G畅享129元合约套餐",
        monthly_fee_fen=12900,
        data_mb=60 * 1024,
        voice_minutes=1000,
        sms_count=200,
        is_contract=True,
        description=(
            "5G合约套餐，月费129元，含国内通用流量60GB、国内通话1000分钟、短信200条。"
            "合约期内提前解约需支付违约金，具体金额以入网协议为准。"
        ),
        aliases=("129元套餐", "5G畅享129", "5G套餐", "合约套餐", "5G合约套餐"),
    ),
)


SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(
        code="video_ringtone",
        name="视频彩铃",
        aliases=("彩铃", "视频彩铃", "炫铃", "铃音", "来电视频"),
        monthly_fee_fen=1000,
        description=(
            "视频彩铃：别人给您打电话、等待接通时，对方手机上播放您设置的一段短视频，"
            "代替传统的“嘟嘟”回铃音。资费10元/月，按自然月收取，开通当月即收整月费用。"
        ),
        provider="运营商视频彩铃平台",
    ),
    ServiceSpec(
        code="tencent_video",
        name="腾讯视频会员",
        aliases=("腾讯视频", "腾讯会员", "视频会员", "腾讯视频会员"),
        monthly_fee_fen=1500,
        description=(
            "腾讯视频VIP会员权益：可在腾讯视频App观看会员影视内容、跳过广告。"
            "资费15元/月，从话费中按月扣除，需在腾讯视频App内登录手机号领取权益。"
        ),
        provider="深圳市腾讯计算机系统有限公司",
    ),
    ServiceSpec(
        code="game_boost",
        name="游戏加速包",
        aliases=("游戏加速", "加速包", "游戏包", "游戏加速包"),
        monthly_fee_fen=600,
        description=(
            "游戏加速包：为手机游戏提供低时延专用通道，减少卡顿和掉线。"
            "按次订购，每次6元，订购后当月有效，不自动续订。"
        ),
        provider="运营商游戏加速平台",
        billing="per_use",
    ),
    ServiceSpec(
        code="mobile_news",
        name="手机报",
        aliases=("手机报", "早晚报", "新闻早晚报", "新闻彩信"),
        monthly_fee_fen=300,
        description="手机报：每天早晚各一期，以彩信形式把当日新闻要闻发到您的手机上。资费3元/月，按月收取。",
        provider="新闻资讯合作方",
    ),
    ServiceSpec(
        code="data_pack_10gb",
        name="10GB流量包",
        aliases=("流量包", "10G流量包", "10GB流量包", "流量加油包", "加油包"),
        monthly_fee_fen=3000,
        description=(
            "10GB流量包：在套餐之外每月额外提供10GB国内通用流量，当月有效、不结转。"
            "资费30元/月，订购后按月自动续订，可随时退订，次月生效。"
        ),
        provider="运营商",
    ),
    ServiceSpec(
        code="cloud_drive",
        name="云盘会员",
        aliases=("云盘", "网盘", "云存储", "云盘会员", "相册备份"),
        monthly_fee_fen=500,
        description="云盘会员：提供200GB云端存储空间，可自动备份手机照片、通讯录和文件。资费5元/月，按月收取。",
        provider="运营商云盘平台",
    ),
    ServiceSpec(
        code="music_vip",
        name="音乐会员",
        aliases=("音乐会员", "音乐包", "听歌会员", "音乐VIP"),
        monthly_fee_fen=800,
        description="音乐会员：在合作音乐App中畅听会员曲库、下载高品质音乐。资费8元/月，按月收取。",
        provider="数字音乐合作方",
    ),
    ServiceSpec(
        code="weather_sms",
        name="天气预报短信",
        aliases=("天气预报", "天气短信", "天气预报短信"),
        monthly_fee_fen=200,
        description="天气预报短信：每天早上以短信发送所在城市的当日天气和出行提示。资费2元/月，按月收取。",
        provider="气象信息合作方",
    ),
    ServiceSpec(
        code="missed_call_alert",
        name="来电提醒",
        aliases=("来电提醒", "未接来电提醒", "漏话提醒", "关机提醒"),
        monthly_fee_fen=200,
        description=(
            "来电提醒：手机关机、无信号或停机期间有人来电时，开机后以短信告诉您谁在什么时间打过电话。"
            "资费2元/月，按月收取。"
        ),
        provider="运营商",
    ),
    ServiceSpec(
        code="iqiyi_vip",
        name="爱奇艺会员",
        aliases=("爱奇艺", "爱奇艺会员", "奇艺会员", "爱奇艺VIP"),
        monthly_fee_fen=1500,
        description=(
            "爱奇艺黄金VIP会员权益：可在爱奇艺App观看会员影视内容、跳过广告。"
            "资费15元/月，从话费中按月扣除。"
        ),
        provider="北京爱奇艺科技有限公司",
    ),
)

_PLANS_BY_CODE = {p.code: p for p in PLANS}
_SERVICES_BY_CODE = {s.code: s for s in SERVICES}


def plan_spec(code: str) -> PlanSpec:
    """The published plan with this code.

    Raises:
        UnknownPlan: no plan has this code.
    """
    try:
        return _PLANS_BY_CODE[code]
    except KeyError:
        raise UnknownPlan(code) from None


def service_spec(code: str) -> ServiceSpec:
    """The published value-added service with this code.

    Raises:
        UnknownService: no service has this code.
    """
    try:
        return _SERVICES_BY_CODE[code]
    except KeyError:
        raise UnknownService(code) from None


def plan_spec_by_name(name: str) -> PlanSpec:
    """The published plan with this exact name (e.g. ``畅享59元套餐``).

    Raises:
        UnknownPlan: no plan has this name.
    """
    for plan in PLANS:
        if plan.name == name:
            return plan
    raise UnknownPlan(name)


def catalogue_terms() -> tuple[CatalogueTerm, ...]:
    """Every name and alias of every service and plan, with its canonical code.

    Each term appears once and means exactly one thing (the catalogue is checked for that);
    services come first, then plans, each in catalogue order, name before aliases.

    Returns:
        The terms, for building a tokenizer dictionary or entity patterns.
    """
    terms: list[CatalogueTerm] = []
    seen: dict[str, str] = {}

    def add(term: str, code: str, kind: str, name: str) -> None:
        if term in seen:
            if seen[term] != code:
                raise ValueError(f"catalogue term {term!r} names both {seen[term]} and {code}")
            return
        seen[term] = code
        terms.append(CatalogueTerm(term=term, code=code, kind=kind, name=name))

    for service in SERVICES:
        for term in (service.name, *service.aliases):
            add(term, service.code, "service", service.name)
    for plan in PLANS:
        for term in (plan.name, *plan.aliases):
            add(term, plan.code, "plan", plan.name)
    return tuple(terms)


def resolve_term(text: str) -> Optional[CatalogueTerm]:
    """The catalogue term that is exactly ``text`` (surrounding spaces ignored), if any."""
    wanted = text.strip()
    for term in catalogue_terms():
        if term.term == wanted:
            return term
    return None


def _apply(row: object, values: dict[str, object]) -> bool:
    changed = False
    for key, value in values.items():
        if getattr(row, key) != value:
            setattr(row, key, value)
            changed = True
    return changed


def ensure_catalogue(session: Session) -> CatalogueSync:
    """Inserts or updates the published plans and services, idempotently.

    Rows are matched by ``code``; a row whose fields differ from the catalogue is updated.
    Rows not in the catalogue are left alone (history may still refer to them).

    Args:
        session: the caller's unit of work.

    Returns:
        How many rows were added and updated.
    """
    plans = {p.code: p for p in session.scalars(select(Plan))}
    plans_added = plans_updated = 0
    for spec in PLANS:
        values: dict[str, object] = {
            "name": spec.name,
            "monthly_fee_fen": spec.monthly_fee_fen,
            "data_mb": spec.data_mb,
            "voice_minutes": spec.voice_minutes,
            "sms_count": spec.sms_count,
            "is_contract": spec.is_contract,
            "description": spec.description,
        }
        row = plans.get(spec.code)
        if row is None:
            session.add(Plan(code=spec.code, **values))
            plans_added += 1
        elif _apply(row, values):
            plans_updated += 1

    services = {s.code: s for s in session.scalars(select(Service))}
    services_added = services_updated = 0
    for sspec in SERVICES:
        svalues: dict[str, object] = {
            "name": sspec.name,
            "aliases": list(sspec.aliases),
            "monthly_fee_fen": sspec.monthly_fee_fen,
            "description": sspec.description,
            "provider": sspec.provider,
            "billing": sspec.billing,
        }
        srow = services.get(sspec.code)
        if srow is None:
            session.add(Service(code=sspec.code, **svalues))
            services_added += 1
        elif _apply(srow, svalues):
            services_updated += 1
    session.flush()
    return CatalogueSync(plans_added, plans_updated, services_added, services_updated)
