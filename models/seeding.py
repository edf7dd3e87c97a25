"""Seeded use of the process-wide random generators (torch's and numpy's), safe across threads.

Captum, shap and weight initialisers draw from the *global* generators. Streamlit runs each
browser session in its own thread, so two sessions seeding and drawing at once would read each
other's streams. ``seeded`` holds one process-wide lock while it seeds, runs the block and restores
the generators, so a seeded block sees only its own draws. Code that needs its own stream without
the global state should use a ``torch.Generator`` / ``np.random.default_rng`` instead.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import torch

GLOBAL_RNG_LOCK = threading.RLock()


@contextmanager
def seeded(seed: int, device: torch.device | None = None, numpy: bool = True):
    """Seed torch's global generator (and numpy's, and ``device``'s when it is CUDA) for the block, then restore them."""
    devices = [device] if device is not None and torch.device(device).type == "cuda" else []
    with GLOBAL_RNG_LOCK:
        np_state = np.random.get_state() if numpy else None
        try:
            with torch.random.fork_rng(devices=devices):
                torch.manual_seed(int(seed))
                if numpy:
                    np.random.seed(int(seed) % 2**32)
                yield
        finally:
            if np_state is not None:
                np.random.set_state(np_state)
