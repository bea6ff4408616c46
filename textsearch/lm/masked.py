"""Batched masked-token logits from a masked language model (BERT, RoBERTa, ...).

Positions index an item's own tokens; the wrapper adds the model's framing tokens
(CLS/SEP, or BOS/EOS for RoBERTa-style tokenizers) around every item itself.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

from .base import BaseLM, chunks_by_budget, pad


def _first_id(tokenizer, *names: str) -> int | None:
    for name in names:
        token_id = getattr(tokenizer, name, None)
        if token_id is not None:
            return token_id
    return None


class MaskedLM(BaseLM):
    """A Hugging Face masked LM that reads the logits at one masked position per item.

    Parameters
    ----------
    model, tokenizer
        A Hugging Face masked LM and its tokenizer (which needs a mask token).
    device, token_budget, cpu_kernels
        As for `CausalLM`.
    """

    def __init__(self, model, tokenizer, device=None, token_budget: int | None = None, cpu_kernels: bool = False):
        super().__init__(model, tokenizer, device, token_budget, cpu_kernels)
        if tokenizer.mask_token_id is None:
            raise ValueError("the tokenizer has no mask token; a masked LM needs one")
        self.mask_id: int = tokenizer.mask_token_id
        self.prefix = [t for t in [_first_id(tokenizer, "cls_token_id", "bos_token_id")] if t is not None]
        self.suffix = [t for t in [_first_id(tokenizer, "sep_token_id", "eos_token_id")] if t is not None]
        self.pad_id: int = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    @torch.inference_mode()
    def masked_logits(self, items, positions: Sequence[int]) -> torch.Tensor:
        """Raw logits [n, V] (float32) at positions[j] of item j with that token replaced by the mask."""
        sequences = self.token_ids(items)
        positions = [int(p) for p in positions]
        if len(positions) != len(sequences):
            raise ValueError(f"got {len(positions)} positions for {len(sequences)} items; pass one per item")
        rows = []
        for seq, pos in zip(sequences, positions):
            if not 0 <= pos < len(seq):
                raise ValueError(f"position {pos} is outside an item of {len(seq)} tokens")
            rows.append(self.prefix + seq[:pos] + [self.mask_id] + seq[pos + 1:] + self.suffix)
        out = torch.zeros((len(rows), self.vocab_size), dtype=torch.float32)
        for chunk in chunks_by_budget([len(r) for r in rows], self.token_budget):
            ids, mask = pad([rows[i] for i in chunk], self.pad_id, self.device)
            self.stats.count(ids.numel())
            logits = self.model(input_ids=ids, attention_mask=mask).logits
            at = torch.tensor([len(self.prefix) + positions[i] for i in chunk], device=self.device)
            out[chunk] = logits[torch.arange(len(chunk), device=self.device), at].float().cpu()
        return out
