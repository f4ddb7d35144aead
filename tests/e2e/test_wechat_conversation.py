"""A WeChat conversation against the real servers: plaintext mode, passive replies, codes guarded.

The servers' environment (conftest) enables the WeChat channel in plaintext mode with test values;
its customer-service API points at a closed loopback port, so every answer asserted here is the
passive reply, given within WeChat's deadline.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid

import requests

from bot.channels.wechat import parse_xml
from tests.e2e.conftest import Servers

WECHAT_TOKEN = "e2ewechattoken"  # as in the servers' environment (conftest)
ACCOUNT = "gh_e2e000000000"


def _query() -> dict[str, str]:
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signature = hashlib.sha1("".join(sorted([WECHAT_TOKEN, timestamp, nonce])).encode()).hexdigest()
    return {"timestamp": timestamp, "nonce": nonce, "signature": signature}


def _say(servers: Servers, openid: str, text: str) -> str:
    xml = (
        f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{uuid.uuid4().int % 10**19}</MsgId></xml>"
    )
    reply = requests.post(
        f"{servers.rasa_url}/webhooks/wechat/webhook",
        params=_query(),
        data=xml.encode(),
        headers={"Content-Type": "text/xml"},
        timeout=30,
    )
    assert reply.status_code == 200
    assert reply.text != "success", "the bot did not answer within WeChat's deadline"
    fields = parse_xml(reply.content)
    assert (fields["ToUserName"], fields["FromUserName"], fields["MsgType"]) == (openid, ACCOUNT, "text")
    return fields["Content"]


def test_a_wechat_subscriber_verifies_by_code_and_hears_the_balance(servers: Servers) -> None:
    handshake = requests.get(
        f"{servers.rasa_url}/webhooks/wechat/webhook", params={**_query(), "echostr": "e2e-echo"}, timeout=10
    )
    assert (handshake.status_code, handshake.text) == (200, "e2e-echo")

    openid = f"oE2E{uuid.uuid4().hex[:24]}"
    asked = _say(servers, openid, "查余额")
    assert "验证身份" in asked and "手机号码" in asked
    assert "验证码已发送至 138****8000" in _say(servers, openid, "13800138000")
    code = servers.latest_code("13800138000")
    answer = _say(servers, openid, code)
    assert "身份验证成功" in answer and "36.50 元" in answer
    # The openid is the conversation; the code reached neither its tracker nor the logs.
    tracker = servers.tracker(openid)
    said = [e.get("text") for e in json.loads(tracker)["events"] if e["event"] == "user"]
    assert said[:2] == ["查余额", "13800138000"] and code not in tracker
    assert json.loads(tracker)["latest_input_channel"] == "wechat"
    assert code not in servers.log_text()
