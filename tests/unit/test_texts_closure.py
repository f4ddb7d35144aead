"""The copy of closing an account (bot.texts.closure): made from plain values, byte for byte."""

from __future__ import annotations

from datetime import date, datetime, timezone

from bot.billing.blockers import Blocker
from bot.texts import closure

EFFECTIVE = datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc)  # 2026-11-25 00:00 in Shanghai
AT = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)


def test_blockers_by_code() -> None:
    assert Blocker("arrears", amount_fen=5800).message_zh == "账户欠费58.00元，须先结清欠费才能销户"
    disputes = Blocker("open_disputes", amount_fen=2000, count=2, ticket_nos=("TS1", "TS2"))
    assert disputes.message_zh == "有2笔退费申诉尚未处理完毕（工单号TS1、TS2），处理完成后才能销户"
    fee = Blocker("fee_exceeds_balance", amount_fen=9000, fee_fen=30000, balance_fen=21000)
    assert fee.message_zh == "提前解约违约金300.00元超过账户余额210.00元，须先充值90.00元才能销户"
    consent = Blocker("consent_required", amount_fen=30000, fee_fen=30000, contract_end=date(2027, 6, 30))
    assert (
        consent.message_zh == "合约期内销户需支付提前解约违约金300.00元（合约期至2027-06-30），须您明确同意"
    )
    assert Blocker("already_closed").message_zh == "该号码已销户"


def test_sms_and_bill_lines() -> None:
    assert closure.cancel_sms(EFFECTIVE, AT) == (
        "【销户撤销】尊敬的客户，您原定于11月25日生效的销户申请已撤销，号码及已订业务保持不变。"
        "如需再次销户，请重新申请。"
    )
    next_year = datetime(2027, 1, 2, tzinfo=timezone.utc)
    assert closure.effective_fact(EFFECTIVE, next_year) == "销户申请于2026年11月25日生效，生效前可随时撤销。"
    assert closure.request_sms(
        effective_at=EFFECTIVE,
        at=AT,
        fee_fen=0,
        contract_end=None,
        service_names=[],
        refund_fen=520,
        refund_channel="hall",
        quarantine_days=90,
    ) == (
        "【销户申请】尊敬的客户，您的销户申请已受理，将于11月25日生效，生效前可随时撤销（联系客服说“撤销销户”即可），"
        "生效前号码可正常使用。生效后将退还余额5.20元（以生效时余额为准，凭本人有效身份证件到营业厅领取）。"
        "销户后号码进入90天冷冻期。"
    )
    assert closure.termination_fee_line(None) == "提前解约违约金"
    assert closure.refund_line("bank_card") == "销户退还余额（原路退回至银行卡）"
