"""Wiring: the store and the services the actions and channels use, built lazily once per process."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

from bot.clock import Clock, SystemClock
from bot.db import Store
from bot.identity.service import VerificationService
from bot.notifications.sms import SmsGateway, gateway_from_settings
from bot.settings import Settings, get_settings


@dataclass
class Services:
    """Everything an action needs: settings, clock, store and the domain services."""

    settings: Settings
    clock: Clock
    store: Store
    verification: VerificationService
    sms: SmsGateway

    @classmethod
    def build(
        cls, settings: Optional[Settings] = None, store: Optional[Store] = None, clock: Optional[Clock] = None
    ) -> Services:
        """Builds the services, from the environment unless given."""
        settings = settings or get_settings()
        clock = clock or SystemClock()
        store = store or Store.from_url(settings.database_url)
        sms = gateway_from_settings(settings)
        verification = VerificationService(store, sms, clock, settings)
        return cls(settings=settings, clock=clock, store=store, verification=verification, sms=sms)


_lock = threading.Lock()
_services: Optional[Services] = None


def get_services() -> Services:
    """The process's services, built on first use (never at import time)."""
    global _services
    with _lock:
        if _services is None:
            _services = Services.build()
        return _services
