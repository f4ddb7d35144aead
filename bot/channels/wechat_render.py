"""The bot's messages as a WeChat subscriber reads them: one text, buttons as numbered choices,
cut into pieces WeChat accepts."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import OutputChannel

logger = logging.getLogger(__name__)

MAX_TEXT_BYTES = 2000  # WeChat cuts a text message at 2048 bytes of UTF-8
CHOICES_HEADER = "回复数字选择："

_LEADING_NUMBER = re.compile(r"(\d{1,2})(?!\d)")


@dataclass(frozen=True)
class Rendered:
    """What the subscriber reads, and the payloads the offered numbers stand for."""

    text: str
    choices: dict[int, str]


def _numbers_for(buttons: list[dict[str, Any]], taken: dict[int, str]) -> list[int]:
    """Numbers for ``buttons``: their own when every title starts with a distinct one ("5分 非常满意"),
    so that typing 5 means 5分; otherwise the next free numbers in order."""
    own = [_LEADING_NUMBER.match(str(b.get("title") or "")) for b in buttons]
    numbers = [int(m.group(1)) for m in own if m]
    if len(numbers) == len(buttons) and len(set(numbers)) == len(numbers):
        if all(0 < n and n not in taken for n in numbers):
            return numbers
    start = max(taken, default=0) + 1
    return list(range(start, start + len(buttons)))


def render(messages: Iterable[tuple[str, list[dict[str, Any]]]]) -> Rendered:
    """Joins the bot's messages into one text; buttons become numbered choices."""
    parts: list[str] = []
    choices: dict[int, str] = {}
    for text, buttons in messages:
        block = (text or "").strip()
        usable = [b for b in buttons if str(b.get("title") or b.get("payload") or "").strip()]
        lines = []
        for number, button in zip(_numbers_for(usable, choices), usable, strict=True):
            if number > 99:
                break
            title = str(button.get("title") or button.get("payload")).strip()
            choices[number] = str(button.get("payload") or title)
            lines.append(f"{number}. {title}")
        if lines:
            block = "\n".join(filter(None, [block, CHOICES_HEADER, *lines]))
        if block:
            parts.append(block)
    return Rendered("\n\n".join(parts), choices)


def split_text(text: str, limit: int = MAX_TEXT_BYTES) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.strip().splitlines(keepends=True):
        while len(line.encode("utf-8")) > limit:  # a single overlong line: cut by characters
            cut = len(line)
            while len(line[:cut].encode("utf-8")) > limit:
                cut = max(1, cut * limit // len(line[:cut].encode("utf-8")))
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:cut])
            line = line[cut:]
        if len((current + line).encode("utf-8")) > limit:
            pieces.append(current)
            current = ""
        current += line
    if current.strip():
        pieces.append(current)
    return [p.strip() for p in pieces if p.strip()]


class WeChatCollector(OutputChannel):
    """Collects the bot's messages of one turn (texts and their buttons)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, list[dict[str, Any]]]] = []

    @classmethod
    def name(cls) -> str:
        return "wechat"

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.messages.append((text, []))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self.messages.append((text, list(buttons)))

    async def send_image_url(self, recipient_id: str, image: str, **kwargs: Any) -> None:
        self.messages.append((f"图片：{image}", []))

    async def send_attachment(self, recipient_id: str, attachment: str, **kwargs: Any) -> None:
        self.messages.append((f"附件：{attachment}", []))

    async def send_custom_json(self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any) -> None:
        logger.debug("a custom payload has no WeChat form; not sent")
