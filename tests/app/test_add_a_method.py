"""Adding a method is one ``@register`` in one module: a toy image method registered here, in the test
module, shows on the image page, in Compare's list and in ``python cli.py list`` with no page or CLI edit."""

import numpy as np
import pytest

import cli
from explainers import register
from explainers.core import registry

TOY = "toy-constant"


def toy_constant(model, image, target):
    """Toy constant: the same score, 0.5, for every pixel."""
    return np.full(image.shape[:2], 0.5, dtype=np.float32), model.class_index(target, image)


@pytest.fixture
def toy_method(monkeypatch):
    """The toy method, registered as any method is; a copy of the registry holds it, gone after the test."""
    monkeypatch.setattr(registry, "_METHODS", dict(registry._METHODS))
    register(TOY, modality="image", family="toy", cost=lambda params, model=None, **sizes: (1, 0))(toy_constant)
    return TOY


def chart_ids(app) -> str:
    return " ".join(chart.proto.id for chart in app.get("plotly_chart"))


def test_the_image_page_lists_and_runs_it(toy_method, at):  # toy_method first: registered before the app runs
    picker = at.multiselect(key="methods:toy")
    assert TOY in picker.options
    picker.set_value([TOY]).run()
    at.button(key="run").click().run()
    assert not at.exception and not at.error
    assert f"heatmap:{TOY}" in chart_ids(at)
    assert any(f"{TOY} for **Egyptian cat**" in c.value for c in at.caption)


def test_compare_lists_it(toy_method, at):
    at.switch_page("pages/compare.py").run()
    assert not at.exception
    assert TOY in at.multiselect(key="compare_methods:image").options


def test_the_command_line_lists_it(toy_method, capsys):
    assert cli.main(["list", "--modality", "image"]) == 0
    methods = [line for line in capsys.readouterr().out.splitlines() if line.startswith("methods\t")]
    assert methods == [f"methods\timage\t{' '.join(registry.list_explainers('image'))}"]
    assert TOY in methods[0].split("\t")[2].split()
