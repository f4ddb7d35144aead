"""A small in-memory cache whose entries expire: a general utility (no project imports)."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, Optional, TypeVar

DEFAULT_MAX_ENTRIES = 10_000

V = TypeVar("V")


class TtlCache(Generic[V]):
    """A bounded mapping whose entries expire ``ttl`` seconds after they were put."""

    def __init__(
        self, ttl: float, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.monotonic
    ):
        self._ttl = ttl
        self._max = max_entries
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()

    def get(self, key: str) -> Optional[V]:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= self._clock():
            del self._items[key]
            return None
        return item[1]

    def put(self, key: str, value: V) -> None:
        now = self._clock()
        self._items.pop(key, None)
        self._items[key] = (now + self._ttl, value)
        while self._items:  # the oldest first: drop what expired, and the oldest beyond the cap
            oldest_key, (expires, _) = next(iter(self._items.items()))
            if expires > now and len(self._items) <= self._max:
                break
            del self._items[oldest_key]

    def pop(self, key: str) -> Optional[V]:
        item = self._items.pop(key, None)
        return item[1] if item is not None and item[0] > self._clock() else None
