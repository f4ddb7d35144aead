"""The client a message comes from (limits on one-time codes count against it): set by the channel
from the connection, believing forwarded addresses only from trusted proxies, never from the body."""

from __future__ import annotations

import asyncio
from ipaddress import ip_address, ip_network
from types import SimpleNamespace
from typing import Any, Optional

import aiohttp
import pytest
import socketio
from rasa.core.channels.channel import UserMessage

from bot.channels.client import address_client, client_ip, request_client, wechat_client, with_client
from bot.channels.guard import SecretGuard
from bot.channels.rest import AuthenticatedRestInput
from bot.channels.socketio import GuardedSocketIOInput, SessionSigner
from bot.identity.clients import CLIENT_KEY
from bot.settings import SettingsError, settings_from_env
from tests.support.sanic_server import serve

LOOPBACK = (ip_network("127.0.0.1/32"), ip_network("::1/128"))
NGINX_NET = (ip_network("10.0.0.0/24"),)


@pytest.mark.parametrize(
    ("peer", "forwarded", "real_ip", "proxies", "expected"),
    [
        # A direct client: its own headers are not believed.
        ("203.0.113.7", ["198.51.100.1"], "198.51.100.2", LOOPBACK, "203.0.113.7"),
        # Behind nginx on the same host: the address nginx appended (the rightmost).
        ("127.0.0.1", ["203.0.113.7"], "203.0.113.7", LOOPBACK, "203.0.113.7"),
        # A client that wrote its own X-Forwarded-For: nginx appends the real one; the forged stays left.
        ("127.0.0.1", ["198.51.100.1, 198.51.100.2, 203.0.113.7"], None, LOOPBACK, "203.0.113.7"),
        # Two trusted proxies (the App's backend, then nginx), as two header lines.
        ("10.0.0.5", ["203.0.113.7, 10.0.0.9", "10.0.0.5"], None, NGINX_NET, "203.0.113.7"),
        # Only X-Real-IP (a proxy that sets that one).
        ("127.0.0.1", [], "203.0.113.7", LOOPBACK, "203.0.113.7"),
        # A trusted peer that forwarded nothing: the peer itself (the e2e tests, a local tool).
        ("127.0.0.1", [], None, LOOPBACK, "127.0.0.1"),
        # Garbage is not an address a proxy wrote: stop at the last hop that can be believed.
        ("127.0.0.1", ["not-an-address"], None, LOOPBACK, "127.0.0.1"),
        ("::ffff:203.0.113.7", [], None, LOOPBACK, "203.0.113.7"),
    ],
)
def test_the_client_address(
    peer: str, forwarded: list[str], real_ip: Optional[str], proxies: tuple, expected: str
) -> None:
    assert client_ip(peer, forwarded, real_ip, proxies) == ip_address(expected)


def test_client_keys() -> None:
    assert address_client(ip_address("203.0.113.7")) == "ip:203.0.113.7"
    # One IPv6 subscriber gets a whole /64: it counts as one client.
    assert address_client(ip_address("2001:db8:1:2::17")) == "ip:2001:db8:1:2::/64"
    assert address_client(ip_address("2001:db8:1:2:ffff::1")) == "ip:2001:db8:1:2::/64"
    assert address_client(None) == "ip:unknown"
    assert wechat_client("o6_bmjr") == "wechat:o6_bmjr"
    assert with_client({"client": "ip:1.1.1.1", "app": "v2"}, "ip:203.0.113.7") == {
        "client": "ip:203.0.113.7",
        "app": "v2",
    }
    assert with_client("not a dict", "wechat:x") == {"client": "wechat:x"}


def test_trusted_proxies_are_a_setting() -> None:
    settings = settings_from_env({"BOT_ENV": "test"})
    assert settings.trusted_proxy_networks() == LOOPBACK
    custom = settings_from_env({"BOT_ENV": "test", "BOT_TRUSTED_PROXIES": "10.0.0.0/24, 192.0.2.10"})
    assert custom.trusted_proxy_networks() == (ip_network("10.0.0.0/24"), ip_network("192.0.2.10/32"))
    with pytest.raises(SettingsError):
        settings_from_env({"BOT_ENV": "test", "BOT_TRUSTED_PROXIES": "nginx"})
    with pytest.raises(SettingsError):
        settings_from_env({"BOT_ENV": "test", "BOT_CODES_PER_CLIENT_HOUR": "0"})


class NoVerification:
    def pending_factor(self, conversation_id: str) -> None:
        return None


def _guard() -> SecretGuard:
    return SecretGuard(lambda: NoVerification())  # type: ignore[arg-type, return-value]


async def test_rest_sets_the_client_from_the_connection_over_the_body() -> None:
    handled: list[UserMessage] = []

    async def rasa(message: UserMessage) -> None:
        handled.append(message)

    channel = AuthenticatedRestInput("rest-token", guard=_guard())
    async with serve([channel], SimpleNamespace(handle_message=rasa)) as (url, _):
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Forwarded-For": "198.51.100.1, 203.0.113.7"}):
                async with http.post(
                    f"{url}/webhooks/rest/webhook",
                    json={"sender": "s1", "message": "你好", "metadata": {"client": "ip:1.2.3.4", "v": 1}},
                    headers={"Authorization": "Bearer rest-token", **headers},
                ) as reply:
                    assert reply.status == 200
    assert [m.metadata for m in handled] == [
        {"client": "ip:127.0.0.1", "v": 1},
        {"client": "ip:203.0.113.7", "v": 1},
    ]


async def test_socketio_sets_the_client_from_the_socket_over_the_payload() -> None:
    handled: list[UserMessage] = []

    async def rasa(message: UserMessage) -> None:
        handled.append(message)

    channel = GuardedSocketIOInput(signer=SessionSigner(lambda: "test-key" * 4))
    channel.guard = _guard()
    agent: Any = SimpleNamespace(tracker_store=None, handle_message=rasa)
    async with serve([channel], agent) as (url, _):
        assert channel.sio is not None
        channel.sio.eio.ping_interval = channel.sio.eio.ping_timeout = 0.2
        sio = socketio.AsyncClient(reconnection=False)
        confirmed: asyncio.Queue[Any] = asyncio.Queue()
        sio.on("session_confirm", confirmed.put_nowait)
        await sio.connect(
            url,
            transports=["polling"],
            socketio_path="/socket.io",
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        try:
            await sio.emit("session_request", {})
            await asyncio.wait_for(confirmed.get(), 5)
            channel.ledger._load_seen = lambda session_id: asyncio.sleep(0, result=[])  # no tracker store
            ack = await sio.call(
                "user_uttered",
                {
                    "message": "你好",
                    "client_id": "client-0001",
                    channel.metadata_key: {CLIENT_KEY: "ip:1.2.3.4", "page": "bill"},
                },
                timeout=5,
            )
        finally:
            await channel.sio.disconnect(sio.get_sid())
            await sio.eio.wait()
    assert ack["status"] == "ok"
    assert [m.metadata for m in handled] == [{"client": "ip:203.0.113.9", "page": "bill"}]


def test_a_private_proxy_missing_from_the_setting_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    headers = {"x-forwarded-for": "203.0.113.7"}
    for _ in range(3):
        # All its users would be one client: the proxy's own address.
        assert request_client("10.9.8.7", headers, LOOPBACK) == "ip:10.9.8.7"
    assert request_client("10.9.8.7", headers, NGINX_NET + (ip_network("10.9.8.0/24"),)) == "ip:203.0.113.7"
    warnings = [r.getMessage() for r in caplog.records if "BOT_TRUSTED_PROXIES" in r.getMessage()]
    assert warnings == [
        "10.9.8.7 sent X-Forwarded-For/X-Real-IP but is not in BOT_TRUSTED_PROXIES: its address is the client"
    ]
