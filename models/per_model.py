"""Values worked out once per model (a layer's output shape, a model split, a pipeline's column groups,
the run budget's activation bytes).

Kept beside the code that uses them in a ``PerModel`` store, never as attributes of the shared model:
the store holds the model weakly (a model that is gone takes its values with it) and a copy of a model
(``ModelAdapter.fresh_copy``) is a new key, so it starts with none. explainers/core/cost.py keeps its pass
times in a weak dictionary of its own, since they are re-measured and recalibrated rather than computed
once. A value must not refer to its model, or the model could never go.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Hashable
from typing import Any

_MISSING = object()


class PerModel:
    """``store.get(model, key, compute)``: ``compute()`` the first time for this model and key, then the kept value."""

    def __init__(self):
        self._values: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, model, key: Hashable, compute: Callable[[], Any]) -> Any:
        try:
            weakref.ref(model)
        except TypeError:  # a stand-in that takes no weak reference (a test's namespace): computed every time
            return compute()
        with self._lock:
            value = self._values.get(model, {}).get(key, _MISSING)
        if value is not _MISSING:
            return value
        # computed outside the store's lock: ``compute`` may take the model's lock and run passes, and a
        # run holding that lock may ask this store for another value. Two threads may both compute; the first kept wins.
        value = compute()
        with self._lock:
            return self._values.setdefault(model, {}).setdefault(key, value)

    def __len__(self) -> int:
        """How many models have values here (for tests)."""
        with self._lock:
            return len(self._values)
