"""The console's page, script and style sheet: built from ``web/agent/`` into ``web/dist/agent/``.

The page itself is static and holds nothing; every piece of data comes from the API with the
agent's token.
"""

from __future__ import annotations

import logging
from pathlib import Path

from sanic import response
from sanic.response import HTTPResponse

from bot.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

DIST_DIR = PROJECT_ROOT / "web" / "dist" / "agent"

_CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
}


def console_file(dist_dir: Path, name: str) -> HTTPResponse:
    """One built file, or a 404 saying how to build the console."""
    path = dist_dir / name
    try:
        body = path.read_bytes()
    except FileNotFoundError:
        logger.warning("web/dist/agent/%s is missing: build the console with `make web`", name)
        return response.text("客服工作台尚未构建，请先运行 make web。", status=404)
    return response.raw(body, content_type=_CONTENT_TYPES[path.suffix], headers=_PAGE_HEADERS)
