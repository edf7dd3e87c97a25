"""One size limit for every file someone brings: Streamlit's ``server.maxUploadSize``.

Streamlit refuses bigger uploads before Lumen sees them; ``check_size`` applies the
same limit to model files given by path (weights, TorchScript, Hugging Face
directories, skops), so the API and the CLI take no more than the page does.
Embedded models never go through it.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

from models.errors import ModelLoadError

CONFIG = Path(__file__).resolve().parents[2] / ".streamlit" / "config.toml"
ENV = "STREAMLIT_SERVER_MAX_UPLOAD_SIZE"  # Streamlit's own override of the option
STREAMLIT_DEFAULT_MB = 200
MB = 1024 * 1024  # Streamlit's megabyte


def max_upload_mb() -> int:
    """The limit in megabytes: ``$STREAMLIT_SERVER_MAX_UPLOAD_SIZE``, else the config file's, else Streamlit's 200."""
    if os.environ.get(ENV, "").strip():
        return int(os.environ[ENV])
    try:
        with CONFIG.open("rb") as f:
            return int(tomllib.load(f).get("server", {}).get("maxUploadSize", STREAMLIT_DEFAULT_MB))
    except FileNotFoundError:
        return STREAMLIT_DEFAULT_MB


def _size(path: Path) -> int:
    if path.is_dir():  # a save_pretrained directory: the files from_pretrained may read
        return sum(p.stat().st_size for p in path.iterdir() if p.is_file())
    return path.stat().st_size


def _mb(n: int) -> str:
    return f"{n / MB:,.1f} MB"


def check_size(path) -> None:
    """Refuse a model file (or directory) larger than the upload limit, naming both sizes and the setting."""
    path = Path(path)
    size, limit = _size(path), max_upload_mb()
    if size > limit * MB:
        raise ModelLoadError(
            f"{path.name} is {_mb(size)}; the limit is {limit:,} MB "
            "(server.maxUploadSize in .streamlit/config.toml, which the server's operator can raise)."
        )
