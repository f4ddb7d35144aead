"""The client a code request comes from, as the channels name it in a message's metadata.

The limit on codes per client (``bot.identity.service``) counts against this name: ``ip:<address>``
for the web widget and the App (``bot.channels.client`` derives it from the connection), or
``wechat:<openid>``. No store, no Rasa: both the channels (in the Rasa server) and the actions
(in the action server) import it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

logger = logging.getLogger(__name__)

#: The metadata key under which a channel names the client of a message.
CLIENT_KEY = "client"
#: The longest client name stored (``verification_challenges.client``).
MAX_CLIENT_CHARS = 160
#: The client of a message whose channel named none (Rasa's own HTTP API, a channel added without
#: ``bot.channels.client``): all such messages share one client's limit rather than escape it.
UNNAMED_CLIENT = "unnamed"


def client_from_metadata(metadata: Any) -> str:
    """The client named in a message's metadata, or :data:`UNNAMED_CLIENT`."""
    client = metadata.get(CLIENT_KEY) if isinstance(metadata, Mapping) else None
    if isinstance(client, str) and client.strip():
        return client.strip()[:MAX_CLIENT_CHARS]
    logger.warning("a message's channel named no client; it counts as %r", UNNAMED_CLIENT)
    return UNNAMED_CLIENT
