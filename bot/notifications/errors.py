"""Exceptions of message delivery."""

from __future__ import annotations


class SmsGatewayError(Exception):
    """The SMS gateway could not take the message (unreachable, timeout or refusal)."""
