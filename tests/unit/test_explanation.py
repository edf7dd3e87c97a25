"""Explanation: the lossless round trip of the one currency."""

import json

import numpy as np

from explainers import Explanation


def make() -> Explanation:
    scores = np.random.default_rng(0).random((7, 5)).astype(np.float32)
    scores[0, 0] = np.float32(1 / 3)  # a value with no short decimal form
    return Explanation(
        scores=scores, method="grad-cam", modality="image", model="m", target=3, target_label="cat",
        params={"layer": None}, device="cpu", runtime_s=0.012, n_forward=1, n_backward=1,
    )


def test_dict_round_trip():
    e = make()
    back = Explanation.from_dict(e.to_dict())
    assert np.array_equal(back.scores, e.scores) and back.scores.dtype == np.float32
    assert {k: v for k, v in back.to_dict().items() if k != "scores"} == {
        k: v for k, v in e.to_dict().items() if k != "scores"
    }


def test_json_round_trip_is_bit_exact():
    e = make()
    text = e.to_json()
    json.loads(text)  # plain JSON
    back = Explanation.from_json(text)
    assert back.scores.tobytes() == e.scores.tobytes() and back.scores.shape == (7, 5)
    assert back.target_label == "cat" and back.params == {"layer": None}


def test_to_dict_is_a_copy():
    e = make()
    d = e.to_dict()
    d["scores"][:] = 0
    d["params"]["layer"] = "x"
    assert e.scores.max() > 0 and e.params == {"layer": None}


def test_token_fields_survive():
    e = Explanation(scores=[0.1, 0.2], method="x", modality="text", model="m", tokens=["a", "b"])
    assert Explanation.from_json(e.to_json()).tokens == ["a", "b"]


def test_extras_and_base_value_survive_bit_exact():
    rng = np.random.default_rng(1)
    extras = {
        "concept_bank": rng.random((3, 4)).astype(np.float32),
        "crops": rng.integers(0, 255, (2, 5, 5, 3), dtype=np.uint8),
        "order": np.arange(3, dtype=np.int64),
        "metrics": {"reconstruction_error": 0.25, "names": ["a", "b"]},
    }
    e = Explanation(scores=[1.0, 2.0, 3.0], method="craft", modality="image", model="m",
                    base_value=0.125, extras=extras)
    for back in (Explanation.from_json(e.to_json()), Explanation.from_dict(e.to_dict())):
        assert back.base_value == 0.125
        assert back.extras["metrics"] == extras["metrics"]
        for name in ("concept_bank", "crops", "order"):
            assert back.extras[name].dtype == extras[name].dtype
            assert back.extras[name].tobytes() == extras[name].tobytes()
            assert back.extras[name].shape == extras[name].shape


def test_signed_is_the_methods_convention_and_survives_the_round_trip():
    unsigned, signed = make(), Explanation(np.array([-0.5, 0.25]), "occlusion", "image", "m")
    assert unsigned.signed is False and signed.signed is True  # grad-cam in [0, 1]; occlusion keeps its sign
    for e in (unsigned, signed):
        assert Explanation.from_json(e.to_json()).signed is e.signed
    older = {k: v for k, v in signed.to_dict().items() if k != "signed"}  # a bundle written before the field
    assert Explanation.from_dict(older).signed is True
    unknown = Explanation(np.array([-1.0, 1.0]), "someone-elses", "image", "m")  # no such method: the data decide
    assert unknown.signed is True and Explanation(np.array([0.0, 1.0]), "someone-elses", "image", "m").signed is False
    assert Explanation(np.array([-1.0]), "grad-cam", "image", "m", signed=False).signed is False  # given wins


def test_explain_sets_signed_from_the_method():
    from explainers import explain
    from tests.tiny_models import random_image, small_cnn

    model, image = small_cnn(), random_image(16)
    assert explain(model, image, method="gradient-x-input").signed is True
    assert explain(model, image, method="saliency").signed is False
