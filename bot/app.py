"""Wiring: the store and the services the actions and channels use, built lazily once per process,
and who listens to billing's events (:func:`wire_events`)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Optional

from bot.alerts import engine as alert_engine
from bot.billing import events as billing_events
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
        wire_events()
        settings = settings or get_settings()
        clock = clock or SystemClock()
        store = store or Store.from_url(settings.database_url)
        sms = gateway_from_settings(settings)
        verification = VerificationService(store, sms, clock, settings)
        return cls(settings=settings, clock=clock, store=store, verification=verification, sms=sms)


def wire_events() -> None:
    """Subscribes the alert engine to billing's events, in this process (idempotent).

    Billing publishes what its ledger writes (``bot.billing.events``) and never imports the
    alerts; this is where the two meet. Every process that writes charges, payments or usage
    calls it before writing: :meth:`Services.build` (the action server, the channels), the
    command line (``bot.cli.main``) and the tests' fixture (``tests/conftest.py``).
    """
    billing_events.subscribe(billing_events.ChargePosted, alert_engine.on_charge_posted)
    billing_events.subscribe(billing_events.PaymentRecorded, alert_engine.on_payment_recorded)
    billing_events.subscribe(billing_events.UsageRecorded, alert_engine.on_usage_updated)


_lock = threading.Lock()
_services: Optional[Services] = None


def get_services() -> Services:
    """The process's services, built on first use (never at import time)."""
    global _services
    with _lock:
        if _services is None:
            _services = Services.build()
        return _services
