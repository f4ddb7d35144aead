"""Conversation metrics: a consumer of Rasa's event stream (RabbitMQ) that keeps, per conversation,
turns, bot and agent messages, handoffs, resolution and response latency in the billing store.

``python -m bot metrics-consumer`` runs the consumer;
``python -m bot metrics`` prints a JSON summary. See docs/deployment.md, "Conversation metrics".
"""
