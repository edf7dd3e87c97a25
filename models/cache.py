"""Where Lumen keeps what it builds at first use (trained heads, the digits ViT): outside the repository."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path


def cache_dir() -> Path:
    """``$LUMEN_CACHE_DIR``, else ``~/.cache/lumen``; created when missing."""
    path = Path(os.environ.get("LUMEN_CACHE_DIR") or "~/.cache/lumen").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def recipe_key(recipe: Mapping) -> str:
    """A short hash of a training recipe: a changed recipe gets a new cache file, so it retrains."""
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]
