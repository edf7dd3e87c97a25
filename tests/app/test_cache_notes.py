"""Bounded stores through AppTest: uploading one model too many unloads the oldest and the page says so,
naming it only to the session that loaded it."""

import timm
import torch
from safetensors.torch import save
from streamlit.testing.v1 import AppTest

from pages import widgets
from tests.app.conftest import APP


def _weights(seed: int) -> bytes:
    torch.manual_seed(seed)
    return save(timm.create_model("test_resnet", pretrained=False, num_classes=3).state_dict())


def _timm_session() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.selectbox(key="model_source").set_value("timm").run()
    at.selectbox(key="arch:timm").set_value("test_resnet").run()
    return at


def _upload(at: AppTest, name: str, seed: int) -> list[str]:
    at.file_uploader(key="weights:timm").set_value((name, _weights(seed), "application/octet-stream")).run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    return [c.value for c in at.sidebar.caption if "Lumen keeps" in c.value]


def test_one_model_too_many_unloads_the_oldest_and_says_so(monkeypatch):
    monkeypatch.setattr(widgets, "MAX_USER_MODELS", 2)
    widgets._store.clear()
    mine = _timm_session()
    assert _upload(mine, "w0.safetensors", 0) == [] and _upload(mine, "w1.safetensors", 1) == []
    notes = _upload(mine, "w2.safetensors", 2)
    assert notes == [widgets.MODELS_NOTE.format(n=2, oldest=widgets.plain("timm:test_resnet (w0.safetensors)"))]
    assert _upload(mine, "w1.safetensors", 1) == []  # still loaded: no reload, no note
    store = widgets._store("models", 2)
    assert len(store) == 2

    # another session pushes this one's model out: it is told that one went, not whose or which
    other = _timm_session()
    notes = _upload(other, "secret-name.safetensors", 3)
    assert len(notes) == 1 and "another session" in notes[0] and "w2" not in notes[0] and "w1" not in notes[0]
    assert len(store) == 2
    # the first session goes on: its model loads again, pushing out its own w1 (the oldest now), named
    notes = _upload(mine, "w2.safetensors", 2)
    assert notes == [widgets.MODELS_NOTE.format(n=2, oldest=widgets.plain("timm:test_resnet (w1.safetensors)"))]
    mine.button(key="run").click().run()
    assert not mine.exception and not mine.error
