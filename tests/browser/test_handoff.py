"""Human handoff in two browsers: the subscriber's widget and the agent console, against the real servers.

转人工 → queued → the demo agent signs in, claims, reads the transcript → messages both ways in real
time while the bot stays silent → hand back → the bot answers again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.handoff import handoffs
from bot.seed import DEMO_AGENT_NAME, DEMO_AGENT_USERNAME
from bot.settings import DEV_AGENT_PASSWORD
from tests.support.browser import ARTIFACTS, Chat, console_window, tracker_events
from tests.support.servers import Servers

#: Shorter than the console's own refresh (5 s): what arrives sooner came by push.
LIVE_MS = 4_000


@pytest.fixture
def console_page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The agent console in a browser context of its own (another person, another machine)."""
    with console_window(browser, f"{request.node.name}-console") as page:
        yield page


def _open_handoff_id(servers: Servers, conversation_id: str) -> int:
    with servers.store.transaction() as session:
        handoff = handoffs.open_handoff_for(session, conversation_id)
        assert handoff is not None, "转人工 queued the conversation"
        return int(handoff.id)


def test_an_agent_takes_over_talks_live_and_hands_back_to_the_bot(
    page: Page, console_page: Page, demo_url: str, servers: Servers
) -> None:
    # The subscriber asks for a person and is queued.
    page.goto(demo_url)
    chat = Chat(page)
    chat.say("转人工")
    chat.expect_bot("已为您转接人工客服")
    chat.wait_until_sent()
    session_id = chat.session_id()
    handoff_id = _open_handoff_id(servers, session_id)

    # The console without a token: the sign-in form, no data.
    console = console_page
    console.goto(f"{servers.rasa_url}/webhooks/agent/")
    expect(console.locator("#login-form")).to_be_visible()
    expect(console.locator("#app-view")).to_be_hidden()
    console.fill("#username", DEMO_AGENT_USERNAME)
    console.fill("#password", "not-the-password")
    console.click("#login-button")
    expect(console.locator("#login-error")).to_have_text("用户名或密码不正确。")
    console.fill("#password", DEV_AGENT_PASSWORD)
    console.click("#login-button")
    expect(console.locator("#me")).to_contain_text(DEMO_AGENT_NAME)
    expect(console.locator("#live-state")).to_have_text("实时连接正常")

    # The queue lists it; the agent opens it and reads the whole conversation, bot turns included.
    item = console.locator(f'.queue-item[data-handoff-id="{handoff_id}"]')
    expect(item).to_contain_text("排队中")
    expect(item).to_contain_text("用户要求转人工")
    expect(item).to_contain_text("已等待")
    item.click()
    transcript = console.locator("#transcript")
    expect(transcript.locator(".msg-user").filter(has_text="转人工")).to_have_count(1)
    expect(transcript.locator(".msg-bot").filter(has_text="已为您转接人工客服")).to_be_visible()
    expect(console.locator("#summary")).to_contain_text("要求人工服务")
    expect(console.locator("#reply-form")).to_be_hidden()  # not claimed yet

    console.click("#claim")
    expect(console.locator("#status")).to_have_text("已接入")
    expect(item).to_contain_text(f"接入：{DEMO_AGENT_NAME}")

    # Agent → subscriber, live.
    console.fill("#reply", "您好，我是人工客服，请问有什么可以帮您？")
    console.press("#reply", "Enter")
    bubble = chat.expect_bot("我是人工客服")
    expect(page.locator(".bc-msg-agent .bc-agent").last).to_have_text(f"人工客服 {DEMO_AGENT_NAME}")
    expect(bubble).to_have_text("您好，我是人工客服，请问有什么可以帮您？")
    expect(transcript.locator(".msg-agent").last).to_contain_text(f"{DEMO_AGENT_NAME}（您）")

    # Subscriber → agent, live; the bot says nothing while the agent holds the conversation.
    bot_bubbles = chat.bot.count()
    chat.say("这个月话费好像多扣了十块")
    chat.wait_until_sent()
    expect(transcript.locator(".msg-user").filter(has_text="这个月话费好像多扣了十块")).to_be_visible(
        timeout=LIVE_MS
    )
    time.sleep(3)
    expect(chat.bot).to_have_count(bot_bubbles)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    console.screenshot(path=str(ARTIFACTS / "test_handoff-agent-talking.png"), full_page=True)
    page.screenshot(path=str(ARTIFACTS / "test_handoff-subscriber-with-agent.png"))

    # The tracker has the agent's message with the agent's id.
    agent_messages = [
        e
        for e in tracker_events(servers, session_id)
        if e["event"] == "bot" and (e.get("metadata") or {}).get("agent_id")
    ]
    assert [m["text"] for m in agent_messages] == ["您好，我是人工客服，请问有什么可以帮您？"]
    assert agent_messages[0]["metadata"]["agent_name"] == DEMO_AGENT_NAME

    # Hand back: the subscriber is told, and the bot answers the next question.
    console.click("#hand-back")
    expect(console.locator("#status")).to_have_text("已转回机器人")
    chat.expect_bot("转回智能助手")
    chat.say("查一下余额")
    chat.expect_bot("手机号码")
    expect(item).to_have_count(0)  # no longer in the queue
