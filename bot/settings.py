"""Typed settings read from environment variables, in one object.

Every variable has a development default so a newcomer can run the assistant with no
configuration; outside development (``BOT_ENV`` not ``development``/``test``) the defaults
for secrets are refused.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import time
from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_SECRET_KEY = "dev-only-secret-key-change-me"
DEV_API_TOKEN = "dev-only-rasa-token"
#: Password of the demo agent ``agent1`` (seeded only in development and test).
DEV_AGENT_PASSWORD = "dev-only-agent-password"


class SettingsError(RuntimeError):
    """The environment does not describe a safe configuration."""


def _default_database_url() -> str:
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'billing.db'}"


@dataclass(frozen=True)
class Settings:
    """The assistant's configuration.

    Attributes:
        env: ``development``, ``test`` or ``production``.
        database_url: SQLAlchemy URL of the billing store.
        secret_key: key for keyed hashes of one-time codes and secrets (pepper).
        api_token: token that Rasa's HTTP API requires.
        sms_gateway: ``outbox`` (development: writes to the outbox table) or ``http``.
        sms_gateway_url: the operator's SMS gateway endpoint when ``sms_gateway`` is ``http``.
        sms_gateway_timeout: seconds before an SMS gateway request is abandoned.
        password_iterations: PBKDF2 iterations for service passwords and ID digits.
        action_endpoint: URL of the action server, as Rasa sees it.
        agent_hours: when human agents answer, ``HH:MM-HH:MM`` in Asia/Shanghai (``00:00-24:00``:
            all day).
        agent_handle_minutes: average minutes an agent spends on one conversation (wait estimate).
        agent_session_hours: lifetime of an agent console sign-in.
        agent_idle_minutes: inactivity after which an agent console sign-in ends.
        demo_agent_password: password of the demo agent the demo seed creates (development only).
        socketio_redis_url: Redis URL for python-socketio's Redis manager, so that several Rasa
            processes deliver each other's socket.io messages; empty: in-memory (one process).
        rabbitmq_host: RabbitMQ host name of Rasa's event broker and the metrics consumer.
        rabbitmq_port: RabbitMQ port.
        rabbitmq_user: RabbitMQ user.
        rabbitmq_password: RabbitMQ password.
        events_queue: the queue Rasa publishes conversation events to and the metrics consumer reads.
        events_exchange: the fanout exchange Rasa publishes to (the queue is bound to it).
        metrics_idle_minutes: a conversation session quiet this long counts as ended (Rasa's
            ``session_expiration_time`` in domain.yml).
        wechat_app_id: the Official Account's AppID (``WECHAT_APP_ID``, shared with the channel).
        wechat_app_secret: its AppSecret (``WECHAT_APP_SECRET``), for access tokens.
        wechat_api_base_url: root of WeChat's server API (``WECHAT_API_BASE_URL``).
        wechat_alert_template_id: the template message alerts are sent with
            (``WECHAT_ALERT_TEMPLATE_ID``); empty: WeChat alerts go by SMS.
        wechat_delivery_interval: seconds between two passes of the WeChat alert sender.
        wechat_delivery_attempts: passes before a WeChat alert is given up (then SMS).
        wechat_retry_seconds: the first pause before a retry; each later one doubles.
        codes_per_number_hour: codes one number may be sent per sliding hour (from any conversation).
        code_numbers_per_conversation: distinct numbers one conversation may have codes sent to
            in 24 hours (a subscriber verifies one line, perhaps a second one or a corrected typo).
        codes_per_client_hour: codes one client (a web or App user's address, a WeChat OpenID) may
            have sent per sliding hour, to any numbers.
        review_low_confidence: a message whose top intent is below this confidence (though not a
            fallback) is kept for review (``bot.review.capture``).
        review_keep_days: days a message stays in the review queue before it is purged.
        metrics_keep_days: days the per-turn rows of the dashboard (intents, misunderstandings) are kept.
        trusted_proxies: comma-separated addresses or networks (CIDR) of the proxies in front of
            Rasa (nginx, the App's backend) whose ``X-Forwarded-For``/``X-Real-IP`` are believed.
    """

    env: str = "development"
    database_url: str = field(default_factory=_default_database_url)
    secret_key: str = DEV_SECRET_KEY
    api_token: str = DEV_API_TOKEN
    sms_gateway: str = "outbox"
    sms_gateway_url: str = ""
    sms_gateway_timeout: float = 5.0
    password_iterations: int = 120_000
    action_endpoint: str = "http://127.0.0.1:5055/webhook"
    agent_hours: str = "08:00-22:00"
    agent_handle_minutes: int = 6
    agent_session_hours: float = 8.0
    agent_idle_minutes: int = 30
    demo_agent_password: str = DEV_AGENT_PASSWORD
    socketio_redis_url: str = ""
    rabbitmq_host: str = "127.0.0.1"
    rabbitmq_port: int = 5672
    rabbitmq_user: str = "guest"
    rabbitmq_password: str = "guest"
    events_queue: str = "billing_assistant_events"
    events_exchange: str = "billing-assistant-events"
    metrics_idle_minutes: int = 60
    wechat_app_id: str = ""
    wechat_app_secret: str = field(default="", repr=False)
    wechat_api_base_url: str = "https://api.weixin.qq.com"
    wechat_alert_template_id: str = ""
    wechat_delivery_interval: float = 10.0
    wechat_delivery_attempts: int = 6
    wechat_retry_seconds: float = 60.0
    codes_per_number_hour: int = 5
    code_numbers_per_conversation: int = 3
    codes_per_client_hour: int = 10
    review_low_confidence: float = 0.6
    review_keep_days: int = 90
    metrics_keep_days: int = 400
    trusted_proxies: str = "127.0.0.1/32,::1/128"

    @property
    def is_development(self) -> bool:
        return self.env in ("development", "test")

    def check(self) -> Settings:
        """Refuses unsafe settings outside development.

        Returns:
            The settings themselves, so the call can be chained.

        Raises:
            SettingsError: a default secret is used in production, or a value is invalid.
        """
        if self.env not in ("development", "test", "production"):
            raise SettingsError(f"BOT_ENV must be development, test or production, not {self.env!r}")
        if self.sms_gateway not in ("outbox", "http"):
            raise SettingsError(f"BOT_SMS_GATEWAY must be outbox or http, not {self.sms_gateway!r}")
        if not self.is_development:
            problems = []
            if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
                problems.append("BOT_SECRET_KEY must be set to a random value of 32+ characters")
            if self.api_token == DEV_API_TOKEN or len(self.api_token) < 24:
                problems.append("RASA_API_TOKEN must be set to a random value of 24+ characters")
            if self.sms_gateway == "outbox":
                problems.append("BOT_SMS_GATEWAY=outbox only writes to a table; use http in production")
            if problems:
                raise SettingsError("; ".join(problems))
        if self.sms_gateway == "http" and not self.sms_gateway_url:
            raise SettingsError("BOT_SMS_GATEWAY=http needs BOT_SMS_GATEWAY_URL")
        try:
            self.agent_hours_range()
        except ValueError:
            raise SettingsError(
                f"BOT_AGENT_HOURS must look like 08:00-22:00, not {self.agent_hours!r}"
            ) from None
        if self.socketio_redis_url and not re.match(r"(redis|rediss|unix)://", self.socketio_redis_url):
            raise SettingsError("SOCKETIO_REDIS_URL must be a redis://, rediss:// or unix:// URL")
        if self.metrics_idle_minutes <= 0:
            raise SettingsError("BOT_METRICS_IDLE_MINUTES must be positive")
        if (
            self.wechat_delivery_interval <= 0
            or self.wechat_delivery_attempts <= 0
            or self.wechat_retry_seconds <= 0
        ):
            raise SettingsError(
                "BOT_WECHAT_DELIVERY_INTERVAL, BOT_WECHAT_DELIVERY_ATTEMPTS and BOT_WECHAT_RETRY_SECONDS"
                " must be positive"
            )
        if (
            min(self.codes_per_number_hour, self.code_numbers_per_conversation, self.codes_per_client_hour)
            <= 0
        ):
            raise SettingsError(
                "BOT_CODES_PER_NUMBER_HOUR, BOT_CODE_NUMBERS_PER_CONVERSATION and BOT_CODES_PER_CLIENT_HOUR"
                " must be positive"
            )
        try:
            self.trusted_proxy_networks()
        except ValueError:
            raise SettingsError(
                "BOT_TRUSTED_PROXIES must be comma-separated addresses or networks,"
                f" not {self.trusted_proxies!r}"
            ) from None
        if not 0.0 < self.review_low_confidence <= 1.0 or self.review_keep_days <= 0:
            raise SettingsError(
                "BOT_REVIEW_LOW_CONFIDENCE must be above 0 and at most 1, BOT_REVIEW_KEEP_DAYS positive"
            )
        if self.metrics_keep_days < 31:
            raise SettingsError("BOT_METRICS_KEEP_DAYS must be at least 31 (the dashboard shows 30 days)")
        if self.agent_handle_minutes <= 0 or self.agent_session_hours <= 0 or self.agent_idle_minutes <= 0:
            raise SettingsError(
                "BOT_AGENT_HANDLE_MINUTES, BOT_AGENT_SESSION_HOURS and BOT_AGENT_IDLE_MINUTES"
                " must be positive"
            )
        return self

    def trusted_proxy_networks(self) -> tuple[IPv4Network | IPv6Network, ...]:
        """The networks of :attr:`trusted_proxies` (an address alone is a network of one).

        Raises:
            ValueError: an entry is not an address or network.
        """
        return tuple(
            ip_network(part.strip(), strict=False) for part in self.trusted_proxies.split(",") if part.strip()
        )

    def agent_hours_range(self) -> tuple[time, time]:
        """Start and end of agent hours (local time, Asia/Shanghai); the end is exclusive, and an end
        of ``24:00`` is the end of the day.

        Raises:
            ValueError: ``agent_hours`` is not ``HH:MM-HH:MM`` with the start before the end.
        """
        start_text, _, end_text = self.agent_hours.replace(" ", "").partition("-")
        start = time.fromisoformat(start_text)
        end = time.max if end_text == "24:00" else time.fromisoformat(end_text)
        if len(start_text) != 5 or len(end_text) != 5 or start >= end:
            raise ValueError(self.agent_hours)
        return start, end


def settings_from_env(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    """Builds settings from environment variables (see README, Configuration).

    Args:
        environ: the mapping to read; ``os.environ`` when not given.

    Returns:
        Checked settings.
    """
    env = os.environ if environ is None else environ
    defaults = Settings()
    return Settings(
        env=env.get("BOT_ENV", defaults.env),
        database_url=env.get("BOT_DATABASE_URL", defaults.database_url),
        secret_key=env.get("BOT_SECRET_KEY", defaults.secret_key),
        api_token=env.get("RASA_API_TOKEN", defaults.api_token),
        sms_gateway=env.get("BOT_SMS_GATEWAY", defaults.sms_gateway),
        sms_gateway_url=env.get("BOT_SMS_GATEWAY_URL", defaults.sms_gateway_url),
        sms_gateway_timeout=float(env.get("BOT_SMS_GATEWAY_TIMEOUT", defaults.sms_gateway_timeout)),
        password_iterations=int(env.get("BOT_PASSWORD_ITERATIONS", defaults.password_iterations)),
        action_endpoint=env.get("ACTION_ENDPOINT", defaults.action_endpoint),
        agent_hours=env.get("BOT_AGENT_HOURS", defaults.agent_hours),
        agent_handle_minutes=int(env.get("BOT_AGENT_HANDLE_MINUTES", defaults.agent_handle_minutes)),
        agent_session_hours=float(env.get("BOT_AGENT_SESSION_HOURS", defaults.agent_session_hours)),
        agent_idle_minutes=int(env.get("BOT_AGENT_IDLE_MINUTES", defaults.agent_idle_minutes)),
        demo_agent_password=env.get("BOT_DEMO_AGENT_PASSWORD", defaults.demo_agent_password),
        socketio_redis_url=env.get("SOCKETIO_REDIS_URL", defaults.socketio_redis_url).strip(),
        rabbitmq_host=env.get("RABBITMQ_HOST", defaults.rabbitmq_host),
        rabbitmq_port=int(env.get("RABBITMQ_PORT", defaults.rabbitmq_port)),
        rabbitmq_user=env.get("RABBITMQ_USER", defaults.rabbitmq_user),
        rabbitmq_password=env.get("RABBITMQ_PASSWORD", defaults.rabbitmq_password),
        events_queue=env.get("RASA_EVENTS_QUEUE", defaults.events_queue),
        events_exchange=env.get("RASA_EVENTS_EXCHANGE", defaults.events_exchange),
        metrics_idle_minutes=int(env.get("BOT_METRICS_IDLE_MINUTES", defaults.metrics_idle_minutes)),
        wechat_app_id=env.get("WECHAT_APP_ID", defaults.wechat_app_id).strip(),
        wechat_app_secret=env.get("WECHAT_APP_SECRET", defaults.wechat_app_secret).strip(),
        wechat_api_base_url=env.get("WECHAT_API_BASE_URL", "").strip() or defaults.wechat_api_base_url,
        wechat_alert_template_id=env.get(
            "WECHAT_ALERT_TEMPLATE_ID", defaults.wechat_alert_template_id
        ).strip(),
        wechat_delivery_interval=float(
            env.get("BOT_WECHAT_DELIVERY_INTERVAL", defaults.wechat_delivery_interval)
        ),
        wechat_delivery_attempts=int(
            env.get("BOT_WECHAT_DELIVERY_ATTEMPTS", defaults.wechat_delivery_attempts)
        ),
        wechat_retry_seconds=float(env.get("BOT_WECHAT_RETRY_SECONDS", defaults.wechat_retry_seconds)),
        codes_per_number_hour=int(env.get("BOT_CODES_PER_NUMBER_HOUR", defaults.codes_per_number_hour)),
        code_numbers_per_conversation=int(
            env.get("BOT_CODE_NUMBERS_PER_CONVERSATION", defaults.code_numbers_per_conversation)
        ),
        codes_per_client_hour=int(env.get("BOT_CODES_PER_CLIENT_HOUR", defaults.codes_per_client_hour)),
        review_low_confidence=float(env.get("BOT_REVIEW_LOW_CONFIDENCE", defaults.review_low_confidence)),
        review_keep_days=int(env.get("BOT_REVIEW_KEEP_DAYS", defaults.review_keep_days)),
        metrics_keep_days=int(env.get("BOT_METRICS_KEEP_DAYS", defaults.metrics_keep_days)),
        trusted_proxies=env.get("BOT_TRUSTED_PROXIES", defaults.trusted_proxies),
    ).check()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once from the environment."""
    return settings_from_env()
