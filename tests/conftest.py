"""Shared fixtures: each embedded model is loaded once per test session; the ``slow`` marker, set here."""

import io
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from models.inputs.samples import sample_image

TESTS = Path(__file__).resolve().parent
# Reports the app saves as they grow (reports/saved.py) go to a folder of this test run, not the user's cache
# (the browser tests' servers inherit it)
os.environ.setdefault("LUMEN_REPORTS_DIR", tempfile.mkdtemp(prefix="lumen-test-reports-"))
# What makes a test slow (``pytest -m "not slow"``, ``make test-fast``, leaves these out): a browser or a
# whole server (tests/e2e), the embedded models on real inputs (tests/integration), the app's soak test,
# any test that takes one of the session fixtures below loading an embedded model, and the few page tests
# that run every method of a page on an embedded model (marked ``@pytest.mark.slow`` where they are).
SLOW_FOLDERS = ("e2e", "integration")
SLOW_FILES = ("app/test_soak.py",)
EMBEDDED_MODEL_FIXTURES = {"cnn", "vit", "smollm", "minilm"}


def is_slow(item) -> bool:
    path = Path(str(item.fspath)).resolve().relative_to(TESTS).as_posix()
    return (path.split("/")[0] in SLOW_FOLDERS or path in SLOW_FILES
            or bool(EMBEDDED_MODEL_FIXTURES & set(getattr(item, "fixturenames", ()))))


def pytest_collection_modifyitems(config, items):
    for item in items:
        if is_slow(item):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def cnn():
    from models import load_model

    return load_model("efficientnet-lite0", device="cpu")


@pytest.fixture(scope="session")
def vit():
    """The embedded digits ViT: trained on first use (seconds), then read from the cache."""
    from models import load_model

    return load_model("vit-digits", device="cpu")


@pytest.fixture(scope="session")
def smollm():
    """The embedded causal LM: dequantised from its GGUF on first use (~20 s), then read from the cache (~1 s)."""
    from models import load_model

    return load_model("smollm2-135m", device="cpu")


@pytest.fixture(scope="session")
def chelsea() -> np.ndarray:
    return sample_image("chelsea (cat)")


@pytest.fixture(scope="session")
def coffee() -> np.ndarray:
    return sample_image("coffee")


def encode(image: Image.Image, fmt: str, **save_args) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save_args)
    return buf.getvalue()


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@pytest.fixture(autouse=True)
def _deterministic():
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def minilm():
    """The embedded sentiment classifier: its head trained on first use (~20 s), then read from the cache."""
    from models import load_model

    return load_model("minilm-sentiment", device="cpu")


@pytest.fixture(scope="module")
def ray_local():
    """A local Ray for one test module's in-process dataset jobs (started unless one is up; stopped after)."""
    import ray

    from explainers.batch.job import start_ray

    started = start_ray(None)
    yield
    if started:
        ray.shutdown()
