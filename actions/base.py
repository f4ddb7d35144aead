"""What every custom action builds on: the assistant's services and reading the tracker."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Optional

from rasa_sdk import Action, Tracker

from bot.app import Services, get_services
from bot.phone import find_phone as phone_in
from bot.texts.formats import clock_time


def latest_entity(tracker: Tracker, entity: str) -> Optional[str]:
    """The value of ``entity`` in the latest message, if it has one."""
    return next(tracker.get_latest_entity_values(entity), None)


def latest_intent(tracker: Tracker) -> Optional[str]:
    return (tracker.latest_message or {}).get("intent", {}).get("name")


def find_phone(tracker: Tracker) -> Optional[str]:
    """The mobile number in the latest message: the entity, or one in the text (``bot.phone``)."""
    for value in tracker.get_latest_entity_values("phone_number"):
        number = phone_in(str(value))
        if number:
            return number
    return phone_in((tracker.latest_message or {}).get("text") or "")


def local_time(when: Any) -> str:
    """``HH:MM`` in Asia/Shanghai, as subscribers read times."""
    return clock_time(when)


class UsesServices:
    """Injectable services: tests hand in their own; the server builds them lazily on first use."""

    def __init__(self, services: Optional[Services] = None) -> None:
        self._services = services

    @property
    def services(self) -> Services:
        if self._services is None:
            self._services = get_services()
        return self._services


class ServiceAction(UsesServices, Action, ABC):
    """A custom action with the assistant's services."""

    @abstractmethod
    def name(self) -> str:
        """The action's name in the domain."""
