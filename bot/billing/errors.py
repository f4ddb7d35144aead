"""Errors of the billing store, each with a meaning the caller can act on.

Every error derives from :class:`BillingError`, so the edge (actions, CLI) can answer kindly
for any expected problem. ``str(error)`` is a short Chinese sentence fit to show an operator;
phone numbers in it are masked, so an error can be logged without leaking a number.
"""

from __future__ import annotations

from typing import Any, Optional

from bot.money import mask_phone


def _who(phone: str | int) -> str:
    text = str(phone)
    if len(text) == 11 and text.isdigit():
        return f"号码 {mask_phone(text)} "
    if isinstance(phone, int) or text.isdigit():
        return f"用户编号 {text} "
    return "该号码"


class BillingError(Exception):
    """Base class of every expected billing problem."""


class UnknownSubscriber(BillingError):
    """No subscriber has this phone number (or id).

    Attributes:
        phone: the phone number (or the id, as text) that was looked up.
    """

    def __init__(self, phone: str | int) -> None:
        self.phone = str(phone)
        super().__init__(f"未找到{_who(phone)}的账户")


class AccountClosed(BillingError):
    """The account is closed (已销户); nothing more can be posted to it.

    Attributes:
        phone: the account's phone number.
    """

    def __init__(self, phone: str) -> None:
        self.phone = phone
        super().__init__(f"{_who(phone)}已销户，不能再记账")


class UnknownService(BillingError):
    """The code names no value-added service of the catalogue.

    Attributes:
        code: the code that was given.
    """

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"未知的增值业务代码：{code}")


class UnknownPlan(BillingError):
    """The code names no tariff plan of the catalogue.

    Attributes:
        code: the code that was given.
    """

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"未知的套餐代码：{code}")


class InvalidAmount(BillingError):
    """An amount of money is not a positive whole number of fen (or not a valid yuan amount).

    Attributes:
        amount: what was given.
    """

    def __init__(self, amount: Any, reason: Optional[str] = None) -> None:
        self.amount = amount
        super().__init__(reason or f"金额无效：{amount!r}（须为大于 0 的金额，最多两位小数）")


class InvalidChargeKind(BillingError):
    """The charge kind is not one of ``bot.billing.models.CHARGE_KINDS``.

    Attributes:
        kind: what was given.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"未知的扣费类型：{kind}")


class InvalidPaymentMethod(BillingError):
    """The payment method is not one the store accepts.

    Attributes:
        method: what was given.
    """

    def __init__(self, method: str) -> None:
        self.method = method
        super().__init__(f"未知的缴费方式：{method}")
