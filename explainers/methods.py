"""Every method module, listed once: importing one registers its methods (``@register``).

Adding a method module is one line here. Modules outside Lumen (a plugin of your own) are named
in the ``LUMEN_PLUGINS`` environment variable, comma-separated dotted module names that Python can
import (e.g. ``LUMEN_PLUGINS=my_methods,lab.explainers``); they are imported after Lumen's own, by
the app, the command line and the library alike.
"""

from __future__ import annotations

import importlib
import os

from models.errors import ExplainerError

# The modalities, in the order they are listed in (Compare, ``cli.py list``): each registers its spec.
from explainers.image import modality as image_modality  # noqa: F401
from explainers.text import modality as text_modality  # noqa: F401
from explainers.generation import modality as generation_modality  # noqa: F401
from explainers.tabular import modality as tabular_modality  # noqa: F401

# The order is the order methods are listed in (pages, ``cli.py list``).
from explainers.image import cam  # noqa: F401  (grad-cam, grad-cam++, xgrad-cam, hires-cam, layer-cam, eigen-cam)
from explainers.image import cf_cam  # noqa: F401
from explainers.image import score_cam  # noqa: F401
from explainers.image import gradients  # noqa: F401  (the Captum gradient methods)
from explainers.image import perturbation  # noqa: F401  (occlusion, rise, sobol)
from explainers.image import shap_image  # noqa: F401
from explainers.concepts import craft  # noqa: F401  (CRAFT concepts)
from explainers.neurons import neuron_path  # noqa: F401  (influential neuron paths in ViTs)
from explainers.core import random_baseline  # noqa: F401  (the random baseline of every modality)
from explainers.text import methods  # noqa: F401  (text classifiers)
from explainers.tabular import shap_methods  # noqa: F401  (tables)
from explainers.tabular import shap_kl  # noqa: F401  (SHAP-KL: the class distribution)
from explainers.tabular import responsiveness  # noqa: F401  (recourse: feature responsiveness)
from explainers.generation import methods as generation_methods  # noqa: F401  (generation)
from explainers.generation import reagent  # noqa: F401
from explainers.neurons import channels  # noqa: F401  (channel-attribution: a CNN layer's channels)
from explainers.neurons import lm_neurons  # noqa: F401  (lm-neurons: an LM's MLP neurons, decoded)

PLUGINS = "LUMEN_PLUGINS"


def plugin_modules(environ=os.environ) -> list[str]:
    """The module names ``LUMEN_PLUGINS`` lists (none when it is unset or empty)."""
    return [name.strip() for name in environ.get(PLUGINS, "").split(",") if name.strip()]


def load_plugins(environ=os.environ) -> list[str]:
    """Import every module ``LUMEN_PLUGINS`` names; a name that cannot be imported is one sentence."""
    names = plugin_modules(environ)
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ExplainerError(f"{PLUGINS} names the module '{name}', which could not be imported: {exc}.") from exc
    return names


load_plugins()
