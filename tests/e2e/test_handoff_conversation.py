"""Waiting for a person and the agent's summary, against the real servers (issue 13, items 6 and 8).

A minute passes by moving the handoff's times back in the store, as the expired-code test moves a
challenge; the servers keep the real clock.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

from sqlalchemy import select

from bot.channels.wechat_xml import parse_xml
from bot.clock import SystemClock
from bot.handoff import handoffs
from bot.handoff.models import Agent, Handoff
from bot.seed import DEMO_AGENT_USERNAME
from tests.support.servers import Servers, post_text

WAITING = re.compile(r"您仍在人工客服队列中，当前排在第 \d+ 位，预计还需等待约 \d+ 分钟")


def _conversation() -> str:
    return f"e2e-{uuid.uuid4().hex}"


def _handoff(servers: Servers, conversation_id: str) -> Handoff:
    with servers.store.transaction() as session:
        handoff = handoffs.open_handoff_for(session, conversation_id)
        assert handoff is not None, "转人工 queued the conversation"
        return handoff


def _a_minute_passes(servers: Servers, conversation_id: str) -> None:
    with servers.store.transaction() as session:
        handoff = handoffs.open_handoff_for(session, conversation_id)
        assert handoff is not None
        handoff.queued_at -= timedelta(seconds=61)
        if handoff.waiting_notice_at is not None:
            handoff.waiting_notice_at -= timedelta(seconds=61)


def _claim_and_close(servers: Servers, conversation_id: str, close: bool = True) -> None:
    """The demo agent takes the conversation (and closes it, leaving the queue as it was)."""
    now = SystemClock().now()
    with servers.store.transaction() as session:
        agent = session.scalars(select(Agent).where(Agent.username == DEMO_AGENT_USERNAME)).one()
        handoff = handoffs.open_handoff_for(session, conversation_id)
        assert handoff is not None
        handoffs.claim(session, handoff.id, agent, now)
        if close:
            handoffs.close(session, handoff.id, agent, "测试结束", now)


def test_a_queued_subscriber_hears_the_queue_once_a_minute_and_nothing_once_an_agent_has_it(
    servers: Servers,
) -> None:
    sender = _conversation()
    queued = "\n".join(servers.say(sender, "转人工"))
    assert "已为您转接人工客服" in queued and "排在第" in queued
    assert servers.say(sender, "还要等多久？") == []  # told just now
    _a_minute_passes(servers, sender)
    [notice] = servers.say(sender, "还要等多久？")
    assert WAITING.search(notice), notice
    assert servers.say(sender, "在吗") == []  # at most once a minute
    _a_minute_passes(servers, sender)
    _claim_and_close(servers, sender, close=False)
    assert servers.say(sender, "在吗") == []  # an agent has it: the bot says nothing
    # every message is in the tracker for the agent
    events = json.loads(servers.tracker(sender))["events"]
    said = [e.get("text") for e in events if e["event"] == "user"]
    assert said[-4:] == ["还要等多久？", "还要等多久？", "在吗", "在吗"]
    _claim_and_close(servers, sender)


def test_asking_about_a_charge_then_for_a_person_before_verifying_tells_the_agent_nothing_was_tried(
    servers: Servers,
) -> None:
    sender = _conversation()
    asked = "\n".join(servers.say(sender, "这个月怎么多扣了10块"))
    assert "验证身份" in asked and "手机号码" in asked
    assert "已为您转接人工客服" in "\n".join(servers.say(sender, "转人工"))
    summary = _handoff(servers, sender).summary
    assert summary["tried"] == []  # no charge was listed, no code was sent
    assert summary["wanted"] == ["查询不明扣费"] and summary["verified"] is False
    assert summary["flagged_charges"] == []
    _claim_and_close(servers, sender)


def test_a_code_sent_before_asking_for_a_person_is_verification_tried(servers: Servers) -> None:
    sender = _conversation()
    servers.say(sender, "这个月怎么多扣了10块")
    assert "验证码已发送至 139****9000" in "\n".join(servers.say(sender, "13900139000"))
    servers.say(sender, "转人工")
    summary = _handoff(servers, sender).summary
    assert summary["tried"] == ["短信验证码身份验证"] and summary["verified"] is False
    _claim_and_close(servers, sender)


def _wechat(servers: Servers, openid: str, text: str) -> str:
    """A WeChat text message; the passive reply's text, or "" when the channel answered ``success``."""
    reply = post_text(servers, openid, text)
    return "" if reply.text == "success" else parse_xml(reply.content)["Content"]


def test_a_wechat_subscriber_waiting_for_a_person_hears_the_queue_in_the_passive_reply(
    servers: Servers,
) -> None:
    openid = f"oE2E{uuid.uuid4().hex[:24]}"
    assert "排在第" in _wechat(servers, openid, "转人工")
    assert _wechat(servers, openid, "还要等多久") == ""
    _a_minute_passes(servers, openid)
    assert WAITING.search(_wechat(servers, openid, "还要等多久"))
    _a_minute_passes(servers, openid)
    _claim_and_close(servers, openid, close=False)
    assert _wechat(servers, openid, "在吗") == ""
    _claim_and_close(servers, openid)
