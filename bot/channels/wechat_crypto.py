"""WeChat Official Account message signatures and the AES "safe mode" envelope.

Implements the published WXBizMsgCrypt scheme (消息加解密):

* ``signature`` = SHA-1 (hex) of the sorted, concatenated strings token, timestamp, nonce;
  ``msg_signature`` adds the ``Encrypt`` value to the strings being sorted.
* The AES key is ``base64decode(EncodingAESKey + "=")`` (43 characters → 32 bytes); messages are
  encrypted with AES-256-CBC, the IV being the key's first 16 bytes, padded with PKCS#7 to a
  multiple of 32 bytes. The plaintext is 16 random bytes, the XML's length as 4 bytes in network
  order, the XML, and the app id, which the receiver checks.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import struct
import time
from typing import Optional

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

_BLOCK = 32  # WeChat pads to 32 bytes, not AES's 16
_RANDOM_PREFIX = 16


class WeChatCryptoError(ValueError):
    """A message could not be decrypted or was not meant for this account."""


def sign(*parts: str) -> str:
    """SHA-1 hex digest of ``parts`` sorted and concatenated (WeChat's signature)."""
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()  # noqa: S324 - WeChat's scheme


def signature_matches(supplied: Optional[str], *parts: str) -> bool:
    """True when ``supplied`` is the signature of ``parts`` (compared in constant time)."""
    if not supplied:
        return False
    return hmac.compare_digest(supplied.strip().lower().encode("ascii", "replace"), sign(*parts).encode())


def decode_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key behind a 43-character EncodingAESKey.

    Raises:
        WeChatCryptoError: the value is not a valid EncodingAESKey.
    """
    if len(encoding_aes_key) != 43:
        raise WeChatCryptoError("EncodingAESKey must be 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise WeChatCryptoError("EncodingAESKey is not base64") from exc
    if len(key) != 32:
        raise WeChatCryptoError("EncodingAESKey must decode to 32 bytes")
    return key


class MessageCrypto:
    """Encrypts and decrypts safe-mode messages for one Official Account.

    Args:
        token: the Token configured on the WeChat platform.
        encoding_aes_key: the 43-character EncodingAESKey.
        app_id: the account's AppID; decrypted messages must carry it.
    """

    def __init__(self, token: str, encoding_aes_key: str, app_id: str) -> None:
        self.token = token
        self.app_id = app_id
        self._key = decode_aes_key(encoding_aes_key)

    def _cipher(self) -> Cipher:
        return Cipher(algorithms.AES(self._key), modes.CBC(self._key[:16]))

    def encrypt(self, xml: str, random_prefix: Optional[bytes] = None) -> str:
        """The base64 ``Encrypt`` value for ``xml``.

        Args:
            xml: the message to encrypt.
            random_prefix: the 16 leading bytes; random unless given (tests use fixed bytes).
        """
        prefix = random_prefix if random_prefix is not None else secrets.token_bytes(_RANDOM_PREFIX)
        if len(prefix) != _RANDOM_PREFIX:
            raise ValueError("the random prefix must be 16 bytes")
        body = xml.encode("utf-8")
        plain = prefix + struct.pack(">I", len(body)) + body + self.app_id.encode("utf-8")
        pad = _BLOCK - len(plain) % _BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypted: str) -> str:
        """The XML inside an ``Encrypt`` value, after checking padding, length and app id.

        Raises:
            WeChatCryptoError: the value is not a valid message for this account.
        """
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WeChatCryptoError("Encrypt is not base64") from exc
        if not data or len(data) % 16:
            raise WeChatCryptoError("Encrypt is not a whole number of AES blocks")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(data) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _BLOCK or plain[-pad:] != bytes([pad]) * pad:
            raise WeChatCryptoError("bad padding")
        plain = plain[:-pad]
        if len(plain) < _RANDOM_PREFIX + 4:
            raise WeChatCryptoError("message too short")
        (length,) = struct.unpack(">I", plain[_RANDOM_PREFIX : _RANDOM_PREFIX + 4])
        start = _RANDOM_PREFIX + 4
        if start + length > len(plain):
            raise WeChatCryptoError("bad length")
        app_id = plain[start + length :]
        if not hmac.compare_digest(app_id, self.app_id.encode("utf-8")):
            raise WeChatCryptoError("the message is for another app id")
        try:
            return plain[start : start + length].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WeChatCryptoError("the message is not UTF-8") from exc

    def msg_signature(self, timestamp: str, nonce: str, encrypted: str) -> str:
        """The ``msg_signature`` of an encrypted message."""
        return sign(self.token, timestamp, nonce, encrypted)

    def encrypt_reply(self, xml: str, timestamp: Optional[str] = None, nonce: Optional[str] = None) -> str:
        """The safe-mode envelope of a passive reply: Encrypt, MsgSignature, TimeStamp, Nonce."""
        timestamp = timestamp or str(int(time.time()))
        nonce = nonce or str(secrets.randbelow(10**10))
        encrypted = self.encrypt(xml)
        return (
            f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt>"
            f"<MsgSignature><![CDATA[{self.msg_signature(timestamp, nonce, encrypted)}]]></MsgSignature>"
            f"<TimeStamp>{timestamp}</TimeStamp><Nonce><![CDATA[{nonce}]]></Nonce></xml>"
        )
