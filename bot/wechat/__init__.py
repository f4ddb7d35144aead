"""The WeChat Official Account (微信公众号) outside the conversation itself.

* :mod:`bot.wechat.api` — access tokens, customer-service and template messages (also used by the
  channel, ``bot.channels.wechat``);
* :mod:`bot.wechat.bindings` — numbers bound to the OpenID of the follower who verified them;
* :mod:`bot.wechat.delivery` — the sender of queued WeChat alerts (``python -m bot deliver-wechat``),
  with retries and the SMS fallback.

Importing this package has no side effect; it does not import the store, so the channel (loaded
inside the Rasa server) can import :mod:`bot.wechat.api`.
"""
