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


def reason(exc: BaseException, limit: int = 200) -> str:
    """An exception's first line, shortened and without a final period: a detail to put inside a sentence."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip().rstrip(".") if lines else ""
    if len(text) > limit:
        text = text[:limit].rstrip() + "…"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def shown(value, limit: int = 80) -> str:
    """A name or value taken from a file, quoted, on one line and cut to ``limit`` characters: safe in a sentence."""
    text = str(value)
    return repr(text[:limit] + "…" if len(text) > limit else text)
