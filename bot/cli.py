"""Operator and demo commands: ``python -m bot <command>``.

Commands::

    python -m bot db upgrade                       migrate the store to the latest schema
    python -m bot seed-demo [--if-empty]           write the demo accounts
    python -m bot show PHONE                       an account at a glance
    python -m bot outbox PHONE [--limit N]         what the development SMS gateway "sent"
    python -m bot post-charge PHONE --amount 10.00 --kind vas [--service CODE] [--description TEXT]
    python -m bot post-usage PHONE --data-mb N     set this month's data used (MB), as the usage feed does
    python -m bot complete-closures                carry out the closure requests that took effect
    python -m bot agent-add USERNAME [--name NAME] [--role agent|supervisor]  add or reset a console
                                                   account (password prompted or BOT_NEW_AGENT_PASSWORD)
    python -m bot metrics [--hours N]              conversation metrics as JSON (all, or the last N hours)
    python -m bot metrics-consumer                 count Rasa's events from RabbitMQ (until Ctrl-C)
    python -m bot review list|label|purge          misunderstood messages (bot/cli_review.py)
    python -m bot export-nlu PATH                  labelled messages as NLU training data

The store comes from the settings (``BOT_DATABASE_URL``) and is opened only inside a command.
Expected problems (unknown number, bad amount, unreachable database) print a short message
and exit with 1; success exits with 0.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from typing import Optional, TextIO

from bot.billing.errors import BillingError, InvalidAmount
from bot.clock import Clock, SystemClock, to_local
from bot.texts.formats import mask_phone, yuan

_YUAN_RE = re.compile(r"^(\d{1,9})(?:\.(\d{1,2}))?$")


class CommandError(Exception):
    """An expected problem a command reports to the operator (exit code 1)."""


def parse_yuan(text: str) -> int:
    """Parses an amount of yuan written by a person into fen, exactly (no float).

    ``'10'`` → 1000, ``'10.5'`` → 1050, ``'0.01'`` → 1; a trailing ``元`` or a leading ``¥`` is
    allowed.

    Raises:
        InvalidAmount: not a positive amount with at most two decimals.
    """
    cleaned = str(text).strip().removeprefix("¥").removeprefix("￥").removesuffix("元").strip()
    match = _YUAN_RE.match(cleaned)
    if match is None:
        raise InvalidAmount(text)
    whole, decimals = match.group(1), (match.group(2) or "").ljust(2, "0")
    fen = int(whole) * 100 + int(decimals)
    if fen <= 0:
        raise InvalidAmount(text)
    return fen


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"须为正整数：{text}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"须为正整数：{text}")
    return value


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(1, f"参数错误：{message}\n")


def _data_mb(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"须为不小于 0 的整数（MB）：{text}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"须为不小于 0 的整数（MB）：{text}")
    return value


def _print_alerts(alerts, out: TextIO) -> None:  # type: ignore[no-untyped-def]
    """Lists the alerts a command fired (the result's ``alerts_fired`` notices), if any."""
    if not alerts:
        return
    print(f"已触发提醒 {len(alerts)} 条：", file=out)
    for alert in alerts:
        print(f"  - {alert.label}：{alert.body}", file=out)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m bot``."""
    from bot.billing.models import CHARGE_KINDS

    parser = _Parser(prog="python -m bot", description="计费客服助手：运维与演示命令")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    db = commands.add_parser("db", help="数据库迁移")
    db_commands = db.add_subparsers(dest="db_command", metavar="ACTION", parser_class=_Parser)
    db_commands.required = True
    upgrade = db_commands.add_parser("upgrade", help="把数据库升级到最新结构")
    upgrade.set_defaults(handler=_cmd_db_upgrade)

    seed = commands.add_parser("seed-demo", help="写入演示账户")
    seed.add_argument("--if-empty", action="store_true", help="数据库中已有用户时跳过")
    seed.set_defaults(handler=_cmd_seed_demo)

    show = commands.add_parser("show", help="查看账户概况")
    show.add_argument("phone", metavar="PHONE", help="手机号码")
    show.set_defaults(handler=_cmd_show)

    outbox = commands.add_parser("outbox", help="查看开发短信网关发往某号码的消息")
    outbox.add_argument("phone", metavar="PHONE", help="手机号码")
    outbox.add_argument("--limit", type=_limit, default=20, help="最多显示几条（默认 20）")
    outbox.set_defaults(handler=_cmd_outbox)

    charge = commands.add_parser("post-charge", help="像计费系统一样记一笔扣费")
    charge.add_argument("phone", metavar="PHONE", help="手机号码")
    charge.add_argument("--amount", required=True, help="金额（元），如 10.00")
    charge.add_argument("--kind", required=True, choices=CHARGE_KINDS, help="扣费类型")
    charge.add_argument("--service", default=None, help="增值业务代码，如 video_ringtone")
    charge.add_argument("--description", default="", help="账单摘要（默认按业务或类型生成）")
    charge.set_defaults(handler=_cmd_post_charge)

    usage = commands.add_parser("post-usage", help="像用量系统一样更新本月已用流量（可触发流量提醒）")
    usage.add_argument("phone", metavar="PHONE", help="手机号码")
    usage.add_argument("--data-mb", required=True, type=_data_mb, help="本月已用流量合计（MB），如 4900")
    usage.set_defaults(handler=_cmd_post_usage)

    closures = commands.add_parser("complete-closures", help="办结已到生效时间的销户申请")
    closures.set_defaults(handler=_cmd_complete_closures)

    agent = commands.add_parser("agent-add", help="添加人工客服坐席账号（或重置其密码）")
    agent.add_argument("username", metavar="USERNAME", help="登录名，如 agent2")
    agent.add_argument("--name", default="", help="显示名称（默认同登录名）")
    role_help = "角色：agent 坐席（新账号默认），supervisor 主管（可看运营看板）；已有账号不指定则不变"
    agent.add_argument("--role", choices=("agent", "supervisor"), default=None, help=role_help)
    agent.set_defaults(handler=_cmd_agent_add)

    metrics = commands.add_parser("metrics", help="对话指标汇总（JSON）")
    metrics.add_argument("--hours", type=_limit, default=None, help="只统计最近 N 小时（默认全部）")
    metrics.set_defaults(handler=_cmd_metrics)

    consumer = commands.add_parser("metrics-consumer", help="从 RabbitMQ 读取 Rasa 事件并记录对话指标")
    consumer.set_defaults(handler=_cmd_metrics_consumer)

    wechat = commands.add_parser(
        "deliver-wechat", help="发送排队的微信提醒（模板消息；未绑定或发送失败时改发短信）"
    )
    wechat.add_argument("--once", action="store_true", help="只处理一轮到期的消息后退出")
    wechat.set_defaults(handler=_cmd_deliver_wechat)

    from bot.cli_review import add_commands

    add_commands(commands, _open_store)
    return parser


def _settings():  # type: ignore[no-untyped-def]
    from bot.settings import get_settings

    return get_settings()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - only for display
        return "(无法解析的数据库地址)"


def _open_store():  # type: ignore[no-untyped-def]
    """The store of the settings; refuses a SQLite file that was never created."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from bot.db import Store

    url = _settings().database_url
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        if not Path(parsed.database).exists():
            raise CommandError(f"数据库尚未创建：{parsed.database}\n请先运行：python -m bot db upgrade")
    return Store.from_url(url)


def _cmd_db_upgrade(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    from bot.migrate import upgrade

    url = _settings().database_url
    upgrade(url)
    print(f"数据库已升级到最新结构：{_safe_url(url)}", file=out)
    return 0


def _cmd_seed_demo(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    from bot.seed import DEMO_AGENT_USERNAME, DEMO_PASSWORD, DEMO_STORIES, has_subscribers, seed_demo

    settings = _settings()
    if not settings.is_development:
        raise CommandError("演示数据只能写入开发或测试环境（BOT_ENV=development/test）")
    store = _open_store()
    try:
        with store.transaction() as session:
            if args.if_empty and has_subscribers(session):
                print("数据库中已有用户，跳过演示数据（--if-empty）。", file=out)
                return 0
            report = seed_demo(session, clock.now(), settings)
    finally:
        store.dispose()
    if not report.seeded:
        print("演示账户已存在，未做任何改动。", file=out)
        return 0
    names = {s.phone: s for s in DEMO_STORIES}
    print(
        f"已写入 {len(report.created)} 个演示账户（{report.charges} 笔扣费，{report.payments} 笔缴费，"
        f"{report.bills} 张账单）：",
        file=out,
    )
    for phone in report.created:
        story = names[phone]
        print(f"  {phone}  {story.name}  余额 {yuan(story.balance_fen)} 元  {story.story}", file=out)
    if report.skipped:
        print(f"已存在、未改动：{'、'.join(report.skipped)}", file=out)
    print(f"演示账户的服务密码均为 {DEMO_PASSWORD}。", file=out)
    if report.agent_created:
        print(
            f"演示坐席：{DEMO_AGENT_USERNAME}，密码 {settings.demo_agent_password}（仅限开发环境）。",
            file=out,
        )
    return 0


def _agent_password() -> str:
    """The new agent's password: ``BOT_NEW_AGENT_PASSWORD``, else typed twice (never echoed)."""
    import getpass
    import os

    password = os.environ.get("BOT_NEW_AGENT_PASSWORD", "")
    if password:
        return password
    if not sys.stdin.isatty():
        raise CommandError("请在终端中输入密码，或设置环境变量 BOT_NEW_AGENT_PASSWORD")
    first = getpass.getpass("密码：")
    if getpass.getpass("再输入一次：") != first:
        raise CommandError("两次输入的密码不一致")
    return first


def _cmd_agent_add(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    from bot.handoff.agents import MIN_PASSWORD_LENGTH, create_agent
    from bot.handoff.errors import InvalidAgent

    password = _agent_password()
    store = _open_store()
    try:
        with store.transaction() as session:
            agent = create_agent(
                session, args.username, args.name, password, clock.now(), _settings(), role=args.role
            )
            username, name, role = agent.username, agent.display_name, agent.role
    except InvalidAgent:
        raise CommandError(
            "账号无效：登录名须为 3-40 个字母、数字或 ._-，显示名称不超过 60 字，"
            f"密码至少 {MIN_PASSWORD_LENGTH} 位"
        ) from None
    finally:
        store.dispose()
    role_label = "主管" if role == "supervisor" else "坐席"
    print(f"坐席账号已保存：{username}（{name}，角色：{role_label}）", file=out)
    return 0


def _cmd_metrics(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    import json
    from datetime import timedelta

    from bot.metrics.service import summary

    now = clock.now()
    since = now - timedelta(hours=args.hours) if args.hours else None
    store = _open_store()
    try:
        with store.transaction() as session:
            result = summary(session, now, timedelta(minutes=_settings().metrics_idle_minutes), since)
    finally:
        store.dispose()
    print(json.dumps(result, ensure_ascii=False, indent=2), file=out)
    return 0


def _cmd_metrics_consumer(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    import logging
    import os

    from bot.metrics.consumer import run_forever

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = _settings()
    store = _open_store()
    try:
        stats = run_forever(store, settings)
    finally:
        store.dispose()
    print(
        f"指标消费者已停止：收到 {stats.received} 条，计入 {stats.counted} 条，"
        f"无关或重复 {stats.ignored} 条，无法解析 {stats.dropped} 条。",
        file=out,
    )
    return 0


def _cmd_deliver_wechat(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    import asyncio
    import logging
    import os

    from bot.notifications.wechat_delivery import run_forever, sender_from_settings

    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    settings = _settings()
    store = _open_store()
    try:
        if args.once:
            sender = sender_from_settings(store, settings, clock)

            async def once():  # type: ignore[no-untyped-def]
                try:
                    return await sender.run_once()
                finally:
                    if sender.api is not None:
                        await sender.api.close()

            stats = asyncio.run(once())
        else:
            stats = run_forever(store, settings, clock)
    finally:
        store.dispose()
    print(
        f"微信提醒：微信送达 {stats.sent} 条，稍后重试 {stats.retried} 条，改发短信 {stats.fallback} 条，"
        f"未能送达 {stats.undelivered} 条。",
        file=out,
    )
    return 0


def _gb(mb: int) -> str:
    return f"{mb / 1024:.1f} GB"


def _cmd_show(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    from bot.billing.queries import account_summary
    from bot.phone import normalise_phone
    from bot.texts.labels import CHANNEL_LABELS, describe_alert

    if normalise_phone(args.phone) is None:
        raise CommandError(f"号码格式不正确：{args.phone}（应为 11 位手机号码）")
    store = _open_store()
    try:
        with store.transaction() as session:
            summary = account_summary(session, args.phone, clock.now())
    finally:
        store.dispose()

    lines = [
        f"号码：{summary.masked_phone}（{summary.name}）",
        f"状态：{summary.status_label}",
        f"套餐：{summary.plan_name}（{yuan(summary.plan_fee_fen)} 元/月）",
        f"余额：{yuan(summary.balance_fen)} 元",
        f"欠费：{yuan(summary.arrears_fen)} 元",
        f"本月消费（{summary.period}）：{yuan(summary.month_spend_fen)} 元",
    ]
    if summary.contract_end is not None:
        lines.append(
            f"合约：至 {summary.contract_end.isoformat()}，提前解约违约金 "
            f"{yuan(summary.early_termination_fee_fen)} 元"
        )
    else:
        lines.append("合约：无")
    if summary.subscriptions:
        lines.append("已订增值业务：")
        for sub in summary.subscriptions:
            fee = f"{yuan(sub.fee_fen)} 元/次" if sub.billing == "per_use" else f"{yuan(sub.fee_fen)} 元/月"
            used = (
                "从未使用" if sub.last_used_at is None else f"最近使用 {to_local(sub.last_used_at):%Y-%m-%d}"
            )
            lines.append(
                f"  - {sub.service_name}（{sub.service_code}）{fee}，"
                f"{CHANNEL_LABELS.get(sub.channel, sub.channel)}开通，"
                f"{to_local(sub.started_at):%Y-%m-%d} 起，{used}"
            )
    else:
        lines.append("已订增值业务：无")
    if summary.alerts:
        lines.append("提醒设置：")
        lines.extend(f"  - {describe_alert(rule)}" for rule in summary.alerts)
    else:
        lines.append("提醒设置：无")
    usage = summary.data_usage
    if usage is not None:
        lines.append(
            f"本月流量：已用 {_gb(usage.data_used_mb)} / {_gb(usage.data_allowance_mb)}"
            f"（{usage.data_percent}%）；"
            f"通话 {usage.voice_used_minutes}/{usage.voice_allowance_minutes} 分钟；"
            f"短信 {usage.sms_used}/{usage.sms_allowance} 条"
        )
    else:
        lines.append("本月流量：暂无记录")
    print("\n".join(lines), file=out)
    return 0


def _cmd_outbox(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    from bot.billing.queries import list_outbox
    from bot.phone import normalise_phone
    from bot.texts.labels import NOTIFY_CHANNEL_LABELS

    number = normalise_phone(args.phone)
    if number is None:
        raise CommandError(f"号码格式不正确：{args.phone}（应为 11 位手机号码）")
    store = _open_store()
    try:
        with store.transaction() as session:
            messages = list_outbox(session, number, limit=args.limit)
    finally:
        store.dispose()
    if not messages:
        print(f"没有发往 {mask_phone(number)} 的消息。", file=out)
        return 0
    print(f"发往 {mask_phone(number)} 的消息（最新在前，共 {len(messages)} 条）：", file=out)
    for message in messages:
        channel = NOTIFY_CHANNEL_LABELS.get(message.channel, message.channel)
        status = "" if message.status == "sent" else f"（{message.status}）"
        print(
            f"{to_local(message.created_at):%Y-%m-%d %H:%M:%S}  {channel}  [{message.kind}]{status}  "
            f"{message.body}",
            file=out,
        )
    return 0


def _cmd_post_charge(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    from bot.billing.posting import post_charge
    from bot.phone import normalise_phone

    amount_fen = parse_yuan(args.amount)
    if normalise_phone(args.phone) is None:
        raise CommandError(f"号码格式不正确：{args.phone}（应为 11 位手机号码）")
    store = _open_store()
    try:
        with store.transaction() as session:
            result = post_charge(
                session,
                phone=args.phone,
                amount_fen=amount_fen,
                item_kind=args.kind,
                description=args.description,
                service_code=args.service,
                at=clock.now(),
                actor="cli",
            )
    finally:
        store.dispose()
    print(
        f"已扣费：{mask_phone(result.phone)}  {result.description}  {yuan(result.amount_fen)} 元"
        f"（账期 {result.bill_period}，扣费编号 {result.charge_id}）",
        file=out,
    )
    print(
        f"当前余额：{yuan(result.balance_fen)} 元；" f"本期账单合计：{yuan(result.bill_total_fen)} 元",
        file=out,
    )
    _print_alerts(result.alerts_fired, out)
    return 0


def _cmd_complete_closures(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    from bot.billing.closure import complete_due_closures
    from bot.notifications.errors import SmsGatewayError
    from bot.notifications.sms import gateway_from_settings

    sms = gateway_from_settings(_settings())
    store = _open_store()
    try:
        with store.transaction() as session:
            results = complete_due_closures(session, clock.now(), sms)
    except SmsGatewayError as exc:
        raise CommandError(f"短信发送失败（{exc}），本次未办结任何销户，请稍后重试") from None
    finally:
        store.dispose()
    if not results:
        print("没有到期的销户申请。", file=out)
        return 0
    for result in results:
        if result.completed:
            print(
                f"已销户：{mask_phone(result.phone)}（申请 {result.request_id}）"
                f"违约金 {yuan(result.termination_fee_fen)} 元，退还余额 {yuan(result.refund_fen)} 元",
                file=out,
            )
        else:
            reasons = "；".join(b.message_zh for b in result.blockers)
            print(f"暂缓：{mask_phone(result.phone)}（申请 {result.request_id}）{reasons}", file=out)
    return 0


def _cmd_post_usage(args: argparse.Namespace, clock: Clock, out: TextIO) -> int:
    from bot.billing.posting import record_usage
    from bot.phone import normalise_phone

    if normalise_phone(args.phone) is None:
        raise CommandError(f"号码格式不正确：{args.phone}（应为 11 位手机号码）")
    store = _open_store()
    try:
        with store.transaction() as session:
            result = record_usage(
                session, phone=args.phone, data_used_mb=args.data_mb, at=clock.now(), actor="cli"
            )
    finally:
        store.dispose()
    print(
        f"已更新流量：{mask_phone(result.phone)}  账期 {result.period} 已用 {_gb(result.data_used_mb)} / "
        f"{_gb(result.data_allowance_mb)}（{result.data_percent}%）",
        file=out,
    )
    _print_alerts(result.alerts_fired, out)
    return 0


Handler = Callable[[argparse.Namespace, Clock, TextIO], int]


def main(
    argv: Optional[Sequence[str]] = None,
    *,
    clock: Optional[Clock] = None,
    out: Optional[TextIO] = None,
    err: Optional[TextIO] = None,
) -> int:
    """Runs one command; returns the exit code (0 success, 1 any error) instead of raising.

    Args:
        argv: the arguments, without the program name; ``sys.argv[1:]`` when not given.
        clock: the time source (tests pass a ``FixedClock``); the system clock by default.
        out: where results go; standard output by default.
        err: where error messages go; standard error by default.
    """
    from sqlalchemy.exc import SQLAlchemyError

    from bot.db import StoreUnavailable
    from bot.review.labels import InvalidLabel
    from bot.settings import SettingsError
    from bot.texts.review import refusal

    out = out or sys.stdout
    err = err or sys.stderr
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code in (0, None) else 1
    handler: Handler = args.handler
    try:
        from bot.app import wire_events

        wire_events()  # the alerts hear what post-charge, post-usage and complete-closures write
        return handler(args, clock or SystemClock(), out)
    except (BillingError, CommandError) as exc:
        print(f"错误：{exc}", file=err)
    except InvalidLabel as exc:
        print(f"错误：{refusal(exc.code, exc.detail)}", file=err)
    except SettingsError as exc:
        print(f"配置错误：{exc}", file=err)
    except StoreUnavailable as exc:
        print(
            f"无法访问数据库（{exc}）。请确认数据库已启动、BOT_DATABASE_URL 正确，"
            "并已运行 python -m bot db upgrade。",
            file=err,
        )
    except SQLAlchemyError as exc:
        print(
            f"数据库出错（{exc.__class__.__name__}）。请确认数据库可以连接、BOT_DATABASE_URL 正确，"
            "并已运行 python -m bot db upgrade。",
            file=err,
        )
    return 1
