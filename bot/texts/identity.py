"""Identity's sentences: the one-time code SMS."""

from __future__ import annotations


def code_sms(code: str, minutes: int) -> str:
    """The SMS that carries a one-time code (the code is masked wherever the body is kept)."""
    return f"【营业厅】您的验证码为{code}，{minutes}分钟内有效。如非本人操作请忽略。"
