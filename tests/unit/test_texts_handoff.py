"""The copy of the agent's summary (bot.texts.handoff), byte for byte: the headline and the line of a
suspicious charge moved out of bot.handoff.summary unchanged."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.texts import handoff

CHARGED = datetime(2026, 11, 1, 1, 5, tzinfo=timezone.utc)  # 09:05 on the 1st in Shanghai


def test_headline() -> None:
    assert handoff.headline(reason="requested", masked_phone=None, wanted=[], flagged_count=0) == (
        "用户要求转人工；未验证身份；诉求：未说明"
    )
    assert handoff.headline(
        reason="complaint", masked_phone="138****8000", wanted=["查询不明扣费", "申请退费"], flagged_count=2
    ) == ("用户升级投诉；已验证 138****8000；诉求：查询不明扣费、申请退费；可疑扣费 2 笔")
    assert handoff.headline(reason="odd", masked_phone=None, wanted=["查询余额"], flagged_count=0) == (
        "odd；未验证身份；诉求：查询余额"
    )


def test_labels_and_a_flagged_charge() -> None:
    assert handoff.intent_label("request_refund") == "申请退费" and handoff.intent_label("greet") is None
    assert handoff.failure_label("utter_sms_unavailable") == "短信发送失败"
    assert handoff.failure_label("utter_charges") is None
    line = handoff.flagged_charge_line(CHARGED, "视频彩铃", 1000, ["甲", "乙"])
    assert line == "11-01 视频彩铃 10.00元（甲；乙）"
