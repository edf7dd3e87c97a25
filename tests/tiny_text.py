"""Tiny hand-built text classifiers with the real MiniLM tokenizer, for checking methods against their definitions."""

import torch
from torch import nn

from models.embedded.minilm_sentiment import minilm_dir
from models.adapters.text import SequenceLogits, TextClassifier

_TOKENIZER = None


def tokenizer():
    global _TOKENIZER
    if _TOKENIZER is None:
        from transformers import AutoTokenizer

        _TOKENIZER = AutoTokenizer.from_pretrained(str(minilm_dir()), local_files_only=True)
    return _TOKENIZER


class BagOfEmbeddings(nn.Module):
    """logits = W · Σ_i mask_i E[id_i] + b: linear in each token's embedding."""

    def __init__(self, vocab: int = 30522, dim: int = 6, n_classes: int = 2, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.embed = nn.Embedding(vocab, dim)
        self.linear = nn.Linear(dim, n_classes)
        with torch.no_grad():
            self.embed.weight.copy_(torch.randn(vocab, dim, generator=g))
            self.linear.weight.copy_(torch.randn(n_classes, dim, generator=g) * 0.5)
            self.linear.bias.copy_(torch.randn(n_classes, generator=g))

    def forward(self, input_ids, attention_mask):
        return self.linear((self.embed(input_ids) * attention_mask.unsqueeze(-1)).sum(1))

    def attentions(self, input_ids, attention_mask):
        return None


def bag_model(**kwargs) -> TextClassifier:
    module = BagOfEmbeddings(**kwargs)
    return TextClassifier("bag", module, tokenizer(), ["neg", "pos"], module.embed, max_length=64, device="cpu")


def tiny_bert(seed: int = 0):
    """A 2-layer BERT sequence classifier with random weights (and its transformers model)."""
    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=64, num_labels=3,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        hf = BertForSequenceClassification(config).eval()
    hf.config._attn_implementation = "eager"
    model = TextClassifier("tiny-bert", SequenceLogits(hf), tokenizer(), ["a", "b", "c"],
                           hf.get_input_embeddings(), max_length=64, device="cpu")
    return model, hf
