"""Reading a conversation back from the tracker, shared by the widget's history and the console.

Pure functions on event data: no Rasa server, no store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def button_list(data: dict[str, Any]) -> list[dict[str, str]]:
    """The buttons (or quick replies) of a bot message's data, as ``{title, payload}`` pairs."""
    buttons = data.get("buttons") or data.get("quick_replies") or []
    return [
        {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
        for b in buttons
        if isinstance(b, dict) and b.get("payload")
    ]


def shown_user_text(text: str, offered: Iterable[dict[str, str]]) -> str:
    """What the subscriber saw themselves send: a button's title when ``text`` is its payload."""
    if text.startswith("/"):
        return next((b["title"] for b in offered if b["payload"] == text), text)
    return text
