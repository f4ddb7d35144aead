"""Unknown charges (不明扣费): explain them, unsubscribe the service, dispute the money.

- :mod:`~bot.billing.charges.report`: :func:`explain_charges` reads every deduction of some bill
  periods and says, for each, what it is and whether something about it looks wrong (``flags``);
- :mod:`~bot.billing.charges.flags`: the rules that flag a suspicious charge (reason codes with
  the dates and amounts behind them; ``bot.texts.charges`` says them in words);
- :mod:`~bot.billing.charges.subscriptions`: :func:`unsubscribe` ends a value-added service;
- :mod:`~bot.billing.charges.disputes`: :func:`open_dispute` opens a refund dispute (退费申请)
  with a ticket number from :mod:`~bot.billing.charges.tickets`;
- :mod:`~bot.billing.charges.records`: the rows they share (subscriber, service, running
  subscriptions).

The refund a subscriber asks for (unsubscribe the flagged services and dispute their charges, in
one transaction) is :func:`bot.billing.refunds.refund_flagged_charges`.

Every change runs in the caller's unit of work, is audited with the actor ``subscriber:<id>``
and the conversation id, and is confirmed by SMS through the gateway given; a gateway that
raises (``SmsGatewayError``) makes the caller's transaction roll back, so nothing is left
half-done. Money is integer fen; times are aware UTC (shown in Asia/Shanghai).
"""

from bot.billing.charges.disputes import SMS_KIND_DISPUTE, DisputeResult, UnknownCharge, open_dispute
from bot.billing.charges.flags import FLAG_CODES, UNFLAGGED_KINDS, ChargeFlag
from bot.billing.charges.report import ChargeReport, ExplainedCharge, FlaggedService, explain_charges
from bot.billing.charges.subscriptions import (
    SMS_KIND_UNSUBSCRIBED,
    NotSubscribed,
    UnsubscribeResult,
    unsubscribe,
)
from bot.billing.charges.tickets import TICKET_PREFIX

__all__ = [
    "FLAG_CODES",
    "SMS_KIND_DISPUTE",
    "SMS_KIND_UNSUBSCRIBED",
    "TICKET_PREFIX",
    "UNFLAGGED_KINDS",
    "ChargeFlag",
    "ChargeReport",
    "DisputeResult",
    "ExplainedCharge",
    "FlaggedService",
    "NotSubscribed",
    "UnknownCharge",
    "UnsubscribeResult",
    "explain_charges",
    "open_dispute",
    "unsubscribe",
]
