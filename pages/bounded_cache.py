"""A bounded least-recently-used store that says what it evicted (Streamlit's own caches evict silently)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any


class BoundedCache:
    """At most ``max_entries`` values, and at most ``max_bytes`` of them by ``size(value)`` when both are given;
    the least recently used go first. Safe to share between the server's session threads."""

    def __init__(self, max_entries: int, max_bytes: int | None = None, size: Callable[[Any], int] | None = None):
        if max_entries < 1 or (max_bytes is not None and (max_bytes < 1 or size is None)):
            raise ValueError("max_entries must be at least 1, and max_bytes needs a size function")
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._size = size or (lambda value: 0)
        self._items: OrderedDict[Hashable, Any] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Hashable, default=None):
        """The value for ``key`` (now the most recently used), or ``default``."""
        with self._lock:
            if key not in self._items:
                return default
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Hashable, value) -> list[tuple[Hashable, Any]]:
        """Store ``value`` as the most recently used; returns the evicted (key, value) pairs, oldest first.
        The value just stored always stays, even if it alone is over ``max_bytes``."""
        with self._lock:
            if key in self._items:
                self._bytes -= self._size(self._items.pop(key))
            self._items[key] = value
            self._bytes += self._size(value)
            evicted = []
            while len(self._items) > 1 and (len(self._items) > self.max_entries or self._over_bytes()):
                old_key, old_value = self._items.popitem(last=False)
                self._bytes -= self._size(old_value)
                evicted.append((old_key, old_value))
            return evicted

    def pop(self, key: Hashable, default=None):
        """Remove ``key``; its value, or ``default``."""
        with self._lock:
            if key not in self._items:
                return default
            value = self._items.pop(key)
            self._bytes -= self._size(value)
            return value

    def _over_bytes(self) -> bool:
        return self.max_bytes is not None and self._bytes > self.max_bytes

    def keys(self) -> list[Hashable]:
        """Oldest first."""
        with self._lock:
            return list(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items
