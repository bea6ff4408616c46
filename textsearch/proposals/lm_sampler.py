"""Continuations drawn from a causal LM, with their exact probability, for rejection and importance sampling.

An `LMSampler` holds what its rows draw from: the prompt, the temperature, the top-k
cut, the stop tokens. The model draws them (`CausalLM.draw`: every row of every prompt
in the same forwards, a prefix several rows drew run once), and the returned log q is
the probability of exactly the returned list under this procedure: the product of its
tokens' tempered, top-k-cut probabilities, times the probability of stopping there (the
sum over all stop tokens) when it stopped early. The returned tokens are the
continuation without the stop token. Special tokens other than the stop tokens are
never drawn (their probability goes to the others).
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import torch

from ..lm.vocabulary import ordinary_tokens, stop_mask
from .base import SequenceDistribution


class LMSampler(SequenceDistribution):
    """Draws continuations of `prompt` (or of nothing) from a CausalLM at a temperature, optionally top-k.

    Parameters
    ----------
    lm
        The `CausalLM` that draws.
    prompt
        Text or token ids the rows continue (after the model's start token); None: nothing.
    max_new_tokens
        Tokens per row at most; a row that reaches it ends there.
    temperature, top_k
        The draw's temperature, and the number of most likely tokens it keeps (None: all).
    stop_at
        Token ids, or strings that stop at any token whose text contains them; the EOS token
        always stops.
    chat
        Wrap the prompt in the tokenizer's chat template as a user turn (instruct models).
    batch_size
        Rows per draw.
    opening
        The beginning of a text prompt that other prompts share (a few-shot template): its
        key/value cache is kept, so the next sampler with the same opening runs only the rest.
    """

    def __init__(self, lm, prompt: str | Sequence[int] | None = None, max_new_tokens: int = 32,
                 temperature: float = 1.0, top_k: int | None = None,
                 stop_at: Iterable[int | str] = ("\n",), chat: bool = False, batch_size: int = 64,
                 opening: str | None = None):
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature!r}")
        if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.lm, self.tokenizer = lm, lm.tokenizer
        self.max_new_tokens, self.temperature, self.top_k, self.batch_size = max_new_tokens, float(temperature), top_k, batch_size
        self.context = self._context(prompt, chat)
        self.opening = self._opening(opening, chat)
        stops = [*stop_at, *([] if lm.eos_id is None else [lm.eos_id])]
        self.stop = stop_mask(lm, stops) if stops else torch.zeros(lm.vocab_size, dtype=torch.bool)
        self.allowed = ordinary_tokens(lm) | self.stop

    def _context(self, prompt, chat: bool) -> list[int]:
        if chat:
            if not isinstance(prompt, str) or not getattr(self.tokenizer, "chat_template", None):
                raise ValueError("chat=True needs a text prompt and a tokenizer with a chat template")
            ids = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                                     add_generation_prompt=True, tokenize=False)
            return self.tokenizer(ids, add_special_tokens=False)["input_ids"]
        ids = [] if prompt is None else self.lm.encode(prompt) if isinstance(prompt, str) else [int(t) for t in prompt]
        return [self.lm.start_id] + ids

    def _opening(self, opening: str | None, chat: bool) -> int:
        """How many context tokens the opening covers (0: none, or it does not tokenize as the prompt's start)."""
        if opening is None:
            return 0
        if chat:
            raise ValueError("opening= works with plain text prompts, not with chat=True")
        ids = [self.lm.start_id] + self.lm.encode(opening)
        return len(ids) if len(ids) < len(self.context) and self.context[:len(ids)] == ids else 0

    def weights(self, logits: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(next token) up to a factor per row, from logits [n, V]: specials (bar stops) removed, tempered,
        top-k cut; and the log of that factor. So log q = log weight − log norm ([n, V] float32 and [n]
        float64, CPU): the [n, V] work runs in float32, in place, and only sums are taken in float64."""
        scaled = logits.float().cpu().masked_fill(~self.allowed, -math.inf).div_(self.temperature)
        if self.top_k is not None and self.top_k < scaled.shape[-1]:
            keep = scaled.topk(self.top_k, dim=-1).indices
            scaled = torch.full_like(scaled, -math.inf).scatter_(-1, keep, scaled.gather(-1, keep))
        weights = scaled.sub_(scaled.amax(-1, keepdim=True)).exp_()
        return weights, weights.sum(-1, dtype=torch.float64).log()

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[list[list[int]], torch.Tensor]:
        return sample_together([self], n, [generator])[0]


def sample_together(samplers: Sequence[LMSampler], n: int, generators: Sequence[torch.Generator | None]
                    ) -> list[tuple[list[list[int]], torch.Tensor]]:
    """`n` continuations of each sampler's prompt, as `sampler.sample(n, generator)` draws them, with
    every prompt's rows in the same forwards. A few dozen rows leave a forward mostly its fixed cost;
    several prompts fill it. The samplers may differ in their prompts only."""
    first = samplers[0]
    if len(generators) != len(samplers):
        raise ValueError(f"give one generator per sampler: {len(generators)} for {len(samplers)}")
    settings = lambda s: (s.lm, s.max_new_tokens, s.temperature, s.top_k, s.batch_size)
    if any(settings(s) != settings(first) or not torch.equal(s.stop, first.stop) for s in samplers):
        raise ValueError("samplers drawn together must share the model and every setting but the prompt")
    tokens: list[list[list[int]]] = [[] for _ in samplers]
    log_q: list[list[torch.Tensor]] = [[] for _ in samplers]
    for start in range(0, n, first.batch_size):
        for k, (rows, rows_log_q) in enumerate(first.lm.draw(samplers, min(first.batch_size, n - start), generators)):
            tokens[k] += rows
            log_q[k].append(rows_log_q)
    return [(t, torch.cat(q) if q else torch.zeros(0, dtype=torch.float64)) for t, q in zip(tokens, log_q)]
