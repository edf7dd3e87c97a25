"""The attribution library (no Streamlit here).

    from explainers import explain, list_explainers
    e = explain(model, image, method="grad-cam")

Methods are registered by ``@register`` in the modules explainers/methods.py lists (and in
those the ``LUMEN_PLUGINS`` environment variable names); importing this package imports them.
"""

from explainers.core.explain import explain, explain_batch, explain_many
from explainers.core.explanation import Explanation
from explainers.core.modality import (
    Modality, faithfulness, get_modality, headline, input_sizes, list_modalities, prepare_input, register_modality,
)
from explainers.core.registry import Method, default_method, get_method, list_explainers, methods_for, register
from models.errors import ExplainerError, InputError

from explainers import methods  # noqa: E402, F401  (last: a plugin may import the names above)

__all__ = [
    "ExplainerError",
    "Explanation",
    "InputError",
    "Method",
    "Modality",
    "default_method",
    "explain",
    "explain_batch",
    "explain_many",
    "faithfulness",
    "get_method",
    "get_modality",
    "headline",
    "input_sizes",
    "list_explainers",
    "list_modalities",
    "methods_for",
    "prepare_input",
    "register",
    "register_modality",
]
