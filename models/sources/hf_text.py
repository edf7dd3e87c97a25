"""Hugging Face sequence classifiers the user brings: ``load_model("hf:DIR")`` for a ``*ForSequenceClassification``.

safetensors only (a pickled ``pytorch_model.bin`` can run code when loaded), never
remote code, and a model larger than the free memory is refused before loading.
"""

from __future__ import annotations

from models.errors import ModelLoadError
from models.sources.hf_image import load_model_and_tokenizer, resolve_source
from models.sources.labels import from_metadata, resolve_labels
from models.adapters.text import SequenceLogits, TextClassifier


def hf_text_classifier(source: str, labels=None, device=None, input_size=None, mean=None, std=None) -> TextClassifier:
    """``AutoModelForSequenceClassification`` + ``AutoTokenizer`` from a local directory or a hub id (online).

    Labels: the config's ``id2label`` unless only placeholders, else ``labels``
    or "class i". The token limit: the smaller of the tokenizer's and the
    position embeddings'.
    """
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    if any(v is not None for v in (input_size, mean, std)):
        raise ModelLoadError("A text classifier takes no image preprocessing settings (input size, mean, std).")
    ref, shown, local = resolve_source(source)
    hf_logging.disable_progress_bar()
    model, tokenizer = load_model_and_tokenizer(
        AutoModelForSequenceClassification, ref, shown, local, "a text classifier", attn_implementation="eager"
    )
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

