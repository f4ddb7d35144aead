"""The review queue page (待标注) of the agent console in Chromium, against the shared real servers.

A supervisor labels two messages of a group at once (one with an entity marked by selecting text):
they leave the list and the store has the label. An agent without the role sees no menu entry and
the API answers 403. The messages and accounts are this module's own (unique texts, conversation
ids and user names), and the messages are deleted afterwards, so other tests on the same servers
see nothing of them.
"""

from __future__ import annotations

import random
import string
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import delete, select

from bot.handoff import agents
from bot.handoff.models import Agent
from bot.review.labels import group_key
from bot.review.models import ReviewItem
from bot.seed import DEMO_AGENT_USERNAME
from bot.settings import DEV_AGENT_PASSWORD
from tests.support.browser import ARTIFACTS
from tests.support.review import add_pending
from tests.support.servers import Servers

SUPERVISOR = "review-lead"
AGENT = "review-staff"


@dataclass
class Seeded:
    tag: str
    balance: list[int]  # three messages that read the same
    other: list[int]  # one with markup in it
    balance_key: str
    other_key: str


def _account(session: object, username: str, name: str, role: str, now: datetime) -> None:
    """An account with the demo agent's password (its hash, so no pepper is needed here)."""
    agents.create_agent(session, username, name, DEV_AGENT_PASSWORD, now, role=role, actor=None)  # type: ignore[arg-type]
    demo = session.scalars(select(Agent).where(Agent.username == DEMO_AGENT_USERNAME)).one()  # type: ignore[attr-defined]
    mine = session.scalars(select(Agent).where(Agent.username == username)).one()  # type: ignore[attr-defined]
    mine.password_hash = demo.password_hash


@pytest.fixture
def seeded(servers: Servers) -> Iterator[Seeded]:
    tag = "".join(random.choice(string.ascii_lowercase) for _ in range(8))
    now = datetime.now(timezone.utc) - timedelta(hours=1)
    texts = [f"这个月卡里还剩多少钱{tag}", f"这个月，卡里还剩多少钱？{tag}", f"这个月 卡里还剩多少钱 {tag}"]
    other = [f"{tag} 138****5678 <b>宽带</b>咋办"]
    with servers.store.transaction() as session:
        _account(session, SUPERVISOR, "主管老王", "supervisor", now)
        _account(session, AGENT, "客服小李", "agent", now)
        seeded = Seeded(
            tag,
            add_pending(session, f"reviewui-{tag}-1", texts, now),
            add_pending(
                session, f"reviewui-{tag}-2", other, now, intent="query_usage", reason="low_confidence"
            ),
            group_key(texts[0]),
            group_key(other[0]),
        )
    try:
        yield seeded
    finally:
        with servers.store.transaction() as session:
            session.execute(delete(ReviewItem).where(ReviewItem.id.in_(seeded.balance + seeded.other)))


def _sign_in(page: Page, servers: Servers, username: str) -> None:
    page.goto(f"{servers.rasa_url}/webhooks/agent/")
    page.fill("#username", username)
    page.fill("#password", DEV_AGENT_PASSWORD)
    page.click("#login-button")
    expect(page.locator("#app-view")).to_be_visible()


def _select_text(page: Page, item_id: int, start: int, end: int) -> None:
    page.evaluate(
        """([id, start, end]) => {
            const node = document.querySelector(`.review-text[data-item-id="${id}"]`).firstChild;
            const range = document.createRange();
            range.setStart(node, start);
            range.setEnd(node, end);
            const selection = window.getSelection();
            selection.removeAllRanges();
            selection.addRange(range);
        }""",
        [item_id, start, end],
    )


def test_a_supervisor_labels_two_messages_of_a_group_at_once(
    page: Page, servers: Servers, seeded: Seeded
) -> None:
    _sign_in(page, servers, SUPERVISOR)
    page.click("#nav-review")
    expect(page.locator("#review-view")).to_be_visible()
    expect(page.locator("#queue")).to_be_hidden()
    group = page.locator(f'.review-group[data-key="{seeded.balance_key}"]')
    expect(group.locator(".review-group-count")).to_have_text("相似消息 3 条")
    expect(group.locator(".review-item")).to_have_count(3)
    first, second, third = seeded.balance
    row = group.locator(f'.review-item[data-item-id="{first}"]')
    expect(row).to_contain_text("未理解")
    expect(row).to_contain_text(f"会话 reviewui-{seeded.tag}-1")
    expect(row).to_contain_text("置信度 0.42")

    # The conversation the message came from, read from the tracker store.
    servers.say(f"reviewui-{seeded.tag}-1", "你好")
    row.locator(".review-open").click()
    talk = row.locator(".review-transcript")
    expect(talk).to_be_visible()
    expect(talk.locator(".review-user")).to_have_text("用户：你好")
    expect(talk.locator(".review-bot").first).to_contain_text("机器人：")
    row.locator(".review-open").click()
    expect(talk).to_be_hidden()

    # Text is text: the markup in a message is shown as written, never as HTML.
    other = page.locator(f'.review-group[data-key="{seeded.other_key}"] .review-text')
    expect(other).to_have_text(f"{seeded.tag} 138****5678 <b>宽带</b>咋办")
    expect(other.locator("b")).to_have_count(0)

    # Select-all ticks the group; the third is unticked again.
    group.locator(".review-select-all").check()
    expect(page.locator("#review-submit")).to_have_text("标注选中的 3 条")
    group.locator(f'.review-check[data-item-id="{third}"]').uncheck()
    expect(page.locator("#review-submit")).to_have_text("标注选中的 2 条")
    expect(group.locator(".review-select-all")).not_to_be_checked()

    # 这个月 in the second message is the period.
    page.select_option("#review-entity", "period")
    _select_text(page, second, 0, 3)
    expect(page.locator("#review-selection")).to_contain_text("这个月")
    page.click("#review-mark")
    expect(group.locator(f'.review-item[data-item-id="{second}"] .review-entity')).to_contain_text(
        "period = 这个月"
    )

    page.select_option("#review-intent", "query_balance")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "test_review-before-labelling.png"), full_page=True)
    page.click("#review-submit")
    expect(page.locator("#review-status")).to_have_text("已将 2 条消息标注为 query_balance。")
    expect(page.locator(f'.review-item[data-item-id="{first}"]')).to_have_count(0)
    expect(page.locator(f'.review-item[data-item-id="{second}"]')).to_have_count(0)
    expect(group.locator(".review-group-count")).to_have_text("相似消息 1 条")
    expect(group.locator(f'.review-item[data-item-id="{third}"]')).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "test_review-after-labelling.png"), full_page=True)

    with servers.store.transaction() as session:
        items = {
            i.id: i for i in session.scalars(select(ReviewItem).where(ReviewItem.id.in_(seeded.balance)))
        }
        assert [items[i].status for i in seeded.balance] == ["labelled", "labelled", "pending"]
        assert {items[i].label_intent for i in (first, second)} == {"query_balance"}
        assert {items[i].labelled_by for i in (first, second)} == {SUPERVISOR}
        assert items[first].label_entities == []
        assert items[second].label_entities == [{"start": 0, "end": 3, "entity": "period", "value": "这个月"}]

    # A refused label shows the server's sentence: no intent chosen is caught in the page first.
    group.locator(f'.review-check[data-item-id="{third}"]').check()
    page.select_option("#review-intent", "")
    page.click("#review-submit")
    expect(page.locator("#review-error")).to_have_text("请先选择意图。")

    # One page at a time: the dashboard replaces the review page, and the other way round.
    page.click("#nav-dashboard")
    expect(page.locator("#dashboard-view")).to_be_visible()
    expect(page.locator("#review-view")).to_be_hidden()
    expect(page.locator("#nav-review")).to_have_attribute("aria-pressed", "false")
    page.click("#nav-review")
    expect(page.locator("#review-view")).to_be_visible()
    expect(page.locator("#dashboard-view")).to_be_hidden()

    # Back to the conversations.
    page.click("#review-back")
    expect(page.locator("#review-view")).to_be_hidden()
    expect(page.locator("#queue")).to_be_attached()


def test_an_agent_has_no_review_menu_and_the_api_refuses(
    page: Page, servers: Servers, seeded: Seeded
) -> None:
    _sign_in(page, servers, AGENT)
    expect(page.locator("#me")).to_contain_text("客服小李")
    expect(page.locator("#nav-review")).to_have_count(0)
    expect(page.locator("#review-view")).to_have_count(0)
    answer = page.evaluate(
        """async () => {
            const token = sessionStorage.getItem("agent-console:token");
            const reply = await fetch("api/review", { headers: { Authorization: `Bearer ${token}` } });
            const label = await fetch("api/review/label", {
                method: "POST",
                headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
                body: JSON.stringify({ ids: [1], intent: "query_balance" }),
            });
            return [reply.status, await reply.json(), label.status];
        }"""
    )
    assert answer == [403, {"error": "只有主管账号可以查看和标注待审消息。"}, 403]
    with servers.store.transaction() as session:
        statuses = set(session.scalars(select(ReviewItem.status).where(ReviewItem.id.in_(seeded.balance))))
    assert statuses == {"pending"}
