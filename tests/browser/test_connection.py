"""A dropped connection loses nothing and sends nothing twice (the widget against the real servers).

Playwright sits between the page and the server on the socket.io WebSocket, so it can lose what the
server says after a message (the replies and the acknowledgement); then the browser goes offline
(Chromium's network emulation), which drops the connection and fails every reconnection attempt,
until it comes back online.
"""

from __future__ import annotations

import re
import time
from typing import Optional

from playwright.sync_api import Page, WebSocketRoute, expect

from tests.support.browser import Chat, user_texts
from tests.support.servers import Servers


class LossyLine:
    """Forwards the page's socket.io traffic; can lose the server's answer to the next user message."""

    def __init__(self) -> None:
        self.lose_answer_to_next_message = False
        self.answer_lost = False
        self.connections = 0
        self.page_side: Optional[WebSocketRoute] = None

    def route(self, ws: WebSocketRoute) -> None:
        self.connections += 1
        self.page_side = ws
        server = ws.connect_to_server()
        state = {"cut": False}

        def from_page(message: str | bytes) -> None:
            if state["cut"]:
                return
            server.send(message)
            if self.lose_answer_to_next_message and isinstance(message, str) and '"user_uttered"' in message:
                self.lose_answer_to_next_message = False
                state["cut"] = True  # the server processes it; nothing it says reaches the page

        def from_server(message: str | bytes) -> None:
            if not state["cut"]:
                ws.send(message)
            elif isinstance(message, str) and message.startswith("43"):  # the acknowledgement
                self.answer_lost = True

        ws.on_message(from_page)
        server.on_message(from_server)

    def wait_for_lost_answer(self, page: Page, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while not self.answer_lost:  # Playwright routes only while the test calls into it
            assert time.monotonic() < deadline, "the server never answered the message"
            page.wait_for_timeout(50)


def test_a_dropped_connection_loses_no_message_and_sends_none_twice(
    page: Page, demo_url: str, servers: Servers
) -> None:
    line = LossyLine()
    page.route_web_socket(re.compile(r"/socket\.io/"), line.route)
    page.goto(demo_url)
    chat = Chat(page)
    chat.say("你好")
    expect(chat.bot).to_have_count(2)
    chat.wait_until_sent()

    # The server gets "查一下余额" and answers, but the answer and the ack are lost; then the line drops.
    line.lose_answer_to_next_message = True
    chat.say("查一下余额")
    line.wait_for_lost_answer(page)
    page.context.set_offline(True)
    assert line.page_side is not None
    line.page_side.close()
    expect(page.locator(".bc-banner")).to_contain_text("网络已断开")

    # While offline the subscriber writes again (刘洋's number: 张伟's codes per hour go to other tests):
    # it waits in the queue, shown as being sent.
    chat.say("13600136000")
    pending = page.locator(".bc-msg-user").filter(has_text="13600136000")
    expect(pending.locator(".bc-state")).to_have_text("发送中…")
    page.wait_for_timeout(1000)  # a few reconnection attempts fail meanwhile

    page.context.set_offline(False)  # back online: the widget reconnects by itself
    expect(page.locator(".bc-banner")).to_be_hidden()
    chat.expect_bot("验证码已发送")
    chat.wait_until_sent()

    # The lost answer came back from the server's history; each message shows and was processed once.
    expect(chat.user).to_have_text(["你好", "查一下余额", "13600136000"])
    chat.expect_bot("验证身份")
    assert user_texts(servers, chat.session_id()) == ["你好", "查一下余额", "13600136000"]
    assert line.connections >= 2
