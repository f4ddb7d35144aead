"""Outgoing messages, below every service that sends them.

* :mod:`bot.notifications.models` — the outbox (``notifications``) and WeChat bindings tables;
* :mod:`bot.notifications.sms` — SMS gateways (the development outbox, the operator's HTTP gateway);
* :mod:`bot.notifications.wechat_api` — access tokens, customer-service and template messages (also
  used by the channel, ``bot.channels.wechat``);
* :mod:`bot.notifications.wechat_bindings` — numbers bound to the OpenID of the follower who
  verified them (``bot.identity.wechat`` decides who may be bound);
* :mod:`bot.notifications.wechat_delivery` — the sender of queued WeChat alerts
  (``python -m bot deliver-wechat``), with retries and the SMS fallback.

Billing, identity and alerts use this package; it uses none of them. Importing it has no side
effect, so the WeChat channel (loaded inside the Rasa server) can import the API client.
"""
