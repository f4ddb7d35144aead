"""The WeChat channel over real HTTP, in plaintext and safe mode.

The channel's blueprint is mounted on a Sanic server on loopback the way Rasa mounts channels
(``rasa.core.channels.channel.register`` under ``/webhooks/``, which is what ``configure_app``
calls; ``configure_app`` itself would import TensorFlow and cost 15 s). A fake bot stands in for
Rasa's agent, and a fake WeChat API (an aiohttp server on a free port) records every call.
Requests are signed and encrypted as WeChat does it; signatures are computed here independently.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Optional

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage, register
from sanic import Sanic

from bot.channels.guard import MASK, SECRET_INTENT, SecretGuard
from bot.channels.rest import FAILURE_TEXT
from bot.channels.wechat import TEXT_ONLY, WeChatInput
from bot.channels.wechat_config import WeChatConfig
from bot.channels.wechat_crypto import MessageCrypto
from bot.channels.wechat_xml import parse_xml
from bot.notifications.wechat_api import WeChatApi
from bot.settings import PROJECT_ROOT
from tests.support.fake_wechat import APP_ID, APP_SECRET, FakeWeChatApi
from tests.support.wechat import AES_KEY, TOKEN, make_config

ACCOUNT = "gh_0123456789ab"
OPENID = "oAbCdEfGhIjKlMnOpQrStUvWxYz0"


def sha1_signature(*parts: str) -> str:
    """WeChat's signature, computed here independently of the channel's code."""
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def text_xml(content: str, msg_id: str = "", openid: str = OPENID, created: Optional[int] = None) -> str:
    msg_id = msg_id or str(uuid.uuid4().int % 10**19)
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def event_xml(event: str, openid: str = OPENID, created: Optional[int] = None, extra: str = "") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{created or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event>{extra}</xml>"
    )


def media_xml(msg_type: str, openid: str = OPENID) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>"
        f"<PicUrl><![CDATA[http://mmbiz.example/pic]]></PicUrl><MediaId><![CDATA[media-1]]></MediaId>"
        f"<MsgId>{uuid.uuid4().int % 10**19}</MsgId></xml>"
    )


# --- the fake bot ----------------------------------------------------------------------------


Reply = dict[str, Any]


@dataclass
class FakeBot:
    """Stands in for Rasa's agent: records each message and answers through its output channel."""

    replies: list[Reply] = field(default_factory=lambda: [{"text": "您好，请问有什么可以帮您？"}])
    delay: float = 0.0
    error: Optional[Exception] = None
    seen: list[UserMessage] = field(default_factory=list)
    answer: Optional[Callable[[UserMessage], list[Reply]]] = None

    async def handle_message(self, message: UserMessage) -> None:
        self.seen.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error is not None:
            raise self.error
        replies = self.answer(message) if self.answer else self.replies
        for reply in replies:
            await message.output_channel.send_response(message.sender_id, dict(reply))


class FakeVerification:
    """The verification service behind the secret guard (no store)."""

    def __init__(self, pending: Optional[str] = None) -> None:
        self.pending = pending
        self.submitted: list[tuple[str, str]] = []

    def pending_factor(self, conversation_id: str) -> Optional[str]:
        return self.pending

    def submit_secret(self, conversation_id: str, secret: str) -> None:
        self.submitted.append((conversation_id, secret))


# --- the channel on a real server --------------------------------------------------------------


@dataclass
class Harness:
    """The WeChat channel mounted on a Sanic server on loopback, and a client that signs requests."""

    channel: WeChatInput
    bot: FakeBot
    config: Optional[WeChatConfig]
    wechat: FakeWeChatApi
    base: str = ""
    client: Optional[aiohttp.ClientSession] = None
    _server: Any = None
    _sock: Optional[socket.socket] = None

    @property
    def crypto(self) -> MessageCrypto:
        return MessageCrypto(TOKEN, AES_KEY, APP_ID)

    async def start(self) -> None:
        app = Sanic(f"wechat_test_{uuid.uuid4().hex[:8]}")
        app.ctx.agent = self.bot

        # Rasa's own registration: the handler calls app.ctx.agent.handle_message.
        register([self.channel], app, route="/webhooks/")
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        self._server = await app.create_server(sock=self._sock, return_asyncio_server=True, access_log=False)
        assert self._server is not None
        await self._server.startup()
        await self._server.after_start()
        self.base = f"http://127.0.0.1:{port}/webhooks/wechat"
        self.client = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self._server is not None:
            await self._server.before_stop()  # the channel's listener lets late answers go out
            self._server.close()
            await self._server.wait_closed()
            await self._server.after_stop()

    def signed_query(self, timestamp: Optional[int] = None, nonce: str = "1320562132") -> dict[str, str]:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        return {"timestamp": ts, "nonce": nonce, "signature": sha1_signature(TOKEN, ts, nonce)}

    async def get(self, params: dict[str, str]) -> tuple[int, str]:
        assert self.client is not None
        async with self.client.get(f"{self.base}/webhook", params=params) as reply:
            return reply.status, await reply.text()

    async def post_raw(self, body: bytes | str, params: dict[str, str]) -> tuple[int, str]:
        assert self.client is not None
        data = body.encode() if isinstance(body, str) else body
        async with self.client.post(
            f"{self.base}/webhook", params=params, data=data, headers={"Content-Type": "text/xml"}
        ) as reply:
            return reply.status, await reply.text()

    async def post(
        self, xml: str, tamper: Optional[Callable[[dict[str, str]], Any]] = None
    ) -> tuple[int, str]:
        """Posts ``xml`` signed (and encrypted) as WeChat would; ``tamper`` edits the query first."""
        assert self.config is not None
        query = self.signed_query()
        body = xml
        if self.config.mode == "safe":
            encrypted = self.crypto.encrypt(xml)
            query["encrypt_type"] = "aes"
            query["openid"] = OPENID
            query["msg_signature"] = sha1_signature(TOKEN, query["timestamp"], query["nonce"], encrypted)
            body = envelope(encrypted)
        if tamper is not None:
            tamper(query)
        return await self.post_raw(body, query)

    def read_reply(self, body: str) -> dict[str, str]:
        """The passive reply's fields, decrypted (and its MsgSignature checked) in safe mode."""
        assert self.config is not None
        fields = parse_xml(body.encode())
        if self.config.mode == "safe":
            expected = sha1_signature(TOKEN, fields["TimeStamp"], fields["Nonce"], fields["Encrypt"])
            assert fields["MsgSignature"] == expected
            fields = parse_xml(self.crypto.decrypt(fields["Encrypt"]).encode())
        return fields

    async def say(self, content: str, msg_id: str = "") -> str:
        """Sends a text message; returns the passive reply's text ("" for ``success``)."""
        status, body = await self.post(text_xml(content, msg_id))
        assert status == 200, body
        if body == "success":
            return ""
        return self.read_reply(body)["Content"]


def envelope(encrypted: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>"
    )


HarnessFactory = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def wechat_api() -> AsyncIterator[FakeWeChatApi]:
    fake = FakeWeChatApi()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def harness(wechat_api: FakeWeChatApi) -> AsyncIterator[HarnessFactory]:
    # Sanic's start-up rewrites its request handling in place, and only in test mode can it do so
    # again for the next app; it stays on (as sanic-testing leaves it), since once rewritten, a
    # later start-up outside test mode would fail.
    Sanic.test_mode = True
    started: list[Harness] = []

    async def make(
        mode: str = "plaintext",
        bot: Optional[FakeBot] = None,
        deadline: float = 2.0,
        verification: Optional[FakeVerification] = None,
        disabled: bool = False,
    ) -> Harness:
        config = None if disabled else make_config(mode, wechat_api.base_url, deadline)
        guard = SecretGuard(lambda: verification or FakeVerification())  # type: ignore[arg-type, return-value]
        h = Harness(WeChatInput(config, guard=guard), bot or FakeBot(), config, wechat_api)
        await h.start()
        started.append(h)
        return h

    yield make
    for h in started:
        await h.stop()


MODES = pytest.mark.parametrize("mode", ["plaintext", "safe"])
GREETING = "您好，请问有什么可以帮您？"


# --- handshake and signatures ------------------------------------------------------------------


@MODES
async def test_handshake_answers_echostr_when_signed(harness: HarnessFactory, mode: str) -> None:
    h = await harness(mode)
    assert await h.get({**h.signed_query(), "echostr": "5837397520665436492"}) == (200, "5837397520665436492")


@MODES
async def test_handshake_refuses_forged_stale_or_missing_signatures(
    harness: HarnessFactory, mode: str
) -> None:
    h = await harness(mode)
    forged = {**h.signed_query(), "echostr": "x"}
    forged["signature"] = sha1_signature("anothertoken", forged["timestamp"], forged["nonce"])
    stale = {**h.signed_query(timestamp=int(time.time()) - 3600), "echostr": "x"}
    assert (await h.get(forged))[0] == 403
    assert (await h.get(stale))[0] == 403
    assert (await h.get({"echostr": "x"}))[0] == 403


@MODES
async def test_a_text_message_gets_a_passive_reply(harness: HarnessFactory, mode: str) -> None:
    h = await harness(mode)
    status, body = await h.post(text_xml("查余额", msg_id="1001"))
    assert status == 200
    if mode == "safe":
        assert GREETING not in body  # the reply is encrypted too
    reply = h.read_reply(body)
    assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"]) == (OPENID, ACCOUNT, "text")
    assert reply["Content"] == GREETING
    assert [(m.text, m.sender_id, m.input_channel, m.message_id) for m in h.bot.seen] == [
        ("查余额", OPENID, "wechat", "1001")
    ]
    assert h.wechat.send_calls == [] and h.wechat.token_calls == []


@MODES
async def test_a_forged_signature_is_refused_before_the_bot(harness: HarnessFactory, mode: str) -> None:
    h = await harness(mode)
    status, _ = await h.post(text_xml("查余额"), tamper=lambda q: q.update(signature="0" * 40))
    assert status == 403
    status, _ = await h.post(text_xml("查余额"), tamper=lambda q: q.pop("signature"))
    assert status == 403
    assert h.bot.seen == []


async def test_safe_mode_refuses_a_forged_or_missing_msg_signature(harness: HarnessFactory) -> None:
    h = await harness("safe")
    status, _ = await h.post(text_xml("查余额"), tamper=lambda q: q.update(msg_signature=sha1_signature("x")))
    assert status == 403
    status, _ = await h.post(text_xml("查余额"), tamper=lambda q: q.pop("msg_signature"))
    assert status == 403
    assert h.bot.seen == []


async def test_safe_mode_refuses_a_message_encrypted_for_another_app(harness: HarnessFactory) -> None:
    h = await harness("safe")
    encrypted = MessageCrypto(TOKEN, AES_KEY, "wx0000000000other").encrypt(text_xml("查余额"))
    query = h.signed_query()
    query.update(
        encrypt_type="aes",
        msg_signature=sha1_signature(TOKEN, query["timestamp"], query["nonce"], encrypted),
    )
    assert (await h.post_raw(envelope(encrypted), query))[0] == 403
    assert h.bot.seen == []


async def test_safe_mode_refuses_a_plaintext_body(harness: HarnessFactory) -> None:
    h = await harness("safe")
    assert (await h.post_raw(text_xml("查余额"), h.signed_query()))[0] == 400
    assert h.bot.seen == []


async def test_plaintext_mode_refuses_an_encrypted_body(harness: HarnessFactory) -> None:
    h = await harness("plaintext")
    encrypted = h.crypto.encrypt(text_xml("查余额"))
    query = {**h.signed_query(), "encrypt_type": "aes"}
    assert (await h.post_raw(envelope(encrypted), query))[0] == 400
    assert h.bot.seen == []


# --- hostile or broken bodies ------------------------------------------------------------------

_FIELDS = f"<ToUserName>{ACCOUNT}</ToUserName><FromUserName>{OPENID}</FromUserName><MsgType>text</MsgType>"
BAD_BODIES = {
    "not xml": "hello",
    "truncated": text_xml("查余额")[:-12],
    "another root": f"<message>{_FIELDS}<Content>hi</Content></message>",
    "entity expansion": (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>'
        f"<xml>{_FIELDS}<Content>&b;</Content></xml>"
    ),
    "external entity": (
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
        f"<xml>{_FIELDS}<Content>&e;</Content></xml>"
    ),
    "bare doctype": f"<!DOCTYPE xml><xml>{_FIELDS}<Content>hi</Content></xml>",
    "undeclared entity": f"<xml>{_FIELDS}<Content>&e;</Content></xml>",
    "no sender": "<xml><MsgType>text</MsgType><Content>hi</Content></xml>",
}


@MODES
@pytest.mark.parametrize("name", list(BAD_BODIES))
async def test_bad_xml_is_refused_without_calling_the_bot(
    harness: HarnessFactory, mode: str, name: str
) -> None:
    h = await harness(mode)
    status, body = await h.post(BAD_BODIES[name])  # in safe mode the bad XML is the encrypted message
    assert status == 400
    assert "Traceback" not in body and "passwd" not in body
    assert h.bot.seen == []


async def test_safe_mode_refuses_a_doctype_in_the_envelope(harness: HarnessFactory) -> None:
    h = await harness("safe")
    encrypted = h.crypto.encrypt(text_xml("查余额"))
    query = h.signed_query()
    query.update(
        encrypt_type="aes",
        msg_signature=sha1_signature(TOKEN, query["timestamp"], query["nonce"], encrypted),
    )
    body = '<!DOCTYPE xml [<!ENTITY x "y">]>' + envelope(encrypted)
    assert (await h.post_raw(body, query))[0] == 400
    assert h.bot.seen == []


async def test_an_oversized_body_is_refused(harness: HarnessFactory) -> None:
    h = await harness("plaintext")
    status, _ = await h.post(text_xml("余" * 30_000))
    assert status == 413
    assert h.bot.seen == []


# --- retries, deadlines and the customer-service API ----------------------------------------


@MODES
async def test_retries_of_one_message_run_the_bot_once(harness: HarnessFactory, mode: str) -> None:
    bot = FakeBot(delay=0.2)
    h = await harness(mode, bot=bot)
    xml = text_xml("查余额", msg_id="2002")
    # WeChat retrying while the first delivery is still being answered.
    results = await asyncio.gather(*(h.post(xml) for _ in range(3)))
    assert [status for status, _ in results] == [200, 200, 200]
    assert [h.read_reply(body)["Content"] for _, body in results] == [GREETING] * 3
    # A retry after the answer: the same answer again, still one run.
    assert h.read_reply((await h.post(xml))[1])["Content"] == GREETING
    assert len(bot.seen) == 1
    assert h.wechat.send_calls == []


@MODES
async def test_a_slow_answer_is_success_now_and_the_api_later(harness: HarnessFactory, mode: str) -> None:
    bot = FakeBot(delay=0.4, replies=[{"text": "第一条"}, {"text": "第二条"}])
    h = await harness(mode, bot=bot, deadline=0.1)
    xml = text_xml("查账单", msg_id="3003")
    started = time.monotonic()
    assert await h.post(xml) == (200, "success")
    assert time.monotonic() - started < 0.35
    assert await h.post(xml) == (200, "success")  # WeChat's retry while the bot is busy
    calls = await h.wechat.wait_for_sends(1)
    assert h.wechat.token_calls == [
        {"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET}
    ]
    assert calls == [
        ("ACCESS-TOKEN-1", {"touser": OPENID, "msgtype": "text", "text": {"content": "第一条\n\n第二条"}})
    ]
    assert await h.post(xml) == (200, "success")  # a late retry: not answered twice
    await h.channel.aclose()
    assert len(h.wechat.send_calls) == 1
    assert len(bot.seen) == 1


async def test_a_refused_access_token_is_refreshed_once(harness: HarnessFactory) -> None:
    h = await harness("plaintext", bot=FakeBot(delay=0.15), deadline=0.05)
    assert await h.say("第一个问题") == ""
    await h.wechat.wait_for_sends(1)
    h.wechat.revoke()  # WeChat invalidates the token (errcode 40001 on the next send)
    assert await h.say("第二个问题") == ""
    calls = await h.wechat.wait_for_sends(3)
    assert [token for token, _ in calls] == ["ACCESS-TOKEN-1", "ACCESS-TOKEN-1", "ACCESS-TOKEN-2"]
    assert [body["text"]["content"] for _, body in calls] == [GREETING] * 3
    assert len(h.wechat.token_calls) == 2


async def test_a_token_refused_twice_is_not_retried_in_a_loop(
    wechat_api: FakeWeChatApi, caplog: pytest.LogCaptureFixture
) -> None:
    api = WeChatApi(APP_ID, APP_SECRET, wechat_api.base_url)
    wechat_api.send_errcodes = [40001, 40001]
    assert await api.send_text(OPENID, "您好") is False
    await api.close()
    assert len(wechat_api.send_calls) == 2 and len(wechat_api.token_calls) == 2


async def test_concurrent_sends_share_one_token_request(wechat_api: FakeWeChatApi) -> None:
    wechat_api.token_delay = 0.1
    api = WeChatApi(APP_ID, APP_SECRET, wechat_api.base_url)
    results = await asyncio.gather(*(api.send_text(OPENID, f"消息{i}") for i in range(5)))
    await api.close()
    assert results == [True] * 5
    assert len(wechat_api.token_calls) == 1
    assert sorted(body["text"]["content"] for _, body in wechat_api.send_calls) == [
        f"消息{i}" for i in range(5)
    ]


async def test_a_wrong_app_secret_sends_nothing(
    wechat_api: FakeWeChatApi, caplog: pytest.LogCaptureFixture
) -> None:
    api = WeChatApi(APP_ID, "not-the-secret", wechat_api.base_url)
    assert await api.send_text(OPENID, "您好") is False
    await api.close()
    assert wechat_api.send_calls == [] and "errcode 40125" in caplog.text


@pytest.mark.parametrize("errcode", [45047, 45015])
async def test_quota_and_window_errors_stop_the_answer(
    harness: HarnessFactory, errcode: int, caplog: pytest.LogCaptureFixture
) -> None:
    long_answer = "\n".join(["您的扣费明细如下" * 30] * 6)  # about 4.3 KB: three pieces
    h = await harness("plaintext", bot=FakeBot(delay=0.1, replies=[{"text": long_answer}]), deadline=0.02)
    h.wechat.send_errcodes = [errcode]
    assert await h.say("明细") == ""
    await h.wechat.wait_for_sends(1)
    await h.channel.aclose()  # waits for the late answer to finish
    assert len(h.wechat.send_calls) == 1  # the remaining pieces are not tried
    assert f"errcode {errcode}" in caplog.text


async def test_a_long_answer_is_split_within_the_limit(harness: HarnessFactory) -> None:
    lines = [f"第{i}笔：视频彩铃 10.00 元，" + "短信营销渠道开通，" * 8 for i in range(40)]
    answer = "\n".join(lines)
    h = await harness("plaintext", bot=FakeBot(replies=[{"text": answer}]))
    first = await h.say("这个月扣了啥")
    await h.channel.aclose()
    rest = [body["text"]["content"] for _, body in h.wechat.send_calls]
    pieces = [first, *rest]
    assert len(pieces) >= 3
    assert all(len(p.encode()) <= 2048 for p in pieces)
    assert "\n".join(pieces) == answer  # cut at line ends only, nothing lost or repeated


# --- what the subscriber sees -------------------------------------------------------------------

ALERT_BUTTONS = [
    {"title": "余额提醒", "payload": '/inform{"alert_type": "balance"}'},
    {"title": "流量提醒", "payload": '/inform{"alert_type": "data"}'},
]


@MODES
async def test_buttons_become_numbered_choices_and_a_number_sends_the_payload(
    harness: HarnessFactory, mode: str
) -> None:
    bot = FakeBot(replies=[{"text": "想设置哪种提醒呢？", "buttons": ALERT_BUTTONS}])
    h = await harness(mode, bot=bot)
    assert await h.say("设置提醒") == "想设置哪种提醒呢？\n回复数字选择：\n1. 余额提醒\n2. 流量提醒"
    bot.replies = [{"text": "余额低于多少元时提醒您？"}]
    await h.say("2")
    assert bot.seen[-1].text == '/inform{"alert_type": "data"}'
    await h.say("2")  # no choices offered any more: a number is just a number
    assert bot.seen[-1].text == "2"


async def test_only_a_lone_number_in_range_is_a_choice(harness: HarnessFactory) -> None:
    verification = FakeVerification(pending=None)
    bot = FakeBot(replies=[{"text": "想设置哪种提醒呢？", "buttons": ALERT_BUTTONS}])
    h = await harness("plaintext", bot=bot, verification=verification)
    await h.say("设置提醒")
    await h.say("3")  # out of range
    await h.say("选2")  # not a lone number
    await h.say("123456")  # a code, never a choice: masked by the guard
    await h.say("１")  # full-width 1
    assert [m.text for m in bot.seen] == ["设置提醒", "3", "选2", MASK, '/inform{"alert_type": "balance"}']


async def test_numbered_titles_keep_their_own_numbers(harness: HarnessFactory) -> None:
    rating = [
        {"title": f"{score}分" + {5: " 非常满意", 1: " 不满意"}.get(score, ""), "payload": f"/rate{score}"}
        for score in (5, 4, 3, 2, 1)
    ]
    bot = FakeBot(replies=[{"text": "请为本次服务打个分吧", "buttons": rating}])
    h = await harness("plaintext", bot=bot)
    reply = await h.say("谢谢")
    assert reply.endswith("回复数字选择：\n5. 5分 非常满意\n4. 4分\n3. 3分\n2. 2分\n1. 1分 不满意")
    await h.say("5")
    assert bot.seen[-1].text == "/rate5"  # 5 means 5分, not the fifth button


async def test_several_bot_messages_are_joined_in_one_passive_reply(harness: HarnessFactory) -> None:
    bot = FakeBot(replies=[{"text": "余额 36.50 元"}, {"text": "还有什么可以帮您？"}])
    h = await harness("plaintext", bot=bot)
    assert await h.say("余额") == "余额 36.50 元\n\n还有什么可以帮您？"


@MODES
async def test_a_one_time_code_is_checked_and_masked_before_the_bot(
    harness: HarnessFactory, mode: str
) -> None:
    verification = FakeVerification(pending="sms_otp")
    h = await harness(mode, verification=verification)
    await h.say("验证码是 482913")
    assert verification.submitted == [(OPENID, "482913")]
    [seen] = h.bot.seen
    assert seen.text == f"验证码是 {MASK}"
    assert seen.parse_data is not None and seen.parse_data["intent"]["name"] == SECRET_INTENT
    assert "482913" not in repr(vars(seen))


@MODES
async def test_subscribe_greets_the_new_subscriber_through_the_bot(
    harness: HarnessFactory, mode: str
) -> None:
    bot = FakeBot(replies=[{"text": "您好！我是营业厅智能客服。"}])
    h = await harness(mode, bot=bot)
    xml = event_xml("subscribe", created=int(time.time()))
    status, body = await h.post(xml)
    assert status == 200 and h.read_reply(body)["Content"] == "您好！我是营业厅智能客服。"
    await h.post(xml)  # WeChat's retry of the same event
    [seen] = bot.seen
    assert seen.sender_id == OPENID
    assert seen.parse_data is not None and seen.parse_data["intent"]["name"] == "greet"


@pytest.mark.parametrize("event", ["unsubscribe", "CLICK", "VIEW", "LOCATION", "TEMPLATESENDJOBFINISH"])
async def test_other_events_are_acknowledged_without_the_bot(harness: HarnessFactory, event: str) -> None:
    h = await harness("plaintext")
    assert await h.post(event_xml(event)) == (200, "success")
    assert h.bot.seen == []


@MODES
@pytest.mark.parametrize("msg_type", ["image", "video", "location", "link", "voice"])
async def test_other_messages_are_told_only_text_is_understood(
    harness: HarnessFactory, mode: str, msg_type: str
) -> None:
    h = await harness(mode)
    status, body = await h.post(media_xml(msg_type))
    assert status == 200 and h.read_reply(body)["Content"] == TEXT_ONLY
    assert h.bot.seen == []


async def test_recognised_voice_goes_to_the_bot_as_text(harness: HarnessFactory) -> None:
    h = await harness("plaintext")
    xml = media_xml("voice").replace("</xml>", "<Recognition><![CDATA[查余额]]></Recognition></xml>")
    status, body = await h.post(xml)
    assert h.read_reply(body)["Content"] == GREETING
    assert [m.text for m in h.bot.seen] == ["查余额"]


@MODES
async def test_a_failing_bot_gets_the_kind_failure_text(harness: HarnessFactory, mode: str) -> None:
    h = await harness(mode, bot=FakeBot(error=RuntimeError("tracker store exploded")))
    status, body = await h.post(text_xml("查余额"))
    assert status == 200
    assert h.read_reply(body)["Content"] == FAILURE_TEXT
    assert "exploded" not in body and "Traceback" not in body


async def test_logs_carry_no_secret_token_code_or_text(
    harness: HarnessFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    verification = FakeVerification(pending="sms_otp")
    h = await harness("safe", bot=FakeBot(delay=0.1), deadline=0.02, verification=verification)
    await h.say("我的验证码 482913")
    await h.wechat.wait_for_sends(1)
    h.wechat.revoke()
    await h.say("查一下账单")
    await h.wechat.wait_for_sends(3)
    await h.post(text_xml("x"), tamper=lambda q: q.update(msg_signature="0" * 40))
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("bot."))
    assert "access token refreshed" in ours and "bad msg_signature" in ours  # the logs did run
    for secret in (APP_SECRET, "ACCESS-TOKEN", "482913", "查一下账单", AES_KEY, TOKEN):
        assert secret not in ours


# --- configuration -------------------------------------------------------------------------------

CREDENTIALS = {
    "token": TOKEN,
    "app_id": APP_ID,
    "app_secret": APP_SECRET,
    "encoding_aes_key": AES_KEY,
    "mode": "safe",
    "api_base_url": "",
    "reply_deadline": "",
}


def test_without_a_token_the_channel_is_disabled_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    channel = WeChatInput.from_credentials({**CREDENTIALS, "token": ""})
    assert isinstance(channel, WeChatInput) and channel.config is None
    assert "WeChat channel disabled: WECHAT_TOKEN is not set" in caplog.text


async def test_a_disabled_channel_answers_503(harness: HarnessFactory) -> None:
    h = await harness(disabled=True)
    assert h.client is not None
    async with h.client.get(f"{h.base}/") as reply:
        assert await reply.json() == {"status": "disabled"}
    assert (await h.get({"echostr": "x"}))[0] == 503
    assert (await h.post_raw(text_xml("hi"), {}))[0] == 503


def test_full_credentials_configure_safe_mode_with_defaults() -> None:
    channel = WeChatInput.from_credentials(CREDENTIALS)
    assert isinstance(channel, WeChatInput) and channel.config is not None
    assert channel.config.mode == "safe" and channel.crypto is not None
    assert channel.config.api_base_url == "https://api.weixin.qq.com"
    assert channel.config.reply_deadline == 4.5
    assert APP_SECRET not in repr(channel.config) and APP_SECRET not in repr(channel.api)


@pytest.mark.parametrize(
    "change, variable",
    [
        ({"app_secret": ""}, "WECHAT_APP_SECRET"),
        ({"app_id": ""}, "WECHAT_APP_ID"),
        ({"encoding_aes_key": "too-short"}, "WECHAT_ENCODING_AES_KEY"),
        ({"mode": "compat"}, "WECHAT_MODE"),
        ({"token": "has spaces"}, "WECHAT_TOKEN"),
        ({"reply_deadline": "6"}, "WECHAT_REPLY_DEADLINE"),
        ({"reply_deadline": "soon"}, "WECHAT_REPLY_DEADLINE"),
        ({"api_base_url": "ftp://example"}, "WECHAT_API_BASE_URL"),
    ],
)
def test_a_half_configured_channel_fails_loudly(change: dict[str, str], variable: str) -> None:
    with pytest.raises(ValueError, match=variable):
        WeChatInput.from_credentials({**CREDENTIALS, **change})


def test_plaintext_mode_needs_no_aes_key() -> None:
    channel = WeChatInput.from_credentials({**CREDENTIALS, "mode": "plaintext", "encoding_aes_key": ""})
    assert isinstance(channel, WeChatInput) and channel.crypto is None


def test_production_needs_an_https_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_ENV", "production")
    with pytest.raises(ValueError, match="https in production"):
        WeChatInput.from_credentials({**CREDENTIALS, "api_base_url": "http://127.0.0.1:9"})


def test_credentials_yml_reads_the_wechat_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from rasa.shared.utils.common import class_from_module_path
    from rasa.shared.utils.io import read_config_file

    path = PROJECT_ROOT / "credentials.yml"
    for name in set(re.findall(r"^[^#\n]*\$\{(\w+)\}", path.read_text(), flags=re.M)):
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("REST_CHANNEL_TOKEN", "rest-token")
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_APP_ID", APP_ID)
    monkeypatch.setenv("WECHAT_APP_SECRET", APP_SECRET)
    monkeypatch.setenv("WECHAT_ENCODING_AES_KEY", AES_KEY)
    monkeypatch.setenv("WECHAT_MODE", "safe")
    monkeypatch.setenv("WECHAT_API_BASE_URL", "https://api.weixin.qq.com")
    monkeypatch.setenv("WECHAT_REPLY_DEADLINE", "3")
    credentials = read_config_file(str(path))
    key = "bot.channels.wechat.WeChatInput"
    channel = class_from_module_path(key).from_credentials(credentials[key])
    assert isinstance(channel, WeChatInput) and channel.config is not None
    assert (channel.config.token, channel.config.app_id, channel.config.reply_deadline) == (
        TOKEN,
        APP_ID,
        3.0,
    )
    monkeypatch.setenv("WECHAT_TOKEN", "")  # the development default: the server starts without WeChat
    disabled = class_from_module_path(key).from_credentials(read_config_file(str(path))[key])
    assert disabled.config is None
