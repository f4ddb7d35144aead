"""WeChat's message crypto against the published sample vectors; the XML, text and cache helpers."""

from __future__ import annotations

import base64

import pytest

from bot.cache import TtlCache
from bot.channels.wechat_crypto import (
    MessageCrypto,
    WeChatCryptoError,
    decode_aes_key,
    sign,
    signature_matches,
)
from bot.channels.wechat_render import render, split_text
from bot.channels.wechat_xml import BadXml, parse_xml, text_reply_xml

# The sample in WeChat's WXBizMsgCrypt download (Python Sample.py; also quoted in its ports).
SAMPLE_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SAMPLE_TOKEN = "spamtest"
SAMPLE_APP_ID = "wx2c2769f8efd9abc2"
SAMPLE_TIMESTAMP = "1409735669"
SAMPLE_NONCE = "1320562132"
SAMPLE_MSG_SIGNATURE = "5d197aaffba7e9b25a30732f161a50dee96bd5fa"
SAMPLE_ENCRYPT = (
    "hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2L"
    "dJF9FrXpbUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5"
    "VTjg3yt+WGzjlpKn6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgC"
    "SUdUue1v6h0EIBYYI1BD1DlD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9Gh"
    "glF2PE="
)
# The Java sample's test (WXBizMsgCryptTest): a fixed random prefix makes encryption repeatable.
JAVA_APP_ID = "wxb11529c136998cb6"
JAVA_PLAIN = "我是中文abcd123"
JAVA_ENCRYPTED = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="


def test_the_published_sample_checks_and_decrypts() -> None:
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APP_ID)
    assert crypto.msg_signature(SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT) == SAMPLE_MSG_SIGNATURE
    assert signature_matches(
        SAMPLE_MSG_SIGNATURE, SAMPLE_TOKEN, SAMPLE_TIMESTAMP, SAMPLE_NONCE, SAMPLE_ENCRYPT
    )
    fields = parse_xml(crypto.decrypt(SAMPLE_ENCRYPT).encode())
    assert fields["FromUserName"] == "oyORnuP8q7ou2gfYjqLzSIWZf0rs"
    assert (fields["MsgType"], fields["Content"], fields["MsgId"]) == (
        "text",
        "abcdteT",
        "6054768590064713728",
    )


def test_encryption_matches_the_java_sample() -> None:
    crypto = MessageCrypto("pamtest", SAMPLE_KEY, JAVA_APP_ID)
    assert crypto.encrypt(JAVA_PLAIN, random_prefix=b"aaaabbbbccccdddd") == JAVA_ENCRYPTED
    assert crypto.decrypt(JAVA_ENCRYPTED) == JAVA_PLAIN


def test_padding_is_to_32_byte_blocks() -> None:
    crypto = MessageCrypto("t0ken", SAMPLE_KEY, "wx1")
    # 16 random + 4 length + 8 text + 3 app id = 31 bytes: one byte of padding, one 32-byte block.
    assert len(base64.b64decode(crypto.encrypt("12345678"))) == 32
    # 32 bytes exactly: a whole block of padding is added.
    assert len(base64.b64decode(crypto.encrypt("123456789"))) == 64


def test_round_trip_with_random_prefixes() -> None:
    crypto = MessageCrypto("t0ken", SAMPLE_KEY, "wx1234")
    one, two = crypto.encrypt("<xml>余额</xml>"), crypto.encrypt("<xml>余额</xml>")
    assert one != two
    assert crypto.decrypt(one) == crypto.decrypt(two) == "<xml>余额</xml>"


def test_a_message_for_another_app_id_is_refused() -> None:
    other = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, "wx0000000000000000")
    with pytest.raises(WeChatCryptoError, match="app id"):
        other.decrypt(SAMPLE_ENCRYPT)


@pytest.mark.parametrize(
    "encrypted",
    [
        "not base64!",
        base64.b64encode(b"short").decode(),
        SAMPLE_ENCRYPT[:-24] + "AAAAAAAAAAAAAAAAAAAAAA==",  # the last block changed: the padding breaks
        "",
    ],
)
def test_tampered_ciphertext_is_refused(encrypted: str) -> None:
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APP_ID)
    with pytest.raises(WeChatCryptoError):
        crypto.decrypt(encrypted)


@pytest.mark.parametrize("key", ["", "short", SAMPLE_KEY + "H", SAMPLE_KEY[:-1] + "!"])
def test_invalid_encoding_aes_keys_are_refused(key: str) -> None:
    with pytest.raises(WeChatCryptoError):
        decode_aes_key(key)


def test_the_reply_envelope_is_signed() -> None:
    crypto = MessageCrypto(SAMPLE_TOKEN, SAMPLE_KEY, SAMPLE_APP_ID)
    envelope = parse_xml(
        crypto.encrypt_reply("<xml><Content>好</Content></xml>", "1409735669", "42").encode()
    )
    assert envelope["MsgSignature"] == sign(SAMPLE_TOKEN, "1409735669", "42", envelope["Encrypt"])
    assert crypto.decrypt(envelope["Encrypt"]) == "<xml><Content>好</Content></xml>"


def test_signatures_compare_exactly() -> None:
    good = sign("token", "1", "2")
    assert signature_matches(good, "token", "1", "2")
    assert signature_matches(good.upper(), "token", "1", "2")
    assert not signature_matches(good, "token", "1", "3")
    assert not signature_matches(None, "token", "1", "2")
    assert not signature_matches("签名", "token", "1", "2")


# --- XML ------------------------------------------------------------------------------------------


def test_top_level_fields_are_read_and_nested_ones_ignored() -> None:
    xml = (
        "<xml><FromUserName><![CDATA[o1]]></FromUserName><MsgType>event</MsgType>"
        "<ScanCodeInfo><ScanType>qrcode</ScanType></ScanCodeInfo><Content>a &amp; b</Content></xml>"
    )
    assert parse_xml(xml.encode()) == {
        "FromUserName": "o1",
        "MsgType": "event",
        "ScanCodeInfo": "",
        "Content": "a & b",
    }


@pytest.mark.parametrize(
    "xml",
    [
        b'<!DOCTYPE xml [<!ENTITY a "b">]><xml><Content>&a;</Content></xml>',
        b'<!DOCTYPE xml SYSTEM "http://127.0.0.1:9/evil.dtd"><xml/>',
        # The same in UTF-16: a byte search for "<!DOCTYPE" would miss it; the parser does not.
        '<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE xml [<!ENTITY a "b">]><xml/>'.encode("utf-16"),
    ],
)
def test_dtds_and_entities_are_refused_by_the_parser(xml: bytes) -> None:
    with pytest.raises(BadXml, match="DTDs and entities"):
        parse_xml(xml)


@pytest.mark.parametrize(
    "xml",
    [b"<xml><Content>&ext;</Content></xml>", b"<root/>", b"", b"<xml>" * 20 + b"</xml>" * 20, b"<xml>"],
)
def test_broken_xml_is_refused(xml: bytes) -> None:
    with pytest.raises(BadXml):
        parse_xml(xml)


def test_cdata_in_a_reply_cannot_be_closed_early() -> None:
    xml = text_reply_xml("o1", "gh_1", "a]]><evil/>b", 1)
    assert parse_xml(xml.encode())["Content"] == "a]]><evil/>b"


# --- rendering and splitting ----------------------------------------------------------------------


def test_buttons_in_two_messages_are_numbered_on() -> None:
    rendered = render(
        [
            ("问题一", [{"title": "是", "payload": "/affirm"}, {"title": "否", "payload": "/deny"}]),
            ("问题二", [{"title": "转人工", "payload": "/request_human"}]),
        ]
    )
    assert rendered.text == "问题一\n回复数字选择：\n1. 是\n2. 否\n\n问题二\n回复数字选择：\n3. 转人工"
    assert rendered.choices == {1: "/affirm", 2: "/deny", 3: "/request_human"}


def test_text_is_split_at_line_ends_within_the_byte_limit() -> None:
    text = "\n".join(["一二三四五"] * 10)  # 15 bytes a line
    pieces = split_text(text, limit=40)
    assert pieces == ["一二三四五\n一二三四五"] * 5
    assert split_text("   ") == []


def test_an_overlong_line_is_cut_between_characters() -> None:
    pieces = split_text("话" * 50, limit=20)  # 3 bytes each
    assert pieces == ["话" * 6] * 8 + ["话" * 2]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_cache_entries_expire_after_their_ttl() -> None:
    clock = FakeClock()
    cache: TtlCache[str] = TtlCache(ttl=60, clock=clock)
    cache.put("o1", "choices")
    clock.now += 59
    assert cache.get("o1") == "choices"
    clock.now += 1
    assert cache.get("o1") is None
    cache.put("o2", "x")
    clock.now += 61
    assert cache.pop("o2") is None


def test_cache_keeps_at_most_its_cap_dropping_the_oldest() -> None:
    clock = FakeClock()
    cache: TtlCache[int] = TtlCache(ttl=60, max_entries=3, clock=clock)
    for i in range(5):
        cache.put(f"k{i}", i)
    assert [cache.get(f"k{i}") for i in range(5)] == [None, None, 2, 3, 4]
