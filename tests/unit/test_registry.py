"""The one way to register a method: ``@register``, one cost signature, method modules listed once, plugins."""

import ast
import inspect
import sys
from pathlib import Path

import pytest

from explainers import get_method, list_explainers, register
from explainers.core import registry
from explainers.methods import load_plugins, plugin_modules
from models.errors import ExplainerError

ROOT = Path(__file__).resolve().parents[2]
SIZES = {"n_tokens": 7, "n_prompt": 7, "n_target": 3, "n_rows": 2, "unknown_size": 1}


@pytest.fixture
def scratch_registry(monkeypatch):
    """Registrations made in the test vanish after it (a copy of the registry stands in for it)."""
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))


def every_method():
    return [get_method(m, modality) for modality in ("image", "text", "generation", "tabular")
            for m in list_explainers(modality)]


def test_every_cost_has_the_one_signature_and_takes_any_sizes():
    for spec in every_method():
        parameters = list(inspect.signature(spec.cost).parameters.values())
        assert [p.name for p in parameters[:2]] == ["params", "model"], spec.id
        assert parameters[1].default is None and parameters[2].kind is inspect.Parameter.VAR_KEYWORD, spec.id
        assert len(parameters) == 3, spec.id
    for spec in every_method():
        if spec.modality == "tabular" and spec.family == "global":
            continue  # needs the model's held-out rows
        n_forward, n_backward = spec.estimate({}, None, **SIZES)  # sizes a method does not use are ignored
        assert n_forward >= 0 and n_backward >= 0, spec.id


def test_sizes_reach_the_costs_that_use_them():
    assert get_method("occlusion", "text").estimate({}, None, n_tokens=9) == (10, 0)
    assert get_method("occlusion", "generation").estimate({}, None, n_prompt=9, n_target=2) == (10, 0)
    assert get_method("gradient-x-input", "generation").estimate({}, None, n_prompt=9, n_target=2) == (2, 2)


@pytest.mark.parametrize("cost", [
    lambda params: (1, 0),
    lambda params, model: (1, 0),
    lambda params, model=None: (1, 0),
    lambda params, model=None, n_tokens=20: (n_tokens, 0),
    lambda params, model=None, *, n_tokens=20, **sizes: (n_tokens, 0),
])
def test_a_cost_of_another_signature_is_refused(scratch_registry, cost):
    with pytest.raises(TypeError, match="cost\\(params, model=None, \\*\\*sizes\\)"):
        register("odd-cost", modality="image", family="toy", cost=cost)


def test_a_family_builder_wraps_the_rule_which_stays_as_it_is(scratch_registry):
    def rule(model, image, target):
        """Rule: twice the rule's value."""
        return 1.0

    def builder(fn, id):
        return lambda model, image, target: (2 * fn(model, image, target), id)

    assert register("wrapped", modality="image", family="toy", cost=lambda params, model=None, **sizes: (0, 0),
                    wrap=builder)(rule) is rule
    spec = get_method("wrapped", "image")
    assert spec.fn(None, None, None) == (2.0, "wrapped") and spec.summary == "Rule: twice the rule's value."


def test_no_second_table_of_methods_and_every_method_module_listed_once():
    """The CAM and Captum families register with ``@register`` too; every module that registers a method
    is imported by explainers/methods.py, and nothing else in explainers/ imports one just to register it."""
    registering = set()
    for path in sorted((ROOT / "explainers").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "register" and path.name != "registry.py":
                registering.add(path.stem)
        assert "ATTRIBUTIONS" not in source and "register_gradient_cam" not in source and "image_method(" not in source
    listed = {alias.name for node in ast.parse((ROOT / "explainers" / "methods.py").read_text()).body
              if isinstance(node, ast.ImportFrom) and node.module == "explainers" for alias in node.names}
    assert registering == listed
    init = ast.parse((ROOT / "explainers" / "__init__.py").read_text())
    imported = {alias.name for node in init.body if isinstance(node, ast.ImportFrom) and node.module == "explainers"
                for alias in node.names}
    assert imported == {"methods"}


@pytest.fixture
def fresh_plugin(scratch_registry, monkeypatch):
    monkeypatch.delitem(sys.modules, "tests.plugins.toy_method", raising=False)


def test_plugins_named_in_the_environment_are_imported(fresh_plugin):
    environ = {"LUMEN_PLUGINS": " tests.plugins.toy_method , "}
    assert plugin_modules(environ) == ["tests.plugins.toy_method"] and plugin_modules({}) == []
    assert "toy-plugin" not in list_explainers("image")
    assert load_plugins(environ) == ["tests.plugins.toy_method"]
    spec = get_method("toy-plugin", "image")
    assert spec.family == "toy" and spec.summary.startswith("Toy plugin")


def test_a_plugin_that_cannot_be_imported_is_one_sentence(fresh_plugin):
    with pytest.raises(ExplainerError, match="LUMEN_PLUGINS names the module 'no_such_lumen_plugin'"):
        load_plugins({"LUMEN_PLUGINS": "no_such_lumen_plugin"})
