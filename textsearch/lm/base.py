"""What the model wrappers share: items to token ids, devices, padded chunks, counters.

Callers hand over texts, token-id lists or `State`s; the wrappers turn them into
token ids once, here, and run them through the model in chunks whose padded size
stays under a token budget, so memory is bounded whatever the batch size.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache

import torch

from . import cpu
from .lockstep import InTurn

DEFAULT_TOKEN_BUDGET = 2048   # tokens per forward for encoders whose output is not vocabulary-sized
LOGITS_BUDGET = 2 ** 26    # float32 logits held at once (256 MB): the largest tensor of a forward


@dataclass
class Stats:
    """What a wrapper has run through its model: forwards, and the tokens they held (padding included)."""
    forwards: int = 0
    tokens: int = 0

    def count(self, tokens: int) -> None:
        self.forwards += 1
        self.tokens += int(tokens)


def default_token_budget(vocab_size: int) -> int:
    """Tokens per forward such that their [tokens, vocab] logits stay near LOGITS_BUDGET."""
    return max(64, min(8192, LOGITS_BUDGET // vocab_size))


def pick_device(device: str | torch.device | None) -> torch.device:
    """`"auto"` → CUDA when present, else CPU; anything else as given."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def pad(sequences: list[list[int]], pad_id: int = 0, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad token lists into `ids` [n, L] and a 0/1 `mask` of the real tokens."""
    width = max((len(s) for s in sequences), default=0)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
        mask[row, : len(seq)] = 1
    return ids.to(device), mask.to(device)


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


@lru_cache(maxsize=4)
def token_texts(tokenizer, size: int) -> tuple[str, ...]:
    """The text of each of the first `size` tokens; a large vocabulary takes seconds, so once per tokenizer."""
    return tuple(tokenizer.batch_decode([[i] for i in range(size)]))


@lru_cache(maxsize=16)
def _containing(tokenizer, size: int, texts: tuple[str, ...]) -> torch.Tensor:
    return torch.tensor([any(s in d for s in texts) for d in token_texts(tokenizer, size)])


class BaseLM:
    """A Hugging Face model with its tokenizer on one device, scored in budgeted chunks.

    Parameters
    ----------
    model, tokenizer
        A Hugging Face model and its tokenizer. The model is moved to `device` and put in eval mode.
    device
        `"auto"` (CUDA when present), a device, or None (where the model already is).
    token_budget
        Tokens per forward at most (padding included); None: what keeps the logits near 256 MB.
    cpu_kernels
        Run the model's linear layers through oneDNN on CPUs other than Intel's (`cpu`), in place. For a copy the wrapper owns:
        `load_lm` and `load_mlm` pass True; a model you pass in is left as it is unless you ask.
    """

    def __init__(self, model, tokenizer, device: str | torch.device | None = None,
                 token_budget: int | None = None, cpu_kernels: bool = False):
        if token_budget is not None and (not isinstance(token_budget, int) or token_budget < 1):
            raise ValueError(f"token_budget must be a positive number of tokens, got {token_budget!r}")
        self.device = next(model.parameters()).device if device is None else pick_device(device)
        self.model = model.to(self.device).eval()
        if cpu_kernels:
            cpu.enable(self.model)
        self.cpu_kernels = cpu_kernels
        self.tokenizer = tokenizer
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self.token_budget = int(token_budget or default_token_budget(self.vocab_size))
        self.stats = Stats()

    def session(self, searches: int = 1) -> AbstractContextManager:
        """A block (a sampler run) within which the model may keep what it computed; nothing here."""
        return nullcontext()

    @contextmanager
    def taking_turns(self) -> Iterator[InTurn]:
        """Within the block, `turns.run(functions)` runs several searches; here one after the other."""
        yield InTurn()

    def fingerprint(self) -> str:
        """A short hash of the model's weights (64 values of each tensor) and vocabulary: the same for one
        model loaded twice, different for another, so a batch output can tell whose lines it holds."""
        digest = hashlib.blake2b(digest_size=8)
        digest.update(type(self.model).__name__.encode())
        for name, tensor in self.model.state_dict().items():
            flat = tensor.detach().reshape(-1)
            count = min(64, flat.numel())
            picks = flat[torch.arange(count) * (flat.numel() - 1) // max(count - 1, 1)]
            digest.update(f"{name}{tuple(tensor.shape)}".encode())
            digest.update(picks.to("cpu", torch.float64).numpy().tobytes())
        digest.update("\n".join(sorted(self.tokenizer.get_vocab())).encode())
        return digest.hexdigest()

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`, no special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids))

    def tokens_containing(self, texts: Sequence[str]) -> torch.Tensor:
        """Which tokens' texts contain any of `texts` [vocab_size] bool: a pass over the whole vocabulary,
        kept per tokenizer and texts."""
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        if texts:
            size = min(self.vocab_size, len(self.tokenizer))
            mask[:size] = _containing(self.tokenizer, size, tuple(texts))
        return mask

    def token_ids(self, items) -> list[list[int]]:
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
