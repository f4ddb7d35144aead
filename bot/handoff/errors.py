"""Refusals of the handoff service. Messages never carry a password or a token."""

from __future__ import annotations


class HandoffError(Exception):
    """Base class of every refusal of the handoff service."""


class InvalidCredentials(HandoffError):
    """Unknown username, inactive agent or wrong password (deliberately not told apart)."""

    def __init__(self) -> None:
        super().__init__("invalid username or password")


class InvalidAgent(HandoffError):
    """A new agent's username, display name or password does not meet the rules."""


class HandoffNotFound(HandoffError):
    """No handoff has this id."""

    def __init__(self, handoff_id: int) -> None:
        self.handoff_id = handoff_id
        super().__init__(f"no handoff {handoff_id}")


class AlreadyClaimed(HandoffError):
    """Another agent holds the conversation.

    Attributes:
        handoff_id: the handoff.
        agent_id: the agent who holds it.
        agent_name: that agent's display name (for the console's message).
    """

    def __init__(self, handoff_id: int, agent_id: int, agent_name: str) -> None:
        self.handoff_id = handoff_id
        self.agent_id = agent_id
        self.agent_name = agent_name
        super().__init__(f"handoff {handoff_id} is held by agent {agent_id}")


class NotHolder(HandoffError):
    """The agent tried to act on a conversation another agent (or nobody) holds."""

    def __init__(self, handoff_id: int) -> None:
        self.handoff_id = handoff_id
        super().__init__(f"handoff {handoff_id} is not held by this agent")


class InvalidTransition(HandoffError):
    """The handoff's status does not allow the operation (e.g. claiming a closed one).

    Attributes:
        handoff_id: the handoff.
        status: its current status.
        operation: what was attempted.
    """

    def __init__(self, handoff_id: int, status: str, operation: str) -> None:
        self.handoff_id = handoff_id
        self.status = status
        self.operation = operation
        super().__init__(f"cannot {operation} handoff {handoff_id} in status {status!r}")


class InvalidText(HandoffError):
    """A note, resolution or left message is empty or too long."""
