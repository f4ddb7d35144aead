"""The secret guard: secrets are masked before Rasa sees them, and checked server-side."""

from __future__ import annotations

from typing import Any, Optional

import pytest
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage

from bot.channels.guard import MASK, SECRET_INTENT, SecretGuard, screen
from bot.db import StoreUnavailable


@pytest.mark.parametrize(
    "text, masked, secret",
    [
        ("123456", MASK, "123456"),
        ("验证码是 654321 谢谢", f"验证码是 {MASK} 谢谢", "654321"),
        ("１２３４５６", MASK, "123456"),  # full-width digits
        ("123 456", MASK, "123456"),
        ("10001x", MASK, "10001X"),
        ("身份证110101199001011234", f"身份证{MASK * 3}", "011234"),
        ("身份证后六位10001X", f"身份证后六位{MASK}", "10001X"),
    ],
)
def test_screen_masks_secrets(text: str, masked: str, secret: str) -> None:
    result = screen(text)
    assert result.text == masked
    assert result.secret == secret


@pytest.mark.parametrize(
    "text",
    ["查一下我的余额", "13800138000", "余额低于20提醒我", "这个月怎么多扣了10块", "1234567", "12345", ""],
)
def test_screen_leaves_ordinary_messages_alone(text: str) -> None:
    result = screen(text)
    assert result.text == text
    assert result.secret is None


class FakeVerification:
    def __init__(self, pending: Optional[str] = "sms_otp", fail: bool = False) -> None:
        self.pending = pending
        self.fail = fail
        self.submitted: list[tuple[str, str]] = []

    def pending_factor(self, conversation_id: str) -> Optional[str]:
        if self.fail:
            raise StoreUnavailable("OperationalError")
        return self.pending

    def submit_secret(self, conversation_id: str, secret: str) -> Any:
        self.submitted.append((conversation_id, secret))
        return None


def _message(text: str) -> UserMessage:
    return UserMessage(text, CollectingOutputChannel(), "conv-1", input_channel="rest", metadata={"a": 1})


async def test_open_challenge_submits_the_secret_and_tags_the_message() -> None:
    service = FakeVerification(pending="sms_otp")
    guard = SecretGuard(lambda: service)  # type: ignore[arg-type, return-value]
    out = await guard.filter(_message("我的验证码是123456"))
    assert service.submitted == [("conv-1", "123456")]
    assert out.text == f"我的验证码是{MASK}"
    assert out.parse_data is not None
    assert out.parse_data["intent"] == {"name": SECRET_INTENT, "confidence": 1.0}
    assert "123456" not in repr(out.parse_data)
    assert out.sender_id == "conv-1" and out.metadata == {"a": 1} and out.input_channel == "rest"


async def test_no_challenge_masks_but_lets_nlu_decide() -> None:
    service = FakeVerification(pending=None)
    guard = SecretGuard(lambda: service)  # type: ignore[arg-type, return-value]
    out = await guard.filter(_message("我的密码是135790"))
    assert service.submitted == []
    assert out.text == f"我的密码是{MASK}"
    assert out.parse_data is None


async def test_store_failure_still_drops_the_secret() -> None:
    service = FakeVerification(fail=True)
    guard = SecretGuard(lambda: service)  # type: ignore[arg-type, return-value]
    out = await guard.filter(_message("654321"))
    assert out.text == MASK
    assert out.parse_data is not None and out.parse_data["intent"]["name"] == SECRET_INTENT


async def test_ordinary_message_passes_untouched_without_a_lookup() -> None:
    service = FakeVerification(fail=True)  # would raise if consulted
    guard = SecretGuard(lambda: service)  # type: ignore[arg-type, return-value]
    message = _message("查一下我的余额")
    assert await guard.filter(message) is message


async def test_wrap_hands_the_filtered_message_to_rasa() -> None:
    service = FakeVerification()
    guard = SecretGuard(lambda: service)  # type: ignore[arg-type, return-value]
    seen: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        seen.append(message)

    await guard.wrap(on_new_message)(_message("111222"))
    assert [m.text for m in seen] == [MASK]
