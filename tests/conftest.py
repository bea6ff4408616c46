"""Shared fixtures: tiny random language models built in memory, and the real default LM.

The tiny models have a word-level vocabulary of a few dozen tokens and a few thousand
parameters; their weights are drawn with a large scale so their distributions are far
from uniform and a scoring bug shows up as a visible difference.
"""
from __future__ import annotations

import pytest
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import BertConfig, BertForMaskedLM, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

import textsearch as ts

SPECIAL_TOKENS = ["<pad>", "<unk>", "<s>", "</s>", "<mask>"]
WORDS = ("the a cat dog sat ran on in to mat park big small red blue ball and with is was "
         "it he she saw played . , happy green tree under").split()


def make_tiny_tokenizer(vocab_size: int = 32) -> PreTrainedTokenizerFast:
    """Word-level tokenizer: the special tokens, then WORDS, then filler words w0, w1, ..."""
    n_words = vocab_size - len(SPECIAL_TOKENS)
    if n_words < 2:
        raise ValueError(f"vocab_size must be at least {len(SPECIAL_TOKENS) + 2}")
    words = (WORDS + [f"w{i}" for i in range(n_words)])[:n_words]
    backend = Tokenizer(models.WordLevel({t: i for i, t in enumerate(SPECIAL_TOKENS + words)}, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(cleanup=False)
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                   bos_token="<s>", eos_token="</s>", mask_token="<mask>",
                                   cls_token="<s>", sep_token="</s>")


def _seeded(seed: int, build):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build().eval()


def make_tiny_lm(vocab_size: int = 32, seed: int = 0, token_budget: int | None = None,
                 tokenizer: PreTrainedTokenizerFast | None = None, **options) -> ts.lm.CausalLM:
    """A CausalLM over a 2-layer Llama with hidden size 16, deterministic from `seed` (over `tokenizer`'s
    vocabulary when one is given); `options` go to CausalLM (cpu_kernels, token_trees)."""
    if tokenizer is None:
        tokenizer = make_tiny_tokenizer(vocab_size)
    vocab_size = len(tokenizer)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=128,
                         initializer_range=0.5, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return ts.lm.CausalLM(_seeded(seed, lambda: LlamaForCausalLM(config)), tokenizer,
                          device="cpu", token_budget=token_budget, **options)


def make_tiny_mlm(vocab_size: int = 32, seed: int = 0, token_budget: int | None = None) -> ts.lm.MaskedLM:
    """A MaskedLM over a 2-layer BERT with hidden size 16, deterministic from `seed`."""
    tokenizer = make_tiny_tokenizer(vocab_size)
    config = BertConfig(vocab_size=vocab_size, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                        num_attention_heads=2, max_position_embeddings=128, initializer_range=0.5,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
                        pad_token_id=tokenizer.pad_token_id)
    return ts.lm.MaskedLM(_seeded(seed, lambda: BertForMaskedLM(config)), tokenizer,
                          device="cpu", token_budget=token_budget)


def scored(lm, rows) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Each row's token log-probs and the next-token log-probs after it, through the public API (in a
    session, one forward: the rows scored for the distributions after them keep their log-probs)."""
    after = lm.next_token_log_probs(rows)
    return lm.token_log_probs(rows), after


def plain(lm) -> ts.lm.CausalLM:
    """The same model without token trees or kept states: the reference every score must equal."""
    return ts.lm.CausalLM(lm.model, lm.tokenizer, token_trees=False)


@pytest.fixture
def tiny_lm() -> ts.lm.CausalLM:
    return make_tiny_lm()


@pytest.fixture
def tiny_mlm() -> ts.lm.MaskedLM:
    return make_tiny_mlm()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """The tiny LM saved as a model directory, for the command run in subprocesses (`--model DIR`)."""
    path = tmp_path_factory.mktemp("tiny-lm")
    lm = make_tiny_lm()
    lm.model.save_pretrained(path)
    lm.tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def default_lm() -> ts.lm.CausalLM:
    """The real built-in LM (converted into the user cache on first use); for slow tests only."""
    return ts.load_lm()
