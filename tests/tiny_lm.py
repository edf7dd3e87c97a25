"""A hand-built causal LM whose next-token logits depend on one known input token only."""

from types import SimpleNamespace

import torch
from torch import nn

from models.adapters.causal_lm import CausalLM

VOCAB = 20
EOS = 0


class WordTokenizer:
    """Whitespace words "w0".."w19" to ids 0..19; id 0 is end-of-text."""

    eos_token_id = EOS
    pad_token_id = EOS
    all_special_ids = [EOS]

    def __call__(self, text, add_special_tokens=True):
        return {"input_ids": [int(w[1:]) for w in text.split()]}

    def decode(self, ids):
        return " ".join(f"w{int(i)}" for i in ids)

    def convert_ids_to_tokens(self, i):
        return f"w{int(i)}"


class KeyTokenLM(nn.Module):
    """From position ``key_position`` on, the logit of ``target`` is 10 if the token there is ``key``, else all logits are 0.

    Embeddings are one-hot, so ``inputs_embeds`` work too; earlier positions predict uniformly.
    """

    def __init__(self, key: int = 7, target: int = 5, key_position: int = 2):
        super().__init__()
        self.key_position = key_position
        self.embed = nn.Embedding(VOCAB, VOCAB)
        self.head = nn.Linear(VOCAB, VOCAB, bias=False)
        with torch.no_grad():
            self.embed.weight.copy_(torch.eye(VOCAB))
            self.head.weight.zero_()
            self.head.weight[target, key] = 10.0
        self.config = SimpleNamespace(
            max_position_embeddings=256, hidden_size=VOCAB, num_hidden_layers=1, eos_token_id=EOS,
            _attn_implementation="eager",
        )

    def get_input_embeddings(self):
        return self.embed

    def forward(self, input_ids=None, inputs_embeds=None, attention_mask=None, use_cache=False, logits_to_keep=0,
                output_attentions=False):
        e = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        b, t, _ = e.shape
        logits = torch.zeros((b, t, VOCAB), dtype=e.dtype)
        if t > self.key_position:
            logits = logits.clone()
            logits[:, self.key_position :] = self.head(e[:, self.key_position])[:, None]
        if logits_to_keep:
            logits = logits[:, -logits_to_keep:]
        attentions = None
        if output_attentions:  # every position attends to the key position (or to itself before it)
            att = torch.zeros((b, 1, t, t), dtype=e.dtype)
            for q in range(t):
                att[:, 0, q, min(q, self.key_position)] = 1.0
            attentions = (att,)
        return SimpleNamespace(logits=logits, attentions=attentions)


def tiny_lm(**kwargs) -> CausalLM:
    return CausalLM("tiny-key-lm", KeyTokenLM(**kwargs), WordTokenizer(), device="cpu")


def tiny_llama(seed: int = 0, layers: int = 2, hidden: int = 8, intermediate: int = 16) -> CausalLM:
    """A randomly initialised two-block Llama (the architecture of SmolLM2) on ``WordTokenizer``'s 20 words, with
    MLP blocks (``mlp.down_proj``), a final RMSNorm and an LM head of its own (untied)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=intermediate,
                         num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=64, eos_token_id=EOS, bos_token_id=1, pad_token_id=EOS,
                         tie_word_embeddings=False)
    module = LlamaForCausalLM(config).float()
    return CausalLM("tiny-llama", module, WordTokenizer(), device="cpu")
