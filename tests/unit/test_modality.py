"""The Modality specs: one per input kind, asked by pages, Compare, the command line and reports.

Each spec prepares its input once (a text is tokenised once per explain or compare call), names a default
method that applies to the model, measures faithfulness with the same keys on every path, and declares its
figure kinds; ``Method.applies_to`` keeps layer methods away from TorchScript and TreeSHAP away from non-trees.
"""

import ast
from pathlib import Path

import numpy as np
import pytest
import torch

from explainers import (
    Explanation, default_method, explain, faithfulness, get_method, get_modality, headline, list_explainers,
    list_modalities, methods_for, register,
)
from explainers.core import registry
from explainers.core.compare import compare
from explainers.core.modality import FIGURE_KINDS
from explainers.core.registry import default_methods
from models.adapters.tabular import train_model
from models.inputs.tables import load_dataset
from reports.bundle import read_bundle, write_bundle
from reports.report import make_item, new_report
from tests.tiny_lm import tiny_lm
from tests.tiny_models import SmallCNN, classifier, random_image, small_cnn
from tests.tiny_text import bag_model

ROOT = Path(__file__).resolve().parents[2]
TEXT = "The food was awful but the staff were lovely."


@pytest.fixture(scope="module")
def models():
    return {
        "image": small_cnn(),
        "text": bag_model(),
        "generation": tiny_lm(),
        "tabular": train_model(load_dataset("iris"), "random-forest", n_estimators=10),
    }


def test_one_spec_per_input_kind_in_the_order_pages_list_them():
    assert list_modalities() == ["image", "text", "generation", "tabular"]
    assert [get_modality(m).label for m in list_modalities()] == ["Image", "Text", "Prompt (generation)", "Table row"]
    for m in list_modalities():
        spec = get_modality(m)
        assert spec.figures and set(spec.figures) <= set(FIGURE_KINDS)
        assert spec.better and set(spec.better.values()) <= {"lower", "higher"}
        assert set(spec.default_methods) <= set(list_explainers(m))


def test_the_default_method_exists_and_applies(models):
    expected = {"image": "grad-cam", "text": "integrated-gradients", "generation": "occlusion", "tabular": "shap-tree"}
    for modality, model in models.items():
        method = default_method(model)
        assert method == expected[modality]
        assert get_method(method, modality).applies_to(model)
        assert default_methods(model)[0] == method
        assert all(m.applies_to(model) and not m.many and m.family != "global" for m in methods_for(model))


def test_tabular_defaults_follow_the_model():
    linear = train_model(load_dataset("iris"), "linear")
    mlp = train_model(load_dataset("tips"), "mlp")
    assert default_method(linear) == "shap-linear" and default_methods(linear) == ["shap-linear", "shap-permutation"]
    assert default_method(mlp) == "shap-permutation"
    offered = [m.id for m in methods_for(linear, baseline=False)]
    assert "shap-tree" not in offered and "random" not in offered and "permutation-importance" not in offered
    assert "random" in [m.id for m in methods_for(linear)]


def test_torchscript_gets_no_layer_methods():
    torch.manual_seed(0)
    scripted = classifier(torch.jit.script(SmallCNN(5).eval()), 16, 5)
    assert not scripted.supports_layers
    assert not get_method("grad-cam", "image").applies_to(scripted)
    assert get_method("saliency", "image").applies_to(scripted)
    offered = methods_for(scripted)
    assert offered and all("layer" not in m.defaults for m in offered)
    assert any("layer" in get_method(m, "image").defaults for m in list_explainers("image"))
    method = default_method(scripted)
    assert "layer" not in get_method(method, "image").defaults
    assert default_methods(scripted) == [method]


def test_a_method_that_requires_something_is_offered_only_where_it_applies(monkeypatch, models):
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))
    cost = lambda params, model=None, **sizes: (1, 0)  # noqa: E731
    register("never", "image", "toy", cost, requires=lambda model: False)(lambda model, x, target: None)
    register("always", "image", "toy", cost, requires=lambda model: True)(lambda model, x, target: None)
    ids = [m.id for m in methods_for(models["image"])]
    assert "always" in ids and "never" not in ids and "never" in list_explainers("image")
    assert not get_method("never", "image").applies_to(models["text"])  # another modality's model


class CountingTokenizer:
    """The model's tokenizer, counting how often a text is tokenised (``texts``: what it was given)."""

    def __init__(self, inner):
        self.inner, self.calls, self.texts = inner, 0, []

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.texts.append(args[0] if args else kwargs.get("text"))
        return self.inner(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_a_text_is_tokenised_once_per_explain_and_per_compare():
    model = bag_model()
    counting = model.tokenizer = CountingTokenizer(model.tokenizer)
    model.encode(TEXT)
    once = counting.calls
    assert once >= 1
    prepared = get_modality("text").prepare(TEXT, model)
    assert get_modality("text").prepare(prepared, model) is prepared and model.encode(prepared) is prepared
    # the text's sizes count the passes of shap's token tree (its estimate): shap's masker tokenises the text for
    # that once per text and process (shap_full_evals keeps the count), not once per run
    from explainers.text.methods import shap_full_evals

    counting.calls = 0
    shap_full_evals(model, prepared)
    assert counting.calls >= 1
    counting.calls = 0
    shap_full_evals(model, get_modality("text").prepare(TEXT, model))
    assert counting.calls == once  # the preparing only: the count is kept
    counting.calls = 0
    e = explain(model, TEXT, method="occlusion")
    faithfulness(model, TEXT, e)  # a separate call: the text is prepared again, once
    assert counting.calls == 2 * once
    counting.calls = 0
    # (shap's own Text masker tokenises the text again inside shap: Lumen cannot hand it an encoding)
    results = compare(model, TEXT, {"occlusion": {}, "integrated-gradients": {"n_steps": 8}, "lime": {"n_samples": 20}})
    assert [r.method for r in results] == ["occlusion", "integrated-gradients", "lime", "random"]
    assert counting.calls == once  # three methods, the baseline, the size estimates and the faithfulness figures


def test_a_prompt_is_tokenised_once_per_explain_and_per_compare():
    model = tiny_lm()
    counting = model.tokenizer = CountingTokenizer(model.tokenizer)
    prompt = "w3 w7 w4"
    e = explain(model, prompt, method="occlusion", target=" w5")
    assert counting.texts.count(prompt) == 1 and len(e.target_tokens) == 1
    counting.texts.clear()
    results = compare(model, prompt, {"occlusion": {}, "gradient-x-input": {}}, target=" w5")
    assert [r.method for r in results] == ["occlusion", "gradient-x-input", "random"]
    assert counting.texts.count(prompt) == 1  # three methods, the size estimates and the figures
    assert len({tuple(r.extras["target_ids"]) for r in results}) == 1


def _round_trip(model, x, e):
    report = new_report("t", [make_item(model, x, e)])
    return read_bundle(write_bundle(report)).items[0]


@pytest.mark.parametrize("modality", ["image", "text", "tabular", "generation"])
def test_faithfulness_has_the_same_keys_on_every_path(models, modality):
    model = models[modality]
    x = {"image": random_image(16), "text": TEXT, "generation": "w3 w7 w4",
         "tabular": load_dataset("iris").features.iloc[0].to_dict()}[modality]
    method = {"image": "saliency", "text": "occlusion", "generation": "occlusion", "tabular": "shap-tree"}[modality]
    target = " w5" if modality == "generation" else None
    options = {"pixel_curves": True} if modality == "image" else {}  # every figure of ``better`` (image: an option)
    alone = explain(model, x, method=method, target=target)
    assert alone.faithfulness == {}
    figures = faithfulness(model, x, alone, **options)
    assert figures is alone.faithfulness and set(get_modality(modality).better) <= set(figures)
    compared = compare(model, x, {method: {}}, target=target if target is None else alone.extras["target_ids"],
                       faithfulness_options=options)
    assert [set(e.faithfulness) for e in compared] == [set(figures)] * 2
    again = Explanation.from_json(alone.to_json())
    assert again.faithfulness.keys() == figures.keys() and "faithfulness" not in again.extras
    item = _round_trip(model, x, alone)
    assert item.explanation.faithfulness.keys() == figures.keys()
    assert list(item.metrics) == list(headline(alone)) == list(get_modality(modality).better)
    assert all(np.isclose(item.metrics[k], figures[k], equal_nan=True) for k in item.metrics)


def test_an_older_bundle_with_faithfulness_in_extras_is_read(models):
    model = models["image"]
    e = explain(model, random_image(16), method="saliency")
    d = e.to_dict()
    d.pop("faithfulness")
    d["extras"]["faithfulness"] = {"deletion_auc": 0.25, "insertion_auc": 0.5}
    old = Explanation.from_dict(d)
    assert old.faithfulness == {"deletion_auc": 0.25, "insertion_auc": 0.5} and "faithfulness" not in old.extras
    assert headline(old) == {"deletion_auc": 0.25, "insertion_auc": 0.5}


def _string_constants(path: Path) -> set[str]:
    return {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)}


def test_pages_and_the_command_line_name_no_method():
    """Which methods a page offers, and which first, comes from the registry and the spec, never from a list."""
    ids = {m for modality in list_modalities() for m in list_explainers(modality)} - {"random"}
    own = {"concepts.py": {"craft"},  # the Concepts page is the page of one method
           "neurons.py": {"channel-attribution", "lm-neurons"}}  # and the Neurons page the page of its units methods
    for path in [ROOT / "cli.py", *sorted((ROOT / "pages").glob("*.py"))]:
        named = _string_constants(path) & ids - own.get(path.name, set())
        assert not named, f"{path.name} names {sorted(named)}"
