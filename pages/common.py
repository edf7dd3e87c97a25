"""Widgets and caches shared by the pages. Wiring only: the logic lives in the libraries."""

from __future__ import annotations

import logging

import streamlit as st

from models import LumenError, load_model
from models.images import decode_image

log = logging.getLogger("lumen")


@st.cache_resource(show_spinner="Loading the model (once per server)…")
def cached_model(name: str):
    return load_model(name)


@st.cache_data(max_entries=8, show_spinner="Decoding the image…")
def cached_decode(data: bytes):
    return decode_image(data)


def show_error(exc: Exception) -> None:
    """One readable sentence for the user; the traceback goes to the server log only."""
    if isinstance(exc, LumenError):
        st.error(str(exc))
    else:
        log.exception("unexpected error")
        st.error(f"Something went wrong ({type(exc).__name__}: {exc}). The session keeps working; try again.")
