"""The attribution library (no Streamlit here).

    from explainers import explain, list_explainers
    e = explain(model, image, method="grad-cam")
"""

from explainers import cam, cf_cam, score_cam  # noqa: F401  (importing registers the methods)
from explainers import gradients  # noqa: F401  (registers the Captum gradient methods)
from explainers import perturbation, shap_image  # noqa: F401  (register occlusion, rise, sobol, shap)
from explainers import craft  # noqa: F401  (registers CRAFT concepts)
from explainers import baseline  # noqa: F401  (registers the random baseline)
from explainers import text_methods  # noqa: F401  (registers the text-classifier methods and text input)
from explainers import tabular_shap  # noqa: F401  (registers the tabular SHAP methods and input)
from explainers import generation, reagent  # noqa: F401  (register the generation methods)
from explainers.api import explain, register_input
from explainers.explanation import Explanation
from explainers.registry import Method, get_method, list_explainers, register
from models.errors import ExplainerError, InputError

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
