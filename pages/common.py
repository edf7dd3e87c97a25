"""Widgets and caches shared by the pages. Wiring only: the logic lives in the libraries."""

from __future__ import annotations

import hashlib
import logging

import numpy as np
import streamlit as st

from models import LumenError, describe_model, list_models, load_model
from models.images import UPLOAD_TYPES, decode_image
from models.samples import IMAGE_SAMPLES, sample_image

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


def choose_image_model():
    """The sidebar's model chooser; returns the loaded adapter, or None after showing why not."""
    with st.sidebar:
        names = list_models("image")
        name = st.selectbox("Image model", names, format_func=describe_model, key="image_model")
        try:
            model = cached_model(name)
        except Exception as exc:  # noqa: BLE001
            show_error(exc)
            return None
        st.caption(f"Model: **{describe_model(name)}** — loaded")
    return model


def choose_image():
    """A bundled sample or an upload: (H×W×3 uint8 image, a stable id), or (None, None) after a message."""
    source = st.radio("Image source", ["Sample", "Upload"], horizontal=True, key="image_source")
    if source == "Sample":
        name = st.selectbox("Sample image", list(IMAGE_SAMPLES), key="image_sample")
        return sample_image(name), f"sample:{name}"
    upload = st.file_uploader(
        "Upload an image",
        type=list(UPLOAD_TYPES),
        help="PNG, JPEG, WebP, BMP, TIFF or GIF (first frame), up to 50 megapixels.",
    )
    if upload is None:
        st.info("Upload an image, or switch to a bundled sample.")
        return None, None
    data = upload.getvalue()
    try:
        return cached_decode(data), hashlib.sha1(data).hexdigest()[:16]
    except Exception as exc:  # noqa: BLE001 - every failure becomes a sentence
        show_error(exc)
        return None, None


def method_params(spec, model) -> dict:
    """One widget per parameter of a method, from its defaults; returns only the values that differ."""
    values = {}
    with st.expander(f"{spec.id} — parameters", expanded=False):
        st.caption(spec.summary)
        for name, default in spec.defaults.items():
            key = f"param:{spec.id}:{name}"
            if name == "layer":
                layers = [n for n, _ in model.module.named_modules() if n]
                options = [None, *layers]
                value = st.selectbox(
                    "layer", options, key=f"{key}:{model.name}",
                    format_func=lambda n: f"default ({model.target_layer_name})" if n is None else n,
                )
            elif name in spec.choices:
                value = st.selectbox(name, spec.choices[name], index=spec.choices[name].index(default), key=key)
            elif isinstance(default, bool):
                value = st.checkbox(name, value=default, key=key)
            elif isinstance(default, (int, np.integer)):
                value = int(st.number_input(name, value=int(default), step=1, key=key))
            elif isinstance(default, float):
                value = float(st.number_input(name, value=float(default), format="%.4g", key=key))
            else:
                continue  # not editable from the page (e.g. None placeholders): the method's default stands
            if value != default:
                values[name] = value
    return values
