"""Agents of the console: accounts, sign-in with bearer tokens, who is online, agent hours.

Agents sign in with a username and password (PBKDF2, peppered, as service passwords are) and get a
random bearer token, shown once; only its SHA-256 is stored. A token ends after
``agent_session_hours``, after ``agent_idle_minutes`` without use (each use slides the idle
window), when revoked, or when the agent is deactivated. Functions take the caller's session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot import audit
from bot.clock import to_local
from bot.handoff.errors import (
    InvalidAgent,
    InvalidCredentials,
)
from bot.handoff.models import ROLES, Agent, AgentSession
from bot.identity.hashing import hash_secret, verify_secret
from bot.settings import Settings, get_settings

#: Shortest password an agent account may have.
MIN_PASSWORD_LENGTH = 10

# A well-formed hash that matches nothing: unknown usernames cost as much as wrong passwords.
_DUMMY_HASH = "pbkdf2_sha256$1000$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"


@dataclass(frozen=True)
class IssuedToken:
    """A console sign-in.

    Attributes:
        token: the bearer token, in clear. Shown once to the agent's browser; never stored or logged.
        expires_at: the latest moment it can be used (UTC); inactivity ends it earlier.
        agent_id: the signed-in agent.
        display_name: the agent's name as shown in the console.
        role: ``agent`` or ``supervisor`` (:data:`bot.handoff.models.ROLES`).
    """

    token: str
    expires_at: datetime
    agent_id: int
    display_name: str
    role: str = "agent"


def _settings(settings: Optional[Settings]) -> Settings:
    return settings or get_settings()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- agents and sign-in --------------------------------------------------------------------


def create_agent(
    session: Session,
    username: str,
    display_name: str,
    password: str,
    now: datetime,
    settings: Optional[Settings] = None,
    actor: Optional[str] = "cli",
    role: Optional[str] = None,
) -> Agent:
    """Adds an agent account (or resets the password and name of an existing one).

    An existing account keeps its role unless ``role`` is given; a new one is an ``agent`` unless
    ``role`` says ``supervisor``.

    Args:
        session: the unit of work.
        username: 3–40 characters of letters, digits, ``.``, ``_`` or ``-``.
        display_name: the name shown to colleagues (1–60 characters).
        password: at least :data:`MIN_PASSWORD_LENGTH` characters; only its hash is kept.
        now: the current time.
        settings: pepper and PBKDF2 iterations (the process's settings when not given).
        actor: who is audited as having saved the account; None records no audit entry (demo seed).
        role: ``agent`` or ``supervisor``; None keeps an existing account's role.

    Returns:
        The agent (active).

    Raises:
        InvalidAgent: the username, display name, password or role does not meet the rules.
    """
    cfg = _settings(settings)
    username = (username or "").strip()
    if not (3 <= len(username) <= 40) or not all(
        c.isascii() and (c.isalnum() or c in "._-") for c in username
    ):
        raise InvalidAgent("username must be 3-40 letters, digits, '.', '_' or '-'")
    display_name = (display_name or "").strip() or username
    if len(display_name) > 60:
        raise InvalidAgent("display name must be at most 60 characters")
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise InvalidAgent(f"password must have at least {MIN_PASSWORD_LENGTH} characters")
    if role is not None and role not in ROLES:
        raise InvalidAgent(f"role must be one of {', '.join(ROLES)}")
    hashed = hash_secret(password, pepper=cfg.secret_key, iterations=cfg.password_iterations)
    agent = session.execute(select(Agent).where(Agent.username == username)).scalar_one_or_none()
    if agent is None:
        agent = Agent(
            username=username,
            display_name=display_name,
            password_hash=hashed,
            active=True,
            created_at=now,
            role=role or "agent",
        )
        session.add(agent)
    else:
        agent.display_name = display_name
        agent.password_hash = hashed
        agent.active = True
        if role is not None:
            agent.role = role
    session.flush()
    if actor is not None:
        audit.record(
            session,
            at=now,
            actor=actor,
            action="agent.saved",
            entity="agent",
            entity_id=agent.id,
            details={"username": username, "role": agent.role},
        )
    return agent


def authenticate(
    session: Session, username: str, password: str, now: datetime, settings: Optional[Settings] = None
) -> IssuedToken:
    """Signs an agent in and issues a console token.

    Args:
        session: the unit of work (the session row commits with it).
        username: the agent's username.
        password: as typed; never kept or logged.
        now: the current time.
        settings: pepper, session lifetime (the process's settings when not given).

    Returns:
        The token in clear (show it once) and its expiry.

    Raises:
        InvalidCredentials: unknown username, inactive agent or wrong password (not told apart).
    """
    cfg = _settings(settings)
    agent = session.execute(
        select(Agent).where(Agent.username == (username or "").strip())
    ).scalar_one_or_none()
    stored = agent.password_hash if agent is not None else _DUMMY_HASH
    if not verify_secret(password or "", stored, pepper=cfg.secret_key) or agent is None or not agent.active:
        raise InvalidCredentials()
    token = secrets.token_urlsafe(32)
    expires_at = now + timedelta(hours=cfg.agent_session_hours)
    session.add(
        AgentSession(
            token_hash=_token_hash(token),
            agent_id=agent.id,
            created_at=now,
            expires_at=expires_at,
            last_seen_at=now,
        )
    )
    session.flush()
    return IssuedToken(
        token=token,
        expires_at=expires_at,
        agent_id=agent.id,
        display_name=agent.display_name,
        role=agent.role,
    )


def agent_for_token(
    session: Session, token: str, now: datetime, settings: Optional[Settings] = None, touch: bool = True
) -> Optional[Agent]:
    """The agent a console token belongs to, or None; a valid use slides the idle window.

    Args:
        session: the unit of work.
        token: the bearer token as presented (may be empty).
        now: the current time.
        settings: the idle timeout (the process's settings when not given).
        touch: slide the idle window; False for the console's automatic refreshes, which are
            not the agent's activity.

    Returns:
        The active agent, or None when the token is missing, unknown, expired (absolute or idle),
        revoked, or its agent was deactivated.
    """
    if not token:
        return None
    cfg = _settings(settings)
    row = session.execute(
        select(AgentSession).where(AgentSession.token_hash == _token_hash(token))
    ).scalar_one_or_none()
    if row is None or row.revoked_at is not None or now >= row.expires_at:
        return None
    if now - row.last_seen_at >= timedelta(minutes=cfg.agent_idle_minutes):
        return None
    if not row.agent.active:
        return None
    if touch:
        row.last_seen_at = now
    return row.agent


def is_supervisor(agent: Agent) -> bool:
    """Whether the agent may read the supervisors' dashboard."""
    return agent.role == "supervisor"


def revoke(session: Session, token: str, now: datetime) -> bool:
    """Ends a console session (sign-out).

    Returns:
        True when a live session was revoked; False when the token was unknown or already revoked.
    """
    if not token:
        return False
    result = session.execute(
        update(AgentSession)
        .where(AgentSession.token_hash == _token_hash(token), AgentSession.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)


def agents_online(session: Session, now: datetime, settings: Optional[Settings] = None) -> int:
    """Active agents with a live console session (used in the wait estimate)."""
    cfg = _settings(settings)
    return int(
        session.scalar(
            select(func.count(func.distinct(AgentSession.agent_id)))
            .join(Agent, Agent.id == AgentSession.agent_id)
            .where(
                Agent.active.is_(True),
                AgentSession.revoked_at.is_(None),
                AgentSession.expires_at > now,
                AgentSession.last_seen_at > now - timedelta(minutes=cfg.agent_idle_minutes),
            )
        )
        or 0
    )


# --- agent hours -----------------------------------------------------------------------------


def within_agent_hours(now: datetime, settings: Optional[Settings] = None) -> bool:
    """Whether agents answer at ``now`` (``agent_hours``, Asia/Shanghai, end exclusive)."""
    start, end = _settings(settings).agent_hours_range()
    local = to_local(now).time().replace(tzinfo=None)
    return start <= local < end
