"""The attribution library (no Streamlit here).

    from explainers import explain, list_explainers
    e = explain(model, image, method="grad-cam")

Methods are registered by ``@register`` in the modules explainers/methods.py lists (and in
those the ``LUMEN_PLUGINS`` environment variable names); importing this package imports them.
"""

from explainers.core.explain import explain, register_input
from explainers.core.explanation import Explanation
from explainers.core.registry import Method, get_method, list_explainers, register
from models.errors import ExplainerError, InputError

from explainers import methods  # noqa: E402, F401  (last: a plugin may import the names above)

__all__ = [
    "ExplainerError",
    "Explanation",
    "InputError",
    "Method",
    "explain",
    "get_method",
    "list_explainers",
    "register",
    "register_input",
]
