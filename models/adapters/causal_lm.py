"""The causal language model adapter: one interface over every generative text model.

Explainers ask the adapter, never the model: ``encode`` (prompt + continuation to ids),
``forward`` (counted), ``generate`` (greedy), ``embeddings``, ``token_strings``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import torch
from torch import nn

from models.adapters.base import ModelAdapter
from models.errors import ExplainerError, InputError
from models.inputs.texts import clean_text

# Methods run the model hundreds of times on the prompt + continuation, and attention methods hold
# layers × heads × L² attention weights (SmolLM2-135M: 30 × 9 × L² × 4 bytes, 0.44 GB at L = 640, 17 GB at
# L = 4,000). Longer prompts keep their last MAX_PROMPT_TOKENS tokens (with a warning); a continuation (given or
# generated) over MAX_TARGET_TOKENS tokens is refused, since cutting it would explain another continuation.
MAX_PROMPT_TOKENS = 512
MAX_TARGET_TOKENS = 128
MAX_TARGET_CHARS = 16 * MAX_TARGET_TOKENS  # checked before tokenising; what the page's field takes
CPU_BATCH_SIZE = 16
PROBE_STEPS = 4  # greedy steps the cost probe times in a row (``probe_step``)
_CUDA_BYTES_PER_TOKEN_AND_WIDTH = 4 * 24  # activations per token per hidden unit, a generous guess; OOM halving refines it


@dataclass
class Encoded:
    """A prompt and its continuation as token ids (lists of ints), with a note when the prompt was cut."""

    prompt_ids: list[int]
    target_ids: list[int] = field(default_factory=list)
    warning: str | None = None
    model: str = ""  # the name of the model whose tokenizer made it

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.target_ids


class CausalLM(ModelAdapter):
    """A torch causal LM (``module(input_ids=...|inputs_embeds=...).logits``) with its tokenizer.

    ``labels`` is empty: a generation target is a continuation text, not a class.
    ``max_prompt_tokens``: longer prompts keep their last tokens (the ones the
    continuation follows) and say so in ``Encoded.warning``.
    """

    modality = "generation"
    input_name = "prompt"

    def __init__(self, name: str, module: nn.Module, tokenizer, device=None, max_prompt_tokens: int | None = None):
        super().__init__(name, [], device)
        self.module = module.eval().to(self.device)
        self.tokenizer = tokenizer
        config = module.config
        context = int(getattr(config, "max_position_embeddings", 0) or MAX_PROMPT_TOKENS * 2)
        self.context_length = context
        self.max_prompt_tokens = int(max_prompt_tokens or min(MAX_PROMPT_TOKENS, context // 2))
        self.vocab_size = int(module.get_input_embeddings().weight.shape[0])
        self.eos_ids = _ids_of(getattr(config, "eos_token_id", None)) | _ids_of(tokenizer.eos_token_id)
        self.special_ids = set(tokenizer.all_special_ids) | self.eos_ids

    # ---------------------------------------------------------------- passes (all counted here)

    def forward(self, x: torch.Tensor, attention_mask=None, logits_to_keep: int = 0) -> torch.Tensor:
        """Logits (B, T, V) for token ids (B, T) or input embeddings (B, T, D); every row counts as one pass.

        ``logits_to_keep`` k > 0 returns only the last k positions (cheaper).
        """
        return self._run(x, attention_mask, logits_to_keep=logits_to_keep).logits

    def attentions(self, ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Attention weights of every layer, each (B, heads, T, T), for token ids (B, T); counted."""
        with self.lock:  # the attention kernel is switched on the shared module
            previous = self.module.config._attn_implementation
            try:
                if previous != "eager":  # SDPA and flash kernels do not return their weights
                    self.module.set_attn_implementation("eager")
                return self._run(ids, None, output_attentions=True, logits_to_keep=1).attentions
            finally:
                if previous != "eager":
                    self.module.set_attn_implementation(previous)

    def _run(self, x: torch.Tensor, attention_mask, **kwargs):
        # Some activations (e.g. SiLU of large negative inputs) underflow to subnormal floats, which x86 CPUs
        # process ~10x slower: SmolLM2 at batch 1 took 2.9 s per pass, 0.3 s with them flushed to zero.
        # The flag is per thread (Streamlit runs each session in its own), so it is set on every call.
        torch.set_flush_denormal(True)
        key = "inputs_embeds" if x.is_floating_point() else "input_ids"
        with self.lock:  # another session's pass must not fire an explanation's hooks or change its count
            self.count_forward(x.shape[0])
            return self.module(**{key: x}, attention_mask=attention_mask, use_cache=False, **kwargs)

    def class_index(self, target, x=None):
        """A language model has no classes: its target, a continuation (text or token ids), is taken as given."""
        return target

    def generate(self, prompt, max_new_tokens: int = 20, progress=None) -> list[int]:
        """Greedy continuation ids of ``prompt`` (text or ``Encoded``), stopping at end-of-text; may be empty.
        ``progress(done, total)``: after each token, ``total`` = ``max_new_tokens`` (an end-of-text said as done)."""
        if int(max_new_tokens) > MAX_TARGET_TOKENS:
            raise InputError(f"Lumen generates and explains up to {MAX_TARGET_TOKENS} new tokens; "
                             f"{int(max_new_tokens):,} were asked for.")
        encoded = prompt if isinstance(prompt, Encoded) else self.encode(prompt)
        ids = torch.tensor([encoded.prompt_ids], device=self.device)
        new = self._greedy(ids, int(max_new_tokens), lambda row: self.forward(row, logits_to_keep=1), progress)
        if progress is not None:
            progress(int(max_new_tokens), int(max_new_tokens))
        return new

    def _greedy(self, ids: torch.Tensor, n: int, step, progress=None, stop: bool = True) -> list[int]:
        """The greedy loop ``generate`` runs, and the cost probe times (``probe_step``): up to ``n`` tokens after
        the row ``ids``, each from ``step(row)`` (the last position's logits), stopping at end-of-text when
        ``stop``."""
        new: list[int] = []
        with torch.inference_mode():
            for _ in range(n):
                token = int(step(ids)[0, -1].argmax())
                if stop and token in self.eos_ids:
                    break
                new.append(token)
                ids = torch.cat([ids, torch.tensor([[token]], device=self.device)], dim=1)
                if progress is not None and len(new) < n:
                    progress(len(new), n)
        return new

    # ---------------------------------------------------------------- tokens

    def encode(self, prompt: str, target=None) -> Encoded:
        """Prompt ids (cut to ``max_prompt_tokens``, last ones kept) and target ids.

        ``target``: the continuation as text (tokenised on its own, no special tokens)
        or as a list of token ids; None for none. ``prompt`` may be an ``Encoded`` this model made: its
        prompt ids are reused (a prompt is tokenised once per run) in a new ``Encoded`` with ``target``'s ids.
        """
        if isinstance(prompt, Encoded) and prompt.model == self.name:
            return Encoded(list(prompt.prompt_ids), self._target_ids(target), prompt.warning, self.name)
        text = clean_text(prompt)
        ids = self.tokenizer(text, add_special_tokens=True)["input_ids"]
        if not ids:
            raise InputError("The prompt has no tokens for this model; type some text.")
        warning = None
        if len(ids) > self.max_prompt_tokens:
            kept = ids[-self.max_prompt_tokens :]
            warning = (
                f"The prompt has {len(ids):,} tokens ({len(text):,} characters); only its last "
                f"{len(kept):,} tokens (about {len(self.tokenizer.decode(kept)):,} characters) were kept — "
                f"the most Lumen explains with {self.name}."
            )
            warnings.warn(warning, stacklevel=2)
            ids = kept
        return Encoded(list(map(int, ids)), self._target_ids(target), warning, self.name)

    def _target_ids(self, target) -> list[int]:
        if target is None:
            return []
        if isinstance(target, str):
            if not target:
                raise ExplainerError("The target continuation is empty; give some text or leave it out to generate.")
            if len(target) > MAX_TARGET_CHARS:
                raise InputError(f"The target continuation has {len(target):,} characters; Lumen explains "
                                 f"continuations of up to {MAX_TARGET_CHARS:,} characters and {MAX_TARGET_TOKENS} tokens.")
            ids = self.tokenizer(target, add_special_tokens=False)["input_ids"]
        else:
            target = list(target)
            if len(target) > MAX_TARGET_TOKENS:
                raise InputError(f"The target continuation has {len(target):,} tokens; Lumen explains up to "
                                 f"{MAX_TARGET_TOKENS} target tokens.")
            ids = [int(t) for t in target]
            if any(not 0 <= t < self.vocab_size for t in ids):
                raise ExplainerError(f"A target token id is outside the vocabulary (0..{self.vocab_size - 1}).")
        if not ids:
            raise ExplainerError("The target continuation has no tokens for this model.")
        if len(ids) > MAX_TARGET_TOKENS:
            raise InputError(f"The target continuation has {len(ids):,} tokens for {self.name}; Lumen explains up to "
                             f"{MAX_TARGET_TOKENS} target tokens: shorten it.")
        return list(map(int, ids))

    def token_strings(self, ids) -> list[str]:
        """Each token as the text it stands for (a partial UTF-8 character shows as its token name)."""
        out = []
        for i in ids:
            text = self.tokenizer.decode([int(i)])
            out.append(text if "\ufffd" not in text else self.tokenizer.convert_ids_to_tokens(int(i)))
        return out

    def decode(self, ids) -> str:
        return self.tokenizer.decode([int(i) for i in ids])

    def embeddings(self, ids: torch.Tensor) -> torch.Tensor:
        """Input embeddings (B, T, D) of token ids (B, T), as the model's first layer computes them."""
        return self.module.get_input_embeddings()(ids)

    def batch_size(self, n_tokens: int) -> int:
        """Rows per pass: a fixed size on CPU; on CUDA what fits half the free memory by a generous guess."""
        if self.device.type != "cuda":
            return CPU_BATCH_SIZE
        free, _ = torch.cuda.mem_get_info(self.device)
        width = self.module.config.hidden_size * self.module.config.num_hidden_layers + self.vocab_size
        return max(1, min(256, int(free * 0.5 // (_CUDA_BYTES_PER_TOKEN_AND_WIDTH * width * max(1, n_tokens)))))

    def probe_passes(self, n_tokens: int | None = None):
        """How the cost probe (explainers/core/cost.py) times this model on rows of ``n_tokens`` tokens (default
        32): (the batch long runs use, ``forward(b)``, ``forward_backward(b)``), each of the last two giving a
        function that runs ``b`` such rows once (a backward to the input embeddings, as the gradient methods
        make it). Not counted."""
        n_tokens = int(n_tokens or 32)
        token = min(100, self.vocab_size - 1)  # any ordinary token: the time does not depend on which

        def forward(b):
            ids = torch.full((b, n_tokens), token, device=self.device)

            def run():
                torch.set_flush_denormal(True)  # as every counted pass sets it (``_run``)
                with torch.inference_mode():
                    self.module(input_ids=ids, use_cache=False)
            return run

        def forward_backward(b):
            ids = torch.full((b, n_tokens), token, device=self.device)

            def run():
                torch.set_flush_denormal(True)
                with torch.enable_grad():
                    embeds = self.embeddings(ids).detach().requires_grad_(True)
                    out = self.module(inputs_embeds=embeds, use_cache=False).logits
                    torch.autograd.grad(out[:, -1].logsumexp(-1).sum(), embeds)
            return run

        return self.batch_size(n_tokens), forward, forward_backward

    def probe_step(self, n_tokens: int):
        """How the cost probe times greedy generation (``generate``) around a row of ``n_tokens`` tokens:
        ``(run, k)``, ``run`` making ``k`` steps of ``generate``'s own loop (``_greedy``: the argmax, the longer row,
        each step's new tensors) from a row ``k // 2`` tokens shorter, so a step's time is ``run``'s over ``k``.
        A single step timed alone, again and again, was ~1.3x a step of the loop on a quiet CPU. Not counted."""
        start = max(1, int(n_tokens) - PROBE_STEPS // 2)
        ids = torch.full((1, start), min(100, self.vocab_size - 1), device=self.device)

        def step(row):
            torch.set_flush_denormal(True)  # as every counted pass sets it (``_run``)
            return self.module(input_ids=row, use_cache=False, logits_to_keep=1).logits

        def run():
            self._greedy(ids, PROBE_STEPS, step, stop=False)
        return run, PROBE_STEPS


def _ids_of(value) -> set[int]:
    if value is None:
        return set()
    return {int(v) for v in value} if isinstance(value, (list, tuple, set)) else {int(value)}


def prepare_prompt(x) -> str:
    """What ``explain()`` hands generation methods: the prompt as clean text (models/inputs/texts.py)."""
    return clean_text(x)
