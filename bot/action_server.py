"""The action server: rasa-sdk's app, reachable only with the shared token, errors never echoed.

Run with ``python -m bot.action_server`` (``make run`` does). It listens on 127.0.0.1 unless
``ACTION_SERVER_HOST`` says otherwise, and refuses every call to the webhook or the action list
that lacks ``?token=<ACTION_SERVER_TOKEN>`` (Rasa sends it, see endpoints.yml).
"""

from __future__ import annotations

import argparse
import hmac
import logging
import os
from typing import Optional

from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

logger = logging.getLogger(__name__)

DEV_ACTION_TOKEN = "dev-only-action-token"


def create_action_app(token: str, package: str = "actions") -> Sanic:
    """rasa-sdk's Sanic app for ``package`` with token checking and a quiet error handler.

    Args:
        token: the shared secret Rasa sends as ``?token=``.
        package: the package the actions are registered from.
    """
    from rasa_sdk.endpoint import create_app

    if not token:
        raise ValueError("ACTION_SERVER_TOKEN must be set")
    app = create_app(package, cors_origins=[])

    @app.on_request
    async def require_token(request: Request) -> Optional[HTTPResponse]:
        if request.path == "/health":
            return None
        supplied = request.args.get("token", "")
        if not hmac.compare_digest(supplied.encode(), token.encode()):
            return response.json({"error": "unauthorised"}, status=401)
        return None

    async def quiet_errors(request: Request, exception: Exception) -> HTTPResponse:
        # rasa-sdk's own handler echoes the request body (the tracker, with personal data).
        logger.error("action server error: %s", exception.__class__.__name__, exc_info=exception)
        return response.json({"error": "action failed"}, status=500)

    app.error_handler.add(Exception, quiet_errors)
    return app


def main(argv: Optional[list[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="Run the action server.")
    parser.add_argument("--host", default=os.environ.get("ACTION_SERVER_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACTION_SERVER_PORT", "5055")))
    parser.add_argument("--workers", type=int, default=int(os.environ.get("ACTION_SERVER_WORKERS", "1")))
    args = parser.parse_args(argv)
    from bot.settings import get_settings

    settings = get_settings()
    token = os.environ.get("ACTION_SERVER_TOKEN", DEV_ACTION_TOKEN if settings.is_development else "")
    if not settings.is_development and (not token or token == DEV_ACTION_TOKEN):
        raise SystemExit("ACTION_SERVER_TOKEN must be set to a random value outside development")
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    app = create_action_app(token)
    logger.info("action server on http://%s:%s", args.host, args.port)
    app.run(host=args.host, port=args.port, workers=args.workers, access_log=False)


if __name__ == "__main__":
    main()
