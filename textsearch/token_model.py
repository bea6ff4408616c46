"""What a causal LM and a masked LM wrapper share: items to token ids, devices, chunking.

Callers hand over texts, token-id lists or `State`s; the wrappers turn them into
token ids once, here, and run them through the model in chunks whose padded size
stays under a token budget, so memory is bounded whatever the batch size.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch

from .cpu_linear import use_cpu_linear

DEFAULT_TOKEN_BUDGET = 2048   # tokens per forward for encoders whose output is not vocabulary-sized
LOGITS_BUDGET = 2 ** 26    # float32 logits held at once (256 MB): the largest tensor of a forward


def default_token_budget(vocab_size: int) -> int:
    """Tokens per forward such that their [tokens, vocab] logits stay near LOGITS_BUDGET."""
    return max(64, min(8192, LOGITS_BUDGET // vocab_size))


def pick_device(device: str | torch.device | None) -> torch.device:
    """`"auto"` → CUDA when present, else CPU; anything else as given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def chunks_by_budget(lengths: Sequence[int], token_budget: int) -> Iterator[list[int]]:
    """Row indices grouped so that rows × longest row ≤ token_budget (one row at least).

    Rows are taken longest first, so each chunk pads little.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    chunk: list[int] = []
    for i in order:
        width = lengths[chunk[0]] if chunk else lengths[i]
        if chunk and (len(chunk) + 1) * width > token_budget:
            yield chunk
            chunk = []
        chunk.append(i)
    if chunk:
        yield chunk


class TokenModel:
    """A Hugging Face model with its tokenizer on one device, scored in budgeted chunks."""

    def __init__(self, model, tokenizer, device: str | torch.device | None = None,
                 token_budget: int | None = None):
        if token_budget is not None and token_budget < 1:
            raise ValueError(f"token_budget must be a positive number of tokens, got {token_budget}")
        self.device = next(model.parameters()).device if device is None else pick_device(device)
        self.model = model.to(self.device).eval()
        use_cpu_linear(self.model)
        self.tokenizer = tokenizer
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self.token_budget = int(token_budget or default_token_budget(self.vocab_size))

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, no special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def _token_ids(self, items) -> list[list[int]]:
        """Token-id lists from a list of texts, token-id sequences or States."""
        if isinstance(items, (str, torch.Tensor)) or not isinstance(items, Sequence):
            raise TypeError("pass a list of items (texts, token-id lists or States); "
                            "wrap a single item in a list")
        rows = []
        for item in items:
            if isinstance(item, str):
                rows.append(self.encode(item))
                continue
            ids = [int(t) for t in getattr(item, "tokens", item)]
            if any(t < 0 or t >= self.vocab_size for t in ids):
                raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got {ids}")
            rows.append(ids)
        return rows
