"""The audit log refuses secret-looking details; settings refuse dev secrets in production."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from bot.audit import record
from bot.db import Store
from bot.settings import SettingsError, settings_from_env

AT = datetime(2026, 11, 22, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    "key", ["code", "otp", "otp_code", "password", "id_number", "id_last6", "secret", "pin"]
)
def test_audit_refuses_secret_keys(sqlite_store: Store, key: str) -> None:
    with sqlite_store.transaction() as session, pytest.raises(ValueError):
        record(session, at=AT, actor="system", action="x", details={key: "1"})


def test_audit_accepts_ordinary_keys(sqlite_store: Store) -> None:
    with sqlite_store.transaction() as session:
        entry = record(
            session,
            at=AT,
            actor="cli",
            action="charge.posted",
            details={"service_code": "video_ringtone", "masked_phone": "138****8000"},
        )
    assert entry.details["service_code"] == "video_ringtone"


def test_production_refuses_development_secrets() -> None:
    with pytest.raises(SettingsError) as err:
        settings_from_env({"BOT_ENV": "production"})
    assert "BOT_SECRET_KEY" in str(err.value) and "RASA_API_TOKEN" in str(err.value)


def test_production_accepts_real_secrets() -> None:
    settings = settings_from_env(
        {
            "BOT_ENV": "production",
            "BOT_SECRET_KEY": "k" * 40,
            "RASA_API_TOKEN": "t" * 30,
            "BOT_SMS_GATEWAY": "http",
            "BOT_SMS_GATEWAY_URL": "https://sms.example.invalid/send",
        }
    )
    assert not settings.is_development


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(SettingsError):
        settings_from_env({"BOT_ENV": "staging"})
