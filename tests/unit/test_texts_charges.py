"""The copy of the unknown-charges flow (bot.texts.charges), byte for byte: the sentences moved out
of bot.billing.charges unchanged."""

from __future__ import annotations

from datetime import datetime, timezone

from bot.texts import charges

OPENED = datetime(2026, 9, 13, 0, 0, tzinfo=timezone.utc)  # 08:00 on the 13th in Shanghai
CHARGED = datetime(2026, 11, 1, 1, 5, tzinfo=timezone.utc)  # 09:05 on the 1st
FACTS = {"service_name": "游戏加速包", "amount_fen": 900, "fee_fen": 600, "billing": "per_use"}


def test_why_a_charge_looks_wrong() -> None:
    said = {
        "marketing_channel": charges.flag_explanation(
            "marketing_channel", channel_label="短信营销链接", opened_at=OPENED, **FACTS
        ),
        "never_used": charges.flag_explanation("unused", opened_at=OPENED, **FACTS),
        "unused_since": charges.flag_explanation(
            "unused", opened_at=OPENED, last_used_at=OPENED, period_name="本月", **FACTS
        ),
        "duplicate": charges.flag_explanation("duplicate", first_charged_at=CHARGED, **FACTS),
        "price_mismatch": charges.flag_explanation("price_mismatch", **FACTS),
    }
    assert said == {
        "marketing_channel": "该业务于2026年9月13日经短信营销链接开通，可能并非您本人主动订购",
        "never_used": "该业务自2026年9月13日开通以来从未使用过",
        "unused_since": "该业务最后一次使用是在2026年9月13日，本月没有使用记录",
        "duplicate": "同一天11月1日09:05已扣过一笔相同金额（9.00元）的游戏加速包费用，这笔疑似重复扣费",
        "price_mismatch": "扣费9.00元，与公布资费6.00元/次不符",
    }
    assert charges.flag_explanation("duplicate", **FACTS) == "疑似重复扣费"  # no facts: the label
    assert charges.billing_label("monthly") == "包月"


def test_charge_lines_and_confirmations() -> None:
    line = charges.charge_line(
        charged_at=CHARGED,
        name="视频彩铃",
        amount_fen=1000,
        service_name="视频彩铃",
        service_description="视频彩铃：来电时播放视频",
        fee_fen=1000,
        billing="monthly",
        opened_at=OPENED,
        channel_label="短信营销链接",
        flagged=True,
    )
    assert line == (
        "· 11-01 09:05 视频彩铃 10.00元：来电时播放视频；公布资费 10.00元/月；"
        "2026-09-13 通过短信营销链接开通 ⚠"
    )
    assert charges.flagged_line(CHARGED, "视频彩铃", 1000, ["甲", "乙"]) == "· 11-01 视频彩铃 10.00元：甲；乙"
    assert charges.dispute_reason([("视频彩铃", "甲"), ("视频彩铃", "乙")]) == "视频彩铃 甲；视频彩铃 乙"
    assert charges.also_unsubscribed([]) == ""
    assert charges.also_unsubscribed(["视频彩铃"]) == "同时已为您退订视频彩铃，下个计费周期起不再收费。"
    assert charges.unsubscribed_sms("视频彩铃", 1000, "monthly", CHARGED) == (
        "【退订成功】您已退订视频彩铃业务（10.00元/月），2026年11月1日09:05起生效，此后不再收取该业务费用。"
    )
    assert charges.dispute_sms("TS202611220001", 3000) == (
        "【退费申请】工单号TS202611220001，涉及金额30.00元，我们将在3个工作日内处理，处理结果将以短信通知您。"
    )


def test_a_catalogue_description_ending_in_a_full_stop_is_not_followed_by_a_semicolon() -> None:
    line = charges.charge_line(
        charged_at=datetime(2026, 11, 1, 1, 5, tzinfo=timezone.utc),
        name="视频彩铃",
        amount_fen=1000,
        service_name="视频彩铃",
        service_description="来电时播放视频。",
        fee_fen=1000,
        billing="monthly",
        opened_at=None,
        channel_label=None,
        flagged=False,
    )
    assert "。；" not in line and line.endswith("来电时播放视频；公布资费 10.00元/月")
