"""The rules that flag a suspicious charge (可疑扣费), each a reason code with the facts behind it.

Only charges of value-added services (not plan fees, data, voice or SMS usage) are flagged:

* ``marketing_channel`` / ``third_party``: the subscription was opened through an SMS marketing
  link / a third party;
* ``unused``: the service was never used, or not since before the charge's period began;
* ``duplicate``: the same service and amount was already charged earlier the same local day (the
  first charge is not flagged, each repeat is);
* ``price_mismatch``: the amount differs from the published monthly fee (``monthly``) or the price
  of one use (``per_use``).

A flag carries dates, amounts and the channel; ``bot.texts.charges`` says it in words.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Optional

from bot.billing.models import Charge, Subscription
from bot.billing.periods import describe_period, period_start
from bot.texts import charges as texts
from bot.texts.labels import CHANNEL_LABELS

#: Reason codes of a suspicious charge, in the order they are listed.
FLAG_CODES = ("marketing_channel", "third_party", "unused", "duplicate", "price_mismatch")
#: Charge kinds that are explained but never flagged (plan fee and usage).
UNFLAGGED_KINDS = frozenset({"plan_fee", "data", "voice", "sms"})
#: Subscription channels that flag a charge, with their reason codes.
_CHANNEL_FLAGS = {"sms_marketing": "marketing_channel", "third_party": "third_party"}


@dataclass(frozen=True)
class ChargeFlag:
    """Why a charge looks wrong: a reason code and the facts that show it.

    Attributes:
        code: one of :data:`FLAG_CODES`.
        service_name: the service charged for, e.g. ``视频彩铃``.
        amount_fen: the charge's amount, fen.
        fee_fen: the service's published monthly fee, or price per use for ``per_use``.
        billing: ``monthly`` or ``per_use``.
        channel_label: how the subscription was opened, e.g. ``短信营销链接`` (channel flags).
        opened_at: when the subscription was opened (channel and ``unused`` flags).
        last_used_at: when the service was last used, before the charge's period (``unused``;
            ``None`` when it never was).
        period_name: the charge's bill period as said to the subscriber, e.g. ``本月`` (``unused``
            when it was used once).
        first_charged_at: the first charge of the same day (``duplicate``).
    """

    code: str
    service_name: str
    amount_fen: int
    fee_fen: int
    billing: str
    channel_label: Optional[str] = None
    opened_at: Optional[datetime] = None
    last_used_at: Optional[datetime] = None
    period_name: Optional[str] = None
    first_charged_at: Optional[datetime] = None

    @property
    def label(self) -> str:
        """The code's short label (``bot.texts.charges.FLAG_LABELS``)."""
        return texts.flag_label(self.code)

    @property
    def explanation(self) -> str:
        """One sentence for the subscriber (``bot.texts.charges.flag_explanation``)."""
        return texts.flag_explanation(
            self.code,
            service_name=self.service_name,
            amount_fen=self.amount_fen,
            fee_fen=self.fee_fen,
            billing=self.billing,
            channel_label=self.channel_label,
            opened_at=self.opened_at,
            last_used_at=self.last_used_at,
            period_name=self.period_name,
            first_charged_at=self.first_charged_at,
        )


def flags_of(
    charge: Charge,
    sub: Optional[Subscription],
    first_same_day: Optional[Charge],
    now: datetime,
) -> tuple[ChargeFlag, ...]:
    """The flags of one charge, in :data:`FLAG_CODES` order.

    Args:
        charge: the charge (its ``service`` loaded).
        sub: the subscription it is for, if known.
        first_same_day: an earlier charge of the same service and amount the same local day.
        now: the moment of reading (aware); says the charge's period relative to it.
    """
    service = charge.service
    if service is None or charge.item_kind in UNFLAGGED_KINDS:
        return ()

    name, fee_fen, billing = service.name, service.monthly_fee_fen, service.billing

    def flag(code: str, **facts: Any) -> ChargeFlag:
        return ChargeFlag(code, name, charge.amount_fen, fee_fen, billing, **facts)

    flags: list[ChargeFlag] = []
    if sub is not None:
        if sub.channel in _CHANNEL_FLAGS:
            label = CHANNEL_LABELS.get(sub.channel, sub.channel)
            flags.append(flag(_CHANNEL_FLAGS[sub.channel], channel_label=label, opened_at=sub.started_at))
        if sub.last_used_at is None:
            flags.append(flag("unused", opened_at=sub.started_at))
        elif sub.last_used_at < period_start(charge.bill_period):
            flags.append(
                flag(
                    "unused",
                    opened_at=sub.started_at,
                    last_used_at=sub.last_used_at,
                    period_name=describe_period(charge.bill_period, now),
                )
            )
    if first_same_day is not None:
        flags.append(flag("duplicate", first_charged_at=first_same_day.charged_at))
    if charge.amount_fen != service.monthly_fee_fen:
        flags.append(flag("price_mismatch"))
    return tuple(flags)
