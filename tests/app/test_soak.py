"""Long sessions: 200 explanations of mixed methods (image and text pages, sessions coming and
going) through one Streamlit runtime; resident memory after the warm-up grows by less than 150 MB.

The soak runs in a process of its own (``python -m tests.app.test_soak``): the test session's process has run
other tests before it (dataset jobs on Ray among them, whose threads and freed blocks are not this app's), and its
memory would measure them too."""

import gc
import itertools
import subprocess
import sys
from pathlib import Path

import psutil
from streamlit.testing.v1 import AppTest

from models.inputs.samples import IMAGE_SAMPLES
from models.inputs.text_samples import TEXT_SAMPLES
from tests.app.conftest import APP

TOTAL, WARM_UP, PER_SESSION = 200, 30, 24
MAX_GROWTH_MB = 150
# per image run: the methods chosen on each tab (a run explains each chosen method once)
IMAGE_RUNS = [
    {"methods:cam": ["grad-cam", "layer-cam"]},
    {"methods:cam": ["eigen-cam"], "methods:gradient": ["saliency"]},
    {"methods:cam": ["cf-cam"], "methods:gradient": ["gradient-x-input", "guided-backprop"]},
    {"methods:cam": ["grad-cam++", "hires-cam"]},
]
TEXT_RUNS = [["attention", "saliency"], ["occlusion", "gradient-x-input"], ["attention-rollout"]]


def rss_mb() -> float:
    gc.collect()
    return psutil.Process().memory_info().rss / 2**20


def _image_run(at, sample: str, chosen: dict) -> int:
    at.radio(key="image_source").set_value("Sample").run()
    at.selectbox(key="image_sample").set_value(sample).run()
    for key in ("methods:cam", "methods:gradient"):
        at.multiselect(key=key).set_value(chosen.get(key, [])).run()
    at.button(key="run").click().run()
    return sum(len(v) for v in chosen.values())


def _text_run(at, sample: str, methods: list) -> int:
    at.selectbox(key="text_sample").set_value(sample).run()
    at.multiselect(key="text_methods").set_value(methods).run()
    at.button(key="text_run").click().run()
    return len(methods)


def soak() -> tuple[int, float, float]:
    """(explanations, RSS after the warm-up in MB, growth in MB) of the soak, in this process."""
    images, texts = itertools.cycle(IMAGE_SAMPLES), itertools.cycle(TEXT_SAMPLES)
    image_runs, text_runs = itertools.cycle(IMAGE_RUNS), itertools.cycle(TEXT_RUNS)
    done, session_done, at, baseline, rounds = 0, 0, None, None, 0
    while done < TOTAL:
        if at is None or session_done >= PER_SESSION:  # a person leaves, another arrives
            at, session_done = AppTest.from_file(APP, default_timeout=300), 0
            at.run()
        rounds += 1
        if rounds % 3:
            n = _image_run(at, next(images), next(image_runs))
        else:
            at.switch_page("pages/text.py").run()
            n = _text_run(at, next(texts), next(text_runs))
            at.switch_page("pages/image.py").run()
        assert not at.exception and not at.error, (done, [e.value for e in at.error])
        done, session_done = done + n, session_done + n
        if baseline is None and done >= WARM_UP:
            baseline = rss_mb()
    return done, baseline, rss_mb() - baseline


def test_two_hundred_explanations_grow_memory_by_less_than_150_mb():
    root = Path(__file__).resolve().parents[2]
    run = subprocess.run([sys.executable, "-m", "tests.app.test_soak"], cwd=root, capture_output=True, text=True,
                         timeout=550)  # under pytest-timeout's 600 s, so a hung soak says so here
    assert run.returncode == 0, run.stderr[-3000:]
    done, baseline, growth = (float(v) for v in run.stdout.strip().splitlines()[-1].split())
    print(f"soak: {done:.0f} explanations, RSS after warm-up {baseline:.0f} MB, growth {growth:+.0f} MB")
    assert done >= TOTAL and growth < MAX_GROWTH_MB


if __name__ == "__main__":
    print(*soak())
