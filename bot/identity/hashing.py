"""Hashes for secrets. Nothing here keeps or logs the secret it is given.

Service passwords and ID digits are low-entropy (six characters), so they are stored as
PBKDF2-SHA256 with a per-value salt *and* the deployment's secret key as a pepper: a stolen
table alone does not allow an offline search. One-time codes are short-lived and
attempt-limited, so a keyed HMAC bound to the challenge is enough.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

_SCHEME = "pbkdf2_sha256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def normalise_id_digits(value: str) -> str:
    """Canonical form of ID digits: stripped, with the check character ``x`` upper-cased."""
    return value.strip().upper()


def hash_secret(secret: str, *, pepper: str, iterations: int) -> str:
    """Hashes a low-entropy secret (service password, ID digits).

    Args:
        secret: the value in clear; it is not kept.
        pepper: the deployment's secret key.
        iterations: PBKDF2 iterations (recorded in the result).

    Returns:
        ``pbkdf2_sha256$<iterations>$<salt>$<hash>``.
    """
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", (pepper + "\x00" + secret).encode(), salt, iterations)
    return f"{_SCHEME}${iterations}${_b64(salt)}${_b64(digest)}"


def verify_secret(secret: str, encoded: str, *, pepper: str) -> bool:
    """Checks ``secret`` against a value made by :func:`hash_secret`, in constant time."""
    try:
        scheme, iterations, salt, expected = encoded.split("$")
        if scheme != _SCHEME:
            return False
        digest = hashlib.pbkdf2_hmac(
            "sha256", (pepper + "\x00" + secret).encode(), _unb64(salt), int(iterations)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(_b64(digest), expected)


def code_hash(code: str, *, key: str, context: str) -> str:
    """Keyed hash of a one-time code, bound to ``context`` (for example the challenge's nonce)."""
    return hmac.new(key.encode(), f"{context}\x00{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(code: str, expected_hash: str, *, key: str, context: str) -> bool:
    """Checks a typed code against :func:`code_hash`'s value in constant time."""
    return hmac.compare_digest(code_hash(code, key=key, context=context), expected_hash)
