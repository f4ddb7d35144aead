"""Deterministic demo accounts, dated relative to a given moment.

Every demo account has a few months of history (plan fee on the 1st of each month,
value-added services, payments), a bill for each period (closed ones ``paid``/``unpaid`` by
first-in, first-out settlement, the current one ``open``) and this period's usage counters.
Balances come out of the history: ``balance_fen == sum(payments) - sum(charges)``.

The stories the assistant is demonstrated with (see ``DEMO_STORIES``):

* 13800138000 张伟 — 视频彩铃 opened ~70 days ago through an SMS marketing link, never used,
  charged every month since; 腾讯视频会员 opened a year ago in the App. Balance 36.50 元.
* 13900139000 李娜 — last month's bill of 58.00 元 unpaid, suspended (停机) since the 1st.
  Balance -58.00 元.
* 13700137000 王强 — 5G contract until 2027-06-30, early-termination fee 300.00 元, balance
  and spend alerts by SMS. Balance 210.00 元.
* 13600136000 刘洋 — clean account; nothing blocks closure. Balance 120.00 元.
* 13500135000 陈静 — 95% of the data allowance used; 游戏加速包 charged twice minutes apart
  today or yesterday. Balance 5.20 元.

The service password of every demo account is :data:`DEMO_PASSWORD`; only its hash is stored.
The demo agent :data:`DEMO_AGENT_USERNAME` signs in to the agent console with
``settings.demo_agent_password`` (development and test only).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Optional

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot import audit
from bot.billing.catalogue import CatalogueSync, ensure_catalogue, plan_spec
from bot.billing.models import (
    AlertRule,
    Bill,
    Charge,
    DataUsage,
    Payment,
    Plan,
    Service,
    Subscriber,
    Subscription,
)
from bot.billing.posting import settle_bills
from bot.clock import SHANGHAI, local_period, to_local
from bot.handoff.agents import create_agent
from bot.identity.hashing import hash_secret, normalise_id_digits
from bot.notifications.models import Notification
from bot.settings import Settings, SettingsError
from bot.texts.formats import yuan

#: The service password (服务密码) of every demo account. Only its hash is stored.
DEMO_PASSWORD = "135790"  # noqa: S105 - the documented demo password, hashed before storing
#: The demo agent of the agent console (password: ``settings.demo_agent_password``).
DEMO_AGENT_USERNAME = "agent1"
DEMO_AGENT_NAME = "客服小王"
#: Months of history, the current one included.
HISTORY_MONTHS = 6


@dataclass(frozen=True)
class DemoStory:
    """What a demo account must show.

    Attributes:
        phone: the number.
        name: the subscriber's name.
        plan_code: catalogue code of the plan.
        balance_fen: the balance the history must add up to.
        id_last6: last six characters of the ID number (only hashed into the store).
        story: one line on what the account demonstrates.
    """

    phone: str
    name: str
    plan_code: str
    balance_fen: int
    id_last6: str
    story: str


DEMO_STORIES: tuple[DemoStory, ...] = (
    DemoStory(
        "13800138000",
        "张伟",
        "changxiang_59",
        3650,
        "10001X",
        "视频彩铃经短信营销链接开通、从未使用却每月扣费；腾讯视频会员在App开通并常用",
    ),
    DemoStory(
        "13900139000", "李娜", "changxiang_39", -5800, "200026", "上月账单58.00元未缴，本月1日起欠费停机"
    ),
    DemoStory(
        "13700137000",
        "王强",
        "5g_changxiang_129",
        21000,
        "300037",
        "5G合约至2027-06-30，提前解约违约金300.00元；已设余额和消费短信提醒",
    ),
    DemoStory(
        "13600136000",
        "刘洋",
        "changxiang_59",
        12000,
        "400048",
        "账户干净：无欠费、无合约、无未结申诉，可直接销户",
    ),
    DemoStory(
        "13500135000", "陈静", "changxiang_19", 520, "500059", "本月流量已用95%；游戏加速包同一天被扣两次"
    ),
    DemoStory(
        "13400134000",
        "赵敏",
        "changxiang_39",
        4200,
        "600061",
        "普通账户：营业厅开通天气预报短信，App订购10GB流量包",
    ),
)
#: The demo numbers, in story order.
DEMO_PHONES: tuple[str, ...] = tuple(s.phone for s in DEMO_STORIES)


@dataclass(frozen=True)
class SeedReport:
    """What :func:`seed_demo` did.

    Attributes:
        created: numbers whose accounts were created now.
        skipped: numbers that already existed and were left alone.
        charges: charges written.
        payments: payments written.
        bills: bills written.
        catalogue: what the catalogue sync changed.
        agent_created: whether the demo agent was created now.
    """

    created: tuple[str, ...]
    skipped: tuple[str, ...]
    charges: int
    payments: int
    bills: int
    catalogue: CatalogueSync
    agent_created: bool = False

    @property
    def seeded(self) -> bool:
        """Whether any account was created."""
        return bool(self.created)


class _Calendar:
    """Months counted from the current one (offset 0), in Asia/Shanghai, never past ``now``."""

    def __init__(self, now: datetime) -> None:
        if now.tzinfo is None:
            raise ValueError("seed_demo needs a timezone-aware 'now'")
        self.now = now.astimezone(timezone.utc)
        self.local = to_local(self.now)

    def _year_month(self, offset: int) -> tuple[int, int]:
        index = self.local.year * 12 + (self.local.month - 1) + offset
        return index // 12, index % 12 + 1

    def month_start(self, offset: int) -> datetime:
        year, month = self._year_month(offset)
        return datetime(year, month, 1, tzinfo=SHANGHAI).astimezone(timezone.utc)

    def period(self, offset: int) -> str:
        year, month = self._year_month(offset)
        return f"{year:04d}-{month:02d}"

    def date(self, offset: int, day: int) -> date:
        year, month = self._year_month(offset)
        return date(year, month, min(day, calendar.monthrange(year, month)[1]))

    def at(self, offset: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
        """A local moment of month ``offset`` (day clipped to the month), no later than now."""
        year, month = self._year_month(offset)
        day = min(day, calendar.monthrange(year, month)[1])
        moment = datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(timezone.utc)
        return min(moment, self.now)

    def clamp(self, moment: datetime) -> datetime:
        return min(moment, self.now)


@dataclass
class _Sub:
    service_code: str
    channel: str
    started_at: datetime
    last_used_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    row: Optional[Subscription] = None


@dataclass
class _Charge:
    at: datetime
    kind: str
    amount_fen: int
    description: str
    service_code: Optional[str] = None
    sub: Optional[_Sub] = None


@dataclass
class _Pay:
    at: datetime
    amount_fen: int
    method: str
    reference: str


@dataclass
class _Account:
    story: DemoStory
    opened_at: datetime
    status: str = "active"
    contract_end: Optional[date] = None
    etf_fen: int = 0
    subs: list[_Sub] = field(default_factory=list)
    charges: list[_Charge] = field(default_factory=list)
    payments: list[_Pay] = field(default_factory=list)
    alerts: list[dict[str, object]] = field(default_factory=list)
    notes: list[tuple[datetime, str, str]] = field(default_factory=list)
    usage: tuple[int, int, int] = (0, 0, 0)

    def subscribe(self, service_code: str, channel: str, started_at: datetime, **kwargs: object) -> _Sub:
        sub = _Sub(service_code, channel, started_at, **kwargs)  # type: ignore[arg-type]
        self.subs.append(sub)
        return sub

    def charge(
        self,
        at: datetime,
        kind: str,
        amount_fen: int,
        description: str,
        service_code: Optional[str] = None,
        sub: Optional[_Sub] = None,
    ) -> None:
        self.charges.append(_Charge(at, kind, amount_fen, description, service_code, sub))

    def pay(self, at: datetime, amount_fen: int, method: str) -> None:
        reference = f"DEMO-{self.story.phone[-4:]}-{len(self.payments) + 1:02d}"
        self.payments.append(_Pay(at, amount_fen, method, reference))

    def balance_fen(self) -> int:
        return sum(p.amount_fen for p in self.payments) - sum(c.amount_fen for c in self.charges)

    def pay_rest(self, at: datetime, method: str) -> None:
        """Adds the one payment that makes the history add up to the story's balance."""
        rest = self.story.balance_fen - self.balance_fen()
        if rest <= 0:
            raise RuntimeError(f"demo history of {self.story.phone} needs no further payment ({rest})")
        self.pay(at, rest, method)

    def monthly_fees(self, cal: _Calendar, services: dict[str, Service], offsets: range) -> None:
        """Plan fee on the 1st of each month; monthly services when opened and on each 1st after."""
        plan = plan_spec(self.story.plan_code)
        for offset in offsets:
            first = cal.at(offset, 1, 0, 10)
            self.charge(first, "plan_fee", plan.monthly_fee_fen, f"{plan.name}月费")
            for i, sub in enumerate(self.subs, start=1):
                service = services[sub.service_code]
                if service.billing != "monthly":
                    continue
                due = cal.clamp(first + timedelta(seconds=5 * i))
                if sub.started_at < cal.month_start(offset):
                    running = sub.ended_at is None or sub.ended_at > due
                    if running:
                        self.charge(
                            due,
                            "vas",
                            service.monthly_fee_fen,
                            f"{service.name}月功能费",
                            sub.service_code,
                            sub,
                        )
                elif local_period(sub.started_at) == cal.period(offset):
                    self.charge(
                        sub.started_at,
                        "vas",
                        service.monthly_fee_fen,
                        f"{service.name}月功能费（开通当月）",
                        sub.service_code,
                        sub,
                    )


def _accounts(cal: _Calendar, services: dict[str, Service]) -> list[_Account]:
    now = cal.now
    window = range(-(HISTORY_MONTHS - 1), 1)
    stories = {s.phone: s for s in DEMO_STORIES}
    accounts: list[_Account] = []

    # 张伟: a video ringtone he never asked for, opened through an SMS marketing link.
    zhang = _Account(stories["13800138000"], opened_at=now - timedelta(days=6 * 365 + 41))
    zhang.subscribe(
        "tencent_video", "app", now - timedelta(days=365), last_used_at=now - timedelta(days=2, hours=3)
    )
    ringtone = zhang.subscribe("video_ringtone", "sms_marketing", now - timedelta(days=70, hours=2))
    zhang.monthly_fees(cal, services, window)
    zhang.notes.append(
        (
            ringtone.started_at,
            "subscription",
            "【订购提醒】您已成功订购视频彩铃业务，资费10元/月，开通当月即收取整月费用。"
            "如非本人操作，请回复“TDCL”退订或拨打客服热线。",
        )
    )
    for offset in range(-(HISTORY_MONTHS - 1), 0):
        zhang.pay(cal.at(offset, 5, 20, 31), 10000, "wechat_pay")
    zhang.pay_rest(cal.at(0, 5, 12, 8), "alipay")
    zhang.usage = (12595, 136, 12)
    accounts.append(zhang)

    # 李娜: last month's bill unpaid, suspended since the 1st, so nothing charged this month.
    li = _Account(stories["13900139000"], opened_at=now - timedelta(days=3 * 365 + 100), status="suspended")
    li.subscribe("iqiyi_vip", "app", now - timedelta(days=8 * 30), last_used_at=now - timedelta(days=40))
    li.monthly_fees(cal, services, range(-(HISTORY_MONTHS - 1), 0))
    li.charge(cal.at(-1, 20, 23, 50), "voice", 400, "国内通话套餐外20分钟（0.20元/分钟）")
    for offset in range(-(HISTORY_MONTHS - 2), 0):  # on the 8th, the previous month's bill
        li.pay(cal.at(offset, 8, 19, 2), 5400, "alipay")
    li.notes.append(
        (
            cal.at(0, 1, 0, 30),
            "arrears",
            "【停机提醒】尊敬的客户，您的账户已欠费58.00元，已于本月1日暂停服务。请及时缴清欠费以恢复使用。",
        )
    )
    li.usage = (0, 0, 0)
    accounts.append(li)

    # 王强: 5G contract with an early-termination fee, and two alert rules.
    wang = _Account(
        stories["13700137000"],
        opened_at=now - timedelta(days=509),
        contract_end=date(2027, 6, 30),
        etf_fen=30000,
    )
    wang.subscribe("cloud_drive", "app", now - timedelta(days=300), last_used_at=now - timedelta(days=1))
    wang.monthly_fees(cal, services, window)
    roaming_at = cal.at(-3, 18, 21, 40)
    wang.charge(roaming_at, "data", 4500, "国际漫游流量费（日本，3天）")
    rules_at = cal.at(-4, 10, 20, 15)
    wang.alerts.append({"alert_type": "balance", "threshold": 3000, "channel": "sms", "created_at": rules_at})
    wang.alerts.append(
        {
            "alert_type": "spend",
            "threshold": 15000,
            "channel": "sms",
            "created_at": rules_at,
            "last_fired_at": roaming_at,
        }
    )
    spend_then = sum(c.amount_fen for c in wang.charges if local_period(c.at) == cal.period(-3))
    wang.notes.append(
        (
            roaming_at,
            "alert",
            f"【消费提醒】您本月消费已达{yuan(spend_then)}元，超过您设置的150.00元提醒额度。",
        )
    )
    for offset in (-5, -3, -1):
        wang.pay(cal.at(offset, 3, 9, 15), 30000, "bank_card")
    wang.pay_rest(cal.at(0, 3, 9, 15), "bank_card")
    wang.usage = (21504, 412, 30)
    accounts.append(wang)

    # 刘洋: clean, nothing blocks closure.
    liu = _Account(stories["13600136000"], opened_at=now - timedelta(days=4 * 365 + 17))
    liu.monthly_fees(cal, services, window)
    liu.pay(cal.at(-5, 10, 18, 45), 20000, "alipay")
    liu.pay_rest(cal.at(-2, 10, 18, 45), "alipay")
    liu.usage = (8192, 95, 4)
    accounts.append(liu)

    # 陈静: data almost used up, and the game booster charged twice minutes apart.
    chen = _Account(stories["13500135000"], opened_at=now - timedelta(days=2 * 365 + 63))
    chen.monthly_fees(cal, services, window)
    first = to_local(now - timedelta(days=1)).replace(hour=21, minute=14, second=5)
    if local_period(first) != local_period(now) or first < cal.month_start(0) + timedelta(hours=1):
        first = cal.month_start(0) + (now - cal.month_start(0)) / 2
    first = first.astimezone(timezone.utc)
    second = cal.clamp(first + timedelta(minutes=2, seconds=37))
    boost = chen.subscribe(
        "game_boost",
        "app",
        first,
        last_used_at=cal.clamp(second + timedelta(minutes=40)),
        ended_at=cal.month_start(1),
    )
    for moment in (first, second):
        chen.charge(
            moment, "vas", services["game_boost"].monthly_fee_fen, "游戏加速包按次订购", "game_boost", boost
        )
    chen.pay(cal.at(-5, 6, 12, 0), 5000, "alipay")
    chen.pay(cal.at(-3, 6, 12, 0), 5000, "alipay")
    chen.pay_rest(cal.at(-1, 6, 12, 0), "wechat_pay")
    allowance = plan_spec("changxiang_19").data_mb
    chen.usage = (allowance * 95 // 100, 61, 0)
    accounts.append(chen)

    # 赵敏: an ordinary account.
    zhao = _Account(stories["13400134000"], opened_at=now - timedelta(days=5 * 365 + 200))
    zhao.subscribe(
        "weather_sms", "hall", now - timedelta(days=3 * 365), last_used_at=now - timedelta(hours=7)
    )
    zhao.subscribe("data_pack_10gb", "app", cal.at(-2, 15, 13, 20), last_used_at=now - timedelta(hours=5))
    zhao.monthly_fees(cal, services, window)
    for offset in (-5, -4, -3, -2, -1):
        zhao.pay(cal.at(offset, 2, 8, 30), 5000, "wechat_pay")
    zhao.pay_rest(cal.at(0, 2, 8, 30), "wechat_pay")
    zhao.usage = (15360, 180, 9)
    accounts.append(zhao)

    for account in accounts:
        if account.balance_fen() != account.story.balance_fen:
            raise RuntimeError(f"demo history of {account.story.phone} does not add up")
        if any(c.at > now for c in account.charges) or any(p.at > now for p in account.payments):
            raise RuntimeError(f"demo history of {account.story.phone} lies in the future")
    return accounts


def has_subscribers(session: Session) -> bool:
    """Whether the store holds any subscriber at all (``seed-demo --if-empty`` skips then)."""
    return bool(session.scalar(select(func.count()).select_from(Subscriber)))


def is_seeded(session: Session) -> bool:
    """Whether every demo account exists."""
    found = session.scalar(
        select(func.count()).select_from(Subscriber).where(Subscriber.phone.in_(DEMO_PHONES))
    )
    return found == len(DEMO_PHONES)


def seed_demo(session: Session, now: datetime, settings: Settings) -> SeedReport:
    """Creates the demo accounts that do not exist yet, with their history, in the caller's transaction.

    The catalogue is synced first (:func:`ensure_catalogue`). Accounts whose number already
    exists are left alone, so running this twice changes nothing the second time.

    Args:
        session: the caller's unit of work.
        now: the moment the history leads up to (aware; pass ``clock.now()``). Nothing in the
            data is later than ``now``.
        settings: for the pepper and iterations that hash the service password and ID digits.

    Returns:
        What was created and what was skipped.
    """
    catalogue = ensure_catalogue(session)
    cal = _Calendar(now)
    services = {s.code: s for s in session.scalars(select(Service))}
    plans = {p.code: p for p in session.scalars(select(Plan))}
    existing = set(session.scalars(select(Subscriber.phone).where(Subscriber.phone.in_(DEMO_PHONES))))

    def secret(value: str) -> str:
        return hash_secret(value, pepper=settings.secret_key, iterations=settings.password_iterations)

    created: list[str] = []
    n_charges = n_payments = n_bills = 0
    for account in _accounts(cal, services):
        story = account.story
        if story.phone in existing:
            continue
        subscriber = Subscriber(
            phone=story.phone,
            name=story.name,
            status=account.status,
            plan_id=plans[story.plan_code].id,
            opened_at=account.opened_at,
            contract_end=account.contract_end,
            early_termination_fee_fen=account.etf_fen,
            balance_fen=account.balance_fen(),
            password_hash=secret(DEMO_PASSWORD),
            id_number_hash=None,
            id_last6_hash=secret(normalise_id_digits(story.id_last6)),
        )
        session.add(subscriber)
        session.flush()

        for sub in account.subs:
            sub.row = Subscription(
                subscriber_id=subscriber.id,
                service_id=services[sub.service_code].id,
                channel=sub.channel,
                started_at=sub.started_at,
                ended_at=sub.ended_at,
                last_used_at=sub.last_used_at,
            )
            session.add(sub.row)
        session.flush()

        totals: dict[str, int] = {cal.period(o): 0 for o in range(-(HISTORY_MONTHS - 1), 1)}
        for c in sorted(account.charges, key=lambda c: c.at):
            period = local_period(c.at)
            totals[period] = totals.get(period, 0) + c.amount_fen
            session.add(
                Charge(
                    subscriber_id=subscriber.id,
                    charged_at=c.at,
                    item_kind=c.kind,
                    service_id=services[c.service_code].id if c.service_code else None,
                    subscription_id=c.sub.row.id if c.sub is not None and c.sub.row is not None else None,
                    amount_fen=c.amount_fen,
                    bill_period=period,
                    description=c.description,
                )
            )
        for p in sorted(account.payments, key=lambda p: p.at):
            session.add(
                Payment(
                    subscriber_id=subscriber.id,
                    paid_at=p.at,
                    amount_fen=p.amount_fen,
                    method=p.method,
                    reference=p.reference,
                )
            )

        current = local_period(cal.now)
        for period, total in sorted(totals.items()):
            offset = next(o for o in range(-(HISTORY_MONTHS - 1), 1) if cal.period(o) == period)
            closed = period < current
            session.add(
                Bill(
                    subscriber_id=subscriber.id,
                    period=period,
                    total_fen=total,
                    status="unpaid" if closed else "open",
                    issued_at=cal.at(offset + 1, 1, 2, 0) if closed else None,
                    due_date=cal.date(offset + 1, 15) if closed else None,
                )
            )
        session.flush()
        settle_bills(session, subscriber.id)

        used_mb, voice, sms = account.usage
        session.add(
            DataUsage(
                subscriber_id=subscriber.id,
                period=current,
                data_used_mb=used_mb,
                voice_used_minutes=voice,
                sms_used=sms,
                updated_at=cal.now,
            )
        )
        for rule in account.alerts:
            created_at = rule["created_at"]
            session.add(
                AlertRule(
                    subscriber_id=subscriber.id,
                    alert_type=rule["alert_type"],
                    threshold=rule["threshold"],
                    channel=rule["channel"],
                    active=True,
                    armed=True,
                    created_at=created_at,
                    updated_at=rule.get("last_fired_at", created_at),
                    last_fired_at=rule.get("last_fired_at"),
                )
            )
        for at, kind, body in account.notes:
            session.add(
                Notification(
                    subscriber_id=subscriber.id,
                    phone=story.phone,
                    channel="sms",
                    kind=kind,
                    body=body,
                    status="sent",
                    created_at=at,
                )
            )
        if account.status == "suspended":
            audit.record(
                session,
                at=cal.at(0, 1, 0, 20),
                actor="system",
                action="subscriber.suspended",
                subscriber_id=subscriber.id,
                entity="subscriber",
                entity_id=subscriber.id,
                details={"reason": "arrears", "balance_fen": account.balance_fen()},
            )

        created.append(story.phone)
        n_charges += len(account.charges)
        n_payments += len(account.payments)
        n_bills += len(totals)

    if created:
        audit.record(
            session,
            at=cal.now,
            actor="system",
            action="demo.seeded",
            details={"subscribers": len(created), "charges": n_charges, "payments": n_payments},
        )
    session.flush()
    return SeedReport(
        created=tuple(created),
        skipped=tuple(p for p in DEMO_PHONES if p in existing),
        charges=n_charges,
        payments=n_payments,
        bills=n_bills,
        catalogue=catalogue,
        agent_created=seed_demo_agent(session, now, settings),
    )


def seed_demo_agent(session: Session, now: datetime, settings: Settings) -> bool:
    """Creates the demo agent :data:`DEMO_AGENT_USERNAME` unless it exists (development and test only).

    Returns:
        Whether the agent was created now.

    Raises:
        SettingsError: outside development, where a documented password must never sign anyone in.
    """
    from bot.handoff.models import Agent

    if not settings.is_development:
        raise SettingsError("the demo agent is seeded only in development and test (BOT_ENV)")
    if session.scalar(select(func.count()).select_from(Agent).where(Agent.username == DEMO_AGENT_USERNAME)):
        return False
    create_agent(
        session, DEMO_AGENT_USERNAME, DEMO_AGENT_NAME, settings.demo_agent_password, now, settings, actor=None
    )
    return True
