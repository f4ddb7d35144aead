"""WeChat's XML messages: reading a callback's fields safely, writing a passive text reply."""

from __future__ import annotations

import re
from typing import Any
from xml.parsers import expat

MAX_BODY_BYTES = 64 * 1024  # a text message's XML is well under 10 KiB, even encrypted

_XML_INVALID = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class BadXml(ValueError):
    """The body is not a WeChat XML message we accept."""


def parse_xml(body: bytes) -> dict[str, str]:
    """The top-level fields of a WeChat ``<xml>`` message.

    Parsed with expat directly: a document type declaration or an entity declaration stops the
    parse before anything in it is read, so entity expansion and external entities cannot happen.

    Raises:
        BadXml: too large, not well-formed, a DTD or entity, or not rooted in ``<xml>``.
    """
    if len(body) > MAX_BODY_BYTES:
        raise BadXml("message too large")
    fields: dict[str, str] = {}
    depth = 0
    text: list[str] = []

    def refuse(*_: Any) -> int:  # int: expat's signature for external entity references
        raise BadXml("DTDs and entities are not accepted")

    def start(name: str, _attrs: dict[str, str]) -> None:
        nonlocal depth
        if depth == 0 and name != "xml":
            raise BadXml("the root element must be <xml>")
        depth += 1
        if depth > 8:
            raise BadXml("too deeply nested")
        if depth == 2:
            text.clear()

    def end(name: str) -> None:
        nonlocal depth
        if depth == 2:
            fields.setdefault(name, "".join(text))
        depth -= 1

    def characters(data: str) -> None:
        if depth == 2:
            text.append(data)

    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    parser.buffer_text = True
    try:
        parser.Parse(body, True)
    except expat.ExpatError as exc:
        raise BadXml("not well-formed XML") from exc
    return fields


def _cdata(value: str) -> str:
    clean = _XML_INVALID.sub("", value)
    return "<![CDATA[" + clean.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_reply_xml(to_user: str, from_user: str, content: str, now: int) -> str:
    """A passive text reply, as WeChat expects it in plaintext mode."""
    return (
        f"<xml><ToUserName>{_cdata(to_user)}</ToUserName><FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content>{_cdata(content)}</Content></xml>"
    )
