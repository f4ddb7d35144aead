"""The web chat widget in a real browser against the real servers: what a subscriber sees and does."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from bot.billing.models import Subscriber
from bot.channels.guard import MASK
from bot.texts.formats import yuan
from tests.support.browser import Chat, user_texts
from tests.support.servers import Servers


def test_verify_with_the_demo_phone_pick_a_quick_reply_and_find_it_all_after_a_reload(
    page: Page, demo_url: str, servers: Servers
) -> None:
    page.goto(demo_url)
    chat = Chat(page)
    expect(chat.panel).to_be_visible()  # the demo page opens the widget
    chat.say("查一下余额")
    chat.expect_bot("手机号码")
    # The demo phone: the first demo number (张伟, masked) is chosen; the newest SMS comes first.
    expect(page.locator("#demo-phone-select option").first).to_have_text("张伟 138****8000")
    newest = page.locator("#demo-phone-sms li").first
    expect(newest).to_be_visible()
    before = newest.text_content() or ""
    chat.say("13800138000")
    chat.expect_bot("验证码已发送")
    expect(newest).not_to_have_text(before)
    sms = newest.locator(".demo-sms-body")
    expect(sms).to_contain_text("验证码")
    match = re.search(r"\d{6}", sms.inner_text())
    assert match, "the demo phone shows a six-digit code"
    code = match.group(0)

    with servers.store.transaction() as session:
        balance_fen = session.scalars(
            select(Subscriber.balance_fen).where(Subscriber.phone == "13800138000")
        ).one()
    chat.say(code)
    chat.expect_bot(f"{yuan(balance_fen)} 元")
    assert code not in servers.log_text()  # the guard masked it before Rasa (and its logs) saw it

    # A response with buttons: the flagged charge offers a refund; "暂不需要" is sent as its payload.
    chat.say("这个月怎么多扣了10块")
    replies = page.locator(".bc-replies")
    expect(replies).to_be_visible()
    expect(replies).to_have_attribute("aria-label", "快捷回复")
    replies.get_by_role("button", name="暂不需要").click()
    expect(chat.user.last).to_have_text("暂不需要")
    chat.expect_bot("还有什么可以帮您")
    expect(page.locator(".bc-replies")).to_have_count(0)  # buttons go once they are answered
    chat.wait_until_sent()
    shown = chat.page.locator(".bc-msg .bc-text").all_text_contents()

    session_id = chat.session_id()
    stored = user_texts(servers, session_id)
    assert stored == ["查一下余额", "13800138000", MASK, "这个月怎么多扣了10块", "/deny"]

    page.reload()
    chat = Chat(page)
    expect(chat.user.last).to_have_text("暂不需要")  # the button's title, not its payload
    restored = chat.page.locator(".bc-msg .bc-text").all_text_contents()
    assert code not in " ".join(restored)  # history is the server's record: the code is masked
    assert restored == [MASK if text == code else text for text in shown]
    assert chat.session_id() == session_id


def test_a_message_with_markup_is_shown_as_text_and_links_are_safe(page: Page, demo_url: str) -> None:
    page.goto(demo_url)
    chat = Chat(page)
    markup = "<script>window.__xss=1</script><b>粗</b>"
    chat.say(markup)
    bubble = chat.user.filter(has_text="粗").last
    expect(bubble).to_be_visible()
    chat.wait_until_sent()
    assert bubble.text_content() == markup
    assert bubble.locator("b, script").count() == 0
    assert page.evaluate("() => window.__xss") is None

    linked = "详情见 https://example.com/fee?id=1。也别点 javascript:alert(1)"
    chat.say(linked)
    bubble = chat.user.filter(has_text="详情见").last
    expect(bubble).to_have_text(linked)
    links = bubble.locator("a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.com/fee?id=1")
    expect(links).to_have_attribute("rel", "noopener noreferrer nofollow")
    chat.wait_until_sent()

    page.reload()  # from the server's history, it is still text
    bubble = Chat(page).user.filter(has_text="粗").last
    expect(bubble).to_have_text(markup)
    assert page.evaluate("() => window.__xss") is None


def test_phone_width_keyboard_and_screen_reader(phone_page: Page, demo_url: str) -> None:
    page = phone_page
    page.goto(demo_url)
    chat = Chat(page)
    expect(chat.panel).to_be_visible()
    box = chat.panel.bounding_box()
    assert box is not None and box["width"] == 375 and box["x"] == 0  # the whole screen on a phone

    chat.input.press("Escape")
    expect(chat.panel).to_be_hidden()
    expect(chat.launcher).to_be_focused()
    expect(chat.launcher).to_have_attribute("aria-expanded", "false")
    chat.launcher.press("Enter")
    expect(chat.panel).to_be_visible()
    expect(chat.input).to_be_focused()
    expect(chat.launcher).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("button", name="发送消息")).to_be_visible()
    expect(page.get_by_role("button", name="关闭客服窗口")).to_be_visible()
    expect(page.get_by_role("log", name="聊天记录")).to_be_visible()

    chat.say("你好")
    expect(chat.user.last).to_have_text("你好")
    reply = chat.bot.nth(1)  # the first is the widget's own greeting
    expect(reply).to_be_visible()
    expect(page.locator(".bc-msg-bot time").nth(1)).to_have_text(re.compile(r"^\d\d:\d\d$"))
    expect(page.locator(".bc-live")).to_contain_text(reply.inner_text())  # announced politely

    long_text = "流量" * 150 + "https://example.com/" + "a" * 200
    chat.say(long_text)
    expect(chat.user.last).to_have_text(long_text)
    overflow = page.evaluate(
        "() => { const log = document.querySelector('#billing-chat').shadowRoot.querySelector('.bc-log');"
        " return log.scrollWidth - log.clientWidth; }"
    )
    assert overflow <= 0  # long messages wrap
    chat.wait_until_sent()


@pytest.fixture
def shop(servers: Servers) -> Iterator[str]:
    """Another site (its own origin on loopback) that embeds the widget with one script tag."""
    script = (
        f'<script src="{servers.rasa_url}/webhooks/web/widget.js" data-title="营业厅在线客服"'
        ' data-color="#aa0000" data-greeting="欢迎光临，请问需要什么帮助？" async></script>'
    )
    page = f"<!doctype html><html lang='zh-CN'><body><h1>商城</h1>{script}</body></html>".encode()

    class Shop(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the standard library's name
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_another_site_embeds_the_widget_with_one_script_tag(page: Page, shop: str) -> None:
    page.goto(shop)
    chat = Chat(page)
    expect(chat.launcher).to_be_visible()
    expect(chat.panel).to_be_hidden()  # closed until the visitor asks
    expect(chat.launcher).to_have_css("background-color", "rgb(170, 0, 0)")
    chat.launcher.click()
    expect(page.locator(".bc-title")).to_have_text("营业厅在线客服")
    expect(chat.bot.first).to_have_text("欢迎光临，请问需要什么帮助？")
    chat.say("你好")
    expect(chat.bot).to_have_count(2)
    chat.wait_until_sent()


def test_a_tampered_session_in_local_storage_is_replaced(page: Page, demo_url: str, servers: Servers) -> None:
    # Someone else's session id with a made-up signature, planted before the widget loads.
    victim = "web-" + "0" * 32
    key = f"billingchat:v1:{servers.rasa_url}:session"
    planted = json.dumps({"session_id": victim, "signature": "0" * 64})
    page.add_init_script(f"localStorage.setItem({json.dumps(key)}, {json.dumps(planted)})")
    page.goto(demo_url)
    chat = Chat(page)
    expect(page.locator(".bc-msg-notice")).to_have_text("之前的会话已失效，已为您开始新的会话。")
    assert chat.session_id() not in ("", victim)
    chat.say("你好")
    expect(chat.bot).to_have_count(2)
    chat.wait_until_sent()
    assert user_texts(servers, chat.session_id()) == ["你好"]
