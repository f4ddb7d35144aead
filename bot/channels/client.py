"""Who is on the other end of a channel: the client that limits on one-time codes count against.

A channel names the client of every message in the message's metadata, under :data:`CLIENT_KEY`,
from what it knows for sure; the action that sends codes reads it from the tracker's latest message
(``bot.identity.service``: at most ``codes_per_client_hour`` codes per client and hour).

* Web widget and App (socket.io, REST): ``ip:<address>``, the connection's peer address, or, when
  that peer is a trusted proxy (``BOT_TRUSTED_PROXIES``: nginx, the App's backend), the address the
  proxies forwarded: ``X-Forwarded-For`` read from the right, skipping trusted proxies (an entry a
  client wrote itself sits further left and is never reached), else ``X-Real-IP``. An IPv6 client
  counts by its /64 network, which one subscriber line or household gets whole.
* WeChat: ``wechat:<openid>``; the address is the WeChat platform's.

Whatever a client puts under ``client`` (``bot.identity.clients.CLIENT_KEY``) in its own metadata
is overwritten.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import Any, Optional, Union

from bot.identity.clients import CLIENT_KEY

logger = logging.getLogger(__name__)

_Address = Union[IPv4Address, IPv6Address]
_Network = Union[IPv4Network, IPv6Network]


def _parse(text: Optional[str]) -> Optional[_Address]:
    try:
        address = ip_address((text or "").strip())
    except ValueError:
        return None
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: _Address, proxies: Sequence[_Network]) -> bool:
    return any(address.version == net.version and address in net for net in proxies)


def client_ip(
    peer: str,
    forwarded_for: Iterable[str],
    real_ip: Optional[str],
    proxies: Sequence[_Network],
) -> Optional[_Address]:
    """The client's address: ``peer``, or what trusted proxies in front of it forwarded.

    Args:
        peer: the address the connection came from.
        forwarded_for: every ``X-Forwarded-For`` header value, in order (each may list several).
        real_ip: the ``X-Real-IP`` header, if any.
        proxies: the trusted proxies' networks.

    Returns:
        The nearest address that is not a trusted proxy; None when ``peer`` is not an address.
    """
    nearest = _parse(peer)
    if nearest is None or not _trusted(nearest, proxies):
        return nearest
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:  # not written by a trusted proxy: stop at the last hop we can believe
            break
        nearest = address
        if not _trusted(address, proxies):
            return address
    else:
        real = _parse(real_ip)
        if real is not None:
            return real
    return nearest


def address_client(address: Optional[_Address]) -> str:
    """The client key of an address: ``ip:203.0.113.7``, ``ip:2001:db8:1:2::/64``, ``ip:unknown``."""
    if address is None:
        return "ip:unknown"
    if isinstance(address, IPv6Address):
        return f"ip:{ip_network(f'{address}/64', strict=False)}"
    return f"ip:{address}"


def wechat_client(openid: str) -> str:
    """The client key of a WeChat user."""
    return f"wechat:{openid}"


_warned_peers: set[str] = set()


def _warn_untrusted_forwarder(peer: str) -> None:
    """Says once per peer that it forwarded addresses we ignore: a proxy missing from the setting
    makes all its clients one client, whose limit then refuses them all."""
    if peer in _warned_peers or len(_warned_peers) >= 100:
        return
    _warned_peers.add(peer)
    logger.warning(
        "%s sent X-Forwarded-For/X-Real-IP but is not in BOT_TRUSTED_PROXIES: its address is the client", peer
    )


def request_client(peer: str, headers: Any, proxies: Optional[Sequence[_Network]] = None) -> str:
    """The client key of an HTTP request (Sanic's ``request.ip`` and ``request.headers``).

    Args:
        peer: the connection's peer address.
        headers: the request's headers (a Sanic ``Header``: ``getall`` gives repeated ones).
        proxies: the trusted proxies; the settings' ``BOT_TRUSTED_PROXIES`` when not given.
    """
    if proxies is None:
        from bot.settings import get_settings

        proxies = get_settings().trusted_proxy_networks()
    forwarded = headers.getall("x-forwarded-for", []) if hasattr(headers, "getall") else []
    if not forwarded and headers.get("x-forwarded-for"):
        forwarded = [headers.get("x-forwarded-for")]
    real_ip = headers.get("x-real-ip")
    peer_address = _parse(peer)
    if (forwarded or real_ip) and peer_address is not None and peer_address.is_private:
        if not _trusted(peer_address, proxies):
            _warn_untrusted_forwarder(peer)
    return address_client(client_ip(peer, forwarded, real_ip, proxies))


def with_client(metadata: Any, client: str) -> dict[str, Any]:
    """The message's metadata with the channel's client, whatever the sender supplied under that key."""
    base = dict(metadata) if isinstance(metadata, Mapping) else {}
    base[CLIENT_KEY] = client
    return base
