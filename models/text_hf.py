"""Hugging Face sequence classifiers the user brings: ``load_model("hf:DIR")`` for a ``*ForSequenceClassification``.

safetensors only (a pickled ``pytorch_model.bin`` can run code when loaded), never
remote code, and a model larger than the free memory is refused before loading.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from models.errors import ModelLoadError, reason
from models.hf import check_fits_memory, resolve_source, weights_size
from models.labels import from_metadata, resolve_labels
from models.text import SequenceLogits, TextClassifier

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
    except Exception as e:  # noqa: BLE001 - missing, damaged or invalid files fail in many ways
        raise ModelLoadError(
            f"{shown} could not be loaded as a text classifier: it needs valid config.json, model.safetensors and "
            f"tokenizer files ({reason(e)})."
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

