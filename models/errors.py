"""Errors that carry one sentence for the person using Lumen.

Pages show ``str(error)`` with ``st.error``; nothing else about the failure
reaches the user, and the session keeps working.
"""


class LumenError(Exception):
    """Base class: the message is written for the user, not the developer."""


class InputError(LumenError):
    """The uploaded or given input cannot be used (corrupt, too large, wrong type)."""


class ModelLoadError(LumenError):
    """A model could not be loaded (missing file, unsafe format, offline hub)."""


class ExplainerError(LumenError):
    """An explainer cannot run with the given model, input or parameters."""
