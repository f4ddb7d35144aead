"""Real servers for end-to-end tests: the action server and Rasa with a trained model.

``make test`` trains a model into a temporary folder and exports ``BOT_TEST_MODEL``. The
servers run on free loopback ports against a seeded SQLite billing store of their own, with
debug logging, so tests can also read the logs for leaked secrets.
"""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest
import requests
from sqlalchemy import select

from bot.clock import SystemClock
from bot.db import Store
from bot.migrate import upgrade
from bot.notifications.models import Notification
from bot.seed import seed_demo
from bot.settings import PROJECT_ROOT, settings_from_env

REST_TOKEN = "e2e-rest-token"
API_TOKEN = "e2e-api-token"
ACTION_TOKEN = "e2e-action-token"
#: Codes one client may have sent per hour in the test servers. Every test but those of
#: tests/e2e/test_code_limits_rest.py comes from 127.0.0.1 with nothing forwarded, so the whole
#: suite is one client; the default (10) would refuse it. The per-conversation limit stays as in
#: production.
CODES_PER_CLIENT_HOUR = 500
#: Codes one number may be sent per hour in the test servers: the suite verifies the seven demo
#: subscribers in some thirty conversations within minutes, so production's five an hour would
#: refuse the later tests by the order they run in. The limit itself is tested on the service
#: (tests/identity/test_service.py).
CODES_PER_NUMBER_HOUR = 50
#: The WeChat channel of the test servers: plaintext mode, this token, this Official Account.
WECHAT_TOKEN = "e2ewechattoken"
WECHAT_ACCOUNT = "gh_e2e000000000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Servers:
    rasa_url: str
    action_url: str
    store: Store
    logs: list[Path] = field(default_factory=list)

    def say(self, sender: str, text: str) -> list[str]:
        """Sends ``text`` over the REST channel and returns the bot's texts."""
        return [m.get("text", "") for m in self.say_messages(sender, text)]

    def say_messages(self, sender: str, text: str) -> list[dict]:
        """Sends ``text`` over the REST channel and returns the bot's messages (text, buttons)."""
        reply = requests.post(
            f"{self.rasa_url}/webhooks/rest/webhook",
            json={"sender": sender, "message": text},
            headers={"Authorization": f"Bearer {REST_TOKEN}"},
            timeout=30,
        )
        reply.raise_for_status()
        return reply.json()

    def parse(self, text: str) -> dict:
        """What the model makes of ``text`` (Rasa's /model/parse), without a conversation."""
        reply = requests.post(
            f"{self.rasa_url}/model/parse", params={"token": API_TOKEN}, json={"text": text}, timeout=30
        )
        reply.raise_for_status()
        return reply.json()

    def latest_code(self, phone: str) -> str:
        """The code in the newest SMS the development gateway "sent" to ``phone``."""
        import re

        with self.store.transaction() as session:
            body = session.scalars(
                select(Notification.body)
                .where(Notification.phone == phone, Notification.kind == "verification_code")
                .order_by(Notification.id.desc())
                .limit(1)
            ).one()
        match = re.search(r"\d{6}", body)
        assert match, "the outbox SMS carries a six-digit code"
        return match.group(0)

    def tracker(self, sender: str) -> str:
        reply = requests.get(
            f"{self.rasa_url}/conversations/{sender}/tracker", params={"token": API_TOKEN}, timeout=30
        )
        reply.raise_for_status()
        return reply.text

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs if p.exists())


def _wait(url: str, proc: subprocess.Popen, log: Path, seconds: int = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited early:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server not ready after {seconds}s:\n{log.read_text(errors='replace')[-3000:]}")


#: The running servers, so that every conftest importing the fixture (tests/e2e, tests/browser) shares
#: one set.
_running: Optional[Servers] = None


@pytest.fixture(scope="session")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    global _running
    if _running is not None:
        yield _running
        return
    model = os.environ.get("BOT_TEST_MODEL")
    if not model or not Path(model).exists():
        if os.environ.get("CI"):
            pytest.fail("BOT_TEST_MODEL is not set: run the suite with `make test`")
        pytest.skip("needs a trained model: run `make test` (it sets BOT_TEST_MODEL)")
    tmp = tmp_path_factory.mktemp("e2e")
    url = f"sqlite:///{tmp / 'billing.db'}"
    upgrade(url)
    store = Store.from_url(url)
    env = dict(os.environ)
    env.update(
        BOT_ENV="test",
        BOT_DATABASE_URL=url,
        BOT_PASSWORD_ITERATIONS="1000",
        RASA_TRACKER_DB=str(tmp / "tracker.db"),
        REST_CHANNEL_TOKEN=REST_TOKEN,
        ACTION_SERVER_TOKEN=ACTION_TOKEN,
        RASA_TELEMETRY_ENABLED="false",
        LOG_LEVEL="DEBUG",
        # Agents answer all day, so 转人工 is queued whenever the tests run (tests/browser/test_handoff.py).
        BOT_AGENT_HOURS="00:00-24:00",
        BOT_CODES_PER_CLIENT_HOUR=str(CODES_PER_CLIENT_HOUR),
        BOT_CODES_PER_NUMBER_HOUR=str(CODES_PER_NUMBER_HOUR),
        PYTHONPATH=str(PROJECT_ROOT),
        # WeChat in plaintext mode (tests/e2e/test_wechat_conversation.py); the customer-service
        # API points at a closed port, so only passive replies reach the tests.
        WECHAT_TOKEN=WECHAT_TOKEN,
        WECHAT_APP_ID="wxe2e0000000000000",
        WECHAT_APP_SECRET="e2e-wechat-app-secret",
        WECHAT_ENCODING_AES_KEY="",
        WECHAT_MODE="plaintext",
        WECHAT_API_BASE_URL="http://127.0.0.1:9",
        WECHAT_REPLY_DEADLINE="4.5",
    )
    with store.transaction() as session:
        seed_demo(session, SystemClock().now(), settings_from_env(env))
    action_port, rasa_port = _free_port(), _free_port()
    env["ACTION_ENDPOINT"] = f"http://127.0.0.1:{action_port}/webhook"
    bin_dir = Path(sys.executable).parent
    action_log, rasa_log = tmp / "action-server.log", tmp / "rasa.log"
    procs = []
    with open(action_log, "w") as alog, open(rasa_log, "w") as rlog:
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "bot.action_server", "--port", str(action_port)],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=alog,
                stderr=subprocess.STDOUT,
            )
        )
        procs.append(
            subprocess.Popen(
                [
                    str(bin_dir / "rasa"),
                    "run",
                    "--model",
                    model,
                    "--endpoints",
                    "endpoints.yml",
                    "--credentials",
                    "credentials.yml",
                    "--interface",
                    "127.0.0.1",
                    "--port",
                    str(rasa_port),
                    "--enable-api",
                    "--auth-token",
                    API_TOKEN,
                    "--debug",
                ],
                cwd=PROJECT_ROOT,
                env=env,
                stdout=rlog,
                stderr=subprocess.STDOUT,
            )
        )
    try:
        _wait(f"http://127.0.0.1:{action_port}/health", procs[0], action_log)
        _wait(f"http://127.0.0.1:{rasa_port}/webhooks/rest/", procs[1], rasa_log)
        _running = Servers(
            rasa_url=f"http://127.0.0.1:{rasa_port}",
            action_url=f"http://127.0.0.1:{action_port}",
            store=store,
            logs=[action_log, rasa_log],
        )
        yield _running
    finally:
        _running = None
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        store.dispose()


def signed_query() -> dict[str, str]:
    """The query of a request signed as WeChat signs it (with the test servers' token)."""
    timestamp, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
    signature = hashlib.sha1("".join(sorted([WECHAT_TOKEN, timestamp, nonce])).encode()).hexdigest()
    return {"timestamp": timestamp, "nonce": nonce, "signature": signature}


def post_text(servers: Servers, openid: str, text: str) -> requests.Response:
    """Posts a WeChat text message from ``openid`` to the channel, signed as WeChat signs it."""
    xml = (
        f"<xml><ToUserName><![CDATA[{WECHAT_ACCOUNT}]]></ToUserName><FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{uuid.uuid4().int % 10**19}</MsgId></xml>"
    )
    reply = requests.post(
        f"{servers.rasa_url}/webhooks/wechat/webhook",
        params=signed_query(),
        data=xml.encode(),
        headers={"Content-Type": "text/xml"},
        timeout=30,
    )
    assert reply.status_code == 200
    return reply
