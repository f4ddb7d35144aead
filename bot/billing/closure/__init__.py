"""Closing an account (销户): the check, the request, its withdrawal and the closure itself.

Everything works inside the caller's unit of work (``with store.transaction() as session:``)
and nothing here commits; an SMS that cannot be sent raises ``SmsGatewayError`` as the last
step, so the caller's transaction rolls back and nothing is left behind.

The rules, as an agent would explain them to a subscriber:

* **欠费须结清.** Arrears block closure. The amount is the larger of the unpaid bills and the
  negative part of the balance (what the account owes, however it arose).
* **未结申诉.** An open refund dispute (退费申诉) blocks closure until it is finished, so a
  refund it grants can still reach the account.
* **合约期内需支付违约金.** A contract (``contract_end``) is still running when the closure
  would take effect on or before ``contract_end``; closing then costs the subscriber's
  ``early_termination_fee_fen``. That is not a blocker, but :func:`request_closure` needs
  ``consent_to_fee=True`` (else :class:`~bot.billing.errors.ConsentRequired`).
* **违约金超过余额.** The fee is taken from the balance. When it is more than the (positive)
  balance, the difference (``fee_due_fen``) must be topped up first: blocker
  ``fee_exceeds_balance``. So a closed account never ends in debt.
* **余额退还.** What is left of a positive balance after the fee is refunded. Refund method
  (one rule): *原路退回* to the channel of the subscriber's most recent top-up when that was
  Alipay, WeChat Pay or a bank card; when the last top-up was cash at a hall, or there was
  none, *凭本人有效身份证件到营业厅领取*. Payments of method ``refund`` are not top-ups.
* **增值业务一并取消.** Every value-added service running when the closure is carried out ends.
* **微信解绑.** The number's WeChat binding (``bot.notifications.wechat_bindings``) ends with the account.
* **冷静期.** A request takes effect at 00:00 Asia/Shanghai :data:`COOLING_OFF_DAYS` calendar
  days after the day it was made (made 2026-11-22 10:00 → effective 2026-11-25 00:00). The
  number works normally until then and the request can be withdrawn at any time before.
* **号码冷冻期.** After closure the number is held for :data:`NUMBER_QUARANTINE_DAYS` days
  before it can be given to someone else (told in the SMS; nothing in the store enforces it).

Settlement (:func:`complete_due_closures`) keeps ``balance == payments - charges``: the fee
is a charge of kind ``other`` (提前解约违约金), and the refund, being money that leaves the
account, is also a charge of kind ``other`` (销户退还余额…). The balance then ends at 0, the
account's open bills are closed and, with payments equal to charges, all settle ``paid``.
The settlement charges go through the ledger (``bot.billing.ledger``), the one writer of
charges, so balance, bill and ``charge.posted`` audit follow the same rules as every other charge.

**Alerts and closure (a decision).** Each settlement charge is published (``ChargePosted`` with
``purpose`` ``termination_fee`` or ``refund``) like any other charge, so every subscriber of
billing's events sees every movement of money. The alert engine deliberately fires nothing on
them: the 【销户完成】 SMS already tells the fee and the refund, and a deduction, balance
("余额0.00元…请及时充值") or spend alert to a number that is being closed would be noise. Ordinary
charges of a ``closing`` account (the number works normally during the cooling-off) fire alerts
as usual.

Modules, one concern each: :mod:`~bot.billing.closure.rules` (cooling-off, quarantine, refund
channels), :mod:`~bot.billing.closure.views` (the check and the results),
:mod:`~bot.billing.closure.state` (the locked subscriber, the pending request, the status read
back from the audit log), :mod:`~bot.billing.closure.checks` (blockers, fee, refund),
:mod:`~bot.billing.closure.requests` (request and withdrawal),
:mod:`~bot.billing.closure.settlement` (one due request) and :mod:`~bot.billing.closure.batch`
(the nightly job). The copy is in ``bot.texts.closure``; :class:`Blocker` is in
``bot.billing.blockers`` (shared with ``bot.billing.errors``).
"""

from bot.billing.blockers import Blocker
from bot.billing.closure.batch import complete_due_closures
from bot.billing.closure.checks import check_closure
from bot.billing.closure.requests import cancel_closure, request_closure
from bot.billing.closure.rules import (
    COOLING_OFF_DAYS,
    HALL_REFUND,
    NUMBER_QUARANTINE_DAYS,
    REFUND_CHANNELS,
    closure_effective_at,
)
from bot.billing.closure.views import (
    ClosureCancelResult,
    ClosureCheck,
    ClosureCompletion,
    ClosureRequestView,
    ClosureResult,
    ContractInfo,
)

__all__ = [
    "COOLING_OFF_DAYS",
    "HALL_REFUND",
    "NUMBER_QUARANTINE_DAYS",
    "REFUND_CHANNELS",
    "Blocker",
    "ClosureCancelResult",
    "ClosureCheck",
    "ClosureCompletion",
    "ClosureRequestView",
    "ClosureResult",
    "ContractInfo",
    "cancel_closure",
    "check_closure",
    "closure_effective_at",
    "complete_due_closures",
    "request_closure",
]
