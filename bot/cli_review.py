"""The review-queue commands of ``python -m bot`` (``bot/cli.py`` registers them):

    python -m bot review list [--flat]               pending misunderstood messages, grouped by similar text
    python -m bot review label ID[,ID...] INTENT     label messages (operators without the console)
    python -m bot review purge                       delete messages older than BOT_REVIEW_KEEP_DAYS
    python -m bot export-nlu PATH                    labelled messages as NLU training data (exported)

Refused labels raise ``bot.review.labels.InvalidLabel`` (``bot/cli.py`` prints them).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TextIO

from bot.clock import Clock
from bot.review import queue
from bot.review.export import Example, render
from bot.review.labels import load_vocabulary
from bot.settings import PROJECT_ROOT, get_settings
from bot.texts import review as words

OpenStore = Callable[[], Any]


def _ids(text: str) -> list[int]:
    try:
        ids = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"须为逗号分隔的编号：{text}") from None
    if not ids or min(ids) <= 0:
        raise argparse.ArgumentTypeError(f"须为逗号分隔的编号：{text}")
    return ids


def add_commands(commands: Any, open_store: OpenStore) -> None:
    """Adds ``review`` and ``export-nlu`` to the sub-commands of ``python -m bot``."""

    def bound(handler: Callable[..., int]) -> Callable[[argparse.Namespace, Clock, TextIO], int]:
        return lambda args, clock, out: handler(args, clock, out, open_store)

    review = commands.add_parser("review", help="待审消息：机器人没理解的用户消息")
    actions = review.add_subparsers(dest="review_command", metavar="ACTION", parser_class=type(review))
    actions.required = True
    listing = actions.add_parser("list", help="列出待标注的消息（已脱敏，按相似文本分组）")
    listing.add_argument("--flat", action="store_true", help="不分组，每行一条")
    listing.set_defaults(handler=bound(_cmd_list))
    labelling = actions.add_parser("label", help="把若干条消息标注为某个意图")
    labelling.add_argument("ids", type=_ids, help="消息编号，多个用逗号分隔")
    labelling.add_argument("intent", help="意图（领域文件里的意图，另加 noise）")
    labelling.add_argument("--by", default="cli", help="标注人（默认 cli）")
    labelling.set_defaults(handler=bound(_cmd_label))
    purging = actions.add_parser("purge", help="删除超过保留期（BOT_REVIEW_KEEP_DAYS）的待审消息")
    purging.set_defaults(handler=bound(_cmd_purge))

    export = commands.add_parser(
        "export-nlu", help="把已标注的消息导出为 Rasa NLU 训练数据（YAML）并标记为已导出"
    )
    export.add_argument("path", help="输出文件，例如 data/nlu/reviewed/2026-12.yml（已存在则合并，不重复）")
    export.set_defaults(handler=bound(_cmd_export))


def _cmd_list(args: argparse.Namespace, clock: Clock, out: TextIO, open_store: OpenStore) -> int:
    store = open_store()
    try:
        with store.transaction() as session:
            groups = queue.pending_groups(session)
            count = sum(len(group.items) for group in groups)
            lines: list[str] = []
            items = sorted((i for g in groups for i in g.items), key=lambda i: (i.created_at, i.id))
            for block in [items] if args.flat else [list(g.items) for g in groups]:
                if not args.flat and len(block) > 1:
                    lines.append(words.group_head(len(block)))
                for item in block:
                    lines.append(
                        words.item_line(
                            item.id,
                            item.created_at,
                            item.channel,
                            item.predicted_intent,
                            item.confidence,
                            item.reason,
                            item.text,
                        )
                    )
    finally:
        store.dispose()
    for line in lines:
        print(line, file=out)
    print(words.pending_summary(count, len(groups)), file=out)
    return 0


def _cmd_label(args: argparse.Namespace, clock: Clock, out: TextIO, open_store: OpenStore) -> int:
    vocabulary = load_vocabulary(PROJECT_ROOT)
    store = open_store()
    try:
        with store.transaction() as session:
            done = queue.label(session, args.ids, args.intent, vocabulary, by=args.by, now=clock.now())
    finally:
        store.dispose()
    print(words.labelled(len(done), args.intent), file=out)
    return 0


def _cmd_purge(args: argparse.Namespace, clock: Clock, out: TextIO, open_store: OpenStore) -> int:
    days = get_settings().review_keep_days
    store = open_store()
    try:
        with store.transaction() as session:
            count = queue.purge(session, clock.now() - timedelta(days=days))
    finally:
        store.dispose()
    print(words.purged(count, days), file=out)
    return 0


def _cmd_export(args: argparse.Namespace, clock: Clock, out: TextIO, open_store: OpenStore) -> int:
    path = Path(args.path)
    store = open_store()
    written = marked = 0
    try:
        with store.transaction() as session:
            items = queue.labelled(session)
            if items:
                existing = path.read_text(encoding="utf-8") if path.exists() else None
                examples = [Example(i.text, i.label_intent, i.label_entities or ()) for i in items]
                content, written = render(examples, existing)
                if written or existing is None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
                    partial.write_text(content, encoding="utf-8")
                    partial.replace(path)
                queue.mark_exported(session, items, clock.now())
                marked = len(items)
    finally:
        store.dispose()
    print(words.exported(written, marked, str(path)), file=out)
    return 0
