"""Hugging Face sequence classifiers the user brings: ``load_model("hf:DIR")`` for a ``*ForSequenceClassification``.

safetensors only (a pickled ``pytorch_model.bin`` can run code when loaded), never
remote code, and a model larger than the free memory is refused before loading.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from models.errors import ModelLoadError
from models.hf import resolve_source
from models.labels import from_metadata, resolve_labels
from models.text import SequenceLogits, TextClassifier

_GIB = 1024**3


def weights_size(directory: Path) -> int:
    """Bytes of the safetensors weights in ``directory``, or a ``ModelLoadError`` saying why there are none."""
    files = sorted(directory.glob("*.safetensors"))
    if not files:
        pickled = [p.name for p in directory.glob("*.bin")] + [p.name for p in directory.glob("*.pt*")]
        if pickled:
            raise ModelLoadError(
                f"{directory.name} holds only pickled weights ({', '.join(sorted(pickled))}); Lumen loads "
                "safetensors only, since unpickling can run arbitrary code. Convert with "
                "model.save_pretrained(dir, safe_serialization=True)."
            )
        raise ModelLoadError(f"{directory.name} has no model.safetensors: save the model with save_pretrained.")
    return sum(p.stat().st_size for p in files)


def _size(n: int) -> str:
    return f"{n / _GIB:.2f} GiB" if n >= _GIB else f"{n / 1024**2:.1f} MiB"


def check_fits_memory(size: int, shown: str) -> None:
    import psutil

    free = psutil.virtual_memory().available
    if size > free:
        raise ModelLoadError(
            f"{shown} needs {_size(size)} for its weights but only {_size(free)} of memory is free."
        )


def hf_text_classifier(source: str, labels=None, device=None, input_size=None, mean=None, std=None) -> TextClassifier:
    """``AutoModelForSequenceClassification`` + ``AutoTokenizer`` from a local directory or a hub id (online).

    Labels: the config's ``id2label`` unless only placeholders, else ``labels``
    or "class i". The token limit: the smaller of the tokenizer's and the
    position embeddings'.
    """
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if any(v is not None for v in (input_size, mean, std)):
        raise ModelLoadError("A text classifier takes no image preprocessing settings (input size, mean, std).")
    ref, shown, local = resolve_source(source)
    if local:
        check_fits_memory(weights_size(Path(ref)), shown)
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoModelForSequenceClassification.from_pretrained(
                ref, local_files_only=local, trust_remote_code=False, use_safetensors=True,
                attn_implementation="eager",
            )
            tokenizer = AutoTokenizer.from_pretrained(ref, local_files_only=local, trust_remote_code=False)
    except (OSError, ValueError, KeyError) as e:
        raise ModelLoadError(
            f"{shown} could not be loaded as a text classifier (it needs config.json, model.safetensors and the "
            f"tokenizer files): {str(e).splitlines()[0][:200]}"
        ) from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    model.config.pad_token_id = tokenizer.pad_token_id
    stored = from_metadata({"id2label": model.config.id2label})
    names = resolve_labels(model.config.num_labels, labels, stored)
    limits = [getattr(model.config, "max_position_embeddings", None), tokenizer.model_max_length]
    limits = [int(v) for v in limits if isinstance(v, int) and 0 < v < 1_000_000]  # tokenizers say 1e30 for none
    max_length = min(limits) if limits else 512
    return TextClassifier(
        f"hf:{shown}", SequenceLogits(model), tokenizer, names, model.get_input_embeddings(), max_length, device
    )

