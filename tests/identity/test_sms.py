"""The SMS gateways: development outbox, HTTP gateway (against a local server), selection."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from bot.db import Store
from bot.notifications.errors import SmsGatewayError
from bot.notifications.models import Notification
from bot.notifications.sms import HttpSmsGateway, OutboxSmsGateway, gateway_from_settings, mask_codes
from bot.settings import Settings

AT = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
BODY = "【营业厅】您的验证码为482913，5分钟内有效。如非本人操作请忽略。"


class _Gateway:
    """A local HTTP server standing in for the operator's gateway."""

    def __init__(self) -> None:
        self.status = 200
        self.delay = 0.0
        self.received: list[dict] = []
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers["Content-Length"])
                gateway.received.append(json.loads(self.rfile.read(length)))
                time.sleep(gateway.delay)
                self.send_response(gateway.status)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> _Gateway:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway_server() -> Iterator[_Gateway]:
    with _Gateway() as server:
        yield server


def _outbox(store: Store) -> list[Notification]:
    with store.transaction() as session:
        return list(session.execute(select(Notification)).scalars())


def test_outbox_keeps_the_message_as_sent(sqlite_store: Store) -> None:
    with sqlite_store.transaction() as session:
        OutboxSmsGateway().send(session, phone="13800138000", body=BODY, kind="verification_code", at=AT)
    [row] = _outbox(sqlite_store)
    assert (row.phone, row.channel, row.status, row.kind, row.body, row.created_at) == (
        "13800138000",
        "sms",
        "sent",
        "verification_code",
        BODY,
        AT,
    )


def test_http_gateway_posts_json_and_records_a_masked_copy(
    sqlite_store: Store, gateway_server: _Gateway
) -> None:
    gateway = HttpSmsGateway(gateway_server.url, timeout=2)
    with sqlite_store.transaction() as session:
        gateway.send(session, phone="13800138000", body=BODY, kind="verification_code", at=AT)

    assert gateway_server.received == [{"phone": "13800138000", "body": BODY, "kind": "verification_code"}]
    [row] = _outbox(sqlite_store)
    assert row.body == "【营业厅】您的验证码为******，5分钟内有效。如非本人操作请忽略。"
    assert (row.status, row.channel) == ("sent", "sms")


@pytest.mark.parametrize("status", [400, 500, 503])
def test_http_gateway_refusal_raises(sqlite_store: Store, gateway_server: _Gateway, status: int) -> None:
    gateway_server.status = status
    gateway = HttpSmsGateway(gateway_server.url, timeout=2)
    with pytest.raises(SmsGatewayError) as failed:
        with sqlite_store.transaction() as session:
            gateway.send(session, phone="13800138000", body=BODY, kind="verification_code", at=AT)
    assert str(status) in str(failed.value)
    assert "482913" not in str(failed.value)
    assert _outbox(sqlite_store) == []


def test_http_gateway_timeout_raises(sqlite_store: Store, gateway_server: _Gateway) -> None:
    gateway_server.delay = 1.0
    gateway = HttpSmsGateway(gateway_server.url, timeout=0.2)
    with pytest.raises(SmsGatewayError):
        with sqlite_store.transaction() as session:
            gateway.send(session, phone="13800138000", body=BODY, kind="verification_code", at=AT)
    assert _outbox(sqlite_store) == []


def test_http_gateway_unreachable_raises(sqlite_store: Store) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gateway = HttpSmsGateway(f"http://127.0.0.1:{port}/sms", timeout=1)
    with pytest.raises(SmsGatewayError):
        with sqlite_store.transaction() as session:
            gateway.send(session, phone="13800138000", body=BODY, kind="verification_code", at=AT)
    assert _outbox(sqlite_store) == []


def test_http_gateway_refuses_other_schemes() -> None:
    with pytest.raises(ValueError):
        HttpSmsGateway("file:///etc/passwd", timeout=1)
    with pytest.raises(ValueError):
        HttpSmsGateway("http://gateway.example", timeout=0)


def test_mask_codes_masks_only_six_digit_runs() -> None:
    assert mask_codes("验证码123456，余额123456.00元，号码13800138000") == (
        "验证码******，余额123456.00元，号码13800138000"
    )


def test_gateway_from_settings() -> None:
    assert isinstance(gateway_from_settings(Settings(env="test")), OutboxSmsGateway)
    http = gateway_from_settings(
        Settings(
            env="test", sms_gateway="http", sms_gateway_url="https://sms.example/send", sms_gateway_timeout=3
        )
    )
    assert isinstance(http, HttpSmsGateway)
    assert (http.url, http.timeout) == ("https://sms.example/send", 3)
    with pytest.raises(ValueError):
        gateway_from_settings(Settings(env="test", sms_gateway="http"))
    with pytest.raises(ValueError):
        gateway_from_settings(Settings(env="test", sms_gateway="carrier-pigeon"))
